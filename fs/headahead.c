/*
 * headahead.c - predicted lookups (see headahead.h).
 */
#define FX_LOG_MODULE "fs"

#include "fs/headahead.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

enum fx_ha_state { FX_HA_FREE, FX_HA_QUEUED, FX_HA_RUNNING, FX_HA_DONE };

struct fx_ha_entry {
	enum fx_ha_state state;
	char *key;
	uint64_t gen;     /* mutation generation when wanted */
	double done_at;   /* monotonic seconds, once DONE */
	struct fx_object_info info;
	int err;          /* of the HEAD, once DONE */
};

struct fx_headahead {
	struct fx_backend *backend; /* borrowed */
	double ttl;
	pthread_mutex_t lock; /* guards everything below; with cond */
	pthread_cond_t cond;
	struct fx_ha_entry e[FX_HEADAHEAD_MAX];
	pthread_t threads[FX_HEADAHEAD_THREADS];
	unsigned nthreads;
	bool stop;
	struct fx_headahead_stats st;
};

static double fx_ha_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fx_ha_release(struct fx_ha_entry *e)
{
	free(e->key);
	if (e->state == FX_HA_DONE)
		fx_object_info_clear(&e->info);
	memset(e, 0, sizeof(*e));
}

int fx_headahead_new(struct fx_backend *b, double ttl_s, struct fx_headahead **out)
{
	struct fx_headahead *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->backend = b;
	h->ttl = ttl_s;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	*out = h;
	return 0;
}

static void *fx_ha_main(void *arg)
{
	struct fx_headahead *h = arg;

	pthread_mutex_lock(&h->lock);
	while (!h->stop) {
		struct fx_ha_entry *e = NULL;
		struct fx_object_info info = {0};
		char *key;
		int err;

		for (unsigned i = 0; i < FX_HEADAHEAD_MAX && !e; i++)
			if (h->e[i].state == FX_HA_QUEUED)
				e = &h->e[i];
		if (!e) {
			pthread_cond_wait(&h->cond, &h->lock);
			continue;
		}
		e->state = FX_HA_RUNNING;
		key = e->key; /* stays: only this thread frees a RUNNING entry's key */
		h->st.sent++;
		pthread_mutex_unlock(&h->lock);
		err = fx_backend_head(h->backend, key, &info);
		pthread_mutex_lock(&h->lock);
		e->state = FX_HA_DONE;
		e->err = err;
		e->info = info;
		e->done_at = fx_ha_now();
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int fx_headahead_start(struct fx_headahead *h)
{
	while (h->nthreads < FX_HEADAHEAD_THREADS) {
		int err = pthread_create(&h->threads[h->nthreads], NULL, fx_ha_main, h);

		if (err)
			return h->nthreads ? 0 : -err;
		h->nthreads++;
	}
	return 0;
}

void fx_headahead_free(struct fx_headahead *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->stop = true;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	for (unsigned i = 0; i < h->nthreads; i++)
		pthread_join(h->threads[i], NULL);
	for (unsigned i = 0; i < FX_HEADAHEAD_MAX; i++)
		fx_ha_release(&h->e[i]);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

void fx_headahead_want(struct fx_headahead *h, const char *key, uint64_t gen)
{
	struct fx_ha_entry *slot = NULL, *oldest = NULL;
	double now;

	if (!h || !h->nthreads)
		return;
	now = fx_ha_now();
	pthread_mutex_lock(&h->lock);
	for (unsigned i = 0; i < FX_HEADAHEAD_MAX; i++) {
		struct fx_ha_entry *e = &h->e[i];

		if (e->state == FX_HA_FREE) {
			if (!slot)
				slot = e;
			continue;
		}
		if (!strcmp(e->key, key)) {
			/* Wanted again: a stale result or generation is replaced. */
			if (e->state != FX_HA_DONE ||
			    (e->gen == gen && now - e->done_at < h->ttl)) {
				pthread_mutex_unlock(&h->lock);
				return;
			}
			fx_ha_release(e);
			slot = e;
			break;
		}
		if (e->state == FX_HA_DONE && (!oldest || e->done_at < oldest->done_at))
			oldest = e;
	}
	if (!slot && oldest) { /* full: the oldest result nobody took goes */
		h->st.expired++;
		fx_ha_release(oldest);
		slot = oldest;
	}
	if (slot && (slot->key = strdup(key))) {
		slot->state = FX_HA_QUEUED;
		slot->gen = gen;
		h->st.wanted++;
		pthread_cond_signal(&h->cond);
	}
	pthread_mutex_unlock(&h->lock);
}

int fx_headahead_take(struct fx_headahead *h, const char *key, uint64_t gen,
		      struct fx_object_info *info)
{
	int ret = -ENOENT;

	if (!h)
		return -ENOENT;
	pthread_mutex_lock(&h->lock);
	for (unsigned i = 0; i < FX_HEADAHEAD_MAX; i++) {
		struct fx_ha_entry *e = &h->e[i];

		if (e->state != FX_HA_DONE || strcmp(e->key, key))
			continue;
		if (e->err == 0 && e->gen == gen && fx_ha_now() - e->done_at < h->ttl) {
			*info = e->info;
			memset(&e->info, 0, sizeof(e->info)); /* now the caller's */
			h->st.used++;
			ret = 0;
		} else {
			h->st.expired++;
		}
		fx_ha_release(e);
		break;
	}
	pthread_mutex_unlock(&h->lock);
	return ret;
}

void fx_headahead_stats(struct fx_headahead *h, struct fx_headahead_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	*out = h->st;
	pthread_mutex_unlock(&h->lock);
}
