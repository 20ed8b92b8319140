/*
 * control.h - the virtual control directory MOUNTPOINT/.rustfx (name set by
 * control_dir; hidden from listings, -o nostats removes it).
 *
 * Owns: its two inodes (the directory and the read-only file `stats`), their
 * FUSE replies, and the stats document: cache hits and misses, bytes from the
 * backend and from the cache, prefetch issued/used/wasted, evictions,
 * checksum failures, backend requests by type with latency histograms.
 * Does not own: the counters themselves (backends/, cache/ keep them).
 * Shadows any object of the same name in the bucket (README).
 */
#ifndef FX_FS_CONTROL_H
#define FX_FS_CONTROL_H

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backends/backend.h"
#include "cache/cache.h"
#include "fs/headahead.h"

#define FX_CTL_DIR_INO ((fuse_ino_t)(UINT64_MAX - 1))
#define FX_CTL_STATS_INO ((fuse_ino_t)(UINT64_MAX - 2))

struct fx_ctl {
	bool enabled;
	char name[256];          /* of the directory below the mount's root */
	struct fx_backend *backend; /* borrowed */
	struct fx_cache *cache;     /* borrowed */
	struct fx_headahead *ha;    /* borrowed; NULL without predicted lookups */
	uid_t uid;
	gid_t gid;
	double timeout; /* attribute and entry timeout of the virtual inodes */
	struct timespec started;
};

/** True for the virtual inodes. */
static inline bool fx_ctl_ino(fuse_ino_t ino)
{
	return ino == FX_CTL_DIR_INO || ino == FX_CTL_STATS_INO;
}

/** The stats document as a JSON string the caller frees, or NULL (ENOMEM). */
char *fx_ctl_stats_json(const struct fx_ctl *c);

/** Lookup of @name in @parent if it concerns the control directory: replies
 *  and returns true; false leaves the request to the caller. */
bool fx_ctl_lookup(const struct fx_ctl *c, fuse_req_t req, fuse_ino_t parent, const char *name);
/* The others are called only for fx_ctl_ino() inodes and always reply. */
void fx_ctl_getattr(const struct fx_ctl *c, fuse_req_t req, fuse_ino_t ino);
void fx_ctl_open(const struct fx_ctl *c, fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fx_ctl_read(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi);
void fx_ctl_release(fuse_req_t req, struct fuse_file_info *fi);
void fx_ctl_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fx_ctl_readdir(const struct fx_ctl *c, fuse_req_t req, size_t size, off_t off, bool plus);

#endif
