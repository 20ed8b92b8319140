/*
 * fusion.c - the README's example of neural/: BrainFusionNet (a small MLP)
 * learning one sample by backprop, and a SpikingNet of 5 LIF neurons that
 * charges up, spikes, and learns an association by STDP.
 *
 * Owns: nothing but this demonstration. Build target rustfx-neural-example
 * (not installed); run build/neural/rustfx-neural-example.
 */
#include <stdio.h>

#include "neural/mlp.h"
#include "neural/snn.h"

static void print_spikes(const char *label, const bool *spikes, size_t n)
{
	printf("%sSpikes: [", label);
	for (size_t i = 0; i < n; i++)
		printf("%s%s", i ? ", " : "", spikes[i] ? "true" : "false");
	printf("]\n");
}

int main(void)
{
	/* BrainFusionNet {2, 3, 1}: one backprop step toward target 1.0 */
	const unsigned sizes[] = {2, 3, 1};
	const float in[] = {0.5f, 0.3f}, target[] = {1.0f};
	struct fx_mlp *net = fx_mlp_new(sizes, 3, 42);
	float out;

	if (!net)
		return 71; /* EX_OSERR */
	fx_mlp_forward(net, in, &out);
	printf("BrainFusionNet output: %.4f\n", out);
	fx_mlp_backprop(net, in, target, 0.01f);
	fx_mlp_forward(net, in, &out);
	printf("after one backprop step (lr 0.01): %.4f\n", out);
	for (int i = 0; i < 2000; i++)
		fx_mlp_backprop(net, in, target, 0.5f);
	fx_mlp_forward(net, in, &out);
	printf("after 2000 more (lr 0.5): %.4f\n\n", out);
	fx_mlp_free(net);

	/* SpikingNet of 5 neurons, the same input every 1 ms step */
	const float inputs[] = {0.1f, 0.2f, 0.0f, 0.3f, 0.1f};
	struct fx_snn *snn = fx_snn_new(5);
	bool spikes[5];
	char label[32];

	if (!snn)
		return 71;
	fx_snn_step(snn, inputs, 1.0f, spikes);
	print_spikes("", spikes, 5);
	/* membranes charge toward tau_m * input; neuron 3 (0.3) crosses 1.0 first */
	for (int step = 2; step <= 6; step++) {
		fx_snn_step(snn, inputs, 1.0f, spikes);
		snprintf(label, sizeof(label), "step %d: ", step);
		print_spikes(label, spikes, 5);
	}
	fx_snn_free(snn);

	/* An association: kick neuron 0, then neuron 2 one step later, then rest
	 * longer than the STDP window (100 ms) so pairings do not overlap */
	const float kick0[5] = {1.5f}, kick2[5] = {0, 0, 1.5f}, rest[5] = {0};

	snn = fx_snn_new(5);
	if (!snn)
		return 71;
	for (int pairing = 1; pairing <= 5; pairing++) {
		fx_snn_step(snn, kick0, 1.0f, spikes);
		fx_snn_step(snn, kick2, 1.0f, spikes);
		for (int i = 0; i < 100; i++)
			fx_snn_step(snn, rest, 1.0f, spikes);
		printf("\npairing %d: weight 0 -> 2 = %.2f", pairing,
		       fx_snn_weight(snn, 0, 2, fx_snn_clock(snn)));
	}
	printf("\n");
	/* now neuron 0 alone: neuron 2 follows through the learned synapse */
	fx_snn_step(snn, kick0, 1.0f, spikes);
	print_spikes("kick 0 only: ", spikes, 5);
	fx_snn_step(snn, rest, 1.0f, spikes);
	print_spikes("next step:   ", spikes, 5);
	fx_snn_free(snn);
	return 0;
}
