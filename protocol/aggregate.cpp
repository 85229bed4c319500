#include "protocol/aggregate.h"
