#include "protocol/chunk_reader.h"
