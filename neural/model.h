/*
 * model.h - the learning cache's model in LMDB, beside the cache index.
 *
 * Owns: the on-disk format of the model (its own LMDB environment, file
 * FX_MODEL_FILE in the cache directory): a meta record (magic, format
 * version, hash seed, network shape), the synapses, the per-neuron reverse
 * maps, the object records, the MLP's shape and parameters and the
 * counters; saving in short transactions and loading with checks.
 * Does not own: when to save (the cache's flusher, about every 30 s, and at
 * unmount), the predictor or MLP objects themselves.
 *
 * A model whose magic, version, seed or shape does not match, or whose
 * records do not parse, is reported with -FX_ECORRUPT (never a crash); the
 * caller logs a warning and starts a fresh model.
 */
#ifndef FX_NEURAL_MODEL_H
#define FX_NEURAL_MODEL_H

#include <stdint.h>

#include "core/error.h"
#include "neural/mlp.h"
#include "neural/predict.h"

#define FX_MODEL_FILE "model.mdb"
#define FX_MODEL_MAGIC "RFXM"
#define FX_MODEL_VERSION 1

/** Counters of the cache around the model, saved with it. */
struct fx_model_counters {
	uint64_t predicted, prefetched, used, wasted; /* learned prefetch */
	uint64_t trained;                             /* MLP training samples */
	uint64_t saves;                               /* times saved */
};

/**
 * Write @pred (required), @mlp (may be NULL) and @c to the model file in
 * @dir, replacing what was there. @return 0 or -errno with @d filled.
 * @note Reads @pred and @mlp: the caller keeps them still (holds their lock,
 *       or passes copies) for the duration.
 */
int fx_model_save(const char *dir, struct fx_predictor *pred, struct fx_mlp *mlp,
		  const struct fx_model_counters *c, struct fx_diag *d);

/**
 * Load the model in @dir into a new predictor made with @o (whose neurons,
 * region_blocks and seed must match the saved ones) and, if @mlp is not
 * NULL and the saved MLP has the same shape, into @mlp's parameters.
 * @return 0 and *@pred_out (owned by the caller) and *@c; -ENOENT when there
 *         is no model; -FX_ECORRUPT (mismatch, unknown version, corrupt) or
 *         -errno with @d filled. Nothing is written to the outputs on error.
 */
int fx_model_load(const char *dir, const struct fx_predict_opts *o, struct fx_mlp *mlp,
		  struct fx_predictor **pred_out, struct fx_model_counters *c, struct fx_diag *d);

/** Delete the model file in @dir (`rustfx brain reset`). @return 0, -ENOENT or -errno. */
int fx_model_remove(const char *dir);

#endif
