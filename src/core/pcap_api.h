/* pcap_api.h - libpcap through dlopen, like libyara (yara_api.h).
 * flypaper does not link libpcap: it pulls in libdbus, libsystemd,
 * libgcrypt, liblzma, libzstd, liblz4, libcap... which every exec, inetd
 * children's too, would pay for although only serve with --half-open or
 * --pcap and the pcap command use it. Include this instead of
 * <pcap/pcap.h>: each pcap_* function used is #defined to its entry in a
 * table pcap_api_load fills, so call sites keep their names. A function
 * that is not in the table does not link (no -lpcap): add it to both lists
 * below. Not a function: pcap_file, a record field's name. */
#ifndef FLYPAPER_PCAP_API_H
#define FLYPAPER_PCAP_API_H

#include <pcap/pcap.h>
#include <stdbool.h>
#include <stddef.h>

/* Every libpcap function flypaper calls. */
#define PCAP_API_FUNCTIONS(X) \
	X(pcap_activate) \
	X(pcap_close) \
	X(pcap_compile) \
	X(pcap_create) \
	X(pcap_datalink) \
	X(pcap_datalink_val_to_name) \
	X(pcap_dispatch) \
	X(pcap_dump) \
	X(pcap_dump_close) \
	X(pcap_dump_flush) \
	X(pcap_dump_fopen) \
	X(pcap_dump_open) \
	X(pcap_fopen_offline) \
	X(pcap_freecode) \
	X(pcap_get_selectable_fd) \
	X(pcap_geterr) \
	X(pcap_next_ex) \
	X(pcap_open_dead) \
	X(pcap_open_offline) \
	X(pcap_set_buffer_size) \
	X(pcap_set_promisc) \
	X(pcap_set_snaplen) \
	X(pcap_set_timeout) \
	X(pcap_setfilter) \
	X(pcap_setnonblock) \
	X(pcap_snapshot) \
	X(pcap_stats) \
	X(pcap_statustostr)

/* The table: one pointer per function, typed from <pcap/pcap.h>'s own
 * prototypes. */
struct pcap_api {
#define PCAP_API_FIELD(name) __typeof__(&name) name;
	PCAP_API_FUNCTIONS(PCAP_API_FIELD)
#undef PCAP_API_FIELD
};

extern struct pcap_api pcap_api;

/* Loads libpcap from the absolute path of its soname found at build time
 * (FLYPAPER_LIBPCAP), once per process: as root, before the privilege drop
 * and confinement, which forbid mapping code. The file and every folder
 * above it must be root's and writable by no one else (dlib_trusted).
 * Returns 0, or -1 with a message naming the file and the package to
 * install (libpcap0.8) in err. */
int pcap_api_load(char *err, size_t errlen);

/* pcap_api_load from another file, for tests: the same checks and
 * messages, tried even when a load already succeeded (which a failure
 * does not undo). Returns 0, or -1 with err. */
int pcap_api_load_from(const char *path, char *err, size_t errlen);

/* True once pcap_api_load succeeded. */
bool pcap_api_loaded(void);

/* The path pcap_api_load loads. */
const char *pcap_api_path(void);

#ifndef PCAP_API_TABLE
#define pcap_activate (pcap_api.pcap_activate)
#define pcap_close (pcap_api.pcap_close)
#define pcap_compile (pcap_api.pcap_compile)
#define pcap_create (pcap_api.pcap_create)
#define pcap_datalink (pcap_api.pcap_datalink)
#define pcap_datalink_val_to_name (pcap_api.pcap_datalink_val_to_name)
#define pcap_dispatch (pcap_api.pcap_dispatch)
#define pcap_dump (pcap_api.pcap_dump)
#define pcap_dump_close (pcap_api.pcap_dump_close)
#define pcap_dump_flush (pcap_api.pcap_dump_flush)
#define pcap_dump_fopen (pcap_api.pcap_dump_fopen)
#define pcap_dump_open (pcap_api.pcap_dump_open)
#define pcap_fopen_offline (pcap_api.pcap_fopen_offline)
#define pcap_freecode (pcap_api.pcap_freecode)
#define pcap_get_selectable_fd (pcap_api.pcap_get_selectable_fd)
#define pcap_geterr (pcap_api.pcap_geterr)
#define pcap_next_ex (pcap_api.pcap_next_ex)
#define pcap_open_dead (pcap_api.pcap_open_dead)
#define pcap_open_offline (pcap_api.pcap_open_offline)
#define pcap_set_buffer_size (pcap_api.pcap_set_buffer_size)
#define pcap_set_promisc (pcap_api.pcap_set_promisc)
#define pcap_set_snaplen (pcap_api.pcap_set_snaplen)
#define pcap_set_timeout (pcap_api.pcap_set_timeout)
#define pcap_setfilter (pcap_api.pcap_setfilter)
#define pcap_setnonblock (pcap_api.pcap_setnonblock)
#define pcap_snapshot (pcap_api.pcap_snapshot)
#define pcap_stats (pcap_api.pcap_stats)
#define pcap_statustostr (pcap_api.pcap_statustostr)
#endif

#endif
