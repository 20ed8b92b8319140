/*
 * predict_i.h - what neural/model.c needs of the predictor beyond predict.h:
 * the model clock and the per-neuron region slots, read and restored.
 *
 * Owns: nothing; declarations only. Not for use outside neural/.
 */
#ifndef FX_NEURAL_PREDICT_I_H
#define FX_NEURAL_PREDICT_I_H

#include <stdint.h>

#include "neural/predict.h"

#define FX_PREDICT_SLOTS 2u /* regions remembered per neuron; slot 0 most recent */

/** The model clock (ms of model time; the network's clock). */
double fx_predict_clock(const struct fx_predictor *p);

/**
 * Set the model clock (after loading, before restoring synapses); the next
 * fx_predict_resume, access or activity maps the caller's clock onto it.
 */
void fx_predict_set_clock(struct fx_predictor *p, double t);

/**
 * Region slot @slot of @neuron: @return 1 with *@out (depth 0, confidence
 * 1), 0 if the slot is empty or out of range.
 */
int fx_predict_slot(const struct fx_predictor *p, uint32_t neuron, unsigned slot,
		    struct fx_prediction *out);

/**
 * Restore region slot @slot of @neuron to blocks [first, first + nblocks) of
 * @obj. @return 0, or -EINVAL unless: @obj != 0, 1 <= @nblocks, the range
 * lies in one region, and that region maps to @neuron.
 */
int fx_predict_set_slot(struct fx_predictor *p, uint32_t neuron, unsigned slot, uint64_t obj,
			uint64_t first, uint32_t nblocks);

/** Restore the counters (after loading). */
void fx_predict_set_counters(struct fx_predictor *p, const struct fx_predict_counters *c);

#endif
