// Placeholder: tests for protocol/crypto arrive with the module.
#include <gtest/gtest.h>
