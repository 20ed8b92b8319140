/*
 * pagefill.c - the queue and thread that put cached blocks into the kernel's
 * page cache after small reads. See pagefill.h.
 */
#define FX_LOG_MODULE "fs"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "fs/pagefill.h"

struct fx_fill {
	uint64_t ino, block;
};

struct fx_pagefill {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct fx_fill q[FX_PAGEFILL_QUEUE]; /* ring: head, then n entries */
	unsigned head, n;
	bool stopping;
	fx_pagefill_fn fn;
	void *arg;
	pthread_t threads[FX_PAGEFILL_THREADS];
	unsigned nthreads;
};

static void *fx_pagefill_main(void *arg)
{
	struct fx_pagefill *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct fx_fill f;

		while (!p->n && !p->stopping)
			pthread_cond_wait(&p->wake, &p->lock);
		if (p->stopping)
			break;
		f = p->q[p->head];
		p->head = (p->head + 1) % FX_PAGEFILL_QUEUE;
		p->n--;
		pthread_mutex_unlock(&p->lock);
		p->fn(p->arg, f.ino, f.block);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

void fx_pagefill_free(struct fx_pagefill *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

int fx_pagefill_start(fx_pagefill_fn fn, void *arg, struct fx_pagefill **out)
{
	struct fx_pagefill *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return -ENOMEM;
	p->fn = fn;
	p->arg = arg;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	for (; p->nthreads < FX_PAGEFILL_THREADS; p->nthreads++) {
		if ((err = pthread_create(&p->threads[p->nthreads], NULL, fx_pagefill_main, p))) {
			fx_pagefill_free(p);
			return -err;
		}
	}
	*out = p;
	return 0;
}

void fx_pagefill_want(struct fx_pagefill *p, uint64_t ino, uint64_t block)
{
	pthread_mutex_lock(&p->lock);
	for (unsigned i = 0; i < p->n; i++) {
		const struct fx_fill *f = &p->q[(p->head + i) % FX_PAGEFILL_QUEUE];

		if (f->ino == ino && f->block == block) {
			pthread_mutex_unlock(&p->lock);
			return;
		}
	}
	if (p->n < FX_PAGEFILL_QUEUE) { /* else dropped: the reader goes on as before */
		p->q[(p->head + p->n) % FX_PAGEFILL_QUEUE] = (struct fx_fill){ ino, block };
		p->n++;
		pthread_cond_signal(&p->wake);
	}
	pthread_mutex_unlock(&p->lock);
}
