/* report.h - the "flypaper report" command. */
#ifndef FLYPAPER_REPORT_H
#define FLYPAPER_REPORT_H

/* Reads one or more databases and prints bursts, behaviour classes,
 * families, strategy yield and the timeline as text, JSON or HTML.
 * Returns the exit status: 0, 1 when the output could not be written,
 * 2 for bad arguments or unreadable databases. */
int report_main(int argc, char **argv);

#endif
