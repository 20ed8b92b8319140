/*
 * sim.h - the cache simulator: replays a trace through the store's eviction
 * policies, without FUSE, a backend or a disk.
 *
 * Owns: the trace held in memory with its block dictionary (the footprint
 * pre-pass), one simulated cache per run (blocks, byte count, the store's
 * "evict until the block fits" loop around the same fx_policy vtables),
 * sequential and learned (fx_predict) prefetch, the offline-optimal policy
 * "belady" (it needs the future, so it lives here and is not registered),
 * and the counters of a run.
 * Does not own: the policies (cache/policy*.c), trace formats
 * (cache/trace.c), the predictor (neural/predict.c), printing (tools/sim.c).
 *
 * Model, per request of the trace:
 *  - A read or write of [off, off + len) touches the blocks it overlaps.
 *    Each block is looked up: a hit is counted and told to the policy; a
 *    miss is counted, and the block inserted after evicting until it fits
 *    (a block larger than the cache is not inserted). A request misses if
 *    any of its blocks missed; a byte misses if its block missed.
 *  - Writes are accesses like reads (a write miss counts, and inserts the
 *    block: the data is cached as written). They do not drive prefetch, and
 *    a write to a prefetched block makes that prefetch wasted.
 *  - Opens are not requests; they reset the object's sequential detector
 *    (the mount's detector is per open file).
 *  - Prefetch runs after the request's own blocks: "seq" is the mount's
 *    readahead detector (cache/reader.c fx_readahead_note) kept per object,
 *    "snn" is that detector too (as prefetch=snn in a mount) plus
 *    fx_predict_access on every block read, inserting up to prefetch_max
 *    predicted blocks a request. Prefetched blocks are inserted
 *    at once (no latency) with FX_CB_PREFETCHED; blocks already cached are
 *    not prefetched again.
 *  - Time: the trace's, from its first request; a trace whose times are all
 *    equal (or that has none) advances 1 ms per request. The policy's tick
 *    runs every simulated second and at least every 256 requests.
 *
 * Not thread-safe: one run at a time per struct fx_sim.
 */
#ifndef FX_CACHE_SIM_H
#define FX_CACHE_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "cache/trace.h"
#include "core/error.h"

#define FX_SIM_BLOCK_DEFAULT	    (4u * 1024)	   /* block traces */
#define FX_SIM_BLOCK_RUSTFX	    (1024u * 1024) /* rustfx traces: the mount's default */
#define FX_SIM_BLOCK_MAX	    (1024u * 1024 * 1024)
#define FX_SIM_READAHEAD_DEFAULT    (64ull << 20) /* the mount's readahead_max */
#define FX_SIM_PREFETCH_MAX_DEFAULT 8u		  /* snn: blocks a request at most */
#define FX_SIM_TICK_MS		    1000u
#define FX_SIM_TICK_REQUESTS	    256u
#define FX_SIM_BELADY		    "belady"

enum fx_sim_prefetch {
	FX_SIM_PREFETCH_OFF,
	FX_SIM_PREFETCH_SEQ,
	FX_SIM_PREFETCH_SNN,
};

/** "off", "seq", "snn" to @out. @return 0 or -EINVAL. */
int fx_sim_prefetch_parse(const char *name, enum fx_sim_prefetch *out);

struct fx_sim_opts {
	uint64_t capacity;  /* bytes */
	const char *policy; /* a registered policy's name, or "belady" */
	enum fx_sim_prefetch prefetch;
	/* seq: largest window in bytes; 0: the mount's rule, min(64 MiB, capacity / 4) */
	uint64_t readahead_max;
	unsigned prefetch_max; /* snn: blocks a request; 0: FX_SIM_PREFETCH_MAX_DEFAULT */
	uint64_t seed;	       /* snn: the predictor's hash seed */
};

struct fx_sim_result {
	uint64_t capacity, footprint;
	uint64_t requests, request_misses, write_requests;
	uint64_t blocks, block_misses; /* block accesses */
	uint64_t bytes, byte_misses;
	uint64_t prefetch_issued; /* blocks inserted by prefetch */
	uint64_t prefetch_used;	  /* ... later read while still cached */
	uint64_t prefetch_wasted; /* ... evicted unread, or overwritten */
	uint64_t prefetch_unused; /* ... still cached and unread at the end */
	uint64_t prefetch_hits;	  /* block reads served by a prefetched block (= used) */
	uint64_t evictions;
	double seconds; /* wall time of the run */
};

struct fx_sim;

/**
 * A simulator for blocks of @block_size bytes (512 .. FX_SIM_BLOCK_MAX).
 * @return 0 and *@out, -EINVAL, -ENOMEM.
 */
int fx_sim_new(uint32_t block_size, struct fx_sim **out);
void fx_sim_free(struct fx_sim *s);

/**
 * Append one request (read, write or open) to the trace; reads and writes
 * of 0 bytes are dropped. Not after the first run.
 * @return 0, -EBUSY (a run happened), -EFBIG (over 2^32 distinct blocks),
 * -ENOMEM.
 */
int fx_sim_add(struct fx_sim *s, const struct fx_trace_req *req);

/**
 * Append every request of @r. @return 0, or the reader's error
 * (fx_trace_reader_diag says where) or fx_sim_add's.
 */
int fx_sim_load(struct fx_sim *s, struct fx_trace_reader *r);

/** Requests held (reads and writes; opens not counted). */
uint64_t fx_sim_requests(const struct fx_sim *s);
/** Distinct blocks of the trace. */
uint64_t fx_sim_unique_blocks(const struct fx_sim *s);
/** Bytes of the distinct blocks (a block of an object of known size ends with it). */
uint64_t fx_sim_footprint(const struct fx_sim *s);
uint32_t fx_sim_block_size(const struct fx_sim *s);

/**
 * Parse a cache size: bytes with an optional K/M/G/T suffix (powers of
 * 1024; "512M", "10G"), or a percentage of @footprint ("5%", "0.5%").
 * @return 0 and *@out (at least 1), or -EINVAL / -ERANGE.
 */
int fx_sim_parse_size(const char *text, uint64_t footprint, uint64_t *out);

/**
 * Replay the trace through a cache of @o. Runs may repeat with other
 * options. @return 0 and *@out, or -FX_EUSAGE (unknown policy, capacity 0)
 * or -ENOMEM; @d (may be NULL) says which.
 */
int fx_sim_run(struct fx_sim *s, const struct fx_sim_opts *o, struct fx_sim_result *out,
	       struct fx_diag *d);

/** Whether @policy names something fx_sim_run accepts. */
bool fx_sim_policy_known(const char *policy);

/** @a / @b, or 0 when @b is 0. */
static inline double fx_sim_ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

/** Prefetch accuracy: used / issued. */
static inline double fx_sim_accuracy(const struct fx_sim_result *r)
{
	return fx_sim_ratio(r->prefetch_used, r->prefetch_issued);
}

/** Prefetch coverage: prefetch hits / (prefetch hits + demand block misses). */
static inline double fx_sim_coverage(const struct fx_sim_result *r)
{
	return fx_sim_ratio(r->prefetch_hits, r->prefetch_hits + r->block_misses);
}

#endif
