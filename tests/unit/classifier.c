/* classifier.c - unit tests of classification off the writer thread: the
 * classifier's queue caps, verdicts (done, skipped over the budget,
 * remembered by digest), finishing without a thread, and the writer
 * committing a session 'pending' before its verdict. Real rules, compiled
 * from a scratch folder; libyara through yara_api. Run from unit.c's main
 * through test_classifier. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "classifier.h"
#include "classify.h"
#include "record.h"
#include "sink.h"
#include "writer.h"
#include "yara_api.h"

void test_classifier(int *passed, int *failed);

static int *cl_passed, *cl_failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			(*cl_passed)++;                                    \
		} else {                                                   \
			(*cl_failed)++;                                    \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
		}                                                          \
	} while (0)

#define CL_BUDGET_NS (5ULL * 1000000ULL)

/* "needle" names family fam; the other rule is quadratic in the payload,
 * far over a 5 ms budget at 20 KB. */
static const char cl_rules_text[] =
	"rule needle : fam { strings: $a = \"needle\" condition: $a }\n"
	"rule slow { condition: for any i in (0..filesize - 1) : "
	"(for any j in (0..filesize - 1) : (uint8(i) + uint8(j) == 600)) }\n";

static struct classify *cl_rules(char *dir, size_t len)
{
	char path[256], err[512];
	FILE *f;

	snprintf(dir, len, "/tmp/flypaper-unit-classifier-XXXXXX");
	if (!mkdtemp(dir))
		return NULL;
	snprintf(path, sizeof(path), "%s/r.yar", dir);
	if (!(f = fopen(path, "w")))
		return NULL;
	fputs(cl_rules_text, f);
	fclose(f);
	struct classify *c = classify_open(path, NULL, err, sizeof(err));
	CHECK(c != NULL, "rules compile: %s", c ? "" : err);
	unlink(path);
	rmdir(dir);
	return c;
}

/* A closed record carrying text (n bytes; all 'z' past the text). */
static struct record *cl_record(uint64_t id, const char *text, size_t n)
{
	struct record *r = record_new(RECORD_CLOSED, MODE_SERVE, id);

	if (!r || !(r->payload = malloc(n))) {
		record_free(r);
		return NULL;
	}
	memset(r->payload, 'z', n);
	memcpy(r->payload, text, strlen(text) < n ? strlen(text) : n);
	r->payload_len = n;
	record_hash_payload(r);
	return r;
}

/* The queue's places: CLASSIFIER_MAX_JOBS of them and CLASSIFIER_MAX_BYTES
 * of payload; a refusal is counted, a release gives the place back. */
static void test_classifier_caps(void)
{
	struct classifier *c = classifier_new(NULL, NULL, NULL, CL_BUDGET_NS, NULL, NULL);
	struct classifier_counters n;
	int held = 0;

	CHECK(c != NULL, "made");
	if (!c)
		return;
	CHECK(!classifier_reserve(c, CLASSIFIER_MAX_BYTES + 1), "more than the byte cap");
	while (held < CLASSIFIER_MAX_JOBS + 10 && classifier_reserve(c, 10))
		held++;
	CHECK(held == CLASSIFIER_MAX_JOBS, "%d places", held);
	classifier_release(c, 10);
	CHECK(classifier_reserve(c, 10), "a released place is free again");
	classifier_get_counters(c, &n);
	CHECK(n.unclassified == 2, "refusals counted: %llu", (unsigned long long)n.unclassified);
	for (int i = 0; i < held; i++)
		classifier_release(c, 10);
	CHECK(classifier_reserve(c, CLASSIFIER_MAX_BYTES), "the whole byte cap once empty");
	classifier_release(c, CLASSIFIER_MAX_BYTES);
	classifier_free(c);
}

/* Without a thread, classifier_finish scans what is queued: a match is
 * 'done' with its family and rule, a payload over the budget 'skipped';
 * both are remembered by digest; the submitted record gives up its
 * payload, not itself. */
static void test_classifier_verdicts(void)
{
	char dir[64];
	struct classify *rules = cl_rules(dir, sizeof(dir));
	struct classifier *c;
	struct record *hit, *slow, *list, *again;
	struct classifier_counters n;

	if (!rules)
		return;
	c = classifier_new(rules, NULL, NULL, CL_BUDGET_NS, NULL, NULL);
	hit = cl_record(1, "a needle here", 64);
	slow = cl_record(2, "", 20000);
	CHECK(c && hit && slow, "made");
	if (!c || !hit || !slow)
		goto out;
	CHECK(classifier_reserve(c, hit->payload_len) && classifier_reserve(c, slow->payload_len),
	    "places");
	classifier_submit(c, hit);
	classifier_submit(c, slow);
	CHECK(hit->payload == NULL && slow->payload == NULL, "the payloads moved");
	classifier_finish(c);
	list = classifier_take(c);
	CHECK(list && list->next && !list->next->next, "two verdicts");
	if (list && list->next) {
		struct record *a = list, *b = list->next;
		CHECK(a->kind == RECORD_CLASSIFIED && a->id == 1 && a->class_state == CLASS_DONE,
		    "first: kind %d id %llu state %d", a->kind, (unsigned long long)a->id,
		    a->class_state);
		CHECK(a->class && strcmp(a->class->family, "fam") == 0 && a->nmatches == 1 &&
		    strcmp(a->matches[0].rule, "needle") == 0, "family and rule");
		CHECK(a->payload == NULL && memcmp(a->sha256, hit->sha256, 32) == 0,
		    "the digest kept, the payload freed");
		CHECK(b->id == 2 && b->class_state == CLASS_SKIPPED && b->nmatches == 0,
		    "over the budget: state %d", b->class_state);
	}
	while (list) {
		struct record *next = list->next;
		record_free(list);
		list = next;
	}
	again = cl_record(3, "a needle here", 64);
	CHECK(again && classifier_lookup(c, again) && again->class_state == CLASS_DONE &&
	    again->nmatches == 1 && strcmp(again->class->family, "fam") == 0,
	    "the same payload again: known by digest");
	record_free(again);
	again = cl_record(4, "", 20000);
	CHECK(again && classifier_lookup(c, again) && again->class_state == CLASS_SKIPPED,
	    "a skipped payload is not scanned again");
	record_free(again);
	again = cl_record(5, "something else", 64);
	CHECK(again && !classifier_lookup(c, again), "another payload is not known");
	record_free(again);
	CHECK(!classifier_reserve(c, 1), "finished: no more places");
	classifier_get_counters(c, &n);
	CHECK(n.classified == 2 && n.skipped == 2 && n.cache_hits == 2,
	    "classified %llu skipped %llu hits %llu", (unsigned long long)n.classified,
	    (unsigned long long)n.skipped, (unsigned long long)n.cache_hits);
out:
	record_free(hit);
	record_free(slow);
	classifier_free(c);
}

/* A primary that keeps what it is given: the kind and state of each. */
struct cl_sink {
	struct sink sink;
	int n;
	enum record_kind kind[8];
	enum record_class_state state[8];
	char family[8][RECORD_FAMILY_MAX];
};

static enum sink_status cl_sink_write(struct sink *sink, const struct record *list,
    struct sink_batch *out)
{
	struct cl_sink *t = (struct cl_sink *)sink;

	(void)out;
	for (const struct record *r = list; r && t->n < 8; r = r->next, t->n++) {
		t->kind[t->n] = r->kind;
		t->state[t->n] = r->class_state;
		snprintf(t->family[t->n], RECORD_FAMILY_MAX, "%s", r->class ? r->class->family : "");
	}
	return SINK_OK;
}

static void cl_sink_close(struct sink *sink)
{
	(void)sink;
}

static const struct sink_ops cl_sink_ops = {
	.name = "cl-primary", .primary = true, .write = cl_sink_write, .close = cl_sink_close,
};

/* The writer commits the session 'pending', then its verdict; a session
 * without a payload is 'none'; without a classifier, 'none' too unless
 * told to leave payloads for rescan. */
static void test_classifier_writer(void)
{
	char dir[64];
	struct classify *rules = cl_rules(dir, sizeof(dir));
	struct writer w;
	struct cl_sink p = {.sink.ops = &cl_sink_ops};

	if (!rules)
		return;
	writer_init(&w, 100, 1 << 20, 5000);
	writer_add_sink(&w, &p.sink);
	CHECK(writer_classify(&w, rules, NULL, NULL, CL_BUDGET_NS) == 0, "classifier");
	queue_push(&w.queue, cl_record(1, "needle", 16));
	queue_push(&w.queue, record_new(RECORD_CLOSED, MODE_SERVE, 2));
	writer_drain(&w);
	CHECK(p.n == 3, "%d records written", p.n);
	CHECK(p.kind[0] == RECORD_CLOSED && p.state[0] == CLASS_PENDING, "committed pending");
	CHECK(p.kind[1] == RECORD_CLOSED && p.state[1] == CLASS_NONE, "no payload: none");
	CHECK(p.kind[2] == RECORD_CLASSIFIED && p.state[2] == CLASS_DONE &&
	    strcmp(p.family[2], "fam") == 0, "then its verdict: %d %s", p.state[2], p.family[2]);
	struct classifier_counters n = writer_class_counters(&w);
	CHECK(n.classified == 1 && n.unclassified == 0, "counted");
	writer_destroy(&w);

	/* A full classifier queue: the session is stored 'shed', counted. */
	struct cl_sink f = {.sink.ops = &cl_sink_ops};
	writer_init(&w, 100, 1 << 20, 5000);
	writer_add_sink(&w, &f.sink);
	writer_classify(&w, cl_rules(dir, sizeof(dir)), NULL, NULL, CL_BUDGET_NS);
	while (classifier_reserve(w.classifier, 1))
		;
	queue_push(&w.queue, cl_record(5, "a needle again", 16));
	writer_drain(&w);
	CHECK(f.n == 1 && f.kind[0] == RECORD_CLOSED && f.state[0] == CLASS_SHED,
	    "shed: %d records, state %d", f.n, f.state[0]);
	n = writer_class_counters(&w);
	CHECK(n.unclassified == 2 && n.classified == 0, "the refusals counted: %llu",
	    (unsigned long long)n.unclassified);
	writer_destroy(&w);

	struct cl_sink q = {.sink.ops = &cl_sink_ops};
	writer_init(&w, 100, 1 << 20, 5000);
	writer_add_sink(&w, &q.sink);
	writer_classify_later(&w);
	queue_push(&w.queue, cl_record(3, "needle", 16));
	writer_drain(&w);
	CHECK(q.n == 1 && q.state[0] == CLASS_PENDING, "left for rescan: %d", q.state[0]);
	writer_destroy(&w);
}

/* libyara is loaded only from root's own folders: the build's path is
 * accepted; a file another user owns, or one in a folder others can
 * write (even root's own file in /tmp), is refused, naming it. */
static void test_yara_api_trust(void)
{
	char err[512], dir[] = "/tmp/flypaper-unit-yara-XXXXXX", lib[64];
	int fd;

	CHECK(yara_api_trusted(yara_api_path(), err, sizeof(err)) == 0, "%s", err);
	CHECK(yara_api_load(err, sizeof(err)) == 0 && yara_api_loaded(), "loaded: %s", err);
	CHECK(yara_api_trusted("/nonexistent/libyara.so.9", err, sizeof(err)) < 0 &&
	    strstr(err, "/nonexistent/libyara.so.9"), "a missing file: %s", err);
	if (!mkdtemp(dir))
		return;
	snprintf(lib, sizeof(lib), "%s/libyara.so.9", dir);
	fd = open(lib, O_WRONLY | O_CREAT, 0644);
	CHECK(fd >= 0, "scratch file");
	if (fd >= 0)
		close(fd);
	/* Its folder is root's (or the tester's) but /tmp is writable by all. */
	CHECK(yara_api_trusted(lib, err, sizeof(err)) < 0 && strstr(err, "/tmp"),
	    "beneath /tmp: %s", err);
	if (geteuid() == 0 && chown(lib, 65534, 65534) == 0)
		CHECK(yara_api_trusted(lib, err, sizeof(err)) < 0, "another user's file");
	unlink(lib);
	rmdir(dir);
}

void test_classifier(int *passed, int *failed)
{
	cl_passed = passed;
	cl_failed = failed;
	test_classifier_caps();
	test_classifier_verdicts();
	test_classifier_writer();
	test_yara_api_trust();
}
