/*
 * policy.h - eviction policies for the block cache, behind a small vtable.
 *
 * Owns: the policy interface (insert, hit, remove, evict, periodic tick), the
 * registry by name ("lru", "s3fifo"; [F4] adds "snn") and the built-in
 * policies' bookkeeping.
 * Does not own: blocks, files, the index or the size cap. The store
 * (cache/store.c) decides *when* to evict and how much; a policy only says
 * *which* block goes next. The store serialises every call under its own
 * lock, so policies need no locking of their own.
 */
#ifndef FX_CACHE_POLICY_H
#define FX_CACHE_POLICY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FX_BLOCK_ID_LEN 16 /* XXH3-128 of (backend, key, version, block index) */

/* struct fx_cblock flags */
#define FX_CB_PREFETCHED 0x1u /* inserted by readahead/prefetch, not yet read by anyone */
#define FX_CB_PREDICTED 0x2u  /* with FX_CB_PREFETCHED: the learned predictor asked for it */

/**
 * One cached block as the store and its policy see it. The store owns the
 * memory and the fields above "policy-private"; the policy owns the rest.
 */
struct fx_cblock {
	uint8_t id[FX_BLOCK_ID_LEN];
	uint32_t size;      /* bytes of block data (the last block may be short) */
	uint32_t flags;     /* FX_CB_* */
	uint64_t checksum;  /* XXH3-64 of the plain block data */
	uint64_t atime_ms;  /* wall-clock ms of the last read or insert */
	uint64_t ctime_ms;  /* wall-clock ms of the insert */
	uint32_t count;     /* reads since insert */
	bool dirty;         /* atime/count changed since written to the index */
	/* Where the block came from, when the inserter said (fx_store_insert_from):
	 * the object id (hash of its key; 0 = unknown) and block index. Not
	 * persisted: blocks reloaded at mount have obj 0. */
	uint64_t obj, index;
	struct fx_cblock *hnext; /* store's hash chain */

	/* policy-private */
	struct fx_cblock *prev, *next;
	uint8_t queue;
	uint8_t freq;
	float score;
	void *priv; /* per-block state of policies that keep more than the above */
};

struct fx_policy;
struct fx_mlp;

/** What a policy may use besides its blocks. Everything but capacity is optional. */
struct fx_policy_env {
	uint64_t capacity; /* bytes the store holds at most */
	/** Predicted activity of @b in [0, 1] (the spiking network's), or NULL. */
	float (*activity)(void *arg, const struct fx_cblock *b);
	void *arg;
	/* A reuse scorer shared with whoever persists it, and the lock that
	 * guards it (taken after the store's lock); NULL: the policy makes its own. */
	struct fx_mlp *mlp;
	pthread_mutex_t *mlp_lock;
};

struct fx_policy_ops {
	const char *name;
	/** Private state for a cache of @env->capacity bytes (@env is copied if kept); NULL on ENOMEM. */
	void *(*new)(const struct fx_policy_env *env);
	void (*free)(void *state);
	/** @b was just inserted (its fields above are set). */
	void (*insert)(void *state, struct fx_cblock *b);
	/** @b was read (count/atime already updated by the store). */
	void (*hit)(void *state, struct fx_cblock *b);
	/** @b leaves the cache for another reason (stale, corrupt, cleared). */
	void (*remove)(void *state, struct fx_cblock *b);
	/**
	 * Choose the next block to evict, forget it, and return it (the store
	 * then deletes it). NULL only when the policy holds no block.
	 */
	struct fx_cblock *(*evict)(void *state);
	/** Periodic housekeeping (~1/s); may be NULL. */
	void (*tick)(void *state, uint64_t now_ms);
};

/** The policy registered as @name, or NULL. */
const struct fx_policy_ops *fx_policy_find(const char *name);
/**
 * Register @ops under ops->name (a later policy such as [F4]'s "snn").
 * @return 0, -EEXIST if the name is taken, -ENOSPC if the registry is full.
 */
int fx_policy_register(const struct fx_policy_ops *ops);
/** Names of registered policies, comma-separated, for error hints. */
const char *fx_policy_names(void);

/** Open an instance of @ops for @env (see struct fx_policy_env). NULL on ENOMEM. */
struct fx_policy *fx_policy_new(const struct fx_policy_ops *ops, const struct fx_policy_env *env);
void fx_policy_free(struct fx_policy *p);
void fx_policy_insert(struct fx_policy *p, struct fx_cblock *b);
void fx_policy_hit(struct fx_policy *p, struct fx_cblock *b);
void fx_policy_remove(struct fx_policy *p, struct fx_cblock *b);
struct fx_cblock *fx_policy_evict(struct fx_policy *p);
void fx_policy_tick(struct fx_policy *p, uint64_t now_ms);
const char *fx_policy_name(const struct fx_policy *p);

#endif
