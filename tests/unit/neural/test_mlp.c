/*
 * test_mlp.c - BrainFusionNet: gradient correctness, learning XOR,
 * deterministic init and argument checking.
 * Does not test persistence or cache integration (their own suites).
 */
#include "neural/mlp.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <string.h>

/* Loss in double from a forward pass, for finite differences. */
static double loss_of(struct fx_mlp *net, const float *in, const float *tgt, size_t n_out)
{
	float y[8];
	double l = 0.0;

	cr_assert_eq(fx_mlp_forward(net, in, y), 0);
	for (size_t k = 0; k < n_out; k++)
		l += 0.5 * ((double)y[k] - tgt[k]) * ((double)y[k] - tgt[k]);
	return l;
}

Test(mlp, gradient_matches_central_differences)
{
	const unsigned sizes[] = {3, 4, 2};
	const float in[] = {0.5f, -1.2f, 0.8f}, tgt[] = {0.9f, 0.1f};
	struct fx_mlp *net = fx_mlp_new(sizes, 3, 7);
	size_t n = fx_mlp_param_count(net);
	float grad[64], *p = fx_mlp_params(net);
	const float h = 1e-2f;

	cr_assert_not_null(net);
	cr_assert_eq(n, 4 * 3 + 4 + 2 * 4 + 2);
	for (size_t i = 0; i < n; i++) /* non-zero biases exercise their gradients too */
		p[i] += 0.1f * (float)((int)(i % 5) - 2);
	cr_assert_eq(fx_mlp_gradient(net, in, tgt, grad), 0);
	for (size_t i = 0; i < n; i++) {
		float saved = p[i];

		p[i] = saved + h;
		double up = loss_of(net, in, tgt, 2);
		p[i] = saved - h;
		double down = loss_of(net, in, tgt, 2);
		p[i] = saved;
		double num = (up - down) / (2.0 * ((double)(saved + h) - (double)saved));
		double denom = fmax(fmax(fabs(num), fabs(grad[i])), 1e-3);

		cr_assert_lt(fabs(num - grad[i]) / denom, 1e-2, "param %zu: analytic %g numeric %g",
			     i, grad[i], num);
	}
	fx_mlp_free(net);
}

Test(mlp, learns_xor)
{
	const unsigned sizes[] = {2, 4, 1};
	const float in[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}}, tgt[4] = {0, 1, 1, 0};
	struct fx_mlp *net = fx_mlp_new(sizes, 3, 42);
	float y, first = 0.0f, last = 0.0f;

	cr_assert_not_null(net);
	for (int epoch = 0; epoch < 5000; epoch++) {
		float sum = 0.0f;

		for (int s = 0; s < 4; s++)
			sum += fx_mlp_backprop(net, in[s], &tgt[s], 2.0f);
		if (epoch == 0)
			first = sum;
		last = sum;
	}
	cr_assert_lt(last, first, "loss did not fall: %g -> %g", first, last);
	for (int s = 0; s < 4; s++) {
		cr_assert_eq(fx_mlp_forward(net, in[s], &y), 0);
		cr_assert_lt(fabsf(y - tgt[s]), 0.1f, "xor(%g,%g) = %g", in[s][0], in[s][1], y);
	}
	fx_mlp_free(net);
}

Test(mlp, same_seed_same_params_other_seed_differs)
{
	const unsigned sizes[] = {5, 6, 3};
	struct fx_mlp *a = fx_mlp_new(sizes, 3, 1234), *b = fx_mlp_new(sizes, 3, 1234);
	struct fx_mlp *c = fx_mlp_new(sizes, 3, 1235);
	size_t n = fx_mlp_param_count(a);

	cr_assert(a && b && c);
	cr_assert_eq(memcmp(fx_mlp_params(a), fx_mlp_params(b), n * sizeof(float)), 0);
	cr_assert_neq(memcmp(fx_mlp_params(a), fx_mlp_params(c), n * sizeof(float)), 0);
	/* Xavier range for the first layer: sqrt(6 / (5 + 6)) */
	for (size_t i = 0; i < 5 * 6; i++)
		cr_assert_leq(fabsf(fx_mlp_params(a)[i]), sqrtf(6.0f / 11.0f));
	fx_mlp_free(a);
	fx_mlp_free(b);
	fx_mlp_free(c);
}

Test(mlp, bad_args)
{
	const unsigned ok[] = {2, 3, 1}, zero[] = {2, 0, 1};
	float x[2] = {0}, y[1];
	struct fx_mlp *net;

	errno = 0;
	cr_assert_null(fx_mlp_new(ok, 1, 1));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(fx_mlp_new(ok, 0, 1));
	cr_assert_null(fx_mlp_new(NULL, 3, 1));
	cr_assert_null(fx_mlp_new(zero, 3, 1));
	fx_mlp_free(NULL);
	cr_assert_eq(fx_mlp_param_count(NULL), 0);

	net = fx_mlp_new(ok, 3, 1);
	cr_assert_not_null(net);
	cr_assert_eq(fx_mlp_forward(net, NULL, y), -EINVAL);
	cr_assert_eq(fx_mlp_forward(net, x, NULL), -EINVAL);
	cr_assert_eq(fx_mlp_gradient(net, x, NULL, y), -EINVAL);
	cr_assert(isnan(fx_mlp_backprop(net, x, y, -1.0f)));
	cr_assert(isnan(fx_mlp_backprop(net, x, y, NAN)));
	fx_mlp_free(net);
}

Test(mlp, forward_output_is_a_probability)
{
	const unsigned sizes[] = {4, 8, 8, 3};
	const float in[3][4] = {{0, 0, 0, 0}, {1, -1, 2, -2}, {3, 3, -3, 0.5f}};
	struct fx_mlp *net = fx_mlp_new(sizes, 4, 99);
	float y[3] = {-1, -1, -1};

	cr_assert_not_null(net);
	for (int s = 0; s < 3; s++) {
		cr_assert_eq(fx_mlp_forward(net, in[s], y), 0);
		for (int k = 0; k < 3; k++)
			cr_assert(y[k] > 0.0f && y[k] < 1.0f, "y[%d] = %g", k, y[k]);
	}
	fx_mlp_free(net);
}
