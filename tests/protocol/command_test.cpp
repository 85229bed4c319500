// Placeholder: tests for protocol/command arrive with the module.
#include <gtest/gtest.h>
