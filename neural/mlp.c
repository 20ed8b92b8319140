/*
 * mlp.c - BrainFusionNet: sigmoid MLP forward pass and backprop (see mlp.h).
 *
 * Owns: parameter storage, activation/delta scratch, the init PRNG.
 * Does not own: feature meaning, persistence, locking (one thread per net).
 */
#include "neural/mlp.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct fx_mlp {
	size_t n_layers;
	unsigned *sizes;   /* [n_layers] */
	size_t *act_off;   /* [n_layers] offset of layer l in act/delta */
	size_t *param_off; /* [n_layers] offset of W_l in params; [0] unused */
	size_t n_params;
	float *params;     /* weights+biases, layout in mlp.h */
	float *act;        /* activations of every layer, inputs first */
	float *delta;      /* dL/d(pre-activation), same indexing as act */
	float *grad;       /* [n_params] scratch so an SGD step never allocates */
};

/* splitmix64: tiny, seedable with any value, good enough for weight init. */
static uint64_t fx_mlp_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static float fx_mlp_sigmoid(float x)
{
	return 1.0f / (1.0f + expf(-x));
}

struct fx_mlp *fx_mlp_new(const unsigned *sizes, size_t n_layers, uint64_t seed)
{
	struct fx_mlp *net;
	size_t units = 0, params = 0;
	uint64_t rng = seed;

	if (!sizes || n_layers < 2 || n_layers > FX_MLP_MAX_LAYERS)
		goto out_inval;
	for (size_t l = 0; l < n_layers; l++) {
		if (sizes[l] == 0 || sizes[l] > FX_MLP_MAX_WIDTH)
			goto out_inval;
		units += sizes[l];
		/* bounded by the limits above: 64 * 2^16 * (2^16 + 1) fits size_t */
		if (l > 0)
			params += (size_t)sizes[l] * (sizes[l - 1] + 1);
	}

	net = calloc(1, sizeof(*net));
	if (!net)
		goto out_nomem;
	net->n_layers = n_layers;
	net->n_params = params;
	net->sizes = malloc(n_layers * sizeof(*net->sizes));
	net->act_off = malloc(n_layers * sizeof(*net->act_off));
	net->param_off = malloc(n_layers * sizeof(*net->param_off));
	net->params = malloc(params * sizeof(*net->params));
	net->act = malloc(units * sizeof(*net->act));
	net->delta = malloc(units * sizeof(*net->delta));
	net->grad = malloc(params * sizeof(*net->grad));
	if (!net->sizes || !net->act_off || !net->param_off || !net->params || !net->act ||
	    !net->delta || !net->grad)
		goto out_free_net;
	memcpy(net->sizes, sizes, n_layers * sizeof(*sizes));

	units = params = 0;
	for (size_t l = 0; l < n_layers; l++) {
		net->act_off[l] = units;
		units += sizes[l];
		net->param_off[l] = params;
		if (l == 0)
			continue;
		size_t n_w = (size_t)sizes[l] * sizes[l - 1];
		float range = sqrtf(6.0f / (float)(sizes[l] + sizes[l - 1]));
		float *w = net->params + params;

		for (size_t i = 0; i < n_w; i++) {
			/* top 24 bits -> uniform in [0,1) exactly representable as float */
			float u = (float)(fx_mlp_rand(&rng) >> 40) / 16777216.0f;
			w[i] = (2.0f * u - 1.0f) * range;
		}
		memset(w + n_w, 0, sizes[l] * sizeof(*w));
		params += n_w + sizes[l];
	}
	return net;

out_free_net:
	fx_mlp_free(net);
out_nomem:
	errno = ENOMEM;
	return NULL;
out_inval:
	errno = EINVAL;
	return NULL;
}

void fx_mlp_free(struct fx_mlp *net)
{
	if (!net)
		return;
	free(net->sizes);
	free(net->act_off);
	free(net->param_off);
	free(net->params);
	free(net->act);
	free(net->delta);
	free(net->grad);
	free(net);
}

/* Fill net->act for every layer from @inputs. */
static void fx_mlp_run(struct fx_mlp *net, const float *inputs)
{
	memcpy(net->act, inputs, net->sizes[0] * sizeof(*inputs));
	for (size_t l = 1; l < net->n_layers; l++) {
		unsigned n_in = net->sizes[l - 1], n_out = net->sizes[l];
		const float *w = net->params + net->param_off[l];
		const float *b = w + (size_t)n_out * n_in;
		const float *in = net->act + net->act_off[l - 1];
		float *out = net->act + net->act_off[l];

		for (unsigned j = 0; j < n_out; j++) {
			float z = b[j];

			for (unsigned i = 0; i < n_in; i++)
				z += w[(size_t)j * n_in + i] * in[i];
			out[j] = fx_mlp_sigmoid(z);
		}
	}
}

int fx_mlp_forward(struct fx_mlp *net, const float *inputs, float *outputs)
{
	size_t last;

	if (!net || !inputs || !outputs)
		return -EINVAL;
	fx_mlp_run(net, inputs);
	last = net->n_layers - 1;
	memcpy(outputs, net->act + net->act_off[last], net->sizes[last] * sizeof(*outputs));
	return 0;
}

/* Forward, then backward into @grad_out; returns the loss of the forward pass. */
static float fx_mlp_grad(struct fx_mlp *net, const float *inputs, const float *targets,
			 float *grad_out)
{
	size_t last = net->n_layers - 1;
	const float *y = net->act + net->act_off[last];
	float *d = net->delta + net->act_off[last];
	float loss = 0.0f;

	fx_mlp_run(net, inputs);
	for (unsigned k = 0; k < net->sizes[last]; k++) {
		float e = y[k] - targets[k];

		loss += 0.5f * e * e;
		d[k] = e * y[k] * (1.0f - y[k]);
	}
	for (size_t l = last; l >= 1; l--) {
		unsigned n_in = net->sizes[l - 1], n_out = net->sizes[l];
		const float *w = net->params + net->param_off[l];
		const float *in = net->act + net->act_off[l - 1];
		const float *d_out = net->delta + net->act_off[l];
		float *g = grad_out + net->param_off[l];

		for (unsigned j = 0; j < n_out; j++) {
			for (unsigned i = 0; i < n_in; i++)
				g[(size_t)j * n_in + i] = d_out[j] * in[i];
			g[(size_t)n_out * n_in + j] = d_out[j];
		}
		if (l == 1)
			break; /* no delta for the input layer */
		float *d_in = net->delta + net->act_off[l - 1];

		for (unsigned i = 0; i < n_in; i++) {
			float s = 0.0f;

			for (unsigned j = 0; j < n_out; j++)
				s += w[(size_t)j * n_in + i] * d_out[j];
			d_in[i] = s * in[i] * (1.0f - in[i]);
		}
	}
	return loss;
}

int fx_mlp_gradient(struct fx_mlp *net, const float *inputs, const float *targets,
		    float *grad_out)
{
	if (!net || !inputs || !targets || !grad_out)
		return -EINVAL;
	fx_mlp_grad(net, inputs, targets, grad_out);
	return 0;
}

float fx_mlp_backprop(struct fx_mlp *net, const float *inputs, const float *targets, float lr)
{
	float loss;

	if (!net || !inputs || !targets || !isfinite(lr) || lr < 0.0f)
		return NAN;
	loss = fx_mlp_grad(net, inputs, targets, net->grad);
	for (size_t p = 0; p < net->n_params; p++)
		net->params[p] -= lr * net->grad[p];
	return loss;
}

size_t fx_mlp_shape(const struct fx_mlp *net, unsigned *sizes, size_t max)
{
	if (!net)
		return 0;
	if (sizes)
		memcpy(sizes, net->sizes, (max < net->n_layers ? max : net->n_layers) * sizeof(*sizes));
	return net->n_layers;
}

size_t fx_mlp_param_count(const struct fx_mlp *net)
{
	return net ? net->n_params : 0;
}

float *fx_mlp_params(struct fx_mlp *net)
{
	return net ? net->params : NULL;
}
