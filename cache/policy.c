/*
 * policy.c - eviction policy registry, instances, and the built-in "lru" and
 * "s3fifo" policies (see policy.h).
 *
 * Owns: the fixed registry of policy vtables, struct fx_policy, the checked
 * fx_policy_*() wrappers, and the built-in policies' queues and ghost set.
 * Does not own: blocks or their memory, the size cap or when to evict (the
 * store decides and serialises every call under its lock), nor policies that
 * register themselves ([F4]'s "snn" lives in neural/ and cache/).
 *
 * Policies link blocks through the policy-private fields of struct fx_cblock
 * and allocate only in new(), never per block. The registry is filled at
 * startup: fx_policy_register() is not thread-safe against itself or against
 * lookups.
 */
#include "cache/policy_i.h"
#include "core/hash.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FX_POLICY_MAX 16
#define FX_POLICY_NAMES_LEN (FX_POLICY_MAX * 34)

#define FX_LRU_NAME    "lru"
#define FX_S3FIFO_NAME "s3fifo"

struct fx_policy {
	const struct fx_policy_ops *ops;
	void *state;
};

void fx_cqueue_push_head(struct fx_cqueue *q, struct fx_cblock *b, uint8_t id)
{
	b->prev = NULL;
	b->next = q->head;
	if (q->head)
		q->head->prev = b;
	else
		q->tail = b;
	q->head = b;
	b->queue = id;
	q->blocks++;
	q->bytes += b->size;
}

void fx_cqueue_unlink(struct fx_cqueue *q, struct fx_cblock *b)
{
	assert(q->blocks > 0 && q->bytes >= b->size);
	if (b->prev)
		b->prev->next = b->next;
	else
		q->head = b->next;
	if (b->next)
		b->next->prev = b->prev;
	else
		q->tail = b->prev;
	b->prev = b->next = NULL;
	b->queue = FX_Q_NONE;
	q->blocks--;
	q->bytes -= b->size;
}

/* ------------------------------------------------------------------ lru */

struct fx_lru {
	struct fx_cqueue list;
};

static void *fx_lru_new(const struct fx_policy_env *env)
{
	(void)env;
	return calloc(1, sizeof(struct fx_lru));
}

static void fx_lru_free(void *state)
{
	free(state);
}

static void fx_lru_insert(void *state, struct fx_cblock *b)
{
	struct fx_lru *lru = state;

	fx_cqueue_push_head(&lru->list, b, FX_Q_LRU);
}

static void fx_lru_hit(void *state, struct fx_cblock *b)
{
	struct fx_lru *lru = state;

	if (b->queue != FX_Q_LRU || lru->list.head == b)
		return;
	fx_cqueue_unlink(&lru->list, b);
	fx_cqueue_push_head(&lru->list, b, FX_Q_LRU);
}

static void fx_lru_remove(void *state, struct fx_cblock *b)
{
	struct fx_lru *lru = state;

	if (b->queue == FX_Q_LRU)
		fx_cqueue_unlink(&lru->list, b);
}

static struct fx_cblock *fx_lru_evict(void *state)
{
	struct fx_lru *lru = state;
	struct fx_cblock *b = lru->list.tail;

	if (b)
		fx_cqueue_unlink(&lru->list, b);
	return b;
}

static const struct fx_policy_ops fx_lru_ops = {
	.name = FX_LRU_NAME,
	.new = fx_lru_new,
	.free = fx_lru_free,
	.insert = fx_lru_insert,
	.hit = fx_lru_hit,
	.remove = fx_lru_remove,
	.evict = fx_lru_evict,
	.tick = NULL,
};

/* --------------------------------------------------------------- s3fifo */

/*
 * S3-FIFO (Yang et al., "FIFO queues are all you need for cache eviction",
 * SOSP'23). New blocks enter a small FIFO S (~10% of the bytes); a block
 * read again while in S moves to the main FIFO M when it reaches S's tail,
 * the rest leave the cache and are remembered in a ghost set G. A block
 * inserted while G remembers it goes straight to M. M is a FIFO with lazy
 * promotion: a tail block that was read is reinserted at the head with its
 * counter decremented.
 *
 * Deviations, on purpose: a block moves from S to M after one read (freq > 0;
 * the paper's reference code makes the threshold a parameter) so that a block
 * read once more after its first fill is kept, which is the common pattern of
 * a file read twice; and G is bounded by both entries and bytes, see below.
 */
#define FX_S3FIFO_FREQ_MAX 3
#define FX_S3FIFO_SMALL_DIV 10 /* S's share is 1/10 of the bytes */
/*
 * G should hold about as many ids as M holds blocks. Blocks are variable in
 * size and unknown at new(), so G is bounded in bytes (the sizes of the ids
 * it remembers may add up to M's share) and, as a hard cap on memory, in
 * entries, sized for blocks of FX_S3FIFO_GHOST_BLOCK bytes.
 */
#define FX_S3FIFO_GHOST_BLOCK (256u * 1024)
#define FX_S3FIFO_GHOST_MIN 64u
#define FX_S3FIFO_GHOST_MAX (1u << 20)

/*
 * The ghost set: a ring of the last @cap remembered ids in eviction order
 * (each a 64-bit hash of the block id, with its size), and a linear-probing
 * table from hash to the sequence number of its newest ring record. A ring
 * record leaving the ring deletes its table entry only when it is still the
 * newest one, so re-remembering an id or forgetting it on a ghost hit needs
 * no search of the ring. The table never holds more entries than the ring
 * has records, and has at least twice as many slots, so probes end.
 */
struct fx_ghost_slot {
	uint64_t hash; /* 0: empty */
	uint64_t seq;
};

struct fx_ghost {
	uint64_t *ring_hash; /* [cap], record seq lives at seq % cap */
	uint32_t *ring_size; /* [cap] */
	uint64_t cap;
	uint64_t first, next; /* live records are seq in [first, next) */
	uint64_t bytes;       /* sum of ring_size of live records */
	uint64_t max_bytes;
	struct fx_ghost_slot *table; /* [mask + 1] */
	uint64_t mask;
};

struct fx_s3fifo {
	struct fx_cqueue small, main;
	uint64_t small_target; /* bytes S may hold before it gives up blocks */
	struct fx_ghost ghost;
};

/* The id is already an XXH3-128 digest; fold it and finalise so that
 * hand-made ids (tests, the simulator) spread over tables too. */
uint64_t fx_cblock_key(const struct fx_cblock *b)
{
	uint64_t lo, hi, h;

	memcpy(&lo, b->id, sizeof(lo));
	memcpy(&hi, b->id + sizeof(lo), sizeof(hi));
	h = fx_mix64(lo ^ (hi * 0x9e3779b97f4a7c15ull));
	return h ? h : 1;
}

static int fx_ghost_init(struct fx_ghost *g, uint64_t main_bytes)
{
	uint64_t cap = main_bytes / FX_S3FIFO_GHOST_BLOCK, slots = 1;

	if (cap < FX_S3FIFO_GHOST_MIN)
		cap = FX_S3FIFO_GHOST_MIN;
	if (cap > FX_S3FIFO_GHOST_MAX)
		cap = FX_S3FIFO_GHOST_MAX;
	while (slots < 2 * cap)
		slots <<= 1;
	g->cap = cap;
	g->max_bytes = main_bytes;
	g->mask = slots - 1;
	g->ring_hash = calloc(cap, sizeof(*g->ring_hash));
	g->ring_size = calloc(cap, sizeof(*g->ring_size));
	g->table = calloc(slots, sizeof(*g->table));
	if (!g->ring_hash || !g->ring_size || !g->table) {
		free(g->ring_hash);
		free(g->ring_size);
		free(g->table);
		return -ENOMEM;
	}
	return 0;
}

static void fx_ghost_destroy(struct fx_ghost *g)
{
	free(g->ring_hash);
	free(g->ring_size);
	free(g->table);
}

/* Slot index of @hash, or -1. */
static int64_t fx_ghost_find(const struct fx_ghost *g, uint64_t hash)
{
	uint64_t i;

	for (i = hash & g->mask; g->table[i].hash; i = (i + 1) & g->mask)
		if (g->table[i].hash == hash)
			return (int64_t)i;
	return -1;
}

/* Delete slot @i with backward shift, so no tombstones accumulate. */
static void fx_ghost_delete_slot(struct fx_ghost *g, uint64_t i)
{
	uint64_t j = i, home;

	for (;;) {
		j = (j + 1) & g->mask;
		if (!g->table[j].hash)
			break;
		home = g->table[j].hash & g->mask;
		/* Move j into the hole at i unless its home lies in (i, j]. */
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			g->table[i] = g->table[j];
			i = j;
		}
	}
	g->table[i].hash = 0;
	g->table[i].seq = 0;
}

/* Drop the oldest ring record, and its table entry if it is the newest. */
static void fx_ghost_pop_oldest(struct fx_ghost *g)
{
	uint64_t seq = g->first++, idx = seq % g->cap;
	int64_t slot = fx_ghost_find(g, g->ring_hash[idx]);

	if (slot >= 0 && g->table[slot].seq == seq)
		fx_ghost_delete_slot(g, (uint64_t)slot);
	g->bytes -= g->ring_size[idx];
}

static void fx_ghost_add(struct fx_ghost *g, uint64_t hash, uint32_t size)
{
	uint64_t seq, i;
	int64_t slot;

	while (g->next > g->first &&
	       (g->next - g->first >= g->cap || g->bytes + size > g->max_bytes))
		fx_ghost_pop_oldest(g);
	seq = g->next++;
	g->ring_hash[seq % g->cap] = hash;
	g->ring_size[seq % g->cap] = size;
	g->bytes += size;
	slot = fx_ghost_find(g, hash);
	if (slot >= 0) {
		g->table[slot].seq = seq;
		return;
	}
	for (i = hash & g->mask; g->table[i].hash; i = (i + 1) & g->mask)
		;
	g->table[i].hash = hash;
	g->table[i].seq = seq;
}

/* Whether G remembers @hash; a remembered id is forgotten (it is used up). */
static bool fx_ghost_take(struct fx_ghost *g, uint64_t hash)
{
	int64_t slot = fx_ghost_find(g, hash);

	if (slot < 0)
		return false;
	fx_ghost_delete_slot(g, (uint64_t)slot);
	return true;
}

static void *fx_s3fifo_new(const struct fx_policy_env *env)
{
	uint64_t capacity = env->capacity;
	struct fx_s3fifo *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->small_target = capacity / FX_S3FIFO_SMALL_DIV;
	if (fx_ghost_init(&s->ghost, capacity - s->small_target) < 0) {
		free(s);
		return NULL;
	}
	return s;
}

static void fx_s3fifo_free(void *state)
{
	struct fx_s3fifo *s = state;

	fx_ghost_destroy(&s->ghost);
	free(s);
}

static void fx_s3fifo_insert(void *state, struct fx_cblock *b)
{
	struct fx_s3fifo *s = state;

	b->freq = 0;
	if (fx_ghost_take(&s->ghost, fx_cblock_key(b)))
		fx_cqueue_push_head(&s->main, b, FX_Q_MAIN);
	else
		fx_cqueue_push_head(&s->small, b, FX_Q_SMALL);
}

static void fx_s3fifo_hit(void *state, struct fx_cblock *b)
{
	(void)state;
	if (b->freq < FX_S3FIFO_FREQ_MAX)
		b->freq++;
}

static void fx_s3fifo_remove(void *state, struct fx_cblock *b)
{
	struct fx_s3fifo *s = state;

	if (b->queue == FX_Q_SMALL)
		fx_cqueue_unlink(&s->small, b);
	else if (b->queue == FX_Q_MAIN)
		fx_cqueue_unlink(&s->main, b);
}

/*
 * Ends: each pass either returns a block, moves one block from S to M (at
 * most |S| times), or lowers a freq in M (at most 3 per block in M), so it
 * takes at most |S| + 3 * (|S| + |M|) + 1 passes.
 */
static struct fx_cblock *fx_s3fifo_evict(void *state)
{
	struct fx_s3fifo *s = state;
	struct fx_cblock *b;

	for (;;) {
		if (s->small.blocks && (s->small.bytes > s->small_target || !s->main.blocks)) {
			b = s->small.tail;
			fx_cqueue_unlink(&s->small, b);
			if (b->freq > 0) {
				b->freq = 0;
				fx_cqueue_push_head(&s->main, b, FX_Q_MAIN);
				continue;
			}
			fx_ghost_add(&s->ghost, fx_cblock_key(b), b->size);
			return b;
		}
		b = s->main.tail;
		if (!b)
			return NULL;
		fx_cqueue_unlink(&s->main, b);
		if (b->freq > 0) {
			b->freq--;
			fx_cqueue_push_head(&s->main, b, FX_Q_MAIN);
			continue;
		}
		return b;
	}
}

static const struct fx_policy_ops fx_s3fifo_ops = {
	.name = FX_S3FIFO_NAME,
	.new = fx_s3fifo_new,
	.free = fx_s3fifo_free,
	.insert = fx_s3fifo_insert,
	.hit = fx_s3fifo_hit,
	.remove = fx_s3fifo_remove,
	.evict = fx_s3fifo_evict,
	.tick = NULL,
};

/* ------------------------------------------------------------- registry */

static const struct fx_policy_ops *fx_policies[FX_POLICY_MAX] = {
	&fx_lru_ops, &fx_s3fifo_ops, &fx_snn_ops, &fx_arc_ops, &fx_sieve_ops,
};
static unsigned fx_npolicies = 5;
static char fx_policy_names_buf[FX_POLICY_NAMES_LEN] =
	FX_LRU_NAME ", " FX_S3FIFO_NAME ", snn, arc, sieve";

const struct fx_policy_ops *fx_policy_find(const char *name)
{
	unsigned i;

	if (!name)
		return NULL;
	for (i = 0; i < fx_npolicies; i++)
		if (strcmp(fx_policies[i]->name, name) == 0)
			return fx_policies[i];
	return NULL;
}

/* -EINVAL (a vtable without a name or a required method) is a caller bug. */
int fx_policy_register(const struct fx_policy_ops *ops)
{
	size_t len;

	if (!ops || !ops->name || !*ops->name || !ops->new || !ops->free || !ops->insert ||
	    !ops->hit || !ops->remove || !ops->evict)
		return -EINVAL;
	if (fx_policy_find(ops->name))
		return -EEXIST;
	if (fx_npolicies == FX_POLICY_MAX)
		return -ENOSPC;
	fx_policies[fx_npolicies++] = ops;
	/* A name that does not fit is left out of the hint, not of the registry. */
	len = strlen(fx_policy_names_buf);
	if (len + 2 + strlen(ops->name) < sizeof(fx_policy_names_buf))
		snprintf(fx_policy_names_buf + len, sizeof(fx_policy_names_buf) - len, ", %s",
			 ops->name);
	return 0;
}

const char *fx_policy_names(void)
{
	return fx_policy_names_buf;
}

/* ------------------------------------------------------------- instance */

struct fx_policy *fx_policy_new(const struct fx_policy_ops *ops, const struct fx_policy_env *env)
{
	struct fx_policy *p;

	assert(ops);
	p = malloc(sizeof(*p));
	if (!p)
		return NULL;
	p->ops = ops;
	p->state = ops->new(env);
	if (!p->state) {
		free(p);
		return NULL;
	}
	return p;
}

void fx_policy_free(struct fx_policy *p)
{
	if (!p)
		return;
	p->ops->free(p->state);
	free(p);
}

/* The policy owns the policy-private fields: start them from a known state
 * whatever the store's allocator left there. */
void fx_policy_insert(struct fx_policy *p, struct fx_cblock *b)
{
	assert(b);
	b->prev = b->next = NULL;
	b->queue = FX_Q_NONE;
	b->freq = 0;
	b->score = 0;
	p->ops->insert(p->state, b);
}

void fx_policy_hit(struct fx_policy *p, struct fx_cblock *b)
{
	assert(b);
	p->ops->hit(p->state, b);
}

void fx_policy_remove(struct fx_policy *p, struct fx_cblock *b)
{
	assert(b);
	p->ops->remove(p->state, b);
}

struct fx_cblock *fx_policy_evict(struct fx_policy *p)
{
	return p->ops->evict(p->state);
}

void fx_policy_tick(struct fx_policy *p, uint64_t now_ms)
{
	if (p->ops->tick)
		p->ops->tick(p->state, now_ms);
}

const char *fx_policy_name(const struct fx_policy *p)
{
	return p->ops->name;
}
