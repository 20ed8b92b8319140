/*
 * policy_snn.c - "snn": learned eviction. A small MLP (neural/mlp.h),
 * trained online by backprop, scores how likely each cached block is to be
 * read again within a horizon; eviction removes the lowest-scored of a
 * random sample of cached blocks.
 *
 * Owns: per-block access history (b->priv), the history of recently evicted
 * blocks (a lossy table, so a block that comes back keeps its past), the
 * training samples (features taken from random cached blocks at random
 * times, labelled when the block is read again within the horizon or when
 * the horizon passes), training (in tick(), which the store calls from its
 * flusher thread: never on a read), and the choice of victims.
 * Does not own: the spiking network (its predicted activity for a block is
 * one feature, through env->activity), persistence of the MLP (whoever
 * passes env->mlp saves it), blocks or the cap (the store).
 *
 * Time is logical: one tick of the clock per insert or hit, so the policy
 * behaves the same in a live mount and in `rustfx sim`. The horizon is the
 * number of blocks the cache holds: a block that will not be read again
 * before that many other reads is the one an optimal policy gives up.
 *
 * Training samples come two ways: features of a random cached block now,
 * labelled once its next read comes (or the horizon passes); and, in
 * hindsight, from every observed gap between two reads of a block (and
 * every eviction of a block not read again for longer than the horizon):
 * at a random moment of that gap, was the next read within the horizon?
 * The second kind does not depend on what this policy chose to keep.
 *
 * Features (each scaled to about [0, 1]): recency, frequency, age, size,
 * prefetched-and-unread, predicted activity, the gap between the last two
 * reads, and that gap minus the recency (time to the next read if the
 * block is read periodically).
 *
 * Until the scorer has seen enough labelled samples of both outcomes,
 * victims are chosen by recency (exact LRU). After that, a shadow LRU of
 * the same capacity is compared every horizon: a window in which this
 * policy missed more sends it back to recency for 1, 2, 4 ... 64 windows
 * (doubling with each loss in a row), so what cannot be learned costs
 * little.
 */
#include "cache/policy_i.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "neural/mlp.h"

#define FX_SNN_NAME "snn"
#define FX_SNN_NFEAT 8
#define FX_SNN_HIDDEN 12
#define FX_SNN_CANDIDATES 32   /* blocks scored per eviction */
#define FX_SNN_SAMPLE_EVERY 2  /* accesses per training sample taken */
#define FX_SNN_PENDING 16384   /* samples awaiting their outcome (power of 2) */
#define FX_SNN_TRAIN 8192      /* labelled samples kept for training */
#define FX_SNN_READY 256       /* labelled samples (of each outcome) before scoring */
#define FX_SNN_LR 0.1f
#define FX_SNN_STEPS 2048      /* SGD steps a tick at most (~4 ms under the store's lock) */

/* Per cached block. */
struct fx_snn_block {
	uint64_t t_last, t_prev, t_insert; /* logical times; t_prev 0 = read once */
	uint32_t count;                    /* reads, including the insert */
	uint32_t slot;                     /* index in fx_snn.blocks */
};

/* History of an evicted block, and of a shadow-LRU entry (lossy tables). */
struct fx_snn_hist {
	uint64_t key; /* 0 = empty */
	uint64_t t_last, t_prev;
	uint32_t count;
};

struct fx_snn_pending {
	uint64_t key; /* 0 = empty */
	uint64_t t, horizon;
	float x[FX_SNN_NFEAT];
};

struct fx_snn_sample {
	float x[FX_SNN_NFEAT];
	float y;
};

/* Exact LRU over block keys and sizes, without data: what LRU would miss. */
struct fx_shadow_ent {
	uint64_t key;
	uint32_t size;
	uint32_t prev, next; /* indices, UINT32_MAX = none */
	uint32_t hnext;      /* hash chain */
};

struct fx_shadow {
	struct fx_shadow_ent *ent;
	uint32_t *bucket, nbucket; /* power of 2 */
	uint32_t n, cap, free_head, head, tail;
	uint64_t bytes, capacity;
};

struct fx_snn_policy {
	struct fx_policy_env env;
	struct fx_mlp *mlp;
	bool own_mlp;
	struct fx_cblock **blocks; /* dense, for sampling */
	struct fx_snn_block **hist; /* hist[i] == blocks[i]->priv; freed without the blocks */
	size_t n, cap;
	struct fx_cqueue lru;      /* every block, most recent first */
	uint64_t clock, rng;
	uint32_t max_size;
	struct fx_snn_hist *ghost;
	size_t ghost_mask;
	struct fx_snn_pending *pend;
	struct fx_snn_sample *train;
	size_t ntrain, train_head, npos, nneg, fresh;
	struct fx_shadow shadow;
	/* misses in the current and last window, ours and the shadow LRU's */
	uint64_t win_start, win_ours, win_lru;
	bool learned;           /* victims by score (else by recency) */
	unsigned lru_left;      /* windows to stay with recency after a lost one */
	unsigned backoff;       /* the next such stay: doubles on each loss */
};

static uint64_t fx_snn_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* -------------------------------------------------------------- shadow LRU */

#define FX_NONE UINT32_MAX

static int fx_shadow_init(struct fx_shadow *sh, uint64_t capacity)
{
	memset(sh, 0, sizeof(*sh));
	sh->capacity = capacity;
	sh->head = sh->tail = sh->free_head = FX_NONE;
	sh->nbucket = 1024;
	sh->bucket = malloc(sh->nbucket * sizeof(*sh->bucket));
	if (!sh->bucket)
		return -ENOMEM;
	memset(sh->bucket, 0xff, sh->nbucket * sizeof(*sh->bucket));
	return 0;
}

static void fx_shadow_destroy(struct fx_shadow *sh)
{
	free(sh->ent);
	free(sh->bucket);
}

static uint32_t *fx_shadow_slot(struct fx_shadow *sh, uint64_t key)
{
	uint32_t *p = &sh->bucket[(key * 0x9e3779b97f4a7c15ULL >> 32) & (sh->nbucket - 1)];

	while (*p != FX_NONE && sh->ent[*p].key != key)
		p = &sh->ent[*p].hnext;
	return p;
}

static void fx_shadow_unlink(struct fx_shadow *sh, uint32_t i)
{
	struct fx_shadow_ent *e = &sh->ent[i];

	if (e->prev != FX_NONE)
		sh->ent[e->prev].next = e->next;
	else
		sh->head = e->next;
	if (e->next != FX_NONE)
		sh->ent[e->next].prev = e->prev;
	else
		sh->tail = e->prev;
}

static void fx_shadow_push(struct fx_shadow *sh, uint32_t i)
{
	struct fx_shadow_ent *e = &sh->ent[i];

	e->prev = FX_NONE;
	e->next = sh->head;
	if (sh->head != FX_NONE)
		sh->ent[sh->head].prev = i;
	else
		sh->tail = i;
	sh->head = i;
}

static int fx_shadow_grow(struct fx_shadow *sh)
{
	uint32_t ncap = sh->cap ? sh->cap * 2 : 1024, i;
	struct fx_shadow_ent *ent = realloc(sh->ent, ncap * sizeof(*ent));

	if (!ent)
		return -ENOMEM;
	sh->ent = ent;
	for (i = ncap; i-- > sh->cap;) {
		ent[i].next = sh->free_head;
		sh->free_head = i;
	}
	sh->cap = ncap;
	if (ncap > sh->nbucket) { /* rehash at load factor 1 */
		uint32_t *nb = malloc(ncap * 2 * sizeof(*nb));

		if (nb) {
			free(sh->bucket);
			sh->bucket = nb;
			sh->nbucket = ncap * 2;
			memset(nb, 0xff, sh->nbucket * sizeof(*nb));
			for (i = sh->head; i != FX_NONE; i = ent[i].next) {
				uint32_t *p = fx_shadow_slot(sh, ent[i].key);

				ent[i].hnext = FX_NONE;
				*p = i;
			}
		}
	}
	return 0;
}

/* An access of @key (@size bytes): @return true if LRU would have hit. */
static bool fx_shadow_access(struct fx_shadow *sh, uint64_t key, uint32_t size)
{
	uint32_t *p = fx_shadow_slot(sh, key), i;

	if (*p != FX_NONE) {
		i = *p;
		fx_shadow_unlink(sh, i);
		fx_shadow_push(sh, i);
		return true;
	}
	while (sh->bytes + size > sh->capacity && sh->tail != FX_NONE) {
		uint32_t t = sh->tail, *q = fx_shadow_slot(sh, sh->ent[t].key);

		*q = sh->ent[t].hnext;
		fx_shadow_unlink(sh, t);
		sh->bytes -= sh->ent[t].size;
		sh->ent[t].next = sh->free_head;
		sh->free_head = t;
		sh->n--;
	}
	if (sh->free_head == FX_NONE && fx_shadow_grow(sh) < 0)
		return false;
	p = fx_shadow_slot(sh, key); /* the table may have been rebuilt */
	i = sh->free_head;
	sh->free_head = sh->ent[i].next;
	sh->ent[i] = (struct fx_shadow_ent){.key = key, .size = size, .hnext = FX_NONE};
	*p = i;
	fx_shadow_push(sh, i);
	sh->bytes += size;
	sh->n++;
	return false;
}

/* ---------------------------------------------------------------- features */

static float fx_clampf(float x, float lo, float hi)
{
	return x < lo ? lo : x > hi ? hi : x;
}

static uint64_t fx_snn_horizon(const struct fx_snn_policy *s)
{
	return s->n > 16 ? s->n : 16;
}

/* What a block looked like @recency accesses after its last read. */
struct fx_snn_view {
	uint64_t recency, age, gap; /* gap: between its last two reads, 0 = read once */
	uint32_t count, size;
	bool prefetched;
	float activity;
};

static void fx_snn_encode(const struct fx_snn_policy *s, const struct fx_snn_view *v, float *x)
{
	float hz = (float)fx_snn_horizon(s);
	float r = (float)v->recency / hz;

	x[0] = fx_clampf(r, 0, 4) / 4;
	x[1] = fx_clampf(log2f(1.0f + (float)v->count) / 8, 0, 1);
	x[2] = fx_clampf((float)v->age / hz, 0, 4) / 4;
	x[3] = s->max_size ? (float)v->size / (float)s->max_size : 1;
	x[4] = v->prefetched ? 1 : 0;
	x[5] = fx_clampf(v->activity, 0, 1);
	if (v->gap) {
		float gap = (float)v->gap / hz;

		x[6] = fx_clampf(gap, 0, 4) / 4;
		x[7] = fx_clampf(gap - r, -2, 2) / 4 + 0.5f;
	} else {
		x[6] = 1;
		x[7] = 0;
	}
}

static void fx_snn_features(struct fx_snn_policy *s, const struct fx_cblock *b, float *x)
{
	const struct fx_snn_block *h = b->priv;
	struct fx_snn_view v = {
		.recency = s->clock - h->t_last, .age = s->clock - h->t_insert,
		.gap = h->t_prev ? h->t_last - h->t_prev : 0, .count = h->count, .size = b->size,
		.prefetched = b->flags & FX_CB_PREFETCHED,
		.activity = s->env.activity ? s->env.activity(s->env.arg, b) : 0,
	};

	fx_snn_encode(s, &v, x);
}

/* ---------------------------------------------------------------- training */

static void fx_snn_label(struct fx_snn_policy *s, struct fx_snn_pending *p, float y)
{
	struct fx_snn_sample *t = &s->train[s->train_head];

	if (s->ntrain == FX_SNN_TRAIN) { /* overwrite the oldest */
		if (t->y > 0.5f)
			s->npos--;
		else
			s->nneg--;
	} else {
		s->ntrain++;
	}
	memcpy(t->x, p->x, sizeof(t->x));
	t->y = y;
	if (y > 0.5f)
		s->npos++;
	else
		s->nneg++;
	s->train_head = (s->train_head + 1) % FX_SNN_TRAIN;
	s->fresh++;
	p->key = 0;
}

static struct fx_snn_pending *fx_snn_pending(struct fx_snn_policy *s, uint64_t key)
{
	return &s->pend[(key * 0x9e3779b97f4a7c15ULL >> 40) & (FX_SNN_PENDING - 1)];
}

/* @key was read now: a sample waiting on it learns its outcome. */
static void fx_snn_resolve(struct fx_snn_policy *s, uint64_t key)
{
	struct fx_snn_pending *p = fx_snn_pending(s, key);

	if (p->key == key)
		fx_snn_label(s, p, s->clock - p->t <= p->horizon ? 1.0f : 0.0f);
}

/* Take a training sample from a random cached block now and then. */
static void fx_snn_sample(struct fx_snn_policy *s)
{
	struct fx_cblock *b;
	struct fx_snn_pending *p;
	uint64_t key;

	if (s->n == 0 || s->clock % FX_SNN_SAMPLE_EVERY)
		return;
	b = s->blocks[fx_snn_rand(&s->rng) % s->n];
	key = fx_cblock_key(b);
	p = fx_snn_pending(s, key);
	if (p->key && p->key != key && s->clock - p->t <= p->horizon)
		return; /* the slot is taken by a sample still waiting */
	if (p->key && s->clock - p->t > p->horizon)
		fx_snn_label(s, p, 0.0f);
	p->key = key;
	p->t = s->clock;
	p->horizon = fx_snn_horizon(s);
	fx_snn_features(s, b, p->x);
}

/*
 * Hindsight: a block read last at @t_last (and before at @t_prev) is read
 * again now after @gap accesses, or (@gap 0) was never read again before it left after
 * @left accesses. At a random moment of the gap, would a reuse within the
 * horizon have come? That answer does not depend on what this policy
 * evicted, so loops longer than the cache teach as much as anything.
 */
static void fx_snn_hindsight(struct fx_snn_policy *s, uint64_t t_last, uint64_t t_prev, uint64_t t_insert,
			     uint32_t count, uint32_t size, uint64_t gap, uint64_t left)
{
	struct fx_snn_pending p = {.key = 1};
	uint64_t hz = fx_snn_horizon(s), span;
	struct fx_snn_view v = {.gap = t_prev ? t_last - t_prev : 0, .count = count, .size = size};
	float y;

	if (gap) {
		span = gap;
	} else {
		if (left <= hz)
			return; /* might still come back within the horizon */
		span = left - hz;
	}
	v.recency = fx_snn_rand(&s->rng) % span;
	v.age = t_last - t_insert + v.recency;
	y = gap && gap - v.recency <= hz ? 1.0f : 0.0f;
	fx_snn_encode(s, &v, p.x);
	fx_snn_label(s, &p, y);
}

static void fx_snn_train(struct fx_snn_policy *s)
{
	size_t i, n;

	for (i = 0; i < FX_SNN_PENDING; i++) {
		struct fx_snn_pending *p = &s->pend[i];

		if (p->key && s->clock - p->t > p->horizon)
			fx_snn_label(s, p, 0.0f);
	}
	if (!s->fresh || s->npos < FX_SNN_READY / 4 || s->nneg < FX_SNN_READY / 4 ||
	    s->ntrain < FX_SNN_READY)
		return;
	/* Random draws from what is kept, weighted to balance the outcomes;
	 * bounded, because the store calls tick() under its lock. */
	if (s->env.mlp_lock)
		pthread_mutex_lock(s->env.mlp_lock);
	n = s->ntrain;
	for (i = 0; i < n && i < FX_SNN_STEPS; i++) {
		const struct fx_snn_sample *t = &s->train[fx_snn_rand(&s->rng) % n];
		float lr = FX_SNN_LR * (t->y > 0.5f ? (float)s->ntrain / (2.0f * (float)s->npos)
						   : (float)s->ntrain / (2.0f * (float)s->nneg));

		fx_mlp_backprop(s->mlp, t->x, &t->y, fx_clampf(lr, 0, 1.0f));
	}
	if (s->env.mlp_lock)
		pthread_mutex_unlock(s->env.mlp_lock);
	s->fresh = 0;
}

/* ------------------------------------------------------------------ policy */

static const unsigned fx_snn_shape[] = {FX_SNN_NFEAT, FX_SNN_HIDDEN, 1};

void fx_snn_policy_shape(const unsigned **sizes, size_t *n)
{
	*sizes = fx_snn_shape;
	*n = sizeof(fx_snn_shape) / sizeof(fx_snn_shape[0]);
}

static void *fx_snn_new(const struct fx_policy_env *env)
{
	struct fx_snn_policy *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->env = *env;
	s->rng = 0x5eed;
	s->mlp = env->mlp;
	if (!s->mlp) {
		s->mlp = fx_mlp_new(fx_snn_shape, 3, 42);
		s->own_mlp = true;
	}
	s->ghost_mask = 65535;
	s->ghost = calloc(s->ghost_mask + 1, sizeof(*s->ghost));
	s->pend = calloc(FX_SNN_PENDING, sizeof(*s->pend));
	s->train = calloc(FX_SNN_TRAIN, sizeof(*s->train));
	if (!s->mlp || !s->ghost || !s->pend || !s->train ||
	    fx_shadow_init(&s->shadow, env->capacity) < 0) {
		if (s->own_mlp)
			fx_mlp_free(s->mlp);
		free(s->ghost);
		free(s->pend);
		free(s->train);
		free(s->shadow.bucket);
		free(s);
		return NULL;
	}
	return s;
}

static void fx_snn_free(void *state)
{
	struct fx_snn_policy *s = state;
	size_t i;

	/* The store may have freed its blocks already: only our own memory. */
	for (i = 0; i < s->n; i++)
		free(s->hist[i]);
	free(s->hist);
	free(s->blocks);
	if (s->own_mlp)
		fx_mlp_free(s->mlp);
	free(s->ghost);
	free(s->pend);
	free(s->train);
	fx_shadow_destroy(&s->shadow);
	free(s);
}

/* One access (insert = miss, hit): clock, shadow LRU, outcome of samples. */
static void fx_snn_access(struct fx_snn_policy *s, struct fx_cblock *b, bool miss)
{
	uint64_t key = fx_cblock_key(b), window;
	bool lru_hit;

	s->clock++;
	fx_snn_resolve(s, key);
	if (b->flags & FX_CB_PREFETCHED)
		return; /* prefetches are not reads: neither side missed */
	lru_hit = fx_shadow_access(&s->shadow, key, b->size);
	s->win_ours += miss;
	s->win_lru += !lru_hit;
	window = fx_snn_horizon(s);
	if (s->clock - s->win_start >= window) {
		/* Learned choices only while they do at least as well as LRU did;
		 * after a lost window, recency for a stay that doubles with each
		 * loss in a row, so a workload the model cannot learn costs
		 * ever less. */
		bool ready = s->npos >= FX_SNN_READY / 4 && s->nneg >= FX_SNN_READY / 4;

		if (s->learned && s->win_ours > s->win_lru) {
			s->learned = false;
			s->lru_left = s->backoff ? s->backoff : 1;
			s->backoff = s->lru_left < 64 ? s->lru_left * 2 : 64;
		} else if (s->learned) {
			s->backoff = s->backoff > 1 ? s->backoff / 2 : 1;
		} else if (s->lru_left) {
			s->lru_left--;
		} else {
			s->learned = ready;
		}
		s->win_start = s->clock;
		s->win_ours = s->win_lru = 0;
	}
}

static int fx_snn_grow(struct fx_snn_policy *s)
{
	size_t ncap = s->cap ? s->cap * 2 : 64;
	struct fx_cblock **blocks = realloc(s->blocks, ncap * sizeof(*blocks));
	struct fx_snn_block **hist;

	if (!blocks)
		return -ENOMEM;
	s->blocks = blocks; /* larger than cap says until hist follows: harmless */
	if (!(hist = realloc(s->hist, ncap * sizeof(*hist))))
		return -ENOMEM;
	s->hist = hist;
	s->cap = ncap;
	return 0;
}

static void fx_snn_insert(void *state, struct fx_cblock *b)
{
	struct fx_snn_policy *s = state;
	struct fx_snn_block *h = calloc(1, sizeof(*h));
	struct fx_snn_hist *g;
	uint64_t key = fx_cblock_key(b);

	if (!h || (s->n == s->cap && fx_snn_grow(s) < 0)) {
		/* Without memory the block is still tracked by recency. */
		free(h);
		h = NULL;
	}
	fx_snn_access(s, b, true);
	if (b->size > s->max_size)
		s->max_size = b->size;
	fx_cqueue_push_head(&s->lru, b, FX_Q_LRU);
	b->priv = h;
	if (!h)
		return;
	g = &s->ghost[key & s->ghost_mask];
	if (g->key == key) { /* it was here before: keep its past */
		fx_snn_hindsight(s, g->t_last, g->t_prev, g->t_last, g->count, b->size,
				 s->clock - g->t_last, 0);
		h->t_prev = g->t_last;
		h->count = g->count;
		g->key = 0;
	}
	h->t_last = h->t_insert = s->clock;
	h->count++;
	h->slot = (uint32_t)s->n;
	s->hist[s->n] = h;
	s->blocks[s->n++] = b;
	fx_snn_sample(s);
}

static void fx_snn_hit(void *state, struct fx_cblock *b)
{
	struct fx_snn_policy *s = state;
	struct fx_snn_block *h = b->priv;

	fx_snn_access(s, b, false);
	if (b->queue == FX_Q_LRU) {
		fx_cqueue_unlink(&s->lru, b);
		fx_cqueue_push_head(&s->lru, b, FX_Q_LRU);
	}
	if (h) {
		fx_snn_hindsight(s, h->t_last, h->t_prev, h->t_insert, h->count, b->size,
				 s->clock - h->t_last, 0);
		h->t_prev = h->t_last;
		h->t_last = s->clock;
		h->count++;
	}
	fx_snn_sample(s);
}

static void fx_snn_forget(struct fx_snn_policy *s, struct fx_cblock *b, bool keep_history)
{
	struct fx_snn_block *h = b->priv;

	if (b->queue == FX_Q_LRU)
		fx_cqueue_unlink(&s->lru, b);
	if (!h)
		return;
	if (keep_history) {
		uint64_t key = fx_cblock_key(b);

		fx_snn_hindsight(s, h->t_last, h->t_prev, h->t_insert, h->count, b->size, 0,
				 s->clock - h->t_last);
		struct fx_snn_hist *g = &s->ghost[key & s->ghost_mask];

		*g = (struct fx_snn_hist){.key = key, .t_last = h->t_last, .t_prev = h->t_prev,
					  .count = h->count};
	}
	assert(h->slot < s->n && s->blocks[h->slot] == b);
	s->blocks[h->slot] = s->blocks[--s->n];
	s->hist[h->slot] = s->hist[s->n];
	s->hist[h->slot]->slot = h->slot;
	free(h);
	b->priv = NULL;
}

static void fx_snn_remove(void *state, struct fx_cblock *b)
{
	fx_snn_forget(state, b, false);
}

static struct fx_cblock *fx_snn_evict(void *state)
{
	struct fx_snn_policy *s = state;
	struct fx_cblock *victim = NULL;
	float best = INFINITY, x[FX_SNN_NFEAT], y;
	unsigned i, k;

	if (!s->lru.tail)
		return NULL;
	if (!s->learned || s->n < 2 || !s->lru.tail->priv) {
		victim = s->lru.tail;
	} else {
		if (s->env.mlp_lock)
			pthread_mutex_lock(s->env.mlp_lock);
		k = s->n < FX_SNN_CANDIDATES ? (unsigned)s->n : FX_SNN_CANDIDATES;
		for (i = 0; i < k; i++) {
			struct fx_cblock *b = s->blocks[fx_snn_rand(&s->rng) % s->n];
			const struct fx_snn_block *h = b->priv;

			fx_snn_features(s, b, x);
			if (fx_mlp_forward(s->mlp, x, &y) < 0)
				y = 0;
			/* equal scores: the least recently read goes */
			y -= (float)(s->clock - h->t_last) * 1e-9f;
			if (y < best) {
				best = y;
				victim = b;
			}
		}
		if (s->env.mlp_lock)
			pthread_mutex_unlock(s->env.mlp_lock);
	}
	fx_snn_forget(s, victim, true);
	return victim;
}

static void fx_snn_tick(void *state, uint64_t now_ms)
{
	(void)now_ms;
	fx_snn_train(state);
}

const struct fx_policy_ops fx_snn_ops = {
	.name = FX_SNN_NAME,
	.new = fx_snn_new,
	.free = fx_snn_free,
	.insert = fx_snn_insert,
	.hit = fx_snn_hit,
	.remove = fx_snn_remove,
	.evict = fx_snn_evict,
	.tick = fx_snn_tick,
};
