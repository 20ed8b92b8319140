/*
 * snn.h - a leaky-integrate-and-fire spiking network with sparse, plastic
 * synapses (pair-based STDP, Oja's bounded Hebbian rule, weight decay).
 *
 * Owns: neuron state (membrane potential, refractory time, pre/post
 * traces, last spike), the synapse lists (at most `fanout` outgoing
 * synapses per neuron, the weakest replaced when full) and the learning
 * rules.
 * Does not own: what a neuron stands for (neural/predict.c maps cache
 * accesses onto neurons), persistence (neural/model.c reads and writes the
 * arrays through fx_snn_export/fx_snn_import), or locking: one thread at a
 * time per network.
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
	float refractory;  /* ms after a spike during which input is ignored */
	unsigned fanout;   /* outgoing synapses per neuron, 1..FX_SNN_MAX_FANOUT */
	enum fx_snn_rule rule;
	float a_plus;      /* STDP potentiation amplitude (pre before post) */
	float a_minus;     /* STDP depression amplitude (post before pre), >= 0 */
	float tau_plus;    /* ms, pre-trace time constant */
	float tau_minus;   /* ms, post-trace time constant */
	float w_min, w_max;/* weight bounds */
	float oja_rate;    /* learning rate of Oja's rule */
	float decay_ms;    /* weight half-life when not reinforced (ms); 0: no decay */
	float window_ms;   /* fx_snn_fire learns from spikes at most this old */
};

/** The defaults (the seed's constants where it has them). */
void fx_snn_params_default(struct fx_snn_params *p);

struct fx_snn;

/**
 * A network of @n neurons with default parameters and no synapses.
 * @return NULL on bad @n (0 or > FX_SNN_MAX_NEURONS, errno EINVAL) or ENOMEM.
 */
struct fx_snn *fx_snn_new(size_t n);
/** Same with @p (copied) and a seed for anything random. NULL on bad @p too. */
struct fx_snn *fx_snn_new_with(size_t n, const struct fx_snn_params *p, uint64_t seed);
void fx_snn_free(struct fx_snn *snn);

size_t fx_snn_size(const struct fx_snn *snn);
const struct fx_snn_params *fx_snn_params(const struct fx_snn *snn);
/** Bytes of memory the network holds (neurons and synapses). */
size_t fx_snn_memory(const struct fx_snn *snn);

/**
 * One clock-driven step of @dt ms: neuron i integrates @inputs[i] plus the
 * weights of synapses from neurons that spiked in the previous step, leaks
 * toward 0 with tau_m, spikes at threshold (then reset and refractory);
 * then the learning rule updates synapses between spiking neurons.
 * @param spikes_out  n booleans, written on success.
 * @return number of neurons that spiked, or -EINVAL.
 */
int fx_snn_step(struct fx_snn *snn, const float *inputs, float dt, bool *spikes_out);

/** A neuron driven to spike by fx_snn_fire's propagation. */
struct fx_snn_spike {
	uint32_t neuron;
	uint32_t depth;   /* 1: successor of the fired neuron, 2: of that one, ... */
	float strength;   /* product of the weights along the path, in (0, w_max^depth] */
};

/**
 * Event-driven: neuron @neuron spikes at time @t (>= every earlier t).
 * Learns (per the rule) the synapses from neurons that spiked within
 * window_ms before @t to @neuron, then injects each outgoing synapse's
 * weight into its target's (leaked) membrane. Targets that reach threshold
 * spike and, up to @max_depth hops, propagate in turn (strongest first);
 * at most @max_out of them are reported. Propagated spikes are predictions:
 * they do not learn and do not enter the recent-spike window.
 * @return number written to @out (0..@max_out), or -EINVAL.
 */
int fx_snn_fire(struct fx_snn *snn, uint32_t neuron, double t, unsigned max_depth,
		struct fx_snn_spike *out, size_t max_out);

/** Membrane potential of @neuron leaked to time @t (0 if out of range). */
float fx_snn_potential(struct fx_snn *snn, uint32_t neuron, double t);

/** Weight of synapse @pre -> @post decayed to @t, 0 if absent. */
float fx_snn_weight(struct fx_snn *snn, uint32_t pre, uint32_t post, double t);
/** Set (creating, or replacing the weakest) synapse @pre -> @post. @return 0 or -EINVAL. */
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
/** Number of synapses currently held. */
size_t fx_snn_synapse_count(const struct fx_snn *snn);
/** The time of the latest event seen (fx_snn_fire or steps), for persistence. */
double fx_snn_clock(const struct fx_snn *snn);
/** Restore the clock after loading (times before it are in the past). */
void fx_snn_set_clock(struct fx_snn *snn, double t);

#endif
