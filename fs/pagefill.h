/*
 * pagefill.h - after a small read of a cached block, put the rest of that
 * block into the kernel's page cache (FUSE notify_store), so that further
 * small reads of it are served by the kernel without a FUSE round trip.
 *
 * Owns: a bounded queue of (inode, block) wanted, deduplicated, dropped when
 * full, and the threads that work it. Does not own: what a fill does
 * (fs/ops.c's callback reads the block from the cache, never the backend,
 * and pushes it), or when fills are safe (the callback checks).
 *
 * The threads are not FUSE workers: a push waits for pages that pending
 * reads hold locked, and the workers that answer those reads never wait for
 * them, so nothing can wait in a circle.
 */
#ifndef FX_FS_PAGEFILL_H
#define FX_FS_PAGEFILL_H

#include <stdint.h>

#define FX_PAGEFILL_QUEUE 64u
#define FX_PAGEFILL_THREADS 2u

/* Fill block @block of inode @ino; runs on a pagefill thread. */
typedef void (*fx_pagefill_fn)(void *arg, uint64_t ino, uint64_t block);

struct fx_pagefill;

/** Start the threads calling @fn(@arg, ...). @return 0 and *@out, or -errno. */
int fx_pagefill_start(fx_pagefill_fn fn, void *arg, struct fx_pagefill **out);
/** Stop the threads; queued fills are dropped. NULL is a no-op. */
void fx_pagefill_free(struct fx_pagefill *p);
/** Ask for block @block of @ino (cheap; dropped when queued already or full). */
void fx_pagefill_want(struct fx_pagefill *p, uint64_t ino, uint64_t block);

#endif
