/* listener.h - listening sockets: bound by address, or inherited from
 * systemd socket activation. */
#ifndef FLYPAPER_LISTENER_H
#define FLYPAPER_LISTENER_H

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"

#define LISTENER_BACKLOG 4096

/* first: this is the first socket on a: fail if anyone already holds it. */
/* Creates a non-blocking TCP socket bound to a and listening, with
 * SO_REUSEPORT so each worker can have its own socket on the same port
 * (the kernel spreads connections across them). On success fills bound
 * with the real address (the port, when a asked for port 0) and returns
 * the fd; on failure returns -1 with a message in err. */
int listener_open(const struct addr *a, bool first, struct addr *bound,
    char *err, size_t errlen);

/* Asks the kernel to keep each SYN that reaches the listening socket fd
 * (TCP_SAVE_SYN), for tcpinfo_saved_syn after accept. Per socket: each
 * SO_REUSEPORT socket needs it; dup()s share it. Returns 0 or -1 (errno). */
int listener_save_syn(int fd);

/* The sockets systemd passed (LISTEN_PID, LISTEN_FDS): returns their count
 * (0 when not socket-activated), with the first fd in *first (always 3).
 * The variables are removed from the environment. */
int listener_from_systemd(int *first);

#endif
