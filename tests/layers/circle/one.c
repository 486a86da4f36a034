/* one.c - half of a circle that scripts/include-circles must find (make layers). */
#include "two.h"
