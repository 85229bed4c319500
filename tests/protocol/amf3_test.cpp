// Placeholder: tests for protocol/amf3 arrive with the module.
#include <gtest/gtest.h>
