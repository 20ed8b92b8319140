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
	uint64_t seed;          /* hash seed for the neuron mapping */
};

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

/** @return a new predictor, or NULL (errno EINVAL on bad @o, ENOMEM). */
struct fx_predictor *fx_predict_new(const struct fx_predict_opts *o);
void fx_predict_free(struct fx_predictor *p);
const struct fx_predict_opts *fx_predict_opts(const struct fx_predictor *p);

/**
 * Note a read of block @block of @obj at @now_ms (the caller's monotonic
 * clock; the predictor subtracts time it was not in use, see
 * fx_predict_resume). Repeated reads of one region within a short time
 * fire its neuron once. Fills @out with up to @max predictions, most
 * confident first, never the region just read.
 * @return predictions written, or -EINVAL.
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
 * Remember @len bytes (<= FX_PREDICT_OBJECT_MAX, copied) the caller needs
 * to act on a prediction of @obj. @return 0, -EINVAL, -ENOMEM.
 */
int fx_predict_object_put(struct fx_predictor *p, uint64_t obj, const void *rec, size_t len);
/**
 * Copy @obj's record into @buf (@cap bytes). @return its length, -ENOENT if
 * unknown, -ENOSPC if @cap is too small.
 */
int fx_predict_object_get(struct fx_predictor *p, uint64_t obj, void *buf, size_t cap);
/** Visit every object record; a non-zero return from @fn stops and is returned. */
int fx_predict_each_object(struct fx_predictor *p,
			   int (*fn)(void *arg, uint64_t obj, const void *rec, size_t len), void *arg);

/** The neuron @obj's block @block maps to. */
uint32_t fx_predict_neuron(const struct fx_predictor *p, uint64_t obj, uint64_t block);
/**
 * What neuron @neuron stood for most recently: @return 1 with *@out, or 0
 * when it stands for nothing yet.
 */
int fx_predict_region(const struct fx_predictor *p, uint32_t neuron, struct fx_prediction *out);

/**
 * Continue the model's clock at @now_ms (the caller's clock) from where it
 * stopped: time while unmounted does not age the model. Called after loading.
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
