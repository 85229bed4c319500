// Placeholder: tests for protocol/chunk_writer arrive with the module.
#include <gtest/gtest.h>
