#include "protocol/flv_file.h"
