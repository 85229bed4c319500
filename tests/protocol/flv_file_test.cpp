// Placeholder: tests for protocol/flv_file arrive with the module.
#include <gtest/gtest.h>
