// Placeholder: tests for protocol/handshake arrive with the module.
#include <gtest/gtest.h>
