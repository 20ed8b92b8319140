/*
 * fsutil.h - small local file-system helpers shared by the layers.
 *
 * Owns: creating directory paths, finding a mount in a mountinfo table.
 * Does not own: any format or policy of what lives in them (cache/ decides
 * that).
 */
#ifndef FX_CORE_FSUTIL_H
#define FX_CORE_FSUTIL_H

#include <sys/types.h>

/**
 * mkdir -p: create @path and missing parents. Parents get 0755, @path
 * itself @mode; existing directories are left as they are.
 * @return 0 or -errno (-ENAMETOOLONG past PATH_MAX).
 */
int fx_mkdirs(const char *path, mode_t mode);

/**
 * The device numbers of the mount of file-system type @fstype (as mountinfo
 * spells it, e.g. "fuse.rustfx") at @mountpoint, read from @mountinfo (a
 * /proc/<pid>/mountinfo). Of several, the last (a mount over the others).
 * @return 0, -ENOENT when there is none, or -errno.
 */
int fx_mount_dev(const char *mountinfo, const char *mountpoint, const char *fstype, unsigned *major,
		 unsigned *minor);

#endif
