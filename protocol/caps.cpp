#include "protocol/caps.h"
