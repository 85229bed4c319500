// Placeholder: tests for protocol/flv_tag arrive with the module.
#include <gtest/gtest.h>
