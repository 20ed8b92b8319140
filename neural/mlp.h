/*
 * mlp.h - "BrainFusionNet": a small fully-connected sigmoid MLP trained by
 * backprop (plain SGD on squared error). The cache uses it as a reuse scorer.
 *
 * Owns: the network shape, its parameters, forward pass, analytic gradient and
 * one SGD step, and deterministic initialisation from a seed.
 * Does not own: what the inputs mean (feature extraction lives in cache/),
 * persistence of the parameters (neural/ LMDB code reads fx_mlp_params()),
 * and any locking: a net is used by one thread at a time.
 *
 * Parameter layout (fx_mlp_params, fx_mlp_gradient): for each layer l = 1 ..
 * n_layers-1 in order, the weight matrix W_l row-major as [sizes[l]][sizes[l-1]]
 * (W_l[j][i] connects unit i of layer l-1 to unit j of layer l), immediately
 * followed by the bias vector b_l[sizes[l]]. Units compute
 * a_l = sigmoid(W_l a_{l-1} + b_l).
 */
#ifndef FX_NEURAL_MLP_H
#define FX_NEURAL_MLP_H

#include <stddef.h>
#include <stdint.h>

struct fx_mlp;

/** Largest accepted layer width and layer count; keeps every size product in range. */
#define FX_MLP_MAX_WIDTH 65536u
#define FX_MLP_MAX_LAYERS 64u

/**
 * Create a net with @n_layers layers of @sizes[i] units each (sizes[0] inputs,
 * sizes[n_layers-1] outputs). Weights are drawn uniformly from
 * +-sqrt(6 / (fan_in + fan_out)) (Xavier) by a PRNG seeded with @seed; biases
 * start at 0. The same shape and seed always give the same parameters.
 * @param sizes  layer widths, copied; each in 1..FX_MLP_MAX_WIDTH.
 * @param n_layers  2..FX_MLP_MAX_LAYERS.
 * @return a new net owned by the caller (release with fx_mlp_free()), or NULL
 *         on bad arguments (errno = EINVAL) or out of memory (errno = ENOMEM).
 */
struct fx_mlp *fx_mlp_new(const unsigned *sizes, size_t n_layers, uint64_t seed);

/** Release @net and everything it owns. NULL is a no-op. */
void fx_mlp_free(struct fx_mlp *net);

/**
 * Forward pass.
 * @param inputs  sizes[0] values.
 * @param outputs  receives sizes[n_layers-1] values, each in [0,1] (in (0,1)
 *         unless a pre-activation saturates float precision); written only on success.
 * @return 0, or -EINVAL if any pointer is NULL.
 * @note Writes scratch state inside @net: not safe to call concurrently on one net.
 */
int fx_mlp_forward(struct fx_mlp *net, const float *inputs, float *outputs);

/**
 * Analytic gradient of L = 0.5 * sum_k (y_k - t_k)^2 with respect to every
 * parameter, where y = forward(@inputs).
 * @param targets  sizes[n_layers-1] values.
 * @param grad_out  fx_mlp_param_count() floats, same layout as fx_mlp_params();
 *         written only on success.
 * @return 0, or -EINVAL if any pointer is NULL. Parameters are not changed.
 */
int fx_mlp_gradient(struct fx_mlp *net, const float *inputs, const float *targets,
		    float *grad_out);

/**
 * One SGD step: params -= @lr * gradient(@inputs, @targets).
 * @param lr  learning rate; must be finite and >= 0.
 * @return the loss 0.5 * sum (y - t)^2 before the step, or NAN on bad
 *         arguments (NULL pointer, bad @lr), in which case nothing changes.
 */
float fx_mlp_backprop(struct fx_mlp *net, const float *inputs, const float *targets, float lr);

/**
 * The layer widths of @net (to save it, or to check a saved net fits).
 * @param sizes  receives the first min(n_layers, @max) widths; may be NULL if @max is 0.
 * @return the number of layers, 0 if @net is NULL.
 */
size_t fx_mlp_shape(const struct fx_mlp *net, unsigned *sizes, size_t max);

/** Number of parameters (all weights plus all biases). 0 if @net is NULL. */
size_t fx_mlp_param_count(const struct fx_mlp *net);

/**
 * The contiguous parameter array, layout as described at the top of this file.
 * @return a pointer owned by @net, valid until fx_mlp_free(@net); the caller may
 *         read and write it (to save or restore a model). NULL if @net is NULL.
 */
float *fx_mlp_params(struct fx_mlp *net);

#endif
