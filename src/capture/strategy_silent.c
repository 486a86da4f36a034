/* strategy_silent.c - says nothing: the peer shows what it sends to a port
 * that accepts and waits. */
#include "strategy.h"

const struct strategy_ops strategy_silent = {
	.name = "silent",
};
