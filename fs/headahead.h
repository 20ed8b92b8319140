/*
 * headahead.h - predicted lookups: HEADs of objects the learning cache
 * expects to be read soon, done in the background so that the lookup of
 * such a file finds its attributes waiting instead of waiting a round trip.
 *
 * Owns: a small table of keys wanted or fetched (at most FX_HEADAHEAD_MAX),
 * the threads that HEAD them, and handing a result to the lookup that
 * asks for it once (then it is gone: the inode holds the attributes).
 * Does not own: deciding what is predicted (cache/learn.c calls
 * fx_headahead_want through a hook), inodes, or the meaning of the results
 * (fs/ops.c's fx_probe uses them as it would its own HEAD).
 *
 * A result is used only while younger than the mount's stat_ttl and only if
 * no change was made through the mount since its HEAD was sent: the
 * caller's mutation generation is recorded with each request.
 */
#ifndef FX_FS_HEADAHEAD_H
#define FX_FS_HEADAHEAD_H

#include <stdint.h>

#include "backends/backend.h"

#define FX_HEADAHEAD_MAX 512u    /* keys wanted or held at once */
#define FX_HEADAHEAD_THREADS 4u

struct fx_headahead;

/**
 * @param ttl_s  seconds a result stays usable (stat_ttl).
 * @return 0 and *@out, or -ENOMEM.
 */
int fx_headahead_new(struct fx_backend *b, double ttl_s, struct fx_headahead **out);
/** Start the threads (after fork). @return 0 or -errno. */
int fx_headahead_start(struct fx_headahead *h);
/** Stop the threads, drop every result. NULL is a no-op. */
void fx_headahead_free(struct fx_headahead *h);

/**
 * Queue a HEAD of @key (copied) unless it is queued, running or held, or
 * the table is full of those. @gen: the caller's mutation generation now.
 * Cheap; never blocks on I/O.
 */
void fx_headahead_want(struct fx_headahead *h, const char *key, uint64_t gen);

/**
 * The result for @key if one arrived, is younger than the ttl and was
 * requested at generation @gen: @return 0 and *@info (its metadata now
 * owned by the caller), else -ENOENT (also while the HEAD is still
 * running: the caller does its own).
 */
int fx_headahead_take(struct fx_headahead *h, const char *key, uint64_t gen,
		      struct fx_object_info *info);

struct fx_headahead_stats {
	uint64_t wanted, sent, used, expired;
};
void fx_headahead_stats(struct fx_headahead *h, struct fx_headahead_stats *out);

#endif
