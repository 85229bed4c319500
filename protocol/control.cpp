#include "protocol/control.h"
