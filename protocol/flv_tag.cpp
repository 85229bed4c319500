#include "protocol/flv_tag.h"
