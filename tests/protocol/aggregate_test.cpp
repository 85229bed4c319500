// Placeholder: tests for protocol/aggregate arrive with the module.
#include <gtest/gtest.h>
