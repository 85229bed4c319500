// Placeholder: tests for protocol/control arrive with the module.
#include <gtest/gtest.h>
