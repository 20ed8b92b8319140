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
#include <sys/mman.h>
#include <time.h>
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
/* A handle whose seeks reached 1/FX_DENSE_SHARE of its object's blocks gets
 * the aligned FX_DENSE_GROUP bytes (a block at least) around each seek
 * prefetched. Measured on s3rver with 1 MiB blocks, cold, 1 GiB object:
 * 4,096 random 4 KiB reads ran at 740 reads/s without, 921-973 with this
 * (1,284-1,428 at a share of 1/8, which however made 256 random 256 KiB
 * reads fetch 923 MiB instead of 228 and run at half the rate); the same
 * bytes fetched for the 4 KiB reads either way (the whole object). */
#define FX_DENSE_SHARE 2
#define FX_DENSE_GROUP (16u << 20)
#define FX_IDLE_MS 1000 /* idle this long, the workers give the heap back */

enum fx_job_state { FX_JOB_QUEUED, FX_JOB_RUNNING, FX_JOB_DONE };

/*
 * Every fetched block has a buffer of its own, block_size bytes, mmap'd
 * (page-aligned, as the store's O_DIRECT writes want); a GET of a run of
 * blocks scatters its body across theirs. A released buffer waits in
 * r->pool for the next block: its pages are already the process's, where a
 * new buffer faults each in afresh, which costs more than the copy into it.
 * All are one size, so any released buffer serves any block. Up to
 * pool_max of them (a quarter of the budget) wait; all go after an idle
 * second.
 */

/*
 * One block being fetched, then held: a fetched block stays in the
 * in-flight table, its bytes in memory, until every byte of it was read
 * once ("kept"; readers copy it from here instead of reading the block file
 * back), or its memory is wanted. Freed once out of the table and no reader
 * copies from it; its buffer stays charged to the budget until.
 */
struct fx_job {
	uint8_t id[FX_BLOCK_ID_LEN];
	char *key, *version;
	uint64_t off;
	uint32_t len;
	uint32_t unread; /* bytes no reader copied yet */
	enum fx_fetch_prio prio;
	enum fx_job_state state;
	ssize_t result; /* bytes fetched or -errno, once DONE */
	uint8_t *data;  /* its buffer, once fetched */
	unsigned waiters; /* readers copying from it, or waiting to */
	bool charged;
	bool listed;    /* in the in-flight table */
	bool inserting; /* done, its block being stored by the worker */
	bool kept;      /* done and stored, on r->kept */
	bool readahead; /* asked for by sequential readahead (even if a reader
			 * waits for it now) */
	struct fx_job *run_next;    /* the next block fetched by the same GET */
	struct fx_job *prev, *next; /* in the queue of its priority, or r->kept */
	struct fx_job *hnext;       /* in-flight table */
};

/* A list of jobs, first in first out, and the bytes they hold. */
struct fx_jobs {
	struct fx_job *head, *tail;
	uint64_t bytes;
};

struct fx_reader {
	struct fx_backend *backend;
	struct fx_store *store;
	const char *url;
	uint32_t block_size;
	uint64_t memory_limit, readahead_max;
	unsigned idle_ms;

	pthread_mutex_t lock;
	pthread_cond_t work; /* a job was queued, memory freed, or stopping */
	pthread_cond_t done; /* a job finished */
	struct fx_jobs queue[FX_FETCH_NPRIO];
	struct fx_job *inflight[FX_INFLIGHT_BUCKETS];
	struct fx_jobs kept; /* done and stored, oldest first */
	uint64_t kept_max;
	uint8_t **pool; /* released buffers, the last first */
	unsigned npool, pool_max;
	uint64_t memory_used;
	struct fx_reader_stats st;
	bool stopping;
	bool trim; /* buffers were freed since the heap was last given back */
	struct timespec busy; /* CLOCK_MONOTONIC when a fetch last started */
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
	j->listed = false;
}

static void fx_jobs_push(struct fx_jobs *l, struct fx_job *j)
{
	j->next = NULL;
	j->prev = l->tail;
	if (j->prev)
		j->prev->next = j;
	else
		l->head = j;
	l->tail = j;
	l->bytes += j->len;
}

static void fx_jobs_unlink(struct fx_jobs *l, struct fx_job *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else
		l->head = j->next;
	if (j->next)
		j->next->prev = j->prev;
	else
		l->tail = j->prev;
	j->prev = j->next = NULL;
	l->bytes -= j->len;
}

/* A buffer for one block: a released one, or a new one. */
static uint8_t *fx_buf_get(struct fx_reader *r)
{
	uint8_t *b = NULL;
	void *p;

	pthread_mutex_lock(&r->lock);
	if (r->npool)
		b = r->pool[--r->npool];
	pthread_mutex_unlock(&r->lock);
	if (b)
		return b;
	p = mmap(NULL, r->block_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* Keep the released @b for a next block, or unmap it (r->lock held). */
static void fx_buf_put(struct fx_reader *r, uint8_t *b)
{
	if (r->stopping || r->npool == r->pool_max)
		munmap(b, r->block_size);
	else
		r->pool[r->npool++] = b;
}

/* Unmap every released buffer (r->lock held). */
static void fx_pool_drain(struct fx_reader *r)
{
	while (r->npool)
		munmap(r->pool[--r->npool], r->block_size);
}

static void fx_job_free(struct fx_reader *r, struct fx_job *j)
{
	if (j->charged) {
		r->memory_used -= j->len;
		r->trim = true;
		pthread_cond_broadcast(&r->work);
	}
	if (j->data)
		fx_buf_put(r, j->data);
	free(j->key);
	free(j->version);
	free(j);
}

/* The done @j leaves the in-flight table (and the kept list); freed unless
 * a reader still copies from it (r->lock held). */
static void fx_job_unlist(struct fx_reader *r, struct fx_job *j)
{
	fx_inflight_del(r, j);
	if (j->kept)
		fx_jobs_unlink(&r->kept, j);
	j->kept = false;
	if (!j->waiters)
		fx_job_free(r, j);
}

/* The done and stored @j: kept for the readers of its bytes not read yet,
 * the oldest kept ones let go past kept_max; or let go (r->lock held). */
static void fx_job_keep(struct fx_reader *r, struct fx_job *j)
{
	if (!j->unread || j->len > r->kept_max) {
		fx_job_unlist(r, j);
		return;
	}
	while (r->kept.bytes + j->len > r->kept_max)
		fx_job_unlist(r, r->kept.head);
	j->kept = true;
	fx_jobs_push(&r->kept, j);
}

/* A reader is done with the done @j, having copied @n bytes of it (r->lock
 * held). Read whole, a kept block goes: the block file has it. */
static void fx_job_put(struct fx_reader *r, struct fx_job *j, size_t n)
{
	j->unread -= n < j->unread ? (uint32_t)n : j->unread;
	j->waiters--;
	if (j->kept && !j->unread)
		fx_job_unlist(r, j);
	else if (!j->waiters && !j->listed)
		fx_job_free(r, j);
}

/* Whether @len more bytes of buffers fit under @limit (r->lock held). For
 * a demand read (@evict), kept blocks go, oldest first, to make room. Not
 * for a prefetch: they are what readers want next, and are read from
 * memory sooner than a block further ahead. */
static bool fx_room(struct fx_reader *r, uint64_t len, uint64_t limit, bool evict)
{
	if (!evict || r->memory_used - r->kept.bytes + len > limit)
		return r->memory_used + len <= limit;
	while (r->memory_used + len > limit && r->kept.head)
		fx_job_unlist(r, r->kept.head);
	return r->memory_used + len <= limit;
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
			fx_jobs_unlink(&r->queue[j->prio], j);
			j->prio = prio;
			fx_jobs_push(&r->queue[j->prio], j);
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
	j->len = j->unread = fx_block_len(r, obj, index);
	j->prio = prio;
	j->readahead = prio == FX_FETCH_READAHEAD;
	j->hnext = r->inflight[fx_slot(id)];
	r->inflight[fx_slot(id)] = j;
	j->listed = true;
	fx_jobs_push(&r->queue[j->prio], j);
	pthread_cond_signal(&r->work);
	return j;
}

/* ------------------------------------------------------------ workers */

/* Mark the unlinked @j running and charge it to the budget (r->lock held). */
static void fx_job_take(struct fx_reader *r, struct fx_job *j)
{
	j->state = FX_JOB_RUNNING;
	j->charged = true;
	clock_gettime(CLOCK_MONOTONIC, &r->busy);
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
		struct fx_job *j = r->queue[p].head;
		uint64_t limit = p == FX_FETCH_DEMAND ? r->memory_limit : r->memory_limit / 4 * 3;
		unsigned n = 1;

		if (!j)
			continue;
		if (!fx_room(r, j->len, limit, p == FX_FETCH_DEMAND) &&
		    !(p == FX_FETCH_DEMAND && r->memory_used == 0))
			return NULL; /* higher priorities first, even when waiting */
		fx_jobs_unlink(&r->queue[j->prio], j);
		fx_job_take(r, j);
		for (struct fx_job *last = j, *k; p != FX_FETCH_DEMAND && (k = r->queue[p].head); last = k) {
			uint64_t run = k->off + k->len - j->off;

			if (n++ == FX_RUN_MAX || k->off != last->off + last->len || strcmp(k->key, j->key) ||
			    strcmp(k->version, j->version) || run > FX_COALESCE_BYTES ||
			    !fx_room(r, k->len, limit, false))
				break;
			fx_jobs_unlink(&r->queue[k->prio], k);
			fx_job_take(r, k);
			last->run_next = k;
		}
		return j;
	}
	return NULL;
}

/* Fetch the run of blocks starting at @j with one GET across their buffers
 * (r->lock not held; the run is only this worker's). */
static void fx_fetch(struct fx_reader *r, struct fx_job *j)
{
	struct iovec iov[FX_RUN_MAX];
	size_t total = 0;
	int nblocks = 0;
	ssize_t n = 0;

	for (struct fx_job *k = j; k; k = k->run_next) {
		if (!(k->data = fx_buf_get(r)))
			n = -ENOMEM;
		iov[nblocks++] = (struct iovec){.iov_base = k->data, .iov_len = k->len};
		total += k->len;
	}
	if (n == 0)
		n = fx_backend_getv_version(r->backend, j->key, j->version, j->off, iov, nblocks);
	if (n >= 0 && (size_t)n < total)
		n = -ESTALE; /* shorter than the version we were told of: it changed */
	if (n < 0 && n != -ESTALE && j->prio == FX_FETCH_DEMAND)
		fx_debug("fetching %s at %llu failed: %s", j->key, (unsigned long long)j->off,
			 fx_strerror((int)n));
	if (n < 0) {
		pthread_mutex_lock(&r->lock);
		for (struct fx_job *k = j; k; k = k->run_next) {
			if (k->data)
				fx_buf_put(r, k->data);
			k->data = NULL;
		}
		pthread_mutex_unlock(&r->lock);
	}
	for (struct fx_job *k = j; k; k = k->run_next)
		k->result = n < 0 ? n : (ssize_t)k->len;
}

uint64_t fx_object_id(const char *key)
{
	uint64_t id = XXH3_64bits(key, strlen(key));

	return id ? id : 1; /* 0 means "unknown" everywhere */
}

static void fx_insert(struct fx_reader *r, struct fx_job *j)
{
	/* A sequential reader's blocks are in the kernel's page cache as part
	 * of the file: their files are written around it. A random reader's
	 * are read again from their files when the kernel drops its pages:
	 * through it. */
	uint32_t flags = (j->prio == FX_FETCH_DEMAND	   ? 0
			  : j->prio == FX_FETCH_PREDICTED ? FX_CB_PREFETCHED | FX_CB_PREDICTED
							  : FX_CB_PREFETCHED) |
			 (j->readahead ? FX_STORE_DIRECT : 0);
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
		if (k->inserting)
			store[n++] = k;
		else
			fx_job_unlist(r, k);
	}
	for (unsigned i = 0; i < n; i++) {
		pthread_mutex_unlock(&r->lock);
		fx_insert(r, store[i]);
		pthread_mutex_lock(&r->lock);
		store[i]->inserting = false;
		fx_job_keep(r, store[i]);
	}
}

/* A reader runs its own queued @j (r->lock held): no worker is started. */
static void fx_run_inline(struct fx_reader *r, struct fx_job *j)
{
	fx_jobs_unlink(&r->queue[j->prio], j);
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
			/* Idle a while (no fetch started, no kept block read):
			 * let the kept blocks go (the store has them), and with
			 * no buffer in use give the fetch buffers and the heap
			 * back to the system. Not at once: a reader that paused
			 * between two reads would fault the pages in again (the
			 * daemon keeps them while busy, see fx_fs_run). */
			if (r->kept.head || (r->trim && r->memory_used == 0)) {
				struct timespec due = r->busy, now;

				due.tv_sec += r->idle_ms / 1000;
				due.tv_nsec += (long)(r->idle_ms % 1000) * 1000000;
				if (due.tv_nsec >= 1000000000) {
					due.tv_sec++;
					due.tv_nsec -= 1000000000;
				}
				clock_gettime(CLOCK_MONOTONIC, &now);
				if (now.tv_sec < due.tv_sec ||
				    (now.tv_sec == due.tv_sec && now.tv_nsec < due.tv_nsec)) {
					pthread_cond_timedwait(&r->work, &r->lock, &due);
					continue;
				}
				while (r->kept.head)
					fx_job_unlist(r, r->kept.head);
				if (r->trim && r->memory_used == 0) {
					r->trim = false;
					fx_pool_drain(r);
					pthread_mutex_unlock(&r->lock);
					malloc_trim(0);
					pthread_mutex_lock(&r->lock);
				}
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
	pthread_condattr_t ca;

	if (!r)
		return -ENOMEM;
	r->backend = o->backend;
	r->store = o->store;
	r->url = fx_backend_url(o->backend);
	r->block_size = fx_store_block_size(o->store);
	r->memory_limit = o->memory_limit < r->block_size ? r->block_size : o->memory_limit;
	r->kept_max = r->memory_limit / 2;
	r->pool_max = (unsigned)(r->memory_limit / 4 / r->block_size);
	r->readahead_max = o->readahead_max;
	r->idle_ms = o->idle_ms ? o->idle_ms : FX_IDLE_MS;
	r->st.memory_limit = r->memory_limit;
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->work, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&r->done, NULL);
	r->want_workers = o->workers ? o->workers : 1;
	r->workers = calloc(r->want_workers, sizeof(*r->workers));
	r->pool = calloc(r->pool_max ? r->pool_max : 1, sizeof(*r->pool));
	if (!r->workers || !r->pool) {
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
	/* Only kept blocks and queued prefetches are left: readers are gone. */
	while (r->kept.head)
		fx_job_unlist(r, r->kept.head);
	for (int p = 0; p < FX_FETCH_NPRIO; p++) {
		while (r->queue[p].head) {
			struct fx_job *j = r->queue[p].head;

			fx_jobs_unlink(&r->queue[j->prio], j);
			fx_job_free(r, j);
		}
	}
	fx_pool_drain(r);
	free(r->pool);
	free(r->workers);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->work);
	pthread_cond_destroy(&r->done);
	free(r);
}

/* -------------------------------------------------------------- reading */

/* The fetch of block @id if it holds the @len bytes at @from, held (its
 * bytes stay) until fx_fetched_done; else NULL. */
static struct fx_job *fx_fetched_hold(struct fx_reader *r, const uint8_t *id, uint64_t from,
				      size_t len)
{
	struct fx_job *j;

	pthread_mutex_lock(&r->lock);
	j = fx_inflight_find(r, id);
	if (j && j->state == FX_JOB_DONE && j->result == (ssize_t)j->len && from + len <= j->len) {
		j->waiters++;
		clock_gettime(CLOCK_MONOTONIC, &r->busy);
	} else {
		j = NULL;
	}
	pthread_mutex_unlock(&r->lock);
	return j;
}

/* Let go of the held @j, whose @len bytes were read from the cache (@use)
 * or into the page cache. */
static void fx_fetched_done(struct fx_reader *r, struct fx_job *j, size_t len, bool use)
{
	fx_store_note_read(r->store, j->id, len, use);
	pthread_mutex_lock(&r->lock);
	fx_job_put(r, j, len);
	pthread_mutex_unlock(&r->lock);
}

/* Copy @len bytes at @from of block @id into @buf if a fetch of it holds
 * them. @return whether it did. */
static bool fx_copy_fetched(struct fx_reader *r, const uint8_t *id, void *buf, uint64_t from,
			    size_t len, bool use)
{
	struct fx_job *j = fx_fetched_hold(r, id, from, len);

	if (!j)
		return false;
	memcpy(buf, j->data + from, len);
	fx_fetched_done(r, j, len, use);
	return true;
}

bool fx_reader_peek(struct fx_reader *r, const uint8_t id[FX_BLOCK_ID_LEN], void *buf, size_t len)
{
	return fx_copy_fetched(r, id, buf, 0, len, false);
}

size_t fx_reader_lend(struct fx_reader *r, const struct fx_object_ref *obj, uint64_t off, size_t len,
		      fx_lend_fn fn, void *arg)
{
	uint8_t id[FX_BLOCK_ID_LEN];
	uint64_t index, from;
	struct fx_job *j;

	if (off >= obj->size || !len)
		return 0;
	if (len > obj->size - off)
		len = obj->size - off;
	index = off / r->block_size;
	from = off % r->block_size;
	if (from + len > r->block_size)
		return 0; /* across blocks */
	fx_store_block_id(r->store, r->url, obj->key, obj->version, index, id);
	if (!(j = fx_fetched_hold(r, id, from, len)))
		return 0;
	fn(arg, j->data + from, len);
	fx_fetched_done(r, j, len, true);
	return len;
}

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

	/* Fetched and cached blocks are copied now; fetches start for the others. */
	for (uint64_t i = first; i <= last; i++) {
		uint64_t bstart = i * r->block_size;
		uint64_t from = off > bstart ? off - bstart : 0;
		uint64_t to = off + len - bstart < r->block_size ? off + len - bstart : r->block_size;
		ssize_t n;

		jobs[i - first] = NULL;
		fx_store_block_id(r->store, r->url, obj->key, obj->version, i, id);
		if (fx_copy_fetched(r, id, (char *)buf + (bstart + from - off), from, to - from, true))
			continue;
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
			size_t copied = 0;

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
			if (j->result < 0 && ret == 0) {
				ret = j->result;
			} else if (j->result >= 0 && ret == 0) {
				memcpy((char *)buf + (bstart + from - off), j->data + from, to - from);
				copied = to - from;
			}
			fx_job_put(r, j, copied);
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
		if (r->queue[prio].bytes + r->block_size > r->memory_limit / 4 * 3) {
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
		/* A reader that jumps about but has touched a large share of
		 * the object will likely read the rest: fetch the group of
		 * blocks around this read, one GET in the background. */
		if (++ra->seeks * FX_DENSE_SHARE >= (obj->size + bs - 1) / bs) {
			uint64_t group = FX_DENSE_GROUP > bs ? FX_DENSE_GROUP / bs * bs : bs;

			from = off / group * group;
			to = obj->size - from > group ? from + group : obj->size;
		}
	}
	if (off + len > ra->next_off || !ra->window)
		ra->next_off = off + len;
	/* Topped up once half the window ahead was read, not at every read:
	 * the blocks come in runs, fetched by fewer and longer GETs. */
	if (ra->window && (ra->ra_end <= ra->next_off || ra->ra_end - ra->next_off <= ra->window / 2)) {
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
