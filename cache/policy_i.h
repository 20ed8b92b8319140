/*
 * policy_i.h - what the policies in cache/policy*.c share and nobody else
 * uses: the intrusive block queue, queue ids, and the vtables of policies
 * defined outside policy.c that the registry lists.
 */
#ifndef FX_CACHE_POLICY_I_H
#define FX_CACHE_POLICY_I_H

#include "cache/policy.h"

/* Values of fx_cblock.queue; 0 means "held by no queue" for every policy. */
enum fx_queue_id {
	FX_Q_NONE = 0,
	FX_Q_LRU = 1,
	FX_Q_SMALL = 2, /* S3-FIFO probationary FIFO */
	FX_Q_MAIN = 3,  /* S3-FIFO main FIFO */
	FX_Q_OTHER = 8, /* first id free for policies in other files */
};

/*
 * An intrusive FIFO/LRU list through fx_cblock prev/next: head is the most
 * recent end, tail the next to go. Tracks block count and bytes.
 */
struct fx_cqueue {
	struct fx_cblock *head, *tail;
	uint64_t blocks;
	uint64_t bytes;
};

void fx_cqueue_push_head(struct fx_cqueue *q, struct fx_cblock *b, uint8_t id);
void fx_cqueue_unlink(struct fx_cqueue *q, struct fx_cblock *b);

/** A 64-bit key of block @b's whole id, never 0 (ids need not be hashes). */
uint64_t fx_cblock_key(const struct fx_cblock *b);

/* Policies defined in their own files (cache/policy_snn.c, cache/policy_ref.c). */
extern const struct fx_policy_ops fx_snn_ops;
extern const struct fx_policy_ops fx_arc_ops;
extern const struct fx_policy_ops fx_sieve_ops;

/** The layer sizes of the "snn" policy's reuse scorer (for a shared MLP). */
void fx_snn_policy_shape(const unsigned **sizes, size_t *n);

#endif
