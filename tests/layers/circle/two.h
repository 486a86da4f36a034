/* two.h - the other half: it includes one.h back. */
#include "one.h"
