// Placeholder: tests for protocol/url arrive with the module.
#include <gtest/gtest.h>
