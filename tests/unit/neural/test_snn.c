/*
 * test_snn.c - the spiking network: LIF dynamics of the clock-driven step
 * (against an independent Euler loop), STDP and Oja's rule, weight bounds,
 * the bounded fan-out, lazy decay, and the event-driven fire (learning
 * window, recent-spike ring, strongest-first propagation, depth and work
 * caps, heterosynaptic depression), plus argument checking.
 * Does not test what neurons stand for (test_predict.c) or persistence
 * (test_model.c).
 */
#include "neural/snn.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#define EPS 1e-5f

static struct fx_snn *snn_with(size_t n, void (*tweak)(struct fx_snn_params *p))
{
	struct fx_snn_params p;
	struct fx_snn *s;

	fx_snn_params_default(&p);
	if (tweak)
		tweak(&p);
	s = fx_snn_new_with(n, &p, 1);
	cr_assert_not_null(s);
	return s;
}

static int step(struct fx_snn *s, const float *in, bool *spikes)
{
	int n = fx_snn_step(s, in, 1.0f, spikes);

	cr_assert_geq(n, 0);
	return n;
}

Test(snn, rejects_bad_sizes_and_params)
{
	struct fx_snn_params p;

	errno = 0;
	cr_assert_null(fx_snn_new(0));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(fx_snn_new((size_t)FX_SNN_MAX_NEURONS + 1));

	for (int i = 0; i < 10; i++) {
		fx_snn_params_default(&p);
		switch (i) {
		case 0:
			p.tau_m = 0;
			break;
		case 1:
			p.threshold = 0;
			break;
		case 2:
			p.fanout = 0;
			break;
		case 3:
			p.fanout = FX_SNN_MAX_FANOUT + 1;
			break;
		case 4:
			p.a_hetero = 1;
			break;
		case 5:
			p.w_min = 2;
			break;
		case 6:
			p.tau_plus = -1;
			break;
		case 7:
			p.decay_ms = NAN;
			break;
		case 8:
			p.rule = (enum fx_snn_rule)7;
			break;
		default:
			p.a_plus = -0.1f;
			break;
		}
		errno = 0;
		cr_assert_null(fx_snn_new_with(4, &p, 0), "bad parameter set %d accepted", i);
		cr_assert_eq(errno, EINVAL, "case %d", i);
	}
	fx_snn_params_default(&p);
	struct fx_snn *s = fx_snn_new_with(4, &p, 0);

	cr_assert_not_null(s, "the defaults are valid");
	fx_snn_free(s);
}

Test(snn, lif_integrates_leaks_spikes_resets_and_is_refractory)
{
	struct fx_snn *s = fx_snn_new(1);
	const struct fx_snn_params *p = fx_snn_params(s);
	const float in[1] = {0.3f};
	float v = 0.0f;
	int spiked_at = 0, refractory_checked = 0;
	bool sp[1];

	cr_assert_float_eq(p->tau_m, 20.0f, EPS);
	for (int t = 1; t <= 12; t++) {
		bool expect = false;

		if (spiked_at && t - spiked_at < p->refractory) {
			v = p->v_reset; /* input ignored */
			refractory_checked = 1;
		} else {
			v += 1.0f * (-v / p->tau_m + in[0]);
			if (v >= p->threshold) {
				v = p->v_reset;
				expect = true;
				spiked_at = t;
			}
		}
		cr_assert_eq(step(s, in, sp), expect ? 1 : 0, "step %d", t);
		cr_assert_eq(sp[0], expect, "step %d", t);
		cr_assert_float_eq(fx_snn_potential(s, 0, fx_snn_clock(s)), v, EPS, "step %d", t);
	}
	cr_assert(spiked_at, "never spiked");
	cr_assert(refractory_checked);
	cr_assert_eq(fx_snn_last_spike(s, 0), (double)spiked_at);
	fx_snn_free(s);
}

/* The seed's README example: 5 neurons, inputs {0.1, 0.2, 0, 0.3, 0.1}, dt 1. */
Test(snn, seed_example_spikes_in_order_of_drive)
{
	const float in[5] = {0.1f, 0.2f, 0.0f, 0.3f, 0.1f};
	struct fx_snn *s = fx_snn_new(5);
	bool sp[5];
	int first[5] = {0};

	cr_assert_eq(step(s, in, sp), 0);
	for (int i = 0; i < 5; i++)
		cr_assert_not(sp[i]);
	for (int t = 2; t <= 30; t++) {
		step(s, in, sp);
		for (int i = 0; i < 5; i++)
			if (sp[i] && !first[i])
				first[i] = t;
	}
	cr_assert_eq(first[3], 4); /* 0.3, 0.585, 0.856, 1.11 */
	cr_assert_eq(first[1], 6);
	cr_assert_gt(first[0], first[1]);
	cr_assert_eq(first[0], first[4]);
	cr_assert_eq(first[2], 0, "neuron 2 has no input and no strong synapse");
	fx_snn_free(s);
}

Test(snn, step_current_comes_from_last_steps_spikes)
{
	struct fx_snn *s = fx_snn_new(2);
	const float kick[2] = {1.5f, 0}, none[2] = {0, 0};
	bool sp[2];

	cr_assert_eq(fx_snn_connect(s, 0, 1, 0.6f), 0);
	cr_assert_eq(step(s, kick, sp), 1);
	cr_assert(sp[0]);
	cr_assert_float_eq(fx_snn_potential(s, 1, fx_snn_clock(s)), 0.0f, EPS);
	step(s, none, sp);
	cr_assert_float_eq(fx_snn_potential(s, 1, fx_snn_clock(s)), 0.6f, EPS);
	step(s, none, sp); /* nothing spiked last step: only the leak */
	cr_assert_float_eq(fx_snn_potential(s, 1, fx_snn_clock(s)), 0.6f - 0.6f / 20, EPS);
	fx_snn_free(s);
}

Test(snn, stdp_potentiates_pre_before_post_and_depresses_post_before_pre)
{
	struct fx_snn *s = fx_snn_new(3);
	const struct fx_snn_params *p = fx_snn_params(s);
	const float k0[3] = {1.5f}, k1[3] = {0, 1.5f}, none[3] = {0};
	float w;
	bool sp[3];

	step(s, k0, sp);
	step(s, k1, sp); /* 0 at t=1, 1 at t=2 */
	w = fx_snn_weight(s, 0, 1, fx_snn_clock(s));
	cr_assert_float_eq(w, p->a_plus * expf(-1.0f / p->tau_plus), EPS);
	cr_assert_eq(fx_snn_weight(s, 1, 0, fx_snn_clock(s)), 0.0f, "no post->pre synapse grows");
	cr_assert_eq(fx_snn_synapse_count(s), 1);
	for (int rep = 0; rep < 2; rep++) { /* rest beyond the window between pairings */
		for (int i = 0; i < 200; i++)
			step(s, none, sp);
		step(s, k0, sp);
		step(s, k1, sp);
	}
	w = fx_snn_weight(s, 0, 1, fx_snn_clock(s));
	cr_assert_float_eq(w, 3 * p->a_plus * expf(-1.0f / p->tau_plus), EPS);
	for (int i = 0; i < 200; i++)
		step(s, none, sp);
	step(s, k1, sp);
	step(s, k0, sp); /* now 1 before 0: 0 -> 1 weakens, 1 -> 0 grows */
	cr_assert_float_eq(fx_snn_weight(s, 0, 1, fx_snn_clock(s)),
			   w - p->a_minus * expf(-1.0f / p->tau_minus), EPS);
	cr_assert_float_eq(fx_snn_weight(s, 1, 0, fx_snn_clock(s)),
			   p->a_plus * expf(-1.0f / p->tau_plus), EPS);
	fx_snn_free(s);
}

Test(snn, weights_stay_within_bounds_and_vanish_at_zero)
{
	struct fx_snn *s = fx_snn_new(2);
	const struct fx_snn_params *p = fx_snn_params(s);
	const float k0[2] = {1.5f}, k1[2] = {0, 1.5f}, none[2] = {0};
	bool sp[2];

	for (int rep = 0; rep < 20; rep++) {
		step(s, k0, sp);
		step(s, k1, sp);
		for (int i = 0; i < 150; i++)
			step(s, none, sp);
		cr_assert_leq(fx_snn_weight(s, 0, 1, fx_snn_clock(s)), p->w_max);
	}
	cr_assert_float_eq(fx_snn_weight(s, 0, 1, fx_snn_clock(s)), p->w_max, EPS);
	for (int rep = 0; rep < 20; rep++) { /* reversed: down to w_min, then gone */
		step(s, k1, sp);
		step(s, k0, sp);
		for (int i = 0; i < 150; i++)
			step(s, none, sp);
		cr_assert_geq(fx_snn_weight(s, 0, 1, fx_snn_clock(s)), p->w_min);
	}
	cr_assert_eq(fx_snn_weight(s, 0, 1, fx_snn_clock(s)), 0.0f);
	cr_assert_eq(fx_snn_synapse_count(s), 1, "only 1 -> 0 is left");
	fx_snn_free(s);
}

static void use_oja(struct fx_snn_params *p)
{
	p->rule = FX_SNN_OJA;
	p->oja_rate = 0.2f;
}

/* Oja with y = 1: w += rate (x - w) converges to the pre trace x and never
 * exceeds it; a synapse whose pre is silent decays (the -y^2 w term). */
Test(snn, oja_converges_to_the_pre_trace_and_decays_silent_inputs)
{
	struct fx_snn *s = snn_with(4, use_oja);
	const struct fx_snn_params *p = fx_snn_params(s);
	const float k0[4] = {1.5f}, k1[4] = {0, 1.5f}, none[4] = {0};
	float x = expf(-1.0f / p->tau_plus), before;
	bool sp[4];

	cr_assert_eq(fx_snn_connect(s, 3, 1, 0.5f), 0);
	before = 0.5f;
	for (int rep = 0; rep < 40; rep++) {
		step(s, k0, sp);
		step(s, k1, sp);
		for (int i = 0; i < 150; i++)
			step(s, none, sp);
		float w = fx_snn_weight(s, 0, 1, fx_snn_clock(s));
		float silent = fx_snn_weight(s, 3, 1, fx_snn_clock(s));

		cr_assert_leq(w, x + EPS, "rep %d: %g above the fixed point %g", rep, w, x);
		cr_assert(silent < before || silent == 0.0f, "rep %d: silent input did not decay",
			  rep);
		before = silent;
	}
	cr_assert_float_eq(fx_snn_weight(s, 0, 1, fx_snn_clock(s)), x, 1e-3f);
	fx_snn_free(s);
}

static void fanout4(struct fx_snn_params *p)
{
	p->fanout = 4;
	p->window_ms = 1000;
}

Test(snn, full_fanout_replaces_the_weakest)
{
	struct fx_snn *s = snn_with(8, fanout4);
	struct fx_snn_spike out[8];

	cr_assert_eq(fx_snn_connect(s, 0, 1, 0.1f), 0);
	cr_assert_eq(fx_snn_connect(s, 0, 2, 0.5f), 0);
	cr_assert_eq(fx_snn_connect(s, 0, 3, 0.3f), 0);
	cr_assert_eq(fx_snn_connect(s, 0, 4, 0.4f), 0);
	cr_assert_eq(fx_snn_connect(s, 0, 5, 0.2f), 0); /* explicit: always goes in */
	cr_assert_eq(fx_snn_synapse_count(s), 4);
	cr_assert_eq(fx_snn_weight(s, 0, 1, 0), 0.0f, "the weakest was not replaced");
	cr_assert_float_eq(fx_snn_weight(s, 0, 5, 0), 0.2f, EPS);
	cr_assert_eq(fx_snn_connect(s, 0, 2, 0.05f), 0, "an existing synapse is updated");
	cr_assert_eq(fx_snn_synapse_count(s), 4);
	/* learned: a pairing weaker than every synapse held does not displace one */
	cr_assert_geq(fx_snn_fire(s, 0, 1000, 0, out, 0), 0);
	cr_assert_geq(fx_snn_fire(s, 6, 1100, 0, out, 0), 0); /* x = e^-5: dw = 0.0017 */
	cr_assert_eq(fx_snn_weight(s, 0, 6, 1100), 0.0f);
	cr_assert_geq(fx_snn_fire(s, 0, 1200, 0, out, 0), 0);
	cr_assert_geq(fx_snn_fire(s, 7, 1201, 0, out, 0), 0); /* strong: replaces 0 -> 2 (0.05) */
	cr_assert_gt(fx_snn_weight(s, 0, 7, 1201), 0.2f);
	cr_assert_eq(fx_snn_weight(s, 0, 2, 1201), 0.0f);
	fx_snn_free(s);
}

static void halflife_1s(struct fx_snn_params *p)
{
	p->decay_ms = 1000;
}

Test(snn, weights_decay_lazily_with_the_half_life)
{
	struct fx_snn *s = snn_with(3, halflife_1s);
	struct fx_snn_synapse syn[4];
	struct fx_snn_spike out[4];

	cr_assert_eq(fx_snn_connect(s, 0, 1, 0.8f), 0);
	cr_assert_float_eq(fx_snn_weight(s, 0, 1, 1000), 0.4f, 1e-4f);
	cr_assert_float_eq(fx_snn_weight(s, 0, 1, 2000), 0.2f, 1e-4f);
	cr_assert_float_eq(fx_snn_weight(s, 0, 1, 0), 0.8f, EPS, "reading changed the weight");
	cr_assert_eq(fx_snn_synapses_of(s, 0, 3000, 0.0f, syn, 4), 1);
	cr_assert_float_eq(syn[0].weight, 0.1f, 1e-4f);
	cr_assert_eq(fx_snn_synapses_of(s, 0, 3000, 0.2f, syn, 4), 0, "min_abs filters");
	/* touched 20 half-lives later: decayed below 1/1000 of w_max and dropped */
	cr_assert_geq(fx_snn_fire(s, 0, 20000, 1, out, 4), 0);
	cr_assert_eq(fx_snn_synapse_count(s), 0);
	fx_snn_free(s);
}

Test(snn, fire_learns_from_recent_spikes_within_the_window_only)
{
	struct fx_snn *s = fx_snn_new(16);
	const struct fx_snn_params *p = fx_snn_params(s);

	cr_assert_eq(fx_snn_fire(s, 0, 0, 0, NULL, 0), 0);
	cr_assert_eq(fx_snn_fire(s, 1, 10, 0, NULL, 0), 0);
	cr_assert_float_eq(fx_snn_weight(s, 0, 1, 10), p->a_plus * expf(-10.0f / p->tau_plus), EPS);
	cr_assert_eq(fx_snn_fire(s, 2, 10 + p->window_ms + 1, 0, NULL, 0), 0);
	cr_assert_eq(fx_snn_weight(s, 1, 2, 1000), 0.0f, "paired beyond the window");
	cr_assert_eq(fx_snn_weight(s, 0, 2, 1000), 0.0f);

	/* only the last FX_SNN_RECENT fired neurons teach the next one */
	for (uint32_t i = 3; i < 3 + FX_SNN_RECENT + 2; i++)
		cr_assert_eq(fx_snn_fire(s, i, 500 + i, 0, NULL, 0), 0);
	cr_assert_eq(fx_snn_fire(s, 15, 520, 0, NULL, 0), 0);
	for (uint32_t i = 3; i < 3 + FX_SNN_RECENT + 2; i++) {
		bool recent = i >= 3 + 2;

		cr_assert_eq(fx_snn_weight(s, i, 15, 520) > 0, recent, "neuron %u", i);
	}
	cr_assert_float_eq(fx_snn_clock(s), 520.0, 1e-9);
	cr_assert_eq(fx_snn_fire(s, 14, 100, 0, NULL, 0), 0, "an earlier time counts as now");
	cr_assert_float_eq(fx_snn_clock(s), 520.0, 1e-9);
	fx_snn_free(s);
}

static void wide(struct fx_snn_params *p)
{
	p->w_max = 2.0f;
	p->refractory = 0.0f;
}

Test(snn, fire_propagates_strongest_path_first_to_max_depth)
{
	struct fx_snn *s = snn_with(16, wide);
	struct fx_snn_spike out[8];
	int n;

	fx_snn_connect(s, 0, 1, 1.8f);
	fx_snn_connect(s, 0, 2, 1.2f);
	fx_snn_connect(s, 1, 3, 1.5f);
	fx_snn_connect(s, 3, 4, 2.0f);
	fx_snn_connect(s, 0, 5, 0.5f); /* below threshold: charges 5, no spike */
	n = fx_snn_fire(s, 0, 100, 2, out, 8);
	cr_assert_eq(n, 3);
	/* norms: 1: 0.9, 3: 0.9 * 0.75, 2: 0.6; 4 is 3 hops away */
	cr_assert_eq(out[0].neuron, 1);
	cr_assert_eq(out[0].depth, 1);
	cr_assert_float_eq(out[0].strength, 1.8f, EPS);
	cr_assert_eq(out[1].neuron, 3);
	cr_assert_eq(out[1].depth, 2);
	cr_assert_float_eq(out[1].strength, 1.8f * 1.5f, EPS);
	cr_assert_eq(out[2].neuron, 2);
	cr_assert_float_eq(fx_snn_potential(s, 5, 100), 0.5f, EPS);
	cr_assert_float_eq(fx_snn_potential(s, 1, 100), fx_snn_params(s)->threshold, EPS,
			   "a predicted neuron is held at threshold");
	cr_assert_eq(fx_snn_last_spike(s, 1), -INFINITY, "a prediction is not a real spike");

	/* predictions do not learn: firing 9 next pairs it with 0 only */
	cr_assert_eq(fx_snn_fire(s, 9, 101, 0, NULL, 0), 0);
	cr_assert_gt(fx_snn_weight(s, 0, 9, 101), 0.0f);
	cr_assert_eq(fx_snn_weight(s, 1, 9, 101), 0.0f);
	cr_assert_eq(fx_snn_weight(s, 3, 9, 101), 0.0f);

	/* max_out keeps the strongest; a deeper walk reaches 4 */
	n = fx_snn_fire(s, 0, 5000, 3, out, 2);
	cr_assert_eq(n, 2);
	cr_assert_eq(out[0].neuron, 1);
	cr_assert_eq(out[1].neuron, 3);
	n = fx_snn_fire(s, 0, 10000, 3, out, 8);
	cr_assert_eq(n, 4);
	cr_assert_eq(out[2].neuron, 4);
	cr_assert_eq(out[2].depth, 3);
	fx_snn_free(s);
}

Test(snn, fire_work_is_capped)
{
	struct fx_snn *s = snn_with(2048, wide);
	struct fx_snn_spike out[1024];
	unsigned fanout = fx_snn_params(s)->fanout;
	int n;

	/* a full tree of strong synapses: far more neurons than one call may touch */
	for (uint32_t i = 0; i < 2048; i++)
		for (uint32_t k = 1; k <= fanout; k++)
			fx_snn_connect(s, i, (i * fanout + k) % 2048, 2.0f);
	n = fx_snn_fire(s, 0, 0, 16, out, 1024);
	cr_assert_gt(n, (int)fanout);
	cr_assert_leq(n, (int)(FX_SNN_MAX_EXPAND * fanout));
	fx_snn_free(s);
}

static void hetero(struct fx_snn_params *p)
{
	p->a_hetero = 0.5f;
}

Test(snn, heterosynaptic_depression_follows_use)
{
	struct fx_snn *s = snn_with(3, hetero);
	struct fx_snn_spike out[2];

	fx_snn_connect(s, 0, 1, 0.8f);
	cr_assert_eq(fx_snn_fire(s, 0, 10, 1, out, 2), 0);
	cr_assert_float_eq(fx_snn_potential(s, 1, 10), 0.8f, EPS, "the old weight was used");
	cr_assert_float_eq(fx_snn_weight(s, 0, 1, 10), 0.4f, EPS);
	fx_snn_free(s);
}

static int count_until(void *arg, const struct fx_snn_synapse *syn)
{
	int *n = arg;

	(void)syn;
	return ++*n == 3 ? 42 : 0;
}

Test(snn, each_synapse_visits_and_stops)
{
	struct fx_snn *s = fx_snn_new(10);
	int n = 0;

	for (uint32_t i = 0; i < 5; i++)
		fx_snn_connect(s, i, i + 1, 0.5f);
	cr_assert_eq(fx_snn_each_synapse(s, 0, 0.0f, count_until, &n), 42);
	cr_assert_eq(n, 3);
	n = -100;
	cr_assert_eq(fx_snn_each_synapse(s, 0, 0.0f, count_until, &n), 0);
	cr_assert_eq(n, -95);
	fx_snn_free(s);
}

Test(snn, arguments_are_checked)
{
	struct fx_snn *s = fx_snn_new(4);
	struct fx_snn_spike out[1];
	float in[4] = {0};
	bool sp[4];

	cr_assert_eq(fx_snn_fire(NULL, 0, 0, 1, out, 1), -EINVAL);
	cr_assert_eq(fx_snn_fire(s, 4, 0, 1, out, 1), -EINVAL);
	cr_assert_eq(fx_snn_fire(s, 0, NAN, 1, out, 1), -EINVAL);
	cr_assert_eq(fx_snn_fire(s, 0, 0, 1, NULL, 1), -EINVAL);
	cr_assert_eq(fx_snn_step(s, in, 0.0f, sp), -EINVAL);
	cr_assert_eq(fx_snn_step(s, in, NAN, sp), -EINVAL);
	cr_assert_eq(fx_snn_step(s, NULL, 1.0f, sp), -EINVAL);
	cr_assert_eq(fx_snn_connect(s, 1, 1, 0.5f), -EINVAL);
	cr_assert_eq(fx_snn_connect(s, 0, 4, 0.5f), -EINVAL);
	cr_assert_eq(fx_snn_connect(s, 0, 1, INFINITY), -EINVAL);
	cr_assert_eq(fx_snn_connect(s, 0, 1, 7.0f), 0, "clamped, not refused");
	cr_assert_float_eq(fx_snn_weight(s, 0, 1, 0), fx_snn_params(s)->w_max, EPS);
	cr_assert_eq(fx_snn_potential(s, 9, 0), 0.0f);
	cr_assert_eq(fx_snn_weight(s, 0, 9, 0), 0.0f);
	cr_assert_eq(fx_snn_size(s), 4);
	cr_assert_eq(fx_snn_size(NULL), 0);
	fx_snn_free(NULL);
	fx_snn_free(s);
}

Test(snn, memory_is_flat_and_proportional)
{
	struct fx_snn *a = fx_snn_new(1000), *b = fx_snn_new(2000);
	size_t ma = fx_snn_memory(a), mb = fx_snn_memory(b);

	cr_assert_gt(mb, ma);
	cr_assert_lt(mb - ma, ma, "grows with n, from a fixed base");
	for (uint32_t i = 0; i < 999; i++)
		fx_snn_connect(a, i, i + 1, 0.5f);
	cr_assert_eq(fx_snn_memory(a), ma, "synapses live in preallocated slots");
	fx_snn_free(a);
	fx_snn_free(b);
}
