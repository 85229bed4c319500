// Placeholder: tests for protocol/chunk_reader arrive with the module.
#include <gtest/gtest.h>
