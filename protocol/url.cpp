#include "protocol/url.h"
