/* rescan.h - "flypaper rescan" and "flypaper classify". */
#ifndef FLYPAPER_RESCAN_H
#define FLYPAPER_RESCAN_H

/* Re-applies the YARA rules to every stored payload. Returns the exit
 * status (0; 1 database error; 2 usage or rules). */
int rescan_main(int argc, char **argv);

/* Prints the rules that match each file named. Returns the exit status. */
int classify_main(int argc, char **argv);

#endif
