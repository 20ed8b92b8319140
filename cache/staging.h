/*
 * staging.h - local staging files that hold written data until it is published.
 *
 * Owns: the staging directory under cache_dir, creating, filling (from the
 * backend, for writes into an existing object) and dropping staging files.
 * Staged data is never evicted: a file is removed only after its publish
 * succeeded or the file was deleted. Leftovers of a killed daemon are kept
 * and reported at the next mount.
 * Does not own: when to publish (fs/ decides) or the block cache.
 */
#ifndef FX_CACHE_STAGING_H
#define FX_CACHE_STAGING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/backend.h"

/**
 * Create <cache_dir>/staging (mode 0700, parents as needed) and report files
 * left there by an earlier daemon. @out receives the staging directory path.
 * @return 0 or -errno with @d filled.
 */
int fx_staging_init(const char *cache_dir, char *out, size_t n, struct fx_diag *d);

/**
 * A new empty staging file in @dir for the object @key (NULL: none), which
 * is recorded in the file's "user.rustfx.key" attribute so that data a
 * killed daemon left can be traced to its file. @path_out receives a
 * malloc'd path the caller owns. @return an O_RDWR fd or -errno.
 */
int fx_staging_create(const char *dir, const char *key, char **path_out);

/**
 * Copy the first @size bytes of object @key into @fd (from offset 0).
 * @return 0, or -errno (-ESTALE if the object is shorter than @size).
 */
int fx_staging_fill(struct fx_backend *b, const char *key, uint64_t size, int fd);

/**
 * Mark the staging file @fd as published (its bytes are the object's now) or
 * not, before its bytes change again. A killed daemon's leftover marked
 * published is removed at the next mount instead of reported. Best effort:
 * without user xattrs every leftover is reported. @return 0 or -errno.
 */
int fx_staging_mark(int fd, bool published);

/** Close @fd and remove @path; frees @path. Either may be -1/NULL. */
void fx_staging_drop(int fd, char *path);

#endif
