/* pcap_extract.h - "flypaper pcap": recorded sessions' packets, out of the
 * trace files of serve's --pcap DIR, into one pcap file. */
#ifndef FLYPAPER_PCAP_EXTRACT_H
#define FLYPAPER_PCAP_EXTRACT_H

/* Runs "flypaper pcap [options] SESSION..." (argv[0] is "pcap"). Returns
 * the exit status: 0, 1 when a session had no packets in the files (named
 * on stderr; the others are written), 2 for a bad argument, an unknown
 * session or an unreadable database. */
int pcap_extract_main(int argc, char **argv);

#endif
