#include "protocol/chunk_writer.h"
