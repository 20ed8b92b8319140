/*
 * policy_ref.c - reference eviction policies for comparison: "arc" and
 * "sieve" (see policy.h for the interface, policy_i.h for how policy.c's
 * registry lists them).
 *
 * Owns: the two policies' lists, ARC's ghost lists and adaptive target.
 * Does not own: blocks or their memory, when to evict (the store or the
 * simulator evicts until a block fits and serialises every call), nor the
 * registry or the block queue (policy.c, shared through policy_i.h). Written from the papers:
 *  - ARC: N. Megiddo, D. Modha, "ARC: A Self-Tuning, Low Overhead
 *    Replacement Cache", FAST'03.
 *  - SIEVE: Y. Zhang et al., "SIEVE is Simpler than LRU: an Efficient
 *    Turn-Key Eviction Algorithm for Web Caches", NSDI'24.
 */
#include "cache/policy_i.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Values of fx_cblock.queue for these policies (ids below FX_Q_OTHER are
 * policy.c's). */
enum {
	FX_ARC_T1 = FX_Q_OTHER + 0,  /* ARC: seen once recently */
	FX_ARC_T2 = FX_Q_OTHER + 1,  /* ARC: seen at least twice recently */
	FX_SIEVE_Q = FX_Q_OTHER + 2, /* SIEVE's one FIFO */
};

/* ------------------------------------------------------------------ arc */

/*
 * ARC keeps two resident LRU lists, T1 (blocks read once since they came
 * in) and T2 (read again), and two ghost lists of ids only, B1 and B2,
 * remembering what T1 and T2 evicted recently. A miss that finds its id in
 * B1 says T1 was too small: the target p for T1's bytes grows; one in B2
 * makes it shrink. Eviction takes T1's LRU while T1 holds more than p,
 * else T2's. Invariants, in bytes: T1 + B1 <= c, T1 + T2 + B1 + B2 <= 2c.
 *
 * Deviations, because the interface separates evict() from insert(): the
 * store evicts before it inserts, so the block being inserted is not known
 * when the victim is chosen. p therefore adapts in insert(), after the
 * evictions for that miss (the paper adapts first), and the paper's tie
 * rule "x in B2 and |T1| = p" is dropped (|T1| > p decides). Sizes are
 * bytes, so the paper's |B2|/|B1| step is scaled by the block's size.
 *
 * The ghosts live in an array that grows by doubling (not per block) when
 * full, up to FX_ARC_GHOST_MAX entries; when it cannot grow, the oldest
 * ghost of the longer list makes room. A linear-probing table maps an id's
 * hash to its entry.
 */
#define FX_ARC_GHOST_MIN 1024u
#define FX_ARC_GHOST_MAX (1u << 26)
#define FX_ARC_NIL	 UINT32_MAX

struct fx_arc_ghost {
	uint64_t hash;
	uint32_t size;
	uint32_t prev, next; /* in its list; toward head / toward tail */
	uint8_t list;	     /* FX_ARC_B1, FX_ARC_B2, or 0 when free */
};

enum { FX_ARC_B1 = 1, FX_ARC_B2 = 2 };

struct fx_glist {
	uint32_t head, tail;
	uint64_t n, bytes;
};

struct fx_arc {
	uint64_t c, p;
	struct fx_cqueue t1, t2;
	struct fx_glist b[3]; /* [FX_ARC_B1], [FX_ARC_B2] */
	struct fx_arc_ghost *g;
	uint32_t gcap, gfree; /* entries; head of the free chain (through next) */
	uint32_t *table;      /* entry index + 1; 0 is empty */
	uint64_t tmask;
};

/* Table slot holding ghost @hash, or -1. */
static int64_t fx_arc_find(const struct fx_arc *a, uint64_t hash)
{
	for (uint64_t i = hash & a->tmask; a->table[i]; i = (i + 1) & a->tmask)
		if (a->g[a->table[i] - 1].hash == hash)
			return (int64_t)i;
	return -1;
}

static void fx_arc_table_put(struct fx_arc *a, uint32_t idx)
{
	uint64_t i;

	for (i = a->g[idx].hash & a->tmask; a->table[i]; i = (i + 1) & a->tmask)
		;
	a->table[i] = idx + 1;
}

/* Empty slot @i with backward shift: no tombstones. */
static void fx_arc_table_del(struct fx_arc *a, uint64_t i)
{
	uint64_t j = i, home;

	for (;;) {
		j = (j + 1) & a->tmask;
		if (!a->table[j])
			break;
		home = a->g[a->table[j] - 1].hash & a->tmask;
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			a->table[i] = a->table[j];
			i = j;
		}
	}
	a->table[i] = 0;
}

static void fx_glist_unlink(struct fx_arc *a, uint32_t idx)
{
	struct fx_arc_ghost *e = &a->g[idx];
	struct fx_glist *l = &a->b[e->list];

	if (e->prev != FX_ARC_NIL)
		a->g[e->prev].next = e->next;
	else
		l->head = e->next;
	if (e->next != FX_ARC_NIL)
		a->g[e->next].prev = e->prev;
	else
		l->tail = e->prev;
	l->n--;
	l->bytes -= e->size;
}

/* Forget ghost @idx (its table slot is @slot). */
static void fx_arc_ghost_drop(struct fx_arc *a, uint32_t idx, uint64_t slot)
{
	fx_glist_unlink(a, idx);
	fx_arc_table_del(a, slot);
	a->g[idx].list = 0;
	a->g[idx].next = a->gfree;
	a->gfree = idx;
}

static void fx_arc_drop_tail(struct fx_arc *a, int list)
{
	uint32_t idx = a->b[list].tail;
	int64_t slot = fx_arc_find(a, a->g[idx].hash);

	assert(idx != FX_ARC_NIL && slot >= 0);
	fx_arc_ghost_drop(a, idx, (uint64_t)slot);
}

/* Double the ghost array and rebuild the table. @return 0 or -ENOMEM. */
static int fx_arc_grow(struct fx_arc *a)
{
	uint32_t ncap = a->gcap ? 2 * a->gcap : FX_ARC_GHOST_MIN;
	uint64_t slots = 1;
	struct fx_arc_ghost *ng;
	uint32_t *nt;

	if (a->gcap >= FX_ARC_GHOST_MAX)
		return -ENOSPC;
	while (slots < 2 * (uint64_t)ncap)
		slots <<= 1;
	ng = realloc(a->g, (size_t)ncap * sizeof(*ng));
	if (!ng)
		return -ENOMEM;
	a->g = ng;
	nt = calloc(slots, sizeof(*nt));
	if (!nt)
		return -ENOMEM; /* the larger array is kept; its new entries unused */
	for (uint32_t i = a->gcap; i < ncap; i++) {
		ng[i].list = 0;
		ng[i].next = i + 1 < ncap ? i + 1 : a->gfree;
	}
	a->gfree = a->gcap;
	free(a->table);
	a->table = nt;
	a->tmask = slots - 1;
	for (uint32_t i = 0; i < a->gcap; i++)
		if (ng[i].list)
			fx_arc_table_put(a, i);
	a->gcap = ncap;
	return 0;
}

/* Remember @b at the head of ghost list @list. */
static void fx_arc_ghost_add(struct fx_arc *a, const struct fx_cblock *b, int list)
{
	uint64_t hash = fx_cblock_key(b);
	int64_t slot = fx_arc_find(a, hash);
	struct fx_glist *l = &a->b[list];
	uint32_t idx;

	if (slot >= 0) /* a 64-bit collision, or a stale twin: one entry per hash */
		fx_arc_ghost_drop(a, a->table[slot] - 1, (uint64_t)slot);
	if (a->gfree == FX_ARC_NIL && fx_arc_grow(a) < 0) {
		int victim = a->b[FX_ARC_B1].n >= a->b[FX_ARC_B2].n ? FX_ARC_B1 : FX_ARC_B2;

		fx_arc_drop_tail(a, victim);
	}
	idx = a->gfree;
	a->gfree = a->g[idx].next;
	a->g[idx] = (struct fx_arc_ghost){.hash = hash,
					  .size = b->size,
					  .prev = FX_ARC_NIL,
					  .next = l->head,
					  .list = (uint8_t)list};
	if (l->head != FX_ARC_NIL)
		a->g[l->head].prev = idx;
	else
		l->tail = idx;
	l->head = idx;
	l->n++;
	l->bytes += b->size;
	fx_arc_table_put(a, idx);
}

static void *fx_arc_new(const struct fx_policy_env *env)
{
	struct fx_arc *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->c = env->capacity;
	a->gfree = FX_ARC_NIL;
	for (int i = 0; i < 3; i++)
		a->b[i].head = a->b[i].tail = FX_ARC_NIL;
	if (fx_arc_grow(a) < 0) {
		free(a->g);
		free(a);
		return NULL;
	}
	return a;
}

static void fx_arc_free(void *state)
{
	struct fx_arc *a = state;

	free(a->g);
	free(a->table);
	free(a);
}

/* Keep the ghosts within ARC's bounds after the resident lists grew. */
static void fx_arc_trim(struct fx_arc *a)
{
	while (a->t1.bytes + a->b[FX_ARC_B1].bytes > a->c && a->b[FX_ARC_B1].n)
		fx_arc_drop_tail(a, FX_ARC_B1);
	while (a->t1.bytes + a->t2.bytes + a->b[FX_ARC_B1].bytes + a->b[FX_ARC_B2].bytes >
		   2 * a->c &&
	       (a->b[FX_ARC_B1].n || a->b[FX_ARC_B2].n))
		fx_arc_drop_tail(a, a->b[FX_ARC_B2].n ? FX_ARC_B2 : FX_ARC_B1);
}

static void fx_arc_insert(void *state, struct fx_cblock *b)
{
	struct fx_arc *a = state;
	uint64_t b1 = a->b[FX_ARC_B1].bytes, b2 = a->b[FX_ARC_B2].bytes, delta;
	int64_t slot = fx_arc_find(a, fx_cblock_key(b));
	uint32_t idx;

	if (slot < 0) {
		fx_cqueue_push_head(&a->t1, b, FX_ARC_T1);
		fx_arc_trim(a);
		return;
	}
	idx = a->table[slot] - 1;
	if (a->g[idx].list == FX_ARC_B1) {
		delta = b1 >= b2 ? b->size : (uint64_t)((double)b->size * (double)b2 / (double)b1);
		a->p = a->p + delta < a->c ? a->p + delta : a->c;
	} else {
		delta = b2 >= b1 ? b->size : (uint64_t)((double)b->size * (double)b1 / (double)b2);
		a->p = a->p > delta ? a->p - delta : 0;
	}
	fx_arc_ghost_drop(a, idx, (uint64_t)slot);
	fx_cqueue_push_head(&a->t2, b, FX_ARC_T2);
	fx_arc_trim(a);
}

static void fx_arc_hit(void *state, struct fx_cblock *b)
{
	struct fx_arc *a = state;

	if (b->queue == FX_ARC_T1)
		fx_cqueue_unlink(&a->t1, b);
	else if (b->queue == FX_ARC_T2)
		fx_cqueue_unlink(&a->t2, b);
	else
		return;
	fx_cqueue_push_head(&a->t2, b, FX_ARC_T2);
}

static void fx_arc_remove(void *state, struct fx_cblock *b)
{
	struct fx_arc *a = state;

	if (b->queue == FX_ARC_T1)
		fx_cqueue_unlink(&a->t1, b);
	else if (b->queue == FX_ARC_T2)
		fx_cqueue_unlink(&a->t2, b);
}

static struct fx_cblock *fx_arc_evict(void *state)
{
	struct fx_arc *a = state;
	struct fx_cblock *b;

	if (a->t1.blocks && (a->t1.bytes > a->p || !a->t2.blocks)) {
		b = a->t1.tail;
		fx_cqueue_unlink(&a->t1, b);
		fx_arc_ghost_add(a, b, FX_ARC_B1);
	} else if ((b = a->t2.tail)) {
		fx_cqueue_unlink(&a->t2, b);
		fx_arc_ghost_add(a, b, FX_ARC_B2);
	}
	return b;
}

const struct fx_policy_ops fx_arc_ops = {
    .name = "arc",
    .new = fx_arc_new,
    .free = fx_arc_free,
    .insert = fx_arc_insert,
    .hit = fx_arc_hit,
    .remove = fx_arc_remove,
    .evict = fx_arc_evict,
    .tick = NULL,
};

/* ---------------------------------------------------------------- sieve */

/*
 * SIEVE: one FIFO (new blocks at the head), a visited bit per block (set on
 * a hit, kept in fx_cblock.freq), and a hand that moves from the tail
 * toward the head. To evict, the hand clears visited bits until it finds an
 * unvisited block, evicts it, and stays where it was; past the head it
 * wraps to the tail. Hits never move a block. One pass clears every bit,
 * so eviction ends within blocks + 1 steps.
 */
struct fx_sieve {
	struct fx_cqueue q;
	struct fx_cblock *hand; /* next to examine; NULL: start at the tail */
};

static void *fx_sieve_new(const struct fx_policy_env *env)
{
	(void)env;
	return calloc(1, sizeof(struct fx_sieve));
}

static void fx_sieve_free(void *state)
{
	free(state);
}

static void fx_sieve_insert(void *state, struct fx_cblock *b)
{
	struct fx_sieve *s = state;

	b->freq = 0;
	fx_cqueue_push_head(&s->q, b, FX_SIEVE_Q);
}

static void fx_sieve_hit(void *state, struct fx_cblock *b)
{
	(void)state;
	b->freq = 1;
}

static void fx_sieve_remove(void *state, struct fx_cblock *b)
{
	struct fx_sieve *s = state;

	if (b->queue != FX_SIEVE_Q)
		return;
	if (s->hand == b)
		s->hand = b->prev;
	fx_cqueue_unlink(&s->q, b);
}

static struct fx_cblock *fx_sieve_evict(void *state)
{
	struct fx_sieve *s = state;
	struct fx_cblock *b = s->hand ? s->hand : s->q.tail;

	if (!b)
		return NULL;
	while (b->freq) {
		b->freq = 0;
		b = b->prev ? b->prev : s->q.tail;
	}
	s->hand = b->prev;
	fx_cqueue_unlink(&s->q, b);
	return b;
}

const struct fx_policy_ops fx_sieve_ops = {
    .name = "sieve",
    .new = fx_sieve_new,
    .free = fx_sieve_free,
    .insert = fx_sieve_insert,
    .hit = fx_sieve_hit,
    .remove = fx_sieve_remove,
    .evict = fx_sieve_evict,
    .tick = NULL,
};
