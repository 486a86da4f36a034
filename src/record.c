/* record.c - session records: ids, timestamps, digests. */
#include "record.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

static const char *const record_reason_names[CLOSE_REASON_COUNT] = {
	[CLOSE_PEER_FIN] = "peer_fin",
	[CLOSE_PEER_RST] = "peer_rst",
	[CLOSE_IDLE_TIMEOUT] = "idle_timeout",
	[CLOSE_SESSION_TIMEOUT] = "session_timeout",
	[CLOSE_SERVER_CLOSE] = "server_close",
	[CLOSE_CAPACITY] = "capacity",
	[CLOSE_SHUTDOWN] = "shutdown",
};

const char *record_reason_name(enum close_reason reason)
{
	if ((unsigned)reason >= CLOSE_REASON_COUNT)
		return "server_close";
	return record_reason_names[reason];
}

void record_id_hex(uint64_t id, char *buf)
{
	snprintf(buf, RECORD_ID_LEN, "%016llx", (unsigned long long)id);
}

void record_format_ts(const struct timespec *ts, char *buf)
{
	struct tm tm;
	time_t secs = ts->tv_sec;

	size_t n;

	gmtime_r(&secs, &tm);
	n = strftime(buf, RECORD_TS_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, RECORD_TS_LEN - n, ".%06uZ",
	    (unsigned)(ts->tv_nsec / 1000) % 1000000u);
}

void record_sha256_hex(const unsigned char *digest, char *buf)
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < 32; i++) {
		buf[2 * i] = hex[digest[i] >> 4];
		buf[2 * i + 1] = hex[digest[i] & 15];
	}
	buf[64] = '\0';
}

void record_hash_payload(struct record *r)
{
	SHA256(r->payload, r->payload_len, r->sha256);
}

/* splitmix64: a fast generator whose whole 64-bit output is a bijection of
 * its counter, so ids from one seeded stream never repeat. */
static __thread uint64_t record_id_state;
static __thread int record_id_seeded;

uint64_t record_new_id(void)
{
	uint64_t z;

	if (!record_id_seeded) {
		if (getrandom(&record_id_state, sizeof(record_id_state), 0) !=
		    sizeof(record_id_state)) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			record_id_state = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32);
		}
		record_id_seeded = 1;
	}
	z = (record_id_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void record_free(struct record *r)
{
	if (!r)
		return;
	free(r->payload);
	free(r);
}
