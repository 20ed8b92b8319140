/*
 * learn.c - the learning cache in a live mount (see learn.h).
 */
#define FX_LOG_MODULE "learn"

#include "cache/learn.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/policy_i.h"
#include "cache/store.h"
#include "cache/trace.h"
#include "core/log.h"
#include "neural/mlp.h"
#include "neural/model.h"
#include "neural/predict.h"

#define FX_LEARN_SEED 0x72667834ULL    /* neuron mapping; saved with the model */
#define FX_LEARN_SAVE_S 30             /* seconds between model saves */
#define FX_LEARN_MAX_PRED 32           /* predictions taken per read */
#define FX_LEARN_ACC_WINDOW 256        /* prefetched blocks per accuracy measurement */

struct fx_learn {
	struct fx_learn_opts o;
	char dir[PATH_MAX];

	pthread_mutex_t lock; /* guards everything below up to the saver fields */
	struct fx_predictor *pred;
	uint64_t predicted, prefetched, accesses;
	/* throttle: prefetched blocks and store "used" count at the window start */
	uint64_t win_prefetched, win_used;
	double accuracy;     /* of the last finished window; 1 until measured */
	unsigned budget;     /* predictions acted on per read */
	struct fx_model_counters base; /* as loaded with the model */
	bool saving;         /* the saver holds the lock for long: readers skip learning */

	struct fx_mlp *mlp;  /* the "snn" policy's scorer, under mlp_lock */
	pthread_mutex_t mlp_lock;

	struct fx_trace_writer *trace;
	void (*hook)(void *arg, const char *key); /* predicted objects, see learn.h */
	void *hook_arg;
	struct fx_reader *reader; /* borrowed, set at start */
	struct fx_store *store;   /* borrowed, set at start */

	pthread_mutex_t saver_lock; /* guards stop; with saver_cond */
	pthread_cond_t saver_cond;
	pthread_t saver;
	bool saver_running, stop;
	uint64_t saves;
	bool loaded;
};

static uint64_t fx_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The object record's layout is in learn.h. */
size_t fx_learn_rec_encode(const struct fx_object_ref *obj, uint8_t *buf)
{
	size_t vl = strlen(obj->version), kl = strlen(obj->key);
	uint16_t v16 = (uint16_t)vl;

	if (8 + 2 + vl + kl > FX_LEARN_REC_MAX)
		return 0;
	memcpy(buf, &obj->size, 8);
	memcpy(buf + 8, &v16, 2);
	memcpy(buf + 10, obj->version, vl);
	memcpy(buf + 10 + vl, obj->key, kl);
	return 10 + vl + kl;
}

int fx_learn_rec_decode(const void *rec_bytes, size_t len, char *strings,
			struct fx_object_ref *obj)
{
	const uint8_t *rec = rec_bytes;
	uint16_t vl;

	if (len < 10)
		return -EINVAL;
	memcpy(&obj->size, rec, 8);
	memcpy(&vl, rec + 8, 2);
	if ((size_t)10 + vl >= len)
		return -EINVAL;
	memcpy(strings, rec + 10, vl);
	strings[vl] = '\0';
	memcpy(strings + vl + 1, rec + 10 + vl, len - 10 - vl);
	strings[len - 10 + 1] = '\0';
	obj->version = strings;
	obj->key = strings + vl + 1;
	return 0;
}

static float fx_learn_activity(void *arg, const struct fx_cblock *b)
{
	struct fx_learn *l = arg;
	float a = 0;

	if (!b->obj || pthread_mutex_trylock(&l->lock))
		return 0; /* unknown block, or the lock is busy: no opinion */
	a = fx_predict_activity(l->pred, b->obj, b->index, fx_mono_ms());
	pthread_mutex_unlock(&l->lock);
	return a;
}

void fx_learn_policy_env(struct fx_learn *l, struct fx_policy_env *env)
{
	env->activity = l->pred ? fx_learn_activity : NULL;
	env->arg = l;
	env->mlp = l->mlp;
	env->mlp_lock = l->mlp ? &l->mlp_lock : NULL;
}

static int fx_learn_load(struct fx_learn *l, const struct fx_predict_opts *po)
{
	struct fx_diag d = {0};
	int ret = fx_model_load(l->dir, po, l->mlp, &l->pred, &l->base, &d);

	if (ret == 0) {
		l->loaded = true;
		fx_info("loaded the learned model from %s/%s", l->dir, FX_MODEL_FILE);
		return 0;
	}
	if (ret != -ENOENT)
		fx_warn("the saved model in %s cannot be used (%s); starting a new one", l->dir,
			d.msg[0] ? d.msg : fx_strerror(ret));
	else if (l->o.seasoned)
		fx_warn("no saved model in %s (deleted, or the learning cache was not used with "
			"this cache before); starting a new one", l->dir);
	memset(&l->base, 0, sizeof(l->base));
	l->pred = fx_predict_new(po);
	return l->pred ? 0 : -ENOMEM;
}

int fx_learn_open(const struct fx_learn_opts *o, struct fx_learn **out, struct fx_diag *d)
{
	struct fx_learn *l = calloc(1, sizeof(*l));
	struct fx_predict_opts po;
	int ret;

	if (!l)
		return -ENOMEM;
	l->o = *o;
	snprintf(l->dir, sizeof(l->dir), "%s", o->dir);
	l->o.dir = l->dir;
	l->o.trace_path = NULL;
	l->accuracy = 1.0;
	l->budget = FX_LEARN_MAX_PRED;
	pthread_mutex_init(&l->lock, NULL);
	pthread_mutex_init(&l->mlp_lock, NULL);
	pthread_mutex_init(&l->saver_lock, NULL);
	pthread_cond_init(&l->saver_cond, NULL);
	if (o->score) {
		const unsigned *shape;
		size_t n;

		fx_snn_policy_shape(&shape, &n);
		if (!(l->mlp = fx_mlp_new(shape, n, FX_LEARN_SEED))) {
			ret = -ENOMEM;
			goto fail;
		}
	}
	if (o->predict || o->score) {
		fx_predict_opts_default(&po);
		po.neurons = o->neurons;
		po.window_ms = (float)o->window_ms;
		po.seed = FX_LEARN_SEED;
		if ((ret = fx_learn_load(l, &po)) < 0)
			goto fail;
		fx_predict_resume(l->pred, fx_mono_ms());
	}
	*out = l;
	return 0;
fail:
	if (!d->err)
		fx_diag_set(d, ret, NULL, "cannot start the learning cache (%s)", fx_strerror(ret));
	fx_predict_free(l->pred);
	fx_mlp_free(l->mlp);
	free(l);
	return ret;
}

int fx_learn_open_trace(struct fx_learn *l, const char *path, struct fx_diag *d)
{
	int ret = fx_trace_writer_open(path, 0, &l->trace);

	if (ret < 0)
		fx_diag_set(d, ret, "give a path in an existing, writable directory",
			    "cannot record a trace to %s (%s)", path, fx_strerror(ret));
	return ret;
}

static void *fx_saver_main(void *arg)
{
	struct fx_learn *l = arg;
	struct timespec until;

	pthread_mutex_lock(&l->saver_lock);
	while (!l->stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += FX_LEARN_SAVE_S;
		if (pthread_cond_timedwait(&l->saver_cond, &l->saver_lock, &until) == ETIMEDOUT &&
		    !l->stop) {
			pthread_mutex_unlock(&l->saver_lock);
			fx_learn_save(l);
			pthread_mutex_lock(&l->saver_lock);
		}
	}
	pthread_mutex_unlock(&l->saver_lock);
	return NULL;
}

int fx_learn_start(struct fx_learn *l, struct fx_reader *reader, struct fx_store *store)
{
	int ret;

	l->reader = reader;
	l->store = store;
	if (!l->pred)
		return 0;
	if ((ret = -pthread_create(&l->saver, NULL, fx_saver_main, l)) < 0)
		return ret;
	l->saver_running = true;
	return 0;
}

int fx_learn_save(struct fx_learn *l)
{
	struct fx_model_counters c;
	struct fx_diag d = {0};
	int ret;

	if (!l->pred)
		return 0;
	pthread_mutex_lock(&l->lock);
	l->saving = true;
	c = l->base;
	c.predicted += l->predicted;
	c.prefetched += l->prefetched;
	c.saves += l->saves + 1;
	if (l->store) {
		struct fx_store_stats ss;

		fx_store_stats(l->store, &ss);
		c.used += ss.predicted_used;
		c.wasted += ss.predicted_wasted;
	}
	if (l->mlp)
		pthread_mutex_lock(&l->mlp_lock);
	ret = fx_model_save(l->dir, l->pred, l->mlp, &c, &d);
	if (l->mlp)
		pthread_mutex_unlock(&l->mlp_lock);
	l->saving = false;
	if (ret == 0)
		l->saves++;
	pthread_mutex_unlock(&l->lock);
	if (ret < 0 && fx_log_first_time("model-save"))
		fx_warn("cannot save the learned model in %s (%s)", l->dir,
			d.msg[0] ? d.msg : fx_strerror(ret));
	return ret;
}

void fx_learn_close(struct fx_learn *l)
{
	if (!l)
		return;
	if (l->saver_running) {
		pthread_mutex_lock(&l->saver_lock);
		l->stop = true;
		pthread_cond_signal(&l->saver_cond);
		pthread_mutex_unlock(&l->saver_lock);
		pthread_join(l->saver, NULL);
	}
	/* Never started (the store was busy, the mount failed): nothing was
	 * learned, and the model file may be another mount's to write. */
	if (l->store)
		fx_learn_save(l);
	fx_trace_writer_close(l->trace);
	fx_predict_free(l->pred);
	fx_mlp_free(l->mlp);
	pthread_cond_destroy(&l->saver_cond);
	pthread_mutex_destroy(&l->saver_lock);
	pthread_mutex_destroy(&l->mlp_lock);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

void fx_learn_set_hook(struct fx_learn *l, void (*fn)(void *arg, const char *key), void *arg)
{
	l->hook = fn;
	l->hook_arg = arg;
}

void fx_learn_note_open(struct fx_learn *l, const struct fx_object_ref *obj)
{
	if (l && l->trace)
		fx_trace_note_open(l->trace, fx_object_id(obj->key), obj->key, obj->size);
}

/*
 * Accuracy throttle: after every FX_LEARN_ACC_WINDOW prefetched blocks,
 * compare how many predicted blocks were read since; act on fewer
 * predictions when few were right (never none: the model must keep being
 * measured), on more when most were. (l->lock held)
 */
static void fx_learn_throttle(struct fx_learn *l)
{
	struct fx_store_stats ss;
	uint64_t issued = l->prefetched - l->win_prefetched;

	if (issued < FX_LEARN_ACC_WINDOW || !l->store)
		return;
	fx_store_stats(l->store, &ss);
	l->accuracy = (double)(ss.predicted_used - l->win_used) / (double)issued;
	if (l->accuracy > 1)
		l->accuracy = 1;
	l->budget = l->accuracy >= 0.5 ? FX_LEARN_MAX_PRED
		    : l->accuracy >= 0.25 ? FX_LEARN_MAX_PRED / 4
		    : 1;
	l->win_prefetched = l->prefetched;
	l->win_used = ss.predicted_used;
}

void fx_learn_note_read(struct fx_learn *l, const struct fx_object_ref *obj, uint64_t off,
			uint64_t len)
{
	struct fx_prediction pred[FX_LEARN_MAX_PRED];
	uint8_t rec[FX_LEARN_REC_MAX];
	uint64_t id, bs, region, b, last, now;
	size_t rlen, npred = 0, i;
	int n;

	if (!l || !len)
		return;
	id = fx_object_id(obj->key);
	if (l->trace)
		fx_trace_note_read(l->trace, id, obj->key, off, len, obj->size);
	if (!l->o.predict || !l->reader || !obj->version[0])
		return;
	bs = l->o.block_size;
	region = (uint64_t)fx_predict_opts(l->pred)->region_blocks;
	rlen = fx_learn_rec_encode(obj, rec);
	now = fx_mono_ms();
	pthread_mutex_lock(&l->lock);
	if (l->saving) { /* a save is writing the model: do not wait for it */
		pthread_mutex_unlock(&l->lock);
		return;
	}
	if (rlen)
		fx_predict_object_put(l->pred, id, rec, rlen);
	/* The first and last block the read touches in each region: the
	 * region's neuron fires once, and remembers the whole range read. */
	last = (off + len - 1) / bs;
	for (b = off / bs; b <= last && npred < l->budget; b = (b / region + 1) * region) {
		uint64_t end = (b / region + 1) * region - 1;
		uint64_t ends[2] = {b, end < last ? end : last};

		for (int k = 0; k < (ends[1] != b ? 2 : 1) && npred < l->budget; k++) {
			n = fx_predict_access(l->pred, id, ends[k], now, pred + npred,
					      l->budget - npred);
			if (n > 0)
				npred += (size_t)n;
		}
	}
	l->accesses++;
	pthread_mutex_unlock(&l->lock);

	for (i = 0; i < npred; i++) {
		uint8_t buf[FX_LEARN_REC_MAX];
		char strings[FX_LEARN_REC_MAX + 2];
		struct fx_object_ref ref;
		uint64_t nblocks, queued;

		pthread_mutex_lock(&l->lock);
		n = fx_predict_object_get(l->pred, pred[i].obj, buf, sizeof(buf));
		pthread_mutex_unlock(&l->lock);
		if (n <= 0 || fx_learn_rec_decode(buf, (size_t)n, strings, &ref) < 0 || !ref.size)
			continue;
		if (pred[i].first_block * bs >= ref.size)
			continue;
		nblocks = pred[i].nblocks;
		if ((pred[i].first_block + nblocks) * bs > ref.size)
			nblocks = (ref.size + bs - 1) / bs - pred[i].first_block;
		queued = fx_reader_prefetch(l->reader, &ref, pred[i].first_block, nblocks,
					    FX_FETCH_PREDICTED);
		if (queued && l->hook)
			l->hook(l->hook_arg, ref.key);
		pthread_mutex_lock(&l->lock);
		l->predicted += nblocks;
		l->prefetched += queued;
		pthread_mutex_unlock(&l->lock);
	}
	pthread_mutex_lock(&l->lock);
	fx_learn_throttle(l);
	pthread_mutex_unlock(&l->lock);
}

void fx_learn_stats(struct fx_learn *l, struct fx_learn_stats *out)
{
	struct fx_store_stats ss = {0};

	memset(out, 0, sizeof(*out));
	if (!l)
		return;
	if (l->store)
		fx_store_stats(l->store, &ss);
	pthread_mutex_lock(&l->lock);
	out->accesses = l->accesses;
	out->predicted = l->predicted;
	out->prefetched = l->prefetched;
	out->used = ss.predicted_used;
	out->wasted = ss.predicted_wasted;
	out->accuracy = l->prefetched ? (double)ss.predicted_used / (double)l->prefetched : 0;
	if (out->accuracy > 1)
		out->accuracy = 1;
	out->coverage = ss.predicted_used + ss.misses
				? (double)ss.predicted_used / (double)(ss.predicted_used + ss.misses)
				: 0;
	if (l->pred) {
		struct fx_snn *snn = fx_predict_snn(l->pred);

		out->model_bytes = fx_predict_memory(l->pred);
		out->synapses = snn ? fx_snn_synapse_count(snn) : 0;
	}
	out->saves = l->saves;
	out->model_loaded = l->loaded;
	pthread_mutex_unlock(&l->lock);
}
