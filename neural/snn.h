/*
 * snn.h - a leaky-integrate-and-fire spiking network with sparse, plastic
 * synapses (pair-based STDP, Oja's bounded Hebbian rule, weight decay).
 *
 * Owns: neuron state (membrane potential, refractory time, pre/post
 * traces, last spike), the synapse lists (at most `fanout` outgoing
 * synapses per neuron, the weakest replaced when full) and the learning
 * rules.
 * Does not own: what a neuron stands for (neural/predict.c maps cache
 * accesses onto neurons), persistence (neural/model.c reads the synapses
 * with fx_snn_synapses_of() and writes them back with fx_snn_connect();
 * membranes are transient and not saved), or locking: one thread at a time
 * per network.
 *
 * Two ways to run it:
 *  - clock-driven, the seed's SpikingNet::step(&inputs, dt): every neuron
 *    integrates its input plus the weights from last step's spikes, then
 *    STDP updates the synapses between neurons that spiked. Cost O(n +
 *    synapses) per step: for small networks and the example program.
 *  - event-driven, for large sparse networks (65,536 neurons in the cache):
 *    fx_snn_fire() forces a spike at time t (an observed access), learns
 *    from the neurons that spiked shortly before, and propagates current to
 *    the neuron's successors; membranes and weights decay lazily from the
 *    time they were last touched. Cost O(fanout * recent spikes).
 *
 * Time is in milliseconds (any monotonic unit works if every constant uses it).
 *
 * Traces are nearest-spike traces computed from each neuron's last spike:
 * a trace is 1 at the spike and decays as exp(-age / tau). Weight decay is
 * applied lazily: each neuron remembers when its outgoing weights were last
 * brought up to date, and scales them by 2^(-elapsed / decay_ms) when next
 * touched. Synapses whose weight decays below 1/1000 of max(|w_min|, |w_max|)
 * are dropped.
 */
#ifndef FX_NEURAL_SNN_H
#define FX_NEURAL_SNN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FX_SNN_MAX_NEURONS (1u << 24)
#define FX_SNN_MAX_FANOUT 64u

enum fx_snn_rule {
	FX_SNN_STDP, /* pair-based STDP with pre/post traces */
	FX_SNN_OJA,  /* Oja's rule: Hebbian growth bounded by -y^2 w */
};

struct fx_snn_params {
	float tau_m;       /* membrane time constant (ms) */
	float threshold;   /* spike when the membrane reaches this */
	float v_reset;     /* membrane after a spike */
	float refractory;  /* input is ignored while the last spike is younger than this (ms) */
	unsigned fanout;   /* outgoing synapses per neuron, 1..FX_SNN_MAX_FANOUT */
	enum fx_snn_rule rule;
	float a_plus;      /* STDP potentiation amplitude (pre before post) */
	float a_minus;     /* STDP depression amplitude (post before pre), >= 0 */
	float tau_plus;    /* ms, pre-trace time constant */
	float tau_minus;   /* ms, post-trace time constant */
	float w_min, w_max;/* weight bounds */
	float oja_rate;    /* learning rate of Oja's rule */
	float decay_ms;    /* weight half-life when not reinforced (ms); 0: no decay */
	float window_ms;   /* STDP pairs spikes at most this far apart */
	/* Heterosynaptic depression, in [0, 1): each spike of a neuron scales
	 * its outgoing weights by (1 - a_hetero) after they were used; those
	 * whose target follows within the window are potentiated back by STDP.
	 * This is what forgets a successor that stopped following. 0: off. */
	float a_hetero;
};

/**
 * The defaults, conventional LIF/STDP values: tau_m 20,
 * threshold 1, v_reset 0, refractory 2, fanout 16, STDP with a_plus 0.25,
 * a_minus 0.3, tau_plus = tau_minus = 20, weights in [0, 1], oja_rate 0.1,
 * no decay, window 100, no heterosynaptic depression.
 * (neural/predict.c uses its own set, tuned for file accesses.)
 */
void fx_snn_params_default(struct fx_snn_params *p);

struct fx_snn;

/**
 * A network of @n neurons with default parameters and no synapses.
 * @return NULL on bad @n (0 or > FX_SNN_MAX_NEURONS, errno EINVAL) or ENOMEM.
 */
struct fx_snn *fx_snn_new(size_t n);
/**
 * Same with @p (copied) and a seed for anything random (nothing in the
 * network is random today; the seed is kept for that). NULL on bad @p too:
 * non-finite values, tau_m/tau_plus/tau_minus <= 0, threshold <= v_reset,
 * w_min > w_max, w_max <= 0, negative amplitudes, rates or times, a_hetero
 * outside [0, 1), fanout outside 1..FX_SNN_MAX_FANOUT, unknown rule.
 */
struct fx_snn *fx_snn_new_with(size_t n, const struct fx_snn_params *p, uint64_t seed);
/** Release @snn. NULL is a no-op. */
void fx_snn_free(struct fx_snn *snn);

size_t fx_snn_size(const struct fx_snn *snn);
const struct fx_snn_params *fx_snn_params(const struct fx_snn *snn);
/** Bytes of memory the network holds (neurons and synapses). */
size_t fx_snn_memory(const struct fx_snn *snn);

/**
 * One clock-driven step of @dt ms, to time clock + @dt: neuron i integrates
 * (explicit Euler, v += dt * (-v / tau_m + I)) the current I = @inputs[i]
 * plus the weights of synapses from neurons that spiked in the previous
 * step, unless it spiked within `refractory` ms (then it stays at v_reset);
 * it spikes when v reaches threshold, and v goes to v_reset. Then the rule
 * learns: STDP potentiates (creating if needed) pre -> post for every
 * spiking post and every pre that spiked earlier within window_ms, by
 * a_plus * exp(-age / tau_plus), and depresses pre -> post for every
 * spiking pre whose post spiked earlier, by a_minus * exp(-age / tau_minus);
 * Oja's rule moves every synapse onto a spiking post by
 * oja_rate * (x_pre - w) (x_pre the pre trace, y = 1). Weights stay in
 * [w_min, w_max]. Cost O(n + synapses) per step that has spikes.
 * @param spikes_out  n booleans, written on success.
 * @return number of neurons that spiked, -EINVAL (NULL pointer, @dt not
 *         finite and > 0) or -ENOMEM (the step scratch, allocated on first use).
 */
int fx_snn_step(struct fx_snn *snn, const float *inputs, float dt, bool *spikes_out);

#define FX_SNN_RECENT 4     /* fired neurons fx_snn_fire learns from */
#define FX_SNN_MAX_EXPAND 8 /* neurons one fx_snn_fire propagates from */

/** A neuron driven to spike by fx_snn_fire's propagation. */
struct fx_snn_spike {
	uint32_t neuron;
	uint32_t depth;   /* 1: successor of the fired neuron, 2: of that one, ... */
	float strength;   /* product of the weights along the path, in (0, w_max^depth] */
};

/**
 * Event-driven: neuron @neuron spikes at time @t (an earlier @t than the
 * clock counts as the clock). Learns (per the rule) the synapses to
 * @neuron from the last FX_SNN_RECENT neurons fired within window_ms
 * before @t, and (STDP) depresses @neuron's synapses onto neurons that
 * spiked shortly before it; then injects each outgoing synapse's (decayed)
 * weight into its target's (leaked) membrane. Targets that reach threshold
 * spike and, up to @max_depth hops, propagate in turn (strongest path
 * first: the product of w / w_max along it). Work is capped: at most
 * FX_SNN_MAX_EXPAND neurons propagate per call. Finally a_hetero depresses
 * @neuron's outgoing synapses. Propagated spikes are predictions: they do
 * not learn, do not enter the recent-spike window, do not reset the
 * membrane (it is held at threshold and leaks from there, so
 * fx_snn_potential shows how recently a neuron was predicted) and skip
 * neurons in their refractory period. The strongest @max_out are reported,
 * ordered by path strength (ties: lower depth, lower neuron first).
 * @return number written to @out (0..@max_out), or -EINVAL (NULL @snn,
 *         @neuron out of range, NaN @t, NULL @out with @max_out > 0).
 */
int fx_snn_fire(struct fx_snn *snn, uint32_t neuron, double t, unsigned max_depth,
		struct fx_snn_spike *out, size_t max_out);

/** Membrane potential of @neuron leaked to time @t (0 if out of range). */
float fx_snn_potential(struct fx_snn *snn, uint32_t neuron, double t);
/**
 * When @neuron last really spiked (fx_snn_fire on it, or a step), not
 * counting predicted spikes; -INFINITY if never or out of range.
 */
double fx_snn_last_spike(const struct fx_snn *snn, uint32_t neuron);

/** Weight of synapse @pre -> @post decayed to @t, 0 if absent. */
float fx_snn_weight(struct fx_snn *snn, uint32_t pre, uint32_t post, double t);
/**
 * Set (creating, or replacing the weakest) synapse @pre -> @post to @w,
 * clamped to [w_min, w_max], as of the network's clock.
 * @return 0 or -EINVAL (NULL, a neuron out of range, @pre == @post, @w not finite).
 */
int fx_snn_connect(struct fx_snn *snn, uint32_t pre, uint32_t post, float w);

/** One synapse as exported. */
struct fx_snn_synapse {
	uint32_t pre, post;
	float weight;
};

/**
 * Visit every synapse with |weight| > @min_abs, decayed to @t.
 * @return 0, or the first non-zero value @fn returned (which stops the walk).
 */
int fx_snn_each_synapse(struct fx_snn *snn, double t, float min_abs,
			int (*fn)(void *arg, const struct fx_snn_synapse *s), void *arg);
/**
 * @pre's outgoing synapses with |weight| > @min_abs, decayed to @t, in
 * slot order. Does not change the network.
 * @param out  room for @max synapses (fanout is always enough).
 * @return the number written, or -EINVAL.
 */
int fx_snn_synapses_of(struct fx_snn *snn, uint32_t pre, double t, float min_abs,
		       struct fx_snn_synapse *out, size_t max);
/** Number of synapses currently held. */
size_t fx_snn_synapse_count(const struct fx_snn *snn);
/** The time of the latest event seen (fx_snn_fire or steps), for persistence. */
double fx_snn_clock(const struct fx_snn *snn);
/**
 * Restore the clock after loading (times before it are in the past); call
 * it before fx_snn_connect, which stamps synapses with the clock.
 */
void fx_snn_set_clock(struct fx_snn *snn, double t);

#endif
