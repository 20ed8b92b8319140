/*
 * staging.c - write staging files (see staging.h).
 */
#define FX_LOG_MODULE "cache"
#include "cache/staging.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/log.h"

#define FX_FILL_CHUNK (1u << 20)
#define FX_STAGING_XATTR "user.rustfx.key" /* the object a staging file is for */
#define FX_STAGING_PUBLISHED "user.rustfx.published" /* its bytes were published */
#define FX_STAGING_NAMED 20                  /* leftovers named one by one at most */

int fx_staging_init(const char *cache_dir, char *out, size_t n, struct fx_diag *d)
{
	unsigned leftovers = 0, published = 0;
	struct dirent *de;
	DIR *dir;
	int ret;

	if ((size_t)snprintf(out, n, "%s/staging", cache_dir) >= n) {
		fx_diag_set(d, -ENAMETOOLONG, "choose a shorter cache_dir", "cache_dir '%s' is too long",
			    cache_dir);
		return -ENAMETOOLONG;
	}
	ret = fx_mkdirs(out, 0700);
	if (ret < 0) {
		fx_diag_set(d, ret, "set -o cache_dir=PATH to a writable directory",
			    "cannot create staging directory %s (%s)", out, strerror(-ret));
		return ret;
	}
	dir = opendir(out);
	if (!dir) {
		ret = -errno;
		fx_diag_set(d, ret, "check the permissions of cache_dir", "cannot open %s (%s)", out,
			    strerror(-ret));
		return ret;
	}
	while ((de = readdir(dir))) {
		char path[PATH_MAX], key[FX_KEY_MAX + 1];
		ssize_t klen;

		if (strncmp(de->d_name, "stage-", 6) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", out, de->d_name);
		/* Killed after the publish, before the file was dropped. */
		if (getxattr(path, FX_STAGING_PUBLISHED, NULL, 0) >= 0 && unlink(path) == 0) {
			published++;
			continue;
		}
		if (++leftovers > FX_STAGING_NAMED)
			continue;
		klen = getxattr(path, FX_STAGING_XATTR, key, sizeof(key) - 1);
		key[klen > 0 ? klen : 0] = '\0';
		fx_warn("unpublished data of '%s' from an earlier run is kept in %s",
			klen > 0 ? key : "(unknown file)", path);
	}
	closedir(dir);
	if (published)
		fx_info("removed %u staging file(s) of an earlier run whose data was published",
			published);
	if (leftovers)
		fx_warn("%u unpublished staging file(s) from an earlier run are kept in %s; "
			"copy back what you need, then delete them", leftovers, out);
	return 0;
}

int fx_staging_create(const char *dir, const char *key, char **path_out)
{
	char *path;
	int fd;

	if (asprintf(&path, "%s/stage-XXXXXX", dir) < 0)
		return -ENOMEM;
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		int err = -errno;

		free(path);
		return err;
	}
	/* Best effort: a cache filesystem without user xattrs loses the name. */
	if (key)
		fsetxattr(fd, FX_STAGING_XATTR, key, strlen(key), 0);
	*path_out = path;
	return fd;
}

int fx_staging_mark(int fd, bool published)
{
	int ret = published ? fsetxattr(fd, FX_STAGING_PUBLISHED, "1", 1, 0)
			    : fremovexattr(fd, FX_STAGING_PUBLISHED);

	return ret < 0 && !(!published && errno == ENODATA) ? -errno : 0;
}

int fx_staging_fill(struct fx_backend *b, const char *key, uint64_t size, int fd)
{
	char *buf = malloc(FX_FILL_CHUNK);
	uint64_t off = 0;
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	while (off < size) {
		size_t want = size - off < FX_FILL_CHUNK ? (size_t)(size - off) : FX_FILL_CHUNK;
		ssize_t got = fx_backend_get(b, key, off, buf, want);

		if (got < 0) {
			ret = (int)got;
			break;
		}
		if (got == 0) {
			ret = -ESTALE; /* the object shrank under us */
			break;
		}
		for (ssize_t done = 0; done < got;) {
			ssize_t w = pwrite(fd, buf + done, (size_t)(got - done), (off_t)off + done);

			if (w < 0) {
				ret = -errno;
				goto out;
			}
			done += w;
		}
		off += (uint64_t)got;
	}
out:
	free(buf);
	return ret;
}

void fx_staging_drop(int fd, char *path)
{
	if (fd >= 0)
		close(fd);
	if (path) {
		unlink(path);
		free(path);
	}
}
