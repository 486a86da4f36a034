/* main.c - the flypaper command: one table of subcommands drives both the
 * dispatch and the usage text. */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "inetd.h"
#include "pcap_extract.h"
#include "report.h"
#include "collect.h"
#include "rescan.h"
#include "serve.h"
#include "sim.h"
#include "yield.h"

#ifndef FLYPAPER_VERSION
#define FLYPAPER_VERSION "0.1.0"
#endif

static int main_version(int argc, char **argv);
static int main_help(int argc, char **argv);
static int main_options(int argc, char **argv);

/* One row per subcommand, in usage order. A new command is one row and
 * its NAME_main(argc, argv), which gets argv[0] = its own name. */
static const struct main_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;            /* NULL: not listed (aliases, checks) */
} main_commands[] = {
	{"serve", serve_main, "listen on TCP ports and record every connection"},
	{"inetd", inetd_main, "record the one connection on standard input (from inetd)"},
	{"yield", yield_main, "per response strategy: who delivered a payload, who left"},
	{"sim", sim_main, "replay worms and scanners against a (loopback) target"},
	{"report", report_main, "bursts, behaviour classes, families, strategy yield, timeline"},
	{"rescan", rescan_main, "apply the current YARA rules to every stored payload"},
	{"collect", collect_main, "write the fleet's shipped sessions into one central database"},
	{"classify", classify_main, "print the YARA rules that match files"},
	{"pcap", pcap_extract_main, "write sessions' packets from the --pcap trace to a pcap file"},
	{"version", main_version, "print the version"},
	{"--version", main_version, NULL},
	{"help", main_help, NULL},
	{"--help", main_help, NULL},
	{"-h", main_help, NULL},
	/* serve's and inetd's option table, for tests/integration/test_options.py */
	{"options", main_options, NULL},
};

#define MAIN_NCOMMANDS (sizeof(main_commands) / sizeof(main_commands[0]))

static void main_usage(FILE *out)
{
	fprintf(out, "usage: flypaper COMMAND [options]\n\ncommands:\n");
	for (size_t i = 0; i < MAIN_NCOMMANDS; i++)
		if (main_commands[i].help)
			fprintf(out, "  %-8s %s\n", main_commands[i].name, main_commands[i].help);
	fprintf(out, "\n'flypaper COMMAND --help' lists a command's options; see flypaper(8).\n");
}

static int main_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("flypaper %s\n", FLYPAPER_VERSION);
	return 0;
}

static int main_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	main_usage(stdout);
	return 0;
}

static int main_options(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	config_list(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		main_usage(stderr);
		return 2;
	}
	for (size_t i = 0; i < MAIN_NCOMMANDS; i++)
		if (strcmp(argv[1], main_commands[i].name) == 0)
			return main_commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "flypaper: unknown command '%s'\n\n", argv[1]);
	main_usage(stderr);
	return 2;
}
