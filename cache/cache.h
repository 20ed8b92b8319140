/*
 * cache.h - the block cache as the filesystem sees it: its settings and one
 * handle on the store and the reader below it.
 *
 * Owns: the [cache] settings beyond dir and size (block size, free-space
 * floor, policy, encryption key file, prefetch mode, readahead and memory
 * limits), reading and checking the key file, and opening the store and the
 * reader for one backend in its cache directory.
 * Does not own: the block store (store.c), fetching (reader.c), eviction
 * order (policy.c).
 */
#ifndef FX_CACHE_CACHE_H
#define FX_CACHE_CACHE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "backends/backend.h"
#include "cache/policy.h"
#include "cache/learn.h"
#include "cache/reader.h"
#include "cache/store.h"
#include "core/config.h"

extern const struct fx_conf_key fx_cache_conf_keys[];

enum fx_prefetch_mode { FX_PREFETCH_OFF, FX_PREFETCH_SEQ, FX_PREFETCH_SNN };

/** Resolved [cache] and [io] settings the cache runs with. */
struct fx_cache_opts {
	uint64_t size, min_free, memory_limit, readahead_max;
	uint32_t block_size;
	const struct fx_policy_ops *policy;
	enum fx_prefetch_mode prefetch;
	char key_file[PATH_MAX]; /* "" when blocks are not sealed */
	char trace[PATH_MAX];    /* absolute; "" when not recording */
	uint32_t snn_neurons, snn_window_ms;
	unsigned workers;        /* [io] concurrency */
};

/**
 * Resolve the settings from @cfg (whose schema includes fx_core_conf_keys
 * and fx_cache_conf_keys). @return 0 or -FX_EBADOPT with @d naming the
 * setting and the accepted values.
 */
int fx_cache_opts_resolve(const struct fx_config *cfg, struct fx_cache_opts *out, struct fx_diag *d);

struct fx_cache {
	struct fx_store *store;
	struct fx_reader *reader;
	struct fx_learn *learn; /* NULL unless learning or tracing */
	struct fx_cache_opts opt;
};

/**
 * Open the cache of backend @b in @dir (its own cache directory). A key
 * file that is missing, not 32 bytes, or readable by group or others is
 * refused. @return 0 and *@out, or -errno / -FX_EBADOPT with @d filled.
 */
int fx_cache_open(struct fx_backend *b, const char *dir, const struct fx_cache_opts *o,
		  struct fx_cache **out, struct fx_diag *d);
/** Start the cache's threads; after daemonizing. @return 0 or -errno. */
int fx_cache_start(struct fx_cache *c);
/** Stop fetching, commit the index, close. NULL is a no-op. */
void fx_cache_close(struct fx_cache *c);

#endif
