/* pcap_trace.c - the packet trace: the capture thread writes every packet
 * it sees into pcap files in --pcap DIR, rotating past --pcap-file-size and
 * keeping --pcap-files of them. This thread writes to disk although the
 * writer is otherwise the only one that does: packets come by the
 * microsecond and must not go through the record queue, and the capture
 * thread is not an event loop that a slow disk could stall (DESIGN.md,
 * Packet traces). A write error stops the trace, counts what is lost and
 * tries a new file every PCAP_TRACE_RETRY_S seconds. */
#include "pcap_trace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "log.h"
#include "record.h"
#include "state.h"
#include "units.h"

#define PCAP_TRACE_FILE_HEADER 24    /* bytes of a pcap file's header */
#define PCAP_TRACE_PACKET_HEADER 16  /* bytes before each packet on disk */
#define PCAP_TRACE_NAME_TRIES 16     /* sequence numbers tried when a name is taken */

_Static_assert(sizeof(((struct record *)0)->pcap_file) == PCAP_TRACE_NAME_MAX,
    "record.pcap_file holds a trace file's name");

/* A trace file on disk, this run's or an earlier one's. */
struct pcap_trace_file {
	int64_t start;               /* its name's start, UTC seconds */
	uint32_t seq;                /* its name's sequence number */
	struct timespec began;       /* CLOCK_REALTIME when begun; {start, 0} if earlier */
	struct timespec ended;       /* when closed; {0, 0} while written or if earlier */
	char name[PCAP_TRACE_NAME_MAX];
};

struct pcap_trace {
	int dirfd;                   /* the folder, checked (state_open_folder) */
	char dir[STATE_PATH_MAX];    /* its path, for messages */
	int linktype, snaplen;       /* of the capture, for the file header */
	size_t payload;              /* --pcap-snaplen */
	uint64_t file_size;          /* --pcap-file-size */
	int max_files;               /* --pcap-files */
	pcap_t *dead;                /* pcap_dump's handle: link type and snaplen */
	/* The current file (capture thread only). */
	FILE *fp;
	pcap_dumper_t *dumper;       /* NULL: none open, until retry_ns */
	uint64_t bytes;              /* written to it, buffered included */
	uint64_t flushed;            /* of them, known to be on disk */
	uint64_t pending;            /* packets since the last good flush */
	uint64_t retry_ns;           /* CLOCK_MONOTONIC: try a new file then */
	uint32_t next_seq;
	uint64_t lost, rotated;      /* runs.pcap_lost, runs.pcap_files_rotated */
	bool failing;                /* since an error, until packets reach the disk again */
	/* Read by any thread (pcap_trace_current, pcap_trace_file_at). */
	pthread_mutex_t lock;
	struct pcap_trace_file *files;   /* on disk, oldest first */
	int nfiles, capfiles;
	bool open;                   /* the last of files is being written */
};

static uint64_t pcap_trace_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * (MS_PER_S * NS_PER_MS) + (uint64_t)ts.tv_nsec;
}

static int pcap_trace_file_cmp(const void *a, const void *b)
{
	const struct pcap_trace_file *x = a, *y = b;

	return pcapname_compare(x->start, x->seq, y->start, y->seq);
}

/* Lists the folder's trace files (an earlier run's count against
 * --pcap-files too), oldest first, and takes the next sequence number past
 * theirs. Returns 0, or -1 with err. */
static int pcap_trace_scan(struct pcap_trace *t, char *err, size_t errlen)
{
	int fd = dup(t->dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (!d) {
		snprintf(err, errlen, "%s: %s", t->dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	rewinddir(d);
	while ((e = readdir(d))) {
		struct pcap_trace_file f = {0};
		if (pcapname_parse(e->d_name, &f.start, &f.seq) < 0)
			continue;
		if (t->nfiles == t->capfiles) {
			int cap = t->capfiles * 2;
			struct pcap_trace_file *more = realloc(t->files, (size_t)cap * sizeof(*more));
			if (!more) {
				closedir(d);
				snprintf(err, errlen, "%s: out of memory", t->dir);
				return -1;
			}
			t->files = more;
			t->capfiles = cap;
		}
		f.began.tv_sec = (time_t)f.start;
		pcapname_format((time_t)f.start, f.seq, f.name);   /* = d_name */
		if (f.seq >= t->next_seq)
			t->next_seq = f.seq + 1;
		t->files[t->nfiles++] = f;
	}
	closedir(d);
	qsort(t->files, (size_t)t->nfiles, sizeof(*t->files), pcap_trace_file_cmp);
	return 0;
}

/* Unlinks the oldest files past --pcap-files, through the folder's fd.
 * Called with the lock held. */
static void pcap_trace_prune(struct pcap_trace *t)
{
	int drop = t->nfiles - t->max_files;

	if (drop <= 0)
		return;
	for (int i = 0; i < drop; i++)
		if (unlinkat(t->dirfd, t->files[i].name, 0) < 0 && errno != ENOENT)
			log_warn("pcap: %s/%s: cannot remove it: %s", t->dir,
			    t->files[i].name, strerror(errno));
	memmove(t->files, t->files + drop, (size_t)(t->nfiles - drop) * sizeof(*t->files));
	t->nfiles -= drop;
}

/* Begins a new file named for now. Returns 0, or -1 with err (nothing
 * open). */
static int pcap_trace_begin(struct pcap_trace *t, char *err, size_t errlen)
{
	struct pcap_trace_file f = {0};
	char shown[STATE_PATH_MAX + PCAP_TRACE_NAME_MAX];
	int fd = -1;

	clock_gettime(CLOCK_REALTIME, &f.began);
	f.start = (int64_t)f.began.tv_sec;
	/* O_EXCL: a name taken (an earlier run in the same second) is
	 * never reused; the next sequence number is tried. */
	for (int i = 0; i < PCAP_TRACE_NAME_TRIES && fd < 0; i++) {
		f.seq = t->next_seq++;
		pcapname_format(f.began.tv_sec, f.seq, f.name);
		snprintf(shown, sizeof(shown), "%s/%s", t->dir, f.name);
		fd = state_openat(t->dirfd, f.name, shown, O_WRONLY | O_CREAT | O_EXCL,
		    STATE_REFUSE_WRITABLE, err, errlen);
		if (fd < 0 && errno != EEXIST)
			return -1;
	}
	if (fd < 0)
		return -1;
	t->fp = fdopen(fd, "w");
	t->dumper = t->fp ? pcap_dump_fopen(t->dead, t->fp) : NULL;
	if (!t->dumper) {
		snprintf(err, errlen, "%s: %s", shown, t->fp ? pcap_geterr(t->dead)
		    : strerror(errno));
		if (t->fp)
			fclose(t->fp);
		else
			close(fd);
		t->fp = NULL;
		unlinkat(t->dirfd, f.name, 0);
		return -1;
	}
	t->bytes = PCAP_TRACE_FILE_HEADER;
	t->flushed = 0;
	t->pending = 0;
	pthread_mutex_lock(&t->lock);
	if (t->nfiles == t->capfiles) {
		/* An earlier run's files may have filled the array. */
		struct pcap_trace_file *more = realloc(t->files,
		    (size_t)(t->capfiles + 1) * sizeof(*more));
		if (!more) {
			pthread_mutex_unlock(&t->lock);
			pcap_dump_close(t->dumper);
			t->dumper = NULL;
			t->fp = NULL;
			unlinkat(t->dirfd, f.name, 0);
			snprintf(err, errlen, "%s: out of memory", shown);
			return -1;
		}
		t->files = more;
		t->capfiles++;
	}
	t->files[t->nfiles++] = f;
	t->open = true;
	pcap_trace_prune(t);
	pthread_mutex_unlock(&t->lock);
	return 0;
}

/* Ends the current file (already flushed, or given up on): closes it and
 * stamps its end for pcap_trace_file_at. */
static void pcap_trace_end(struct pcap_trace *t)
{
	pcap_dump_close(t->dumper);
	t->dumper = NULL;
	t->fp = NULL;
	pthread_mutex_lock(&t->lock);
	if (t->open && t->nfiles)
		clock_gettime(CLOCK_REALTIME, &t->files[t->nfiles - 1].ended);
	t->open = false;
	pthread_mutex_unlock(&t->lock);
}

/* A write or flush failed (full disk, I/O error): the packets not known to
 * be on disk are lost, the file is cut back to its last whole packet, and
 * nothing more is written until a new file can be made. */
static void pcap_trace_fail(struct pcap_trace *t, int error)
{
	t->lost += t->pending;
	t->pending = 0;
	/* What stdio still holds is dropped, not written after the cut. */
	__fpurge(t->fp);
	if (ftruncate(fileno(t->fp), (off_t)t->flushed) < 0) {
		/* The file keeps a partial last packet; readers say so. */
	}
	if (!t->failing)
		log_warn("pcap: writing in %s failed: %s: the trace stops, a new file "
		    "is tried every %ds, packets not written are counted (runs.pcap_lost)",
		    t->dir, strerror(error), PCAP_TRACE_RETRY_S);
	t->failing = true;
	pcap_trace_end(t);
	/* A file with no packet on disk goes: retries on a full disk must
	 * not leave empty files that push real ones past --pcap-files. */
	if (t->flushed <= PCAP_TRACE_FILE_HEADER) {
		pthread_mutex_lock(&t->lock);
		unlinkat(t->dirfd, t->files[t->nfiles - 1].name, 0);
		t->nfiles--;
		pthread_mutex_unlock(&t->lock);
	}
	t->retry_ns = pcap_trace_now_ns() + PCAP_TRACE_RETRY_S * (MS_PER_S * NS_PER_MS);
}

/* Flushes the current file. Returns 0, or -1 after pcap_trace_fail. */
static int pcap_trace_flush(struct pcap_trace *t)
{
	if (pcap_dump_flush(t->dumper) < 0 || ferror(t->fp)) {
		pcap_trace_fail(t, errno ? errno : EIO);
		return -1;
	}
	if (t->failing && t->pending) {
		t->failing = false;
		log_info("pcap: writing again, in %s/%s", t->dir, t->files[t->nfiles - 1].name);
	}
	t->flushed = t->bytes;
	t->pending = 0;
	return 0;
}

/* Flushes and ends the current file, then begins the next. */
static void pcap_trace_rotate(struct pcap_trace *t)
{
	char err[CONFIG_ERR_LEN];

	if (pcap_trace_flush(t) < 0)
		return;
	pcap_trace_end(t);
	t->rotated++;
	if (pcap_trace_begin(t, err, sizeof(err)) < 0) {
		log_warn("pcap: %s: the trace stops, a new file is tried every %ds",
		    err, PCAP_TRACE_RETRY_S);
		t->failing = true;
		t->retry_ns = pcap_trace_now_ns() + PCAP_TRACE_RETRY_S * (MS_PER_S * NS_PER_MS);
	}
}

/* No file open: begins one if the retry time has come. Returns whether
 * one is open. */
#ifdef FLYPAPER_TEST_HOOKS
int pcap_trace_test_retry_now;       /* unit tests: no 10 s wait before a retry */
#endif

static bool pcap_trace_retry(struct pcap_trace *t)
{
	char err[CONFIG_ERR_LEN];

#ifdef FLYPAPER_TEST_HOOKS
	if (pcap_trace_test_retry_now)
		t->retry_ns = 0;
#endif
	if (pcap_trace_now_ns() < t->retry_ns)
		return false;
	if (pcap_trace_begin(t, err, sizeof(err)) < 0) {
		t->retry_ns = pcap_trace_now_ns() + PCAP_TRACE_RETRY_S * (MS_PER_S * NS_PER_MS);
		return false;
	}
	return true;
}

struct pcap_trace *pcap_trace_open(const struct config *cfg, int linktype, int snaplen,
    char *err, size_t errlen)
{
	struct pcap_trace *t = calloc(1, sizeof(*t));

	if (!t || !cfg->pcap_dir) {
		snprintf(err, errlen, "pcap: %s", t ? "no folder given" : "out of memory");
		free(t);
		return NULL;
	}
	t->dirfd = -1;
	pthread_mutex_init(&t->lock, NULL);
	t->linktype = linktype;
	t->snaplen = snaplen;
	t->payload = (size_t)cfg->pcap_snaplen;
	t->file_size = cfg->pcap_file_size;
	t->max_files = cfg->pcap_files;
	t->capfiles = cfg->pcap_files + 1;
	t->files = calloc((size_t)t->capfiles, sizeof(*t->files));
	t->dead = pcap_open_dead(linktype, snaplen);
	if (!t->files || !t->dead) {
		snprintf(err, errlen, "pcap: out of memory");
		goto fail;
	}
	t->dirfd = state_open_folder(cfg->pcap_dir, t->dir, sizeof(t->dir), err, errlen);
	if (t->dirfd < 0)
		goto fail;
	if (pcap_trace_scan(t, err, errlen) < 0 || pcap_trace_begin(t, err, errlen) < 0)
		goto fail;
	return t;
fail:
	pcap_trace_close(t, NULL, NULL);
	return NULL;
}

void pcap_trace_packet(struct pcap_trace *t, const struct pcap_pkthdr *h,
    const unsigned char *bytes)
{
	struct pcap_pkthdr cut;

	if (!t->dumper && !pcap_trace_retry(t)) {
		t->lost++;
		return;
	}
	cut = *h;
	cut.caplen = (bpf_u_int32)frame_keep(t->linktype, bytes, h->caplen, t->payload);
	errno = 0;
	pcap_dump((u_char *)t->dumper, &cut, bytes);
	t->bytes += PCAP_TRACE_PACKET_HEADER + cut.caplen;
	t->pending++;
	if (ferror(t->fp)) {
		pcap_trace_fail(t, errno ? errno : EIO);
		return;
	}
	if (t->bytes >= t->file_size)
		pcap_trace_rotate(t);
}

void pcap_trace_tick(struct pcap_trace *t)
{
	if (!t->dumper) {
		pcap_trace_retry(t);
		return;
	}
	errno = 0;
	if (pcap_trace_flush(t) == 0 && t->bytes >= t->file_size)
		pcap_trace_rotate(t);
}

void pcap_trace_current(struct pcap_trace *t, char *buf)
{
	buf[0] = '\0';
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	if (t->open && t->nfiles)
		memcpy(buf, t->files[t->nfiles - 1].name, PCAP_TRACE_NAME_MAX);
	pthread_mutex_unlock(&t->lock);
}

/* Whether a is before b. */
static bool pcap_trace_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

void pcap_trace_file_at(struct pcap_trace *t, const struct timespec *when, char *buf)
{
	buf[0] = '\0';
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	for (int i = t->nfiles - 1; i >= 0; i--) {
		const struct pcap_trace_file *f = &t->files[i];
		bool written = i == t->nfiles - 1 && t->open;
		if (pcap_trace_before(when, &f->began))
			continue;
		/* The newest file begun by then; a file that ended before
		 * (the trace was stopped by an error) holds none of it. */
		if (written || (f->ended.tv_sec && pcap_trace_before(when, &f->ended)) ||
		    (!f->ended.tv_sec && i < t->nfiles - 1))
			memcpy(buf, f->name, PCAP_TRACE_NAME_MAX);
		break;
	}
	pthread_mutex_unlock(&t->lock);
}

void pcap_trace_close(struct pcap_trace *t, uint64_t *lost, uint64_t *rotated)
{
	if (!t) {
		if (lost)
			*lost = 0;
		if (rotated)
			*rotated = 0;
		return;
	}
	if (t->dumper && pcap_trace_flush(t) == 0)
		pcap_trace_end(t);
	if (lost)
		*lost = t->lost;
	if (rotated)
		*rotated = t->rotated;
	if (t->dead)
		pcap_close(t->dead);
	if (t->dirfd >= 0)
		close(t->dirfd);
	pthread_mutex_destroy(&t->lock);
	free(t->files);
	free(t);
}
