#include "protocol/amf3.h"
