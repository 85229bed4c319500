#include "protocol/amf0.h"
