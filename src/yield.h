/* yield.h - the "flypaper yield" command: the strategy experiment's table. */
#ifndef FLYPAPER_YIELD_H
#define FLYPAPER_YIELD_H

/* Prints the per-strategy table from a database. Returns the exit status:
 * 0, or 2 for bad arguments or an unreadable database. */
int yield_main(int argc, char **argv);

#endif
