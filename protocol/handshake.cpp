#include "protocol/handshake.h"
