/* pcapname.h - the names of packet trace files, which carry when each file
 * began: "flypaper-20261127T213148Z-7.pcap". The trace writes them, and
 * `flypaper pcap` finds a session's files by them. */
#ifndef FLYPAPER_PCAPNAME_H
#define FLYPAPER_PCAPNAME_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The longest name and its NUL: "flypaper-" 9, time 16, "-" and a 32-bit
 * sequence 11, ".pcap" 5. */
#define PCAPNAME_MAX 48

/* Writes the name of the file begun at start (UTC seconds) with sequence
 * number seq into buf (PCAPNAME_MAX bytes). Returns buf. */
char *pcapname_format(time_t start, uint32_t seq, char *buf);

/* Parses a bare name written by pcapname_format into its start and
 * sequence. Returns 0, or -1 when name is not one (any other file in the
 * folder is left alone). */
int pcapname_parse(const char *name, int64_t *start, uint32_t *seq);

/* Orders two names' (start, seq): negative, 0 or positive, like strcmp. */
int pcapname_compare(int64_t start_a, uint32_t seq_a, int64_t start_b, uint32_t seq_b);

#endif
