/* serve.h - the "flypaper serve" command. */
#ifndef FLYPAPER_SERVE_H
#define FLYPAPER_SERVE_H

/* Runs the daemon until SIGTERM or SIGINT. argv[0] is "serve". Returns the
 * exit status: 0, or 1 when session records were lost; configuration
 * errors exit 2 from inside. */
int serve_main(int argc, char **argv);

#endif
