/* inetd.h - the "flypaper inetd" command: one connection on fd 0. */
#ifndef FLYPAPER_INETD_H
#define FLYPAPER_INETD_H

/* Records the connection on standard input exactly as serve would, appends
 * it to the database, and returns the exit status (0, or 1 when the record
 * could not be stored; configuration errors exit 2 from inside). */
int inetd_main(int argc, char **argv);

#endif
