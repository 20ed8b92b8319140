/*
 * reader.c - cached block reads, coalesced fetches on a bounded pool,
 * readahead, one memory budget. See reader.h.
 *
 * Locks: r->lock guards the queues, the in-flight table, every job's state,
 * the memory count and the counters. Order: a readahead's lock, then
 * r->lock, then the store's lock; never the other way. Nothing is held across backend
 * I/O or store I/O.
 */
#define FX_LOG_MODULE "cache"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "cache/reader.h"
#include "core/log.h"


#define FX_INFLIGHT_BUCKETS 1024
#define FX_READ_STACK_BLOCKS 32
/* Prefetched blocks of one object that follow each other are fetched by
 * one ranged GET of up to this many bytes: fewer requests for the server
 * and for every proxy or load balancer between. Demand reads are fetched
 * alone, so a waiting reader gets its block as soon as it arrives. */
#define FX_COALESCE_BYTES (8u << 20)
#define FX_RUN_MAX 64 /* blocks in one such GET at most */

enum fx_job_state { FX_JOB_QUEUED, FX_JOB_RUNNING, FX_JOB_DONE };

/* The buffer one GET fills, shared by the blocks it fetched (no copy per
 * block); freed with the last of them. The budget is charged per block, so
 * a run's buffer can outlive the charge of its first blocks by as long as
 * its worker takes to store the rest. */
struct fx_buf {
	unsigned refs; /* r->lock */
	uint8_t bytes[];
};

/* One block being fetched. Freed by the worker when nobody waits for it,
 * else by the last waiter; its buffer stays charged to the budget until. */
struct fx_job {
	uint8_t id[FX_BLOCK_ID_LEN];
	char *key, *version;
	uint64_t off;
	uint32_t len;
	enum fx_fetch_prio prio;
	enum fx_job_state state;
	ssize_t result; /* bytes fetched or -errno, once DONE */
	uint8_t *data;  /* its bytes, in the buffer of the GET that fetched them */
	struct fx_buf *buf;
	unsigned waiters;
	bool charged;
	bool inserting; /* done, its block being stored: the worker frees it after */
	struct fx_job *run_next;    /* the next block fetched by the same GET */
	struct fx_job *prev, *next; /* queue of its priority */
	struct fx_job *hnext;       /* in-flight table */
};

struct fx_reader {
	struct fx_backend *backend;
	struct fx_store *store;
	const char *url;
	uint32_t block_size;
	uint64_t memory_limit, readahead_max;

	pthread_mutex_t lock;
	pthread_cond_t work; /* a job was queued, memory freed, or stopping */
	pthread_cond_t done; /* a job finished */
	struct fx_job *head[FX_FETCH_NPRIO], *tail[FX_FETCH_NPRIO];
	uint64_t queued_bytes[FX_FETCH_NPRIO];
	struct fx_job *inflight[FX_INFLIGHT_BUCKETS];
	uint64_t memory_used;
	struct fx_reader_stats st;
	bool stopping;
	bool trim; /* buffers were freed since the heap was last given back */
	unsigned nworkers, want_workers;
	pthread_t *workers;
};

/* ------------------------------------------------------------ bookkeeping */

static size_t fx_slot(const uint8_t *id)
{
	uint64_t h;

	memcpy(&h, id, sizeof(h));
	return (size_t)(h % FX_INFLIGHT_BUCKETS);
}

static struct fx_job *fx_inflight_find(struct fx_reader *r, const uint8_t *id)
{
	struct fx_job *j = r->inflight[fx_slot(id)];

	while (j && memcmp(j->id, id, FX_BLOCK_ID_LEN))
		j = j->hnext;
	return j;
}

static void fx_inflight_del(struct fx_reader *r, struct fx_job *j)
{
	struct fx_job **pp = &r->inflight[fx_slot(j->id)];

	while (*pp && *pp != j)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = j->hnext;
}

static void fx_queue_push(struct fx_reader *r, struct fx_job *j)
{
	j->next = NULL;
	j->prev = r->tail[j->prio];
	if (j->prev)
		j->prev->next = j;
	else
		r->head[j->prio] = j;
	r->tail[j->prio] = j;
	r->queued_bytes[j->prio] += j->len;
}

static void fx_queue_unlink(struct fx_reader *r, struct fx_job *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else
		r->head[j->prio] = j->next;
	if (j->next)
		j->next->prev = j->prev;
	else
		r->tail[j->prio] = j->prev;
	j->prev = j->next = NULL;
	r->queued_bytes[j->prio] -= j->len;
}

static void fx_job_free(struct fx_reader *r, struct fx_job *j)
{
	if (j->charged) {
		r->memory_used -= j->len;
		r->trim = true;
		pthread_cond_broadcast(&r->work);
	}
	if (j->buf && --j->buf->refs == 0)
		free(j->buf);
	free(j->key);
	free(j->version);
	free(j);
}

/* Bytes of block @index of @obj. */
static uint32_t fx_block_len(const struct fx_reader *r, const struct fx_object_ref *obj,
			     uint64_t index)
{
	uint64_t start = index * r->block_size;

	if (start >= obj->size)
		return 0;
	return obj->size - start < r->block_size ? (uint32_t)(obj->size - start) : r->block_size;
}

/* A job for block @index of @obj at @prio, or the one already in flight
 * (raised to @prio if queued lower). r->lock held. NULL on ENOMEM. */
static struct fx_job *fx_job_get(struct fx_reader *r, const struct fx_object_ref *obj,
				 uint64_t index, const uint8_t *id, enum fx_fetch_prio prio)
{
	struct fx_job *j = fx_inflight_find(r, id);

	if (j) {
		if (j->state == FX_JOB_QUEUED && prio < j->prio) {
			fx_queue_unlink(r, j);
			j->prio = prio;
			fx_queue_push(r, j);
		}
		r->st.coalesced++;
		return j;
	}
	if (!(j = calloc(1, sizeof(*j))))
		return NULL;
	j->key = strdup(obj->key);
	j->version = strdup(obj->version);
	if (!j->key || !j->version) {
		fx_job_free(r, j);
		return NULL;
	}
	memcpy(j->id, id, FX_BLOCK_ID_LEN);
	j->off = index * r->block_size;
	j->len = fx_block_len(r, obj, index);
	j->prio = prio;
	j->hnext = r->inflight[fx_slot(id)];
	r->inflight[fx_slot(id)] = j;
	fx_queue_push(r, j);
	pthread_cond_signal(&r->work);
	return j;
}

/* ------------------------------------------------------------ workers */

/* Mark the unlinked @j running and charge it to the budget (r->lock held). */
static void fx_job_take(struct fx_reader *r, struct fx_job *j)
{
	j->state = FX_JOB_RUNNING;
	j->charged = true;
	j->run_next = NULL;
	r->memory_used += j->len;
	if (r->memory_used > r->st.memory_peak)
		r->st.memory_peak = r->memory_used;
}

/* The next job a worker may start, charged to the budget (r->lock held),
 * with the queued blocks right after it chained on run_next.
 * Demand reads may use all of it (and always run when nothing else holds
 * memory); prefetch leaves a quarter for them. */
static struct fx_job *fx_next_job(struct fx_reader *r)
{
	for (int p = 0; p < FX_FETCH_NPRIO; p++) {
		struct fx_job *j = r->head[p];
		uint64_t limit = p == FX_FETCH_DEMAND ? r->memory_limit : r->memory_limit / 4 * 3;
		unsigned n = 1;

		if (!j)
			continue;
		if (r->memory_used + j->len > limit && !(p == FX_FETCH_DEMAND && r->memory_used == 0))
			return NULL; /* higher priorities first, even when waiting */
		fx_queue_unlink(r, j);
		fx_job_take(r, j);
		for (struct fx_job *last = j, *k; p != FX_FETCH_DEMAND && (k = r->head[p]); last = k) {
			uint64_t run = k->off + k->len - j->off;

			if (n++ == FX_RUN_MAX || k->off != last->off + last->len || strcmp(k->key, j->key) ||
			    strcmp(k->version, j->version) || run > FX_COALESCE_BYTES ||
			    r->memory_used + k->len > limit)
				break;
			fx_queue_unlink(r, k);
			fx_job_take(r, k);
			last->run_next = k;
		}
		return j;
	}
	return NULL;
}

/* Fetch the run of blocks starting at @j with one GET into one buffer that
 * the blocks share (r->lock not held; the run is only this worker's). */
static void fx_fetch(struct fx_reader *r, struct fx_job *j)
{
	size_t total = 0;
	unsigned nblocks = 0;
	ssize_t n = -ENOMEM;
	struct fx_buf *buf;

	for (struct fx_job *k = j; k; k = k->run_next) {
		total += k->len;
		nblocks++;
	}
	buf = malloc(sizeof(*buf) + (total ? total : 1));
	if (buf)
		n = fx_backend_get_version(r->backend, j->key, j->version, j->off, buf->bytes, total);
	if (n >= 0 && (size_t)n < total)
		n = -ESTALE; /* shorter than the version we were told of: it changed */
	if (n < 0 && n != -ESTALE && j->prio == FX_FETCH_DEMAND)
		fx_debug("fetching %s at %llu failed: %s", j->key, (unsigned long long)j->off,
			 fx_strerror((int)n));
	if (n < 0) {
		free(buf);
		buf = NULL;
	} else {
		buf->refs = nblocks; /* before any job is visible as done */
	}
	for (struct fx_job *k = j; k; k = k->run_next) {
		k->result = n < 0 ? n : (ssize_t)k->len;
		k->buf = buf;
		k->data = buf ? buf->bytes + (k->off - j->off) : NULL;
	}
}

uint64_t fx_object_id(const char *key)
{
	uint64_t id = XXH3_64bits(key, strlen(key));

	return id ? id : 1; /* 0 means "unknown" everywhere */
}

static void fx_insert(struct fx_reader *r, struct fx_job *j)
{
	uint32_t flags = j->prio == FX_FETCH_DEMAND	 ? 0
			 : j->prio == FX_FETCH_PREDICTED ? FX_CB_PREFETCHED | FX_CB_PREDICTED
							 : FX_CB_PREFETCHED;
	int err = fx_store_insert_from(r->store, j->id, j->data, j->len, flags,
				       fx_object_id(j->key), j->off / fx_store_block_size(r->store));

	if (err < 0 && err != -ENOSPC && fx_log_first_time("cache-insert"))
		fx_warn("cannot store blocks in the cache (%s); reading uncached", fx_strerror(err));
}

/* Fetch the running @j, hand its bytes to the readers waiting for it, then
 * store the block (r->lock held; dropped during I/O). Until stored, the job
 * stays in flight, so a reader arriving meanwhile copies it too. */
static void fx_run(struct fx_reader *r, struct fx_job *j)
{
	struct fx_job *next, *store[FX_RUN_MAX];
	unsigned n = 0;

	pthread_mutex_unlock(&r->lock);
	fx_fetch(r, j);
	pthread_mutex_lock(&r->lock);
	r->st.fetches++;
	for (struct fx_job *k = j; k; k = k->run_next) {
		if (k->result > 0)
			r->st.fetched_bytes += (uint64_t)k->result;
		else if (k->result == -ESTALE)
			r->st.stale++;
		else if (k->result < 0)
			r->st.fetch_errors++;
		k->state = FX_JOB_DONE;
		k->inserting = k->result == (ssize_t)k->len && k->len;
	}
	pthread_cond_broadcast(&r->done);
	/* No waiter runs before the lock is dropped: release now what is not
	 * stored, as a waiter frees a done job it was the last to hold. */
	for (struct fx_job *k = j; k; k = next) {
		next = k->run_next;
		if (k->inserting) {
			store[n++] = k;
			continue;
		}
		fx_inflight_del(r, k);
		if (k->waiters == 0)
			fx_job_free(r, k);
	}
	for (unsigned i = 0; i < n; i++) {
		pthread_mutex_unlock(&r->lock);
		fx_insert(r, store[i]);
		pthread_mutex_lock(&r->lock);
		store[i]->inserting = false;
		fx_inflight_del(r, store[i]);
		if (store[i]->waiters == 0)
			fx_job_free(r, store[i]);
	}
}

/* A reader runs its own queued @j (r->lock held): no worker is started. */
static void fx_run_inline(struct fx_reader *r, struct fx_job *j)
{
	fx_queue_unlink(r, j);
	j->state = FX_JOB_RUNNING;
	j->run_next = NULL;
	fx_run(r, j);
}

static void *fx_worker(void *arg)
{
	struct fx_reader *r = arg;
	struct fx_job *j = NULL;

	fx_log_set_request(0);
	pthread_mutex_lock(&r->lock);
	for (;;) {
		while (!r->stopping && !(j = fx_next_job(r))) {
			/* Idle with no buffer in use: give the heap the fetch
			 * buffers grew back to the system (the daemon keeps them
			 * while busy, see fx_fs_run). */
			if (r->trim && r->memory_used == 0) {
				r->trim = false;
				pthread_mutex_unlock(&r->lock);
				malloc_trim(0);
				pthread_mutex_lock(&r->lock);
				continue;
			}
			pthread_cond_wait(&r->work, &r->lock);
		}
		if (r->stopping)
			break;
		fx_run(r, j);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int fx_reader_new(const struct fx_reader_opts *o, struct fx_reader **out)
{
	struct fx_reader *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->backend = o->backend;
	r->store = o->store;
	r->url = fx_backend_url(o->backend);
	r->block_size = fx_store_block_size(o->store);
	r->memory_limit = o->memory_limit < r->block_size ? r->block_size : o->memory_limit;
	r->readahead_max = o->readahead_max;
	r->st.memory_limit = r->memory_limit;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->work, NULL);
	pthread_cond_init(&r->done, NULL);
	r->want_workers = o->workers ? o->workers : 1;
	r->workers = calloc(r->want_workers, sizeof(*r->workers));
	if (!r->workers) {
		fx_reader_free(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

int fx_reader_start(struct fx_reader *r)
{
	int err = 0;

	pthread_mutex_lock(&r->lock);
	while (r->nworkers < r->want_workers) {
		if ((err = pthread_create(&r->workers[r->nworkers], NULL, fx_worker, r)))
			break;
		r->nworkers++;
	}
	pthread_mutex_unlock(&r->lock);
	return -err;
}

void fx_reader_free(struct fx_reader *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stopping = true;
	pthread_cond_broadcast(&r->work);
	pthread_mutex_unlock(&r->lock);
	for (unsigned i = 0; i < r->nworkers; i++)
		pthread_join(r->workers[i], NULL);
	/* Only queued prefetches are left: readers are gone. */
	for (int p = 0; p < FX_FETCH_NPRIO; p++) {
		while (r->head[p]) {
			struct fx_job *j = r->head[p];

			fx_queue_unlink(r, j);
			fx_job_free(r, j);
		}
	}
	free(r->workers);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->work);
	pthread_cond_destroy(&r->done);
	free(r);
}

/* -------------------------------------------------------------- reading */

ssize_t fx_reader_read(struct fx_reader *r, const struct fx_object_ref *obj, uint64_t off,
		       void *buf, size_t len)
{
	struct fx_job *stack[FX_READ_STACK_BLOCKS], **jobs = stack;
	uint64_t first, last, nblocks;
	uint8_t id[FX_BLOCK_ID_LEN];
	ssize_t ret = 0;

	if (off >= obj->size || !len)
		return 0;
	if (len > obj->size - off)
		len = obj->size - off;
	first = off / r->block_size;
	last = (off + len - 1) / r->block_size;
	nblocks = last - first + 1;
	if (nblocks > FX_READ_STACK_BLOCKS && !(jobs = calloc(nblocks, sizeof(*jobs))))
		return -ENOMEM;

	/* Cached blocks are copied now; fetches start for the others. */
	for (uint64_t i = first; i <= last; i++) {
		uint64_t bstart = i * r->block_size;
		uint64_t from = off > bstart ? off - bstart : 0;
		uint64_t to = off + len - bstart < r->block_size ? off + len - bstart : r->block_size;
		ssize_t n;

		jobs[i - first] = NULL;
		fx_store_block_id(r->store, r->url, obj->key, obj->version, i, id);
		n = fx_store_read(r->store, id, (uint32_t)from, (char *)buf + (bstart + from - off),
				  to - from);
		if (n == (ssize_t)(to - from))
			continue;
		if (n >= 0) /* shorter than the version's size says: not to be trusted */
			fx_store_drop(r->store, id);
		pthread_mutex_lock(&r->lock);
		/* A prefetch of it may have finished since the miss: read it then. */
		if (n == -ENOENT && !fx_inflight_find(r, id) && fx_store_has(r->store, id)) {
			pthread_mutex_unlock(&r->lock);
			n = fx_store_read(r->store, id, (uint32_t)from,
					  (char *)buf + (bstart + from - off), to - from);
			if (n == (ssize_t)(to - from))
				continue;
			pthread_mutex_lock(&r->lock);
		}
		jobs[i - first] = fx_job_get(r, obj, i, id, FX_FETCH_DEMAND);
		if (jobs[i - first])
			jobs[i - first]->waiters++;
		else
			ret = -ENOMEM;
		pthread_mutex_unlock(&r->lock);
	}

	/* Copy each block's part as soon as its fetch is done, in any order: a
	 * done job holds its buffer's budget until all its waiters let go, and
	 * a waiter stuck on an earlier block could keep it forever. */
	pthread_mutex_lock(&r->lock);
	for (;;) {
		bool pending = false, progress = false;

		for (uint64_t i = first; i <= last; i++) {
			struct fx_job *j = jobs[i - first];
			uint64_t bstart = i * r->block_size;
			uint64_t from = off > bstart ? off - bstart : 0;
			uint64_t to = off + len - bstart < r->block_size ? off + len - bstart
									 : r->block_size;

			if (!j)
				continue;
			if (j->state != FX_JOB_DONE) {
				if (r->nworkers == 0 && j->state == FX_JOB_QUEUED) {
					fx_run_inline(r, j); /* not started: fetch it here */
					progress = true;
				}
				pending = true;
				continue;
			}
			if (j->result < 0 && ret == 0)
				ret = j->result;
			else if (j->result >= 0 && ret == 0)
				memcpy((char *)buf + (bstart + from - off), j->data + from, to - from);
			if (--j->waiters == 0 && !j->inserting)
				fx_job_free(r, j);
			jobs[i - first] = NULL;
			progress = true;
		}
		if (!pending)
			break;
		if (!progress)
			pthread_cond_wait(&r->done, &r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	if (jobs != stack)
		free(jobs);
	return ret < 0 ? ret : (ssize_t)len;
}

unsigned fx_reader_prefetch(struct fx_reader *r, const struct fx_object_ref *obj, uint64_t first,
			    uint64_t n, enum fx_fetch_prio prio)
{
	uint8_t id[FX_BLOCK_ID_LEN];
	unsigned queued = 0;

	for (uint64_t i = first; i < first + n && fx_block_len(r, obj, i); i++) {
		fx_store_block_id(r->store, r->url, obj->key, obj->version, i, id);
		if (fx_store_has(r->store, id))
			continue;
		pthread_mutex_lock(&r->lock);
		if (fx_inflight_find(r, id)) {
			pthread_mutex_unlock(&r->lock);
			continue;
		}
		/* Queued prefetch is bounded too: skipped, not piled up. */
		if (r->queued_bytes[prio] + r->block_size > r->memory_limit / 4 * 3) {
			r->st.prefetch_skipped++;
			pthread_mutex_unlock(&r->lock);
			break;
		}
		if (fx_job_get(r, obj, i, id, prio)) {
			queued++;
			if (prio == FX_FETCH_READAHEAD)
				r->st.readahead_blocks++;
			else
				r->st.predicted_blocks++;
		}
		pthread_mutex_unlock(&r->lock);
	}
	return queued;
}

void fx_readahead_init(struct fx_readahead *ra)
{
	memset(ra, 0, sizeof(*ra));
	pthread_mutex_init(&ra->lock, NULL);
}

void fx_readahead_destroy(struct fx_readahead *ra)
{
	pthread_mutex_destroy(&ra->lock);
}

void fx_readahead_note(struct fx_reader *r, struct fx_readahead *ra, const struct fx_object_ref *obj,
		       uint64_t off, size_t len)
{
	uint64_t bs = r->block_size, from = 0, to = 0, slack;

	if (!r->readahead_max || !len)
		return;
	pthread_mutex_lock(&ra->lock);
	/* The kernel issues a sequential reader's requests from several threads
	 * at once, a little out of order: near the frontier counts as in order. */
	slack = ra->window > 2 * bs ? ra->window : 2 * bs;
	if (off + slack >= ra->next_off && off <= ra->next_off + slack) {
		uint64_t w = ra->window ? ra->window * 2 : 2 * bs;

		ra->window = w < r->readahead_max ? w : r->readahead_max;
	} else {
		ra->window = 0;
		ra->ra_end = 0;
	}
	if (off + len > ra->next_off || !ra->window)
		ra->next_off = off + len;
	if (ra->window) {
		from = ra->next_off > ra->ra_end ? ra->next_off : ra->ra_end;
		to = ra->next_off + ra->window < obj->size ? ra->next_off + ra->window : obj->size;
		if (to > from)
			ra->ra_end = (to + bs - 1) / bs * bs;
	}
	pthread_mutex_unlock(&ra->lock);
	if (to > from)
		fx_reader_prefetch(r, obj, from / bs, (to - 1) / bs - from / bs + 1, FX_FETCH_READAHEAD);
}

void fx_reader_stats(struct fx_reader *r, struct fx_reader_stats *out)
{
	pthread_mutex_lock(&r->lock);
	*out = r->st;
	out->memory_used = r->memory_used;
	pthread_mutex_unlock(&r->lock);
}
