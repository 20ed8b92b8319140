/*
 * reader.h - the read path below the filesystem: cached blocks, coalesced
 * fetches on a bounded pool, readahead, one memory budget.
 *
 * Owns: turning a read of (object version, offset, length) into block reads
 * from the store and ranged GETs for the blocks it lacks; one fetch per
 * block however many readers wait for it; a worker pool of [io] concurrency
 * threads taking demand reads before readahead before learned prefetch; the
 * global memory_limit that every fetch buffer is charged to (prefetch only
 * takes what leaves room for demand reads, and is skipped, not queued, when
 * there is none); the per-handle sequential readahead detector.
 * Does not own: the block files and eviction (cache/store.c) or staged
 * writes (fs/ reads those itself).
 *
 * A fetched block is checked against the object's version (ETag) by the
 * backend (If-Match), so bytes of two versions never mix: a reader of a
 * version that changed in the bucket gets -ESTALE.
 */
#ifndef FX_CACHE_READER_H
#define FX_CACHE_READER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backends/backend.h"
#include "cache/store.h"

/** Priorities, highest first. */
enum fx_fetch_prio {
	FX_FETCH_DEMAND,    /* a reader waits for it */
	FX_FETCH_READAHEAD, /* sequential readahead */
	FX_FETCH_PREDICTED, /* learned prefetch ([F4]) */
	FX_FETCH_NPRIO,
};

struct fx_reader_opts {
	struct fx_backend *backend; /* borrowed */
	struct fx_store *store;     /* borrowed */
	unsigned workers;           /* [io] concurrency */
	uint64_t memory_limit;      /* bytes of fetch buffers at most */
	uint64_t readahead_max;     /* bytes; 0 turns readahead off */
	/* Idle this long (no fetch started, no held block read), held blocks
	 * and spare buffers go; 0: one second. */
	unsigned idle_ms;
};

/** One version of one object, as a reader names it. Strings are borrowed. */
struct fx_object_ref {
	const char *key;
	const char *version; /* ETag; "" reads whatever is current (no cache) */
	uint64_t size;
};

/** Per-handle sequential detector; zero-initialise, then fx_readahead_init. */
struct fx_readahead {
	pthread_mutex_t lock;
	uint64_t next_off; /* end of the furthest read so far */
	uint64_t window;   /* bytes ahead to keep fetched; 0 after a seek */
	uint64_t ra_end;   /* readahead submitted up to here */
	uint64_t seeks;    /* reads that did not follow the one before */
};

struct fx_reader_stats {
	uint64_t fetches, fetched_bytes, coalesced, fetch_errors, stale;
	uint64_t readahead_blocks, predicted_blocks, prefetch_skipped;
	uint64_t memory_used, memory_peak, memory_limit;
};

struct fx_reader;

/** The id of object @key for the learning cache and traces: XXH3-64, unseeded; never 0. */
uint64_t fx_object_id(const char *key);

/** @return 0 and *@out, or -errno. */
int fx_reader_new(const struct fx_reader_opts *o, struct fx_reader **out);
/**
 * Start the worker threads (after fork(2): threads do not survive it).
 * Until then, readers fetch their blocks themselves, one at a time.
 * @return 0 or -errno.
 */
int fx_reader_start(struct fx_reader *r);
/** Waits for running fetches, drops queued prefetches. NULL is a no-op. */
void fx_reader_free(struct fx_reader *r);

/**
 * Read @len bytes at @off of @obj into @buf: from cached blocks, fetching
 * missing ones in parallel. @return bytes read (short only at the end of
 * the object), -ESTALE if the object changed, or -errno (-EIO once the
 * backend's retries are spent).
 */
ssize_t fx_reader_read(struct fx_reader *r, const struct fx_object_ref *obj, uint64_t off,
		       void *buf, size_t len);

/**
 * Fetch blocks [@first, @first + @n) of @obj into the cache in the
 * background at @prio, skipping cached and in-flight ones and any the
 * memory budget has no room for. @return blocks queued.
 */
unsigned fx_reader_prefetch(struct fx_reader *r, const struct fx_object_ref *obj, uint64_t first,
			    uint64_t n, enum fx_fetch_prio prio);

typedef void (*fx_lend_fn)(void *arg, const void *bytes, size_t len);

/**
 * If one block that a fetch still holds in memory has all the @len bytes at
 * @off of @obj (cut at its end), pass them to @fn without a copy (valid
 * during the call) and count them as fx_reader_read would. @return the
 * bytes passed, or 0: read them with fx_reader_read.
 */
size_t fx_reader_lend(struct fx_reader *r, const struct fx_object_ref *obj, uint64_t off, size_t len,
		      fx_lend_fn fn, void *arg);
/**
 * Copy all @len bytes of block @id into @buf if a fetch still holds them in
 * memory (fetched blocks are held until read; see reader.c), for filling
 * the kernel's page cache. @return whether it did; else read the store.
 */
bool fx_reader_peek(struct fx_reader *r, const uint8_t id[FX_BLOCK_ID_LEN], void *buf, size_t len);
void fx_readahead_init(struct fx_readahead *ra);
void fx_readahead_destroy(struct fx_readahead *ra);
/**
 * Tell the detector of a read of @len bytes at @off through a handle: on
 * sequential reads its window starts at two blocks and doubles up to
 * readahead_max, and the blocks ahead are prefetched; a seek resets it.
 * Once a handle's seeks number half the object's blocks, each further
 * seek prefetches the aligned 16 MiB around it: a random reader that dense
 * likely reads most of the object (s3fs loads a long range around every
 * cold read).
 */
void fx_readahead_note(struct fx_reader *r, struct fx_readahead *ra, const struct fx_object_ref *obj,
		       uint64_t off, size_t len);

void fx_reader_stats(struct fx_reader *r, struct fx_reader_stats *out);

#endif
