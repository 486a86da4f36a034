/* sim.h - the "flypaper sim" command: worm and scanner simulator. */
#ifndef FLYPAPER_SIM_H
#define FLYPAPER_SIM_H

/* Runs one scenario against a target (loopback unless told otherwise).
 * Returns the exit status: 0, 1 when connections failed, 2 for usage. */
int sim_main(int argc, char **argv);

#endif
