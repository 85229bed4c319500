#include "protocol/crypto.h"
