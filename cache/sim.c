/*
 * sim.c - the cache simulator (see sim.h for the model it replays).
 *
 * Owns: the in-memory trace (requests, the block dictionary mapping
 * (object, block index) to a dense id, the block access sequence), the
 * next-use pre-pass for Belady, and per run: the simulated blocks, the
 * eviction loop, the sequential detectors, the predictor, the counters.
 * Does not own: eviction order (the fx_policy vtables; "belady" below is
 * the one policy defined here), trace parsing, printing.
 */
#include "core/hash.h"
#include "cache/sim.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/policy.h"
#include "core/config.h"
#include "neural/predict.h"

#define FX_SIM_INF		 UINT64_MAX
#define FX_SIM_REQ_BLOCKS_MAX	 (1u << 22) /* blocks one request may span */
#define FX_SIM_CHUNK		 4096u	    /* simulated blocks allocated at a time */
#define FX_SIM_PREDICT_PER_BLOCK 8u


/* @a + @b, or UINT64_MAX when that overflows (offsets come from traces). */
static uint64_t fx_sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t fx_blk_hash(uint64_t obj, uint64_t index)
{
	return fx_mix64(obj ^ fx_mix64(index + 0x9e3779b97f4a7c15ull));
}

/* One distinct block of the trace (or one only prefetch touched). */
struct fx_sim_blk {
	uint64_t obj, index;
	uint32_t size; /* bytes charged to the cache */
};

struct fx_sim {
	uint32_t bs;
	struct fx_trace_req *req; /* every request, opens too */
	size_t nreq, req_cap;
	uint32_t *acc; /* block id of every block access, in order */
	size_t nacc, acc_cap;
	struct fx_sim_blk *blk; /* by block id */
	size_t nblk, blk_cap;
	size_t trace_blocks; /* ids below this come from the trace */
	uint32_t *dict;	     /* (obj, index) -> id + 1; 0 empty */
	uint64_t dmask;
	uint64_t footprint, requests;
	uint64_t t_first; /* time of the first request */
	bool timed;	  /* two requests had different times */
	bool ran;	  /* no more fx_sim_add */
	/* Belady's pre-pass (first belady run): */
	uint64_t *next_use;  /* [nacc]: position of the next access of that block */
	uint64_t *first_use; /* [trace_blocks] */
};

static int fx_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : 64;
	void *p;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	if (!(p = realloc(*arr, ncap * elem)))
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

int fx_sim_prefetch_parse(const char *name, enum fx_sim_prefetch *out)
{
	static const char *const names[] = {"off", "seq", "snn"};

	for (size_t i = 0; name && i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0) {
			*out = (enum fx_sim_prefetch)i;
			return 0;
		}
	return -EINVAL;
}

int fx_sim_new(uint32_t block_size, struct fx_sim **out)
{
	struct fx_sim *s;

	if (block_size < 512 || block_size > FX_SIM_BLOCK_MAX)
		return -EINVAL;
	if (!(s = calloc(1, sizeof(*s))))
		return -ENOMEM;
	s->bs = block_size;
	*out = s;
	return 0;
}

void fx_sim_free(struct fx_sim *s)
{
	if (!s)
		return;
	free(s->req);
	free(s->acc);
	free(s->blk);
	free(s->dict);
	free(s->next_use);
	free(s->first_use);
	free(s);
}

/* Bytes block @index of an object of @size bytes (0: unknown) is charged. */
static uint32_t fx_sim_charge(const struct fx_sim *s, uint64_t index, uint64_t size)
{
	uint64_t start = index * s->bs;

	if (!size || start >= size || size - start >= s->bs)
		return s->bs;
	return (uint32_t)(size - start);
}

/* The id of block @index of @obj, made when new (@size: the object's).
 * @return the id, or -ENOMEM / -EFBIG. */
static int64_t fx_sim_block_id(struct fx_sim *s, uint64_t obj, uint64_t index, uint64_t size)
{
	uint64_t i;

	if (!s->dict || 2 * (s->nblk + 1) > s->dmask + 1) {
		uint64_t n = s->dict ? 2 * (s->dmask + 1) : 4096;
		uint32_t *nd = calloc(n, sizeof(*nd));

		if (!nd)
			return -ENOMEM;
		for (size_t id = 0; id < s->nblk; id++) {
			for (i = fx_blk_hash(s->blk[id].obj, s->blk[id].index) & (n - 1); nd[i];
			     i = (i + 1) & (n - 1))
				;
			nd[i] = (uint32_t)id + 1;
		}
		free(s->dict);
		s->dict = nd;
		s->dmask = n - 1;
	}
	for (i = fx_blk_hash(obj, index) & s->dmask; s->dict[i]; i = (i + 1) & s->dmask) {
		const struct fx_sim_blk *b = &s->blk[s->dict[i] - 1];

		if (b->obj == obj && b->index == index)
			return s->dict[i] - 1;
	}
	if (s->nblk >= UINT32_MAX - 1)
		return -EFBIG;
	if (fx_grow((void **)&s->blk, &s->blk_cap, s->nblk + 1, sizeof(*s->blk)) < 0)
		return -ENOMEM;
	s->blk[s->nblk] = (struct fx_sim_blk){obj, index, fx_sim_charge(s, index, size)};
	s->dict[i] = (uint32_t)s->nblk + 1;
	return (int64_t)s->nblk++;
}

int fx_sim_add(struct fx_sim *s, const struct fx_trace_req *req)
{
	struct fx_trace_req r = *req;
	uint64_t first, last;
	int64_t id;

	if (s->ran)
		return -EBUSY;
	if (!r.obj)
		r.obj = UINT64_MAX; /* as the trace readers do: 0 is "unknown" */
	if (r.op != FX_TRACE_OPEN) {
		if (!r.len)
			return 0;
		if (r.off + r.len < r.off)
			return -EINVAL;
		first = r.off / s->bs;
		last = (r.off + r.len - 1) / s->bs;
		if (last - first >= FX_SIM_REQ_BLOCKS_MAX)
			return -EFBIG;
		if (fx_grow((void **)&s->acc, &s->acc_cap, s->nacc + (last - first + 1),
			    sizeof(*s->acc)) < 0)
			return -ENOMEM;
		for (uint64_t b = first; b <= last; b++) {
			size_t before = s->nblk;

			if ((id = fx_sim_block_id(s, r.obj, b, r.size)) < 0)
				return (int)id;
			if (s->nblk != before)
				s->footprint += s->blk[id].size;
			s->acc[s->nacc++] = (uint32_t)id;
		}
		if (!s->requests)
			s->t_first = r.time_us;
		else if (r.time_us != s->t_first)
			s->timed = true;
		s->requests++;
		s->trace_blocks = s->nblk;
	}
	if (fx_grow((void **)&s->req, &s->req_cap, s->nreq + 1, sizeof(*s->req)) < 0)
		return -ENOMEM;
	s->req[s->nreq++] = r;
	return 0;
}

int fx_sim_load(struct fx_sim *s, struct fx_trace_reader *r)
{
	struct fx_trace_req req;
	int ret;

	while ((ret = fx_trace_next(r, &req)) == 1)
		if ((ret = fx_sim_add(s, &req)) < 0)
			return ret;
	return ret;
}

uint64_t fx_sim_requests(const struct fx_sim *s)
{
	return s->requests;
}

uint64_t fx_sim_unique_blocks(const struct fx_sim *s)
{
	return s->trace_blocks;
}

uint64_t fx_sim_footprint(const struct fx_sim *s)
{
	return s->footprint;
}

uint32_t fx_sim_block_size(const struct fx_sim *s)
{
	return s->bs;
}

int fx_sim_parse_size(const char *text, uint64_t footprint, uint64_t *out)
{
	size_t n = text ? strlen(text) : 0;
	uint64_t v;
	int ret;

	if (!n)
		return -EINVAL;
	if (text[n - 1] == '%') {
		char *end;
		double pct;

		if (!((text[0] >= '0' && text[0] <= '9') || text[0] == '.'))
			return -EINVAL;
		pct = strtod(text, &end);
		if (end != text + n - 1 || !(pct > 0) || pct > 1e6)
			return -EINVAL;
		v = (uint64_t)((double)footprint * pct / 100.0);
	} else if ((ret = fx_parse_size(text, &v)) < 0) {
		return ret;
	}
	*out = v ? v : 1;
	return 0;
}

/* Belady's pre-pass: for every access, where its block is accessed next. */
static int fx_sim_next_use(struct fx_sim *s)
{
	uint64_t *last;

	if (s->next_use)
		return 0;
	s->next_use = malloc((s->nacc ? s->nacc : 1) * sizeof(*s->next_use));
	last = malloc((s->trace_blocks ? s->trace_blocks : 1) * sizeof(*last));
	if (!s->next_use || !last) {
		free(s->next_use);
		free(last);
		s->next_use = NULL;
		return -ENOMEM;
	}
	for (size_t id = 0; id < s->trace_blocks; id++)
		last[id] = FX_SIM_INF;
	for (size_t k = s->nacc; k-- > 0;) {
		s->next_use[k] = last[s->acc[k]];
		last[s->acc[k]] = k;
	}
	s->first_use = last;
	return 0;
}

/* ================================================================ a run */

/* A simulated cached block; cb.hnext chains free ones. */
struct fx_sim_block {
	struct fx_cblock cb;
	uint32_t id;   /* in the dictionary */
	uint32_t heap; /* belady: position in its heap */
};

/* What a run knows of one object: its size (for prefetch not to run past
 * its end) and its sequential detector (fx_readahead_note's state). */
struct fx_sim_obj {
	uint64_t obj;  /* 0: free slot */
	uint64_t size; /* last size a request gave; 0 unknown */
	uint64_t next_off, window, ra_end;
};

struct fx_sim_pending {
	uint64_t obj, index;
};

struct fx_run {
	struct fx_sim *s;
	const struct fx_sim_opts *o;
	struct fx_policy *pol;
	bool belady;
	struct fx_sim_block **where; /* [id]: cached block, or NULL */
	uint64_t *next_pos;	     /* belady, [id]: next access position (INF: none) */
	size_t ids_cap;
	struct fx_sim_block *free_blocks;
	struct fx_sim_block **chunks;
	size_t nchunks, chunks_cap;
	uint64_t used, capacity, readahead_max;
	uint64_t now_ms;
	struct fx_sim_obj *objs; /* open addressing on obj; with prefetch only */
	uint64_t objs_mask, objs_used;
	struct fx_sim_pending *pend; /* snn predictions of the current request */
	unsigned npend, pend_max;
	struct fx_predictor *pred; /* policy or prefetch snn; else NULL */
	struct fx_sim_result res;
};

/* Room for ids below s->nblk in the per-id arrays. */
static int fx_run_reserve(struct fx_run *run)
{
	size_t old = run->ids_cap, need = run->s->nblk, cap = old;
	void *w, *np;

	if (need <= old)
		return 0;
	if (!cap)
		cap = 1024;
	while (cap < need)
		cap *= 2;
	if (!(w = realloc(run->where, cap * sizeof(*run->where))))
		return -ENOMEM;
	run->where = w;
	if (run->belady) {
		if (!(np = realloc(run->next_pos, cap * sizeof(*run->next_pos))))
			return -ENOMEM;
		run->next_pos = np;
		for (size_t id = old; id < cap; id++)
			run->next_pos[id] =
			    id < run->s->trace_blocks ? run->s->first_use[id] : FX_SIM_INF;
	}
	memset(run->where + old, 0, (cap - old) * sizeof(*run->where));
	run->ids_cap = cap;
	return 0;
}

static struct fx_sim_block *fx_run_alloc(struct fx_run *run)
{
	struct fx_sim_block *b = run->free_blocks, *chunk;

	if (b) {
		run->free_blocks = (struct fx_sim_block *)b->cb.hnext;
		return b;
	}
	if (fx_grow((void **)&run->chunks, &run->chunks_cap, run->nchunks + 1,
		    sizeof(*run->chunks)) < 0 ||
	    !(chunk = calloc(FX_SIM_CHUNK, sizeof(*chunk))))
		return NULL;
	run->chunks[run->nchunks++] = chunk;
	for (unsigned i = 1; i < FX_SIM_CHUNK; i++) {
		chunk[i].cb.hnext = run->free_blocks ? &run->free_blocks->cb : NULL;
		run->free_blocks = &chunk[i];
	}
	return &chunk[0];
}

/* The policy gave up @b: forget it, as the store's fx_make_room does. */
static void fx_run_drop(struct fx_run *run, struct fx_sim_block *b)
{
	run->res.evictions++;
	if (b->cb.flags & FX_CB_PREFETCHED)
		run->res.prefetch_wasted++;
	run->where[b->id] = NULL;
	run->used -= b->cb.size;
	b->cb.hnext = &run->free_blocks->cb;
	run->free_blocks = b;
}

/* Evict until block @id fits, then insert it with @flags.
 * @return 1 inserted, 0 it does not fit, -ENOMEM. */
static int fx_run_insert(struct fx_run *run, uint32_t id, uint32_t flags)
{
	const struct fx_sim_blk *d = &run->s->blk[id];
	struct fx_sim_block *b;

	while (run->used + d->size > run->capacity) {
		struct fx_cblock *victim = fx_policy_evict(run->pol);

		if (!victim)
			return 0;
		fx_run_drop(run, (struct fx_sim_block *)victim);
	}
	if (!(b = fx_run_alloc(run)))
		return -ENOMEM;
	memset(&b->cb, 0, sizeof(b->cb));
	memcpy(b->cb.id, &d->obj, sizeof(d->obj));
	memcpy(b->cb.id + sizeof(d->obj), &d->index, sizeof(d->index));
	b->cb.size = d->size;
	b->cb.flags = flags;
	b->cb.obj = d->obj;
	b->cb.index = d->index;
	b->cb.atime_ms = b->cb.ctime_ms = run->now_ms;
	b->id = id;
	run->where[id] = b;
	run->used += d->size;
	fx_policy_insert(run->pol, &b->cb);
	if (run->belady && !b->cb.queue)
		return -ENOMEM; /* its heap could not grow */
	return 1;
}

/* One block access at position @pos. @return 1 hit, 0 miss, -ENOMEM. */
static int fx_run_access(struct fx_run *run, uint64_t pos, bool write)
{
	uint32_t id = run->s->acc[pos];
	struct fx_sim_block *b = run->where[id];
	int ret;

	if (run->belady)
		run->next_pos[id] = run->s->next_use[pos];
	if (!b) {
		ret = fx_run_insert(run, id, 0);
		return ret < 0 ? ret : 0;
	}
	if (b->cb.flags & FX_CB_PREFETCHED) {
		if (write) {
			run->res.prefetch_wasted++;
		} else {
			run->res.prefetch_used++;
			run->res.prefetch_hits++;
		}
		b->cb.flags &= ~(FX_CB_PREFETCHED | FX_CB_PREDICTED);
	}
	b->cb.count++;
	b->cb.atime_ms = run->now_ms;
	fx_policy_hit(run->pol, &b->cb);
	return 1;
}

/* Prefetch block @index of @obj (@size bytes; 0 unknown) with @flags.
 * @return 0 or -errno. */
static int fx_run_prefetch(struct fx_run *run, uint64_t obj, uint64_t index, uint64_t size,
			   uint32_t flags)
{
	int64_t id;
	int ret;

	if (size && index * run->s->bs >= size)
		return 0;
	if ((id = fx_sim_block_id(run->s, obj, index, size)) < 0)
		return (int)id;
	if ((ret = fx_run_reserve(run)) < 0)
		return ret;
	if (run->where[id])
		return 0;
	if ((ret = fx_run_insert(run, (uint32_t)id, flags)) < 0)
		return ret;
	run->res.prefetch_issued += (uint64_t)ret;
	return 0;
}

/* The record of @obj (made empty when new); NULL on ENOMEM. */
static struct fx_sim_obj *fx_run_obj(struct fx_run *run, uint64_t obj)
{
	uint64_t i;

	if (!run->objs || 2 * (run->objs_used + 1) > run->objs_mask + 1) {
		uint64_t n = run->objs ? 2 * (run->objs_mask + 1) : 256;
		struct fx_sim_obj *ns = calloc(n, sizeof(*ns));

		if (!ns)
			return NULL;
		for (uint64_t j = 0; run->objs && j <= run->objs_mask; j++) {
			if (!run->objs[j].obj)
				continue;
			for (i = fx_mix64(run->objs[j].obj) & (n - 1); ns[i].obj;
			     i = (i + 1) & (n - 1))
				;
			ns[i] = run->objs[j];
		}
		free(run->objs);
		run->objs = ns;
		run->objs_mask = n - 1;
	}
	for (i = fx_mix64(obj) & run->objs_mask; run->objs[i].obj; i = (i + 1) & run->objs_mask)
		if (run->objs[i].obj == obj)
			return &run->objs[i];
	run->objs[i].obj = obj;
	run->objs_used++;
	return &run->objs[i];
}

/* fx_readahead_note on a simulated cache: same window rules, prefetch at once. */
static int fx_run_seq_note(struct fx_run *run, const struct fx_trace_req *r, struct fx_sim_obj *ra)
{
	uint64_t bs = run->s->bs, from = 0, to = 0, slack;
	int ret;

	if (!run->readahead_max)
		return 0;
	slack = ra->window > 2 * bs ? ra->window : 2 * bs;
	if (fx_sat_add(r->off, slack) >= ra->next_off &&
	    r->off <= fx_sat_add(ra->next_off, slack)) {
		uint64_t w = ra->window ? ra->window * 2 : 2 * bs;

		ra->window = w < run->readahead_max ? w : run->readahead_max;
	} else {
		ra->window = 0;
		ra->ra_end = 0;
	}
	if (r->off + r->len > ra->next_off || !ra->window)
		ra->next_off = r->off + r->len;
	if (!ra->window)
		return 0;
	from = ra->next_off > ra->ra_end ? ra->next_off : ra->ra_end;
	to = fx_sat_add(ra->next_off, ra->window);
	if (ra->size && to > ra->size)
		to = ra->size;
	if (to <= from)
		return 0;
	ra->ra_end = to > UINT64_MAX - bs ? UINT64_MAX : (to + bs - 1) / bs * bs;
	for (uint64_t b = from / bs; b <= (to - 1) / bs; b++)
		if ((ret = fx_run_prefetch(run, r->obj, b, ra->size, FX_CB_PREFETCHED)) < 0)
			return ret;
	return 0;
}

static float fx_run_activity(void *arg, const struct fx_cblock *b)
{
	struct fx_run *run = arg;

	return fx_predict_activity(run->pred, b->obj, b->index, run->now_ms);
}

/* Tell the predictor of a read of block @index of @obj; keep what it
 * predicts (most confident first) while the request's budget lasts. */
static void fx_run_predict(struct fx_run *run, uint64_t obj, uint64_t index)
{
	struct fx_prediction p[FX_SIM_PREDICT_PER_BLOCK];
	int n = fx_predict_access(run->pred, obj, index, run->now_ms, p, FX_SIM_PREDICT_PER_BLOCK);

	if (run->o->prefetch != FX_SIM_PREFETCH_SNN)
		return;
	for (int i = 0; i < n && run->npend < run->pend_max; i++)
		for (uint64_t b = p[i].first_block;
		     b < p[i].first_block + p[i].nblocks && run->npend < run->pend_max; b++) {
			unsigned j;

			for (j = 0; j < run->npend; j++)
				if (run->pend[j].obj == p[i].obj && run->pend[j].index == b)
					break;
			if (j == run->npend)
				run->pend[run->npend++] = (struct fx_sim_pending){p[i].obj, b};
		}
}

/* ---------------------------------------------------------------- belady */

/*
 * Belady's MIN: evict the cached block whose next access is furthest away
 * (never: furthest of all). A max-heap on fx_run.next_pos of the block's
 * id; the run updates next_pos before telling the policy of an access, so
 * a key only ever grows at a hit, and the block rises toward the top.
 */
struct fx_belady {
	struct fx_run *run;
	struct fx_sim_block **heap;
	size_t n, cap;
};

static uint64_t fx_belady_key(const struct fx_belady *h, size_t i)
{
	return h->run->next_pos[h->heap[i]->id];
}

static void fx_belady_set(struct fx_belady *h, size_t i, struct fx_sim_block *b)
{
	h->heap[i] = b;
	b->heap = (uint32_t)i;
}

static void fx_belady_up(struct fx_belady *h, size_t i)
{
	struct fx_sim_block *b = h->heap[i];
	uint64_t key = h->run->next_pos[b->id];

	while (i > 0 && fx_belady_key(h, (i - 1) / 2) < key) {
		fx_belady_set(h, i, h->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	fx_belady_set(h, i, b);
}

static void fx_belady_down(struct fx_belady *h, size_t i)
{
	struct fx_sim_block *b = h->heap[i];
	uint64_t key = h->run->next_pos[b->id];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && fx_belady_key(h, c + 1) > fx_belady_key(h, c))
			c++;
		if (fx_belady_key(h, c) <= key)
			break;
		fx_belady_set(h, i, h->heap[c]);
		i = c;
	}
	fx_belady_set(h, i, b);
}

static void *fx_belady_new(const struct fx_policy_env *env)
{
	struct fx_belady *h = calloc(1, sizeof(*h));

	if (h)
		h->run = env->arg;
	return h;
}

static void fx_belady_free(void *state)
{
	struct fx_belady *h = state;

	free(h->heap);
	free(h);
}

static void fx_belady_insert(void *state, struct fx_cblock *cb)
{
	struct fx_belady *h = state;
	struct fx_sim_block *b = (struct fx_sim_block *)cb;

	/* Out of memory: cb.queue stays 0, which fx_run_insert checks. */
	if (fx_grow((void **)&h->heap, &h->cap, h->n + 1, sizeof(*h->heap)) < 0)
		return;
	cb->queue = 1;
	h->heap[h->n] = b;
	fx_belady_up(h, h->n++);
}

static void fx_belady_hit(void *state, struct fx_cblock *cb)
{
	struct fx_belady *h = state;
	struct fx_sim_block *b = (struct fx_sim_block *)cb;

	if (cb->queue)
		fx_belady_up(h, b->heap);
}

static void fx_belady_take(struct fx_belady *h, size_t i)
{
	h->heap[i]->cb.queue = 0;
	if (--h->n == i)
		return;
	fx_belady_set(h, i, h->heap[h->n]);
	fx_belady_down(h, i);
	fx_belady_up(h, h->heap[i]->heap);
}

static void fx_belady_remove(void *state, struct fx_cblock *cb)
{
	struct fx_belady *h = state;

	if (cb->queue)
		fx_belady_take(h, ((struct fx_sim_block *)cb)->heap);
}

static struct fx_cblock *fx_belady_evict(void *state)
{
	struct fx_belady *h = state;
	struct fx_sim_block *b;

	if (!h->n)
		return NULL;
	b = h->heap[0];
	fx_belady_take(h, 0);
	return &b->cb;
}

static const struct fx_policy_ops fx_belady_ops = {
    .name = FX_SIM_BELADY,
    .new = fx_belady_new,
    .free = fx_belady_free,
    .insert = fx_belady_insert,
    .hit = fx_belady_hit,
    .remove = fx_belady_remove,
    .evict = fx_belady_evict,
    .tick = NULL,
};

/* ---------------------------------------------------------------- run */

bool fx_sim_policy_known(const char *policy)
{
	return policy && (strcmp(policy, FX_SIM_BELADY) == 0 || fx_policy_find(policy));
}

static double fx_mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fx_run_destroy(struct fx_run *run)
{
	fx_policy_free(run->pol);
	for (size_t i = 0; i < run->nchunks; i++)
		free(run->chunks[i]);
	free(run->chunks);
	free(run->where);
	free(run->next_pos);
	free(run->objs);
	free(run->pend);
	fx_predict_free(run->pred);
}

/* Set up @run for @o. @return 0 or -errno with @d filled. */
static int fx_run_init(struct fx_run *run, struct fx_sim *s, const struct fx_sim_opts *o,
		       struct fx_diag *d)
{
	struct fx_policy_env env = {.capacity = o->capacity};
	const struct fx_policy_ops *ops;

	memset(run, 0, sizeof(*run));
	run->s = s;
	run->o = o;
	run->capacity = o->capacity;
	if (!o->capacity) {
		fx_diag_set(d, -FX_EUSAGE, "give a size such as 512M or 5%", "cache size is 0");
		return -FX_EUSAGE;
	}
	run->belady = o->policy && strcmp(o->policy, FX_SIM_BELADY) == 0;
	ops = run->belady ? &fx_belady_ops : fx_policy_find(o->policy);
	if (!ops) {
		char hint[256];

		snprintf(hint, sizeof(hint), "policies: %s, " FX_SIM_BELADY, fx_policy_names());
		fx_diag_set(d, -FX_EUSAGE, hint, "unknown policy '%s'", o->policy ? o->policy : "");
		return -FX_EUSAGE;
	}
	/* The policy reads the predictor's activity; prefetch its predictions. */
	if (o->prefetch == FX_SIM_PREFETCH_SNN || strcmp(ops->name, "snn") == 0) {
		struct fx_predict_opts po;

		fx_predict_opts_default(&po);
		if (o->seed)
			po.seed = o->seed;
		if (!(run->pred = fx_predict_new(&po)))
			goto nomem;
		env.activity = fx_run_activity;
		env.arg = run;
	}
	if (run->belady) {
		if (fx_sim_next_use(s) < 0)
			goto nomem;
		env.arg = run;
	}
	run->readahead_max = 0;
	if (o->prefetch != FX_SIM_PREFETCH_OFF) { /* snn keeps the sequential detector */
		run->readahead_max = o->readahead_max;
		if (!run->readahead_max) {
			run->readahead_max = FX_SIM_READAHEAD_DEFAULT;
			if (run->readahead_max > o->capacity / 4)
				run->readahead_max = o->capacity / 4;
		}
	}
	run->pend_max = o->prefetch_max ? o->prefetch_max : FX_SIM_PREFETCH_MAX_DEFAULT;
	if (!(run->pend = calloc(run->pend_max, sizeof(*run->pend))))
		goto nomem;
	if (fx_run_reserve(run) < 0 || !(run->pol = fx_policy_new(ops, &env)))
		goto nomem;
	return 0;
nomem:
	fx_diag_set(d, -ENOMEM, NULL, "out of memory");
	return -ENOMEM;
}

/* Run one request @r whose blocks start at access position @pos. */
static int fx_run_request(struct fx_run *run, const struct fx_trace_req *r, uint64_t pos)
{
	uint64_t bs = run->s->bs, first = r->off / bs, last = (r->off + r->len - 1) / bs;
	bool write = r->op == FX_TRACE_WRITE, missed = false;
	struct fx_sim_obj *ob;
	int ret;

	run->res.requests++;
	run->res.write_requests += write;
	run->res.bytes += r->len;
	run->npend = 0;
	for (uint64_t b = first; b <= last; b++, pos++) {
		/* The request's bytes in block b: [lo, hi], inclusive, so that a
		 * block ending at 2^64 does not wrap. */
		uint64_t lo = b * bs > r->off ? b * bs : r->off;
		uint64_t hi = fx_sat_add(b * bs, bs - 1) < r->off + r->len - 1
				  ? b * bs + bs - 1
				  : r->off + r->len - 1;

		if ((ret = fx_run_access(run, pos, write)) < 0)
			return ret;
		run->res.blocks++;
		if (!ret) {
			missed = true;
			run->res.block_misses++;
			run->res.byte_misses += hi - lo + 1;
		}
		if (run->pred && !write)
			fx_run_predict(run, r->obj, b);
	}
	run->res.request_misses += missed;
	if (write || run->o->prefetch == FX_SIM_PREFETCH_OFF)
		return 0;
	if (!(ob = fx_run_obj(run, r->obj)))
		return -ENOMEM;
	if (r->size)
		ob->size = r->size;
	if (run->o->prefetch != FX_SIM_PREFETCH_OFF && (ret = fx_run_seq_note(run, r, ob)) < 0)
		return ret;
	for (unsigned i = 0; i < run->npend; i++) {
		const struct fx_sim_pending *p = &run->pend[i];

		if (!(ob = fx_run_obj(run, p->obj)))
			return -ENOMEM;
		if ((ret = fx_run_prefetch(run, p->obj, p->index, ob->size,
					   FX_CB_PREFETCHED | FX_CB_PREDICTED)) < 0)
			return ret;
	}
	return 0;
}

int fx_sim_run(struct fx_sim *s, const struct fx_sim_opts *o, struct fx_sim_result *out,
	       struct fx_diag *d)
{
	struct fx_run run;
	uint64_t pos = 0, last_tick = 0, since_tick = 0, n = 0;
	double t0;
	int ret;

	s->ran = true;
	if ((ret = fx_run_init(&run, s, o, d)) < 0)
		goto out;
	t0 = fx_mono_s();
	for (size_t i = 0; i < s->nreq; i++) {
		const struct fx_trace_req *r = &s->req[i];
		struct fx_sim_obj *ob;
		uint64_t now;

		if (r->op == FX_TRACE_OPEN) {
			/* A new open file: the mount's detector starts afresh. */
			if (o->prefetch != FX_SIM_PREFETCH_OFF && (ob = fx_run_obj(&run, r->obj))) {
				ob->next_off = ob->window = ob->ra_end = 0;
				if (r->size)
					ob->size = r->size;
			}
			continue;
		}
		now =
		    s->timed ? (r->time_us > s->t_first ? (r->time_us - s->t_first) / 1000 : 0) : n;
		if (now > run.now_ms)
			run.now_ms = now;
		if ((ret = fx_run_request(&run, r, pos)) < 0) {
			fx_diag_set(d, ret, NULL, "simulation failed (%s)", fx_strerror(ret));
			goto out;
		}
		pos += (r->off + r->len - 1) / s->bs - r->off / s->bs + 1;
		n++;
		if (run.now_ms >= last_tick + FX_SIM_TICK_MS ||
		    ++since_tick >= FX_SIM_TICK_REQUESTS) {
			fx_policy_tick(run.pol, run.now_ms);
			last_tick = run.now_ms;
			since_tick = 0;
		}
	}
	assert(pos == s->nacc);
	run.res.seconds = fx_mono_s() - t0;
	for (size_t id = 0; id < s->nblk && id < run.ids_cap; id++)
		if (run.where[id] && (run.where[id]->cb.flags & FX_CB_PREFETCHED))
			run.res.prefetch_unused++;
	run.res.capacity = o->capacity;
	run.res.footprint = s->footprint;
	*out = run.res;
	ret = 0;
out:
	fx_run_destroy(&run);
	return ret;
}
