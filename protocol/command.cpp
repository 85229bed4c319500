#include "protocol/command.h"
