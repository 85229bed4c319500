// Placeholder: tests for protocol/caps arrive with the module.
#include <gtest/gtest.h>
