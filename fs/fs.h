/*
 * fs.h - the rustfx filesystem: a FUSE low-level session over one backend.
 *
 * Owns: the FUSE operations, mounting, the request loop and clean unmount
 * on SIGINT/SIGTERM.
 * Does not own: the backend (the caller opens and closes it), configuration
 * layering or logging setup (tools/ does those before mounting).
 */
#ifndef FX_FS_FS_H
#define FX_FS_FS_H

#include <stdbool.h>

#include "backends/backend.h"
#include "cache/cache.h"
#include "core/config.h"
#include "fs/options.h"

struct fx_fs;

/**
 * A filesystem over @b (borrowed; must outlive the fs) with options @opt
 * and a block cache set up by @copt. @cache_dir is the backend's own cache
 * directory and must be absolute: staging files and cached blocks go below it.
 * @return 0 and *@out, or -errno with @d filled.
 */
int fx_fs_new(struct fx_backend *b, const struct fx_fs_options *opt,
	      const struct fx_cache_opts *copt, const char *cache_dir, struct fx_fs **out,
	      struct fx_diag *d);

/** NULL is a no-op. */
void fx_fs_free(struct fx_fs *fs);

/**
 * Mount at @mountpoint (named @fsname in /proc/mounts) and serve requests
 * until unmounted or SIGINT/SIGTERM; daemonizes first unless @foreground.
 * Nothing stays mounted when this returns.
 * @return 0 after a clean unmount, or -errno with @d filled if mounting failed.
 */
int fx_fs_run(struct fx_fs *fs, const char *fsname, const char *mountpoint, bool foreground,
	      struct fx_diag *d);

#endif
