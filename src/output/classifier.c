/* classifier.c - the classifier thread: a bounded queue of committed
 * sessions' payloads in, verdicts out, a cache of recent verdicts by
 * digest in between (a payload a botnet sends ten thousand times is
 * scanned once). Every scan has a budget; a payload over it is 'skipped'
 * and remembered as such, so a peer repeating a crafted payload costs one
 * budget, not one per session. */
#include "classifier.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "log.h"

struct classifier_entry {
	unsigned char sha256[32];
	bool used;
	bool skipped;                /* over budget: no matches to give */
	struct classify_result result;
};

struct classifier {
	pthread_mutex_t lock;
	pthread_cond_t work;         /* a job came, or stop */
	pthread_t thread;
	bool running;                /* the thread was started */
	struct classify *rules;      /* owned; NULL until compiled (lazily) */
	char *paths, *cache_path;    /* owned; rules to compile at the first job */
	bool rules_failed;           /* compiling failed: jobs are abandoned (written under lock) */
	uint64_t budget_ns;
	void (*wake)(void *ctx);
	void *ctx;
	/* Under lock: */
	struct record *head, *tail;  /* jobs: RECORD_CLASSIFIED records with payloads */
	struct record *done;         /* verdicts not taken yet, newest first */
	size_t slots;                /* jobs queued, reserved, being scanned, verdicts not taken */
	size_t bytes;                /* payload bytes of the jobs queued or reserved */
	bool stopping;
	uint64_t deadline_ns;        /* when stopping: scan until then */
	struct classifier_entry *cache; /* CLASSIFIER_CACHE entries */
	struct classifier_counters count;
};

struct classifier *classifier_new(struct classify *rules, const char *paths,
    const char *cache, uint64_t budget_ns, void (*wake)(void *ctx), void *ctx)
{
	struct classifier *c = calloc(1, sizeof(*c));
	pthread_condattr_t attr;

	if (!c || !(c->cache = calloc(CLASSIFIER_CACHE, sizeof(*c->cache))) ||
	    (paths && !(c->paths = strdup(paths))) ||
	    (cache && !(c->cache_path = strdup(cache)))) {
		classify_close(rules);
		if (c) {
			free(c->cache);
			free(c->paths);
			free(c);
		}
		return NULL;
	}
	c->rules = rules;
	c->budget_ns = budget_ns;
	if (rules)
		classify_set_budget(rules, budget_ns);
	c->wake = wake;
	c->ctx = ctx;
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&c->work, &attr);
	pthread_condattr_destroy(&attr);
	return c;
}

static struct classifier_entry *classifier_slot(struct classifier *c,
    const unsigned char sha256[32])
{
	return &c->cache[(sha256[0] | sha256[1] << 8) % CLASSIFIER_CACHE];
}

/* Fills r's verdict: skipped, or done with res's family, tags and
 * matches. Returns false when memory ran out. */
static bool classifier_fill(struct record *r, bool skipped,
    const struct classify_result *res)
{
	r->class_state = skipped ? CLASS_SKIPPED : CLASS_DONE;
	if (skipped)
		return true;
	if (!(r->class = calloc(1, sizeof(*r->class))))
		return false;
	memcpy(r->class->family, res->family, sizeof(r->class->family));
	memcpy(r->class->tags, res->tags, sizeof(r->class->tags));
	r->class->family[sizeof(r->class->family) - 1] = '\0';
	r->class->tags[sizeof(r->class->tags) - 1] = '\0';
	if (res->n > 0) {
		r->matches = malloc((size_t)res->n * sizeof(*r->matches));
		if (!r->matches) {
			free(r->class);
			r->class = NULL;
			return false;
		}
		memcpy(r->matches, res->m, (size_t)res->n * sizeof(*r->matches));
		r->nmatches = res->n;
	}
	return true;
}

/* Under lock: the cached verdict for r's digest into r. */
static bool classifier_cached(struct classifier *c, struct record *r)
{
	struct classifier_entry *e = classifier_slot(c, r->sha256);

	if (!e->used || memcmp(e->sha256, r->sha256, 32) != 0)
		return false;
	if (!classifier_fill(r, e->skipped, &e->result))
		return false;
	c->count.cache_hits++;
	return true;
}

bool classifier_lookup(struct classifier *c, struct record *r)
{
	bool hit;

	pthread_mutex_lock(&c->lock);
	hit = classifier_cached(c, r);
	if (hit && r->class_state == CLASS_SKIPPED)
		c->count.skipped++;
	pthread_mutex_unlock(&c->lock);
	return hit;
}

bool classifier_reserve(struct classifier *c, size_t len)
{
	bool ok;

	pthread_mutex_lock(&c->lock);
	ok = !c->stopping && !c->rules_failed && c->slots < CLASSIFIER_MAX_JOBS &&
	    c->bytes + len <= CLASSIFIER_MAX_BYTES;
	if (ok) {
		c->slots++;
		c->bytes += len;
	} else {
		c->count.unclassified++;
	}
	pthread_mutex_unlock(&c->lock);
	return ok;
}

void classifier_release(struct classifier *c, size_t len)
{
	pthread_mutex_lock(&c->lock);
	c->slots--;
	c->bytes -= len;
	pthread_mutex_unlock(&c->lock);
}

void classifier_submit(struct classifier *c, struct record *r)
{
	struct record *job = record_new(RECORD_CLASSIFIED, r->mode, r->id);
	size_t len = r->payload_len;

	if (!job) {
		classifier_release(c, len);
		pthread_mutex_lock(&c->lock);
		c->count.unclassified++;
		pthread_mutex_unlock(&c->lock);
		return;
	}
	job->start_wall = r->start_wall;
	job->src = r->src;
	job->dst = r->dst;
	job->strategy = r->strategy;
	memcpy(job->sha256, r->sha256, sizeof(job->sha256));
	job->payload = r->payload;
	job->payload_len = len;
	r->payload = NULL;
	pthread_mutex_lock(&c->lock);
	if (c->tail)
		c->tail->next = job;
	else
		c->head = job;
	c->tail = job;
	pthread_mutex_unlock(&c->lock);
	pthread_cond_signal(&c->work);
}

/* Compiles the rules at the first job (an inetd child with --rules). */
static bool classifier_rules(struct classifier *c)
{
	char err[512];

	if (c->rules || c->rules_failed)
		return c->rules != NULL;
	if (c->paths && (c->rules = classify_open(c->paths, c->cache_path, err, sizeof(err)))) {
		classify_set_budget(c->rules, c->budget_ns);
		return true;
	}
	if (c->paths)
		log_error("rules: %s (payloads are stored unclassified, for `flypaper rescan`)", err);
	pthread_mutex_lock(&c->lock);    /* classifier_reserve reads it */
	c->rules_failed = true;
	pthread_mutex_unlock(&c->lock);
	return false;
}

/* Scans one job's payload (no lock held), or finds its digest's verdict
 * scanned since it was queued. Fills the job's verdict and frees its
 * payload. Returns false when it could not be classified. */
static bool classifier_scan(struct classifier *c, struct record *job)
{
	static __thread struct classify_result res;
	struct classifier_entry *e;
	bool skipped, ok;

	pthread_mutex_lock(&c->lock);
	ok = classifier_cached(c, job);
	pthread_mutex_unlock(&c->lock);
	if (!ok) {
		if (!classifier_rules(c))
			return false;
		skipped = classify_scan(c->rules, job->payload, job->payload_len, &res) < 0;
		pthread_mutex_lock(&c->lock);
		e = classifier_slot(c, job->sha256);
		memcpy(e->sha256, job->sha256, 32);
		e->used = true;
		e->skipped = skipped;
		e->result = res;
		pthread_mutex_unlock(&c->lock);
		if (!classifier_fill(job, skipped, &res))
			return false;
	}
	free(job->payload);
	job->payload = NULL;
	clock_gettime(CLOCK_REALTIME, &job->end_wall);
	return true;
}

/* Takes the next job, waiting for one unless told not to. NULL when there
 * is none to scan: stopping and empty, or past the exit deadline. */
static struct record *classifier_next(struct classifier *c, bool wait)
{
	struct record *job = NULL;

	pthread_mutex_lock(&c->lock);
	while (wait && !c->head && !c->stopping)
		pthread_cond_wait(&c->work, &c->lock);
	if (c->head && !(c->stopping && uv_hrtime() >= c->deadline_ns)) {
		job = c->head;
		c->head = job->next;
		if (!c->head)
			c->tail = NULL;
		job->next = NULL;
		c->bytes -= job->payload_len;
	}
	pthread_mutex_unlock(&c->lock);
	return job;
}

/* Scans jobs until stopped (wait), or until none is left or the exit
 * deadline passed (without a thread). */
static void classifier_run(struct classifier *c, bool wait)
{
	struct record *job;

	while ((job = classifier_next(c, wait))) {
		bool ok = classifier_scan(c, job);
		bool first = false, first_skip = false;
		pthread_mutex_lock(&c->lock);
		if (ok) {
			first_skip = job->class_state == CLASS_SKIPPED && c->count.skipped == 0;
			first = !c->done;
			job->next = c->done;
			c->done = job;
			c->count.classified++;
			c->count.skipped += job->class_state == CLASS_SKIPPED;
		} else {
			c->slots--;
			c->count.unclassified++;
		}
		pthread_mutex_unlock(&c->lock);
		if (!ok)
			record_free(job);
		if (first_skip)
			log_warn("rules: a payload's scan ran over --classify-budget: it is "
			    "stored unclassified ('skipped', counted); `flypaper rescan` "
			    "gives each payload 2s");
		if (first && c->wake)
			c->wake(c->ctx);
	}
}

static void *classifier_main(void *arg)
{
	classifier_run(arg, true);
	return NULL;
}

int classifier_start(struct classifier *c)
{
	if (pthread_create(&c->thread, NULL, classifier_main, c) != 0)
		return -1;
	c->running = true;
	return 0;
}

struct record *classifier_take(struct classifier *c)
{
	struct record *list = NULL, *r;

	pthread_mutex_lock(&c->lock);
	/* Oldest first, as they were scanned. */
	while ((r = c->done)) {
		c->done = r->next;
		r->next = list;
		list = r;
		c->slots--;
	}
	pthread_mutex_unlock(&c->lock);
	return list;
}

/* Stops at deadline_ns, counts and frees the jobs left. */
static void classifier_stop(struct classifier *c, uint64_t deadline_ns)
{
	struct record *left;

	pthread_mutex_lock(&c->lock);
	if (!c->stopping) {
		c->stopping = true;
		c->deadline_ns = deadline_ns;
	}
	pthread_mutex_unlock(&c->lock);
	pthread_cond_broadcast(&c->work);
	if (c->running) {
		pthread_join(c->thread, NULL);
		c->running = false;
	} else {
		classifier_run(c, false);
	}
	pthread_mutex_lock(&c->lock);
	left = c->head;
	c->head = c->tail = NULL;
	for (struct record *r = left; r; r = r->next) {
		c->slots--;
		c->bytes -= r->payload_len;
		c->count.unclassified++;
	}
	pthread_mutex_unlock(&c->lock);
	while (left) {
		struct record *next = left->next;
		record_free(left);
		left = next;
	}
}

void classifier_finish(struct classifier *c)
{
	classifier_stop(c, uv_hrtime() + CLASSIFIER_FINISH_MS * 1000000ULL);
}

void classifier_get_counters(struct classifier *c, struct classifier_counters *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->count;
	pthread_mutex_unlock(&c->lock);
}

size_t classifier_backlog(struct classifier *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->slots;
	pthread_mutex_unlock(&c->lock);
	return n;
}

void classifier_free(struct classifier *c)
{
	if (!c)
		return;
	classifier_stop(c, 0);
	for (struct record *r = classifier_take(c), *next; r; r = next) {
		next = r->next;
		record_free(r);
	}
	classify_close(c->rules);
	pthread_cond_destroy(&c->work);
	pthread_mutex_destroy(&c->lock);
	free(c->cache);
	free(c->paths);
	free(c->cache_path);
	free(c);
}
