/*
 * fsutil.h - small local file-system helpers shared by the layers.
 *
 * Owns: creating directory paths. Does not own: any format or policy of
 * what lives in them (cache/ decides that).
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

#endif
