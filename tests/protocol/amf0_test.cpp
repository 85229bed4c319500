// Placeholder: tests for protocol/amf0 arrive with the module.
#include <gtest/gtest.h>
