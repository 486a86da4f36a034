/* pcap_api.c - loads libpcap with dlopen and fills the table of its
 * functions (pcap_api.h), through dlib.c. */
#define PCAP_API_TABLE               /* the real names, for dlsym */
#include "pcap_api.h"

#include "dlib.h"

#ifndef FLYPAPER_LIBPCAP
#error "FLYPAPER_LIBPCAP: the absolute path of libpcap's soname, set by the Makefile"
#endif

#define PCAP_API_FIX "install libpcap0.8"

struct pcap_api pcap_api;
static bool pcap_api_ready;

const char *pcap_api_path(void)
{
	return FLYPAPER_LIBPCAP;
}

bool pcap_api_loaded(void)
{
	return pcap_api_ready;
}

int pcap_api_load_from(const char *path, char *err, size_t errlen)
{
	static const struct dlib_symbol table[] = {
#define PCAP_API_ROW(name) {#name, offsetof(struct pcap_api, name)},
		PCAP_API_FUNCTIONS(PCAP_API_ROW)
#undef PCAP_API_ROW
	};

	if (dlib_load(path, "libpcap", PCAP_API_FIX, table,
	    sizeof(table) / sizeof(table[0]), &pcap_api, err, errlen) < 0)
		return -1;
	pcap_api_ready = true;
	return 0;
}

int pcap_api_load(char *err, size_t errlen)
{
	if (pcap_api_ready)
		return 0;
	return pcap_api_load_from(FLYPAPER_LIBPCAP, err, errlen);
}
