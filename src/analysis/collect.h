/* collect.h - "flypaper collect": the fleet's sessions from NATS JetStream
 * into one central database (collect.c). */
#ifndef FLYPAPER_COLLECT_H
#define FLYPAPER_COLLECT_H

/* The command: argv[0] is "collect". Returns the exit status: 0, 1 when
 * the database failed at the end, 2 for bad options or setup. */
int collect_main(int argc, char **argv);

#endif
