/*
 * file.c - the file:// backend: a local directory as an object store.
 *
 * Owns: mapping keys onto paths under the root ("a/b/c" <-> ROOT/a/b/c, the
 * marker "a/b/" <-> directory ROOT/a/b), metadata as xattrs
 * "user.rustfx.NAME", atomic put (temp file + rename), S3-ordered listing by
 * walking directories, copy, rename (one object or a whole prefix), statfs.
 * Does not own: key validation (the wrappers run fx_key_check first).
 *
 * Semantics worth knowing:
 * - Every directory is a marker object "dir/". Deleting a file leaves its
 *   now-empty parents in place: they are still markers, as a mkdir'ed
 *   directory must survive its last file. Deleting a marker of a non-empty
 *   directory is -ENOTEMPTY; "a/b" and "a/b/" cannot both exist.
 * - ETag: "\"%016x\"" of XXH3-64 over (size, mtime_ns, inode). An identity,
 *   not a content hash: cheap, and it changes on every put (a new inode).
 * - The root may come from elsewhere: paths are walked one component at a
 *   time with O_NOFOLLOW, so symlinks are never followed; symlinks, special
 *   files, our temp files and unmappable names are hidden from listings
 *   (logged once each) and are -ENOENT to head/get.
 */
#define FX_LOG_MODULE "backend"
#include "backends/backend.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/log.h"

#define FX_FILE_TMP ".rustfx-tmp-" /* reserved prefix of temp file names */
#define FX_FILE_XATTR "user.rustfx."
#define FX_FILE_XATTR_LEN (sizeof(FX_FILE_XATTR) - 1)
#define FX_FILE_DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
#define FX_FILE_KEY_BUF (FX_KEY_MAX + FX_NAME_MAX + 3)
#define FX_FILE_STALE_SECONDS 3600 /* a temp file older than this is a crashed put */

struct fx_file {
	char *root; /* absolute, without a trailing '/'; immutable */
	int root_fd; /* O_RDONLY directory; immutable */
};

enum {
	FX_WALK_CREATE = 1,  /* mkdir -p the parents */
	FX_WALK_PARTIAL = 2, /* the last segment is a list filter, not a name */
};

static void fx_file_hide(const struct fx_file *f, const char *dir, const char *name,
			 const char *why)
{
	char tag[FX_FILE_KEY_BUF + 64];

	snprintf(tag, sizeof(tag), "file-hidden:%s/%s%s", f->root, dir, name);
	if (fx_log_first_time(tag))
		fx_warn("file: ignoring %s/%s%s (%s)", f->root, dir, name, why);
}

/* ----------------------------------------------------------- path walking */

static bool fx_file_reserved(const char *seg)
{
	return !strncmp(seg, FX_FILE_TMP, strlen(FX_FILE_TMP));
}

/*
 * Open the parent directory of checked @key and copy its last segment
 * (without a marker's '/') to @name. Never follows a symlink: one in the
 * path is -ENOTDIR, like a regular file in the path.
 */
static int fx_file_parent(const struct fx_file *f, const char *key, int flags, int *dirfd,
			  char name[FX_NAME_MAX + 1])
{
	char path[FX_KEY_MAX + 1], *seg, *slash;
	size_t len = strlen(key);
	int fd, next, err;

	memcpy(path, key, len + 1);
	if (len && path[len - 1] == '/')
		path[--len] = '\0';
	fd = fcntl(f->root_fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	for (seg = path; (slash = strchr(seg, '/')); seg = slash + 1) {
		*slash = '\0';
		err = fx_file_reserved(seg) ? -EINVAL : 0;
		next = err ? -1 : openat(fd, seg, FX_FILE_DIR_FLAGS);
		if (next < 0 && !err && errno == ENOENT && (flags & FX_WALK_CREATE)) {
			if (!mkdirat(fd, seg, 0755) || errno == EEXIST)
				next = openat(fd, seg, FX_FILE_DIR_FLAGS);
		}
		if (next < 0) {
			err = err ? err : errno == ELOOP ? -ENOTDIR : -errno;
			close(fd);
			return err;
		}
		close(fd);
		fd = next;
	}
	if (!(flags & FX_WALK_PARTIAL) && fx_file_reserved(seg)) {
		close(fd);
		return -EINVAL;
	}
	strcpy(name, seg);
	*dirfd = fd;
	return 0;
}

/* ---------------------------------------------------------------- metadata */

/* The xattr names of @fd: NUL-separated in *@out (malloc'd); @return their length. */
static ssize_t fx_file_xattr_names(int fd, char **out)
{
	ssize_t len, got;

	for (;;) {
		len = flistxattr(fd, NULL, 0);
		if (len < 0)
			return -errno;
		*out = malloc((size_t)len + 1);
		if (!*out)
			return -ENOMEM;
		got = flistxattr(fd, *out, (size_t)len);
		if (got >= 0)
			return got;
		free(*out);
		if (errno != ERANGE) /* ERANGE: one was added meanwhile; ask again */
			return -errno;
	}
}

static int fx_file_read_meta(int fd, struct fx_meta *m)
{
	char value[FX_META_VALUE_MAX + 1], *names, *p;
	ssize_t len = fx_file_xattr_names(fd, &names), vlen;
	int err = 0;

	if (len < 0)
		return len == -ENOTSUP ? 0 : (int)len;
	for (p = names; !err && p < names + len; p += strlen(p) + 1) {
		if (strncmp(p, FX_FILE_XATTR, FX_FILE_XATTR_LEN))
			continue;
		vlen = fgetxattr(fd, p, value, sizeof(value) - 1);
		if (vlen < 0)
			continue; /* removed meanwhile, or too long to be ours */
		value[vlen] = '\0';
		/* -EINVAL: a name or value we would never write; skip it. */
		if (fx_meta_set(m, p + FX_FILE_XATTR_LEN, value) == -ENOMEM)
			err = -ENOMEM;
	}
	free(names);
	return err;
}

/* Make the user.rustfx.* xattrs of @fd exactly @meta. */
static int fx_file_write_meta(int fd, const struct fx_meta *meta)
{
	char xname[FX_FILE_XATTR_LEN + FX_META_NAME_MAX + 1], *names, *p;
	ssize_t len = fx_file_xattr_names(fd, &names);
	size_t i;
	int err = 0;

	if (len < 0)
		return (int)len;
	for (p = names; !err && p < names + len; p += strlen(p) + 1)
		if (!strncmp(p, FX_FILE_XATTR, FX_FILE_XATTR_LEN) &&
		    !fx_meta_get(meta, p + FX_FILE_XATTR_LEN) && fremovexattr(fd, p) &&
		    errno != ENODATA)
			err = -errno;
	free(names);
	for (i = 0; !err && meta && i < meta->n; i++) {
		snprintf(xname, sizeof(xname), FX_FILE_XATTR "%s", meta->kv[i].name);
		if (fsetxattr(fd, xname, meta->kv[i].value, strlen(meta->kv[i].value), 0))
			err = -errno;
	}
	return err;
}

static void fx_file_etag(const struct stat *st, uint64_t size, char etag[FX_ETAG_MAX])
{
	uint64_t id[3] = { size, (uint64_t)st->st_mtim.tv_sec * 1000000000u + st->st_mtim.tv_nsec,
			   st->st_ino };

	snprintf(etag, FX_ETAG_MAX, "\"%016" PRIx64 "\"", (uint64_t)XXH3_64bits(id, sizeof(id)));
}

/* Fill @out from the open object @fd (a regular file or a marker directory). */
static int fx_file_info(int fd, struct fx_object_info *out)
{
	struct stat st;
	int err;

	if (fstat(fd, &st))
		return -errno;
	*out = (struct fx_object_info){ .size = S_ISDIR(st.st_mode) ? 0 : (uint64_t)st.st_size };
	out->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	fx_file_etag(&st, out->size, out->etag);
	err = fx_file_read_meta(fd, &out->meta);
	if (err)
		fx_meta_clear(&out->meta);
	return err;
}

/* ------------------------------------------------------------- objects */

/* Open @name in @dirfd read-only if it is the kind the object @key needs. */
static int fx_file_open_at(const struct fx_file *f, int dirfd, const char *name,
			   const char *key)
{
	bool marker = key[strlen(key) - 1] == '/';
	struct stat st, fst;
	int fd;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW))
		return -errno;
	if (S_ISLNK(st.st_mode))
		fx_file_hide(f, key, "", "a symlink");
	if (marker ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
		return -ENOENT;
	fd = openat(dirfd, name, (marker ? FX_FILE_DIR_FLAGS : O_RDONLY | O_NOFOLLOW | O_CLOEXEC) |
					 O_NONBLOCK);
	if (fd < 0)
		return -errno;
	/* Swapped for something else between the stat and the open? */
	if (fstat(fd, &fst) || fst.st_ino != st.st_ino || fst.st_dev != st.st_dev) {
		close(fd);
		return -ENOENT;
	}
	return fd;
}

/* Open the object @key read-only: a regular file, or a directory for a marker. */
static int fx_file_open_object(const struct fx_file *f, const char *key)
{
	char name[FX_NAME_MAX + 1];
	int dirfd, fd;

	fd = fx_file_parent(f, key, 0, &dirfd, name);
	if (!fd) {
		fd = fx_file_open_at(f, dirfd, name, key);
		close(dirfd);
	}
	return fd == -ENOTDIR ? -ENOENT : fd;
}

/* fsync the object and the directory entry that names it. */
static int fx_file_sync(void *state, const char *key)
{
	char name[FX_NAME_MAX + 1];
	int dirfd, fd, err;

	if (key[strlen(key) - 1] == '/')
		return 0; /* markers are directories: nothing staged to make durable */
	err = fx_file_parent(state, key, 0, &dirfd, name);
	if (err)
		return err == -ENOTDIR ? -ENOENT : err;
	fd = fx_file_open_at(state, dirfd, name, key);
	if (fd < 0) {
		err = fd;
	} else {
		err = fsync(fd) ? -errno : 0;
		close(fd);
	}
	if (!err && fsync(dirfd))
		err = -errno;
	close(dirfd);
	return err;
}

static int fx_file_head(void *state, const char *key, struct fx_object_info *out)
{
	int fd = fx_file_open_object(state, key), err;

	if (fd < 0)
		return fd;
	err = fx_file_info(fd, out);
	close(fd);
	return err;
}

#define FX_FILE_SEQ_READ (128u * 1024)

static ssize_t fx_file_get_if(void *state, const char *key, const char *etag, uint64_t offset,
			      const struct iovec *iov, int iovcnt)
{
	int fd = fx_file_open_object(state, key);
	char now[FX_ETAG_MAX];
	size_t len = 0, done = 0, at = 0;
	ssize_t n = 0;
	struct stat st;

	if (fd < 0)
		return fd;
	if (etag) {
		/* Puts replace the file by rename, so the open file is one version:
		 * its identity checked once holds for every byte read from it. */
		if (fstat(fd, &st)) {
			n = -errno;
			close(fd);
			return n;
		}
		fx_file_etag(&st, S_ISDIR(st.st_mode) ? 0 : (uint64_t)st.st_size, now);
		if (strcmp(now, etag)) {
			close(fd);
			return -ESTALE;
		}
	}
	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	if (key[strlen(key) - 1] == '/')
		len = 0; /* a marker is empty */
	/* Each get opens the file afresh, so the kernel never sees a sequential
	 * reader; a large read is readahead already: ask for the next window. */
	if (len >= FX_FILE_SEQ_READ)
		posix_fadvise(fd, (off_t)(offset + len), (off_t)len * 2, POSIX_FADV_WILLNEED);
	for (int i = 0; i < iovcnt && done < len;) {
		if (at == iov[i].iov_len) {
			i++, at = 0;
			continue;
		}
		n = pread(fd, (char *)iov[i].iov_base + at, iov[i].iov_len - at, (off_t)(offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
		at += (size_t)n;
	}
	if (n < 0)
		n = -errno;
	close(fd);
	return n < 0 ? n : (ssize_t)done;
}

static ssize_t fx_file_get(void *state, const char *key, uint64_t offset, void *buf, size_t len)
{
	struct iovec iov = {.iov_base = buf, .iov_len = len};

	return fx_file_get_if(state, key, NULL, offset, &iov, 1);
}

/* Copy @size bytes of @in from offset 0 to the current offset of @out. */
static int fx_file_copy_data(int in, int out, uint64_t size)
{
	bool kernel_copy = true;
	char *buf = NULL;
	loff_t off = 0;
	ssize_t n;
	int err = 0;

	while (!err && (uint64_t)off < size) {
		size_t want = size - (uint64_t)off;

		if (kernel_copy) {
			n = copy_file_range(in, &off, out, NULL, want, 0);
			if (n < 0 && errno != EINTR && errno != EIO && errno != ENOSPC) {
				kernel_copy = false; /* EXDEV, ENOSYS, EINVAL...: copy by hand */
				continue;
			}
		} else {
			if (!buf && !(buf = malloc(1 << 17)))
				return -ENOMEM;
			n = pread(in, buf, want < (1 << 17) ? want : (1 << 17), off);
			for (ssize_t w = 0, m; n > 0 && w < n; w += m) {
				m = write(out, buf + w, (size_t)(n - w));
				if (m < 0) {
					err = -errno;
					break;
				}
			}
			if (n > 0)
				off += n;
		}
		if (n < 0 && errno != EINTR)
			err = -errno;
		else if (n == 0)
			err = -EIO; /* @in is shorter than promised */
	}
	free(buf);
	return err;
}

/* Create a temp file in @dirfd; its name goes to @name. */
static int fx_file_tmp(int dirfd, char name[32])
{
	uint64_t r;
	int i, fd;

	for (i = 0; i < 100; i++) {
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			return -EIO;
		snprintf(name, 32, FX_FILE_TMP "%06" PRIx64, r & 0xffffff);
		fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd >= 0 || errno != EEXIST)
			return fd < 0 ? -errno : fd;
	}
	return -EEXIST;
}

static int fx_file_put_marker(const struct fx_file *f, const char *key,
			      const struct fx_meta *meta, struct fx_object_info *out)
{
	char name[FX_NAME_MAX + 1];
	int dirfd, fd, err;

	err = fx_file_parent(f, key, FX_WALK_CREATE, &dirfd, name);
	if (err)
		return err;
	if (mkdirat(dirfd, name, 0755) && errno != EEXIST) {
		err = -errno;
		goto out_dir;
	}
	fd = openat(dirfd, name, FX_FILE_DIR_FLAGS);
	if (fd < 0) {
		err = errno == ELOOP ? -ENOTDIR : -errno;
		goto out_dir;
	}
	err = fx_file_write_meta(fd, meta);
	if (!err && out)
		err = fx_file_info(fd, out);
	close(fd);
out_dir:
	close(dirfd);
	return err;
}

static int fx_file_put(void *state, const char *key, int fd, uint64_t size,
		       const struct fx_meta *meta, struct fx_object_info *out)
{
	const struct fx_file *f = state;
	char name[FX_NAME_MAX + 1], tmp[32];
	int dirfd, tmpfd, err;

	if (key[strlen(key) - 1] == '/')
		return fx_file_put_marker(f, key, meta, out);
	err = fx_file_parent(f, key, FX_WALK_CREATE, &dirfd, name);
	if (err)
		return err;
	tmpfd = fx_file_tmp(dirfd, tmp);
	if (tmpfd < 0) {
		err = tmpfd;
		goto out_dir;
	}
	err = fx_file_copy_data(fd, tmpfd, size);
	if (!err)
		err = fx_file_write_meta(tmpfd, meta);
	/* No fsync here: close(2) on a local directory does not promise durability
	 * either; fsync(2) on the mount reaches fx_file_sync(). */
	/* Replaces a file atomically; a directory in the way is -EISDIR. */
	if (!err && renameat(dirfd, tmp, dirfd, name))
		err = errno == ENOTEMPTY || errno == EEXIST ? -EISDIR : -errno;
	if (err) {
		unlinkat(dirfd, tmp, 0);
		goto out_tmp;
	}
	if (out)
		err = fx_file_info(tmpfd, out);
out_tmp:
	close(tmpfd);
out_dir:
	close(dirfd);
	return err;
}

/* Deleting an absent key, or a key that names no object of its kind, succeeds. */
static int fx_file_del(void *state, const char *key)
{
	bool marker = key[strlen(key) - 1] == '/';
	char name[FX_NAME_MAX + 1];
	struct stat st;
	int dirfd, err;

	err = fx_file_parent(state, key, 0, &dirfd, name);
	if (err)
		return err == -ENOENT || err == -ENOTDIR ? 0 : err;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW))
		err = errno == ENOENT ? 0 : -errno;
	else if (!(marker ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode)))
		err = 0; /* not an object of this kind: nothing to delete */
	else if (unlinkat(dirfd, name, marker ? AT_REMOVEDIR : 0) && errno != ENOENT)
		err = errno == EEXIST ? -ENOTEMPTY : -errno;
	close(dirfd);
	return err;
}

static int fx_file_copy(void *state, const char *src, const char *dst,
			const struct fx_meta *meta)
{
	struct fx_meta src_meta = { 0 };
	struct stat st;
	int fd, err;

	fd = fx_file_open_object(state, src);
	if (fd < 0)
		return fd;
	if (!strcmp(src, dst)) { /* metadata replace in place */
		err = meta ? fx_file_write_meta(fd, meta) : 0;
		goto out_fd;
	}
	err = meta ? 0 : fx_file_read_meta(fd, &src_meta);
	if (!err && fstat(fd, &st))
		err = -errno;
	if (!err)
		err = fx_file_put(state, dst, fd, S_ISDIR(st.st_mode) ? 0 : (uint64_t)st.st_size,
				  meta ? meta : &src_meta, NULL);
	fx_meta_clear(&src_meta);
out_fd:
	close(fd);
	return err;
}

/*
 * Move @src to @dst: one object, or with marker keys the whole directory.
 * With @replace an existing regular file at @dst is replaced atomically
 * (rename(2)); without, an existing @dst is -EEXIST.
 */
static int fx_file_move(void *state, const char *src, const char *dst, bool replace)
{
	bool marker = src[strlen(src) - 1] == '/';
	char sname[FX_NAME_MAX + 1], dname[FX_NAME_MAX + 1];
	int sdir, ddir, err;
	struct stat st;

	err = fx_file_parent(state, src, 0, &sdir, sname);
	if (err)
		return err == -ENOTDIR ? -ENOENT : err;
	if (fstatat(sdir, sname, &st, AT_SYMLINK_NOFOLLOW))
		err = -errno;
	else if (marker ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
		err = -ENOENT;
	if (!err)
		err = fx_file_parent(state, dst, FX_WALK_CREATE, &ddir, dname);
	if (err)
		goto out_src;
	if (replace) {
		if (!fstatat(ddir, dname, &st, AT_SYMLINK_NOFOLLOW) && !S_ISREG(st.st_mode))
			err = S_ISDIR(st.st_mode) ? -EISDIR : -EEXIST; /* never replace a non-object */
		else if (renameat(sdir, sname, ddir, dname))
			err = -errno;
		goto out_dst;
	}
	if (!renameat2(sdir, sname, ddir, dname, RENAME_NOREPLACE))
		goto out_dst;
	err = -errno;
	if (err == -EINVAL && !marker) { /* no RENAME_NOREPLACE here: link never replaces */
		err = linkat(sdir, sname, ddir, dname, 0) ? -errno : 0;
		if (!err)
			unlinkat(sdir, sname, 0);
	} else if (err == -EINVAL) { /* racy, but the best without RENAME_NOREPLACE */
		err = !fstatat(ddir, dname, &st, AT_SYMLINK_NOFOLLOW) ? -EEXIST
		      : renameat(sdir, sname, ddir, dname)           ? -errno
								     : 0;
	}
out_dst:
	close(ddir);
out_src:
	close(sdir);
	return err;
}

static int fx_file_rename(void *state, const char *src, const char *dst)
{
	return fx_file_move(state, src, dst, false);
}

static int fx_file_replace(void *state, const char *src, const char *dst)
{
	return fx_file_move(state, src, dst, true);
}

static int fx_file_statfs(void *state, struct statvfs *out)
{
	const struct fx_file *f = state;

	return fstatvfs(f->root_fd, out) ? -errno : 0;
}

/* ------------------------------------------------------------------ list */

struct fx_file_walk {
	const struct fx_file *f;
	const char *token; /* list keys after it; NULL from the start */
	bool recursive;    /* no delimiter */
	size_t max_keys, n;
	fx_list_fn fn;
	void *arg;
	int stop;               /* the callback's non-zero answer */
	bool more;              /* an entry exists after the page */
	char last[FX_KEY_MAX + 1]; /* key of the last entry given to fn */
};

struct fx_file_dirent {
	char *sort_name; /* the name, with '/' appended for a directory */
	struct stat st;
};

/* Hand one entry to the callback. @return 0 to go on, 1 to stop, -errno. */
static int fx_file_emit(struct fx_file_walk *w, const char *key, bool is_prefix, int dirfd,
			const char *name)
{
	struct fx_object_info info = { 0 };
	struct fx_list_entry e = { .key = key, .is_prefix = is_prefix, .etag = "" };
	int fd, err = 0;

	if (w->token && strcmp(key, w->token) <= 0)
		return 0;
	if (w->n == w->max_keys) {
		w->more = true;
		return 1;
	}
	if (!is_prefix) {
		fd = fx_file_open_at(w->f, dirfd, name, key);
		if (fd == -ENOENT)
			return 0; /* gone since the directory was read */
		if (fd == -EACCES || fd == -EPERM) {
			/* One file the daemon may not read must not fail the
			 * whole listing: listed by its stat, without metadata
			 * (a read of it then fails with EACCES). */
			struct stat st;

			if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW))
				return errno == ENOENT ? 0 : -errno;
			if (fx_log_first_time("file-unreadable"))
				fx_warn("file: %s/%s is not readable by rustfx: listed without its "
					"metadata, reads of it fail (%s)", w->f->root, key,
					fx_strerror(fd));
			info.size = S_ISDIR(st.st_mode) ? 0 : (uint64_t)st.st_size;
			info.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
			fx_file_etag(&st, info.size, info.etag);
			e.size = info.size;
			e.mtime_ns = info.mtime_ns;
			e.etag = info.etag;
			goto emit;
		}
		if (fd < 0)
			return fd;
		err = fx_file_info(fd, &info);
		close(fd);
		if (err)
			return err;
		e.size = info.size;
		e.mtime_ns = info.mtime_ns;
		e.etag = info.etag;
		e.meta = &info.meta;
	}
emit:
	w->stop = w->fn(w->arg, &e);
	fx_object_info_clear(&info);
	w->n++;
	snprintf(w->last, sizeof(w->last), "%s", key);
	return w->stop ? 1 : 0;
}

static int fx_file_dirent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct fx_file_dirent *)a)->sort_name,
		      ((const struct fx_file_dirent *)b)->sort_name);
}

/* Read the entries of @dirfd whose names start with @filter, sorted as keys. */
static int fx_file_read_dir(const struct fx_file_walk *w, int dirfd, const char *dir_key,
			    const char *filter, struct fx_file_dirent **out, size_t *n_out)
{
	size_t n = 0, cap = 0, flen = strlen(filter), klen = strlen(dir_key);
	struct fx_file_dirent *v = NULL, *grown;
	/* A fresh open file description: a dup would share (and move) the offset. */
	int fd = openat(dirfd, ".", FX_FILE_DIR_FLAGS), err = 0;
	struct dirent *de;
	DIR *dir;

	if (fd < 0 || !(dir = fdopendir(fd))) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		return err;
	}
	while (!err && (errno = 0, de = readdir(dir))) {
		const char *name = de->d_name;
		struct stat st;
		size_t len = strlen(name);
		bool is_dir;

		if (!strcmp(name, ".") || !strcmp(name, "..") || strncmp(name, filter, flen))
			continue;
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW))
			continue; /* gone meanwhile */
		is_dir = S_ISDIR(st.st_mode);
		if (fx_file_reserved(name)) {
			/* A put in progress is normal; one left for an hour is not. */
			if (time(NULL) - st.st_mtime > FX_FILE_STALE_SECONDS)
				fx_file_hide(w->f, dir_key, name, "a stale unfinished upload");
			continue;
		}
		if (!is_dir && !S_ISREG(st.st_mode)) {
			fx_file_hide(w->f, dir_key, name,
				     S_ISLNK(st.st_mode) ? "a symlink" : "not a regular file");
			continue;
		}
		if (klen + len + is_dir > FX_KEY_MAX || len > FX_NAME_MAX) {
			fx_file_hide(w->f, dir_key, name, "too long for an object key");
			continue;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 32;
			grown = realloc(v, cap * sizeof(*v));
			if (!grown) {
				err = -ENOMEM;
				break;
			}
			v = grown;
		}
		v[n].st = st;
		if (!(v[n].sort_name = malloc(len + 2))) {
			err = -ENOMEM;
			break;
		}
		memcpy(v[n].sort_name, name, len);
		strcpy(v[n].sort_name + len, is_dir ? "/" : "");
		n++;
	}
	if (!err && errno)
		err = -errno;
	closedir(dir);
	if (err) {
		while (n)
			free(v[--n].sort_name);
		free(v);
		return err;
	}
	if (n)
		qsort(v, n, sizeof(*v), fx_file_dirent_cmp);
	*out = v;
	*n_out = n;
	return 0;
}

/*
 * List the entries of @dirfd (whose key is @key, length @klen; the buffer has
 * room for one more segment) in byte order. Depth first is byte order: every
 * key under "d/" sorts after "d/" and before the next sibling.
 */
static int fx_file_walk_dir(struct fx_file_walk *w, int dirfd, char *key, size_t klen,
			    const char *filter)
{
	struct fx_file_dirent *v = NULL;
	size_t i, n = 0;
	int err, sub;

	err = fx_file_read_dir(w, dirfd, key, filter, &v, &n);
	for (i = 0; !err && i < n; i++) {
		size_t len = strlen(v[i].sort_name);
		bool is_dir = S_ISDIR(v[i].st.st_mode);

		memcpy(key + klen, v[i].sort_name, len + 1);
		if (is_dir)
			v[i].sort_name[len - 1] = '\0'; /* back to the name */
		if (!is_dir || !w->recursive) {
			err = fx_file_emit(w, key, is_dir, dirfd, v[i].sort_name);
			continue;
		}
		/* The whole subtree sorts before the token: skip it unread. */
		if (w->token && strcmp(key, w->token) < 0 && strncmp(w->token, key, klen + len))
			continue;
		err = fx_file_emit(w, key, false, dirfd, v[i].sort_name);
		if (err)
			continue;
		sub = openat(dirfd, v[i].sort_name, FX_FILE_DIR_FLAGS);
		if (sub < 0)
			continue; /* replaced or removed since it was read */
		err = fx_file_walk_dir(w, sub, key, klen + len, "");
		close(sub);
	}
	for (i = 0; i < n; i++)
		free(v[i].sort_name);
	free(v);
	key[klen] = '\0';
	return err;
}

static int fx_file_list(void *state, const char *prefix, const char *delimiter,
			const char *token, size_t max_keys, fx_list_fn fn, void *arg,
			char **next_token)
{
	struct fx_file_walk w = { .f = state, .token = token, .recursive = !delimiter,
				  .max_keys = max_keys, .fn = fn, .arg = arg };
	char key[FX_FILE_KEY_BUF], name[FX_NAME_MAX + 1];
	size_t plen = strlen(prefix), klen = 0;
	const char *filter = "";
	int pfd, dirfd, err;

	if (!plen) {
		dirfd = fcntl(w.f->root_fd, F_DUPFD_CLOEXEC, 0);
		if (dirfd < 0)
			return -errno;
	} else {
		err = fx_file_parent(w.f, prefix, FX_WALK_PARTIAL, &pfd, name);
		if (err)
			return err == -ENOENT || err == -ENOTDIR ? 0 : err;
		memcpy(key, prefix, plen + 1);
		if (prefix[plen - 1] != '/') {
			dirfd = pfd;
			filter = prefix + plen - strlen(name);
			klen = plen - strlen(name);
		} else {
			/* The prefix directory's own marker comes first. */
			err = fx_file_emit(&w, key, false, pfd, name);
			dirfd = err ? -1 : openat(pfd, name, FX_FILE_DIR_FLAGS);
			close(pfd);
			if (err || dirfd < 0)
				goto out_done;
			klen = plen;
		}
	}
	key[klen] = '\0';
	err = fx_file_walk_dir(&w, dirfd, key, klen, filter);
	close(dirfd);
out_done:
	if (err < 0)
		return err;
	if (w.stop)
		return w.stop;
	if (w.more && !(*next_token = strdup(w.last)))
		return -ENOMEM;
	return 0;
}

/* ------------------------------------------------------------- open/close */

static int fx_file_open(const char *url, const struct fx_config *cfg, void **state,
			struct fx_diag *d)
{
	const char *path = url + strlen("file://");
	struct fx_file *f;
	size_t len;
	int err;

	(void)cfg; /* no settings yet */

	if (strncmp(url, "file://", 7) || path[0] != '/') {
		fx_diag_set(d, -FX_EBADURL, "use an absolute path: file:///srv/bucket (three slashes)",
			    "file:// URL '%s' does not name an absolute path", url);
		return -FX_EBADURL;
	}
	f = calloc(1, sizeof(*f));
	if (!f || !(f->root = strdup(path))) {
		free(f);
		return -ENOMEM;
	}
	for (len = strlen(f->root); len > 1 && f->root[len - 1] == '/';)
		f->root[--len] = '\0';
	f->root_fd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->root_fd < 0) {
		char hint[sizeof(d->hint)];

		err = -errno;
		snprintf(hint, sizeof(hint), "create it: mkdir -p %s", f->root);
		if (err == -ENOENT)
			fx_diag_set(d, err, hint, "backend root %s does not exist", f->root);
		else if (err == -ENOTDIR)
			fx_diag_set(d, err, "point file:// at a directory, or create one with mkdir -p",
				    "backend root %s is not a directory", f->root);
		else
			fx_diag_set(d, err, NULL, "cannot open backend root %s (%s)", f->root,
				    fx_strerror(err));
		goto out_free;
	}
	/* Probe read-only: ENODATA means user xattrs work, ENOTSUP they do not. */
	if (fgetxattr(f->root_fd, FX_FILE_XATTR "probe", NULL, 0) < 0 && errno == ENOTSUP) {
		err = -ENOTSUP;
		fx_diag_set(d, err,
			    "use a filesystem with user xattrs (ext4, xfs, btrfs, tmpfs on Linux 6.6+) "
			    "or mount it with -o user_xattr",
			    "filesystem of backend root %s does not support user extended attributes "
			    "(needed for object metadata)",
			    f->root);
		goto out_fd;
	}
	*state = f;
	return 0;

out_fd:
	close(f->root_fd);
out_free:
	free(f->root);
	free(f);
	return err;
}

static void fx_file_close(void *state)
{
	struct fx_file *f = state;

	close(f->root_fd);
	free(f->root);
	free(f);
}

static uint32_t fx_file_caps(void *state)
{
	(void)state;
	return FX_CAP_COPY | FX_CAP_RENAME | FX_CAP_RENAME_PREFIX | FX_CAP_STATFS |
	       FX_CAP_LIST_META;
}

const struct fx_backend_ops fx_backend_file_ops = {
	.abi = FX_BACKEND_ABI,
	.size = sizeof(struct fx_backend_ops),
	.name = "file",
	.scheme = "file",
	.open = fx_file_open,
	.close = fx_file_close,
	.caps = fx_file_caps,
	.head = fx_file_head,
	.list = fx_file_list,
	.get = fx_file_get,
	.get_if = fx_file_get_if,
	.put = fx_file_put,
	.del = fx_file_del,
	.copy = fx_file_copy,
	.rename = fx_file_rename,
	.statfs = fx_file_statfs,
	.sync = fx_file_sync,
	.replace = fx_file_replace,
};
