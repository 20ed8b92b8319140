/*
 * learn.h - the learning cache in a live mount: the access predictor
 * driving learned prefetch (prefetch=snn), the reuse scorer shared with
 * the "snn" eviction policy, the model saved beside the cache index, and
 * trace recording (-o trace=PATH).
 *
 * Owns: one predictor (neural/predict.h) behind a mutex, the object records
 * that let a prediction name what to fetch (key, ETag, size), turning
 * predictions into prefetches on the reader at FX_FETCH_PREDICTED, the
 * accuracy throttle, the MLP the "snn" policy trains (through
 * struct fx_policy_env), saving both about every 30 s and at close, the
 * trace writer, and the learned-prefetch counters.
 * Does not own: the spiking network's maths (neural/), fetching and the
 * memory budget (cache/reader.c), blocks and eviction (cache/store.c).
 *
 * Locks: the learn lock, then the MLP's lock (saving); the store's lock,
 * then the MLP's lock (the policy scores and trains). The policy asks for
 * predicted activity under the store's lock with a trylock of the learn
 * lock, never waiting for it. Under the learn lock only the store's
 * counters are read (fx_store_stats, a short hold of the store's lock);
 * the reader is never called with it held.
 */
#ifndef FX_CACHE_LEARN_H
#define FX_CACHE_LEARN_H

#include <stdbool.h>
#include <stdint.h>

#include "cache/policy.h"
#include "cache/reader.h"
#include "core/error.h"

struct fx_learn_opts {
	const char *dir;        /* the backend's cache directory: the model lives there */
	bool predict;           /* prefetch=snn */
	bool score;             /* cache_policy=snn: keep and save the reuse scorer */
	uint32_t neurons;       /* snn_neurons */
	uint32_t window_ms;     /* snn_window_ms */
	uint32_t block_size;
	const char *trace_path; /* for the caller: fx_learn_open_trace opens it */
	bool seasoned;          /* the cache existed before: a missing model is worth a warning */
};

struct fx_learn_stats {
	uint64_t accesses;     /* reads seen by the predictor */
	uint64_t predicted;    /* blocks predicted */
	uint64_t prefetched;   /* of those, queued for fetching */
	uint64_t used;         /* predicted blocks read later (from the store) */
	uint64_t wasted;       /* predicted blocks evicted unread (from the store) */
	double accuracy;       /* used / prefetched */
	double coverage;       /* used / (used + demand misses) */
	uint64_t model_bytes;  /* memory of the predictor */
	uint64_t synapses;
	uint64_t saves;        /* model saves since mount */
	bool model_loaded;     /* a saved model was loaded at mount */
};

struct fx_learn;

#define FX_LEARN_REC_MAX 1024 /* bytes of one object record (<= FX_PREDICT_OBJECT_MAX) */

/*
 * The object record the predictor keeps for each object read (saved with
 * the model): what a prediction needs to fetch the object again, and what
 * `rustfx brain` names an object by. Layout: u64 size, u16 version (ETag)
 * length, the version bytes, the key bytes (no NUL); integers in the byte
 * order of the machine, as the rest of the model file.
 */

/**
 * Encode @obj into @buf (room for FX_LEARN_REC_MAX bytes).
 * @return the record's length, or 0 when it would not fit (an object whose
 *         key and ETag are that long is not predicted).
 */
size_t fx_learn_rec_encode(const struct fx_object_ref *obj, uint8_t *buf);

/**
 * Decode the record @rec of @len bytes into @obj: its key and version
 * point into @strings (room for at least @len bytes), NUL-terminated.
 * Records come from model files, so they are taken as untrusted: a key may
 * hold any byte but NUL (one ends it early).
 * @return 0, or -EINVAL for a record too short or without a key (@obj and
 *         @strings then undefined).
 */
int fx_learn_rec_decode(const void *rec, size_t len, char *strings, struct fx_object_ref *obj);

/**
 * Open the learning side for a cache in @o->dir: load the saved model (a
 * missing, mismatched or corrupt one is replaced by a fresh model, with a
 * warning for the last two), open the trace file. @return 0 and *@out, or
 * -errno with @d filled (e.g. the trace file cannot be created).
 */
int fx_learn_open(const struct fx_learn_opts *o, struct fx_learn **out, struct fx_diag *d);
/**
 * Start recording every open and read to a new trace file at @path. Called
 * once the store is locked, so a mount refused as a second user of the
 * cache never truncates the first one's trace. @return 0 or -errno with @d.
 */
int fx_learn_open_trace(struct fx_learn *l, const char *path, struct fx_diag *d);

/** Attach the reader prefetches go to and start the saver thread (after fork). */
int fx_learn_start(struct fx_learn *l, struct fx_reader *reader, struct fx_store *store);
/**
 * Save the model (if fx_learn_start was called: a learn never started may
 * share its directory with a running mount's), close the trace, free.
 * NULL is a no-op.
 */
void fx_learn_close(struct fx_learn *l);

/** The environment the eviction policy gets (predicted activity, shared MLP). */
void fx_learn_policy_env(struct fx_learn *l, struct fx_policy_env *env);

/** A file was opened for reading. */
void fx_learn_note_open(struct fx_learn *l, const struct fx_object_ref *obj);
/**
 * @len bytes at @off of @obj were read: record it, teach the predictor and
 * prefetch what it predicts. Cheap; never blocks on I/O.
 */
void fx_learn_note_read(struct fx_learn *l, const struct fx_object_ref *obj, uint64_t off,
			uint64_t len);

/**
 * Call @fn(@arg, key) for each object a read's predictions name whose
 * blocks had to be fetched (so the object is likely not looked up yet):
 * the file system warms its attributes. Called outside every lock of ours.
 * Set before fx_learn_start.
 */
void fx_learn_set_hook(struct fx_learn *l, void (*fn)(void *arg, const char *key), void *arg);

/** Save the model now. @return 0 or -errno. */
int fx_learn_save(struct fx_learn *l);

void fx_learn_stats(struct fx_learn *l, struct fx_learn_stats *out);

#endif
