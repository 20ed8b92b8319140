/*
 * predict.h - the access predictor: what is read after what, learned by a
 * spiking network (neural/snn.h), across objects.
 *
 * Owns: the mapping of (object id, block region) to one of N neurons by
 * xxHash; a small reverse map per neuron of the recent (object, block range)
 * it stood for; a bounded table of opaque per-object records the caller
 * needs to act on a prediction (key, version, size: the predictor never
 * looks inside); turning fx_snn_fire's propagated spikes into predictions
 * with a confidence; a clock that only runs while the model is in use.
 * Does not own: fetching (cache/), persistence (neural/model.c, through the
 * accessors below), locking (one thread at a time per predictor; the cache
 * wraps it in a mutex).
 *
 * Object ids are the caller's 64-bit hashes of object keys; 0 is reserved.
 *
 * Mapping (persisted, so fixed for FX_MODEL_VERSION 1): region = block /
 * region_blocks; neuron = (XXH3_64bits_withSeed(le64(obj) || le64(region),
 * 16, seed) * neurons) >> 64. Each neuron remembers the last two regions
 * that mapped to it (slot 0 most recent), each as the block range actually
 * read, so a prediction names the blocks that were read last time.
 *
 * The network (fx_predict_snn) is made with these parameters, derived from
 * window_ms (W): tau_m = W, threshold 1, reset 0, no refractory period,
 * fanout 16, STDP with a_plus 1.5, a_minus 0.5, tau_plus = tau_minus = W/2,
 * weights in [0, 4], heterosynaptic depression 0.45, weight half-life 24 h
 * of model time. What follows from them:
 *  - one pairing at a gap under about W/5 (100 ms) makes a synapse strong
 *    enough (>= threshold) to predict: one pass over a sequence teaches it;
 *  - a successor that keeps following settles at w = a_plus x / a_hetero
 *    (x the pre trace at its gap), so closer successors stay stronger and
 *    rank first, and gaps up to about 0.6 W (300 ms) stay predicted; w_max
 *    lies above that, so weights do not saturate and tie;
 *  - a successor that stopped following falls below threshold after two or
 *    three firings of its predecessor without it: a changed order is
 *    relearned within three passes.
 */
#ifndef FX_NEURAL_PREDICT_H
#define FX_NEURAL_PREDICT_H

#include <stddef.h>
#include <stdint.h>

#include "neural/snn.h"

#define FX_PREDICT_OBJECT_MAX 1024u /* bytes of one opaque object record */

struct fx_predict_opts {
	uint32_t neurons;       /* snn_neurons; default 65,536 */
	uint32_t region_blocks; /* consecutive blocks one neuron stands for; default 4 */
	float window_ms;        /* snn_window_ms: STDP learns from accesses this recent; default 500 */
	unsigned depth;         /* hops a prediction follows; default 4 */
	unsigned max_objects;   /* object records kept (LRU); default 16,384 */
	uint64_t seed;          /* hash seed for the neuron mapping; default FX_PREDICT_SEED */
	/* Bytes all object records may take, counted as in fx_predict_memory
	 * (record plus FX_PREDICT_OBJECT_OVERHEAD each); the least recently used
	 * go first. Default 3 MiB (0 means the default), so that the whole
	 * predictor stays within 16 MiB at 65,536 neurons. */
	size_t max_object_bytes;
};

#define FX_PREDICT_SEED 0x5246584e45555231ull /* "RFXNEUR1" */
#define FX_PREDICT_MAX_DEPTH 16u
#define FX_PREDICT_OBJECT_OVERHEAD 48u /* bookkeeping bytes per object record */

/** Fill @o with the defaults above. */
void fx_predict_opts_default(struct fx_predict_opts *o);

/** One prediction: blocks [first_block, first_block + nblocks) of @obj. */
struct fx_prediction {
	uint64_t obj;
	uint64_t first_block;
	uint32_t nblocks;
	uint32_t depth;    /* hops from the access that predicted it (1 = next) */
	float confidence;  /* in (0, 1] */
};

struct fx_predictor;

/**
 * @return a new predictor, or NULL (errno EINVAL on bad @o: neurons outside
 *         1..FX_SNN_MAX_NEURONS, region_blocks 0, window_ms not finite and
 *         > 0, depth > FX_PREDICT_MAX_DEPTH, max_objects 0 or > 2^24,
 *         max_object_bytes below one largest record; ENOMEM).
 */
struct fx_predictor *fx_predict_new(const struct fx_predict_opts *o);
/** Release @p. NULL is a no-op. */
void fx_predict_free(struct fx_predictor *p);
const struct fx_predict_opts *fx_predict_opts(const struct fx_predictor *p);

/**
 * Note a read of block @block of @obj at @now_ms (the caller's monotonic
 * clock; the predictor subtracts time it was not in use, see
 * fx_predict_resume). The region's neuron fires, learning from the regions
 * read just before, unless the neuron already stands for this region and
 * fired less than window_ms ago: then the read only extends the region's
 * block range, and nothing is predicted (it was, at the first read).
 * Fills @out with up to @max predictions, most confident first (ties: lower
 * depth first), one per region, never the region just read. Confidence is
 * the product of w / w_max along the synapse path, halved for a neuron's
 * older region (slot 1).
 * @return predictions written, or -EINVAL (NULL @p, @obj 0, NULL @out with @max > 0).
 */
int fx_predict_access(struct fx_predictor *p, uint64_t obj, uint64_t block, uint64_t now_ms,
		      struct fx_prediction *out, size_t max);

/**
 * How strongly the model expects block @block of @obj to be read soon: the
 * neuron's leaked membrane potential over its threshold, in [0, 1]; 0 for a
 * region the neuron does not currently stand for. A feature for eviction.
 */
float fx_predict_activity(struct fx_predictor *p, uint64_t obj, uint64_t block, uint64_t now_ms);

/**
 * Remember @len bytes (<= FX_PREDICT_OBJECT_MAX, copied; @rec may be NULL
 * when @len is 0) the caller needs to act on a prediction of @obj,
 * replacing its earlier record. The record becomes the most recently used;
 * the least recently used are dropped beyond max_objects records or
 * max_object_bytes. @return 0, -EINVAL, -ENOMEM.
 */
int fx_predict_object_put(struct fx_predictor *p, uint64_t obj, const void *rec, size_t len);
/**
 * Copy @obj's record into @buf (@cap bytes) and make it the most recently
 * used. @return its length, -ENOENT if unknown, -ENOSPC if @cap is too
 * small (nothing copied), -EINVAL.
 */
int fx_predict_object_get(struct fx_predictor *p, uint64_t obj, void *buf, size_t cap);
/**
 * Visit every object record, least recently used first (putting them back
 * in this order rebuilds the same LRU order); @rec is valid during the call
 * only and @fn must not change the table. A non-zero return from @fn stops
 * the walk and is returned.
 */
int fx_predict_each_object(struct fx_predictor *p,
			   int (*fn)(void *arg, uint64_t obj, const void *rec, size_t len), void *arg);

/** The neuron @obj's block @block maps to (0 if @p is NULL). */
uint32_t fx_predict_neuron(const struct fx_predictor *p, uint64_t obj, uint64_t block);
/**
 * What neuron @neuron stood for most recently: @return 1 with *@out (depth
 * 0, confidence 1), or 0 when it stands for nothing yet or is out of range.
 */
int fx_predict_region(const struct fx_predictor *p, uint32_t neuron, struct fx_prediction *out);

/**
 * Continue the model's clock at @now_ms (the caller's clock) from where it
 * stopped: time while unmounted does not age the model. Called after
 * loading; without it the first fx_predict_access or fx_predict_activity
 * does the same. A caller clock that runs backwards never moves the model
 * clock back.
 */
void fx_predict_resume(struct fx_predictor *p, uint64_t now_ms);

/** The network (for persistence and `rustfx brain`). */
struct fx_snn *fx_predict_snn(struct fx_predictor *p);

/** Counters since creation (persisted with the model). */
struct fx_predict_counters {
	uint64_t accesses;    /* fx_predict_access calls */
	uint64_t fired;       /* neurons fired by accesses (regions entered) */
	uint64_t predictions; /* predictions returned */
};
void fx_predict_counters(const struct fx_predictor *p, struct fx_predict_counters *out);

/** Bytes of memory the predictor holds (network, maps, object records). */
size_t fx_predict_memory(const struct fx_predictor *p);

#endif
