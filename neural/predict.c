/*
 * predict.c - the access predictor on top of the spiking network (see
 * predict.h).
 *
 * Owns: the (object, region) -> neuron hash, the per-neuron region slots
 * (one packed array, FX_PREDICT_SLOTS per neuron), the de-duplication of reads
 * within a region, turning propagated spikes into predictions, the LRU table
 * of opaque object records, the model clock and the counters.
 * Does not own: the network's dynamics (snn.c), persistence (model.c),
 * fetching or locking (cache/).
 */
#include "neural/predict.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "neural/predict_i.h"

#define FX_PREDICT_FANOUT	16u
#define FX_PREDICT_OBJECT_BYTES (3u << 20)
#define FX_PREDICT_MAX_SPIKES	64u /* spikes asked of one fire */
#define FX_PREDICT_MAX_CAND	(FX_PREDICT_MAX_SPIKES * FX_PREDICT_SLOTS)

struct fx_predict_object {
	struct fx_predict_object *hnext;	 /* hash chain */
	struct fx_predict_object *newer, *older; /* LRU list */
	uint64_t obj;
	uint32_t len;
	unsigned char rec[];
};

/* What a neuron stood for: blocks [first, first + nblocks) of obj (0: empty).
 * Packed (20 bytes) and one record, not three arrays: each is read at
 * random, once per predicted spike. */
struct fx_predict_slot {
	uint64_t obj;
	uint64_t first;
	uint32_t nblocks;
} __attribute__((packed));

struct fx_predictor {
	struct fx_predict_opts o;
	struct fx_snn *snn;

	/* [neurons * FX_PREDICT_SLOTS], neuron i's at i * FX_PREDICT_SLOTS, newest first */
	struct fx_predict_slot *slot;

	/* model time = caller's time - offset, once resumed */
	double offset;
	bool resumed;

	struct fx_predict_counters c;
	float inv_wmax_pow[FX_PREDICT_MAX_DEPTH + 1]; /* w_max^-d: path strength -> confidence */

	/* object records: chained hash plus LRU list */
	struct fx_predict_object **buckets;
	unsigned bucket_bits;
	struct fx_predict_object *newest, *oldest;
	size_t n_objects, object_bytes;

	struct fx_snn_spike spikes[FX_PREDICT_MAX_SPIKES];
	struct fx_prediction cand[FX_PREDICT_MAX_CAND];
};

void fx_predict_opts_default(struct fx_predict_opts *o)
{
	*o = (struct fx_predict_opts){
	    .neurons = 65536,
	    .region_blocks = 4,
	    .window_ms = 500.0f,
	    .depth = 4,
	    .max_objects = 16384,
	    .seed = FX_PREDICT_SEED,
	    .max_object_bytes = FX_PREDICT_OBJECT_BYTES,
	};
}

/* The network's parameters for window @w (documented in predict.h). */
static void fx_predict_snn_params(float w, struct fx_snn_params *p)
{
	fx_snn_params_default(p);
	p->tau_m = w;
	p->threshold = 1.0f;
	p->v_reset = 0.0f;
	p->refractory = 0.0f;
	p->fanout = FX_PREDICT_FANOUT;
	p->rule = FX_SNN_STDP;
	p->a_plus = 1.5f;
	p->a_minus = 0.5f;
	p->tau_plus = w / 2;
	p->tau_minus = w / 2;
	p->w_min = 0.0f;
	p->w_max = 4.0f;
	p->decay_ms = 24.0f * 3600 * 1000;
	p->window_ms = w;
	p->a_hetero = 0.45f;
}

struct fx_predictor *fx_predict_new(const struct fx_predict_opts *o)
{
	struct fx_predictor *p;
	struct fx_snn_params sp;
	size_t slots;

	if (!o || o->neurons == 0 || o->neurons > FX_SNN_MAX_NEURONS || o->region_blocks == 0 ||
	    !isfinite(o->window_ms) || o->window_ms <= 0 || o->depth > FX_PREDICT_MAX_DEPTH ||
	    o->max_objects == 0 || o->max_objects > (1u << 24) ||
	    (o->max_object_bytes &&
	     o->max_object_bytes < FX_PREDICT_OBJECT_MAX + FX_PREDICT_OBJECT_OVERHEAD)) {
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		goto out_nomem;
	p->o = *o;
	if (!p->o.max_object_bytes)
		p->o.max_object_bytes = FX_PREDICT_OBJECT_BYTES;
	fx_predict_snn_params(o->window_ms, &sp);
	p->snn = fx_snn_new_with(o->neurons, &sp, o->seed);
	slots = (size_t)o->neurons * FX_PREDICT_SLOTS;
	p->slot = calloc(slots, sizeof(*p->slot));
	for (unsigned d = 0; d <= FX_PREDICT_MAX_DEPTH; d++)
		p->inv_wmax_pow[d] = (float)pow(sp.w_max, -(double)d);
	p->bucket_bits = 4;
	while ((1u << p->bucket_bits) < o->max_objects)
		p->bucket_bits++;
	p->buckets = calloc((size_t)1 << p->bucket_bits, sizeof(*p->buckets));
	if (!p->snn || !p->slot || !p->buckets)
		goto out_free;
	return p;

out_free:
	fx_predict_free(p);
out_nomem:
	errno = ENOMEM;
	return NULL;
}

void fx_predict_free(struct fx_predictor *p)
{
	if (!p)
		return;
	for (struct fx_predict_object *r = p->newest, *next; r; r = next) {
		next = r->older;
		free(r);
	}
	free(p->buckets);
	free(p->slot);
	fx_snn_free(p->snn);
	free(p);
}

const struct fx_predict_opts *fx_predict_opts(const struct fx_predictor *p)
{
	return p ? &p->o : NULL;
}

struct fx_snn *fx_predict_snn(struct fx_predictor *p)
{
	return p ? p->snn : NULL;
}

void fx_predict_counters(const struct fx_predictor *p, struct fx_predict_counters *out)
{
	if (p && out)
		*out = p->c;
}

void fx_predict_set_counters(struct fx_predictor *p, const struct fx_predict_counters *c)
{
	if (p && c)
		p->c = *c;
}

size_t fx_predict_memory(const struct fx_predictor *p)
{
	if (!p)
		return 0;
	return sizeof(*p) + fx_snn_memory(p->snn) +
	       (size_t)p->o.neurons * FX_PREDICT_SLOTS * sizeof(*p->slot) +
	       ((size_t)1 << p->bucket_bits) * sizeof(*p->buckets) + p->object_bytes;
}

/* ------------------------------------------------------------ clock */

void fx_predict_resume(struct fx_predictor *p, uint64_t now_ms)
{
	if (!p)
		return;
	p->offset = (double)now_ms - fx_snn_clock(p->snn);
	p->resumed = true;
}

double fx_predict_clock(const struct fx_predictor *p)
{
	return p ? fx_snn_clock(p->snn) : 0.0;
}

void fx_predict_set_clock(struct fx_predictor *p, double t)
{
	if (!p)
		return;
	fx_snn_set_clock(p->snn, t);
	p->resumed = false;
}

/* Model time of the caller's @now_ms; never before the model clock. */
static double fx_predict_time(struct fx_predictor *p, uint64_t now_ms)
{
	double clock = fx_snn_clock(p->snn), t;

	if (!p->resumed)
		fx_predict_resume(p, now_ms);
	t = (double)now_ms - p->offset;
	return t > clock ? t : clock;
}

/* ------------------------------------------------------------ regions */

static void fx_le64(unsigned char *b, uint64_t x)
{
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(x >> (8 * i));
}

static uint32_t fx_predict_hash(const struct fx_predictor *p, uint64_t obj, uint64_t region)
{
	unsigned char key[16];
	uint64_t h;

	fx_le64(key, obj);
	fx_le64(key + 8, region);
	h = XXH3_64bits_withSeed(key, sizeof(key), p->o.seed);
	return (uint32_t)(((unsigned __int128)h * p->o.neurons) >> 64);
}

uint32_t fx_predict_neuron(const struct fx_predictor *p, uint64_t obj, uint64_t block)
{
	return p ? fx_predict_hash(p, obj, block / p->o.region_blocks) : 0;
}

/* Does slot @i hold the region of @obj that starts at block @lo? */
static bool fx_predict_slot_is(const struct fx_predictor *p, size_t i, uint64_t obj, uint64_t lo)
{
	return p->slot[i].obj == obj && obj && p->slot[i].first - lo < p->o.region_blocks;
}

static void fx_predict_slot_fill(const struct fx_predictor *p, size_t i, struct fx_prediction *out)
{
	*out = (struct fx_prediction){.obj = p->slot[i].obj,
				      .first_block = p->slot[i].first,
				      .nblocks = p->slot[i].nblocks,
				      .depth = 0,
				      .confidence = 1.0f};
}

int fx_predict_slot(const struct fx_predictor *p, uint32_t neuron, unsigned slot,
		    struct fx_prediction *out)
{
	size_t i;

	if (!p || !out || neuron >= p->o.neurons || slot >= FX_PREDICT_SLOTS)
		return 0;
	i = (size_t)neuron * FX_PREDICT_SLOTS + slot;
	if (!p->slot[i].obj)
		return 0;
	fx_predict_slot_fill(p, i, out);
	return 1;
}

int fx_predict_region(const struct fx_predictor *p, uint32_t neuron, struct fx_prediction *out)
{
	return fx_predict_slot(p, neuron, 0, out);
}

int fx_predict_set_slot(struct fx_predictor *p, uint32_t neuron, unsigned slot, uint64_t obj,
			uint64_t first, uint32_t nblocks)
{
	size_t i;
	uint64_t rb;

	if (!p || neuron >= p->o.neurons || slot >= FX_PREDICT_SLOTS || !obj || !nblocks)
		return -EINVAL;
	rb = p->o.region_blocks;
	if (first + nblocks - 1 < first || first / rb != (first + nblocks - 1) / rb ||
	    fx_predict_hash(p, obj, first / rb) != neuron)
		return -EINVAL;
	i = (size_t)neuron * FX_PREDICT_SLOTS + slot;
	p->slot[i] = (struct fx_predict_slot){obj, first, nblocks};
	return 0;
}

/*
 * Record that @neuron now stands for @block of @obj (its region starts at
 * block @lo): the slot of that region (or the oldest slot, refilled) moves
 * to slot 0 and its block range grows to cover @block.
 * @return whether slot 0 already stood for that region.
 */
static bool fx_predict_note(struct fx_predictor *p, uint32_t neuron, uint64_t obj, uint64_t lo,
			    uint64_t block)
{
	size_t i = (size_t)neuron * FX_PREDICT_SLOTS;
	struct fx_predict_slot *slot = p->slot + i, x;
	unsigned k = 0;
	bool found;
	uint64_t end;

	while (k < FX_PREDICT_SLOTS && !fx_predict_slot_is(p, i + k, obj, lo))
		k++;
	found = k < FX_PREDICT_SLOTS;
	if (found) {
		x = slot[k];
	} else {
		x = (struct fx_predict_slot){obj, block, 1};
		k--; /* the oldest slot makes room */
	}
	end = x.first + x.nblocks;
	if (block < x.first)
		x.first = block;
	if (block >= end)
		end = block + 1;
	x.nblocks = (uint32_t)(end - x.first);
	memmove(slot + 1, slot, k * sizeof(*slot));
	slot[0] = x;
	return found && k == 0;
}

/* ------------------------------------------------------------ access */

static bool fx_predict_before(const struct fx_prediction *x, const struct fx_prediction *y)
{
	if (x->confidence != y->confidence)
		return x->confidence > y->confidence;
	if (x->depth != y->depth)
		return x->depth < y->depth;
	if (x->obj != y->obj)
		return x->obj < y->obj;
	return x->first_block < y->first_block;
}

/*
 * Insert @x into p->cand[0..*n), best first, keeping at most @k. No two
 * candidates name one region: a region only ever sits in the slots of the
 * one neuron it hashes to, and each spike names each neuron once.
 */
static void fx_predict_insert(struct fx_predictor *p, size_t *n, size_t k,
			      const struct fx_prediction *x)
{
	size_t i = *n;

	if (i == k) {
		if (!k || !fx_predict_before(x, &p->cand[k - 1]))
			return;
		i--;
	} else {
		(*n)++;
	}
	for (; i > 0 && fx_predict_before(x, &p->cand[i - 1]); i--)
		p->cand[i] = p->cand[i - 1];
	p->cand[i] = *x;
}

int fx_predict_access(struct fx_predictor *p, uint64_t obj, uint64_t block, uint64_t now_ms,
		      struct fx_prediction *out, size_t max)
{
	uint64_t region, lo;
	uint32_t neuron;
	double t;
	int n_spikes;
	size_t n = 0, k;

	if (!p || !obj || (!out && max))
		return -EINVAL;
	t = fx_predict_time(p, now_ms);
	p->c.accesses++;
	region = block / p->o.region_blocks;
	lo = region * p->o.region_blocks;
	neuron = fx_predict_hash(p, obj, region);
	if (fx_predict_note(p, neuron, obj, lo, block) &&
	    t - fx_snn_last_spike(p->snn, neuron) < p->o.window_ms)
		return 0;

	/* The best k predictions come from the best k spikes (a neuron's older
	 * region ranks below its newer one), plus room for the region just
	 * read, which never comes back as a prediction. */
	k = max < FX_PREDICT_MAX_CAND ? max : FX_PREDICT_MAX_CAND;
	n_spikes = fx_snn_fire(p->snn, neuron, t, p->o.depth, p->spikes,
			       k + 2 < FX_PREDICT_MAX_SPIKES ? k + 2 : FX_PREDICT_MAX_SPIKES);
	if (n_spikes < 0)
		return n_spikes;
	p->c.fired++;
	for (int s = 0; s < n_spikes; s++) {
		const struct fx_snn_spike *sp = &p->spikes[s];
		float conf = sp->strength * p->inv_wmax_pow[sp->depth];

		for (unsigned slot = 0; slot < FX_PREDICT_SLOTS; slot++) {
			size_t i = (size_t)sp->neuron * FX_PREDICT_SLOTS + slot;
			struct fx_prediction x;

			if (!p->slot[i].obj || fx_predict_slot_is(p, i, obj, lo))
				continue;
			fx_predict_slot_fill(p, i, &x);
			x.depth = sp->depth;
			x.confidence = fminf(fmaxf(slot ? conf / 2 : conf, 1e-6f), 1.0f);
			fx_predict_insert(p, &n, k, &x);
		}
	}
	if (n)
		memcpy(out, p->cand, n * sizeof(*out));
	p->c.predictions += n;
	return (int)n;
}

float fx_predict_activity(struct fx_predictor *p, uint64_t obj, uint64_t block, uint64_t now_ms)
{
	uint64_t region;
	uint32_t neuron;
	size_t i;
	bool known = false;
	float v;

	if (!p || !obj)
		return 0.0f;
	region = block / p->o.region_blocks;
	neuron = fx_predict_hash(p, obj, region);
	i = (size_t)neuron * FX_PREDICT_SLOTS;
	for (unsigned k = 0; k < FX_PREDICT_SLOTS; k++)
		known |= fx_predict_slot_is(p, i + k, obj, region * p->o.region_blocks);
	if (!known)
		return 0.0f;
	v = fx_snn_potential(p->snn, neuron, fx_predict_time(p, now_ms)) /
	    fx_snn_params(p->snn)->threshold;
	return fminf(fmaxf(v, 0.0f), 1.0f);
}

/* ------------------------------------------------------------ objects */

static struct fx_predict_object **fx_predict_bucket(struct fx_predictor *p, uint64_t obj)
{
	return &p->buckets[(obj * 0x9e3779b97f4a7c15ull) >> (64 - p->bucket_bits)];
}

static struct fx_predict_object *fx_predict_find(struct fx_predictor *p, uint64_t obj)
{
	for (struct fx_predict_object *r = *fx_predict_bucket(p, obj); r; r = r->hnext)
		if (r->obj == obj)
			return r;
	return NULL;
}

static void fx_predict_lru_unlink(struct fx_predictor *p, struct fx_predict_object *r)
{
	if (r->newer)
		r->newer->older = r->older;
	else
		p->newest = r->older;
	if (r->older)
		r->older->newer = r->newer;
	else
		p->oldest = r->newer;
	r->newer = r->older = NULL;
}

static void fx_predict_lru_push(struct fx_predictor *p, struct fx_predict_object *r)
{
	r->newer = NULL;
	r->older = p->newest;
	if (p->newest)
		p->newest->newer = r;
	else
		p->oldest = r;
	p->newest = r;
}

static size_t fx_predict_object_cost(uint32_t len)
{
	return FX_PREDICT_OBJECT_OVERHEAD + len;
}

/* Take @r out of the table and free it. */
static void fx_predict_object_drop(struct fx_predictor *p, struct fx_predict_object *r)
{
	struct fx_predict_object **pp = fx_predict_bucket(p, r->obj);

	while (*pp != r)
		pp = &(*pp)->hnext;
	*pp = r->hnext;
	fx_predict_lru_unlink(p, r);
	p->n_objects--;
	p->object_bytes -= fx_predict_object_cost(r->len);
	free(r);
}

int fx_predict_object_put(struct fx_predictor *p, uint64_t obj, const void *rec, size_t len)
{
	struct fx_predict_object *r, *old;
	struct fx_predict_object **bucket;

	_Static_assert(sizeof(struct fx_predict_object) <= FX_PREDICT_OBJECT_OVERHEAD,
		       "FX_PREDICT_OBJECT_OVERHEAD must cover the record header");
	if (!p || !obj || len > FX_PREDICT_OBJECT_MAX || (!rec && len))
		return -EINVAL;
	r = malloc(sizeof(*r) + len);
	if (!r)
		return -ENOMEM;
	r->obj = obj;
	r->len = (uint32_t)len;
	if (len)
		memcpy(r->rec, rec, len);
	if ((old = fx_predict_find(p, obj)))
		fx_predict_object_drop(p, old);
	bucket = fx_predict_bucket(p, obj);
	r->hnext = *bucket;
	*bucket = r;
	fx_predict_lru_push(p, r);
	p->n_objects++;
	p->object_bytes += fx_predict_object_cost(r->len);
	while (p->n_objects > p->o.max_objects || p->object_bytes > p->o.max_object_bytes)
		fx_predict_object_drop(p, p->oldest);
	return 0;
}

int fx_predict_object_get(struct fx_predictor *p, uint64_t obj, void *buf, size_t cap)
{
	struct fx_predict_object *r;

	if (!p || (!buf && cap))
		return -EINVAL;
	if (!obj || !(r = fx_predict_find(p, obj)))
		return -ENOENT;
	if (cap < r->len)
		return -ENOSPC;
	if (r->len)
		memcpy(buf, r->rec, r->len);
	fx_predict_lru_unlink(p, r);
	fx_predict_lru_push(p, r);
	return (int)r->len;
}

int fx_predict_each_object(struct fx_predictor *p,
			   int (*fn)(void *arg, uint64_t obj, const void *rec, size_t len),
			   void *arg)
{
	if (!p || !fn)
		return -EINVAL;
	for (struct fx_predict_object *r = p->oldest; r; r = r->newer) {
		int rc = fn(arg, r->obj, r->rec, r->len);

		if (rc)
			return rc;
	}
	return 0;
}
