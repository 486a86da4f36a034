/* pcap.c - unit tests of the packet trace: frame.c's header finder (a
 * table of link types and IP versions, every prefix of each packet read
 * flush against an unmapped page), pcapname.c's names, and pcap_trace.c's
 * files read back with libpcap: cut payloads, rotation and its cap, the
 * name of the file at a time, and a write error (RLIMIT_FSIZE) counted and
 * the file left whole. Run from unit.c's main through test_pcap. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "frame.h"
#include "pcap_trace.h"
#include "pcap_api.h"            /* libpcap through dlopen */
#include "pcapname.h"
#include "state.h"

void test_pcap(int *passed, int *failed);
extern int pcap_trace_test_retry_now;        /* pcap_trace.c */

static int *pc_passed, *pc_failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			(*pc_passed)++;                                    \
		} else {                                                   \
			(*pc_failed)++;                                    \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
		}                                                          \
	} while (0)

/* What a test packet is made of. */
struct pc_packet {
	const char *name;
	int linktype;
	int ipv;                     /* 4 or 6 */
	int vlan;                    /* EN10MB: one 802.1Q tag */
	int ext;                     /* IPv6: a hop-by-hop header of 8 bytes */
	int tcpopt;                  /* TCP option bytes (multiple of 4) */
	int payload;                 /* TCP payload bytes */
	int proto;                   /* 6, or another to be refused */
	int frag;                    /* IPv4 fragment offset (8-byte units) */
	int ok;                      /* frame_parse's expected 0 */
	size_t headers;              /* expected header bytes when ok */
};

static void pc_put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Builds the packet into buf; returns its length. */
static size_t pc_build(const struct pc_packet *t, uint8_t *buf)
{
	size_t off = 0, ip, tcp, iplen, tcplen = 20 + (size_t)t->tcpopt + (size_t)t->payload;
	uint16_t ethertype = t->ipv == 4 ? 0x0800 : 0x86dd;

	memset(buf, 0, 2048);
	switch (t->linktype) {
	case FRAME_DLT_EN10MB:
		if (t->vlan) {
			pc_put16(buf + 12, 0x8100);
			pc_put16(buf + 16, ethertype);
			off = 18;
		} else {
			pc_put16(buf + 12, ethertype);
			off = 14;
		}
		break;
	case FRAME_DLT_LINUX_SLL:
		pc_put16(buf + 14, ethertype);
		off = 16;
		break;
	case FRAME_DLT_LINUX_SLL2:
		pc_put16(buf, ethertype);
		off = 20;
		break;
	default:
		off = 0;
	}
	ip = off;
	if (t->ipv == 4) {
		iplen = 20 + tcplen;
		buf[ip] = 0x45;
		pc_put16(buf + ip + 2, (unsigned)iplen);
		pc_put16(buf + ip + 6, (unsigned)t->frag);
		buf[ip + 9] = (uint8_t)t->proto;
		memcpy(buf + ip + 12, "\x0a\x00\x00\x01", 4);
		memcpy(buf + ip + 16, "\x0a\x00\x00\x02", 4);
		tcp = ip + 20;
	} else {
		buf[ip] = 0x60;
		pc_put16(buf + ip + 4, (unsigned)(tcplen + (t->ext ? 8 : 0)));
		buf[ip + 6] = t->ext ? 0 : (uint8_t)t->proto;
		buf[ip + 8 + 15] = 1;
		buf[ip + 24 + 15] = 2;
		tcp = ip + 40;
		if (t->ext) {
			buf[tcp] = (uint8_t)t->proto;    /* next header */
			buf[tcp + 1] = 0;                /* 8 bytes */
			tcp += 8;
		}
	}
	pc_put16(buf + tcp, 40000);
	pc_put16(buf + tcp + 2, 80);
	buf[tcp + 12] = (uint8_t)(((20 + t->tcpopt) / 4) << 4);
	buf[tcp + 13] = 0x18;
	memset(buf + tcp + 20 + t->tcpopt, 'P', (size_t)t->payload);
	return tcp + 20 + (size_t)t->tcpopt + (size_t)t->payload;
}

static const struct pc_packet pc_packets[] = {
	{"ether ipv4", FRAME_DLT_EN10MB, 4, 0, 0, 0, 100, 6, 0, 1, 14 + 20 + 20},
	{"ether ipv4 options", FRAME_DLT_EN10MB, 4, 0, 0, 20, 5, 6, 0, 1, 14 + 20 + 40},
	{"ether vlan ipv4", FRAME_DLT_EN10MB, 4, 1, 0, 0, 3, 6, 0, 1, 18 + 20 + 20},
	{"ether ipv6", FRAME_DLT_EN10MB, 6, 0, 0, 12, 70, 6, 0, 1, 14 + 40 + 32},
	{"ether ipv6 hop-by-hop", FRAME_DLT_EN10MB, 6, 0, 1, 0, 9, 6, 0, 1, 14 + 48 + 20},
	{"sll ipv4", FRAME_DLT_LINUX_SLL, 4, 0, 0, 0, 0, 6, 0, 1, 16 + 40},
	{"sll2 ipv6", FRAME_DLT_LINUX_SLL2, 6, 0, 0, 0, 1, 6, 0, 1, 20 + 60},
	{"raw ipv4", FRAME_DLT_RAW, 4, 0, 0, 0, 10, 6, 0, 1, 40},
	{"raw ipv6", FRAME_DLT_RAW, 6, 0, 0, 0, 10, 6, 0, 1, 60},
	{"udp", FRAME_DLT_EN10MB, 4, 0, 0, 0, 10, 17, 0, 0, 0},
	{"ipv6 udp", FRAME_DLT_EN10MB, 6, 0, 1, 0, 10, 17, 0, 0, 0},
	{"later fragment", FRAME_DLT_EN10MB, 4, 0, 0, 0, 10, 6, 185, 0, 0},
	{"unknown link", 9999, 4, 0, 0, 0, 10, 6, 0, 0, 0},
};

/* Every prefix of every packet, each ending flush against a PROT_NONE
 * page: no read past caplen, and no success before the headers are all
 * there. */
static void test_frame_prefixes(void)
{
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *map = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t buf[2048];

	CHECK(map != MAP_FAILED, "mmap");
	if (map == MAP_FAILED)
		return;
	mprotect(map + page, (size_t)page, PROT_NONE);
	for (size_t i = 0; i < sizeof(pc_packets) / sizeof(pc_packets[0]); i++) {
		const struct pc_packet *t = &pc_packets[i];
		size_t len = pc_build(t, buf);
		struct frame f;
		int early = 0;
		for (size_t n = 0; n <= len; n++) {
			uint8_t *at = map + page - n;
			memcpy(at, buf, n);
			int rc = frame_parse(t->linktype, at, n, &f);
			if (rc == 0 && n < t->headers)
				early++;
			size_t keep = frame_keep(t->linktype, at, n, 16);
			if (keep > n)
				early++;
		}
		CHECK(early == 0, "%s: a prefix parsed or kept too much", t->name);
		int rc = frame_parse(t->linktype, buf, len, &f);
		CHECK(rc == (t->ok ? 0 : -1), "%s: rc %d", t->name, rc);
		if (!t->ok || rc)
			continue;
		CHECK(f.headers == t->headers, "%s: headers %zu, want %zu", t->name,
		    f.headers, t->headers);
		CHECK(f.payload == (uint64_t)t->payload, "%s: payload %llu", t->name,
		    (unsigned long long)f.payload);
		CHECK(f.family == t->ipv && f.sport == 40000 && f.dport == 80 && f.flags == 0x18,
		    "%s: family %d ports %u %u", t->name, f.family, f.sport, f.dport);
		CHECK(f.dst[t->ipv == 4 ? 3 : 15] == 2 && f.src[t->ipv == 4 ? 3 : 15] == 1,
		    "%s: addresses", t->name);
		size_t want = t->headers + (t->payload < 16 ? (size_t)t->payload : 16);
		CHECK(frame_keep(t->linktype, buf, len, 16) == want, "%s: keep %zu, want %zu",
		    t->name, frame_keep(t->linktype, buf, len, 16), want);
		CHECK(frame_keep(t->linktype, buf, len, 0) == t->headers, "%s: keep 0", t->name);
	}
	/* Malformed lengths. */
	struct pc_packet base = pc_packets[0];
	size_t len = pc_build(&base, buf);
	struct frame f;
	buf[14] = 0x44;              /* IHL 16 bytes */
	CHECK(frame_parse(FRAME_DLT_EN10MB, buf, len, &f) == -1, "IHL under 20");
	buf[14] = 0x4f;              /* IHL 60: the TCP header moves past the data */
	CHECK(frame_parse(FRAME_DLT_EN10MB, buf, 14 + 50, &f) == -1, "IHL past caplen");
	len = pc_build(&base, buf);
	buf[14 + 20 + 12] = 0x40;    /* data offset 16 */
	CHECK(frame_parse(FRAME_DLT_EN10MB, buf, len, &f) == -1, "data offset under 20");
	buf[14 + 20 + 12] = 0xf0;    /* 60, past the captured 20 + 100 only if cut */
	CHECK(frame_parse(FRAME_DLT_EN10MB, buf, 14 + 20 + 40, &f) == -1, "doff past caplen");
	CHECK(frame_keep(FRAME_DLT_EN10MB, buf, 1000, 10) == FRAME_HEADERS_GUESS + 10 ||
	    frame_parse(FRAME_DLT_EN10MB, buf, 1000, &f) == 0, "unparsed: the guess");
	munmap(map, (size_t)page * 2);
}

static void test_pcapname(void)
{
	char name[PCAPNAME_MAX];
	int64_t start;
	uint32_t seq;

	pcapname_format(1795824000, 7, name);   /* 2026-11-28T00:00:00Z */
	CHECK(strcmp(name, "flypaper-20261128T000000Z-7.pcap") == 0, "%s", name);
	CHECK(pcapname_parse(name, &start, &seq) == 0 && start == 1795824000 && seq == 7,
	    "parse back");
	pcapname_format(1795824000, UINT32_MAX, name);
	CHECK(strlen(name) < PCAPNAME_MAX && pcapname_parse(name, &start, &seq) == 0 &&
	    seq == UINT32_MAX, "the longest name: %s", name);
	static const char *const bad[] = {
		"flypaper-20261128T000000Z-07.pcap", "flypaper-20261332T000000Z-1.pcap",
		"flypaper-20261128T000000Z-1.pcap.x", "flypaper-20261128T000000Z-.pcap",
		"flypaper-20261128T000000-1.pcap", "x-20261128T000000Z-1.pcap",
		"flypaper-20261128T000000Z-4294967296.pcap", "flypaper.db", "",
		"flypaper-2026112aT000000Z-1.pcap",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(pcapname_parse(bad[i], &start, &seq) == -1, "accepted '%s'", bad[i]);
	CHECK(pcapname_compare(1, 9, 2, 0) < 0 && pcapname_compare(2, 1, 2, 0) > 0 &&
	    pcapname_compare(2, 1, 2, 1) == 0, "order");
}

/* The trace files in dir, oldest first; returns how many (names in names). */
static int pc_list(const char *dir, char names[][PCAPNAME_MAX], int cap)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		if (strncmp(e->d_name, "flypaper-", 9) == 0 && n < cap)
			snprintf(names[n++], PCAPNAME_MAX, "%.47s", e->d_name);
	if (d)
		closedir(d);
	qsort(names, (size_t)n, PCAPNAME_MAX, (int (*)(const void *, const void *))strcmp);
	return n;
}

/* Reads a trace file back: packets, and whether each kept its wire length
 * with caplen = headers + min(payload, snap). Returns the packet count or
 * -1 if libpcap cannot read it. */
static int pc_read(const char *path, size_t snap, int *bad)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(path, errbuf);
	struct pcap_pkthdr *h;
	const u_char *bytes;
	int n = 0, rc;

	if (!p)
		return -1;
	while ((rc = pcap_next_ex(p, &h, &bytes)) == 1) {
		struct frame f;
		n++;
		if (frame_parse(pcap_datalink(p), bytes, h->caplen, &f) < 0 ||
		    h->caplen != f.headers + (f.payload < snap ? f.payload : snap) ||
		    h->len != f.headers + f.payload)
			(*bad)++;
	}
	if (rc == PCAP_ERROR)
		(*bad)++;
	pcap_close(p);
	return n;
}

static void test_trace_files(void)
{
	char dir[] = "/tmp/flypaper-unit-pcap.XXXXXX", path[4096], err[512];
	char names[64][PCAPNAME_MAX], cur[PCAP_TRACE_NAME_MAX], at[PCAP_TRACE_NAME_MAX];
	struct config cfg;
	struct pc_packet pkt = pc_packets[0];
	struct pcap_pkthdr h = {0};
	uint8_t buf[2048];
	uint64_t lost, rotated;
	int bad = 0, total = 0;

	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	config_defaults(&cfg);
	snprintf(path, sizeof(path), "%s/tr", dir);
	cfg.pcap_dir = strdup(path);
	cfg.pcap_snaplen = 32;
	cfg.pcap_file_size = 16 * 1024;
	cfg.pcap_files = 3;
	/* An earlier run's file counts against the cap; another file is kept. */
	mkdir(path, 0750);
	snprintf(path, sizeof(path), "%s/tr/flypaper-20200101T000000Z-41.pcap", dir);
	close(open(path, O_CREAT | O_WRONLY, 0640));
	snprintf(path, sizeof(path), "%s/tr/notes.txt", dir);
	close(open(path, O_CREAT | O_WRONLY, 0640));

	struct pcap_trace *t = pcap_trace_open(&cfg, FRAME_DLT_EN10MB, 65535, err, sizeof(err));
	CHECK(t != NULL, "open: %s", err);
	if (!t)
		goto done;
	pcap_trace_current(t, cur);
	int64_t start;
	uint32_t seq;
	CHECK(pcapname_parse(cur, &start, &seq) == 0 && seq == 42, "first file %s: the "
	    "sequence goes on past the earlier run's", cur);
	struct timespec now, before = {1000, 0};
	clock_gettime(CLOCK_REALTIME, &now);
	pcap_trace_file_at(t, &now, at);
	CHECK(strcmp(at, cur) == 0, "file at now: '%s', current '%s'", at, cur);
	pcap_trace_file_at(t, &before, at);
	CHECK(at[0] == '\0', "a time before every file: '%s'", at);
	pcap_trace_file_at(NULL, &now, at);
	CHECK(at[0] == '\0', "no trace");

	/* 400 packets of 100 payload bytes cut to 32: 86 + 16 bytes each on
	 * disk, about 160 per 16 KiB file: two rotations. */
	pkt.payload = 100;
	size_t len = pc_build(&pkt, buf);
	h.caplen = h.len = (bpf_u_int32)len;
	for (int i = 0; i < 400; i++) {
		h.ts.tv_sec = now.tv_sec;
		h.ts.tv_usec = i;
		pcap_trace_packet(t, &h, buf);
	}
	pcap_trace_tick(t);
	pcap_trace_close(t, &lost, &rotated);
	CHECK(lost == 0 && rotated == 2, "lost %llu rotated %llu", (unsigned long long)lost,
	    (unsigned long long)rotated);
	snprintf(path, sizeof(path), "%s/tr", dir);
	int n = pc_list(path, names, 64);
	CHECK(n == 3, "%d files kept, want --pcap-files 3", n);
	CHECK(n == 3 && strstr(names[0], "-42.pcap") && strstr(names[2], "-44.pcap"),
	    "the oldest, the earlier run's, removed: %s", n ? names[0] : "");
	for (int i = 0; i < n; i++) {
		struct stat st;
		snprintf(path, sizeof(path), "%s/tr/%s", dir, names[i]);
		CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640 &&
		    st.st_size <= 16 * 1024 + 200, "%s: mode %o size %lld", names[i],
		    st.st_mode & 0777, (long long)st.st_size);
		total += pc_read(path, 32, &bad);
	}
	CHECK(bad == 0 && total == 400, "read back %d packets of 400, %d bad", total, bad);
	snprintf(path, sizeof(path), "%s/tr/notes.txt", dir);
	CHECK(access(path, F_OK) == 0, "another file in the folder was left alone");

	/* A write error: RLIMIT_FSIZE cuts writes past 8 KiB (EFBIG). */
	struct rlimit old, small = {8 * 1024, 0};
	getrlimit(RLIMIT_FSIZE, &old);
	small.rlim_max = old.rlim_max;
	signal(SIGXFSZ, SIG_IGN);
	cfg.pcap_file_size = 1024 * 1024;
	t = pcap_trace_open(&cfg, FRAME_DLT_EN10MB, 65535, err, sizeof(err));
	CHECK(t != NULL, "reopen: %s", err);
	if (!t)
		goto done;
	pcap_trace_current(t, cur);
	setrlimit(RLIMIT_FSIZE, &small);
	for (int i = 0; i < 200; i++) {
		pcap_trace_packet(t, &h, buf);
		if (i % 20 == 19)
			pcap_trace_tick(t);
	}
	pcap_trace_current(t, at);
	CHECK(at[0] == '\0', "no current file after the error: '%s'", at);
	/* Retries on the "full" disk leave no empty files behind. */
	snprintf(path, sizeof(path), "%s/tr", dir);
	int before_retries = pc_list(path, names, 64);
	pcap_trace_test_retry_now = 1;
	small.rlim_cur = 0;
	setrlimit(RLIMIT_FSIZE, &small);
	for (int i = 0; i < 50; i++) {
		pcap_trace_packet(t, &h, buf);
		pcap_trace_tick(t);
	}
	CHECK(pc_list(path, names, 64) <= before_retries, "retries left files: %d, were %d",
	    pc_list(path, names, 64), before_retries);
	/* Room again: the next retry writes, and nothing more is lost. */
	setrlimit(RLIMIT_FSIZE, &old);
	pcap_trace_tick(t);
	pcap_trace_current(t, at);
	CHECK(at[0] && strcmp(at, cur) != 0, "a new file after the retry: '%s'", at);
	for (int i = 0; i < 10; i++)
		pcap_trace_packet(t, &h, buf);
	pcap_trace_test_retry_now = 0;
	pcap_trace_close(t, &lost, &rotated);
	CHECK(lost > 150 && lost < 250, "lost %llu of 250", (unsigned long long)lost);
	snprintf(path, sizeof(path), "%s/tr/%s", dir, at);
	bad = 0;
	CHECK(pc_read(path, 32, &bad) == 10 && bad == 0, "the new file holds the 10 packets");
	snprintf(path, sizeof(path), "%s/tr/%s", dir, cur);
	bad = 0;
	n = pc_read(path, 32, &bad);
	CHECK(n > 0 && n + (int)lost == 250 && bad == 0,
	    "the cut file holds whole packets: %d read, %d bad, %llu lost", n, bad,
	    (unsigned long long)lost);
	signal(SIGXFSZ, SIG_DFL);
done:
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0)
		printf("could not remove %s\n", dir);
	config_free(&cfg);
}

/* The folder: a symlink or a group-writable one is refused. */
static void test_trace_folder(void)
{
	char dir[] = "/tmp/flypaper-unit-pcapdir.XXXXXX", path[512], link[512], err[512];
	struct config cfg;
	struct pcap_trace *t;

	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	config_defaults(&cfg);
	snprintf(path, sizeof(path), "%s/real", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	mkdir(path, 0750);
	CHECK(symlink(path, link) == 0, "symlink");
	cfg.pcap_dir = strdup(link);
	t = pcap_trace_open(&cfg, FRAME_DLT_EN10MB, 256, err, sizeof(err));
	CHECK(!t && strstr(err, "symbolic link"), "a symlinked folder: %s", t ? "taken" : err);
	pcap_trace_close(t, NULL, NULL);
	chmod(path, 0770);
	free(cfg.pcap_dir);
	cfg.pcap_dir = strdup(path);
	t = pcap_trace_open(&cfg, FRAME_DLT_EN10MB, 256, err, sizeof(err));
	CHECK(!t && strstr(err, "writable by its group"), "a group-writable folder: %s",
	    t ? "taken" : err);
	pcap_trace_close(t, NULL, NULL);
	chmod(path, 0750);
	t = pcap_trace_open(&cfg, FRAME_DLT_EN10MB, 256, err, sizeof(err));
	CHECK(t != NULL, "the folder once fixed: %s", err);
	pcap_trace_close(t, NULL, NULL);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0)
		printf("could not remove %s\n", dir);
	config_free(&cfg);
}

/* libpcap is loaded with dlopen (pcap_api.c) from root's own folders:
 * a missing file, a file under /tmp, a file that is no library and a
 * library without pcap_* functions are refused with a message naming the
 * package or the problem; the build's soname loads, and its functions
 * work. */
static void test_pcap_api(void)
{
	char err[512], dir[] = "/tmp/flypaper-unit-pcap-XXXXXX";
	char rootdir[] = "/run/flypaper-unit-pcap-XXXXXX", lib[64];
	int fd;

	CHECK(pcap_api_load_from("/nonexistent/libpcap.so.0.8", err, sizeof(err)) < 0 &&
	    strstr(err, "/nonexistent/libpcap.so.0.8") && strstr(err, "install libpcap0.8"),
	    "a missing file: %s", err);
	CHECK(pcap_api_load_from("/lib/x86_64-linux-gnu/libz.so.1", err, sizeof(err)) < 0 &&
	    strstr(err, "no pcap_activate"), "not libpcap: %s", err);
	if (mkdtemp(dir)) {
		snprintf(lib, sizeof(lib), "%s/libpcap.so.0.8", dir);
		if ((fd = open(lib, O_WRONLY | O_CREAT, 0644)) >= 0)
			close(fd);
		CHECK(pcap_api_load_from(lib, err, sizeof(err)) < 0 && strstr(err, "/tmp") &&
		    strstr(err, "libpcap is loaded only from root's own folders"),
		    "beneath /tmp: %s", err);
		unlink(lib);
		rmdir(dir);
	}
	/* Root's own folder, an empty file: dlopen itself refuses it. */
	if (geteuid() == 0 && mkdtemp(rootdir)) {
		snprintf(lib, sizeof(lib), "%s/libpcap.so.0.8", rootdir);
		if ((fd = open(lib, O_WRONLY | O_CREAT, 0644)) >= 0)
			close(fd);
		CHECK(pcap_api_load_from(lib, err, sizeof(err)) < 0 &&
		    strstr(err, "cannot load libpcap") && strstr(err, "install libpcap0.8"),
		    "not a library: %s", err);
		unlink(lib);
		rmdir(rootdir);
	}
	CHECK(pcap_api_load(err, sizeof(err)) == 0 && pcap_api_loaded(), "loaded %s: %s",
	    pcap_api_path(), err);
	CHECK(strstr(pcap_api_path(), "libpcap.so.0.8") != NULL, "soname: %s", pcap_api_path());
	if (pcap_api_loaded()) {
		pcap_t *p = pcap_open_dead(DLT_EN10MB, 96);
		CHECK(p && pcap_datalink(p) == DLT_EN10MB && pcap_snapshot(p) == 96,
		    "a call through the table");
		if (p)
			pcap_close(p);
	}
}

void test_pcap(int *passed, int *failed)
{
	pc_passed = passed;
	pc_failed = failed;
	test_pcap_api();
	if (!pcap_api_loaded())
		return;              /* failed above; the rest would call NULL */
	test_frame_prefixes();
	test_pcapname();
	test_trace_files();
	test_trace_folder();
}
