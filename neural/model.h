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
 *
 * Format (version 1; integers and floats little-endian, every value ends
 * with the XXH3-64 of what precedes it): an LMDB environment in one file
 * (MDB_NOSUBDIR, no lock file) with named databases
 *   meta      "meta": magic, version, hash algorithm, chunk size, seed,
 *             neurons, region_blocks, fanout, flags, model clock and the
 *             number of synapses, region slots and objects that follow
 *   synapses  per chunk of FX_MODEL_CHUNK neurons (key: chunk index, u32
 *             big-endian): (pre u32, post u32, weight f32) records
 *   regions   per chunk: (neuron u32, slot u32, obj u64, first_block u64,
 *             nblocks u32) records
 *   objects   per batch (key: batch index, u32 big-endian): (obj u64, len
 *             u32, len bytes) records, least recently used first
 *   mlp       "mlp": layer count, widths, parameter count, parameters
 *   counters  "counters": struct fx_model_counters then fx_predict_counters
 * The layout is that of the machine that wrote it (LMDB pages are native).
 * After LMDB's pages the file ends with a 24-byte trailer: "RFXMSUM1", the
 * number of bytes before the trailer (u64) and their XXH3-64 (u64). A load
 * checks it with read(2) before LMDB maps the file, so a damaged file of any
 * kind is refused without LMDB ever reading it (LMDB has no checksums and
 * trusts its pages).
 *
 * Saving is atomic: the model is written to FX_MODEL_FILE ".tmp" in short
 * transactions, sealed with the trailer and synced, then rename(2)d over
 * FX_MODEL_FILE (and the directory synced); a model file is never written
 * again after that. A kill at any point leaves the previous model whole; a
 * leftover .tmp is ignored by loads and replaced by the next save.
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
#define FX_MODEL_CHUNK 4096u /* neurons per synapse/region record (and per transaction) */

/** Counters of the cache around the model, saved with it. */
struct fx_model_counters {
	uint64_t predicted, prefetched, used, wasted; /* learned prefetch */
	uint64_t trained;                             /* MLP training samples */
	uint64_t saves;                               /* times saved */
};

/**
 * Write @pred (required), @mlp (may be NULL) and @c (required) to the model
 * file in @dir (which must exist), replacing what was there atomically (see
 * above). Synapses weaker than 1/1000 of w_max are not saved.
 * @return 0 or -errno (-EINVAL, -ENOMEM, -ENOSPC, -EIO, ...) with @d filled.
 * @note Reads @pred and @mlp: the caller keeps them still (holds their lock,
 *       or passes copies) for the duration, about 0.1 s for a full default model.
 */
int fx_model_save(const char *dir, struct fx_predictor *pred, struct fx_mlp *mlp,
		  const struct fx_model_counters *c, struct fx_diag *d);

/**
 * Load the model in @dir into a new predictor made with @o (whose neurons,
 * region_blocks and seed must match the saved ones) and, if @mlp is not
 * NULL and the saved MLP has the same shape, into @mlp's parameters.
 * Everything is checked before anything is handed out: magic, version,
 * checksums, seed and shape, record sizes, neuron indices, that every region
 * hashes to its neuron, finite weights within bounds, and the counts in the
 * meta record.
 * @return 0 and *@pred_out (owned by the caller) and *@c; -ENOENT when there
 *         is no model (@d untouched); -FX_ECORRUPT (mismatch, unknown
 *         version, corrupt) or -errno with @d filled. Nothing is written to
 *         the outputs, nor to @mlp, on error.
 * @note A saved MLP that does not fit @mlp (other shape), or a missing one,
 *       is not an error: @mlp is left as it was and, on success, @d->msg
 *       says so while @d->err stays 0 (log it as a note). @d->msg is empty
 *       when everything was loaded.
 */
int fx_model_load(const char *dir, const struct fx_predict_opts *o, struct fx_mlp *mlp,
		  struct fx_predictor **pred_out, struct fx_model_counters *c, struct fx_diag *d);

/** What a saved model's meta, MLP and counters records hold (fx_model_info). */
struct fx_model_info {
	uint32_t version;                /* format version: FX_MODEL_VERSION */
	uint64_t file_bytes;             /* size of the model file */
	uint64_t seed;                   /* hash seed of the neuron mapping */
	uint32_t neurons, region_blocks; /* the predictor's shape */
	uint32_t fanout;                 /* synapses per neuron at most */
	double clock_ms;                 /* model time (runs only while mounted) */
	uint64_t synapses, region_slots, objects; /* records saved */
	uint32_t mlp_layers;             /* 0: no reuse-scorer MLP saved */
	unsigned mlp_shape[FX_MLP_MAX_LAYERS]; /* its layer widths */
	struct fx_model_counters counters;
	struct fx_predict_counters predict;
};

/**
 * Read what the model in @dir is without loading it, so that a tool can
 * load a model whatever the mount's options were: the file's checksum, the
 * meta record (checked as fx_model_load does, except against a mount's
 * shape, plus the ranges any predictor must be in), the MLP record (in
 * full) and the counters. Synapses, regions and objects are not read:
 * fx_model_load checks them.
 * @param saved  when not NULL, the defaults of fx_predict_opts_default with
 *               the saved neurons, region_blocks and seed: what
 *               fx_model_load(@dir, @saved, ...) takes. window_ms, depth
 *               and the object limits are not saved and stay the defaults.
 * @param info   when not NULL, what the records hold.
 * @return 0; -ENOENT when there is no model (@d untouched); -FX_ECORRUPT
 *         (damaged, unknown version, malformed) or -errno with @d filled.
 *         Nothing is written to @saved or @info on error.
 * @note Reads a model file a mount may be replacing at the same time: saves
 *       rename a whole new file over it, so either one is read whole.
 */
int fx_model_info(const char *dir, struct fx_predict_opts *saved, struct fx_model_info *info,
		  struct fx_diag *d);

/** Delete the model file in @dir (`rustfx brain reset`). @return 0, -ENOENT or -errno. */
int fx_model_remove(const char *dir);

#endif
