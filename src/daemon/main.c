/* main.c - the flypaper command: dispatches to its subcommands. */
#include <stdio.h>
#include <string.h>

#include "inetd.h"
#include "report.h"
#include "rescan.h"
#include "serve.h"
#include "sim.h"
#include "yield.h"

#ifndef FLYPAPER_VERSION
#define FLYPAPER_VERSION "0.1.0"
#endif

static void main_usage(FILE *out)
{
	fprintf(out,
	    "usage: flypaper COMMAND [options]\n\n"
	    "commands:\n"
	    "  serve    listen on TCP ports and record every connection\n"
	    "  inetd    record the one connection on standard input (from inetd)\n"
	    "  yield    per response strategy: who delivered a payload, who left\n"
	    "  sim      replay worms and scanners against a (loopback) target\n"
	    "  report   bursts, behaviour classes, families, strategy yield, timeline\n"
	    "  rescan   apply the current YARA rules to every stored payload\n"
	    "  classify print the YARA rules that match files\n"
	    "  version  print the version\n\n"
	    "'flypaper COMMAND --help' lists a command's options; see flypaper(8).\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		main_usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "serve") == 0)
		return serve_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "inetd") == 0)
		return inetd_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "report") == 0)
		return report_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "rescan") == 0)
		return rescan_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "classify") == 0)
		return classify_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "sim") == 0)
		return sim_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "yield") == 0)
		return yield_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("flypaper %s\n", FLYPAPER_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		main_usage(stdout);
		return 0;
	}
	fprintf(stderr, "flypaper: unknown command '%s'\n\n", argv[1]);
	main_usage(stderr);
	return 2;
}
