/*
 * snn.c - LIF spiking network with sparse plastic synapses (see snn.h).
 *
 * Owns: the neuron state in one flat array of small records (the fields
 * propagation reads together), the synapse table (neuron i's outgoing
 * synapses are slots [i * fanout, i * fanout + nsyn) of one flat array,
 * unordered; nothing is allocated per synapse), the ring of recent spikes
 * fx_snn_fire learns from, the learning rules, lazy leak and decay, and the
 * bounded propagation of predicted spikes.
 * Does not own: what a neuron means, persistence, locking (one thread per
 * network).
 */
#include "neural/snn.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Predicted spikes one fx_snn_fire may find (and report at most), and the
 * frontier of neurons waiting to propagate; with FX_SNN_MAX_EXPAND they
 * bound the work of a call. */
#define FX_SNN_MAX_CAND 128u
#define FX_SNN_MAX_HEAP 64u
/* Open-addressing set of neurons that spiked in the current call; always
 * has a free slot, so a probe ends. */
#define FX_SNN_SET_SLOTS 256u
_Static_assert(FX_SNN_SET_SLOTS > FX_SNN_MAX_CAND + 1, "the spiked set must never fill up");

struct fx_snn_recent {
	uint32_t neuron;
	double t;
};

/*
 * Per-neuron state that propagation reads together, in one record rather
 * than one array per field: an expansion then costs one cache line for the
 * neuron, two adjacent lines for its synapses and one per target (measured:
 * separate arrays made fx_snn_fire memory-bound on their scattered loads).
 */
struct fx_snn_neuron {
	double t_v;   /* when v was last brought up to date */
	double t_syn; /* when the outgoing weights were last decayed */
	double last;  /* last real spike (-INFINITY: never); predictions do not count */
	float v;      /* membrane potential as of t_v */
	uint8_t nsyn; /* outgoing synapses in use */
};

struct fx_snn_syn {
	uint32_t post;
	float w;
};

struct fx_snn_node {
	uint32_t neuron, depth;
	float norm;	/* product of w / w_max along the path: the order */
	float strength; /* product of w along the path: what is reported */
};

struct fx_snn {
	size_t n;
	struct fx_snn_params p;
	uint64_t seed;
	double clock;
	float prune; /* weights below this magnitude are dropped */

	/* per neuron */
	struct fx_snn_neuron *nr;

	/* [n * fanout]: neuron i's synapses are [i * fanout, i * fanout + nsyn) */
	struct fx_snn_syn *syn;
	size_t n_synapses;

	/* fx_snn_fire: the last FX_SNN_RECENT fired neurons, oldest first */
	struct fx_snn_recent recent[FX_SNN_RECENT];
	unsigned n_recent;
	/* fx_snn_fire scratch */
	uint32_t set_key[FX_SNN_SET_SLOTS], set_gen[FX_SNN_SET_SLOTS], gen;
	struct fx_snn_node heap[FX_SNN_MAX_HEAP];
	struct fx_snn_node cand[FX_SNN_MAX_CAND];

	/* fx_snn_step scratch, allocated on first use */
	float *current;	  /* [n] */
	uint32_t *spiked; /* [n] neurons that spiked in the previous step */
	size_t n_spiked;
	uint32_t *list; /* [n] */
};

void fx_snn_params_default(struct fx_snn_params *p)
{
	*p = (struct fx_snn_params){
	    .tau_m = 20.0f,
	    .threshold = 1.0f,
	    .v_reset = 0.0f,
	    .refractory = 2.0f,
	    .fanout = 16,
	    .rule = FX_SNN_STDP,
	    .a_plus = 0.25f,
	    .a_minus = 0.3f,
	    .tau_plus = 20.0f,
	    .tau_minus = 20.0f,
	    .w_min = 0.0f,
	    .w_max = 1.0f,
	    .oja_rate = 0.1f,
	    .decay_ms = 0.0f,
	    .window_ms = 100.0f,
	    .a_hetero = 0.0f,
	};
}

static bool fx_snn_params_ok(const struct fx_snn_params *p)
{
	const float all[] = {p->tau_m,	  p->threshold, p->v_reset,   p->refractory, p->a_plus,
			     p->a_minus,  p->tau_plus,	p->tau_minus, p->w_min,	     p->w_max,
			     p->oja_rate, p->decay_ms,	p->window_ms, p->a_hetero};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (!isfinite(all[i]))
			return false;
	return p->tau_m > 0 && p->threshold > p->v_reset && p->refractory >= 0 && p->fanout >= 1 &&
	       p->fanout <= FX_SNN_MAX_FANOUT &&
	       (p->rule == FX_SNN_STDP || p->rule == FX_SNN_OJA) && p->a_plus >= 0 &&
	       p->a_minus >= 0 && p->tau_plus > 0 && p->tau_minus > 0 && p->w_max > 0 &&
	       p->w_min <= p->w_max && p->oja_rate >= 0 && p->decay_ms >= 0 && p->window_ms >= 0 &&
	       p->a_hetero >= 0 && p->a_hetero < 1;
}

struct fx_snn *fx_snn_new_with(size_t n, const struct fx_snn_params *p, uint64_t seed)
{
	struct fx_snn *s;
	size_t slots;

	if (n == 0 || n > FX_SNN_MAX_NEURONS || !p || !fx_snn_params_ok(p)) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		goto out_nomem;
	s->n = n;
	s->p = *p;
	s->seed = seed;
	s->prune = 1e-3f * fmaxf(fabsf(p->w_min), fabsf(p->w_max));
	slots = n * p->fanout;
	s->nr = calloc(n, sizeof(*s->nr));
	s->syn = malloc(slots * sizeof(*s->syn));
	if (!s->nr || !s->syn)
		goto out_free;
	for (size_t i = 0; i < n; i++)
		s->nr[i].last = -INFINITY;
	return s;

out_free:
	fx_snn_free(s);
out_nomem:
	errno = ENOMEM;
	return NULL;
}

struct fx_snn *fx_snn_new(size_t n)
{
	struct fx_snn_params p;

	fx_snn_params_default(&p);
	return fx_snn_new_with(n, &p, 0);
}

void fx_snn_free(struct fx_snn *s)
{
	if (!s)
		return;
	free(s->nr);
	free(s->syn);
	free(s->current);
	free(s->spiked);
	free(s->list);
	free(s);
}

size_t fx_snn_size(const struct fx_snn *s)
{
	return s ? s->n : 0;
}

const struct fx_snn_params *fx_snn_params(const struct fx_snn *s)
{
	return s ? &s->p : NULL;
}

size_t fx_snn_memory(const struct fx_snn *s)
{
	size_t per_neuron, bytes;

	if (!s)
		return 0;
	per_neuron = sizeof(*s->nr) + s->p.fanout * sizeof(*s->syn);
	bytes = sizeof(*s) + s->n * per_neuron;
	if (s->current)
		bytes += s->n * (sizeof(*s->current) + sizeof(*s->spiked) + sizeof(*s->list));
	return bytes;
}

double fx_snn_clock(const struct fx_snn *s)
{
	return s ? s->clock : 0.0;
}

void fx_snn_set_clock(struct fx_snn *s, double t)
{
	if (s && isfinite(t))
		s->clock = t;
}

size_t fx_snn_synapse_count(const struct fx_snn *s)
{
	return s ? s->n_synapses : 0;
}

/* ------------------------------------------------------------ synapses */

static float fx_snn_clamp(const struct fx_snn *s, float w)
{
	return fminf(fmaxf(w, s->p.w_min), s->p.w_max);
}

/*
 * Is decaying @pre's weights to @t worth it now? Below 1/4096 of a
 * half-life the factor is above 0.9998: leaving t_syn where it is applies
 * that decay in full later (a weight changed meanwhile decays from t_syn,
 * at most 0.02% too much), and saves an exp2 on most calls.
 */
static bool fx_snn_decay_due(const struct fx_snn *s, uint32_t pre, double t)
{
	return s->p.decay_ms > 0 && t - s->nr[pre].t_syn >= s->p.decay_ms / 4096;
}

/* Factor that brings @pre's weights from t_syn to @t (1 when not due). */
static float fx_snn_decay_factor(const struct fx_snn *s, uint32_t pre, double t)
{
	if (!fx_snn_decay_due(s, pre, t))
		return 1.0f;
	return (float)exp2(-(t - s->nr[pre].t_syn) / s->p.decay_ms);
}

static void fx_snn_remove_slot(struct fx_snn *s, uint32_t pre, unsigned k)
{
	size_t base = (size_t)pre * s->p.fanout;
	unsigned last = --s->nr[pre].nsyn;

	s->syn[base + k] = s->syn[base + last];
	s->n_synapses--;
}

/* Multiply @pre's weights by @f and drop the ones that became negligible. */
static void fx_snn_scale(struct fx_snn *s, uint32_t pre, float f)
{
	size_t base = (size_t)pre * s->p.fanout;

	for (unsigned k = s->nr[pre].nsyn; k-- > 0;) {
		float w = s->syn[base + k].w * f;

		s->syn[base + k].w = w;
		if (fabsf(w) < s->prune)
			fx_snn_remove_slot(s, pre, k);
	}
}

/* Bring @pre's outgoing weights up to time @t (or close enough, see above). */
static void fx_snn_decay(struct fx_snn *s, uint32_t pre, double t)
{
	float f;

	if (!fx_snn_decay_due(s, pre, t))
		return;
	f = fx_snn_decay_factor(s, pre, t);
	s->nr[pre].t_syn = t;
	if (f < 1.0f)
		fx_snn_scale(s, pre, f);
}

static int fx_snn_find(const struct fx_snn *s, uint32_t pre, uint32_t post)
{
	const struct fx_snn_syn *syn = s->syn + (size_t)pre * s->p.fanout;

	for (unsigned k = 0; k < s->nr[pre].nsyn; k++)
		if (syn[k].post == post)
			return (int)k;
	return -1;
}

/*
 * Give @pre a new synapse to @post of weight @w (absent before). When the
 * list is full the weakest (smallest |w|) makes room, if @force or if it is
 * weaker than @w; otherwise nothing happens.
 */
static void fx_snn_add(struct fx_snn *s, uint32_t pre, uint32_t post, float w, bool force)
{
	size_t base = (size_t)pre * s->p.fanout;
	unsigned k = s->nr[pre].nsyn;

	if (k == s->p.fanout) {
		unsigned weakest = 0;

		for (unsigned i = 1; i < k; i++)
			if (fabsf(s->syn[base + i].w) < fabsf(s->syn[base + weakest].w))
				weakest = i;
		if (!force && fabsf(s->syn[base + weakest].w) >= fabsf(w))
			return;
		k = weakest;
	} else {
		s->nr[pre].nsyn++;
		s->n_synapses++;
	}
	s->syn[base + k].post = post;
	s->syn[base + k].w = w;
}

/*
 * @post spiked at @t, @pre's trace is @x: potentiate pre -> post (STDP) or
 * move it toward x (Oja, y = 1), creating the synapse if it grows enough.
 */
static void fx_snn_learn_pair(struct fx_snn *s, uint32_t pre, uint32_t post, float x, double t)
{
	size_t base = (size_t)pre * s->p.fanout;
	int k;
	float w, nw;

	fx_snn_decay(s, pre, t);
	k = fx_snn_find(s, pre, post);
	w = k >= 0 ? s->syn[base + k].w : 0.0f;
	if (s->p.rule == FX_SNN_STDP)
		nw = fx_snn_clamp(s, w + s->p.a_plus * x);
	else
		nw = fx_snn_clamp(s, w + s->p.oja_rate * (x - w));
	if (k >= 0) {
		s->syn[base + k].w = nw;
		if (fabsf(nw) < s->prune)
			fx_snn_remove_slot(s, pre, (unsigned)k);
	} else if (fabsf(nw) >= s->prune) {
		fx_snn_add(s, pre, post, nw, false);
	}
}

/*
 * STDP's post-before-pre half: @pre spikes at @t, so its synapses onto
 * neurons that spiked shortly before weaken. Weights must be current.
 */
static void fx_snn_depress(struct fx_snn *s, uint32_t pre, double t)
{
	size_t base = (size_t)pre * s->p.fanout;

	if (s->p.rule != FX_SNN_STDP || s->p.a_minus <= 0)
		return;
	for (unsigned k = s->nr[pre].nsyn; k-- > 0;) {
		double age = t - s->nr[s->syn[base + k].post].last;

		if (!(age > 0) || age > s->p.window_ms)
			continue;
		float w = fx_snn_clamp(s, s->syn[base + k].w -
					      s->p.a_minus * expf(-(float)age / s->p.tau_minus));
		s->syn[base + k].w = w;
		if (fabsf(w) < s->prune)
			fx_snn_remove_slot(s, pre, k);
	}
}

int fx_snn_connect(struct fx_snn *s, uint32_t pre, uint32_t post, float w)
{
	int k;

	if (!s || pre >= s->n || post >= s->n || pre == post || !isfinite(w))
		return -EINVAL;
	fx_snn_decay(s, pre, s->clock);
	w = fx_snn_clamp(s, w);
	k = fx_snn_find(s, pre, post);
	if (k >= 0)
		s->syn[(size_t)pre * s->p.fanout + k].w = w;
	else
		fx_snn_add(s, pre, post, w, true);
	return 0;
}

float fx_snn_weight(struct fx_snn *s, uint32_t pre, uint32_t post, double t)
{
	int k;

	if (!s || pre >= s->n || post >= s->n)
		return 0.0f;
	k = fx_snn_find(s, pre, post);
	if (k < 0)
		return 0.0f;
	return s->syn[(size_t)pre * s->p.fanout + k].w * fx_snn_decay_factor(s, pre, t);
}

int fx_snn_synapses_of(struct fx_snn *s, uint32_t pre, double t, float min_abs,
		       struct fx_snn_synapse *out, size_t max)
{
	size_t base, n = 0;
	float f;

	if (!s || pre >= s->n || (!out && max))
		return -EINVAL;
	base = (size_t)pre * s->p.fanout;
	f = fx_snn_decay_factor(s, pre, t);
	for (unsigned k = 0; k < s->nr[pre].nsyn && n < max; k++) {
		float w = s->syn[base + k].w * f;

		if (fabsf(w) > min_abs)
			out[n++] = (struct fx_snn_synapse){pre, s->syn[base + k].post, w};
	}
	return (int)n;
}

int fx_snn_each_synapse(struct fx_snn *s, double t, float min_abs,
			int (*fn)(void *arg, const struct fx_snn_synapse *syn), void *arg)
{
	struct fx_snn_synapse buf[FX_SNN_MAX_FANOUT];

	if (!s || !fn)
		return -EINVAL;
	for (size_t i = 0; i < s->n; i++) {
		int n = fx_snn_synapses_of(s, (uint32_t)i, t, min_abs, buf, FX_SNN_MAX_FANOUT);

		for (int k = 0; k < n; k++) {
			int rc = fn(arg, &buf[k]);

			if (rc)
				return rc;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ membranes */

static float fx_snn_leaked(const struct fx_snn *s, uint32_t i, double t)
{
	const struct fx_snn_neuron *m = &s->nr[i];
	double dt = t - m->t_v;

	if (m->v == 0.0f || !(dt > 0))
		return m->v;
	return m->v * expf(-(float)dt / s->p.tau_m);
}

float fx_snn_potential(struct fx_snn *s, uint32_t neuron, double t)
{
	if (!s || neuron >= s->n)
		return 0.0f;
	return fx_snn_leaked(s, neuron, t);
}

double fx_snn_last_spike(const struct fx_snn *s, uint32_t neuron)
{
	if (!s || neuron >= s->n)
		return -INFINITY;
	return s->nr[neuron].last;
}

static bool fx_snn_refractory(const struct fx_snn *s, uint32_t i, double t)
{
	/* no load at all without a refractory period: the common case when predicting */
	return s->p.refractory > 0 && t - s->nr[i].last < s->p.refractory;
}

/* ------------------------------------------------------------ event-driven */

/*
 * Look @neuron up in this call's set of spiked neurons, adding it if @add.
 * @return whether it was there before.
 */
static bool fx_snn_set_seen(struct fx_snn *s, uint32_t neuron, bool add)
{
	uint32_t h = (neuron * 0x9e3779b1u) >> 24; /* top 8 bits: 256 slots */

	for (;; h = (h + 1) & (FX_SNN_SET_SLOTS - 1)) {
		if (s->set_gen[h] != s->gen) {
			if (add) {
				s->set_gen[h] = s->gen;
				s->set_key[h] = neuron;
			}
			return false;
		}
		if (s->set_key[h] == neuron)
			return true;
	}
}

static bool fx_snn_node_before(const struct fx_snn_node *a, const struct fx_snn_node *b)
{
	if (a->norm != b->norm)
		return a->norm > b->norm;
	if (a->depth != b->depth)
		return a->depth < b->depth;
	return a->neuron < b->neuron;
}

static void fx_snn_heap_push(struct fx_snn_node *h, unsigned *n, struct fx_snn_node x)
{
	unsigned i = (*n)++;

	while (i > 0 && fx_snn_node_before(&x, &h[(i - 1) / 2])) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = x;
}

static struct fx_snn_node fx_snn_heap_pop(struct fx_snn_node *h, unsigned *n)
{
	struct fx_snn_node top = h[0], x = h[--(*n)];
	unsigned i = 0;

	for (;;) {
		unsigned c = 2 * i + 1;

		if (c >= *n)
			break;
		if (c + 1 < *n && fx_snn_node_before(&h[c + 1], &h[c]))
			c++;
		if (!fx_snn_node_before(&h[c], &x))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = x;
	return top;
}

/*
 * Insert @x into the best-first array @top of at most @k nodes (*@n used);
 * a node worse than all of a full array is dropped.
 */
static void fx_snn_top_insert(struct fx_snn_node *top, unsigned *n, unsigned k,
			      const struct fx_snn_node *x)
{
	unsigned i = *n;

	if (i == k) {
		if (!k || !fx_snn_node_before(x, &top[k - 1]))
			return;
		i--;
	} else {
		(*n)++;
	}
	for (; i > 0 && fx_snn_node_before(x, &top[i - 1]); i--)
		top[i] = top[i - 1];
	top[i] = *x;
}

/*
 * Propagate @src's spike at @t up to @max_depth hops, strongest path first.
 * The best @k predicted spikes land in s->cand, best first. A path's norm
 * never grows along it, so once @k are found and the next neuron to expand
 * ranks below the k-th, nothing better can come and the walk stops.
 * @return how many are in s->cand (<= @k).
 */
static unsigned fx_snn_propagate(struct fx_snn *s, uint32_t src, double t, unsigned max_depth,
				 unsigned k)
{
	unsigned n_heap = 0, n_top = 0, found = 0, expanded = 0;
	float inv_wmax = 1.0f / s->p.w_max;

	if (++s->gen == 0) { /* wrapped: old stamps could look current */
		memset(s->set_gen, 0, sizeof(s->set_gen));
		s->gen = 1;
	}
	fx_snn_set_seen(s, src, true);
	fx_snn_heap_push(s->heap, &n_heap, (struct fx_snn_node){src, 0, 1.0f, 1.0f});
	while (n_heap > 0 && expanded < FX_SNN_MAX_EXPAND && found < FX_SNN_MAX_CAND) {
		struct fx_snn_node from = fx_snn_heap_pop(s->heap, &n_heap);
		size_t base = (size_t)from.neuron * s->p.fanout;
		float f = fx_snn_decay_factor(s, from.neuron, t);

		if (n_top == k && k && !fx_snn_node_before(&from, &s->cand[k - 1]))
			break;
		expanded++;
		for (unsigned i = 0; i < s->nr[from.neuron].nsyn; i++)
			__builtin_prefetch(&s->nr[s->syn[base + i].post], 1);
		for (unsigned i = 0; i < s->nr[from.neuron].nsyn && found < FX_SNN_MAX_CAND; i++) {
			uint32_t to = s->syn[base + i].post;
			float w = s->syn[base + i].w * f;
			float v;

			/* spiked in this call already: held at threshold */
			if (fx_snn_refractory(s, to, t) || fx_snn_set_seen(s, to, false))
				continue;
			v = fx_snn_leaked(s, to, t) + w;
			s->nr[to].t_v = t;
			if (v < s->p.threshold) {
				s->nr[to].v = v;
				continue;
			}
			s->nr[to].v = s->p.threshold;
			fx_snn_set_seen(s, to, true);
			found++;

			struct fx_snn_node x = {to, from.depth + 1,
						from.norm * fminf(w * inv_wmax, 1.0f),
						from.strength * w};

			fx_snn_top_insert(s->cand, &n_top, k, &x);
			if (x.depth < max_depth && n_heap < FX_SNN_MAX_HEAP) {
				/* it may propagate next: start loading its synapses now */
				const char *block =
				    (const char *)(s->syn + (size_t)to * s->p.fanout);

				for (size_t b = 0; b < s->p.fanout * sizeof(*s->syn); b += 64)
					__builtin_prefetch(block + b);
				fx_snn_heap_push(s->heap, &n_heap, x);
			}
		}
	}
	return n_top;
}

static void fx_snn_remember(struct fx_snn *s, uint32_t neuron, double t)
{
	unsigned j = 0;

	for (unsigned i = 0; i < s->n_recent; i++)
		if (s->recent[i].neuron != neuron)
			s->recent[j++] = s->recent[i];
	if (j == FX_SNN_RECENT) {
		memmove(s->recent, s->recent + 1, (FX_SNN_RECENT - 1) * sizeof(s->recent[0]));
		j--;
	}
	s->recent[j++] = (struct fx_snn_recent){neuron, t};
	s->n_recent = j;
}

int fx_snn_fire(struct fx_snn *s, uint32_t neuron, double t, unsigned max_depth,
		struct fx_snn_spike *out, size_t max_out)
{
	size_t n_out;

	if (!s || neuron >= s->n || isnan(t) || (!out && max_out))
		return -EINVAL;
	if (t < s->clock)
		t = s->clock;
	s->clock = t;

	for (unsigned i = 0; i < s->n_recent; i++) {
		const struct fx_snn_recent *r = &s->recent[i];
		double age = t - r->t;

		if (r->neuron == neuron || age > s->p.window_ms)
			continue;
		fx_snn_learn_pair(s, r->neuron, neuron, expf(-(float)age / s->p.tau_plus), t);
	}
	fx_snn_decay(s, neuron, t);
	fx_snn_depress(s, neuron, t);

	s->nr[neuron].v = s->p.v_reset;
	s->nr[neuron].t_v = t;
	s->nr[neuron].last = t;

	n_out = 0;
	if (max_depth > 0)
		n_out = fx_snn_propagate(s, neuron, t, max_depth,
					 max_out < FX_SNN_MAX_CAND ? (unsigned)max_out
								   : FX_SNN_MAX_CAND);
	for (size_t i = 0; i < n_out; i++)
		out[i] =
		    (struct fx_snn_spike){s->cand[i].neuron, s->cand[i].depth, s->cand[i].strength};

	if (s->p.a_hetero > 0)
		fx_snn_scale(s, neuron, 1.0f - s->p.a_hetero);
	fx_snn_remember(s, neuron, t);
	return (int)n_out;
}

/* ------------------------------------------------------------ clock-driven */

static int fx_snn_step_scratch(struct fx_snn *s)
{
	if (s->current)
		return 0;
	s->current = malloc(s->n * sizeof(*s->current));
	s->spiked = malloc(s->n * sizeof(*s->spiked));
	s->list = malloc(s->n * sizeof(*s->list));
	if (!s->current || !s->spiked || !s->list) {
		free(s->current);
		free(s->spiked);
		free(s->list);
		s->current = NULL;
		s->spiked = s->list = NULL;
		return -ENOMEM;
	}
	s->n_spiked = 0;
	return 0;
}

/* Oja's rule over every synapse onto a neuron that spiked at @t (y = 1). */
static void fx_snn_oja_all(struct fx_snn *s, const bool *spikes, double t)
{
	for (size_t i = 0; i < s->n; i++) {
		size_t base = i * s->p.fanout;
		double age = t - s->nr[i].last;
		float x =
		    age > 0 && age <= s->p.window_ms ? expf(-(float)age / s->p.tau_plus) : 0.0f;

		if (!s->nr[i].nsyn)
			continue;
		fx_snn_decay(s, (uint32_t)i, t);
		for (unsigned k = s->nr[i].nsyn; k-- > 0;) {
			if (!spikes[s->syn[base + k].post])
				continue;
			float w = s->syn[base + k].w;

			w = fx_snn_clamp(s, w + s->p.oja_rate * (x - w));
			s->syn[base + k].w = w;
			if (fabsf(w) < s->prune)
				fx_snn_remove_slot(s, (uint32_t)i, k);
		}
	}
}

int fx_snn_step(struct fx_snn *s, const float *inputs, float dt, bool *spikes_out)
{
	double t;
	size_t n_pre = 0, n_new = 0;
	int rc;

	if (!s || !inputs || !spikes_out || !isfinite(dt) || dt <= 0)
		return -EINVAL;
	if ((rc = fx_snn_step_scratch(s)) < 0)
		return rc;
	t = s->clock + dt;

	memcpy(s->current, inputs, s->n * sizeof(*inputs));
	for (size_t i = 0; i < s->n_spiked; i++) {
		uint32_t pre = s->spiked[i];
		size_t base = (size_t)pre * s->p.fanout;

		fx_snn_decay(s, pre, s->clock);
		for (unsigned k = 0; k < s->nr[pre].nsyn; k++)
			s->current[s->syn[base + k].post] += s->syn[base + k].w;
	}

	for (size_t i = 0; i < s->n; i++) {
		float v = fx_snn_leaked(s, (uint32_t)i, s->clock);

		spikes_out[i] = false;
		s->nr[i].t_v = t;
		if (fx_snn_refractory(s, (uint32_t)i, t)) {
			s->nr[i].v = s->p.v_reset;
			continue;
		}
		v += dt * (-v / s->p.tau_m + s->current[i]);
		if (v >= s->p.threshold) {
			v = s->p.v_reset;
			spikes_out[i] = true;
			s->list[n_new++] = (uint32_t)i;
		}
		s->nr[i].v = v;
	}

	if (n_new > 0) {
		/* Neurons that spiked earlier within the window: the candidate pres.
		 * s->spiked is free to reuse once the currents are in. */
		for (size_t i = 0; i < s->n; i++) {
			double age = t - s->nr[i].last;

			if (age > 0 && age <= s->p.window_ms)
				s->spiked[n_pre++] = (uint32_t)i;
		}
		if (s->p.rule == FX_SNN_OJA)
			fx_snn_oja_all(s, spikes_out, t);
		for (size_t j = 0; j < n_new; j++) {
			for (size_t i = 0; i < n_pre; i++) {
				uint32_t pre = s->spiked[i], post = s->list[j];

				/* Oja moved the existing ones above; here it only grows new ones */
				if (pre == post ||
				    (s->p.rule == FX_SNN_OJA && fx_snn_find(s, pre, post) >= 0))
					continue;
				fx_snn_learn_pair(
				    s, pre, post,
				    expf(-(float)(t - s->nr[pre].last) / s->p.tau_plus), t);
			}
		}
		for (size_t j = 0; j < n_new; j++) {
			fx_snn_decay(s, s->list[j], t);
			fx_snn_depress(s, s->list[j], t);
			if (s->p.a_hetero > 0)
				fx_snn_scale(s, s->list[j], 1.0f - s->p.a_hetero);
		}
		for (size_t j = 0; j < n_new; j++)
			s->nr[s->list[j]].last = t;
	}
	memcpy(s->spiked, s->list, n_new * sizeof(*s->list));
	s->n_spiked = n_new;
	s->clock = t;
	return (int)n_new;
}
