/*
 * backend.c - backend registry and the fx_backend_*() wrappers (see backend.h).
 *
 * Owns: choosing a backend by URL scheme, checking every key and argument
 * before a backend sees it, per-operation call counters, fault injection for
 * tests, and the fallbacks for optional methods (del_batch -> del, copy ->
 * get + put, rename -> copy + delete, statfs -> fixed figures).
 * Does not own: any storage; the backends in file.c, mem.c (and s3) do.
 *
 * Fallbacks call the backend's methods directly, not through the wrappers,
 * so one wrapper call counts once and consumes at most one injected fault.
 */
#define FX_LOG_MODULE "backend"
#include "backends/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

#include "backends/backend_i.h"

#define FX_REGISTRY_MAX 16
#define FX_LIST_DEFAULT_KEYS 1000
#define FX_MPU_MAX_PARTS 10000 /* as S3 */
#define FX_COPY_CHUNK (1u << 20)

/* A method exists when the ops struct the backend was compiled with has it. */
#define FX_HAS(ops, m)                                                                   \
	(offsetof(struct fx_backend_ops, m) + sizeof((ops)->m) <= (ops)->size && (ops)->m)

struct fx_fault {
	int err;       /* negative errno */
	unsigned left; /* calls still to fail; read without the lock as a fast path */
};

struct fx_backend {
	const struct fx_backend_ops *ops;
	void *state;
	char *url;
	uint32_t caps;
	uint64_t calls[FX_OP_COUNT]; /* atomic */
	uint64_t errors[FX_OP_COUNT]; /* atomic */
	uint64_t bytes[FX_OP_COUNT];  /* atomic: GET bytes read, PUT bytes stored */
	uint64_t hist[FX_OP_COUNT][FX_LATENCY_BUCKETS]; /* atomic */
	uint64_t latency_us_sum[FX_OP_COUNT];          /* atomic */
	pthread_mutex_t fault_lock;  /* protects faults[] */
	struct fx_fault faults[FX_OP_COUNT];
};

static pthread_once_t fx_builtins_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t fx_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct fx_backend_ops *fx_registry[FX_REGISTRY_MAX]; /* fx_registry_lock */
static size_t fx_registry_n;                                      /* fx_registry_lock */

/* ---------------------------------------------------------------- registry */

static int fx_register_locked(const struct fx_backend_ops *ops)
{
	size_t i;

	if (!ops || ops->abi != FX_BACKEND_ABI ||
	    ops->size < offsetof(struct fx_backend_ops, del) + sizeof(ops->del) || !ops->name ||
	    !ops->scheme || !ops->open || !ops->close || !ops->head || !ops->list || !ops->get ||
	    !ops->put || !ops->del)
		return -EINVAL;
	for (i = 0; i < fx_registry_n; i++)
		if (!strcmp(fx_registry[i]->scheme, ops->scheme))
			return -EEXIST;
	if (fx_registry_n == FX_REGISTRY_MAX)
		return -ENOSPC;
	fx_registry[fx_registry_n++] = ops;
	return 0;
}

static void fx_register_builtins(void)
{
	pthread_mutex_lock(&fx_registry_lock);
	fx_register_locked(&fx_backend_file_ops);
	fx_register_locked(&fx_backend_mem_ops);
#ifdef RUSTFX_S3
	fx_register_locked(&fx_backend_s3_ops);
#endif
	pthread_mutex_unlock(&fx_registry_lock);
}

int fx_backend_register(const struct fx_backend_ops *ops)
{
	int err;

	pthread_once(&fx_builtins_once, fx_register_builtins);
	pthread_mutex_lock(&fx_registry_lock);
	err = fx_register_locked(ops);
	pthread_mutex_unlock(&fx_registry_lock);
	return err;
}

/* The ops for @scheme (length @len), or NULL; fills @names with the known schemes. */
static const struct fx_backend_ops *fx_lookup(const char *scheme, size_t len, char *names,
					      size_t names_size)
{
	const struct fx_backend_ops *found = NULL;
	size_t i, used = 0;

	pthread_once(&fx_builtins_once, fx_register_builtins);
	pthread_mutex_lock(&fx_registry_lock);
	names[0] = '\0';
	for (i = 0; i < fx_registry_n; i++) {
		const char *s = fx_registry[i]->scheme;

		if (strlen(s) == len && !memcmp(s, scheme, len))
			found = fx_registry[i];
		if (used < names_size)
			used += snprintf(names + used, names_size - used, "%s%s://", i ? ", " : "", s);
	}
	pthread_mutex_unlock(&fx_registry_lock);
	return found;
}

int fx_backend_open(const char *url, struct fx_backend **out, struct fx_diag *d)
{
	return fx_backend_open_config(url, NULL, out, d);
}

int fx_backend_open_config(const char *url, const struct fx_config *cfg, struct fx_backend **out,
			   struct fx_diag *d)
{
	const struct fx_backend_ops *ops;
	const char *sep = url ? strstr(url, "://") : NULL;
	struct fx_backend *b;
	char names[256];
	int err;

	if (!sep || sep == url) {
		fx_diag_set(d, -FX_EBADURL, "write it as SCHEME://WHERE, e.g. file:///srv/bucket",
			    "backend URL '%s' has no scheme (missing \"://\")", url ? url : "");
		return -FX_EBADURL;
	}
	ops = fx_lookup(url, (size_t)(sep - url), names, sizeof(names));
	if (!ops) {
		char hint[sizeof(names) + 32];

		snprintf(hint, sizeof(hint), "supported schemes: %s", names);
		fx_diag_set(d, -FX_EBADURL, hint, "unsupported URL scheme '%.*s' in '%s'",
			    (int)(sep - url), url, url);
		return -FX_EBADURL;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->url = strdup(url);
	if (!b->url) {
		err = -ENOMEM;
		goto out_free;
	}
	pthread_mutex_init(&b->fault_lock, NULL);
	b->ops = ops;
	err = ops->open(url, cfg, &b->state, d);
	if (err) {
		fx_diag_set(d, err, NULL, "cannot open %s backend '%s' (%s)", ops->name, url,
			    fx_strerror(err));
		goto out_mutex;
	}
	b->caps = FX_HAS(ops, caps) ? ops->caps(b->state) : 0;
	*out = b;
	return 0;

out_mutex:
	pthread_mutex_destroy(&b->fault_lock);
	free(b->url);
out_free:
	free(b);
	return err;
}

void fx_backend_close(struct fx_backend *b)
{
	if (!b)
		return;
	b->ops->close(b->state);
	pthread_mutex_destroy(&b->fault_lock);
	free(b->url);
	free(b);
}

const char *fx_backend_name(const struct fx_backend *b)
{
	return b->ops->name;
}

const char *fx_backend_url(const struct fx_backend *b)
{
	return b->url;
}

uint32_t fx_backend_caps(const struct fx_backend *b)
{
	return b->caps;
}

/* ------------------------------------------------------- counters, faults */

static void fx_count(struct fx_backend *b, enum fx_backend_op op)
{
	__atomic_fetch_add(&b->calls[op], 1, __ATOMIC_RELAXED);
}

static uint64_t fx_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Record one finished call of @op begun at @t0 (fx_mono_us). @return @ret. */
static ssize_t fx_timed(struct fx_backend *b, enum fx_backend_op op, uint64_t t0, ssize_t ret)
{
	uint64_t us = fx_mono_us() - t0;
	unsigned bucket = 0;

	while (bucket < FX_LATENCY_BUCKETS - 1 && us >= (2ull << bucket))
		bucket++;
	__atomic_fetch_add(&b->hist[op][bucket], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&b->latency_us_sum[op], us, __ATOMIC_RELAXED);
	if (ret < 0 && ret != -ENOENT) /* a missing object is an answer, not a failure */
		__atomic_fetch_add(&b->errors[op], 1, __ATOMIC_RELAXED);
	else if (op == FX_OP_GET)
		__atomic_fetch_add(&b->bytes[op], (uint64_t)ret, __ATOMIC_RELAXED);
	return ret;
}

void fx_backend_op_stats(const struct fx_backend *b, enum fx_backend_op op,
			 struct fx_backend_op_stats *out)
{
	out->calls = __atomic_load_n(&b->calls[op], __ATOMIC_RELAXED);
	out->errors = __atomic_load_n(&b->errors[op], __ATOMIC_RELAXED);
	out->bytes = __atomic_load_n(&b->bytes[op], __ATOMIC_RELAXED);
	out->latency_us_sum = __atomic_load_n(&b->latency_us_sum[op], __ATOMIC_RELAXED);
	for (unsigned i = 0; i < FX_LATENCY_BUCKETS; i++)
		out->hist[i] = __atomic_load_n(&b->hist[op][i], __ATOMIC_RELAXED);
}

const char *fx_backend_op_name(enum fx_backend_op op)
{
	static const char *const names[FX_OP_COUNT] = {
		[FX_OP_HEAD] = "head",     [FX_OP_LIST] = "list",     [FX_OP_GET] = "get",
		[FX_OP_PUT] = "put",       [FX_OP_DELETE] = "delete", [FX_OP_COPY] = "copy",
		[FX_OP_RENAME] = "rename", [FX_OP_MULTIPART] = "multipart",
	};

	return op < FX_OP_COUNT ? names[op] : "?";
}

/* @return the injected error for this call of @op, or 0. */
static int fx_fault(struct fx_backend *b, enum fx_backend_op op)
{
	struct fx_fault *f = &b->faults[op];
	int err = 0;

	if (!__atomic_load_n(&f->left, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&b->fault_lock);
	if (__atomic_load_n(&f->left, __ATOMIC_RELAXED)) {
		__atomic_store_n(&f->left, f->left - 1, __ATOMIC_RELEASE);
		err = f->err;
	}
	pthread_mutex_unlock(&b->fault_lock);
	return err;
}

void fx_backend_inject_fault(struct fx_backend *b, enum fx_backend_op op, int err,
			     unsigned count)
{
	if ((unsigned)op >= FX_OP_COUNT)
		return;
	pthread_mutex_lock(&b->fault_lock);
	b->faults[op].err = err > 0 ? -err : err ? err : -EIO;
	__atomic_store_n(&b->faults[op].left, count, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&b->fault_lock);
}

uint64_t fx_backend_calls(const struct fx_backend *b, enum fx_backend_op op)
{
	if ((unsigned)op >= FX_OP_COUNT)
		return 0;
	return __atomic_load_n(&b->calls[op], __ATOMIC_RELAXED);
}

/* --------------------------------------------------------------- checks */

static bool fx_is_marker(const char *key)
{
	return key[strlen(key) - 1] == '/';
}

/* Two checked keys of the same kind (both objects or both markers). */
static int fx_pair_check(const char *src, const char *dst)
{
	int err = fx_key_check(src);

	if (!err)
		err = fx_key_check(dst);
	if (!err && fx_is_marker(src) != fx_is_marker(dst))
		err = -EINVAL;
	return err;
}

/* A list prefix: "" or a key whose last segment may be partial ("a/b", "a/."). */
static int fx_prefix_check(const char *prefix)
{
	char dir[FX_KEY_MAX + 1];
	const char *slash;
	size_t len;

	if (!prefix || !*prefix)
		return 0;
	len = strlen(prefix);
	if (len > FX_KEY_MAX)
		return -ENAMETOOLONG;
	if (prefix[0] == '/')
		return -EINVAL;
	slash = strrchr(prefix, '/');
	if (!slash)
		return len > FX_NAME_MAX ? -ENAMETOOLONG : 0;
	if (strlen(slash + 1) > FX_NAME_MAX)
		return -ENAMETOOLONG;
	memcpy(dir, prefix, (size_t)(slash - prefix) + 1);
	dir[slash - prefix + 1] = '\0';
	return fx_key_check(dir);
}

/* ------------------------------------------------------------- wrappers */

int fx_backend_head(struct fx_backend *b, const char *key, struct fx_object_info *out)
{
	int err;

	fx_count(b, FX_OP_HEAD);
	err = fx_key_check(key);
	if (!err && !out)
		err = -EINVAL;
	if (!err)
		err = fx_fault(b, FX_OP_HEAD);
	if (err)
		return err;
	/* The clock is read before the call: the order in which a call's
	 * arguments are evaluated is unspecified. */
	uint64_t t0 = fx_mono_us();

	return (int)fx_timed(b, FX_OP_HEAD, t0, b->ops->head(b->state, key, out));
}

int fx_backend_list(struct fx_backend *b, const char *prefix, const char *delimiter,
		    const char *token, size_t max_keys, fx_list_fn fn, void *arg,
		    char **next_token)
{
	char *next = NULL;
	int err;

	fx_count(b, FX_OP_LIST);
	if (next_token)
		*next_token = NULL;
	err = fx_prefix_check(prefix);
	if (!err && (!fn || (delimiter && *delimiter && strcmp(delimiter, "/"))))
		err = -EINVAL;
	if (!err)
		err = fx_fault(b, FX_OP_LIST);
	if (err)
		return err;
	uint64_t t0 = fx_mono_us();

	err = b->ops->list(b->state, prefix ? prefix : "", delimiter && *delimiter ? "/" : NULL,
			   token && *token ? token : NULL,
			   max_keys ? max_keys : FX_LIST_DEFAULT_KEYS, fn, arg, &next);
	fx_timed(b, FX_OP_LIST, t0, err);
	if (err || !next_token) {
		free(next);
		return err;
	}
	*next_token = next;
	return 0;
}

int fx_backend_opening_list(struct fx_backend *b, fx_list_fn fn, void *arg, char **next_token)
{
	*next_token = NULL;
	if (!fn || !FX_HAS(b->ops, opening_list))
		return -ENOENT;
	return b->ops->opening_list(b->state, fn, arg, next_token);
}

int fx_backend_list_all(struct fx_backend *b, const char *prefix, const char *delimiter,
			fx_list_fn fn, void *arg)
{
	char *token = NULL, *next;
	int err;

	do {
		err = fx_backend_list(b, prefix, delimiter, token, FX_LIST_DEFAULT_KEYS, fn, arg,
				      &next);
		/* A token that does not move would loop forever. */
		if (!err && next && token && !strcmp(next, token))
			err = -EIO;
		free(token);
		token = next;
	} while (!err && token);
	if (err)
		free(token);
	return err;
}

ssize_t fx_backend_get(struct fx_backend *b, const char *key, uint64_t offset, void *buf,
		       size_t len)
{
	return fx_backend_get_version(b, key, NULL, offset, buf, len);
}

ssize_t fx_backend_get_version(struct fx_backend *b, const char *key, const char *etag,
			       uint64_t offset, void *buf, size_t len)
{
	struct iovec iov = {.iov_base = buf, .iov_len = len < SSIZE_MAX ? len : SSIZE_MAX};

	return fx_backend_getv_version(b, key, etag, offset, &iov, 1);
}

ssize_t fx_backend_getv_version(struct fx_backend *b, const char *key, const char *etag,
				uint64_t offset, const struct iovec *iov, int iovcnt)
{
	size_t len = 0;
	ssize_t n = 0, done = 0;
	int err;

	fx_count(b, FX_OP_GET);
	err = fx_key_check(key);
	for (int i = 0; !err && i < iovcnt; i++) {
		if ((!iov[i].iov_base && iov[i].iov_len) || iov[i].iov_len > SSIZE_MAX - len)
			err = -EINVAL;
		len += iov[i].iov_len;
	}
	if (!err)
		err = fx_fault(b, FX_OP_GET);
	if (err)
		return err;
	uint64_t t0 = fx_mono_us();

	if (FX_HAS(b->ops, get_if))
		return fx_timed(b, FX_OP_GET, t0,
				b->ops->get_if(b->state, key, etag && *etag ? etag : NULL, offset, iov,
					       iovcnt));
	/* Without get_if: whatever is current, a buffer at a time. */
	for (int i = 0; i < iovcnt; i++) {
		n = b->ops->get(b->state, key, offset + (uint64_t)done, iov[i].iov_base,
				iov[i].iov_len);
		if (n < 0)
			return fx_timed(b, FX_OP_GET, t0, n);
		done += n;
		if ((size_t)n < iov[i].iov_len)
			break; /* the end of the object */
	}
	return fx_timed(b, FX_OP_GET, t0, done);
}

int fx_backend_put(struct fx_backend *b, const char *key, int fd, uint64_t size,
		   const struct fx_meta *meta, struct fx_object_info *out)
{
	int err;

	fx_count(b, FX_OP_PUT);
	err = fx_key_check(key);
	/* A directory marker is an empty object. */
	if (!err && (fd < 0 || (fx_is_marker(key) && size)))
		err = -EINVAL;
	if (!err)
		err = fx_fault(b, FX_OP_PUT);
	if (err)
		return err;
	uint64_t t0 = fx_mono_us();

	err = (int)fx_timed(b, FX_OP_PUT, t0, b->ops->put(b->state, key, fd, size, meta, out));
	if (!err)
		__atomic_fetch_add(&b->bytes[FX_OP_PUT], size, __ATOMIC_RELAXED);
	return err;
}

int fx_backend_delete(struct fx_backend *b, const char *key)
{
	int err;

	fx_count(b, FX_OP_DELETE);
	err = fx_key_check(key);
	if (!err)
		err = fx_fault(b, FX_OP_DELETE);
	if (err)
		return err;
	uint64_t t0 = fx_mono_us();

	return (int)fx_timed(b, FX_OP_DELETE, t0, b->ops->del(b->state, key));
}

/*
 * A batch with one unsafe key is refused whole: nothing is deleted, the
 * unsafe keys' results carry their error and the others -ECANCELED.
 */
int fx_backend_delete_batch(struct fx_backend *b, const char *const *keys, size_t n,
			    int *results)
{
	int err = 0, e;
	size_t i;

	fx_count(b, FX_OP_DELETE);
	if (n && (!keys || !results))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		e = fx_key_check(keys[i]);
		results[i] = e ? e : -ECANCELED;
		if (e && !err)
			err = e;
	}
	if (!err)
		err = fx_fault(b, FX_OP_DELETE);
	if (err || !n)
		return err;
	if (FX_HAS(b->ops, del_batch) && (b->caps & FX_CAP_DELETE_BATCH))
		return b->ops->del_batch(b->state, keys, n, results);
	for (i = 0; i < n; i++)
		results[i] = b->ops->del(b->state, keys[i]);
	return 0;
}

/* An anonymous temporary file for staging a whole object. */
static int fx_tmpfile(void)
{
	const char *dir = getenv("TMPDIR");
	FILE *f;
	int fd;

	fd = open(dir && *dir ? dir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	f = tmpfile();
	if (!f)
		return -errno;
	fd = dup(fileno(f));
	if (fd < 0)
		fd = -errno;
	fclose(f);
	return fd;
}

static int fx_write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* copy without server-side copy: get the whole object, put it again. */
static int fx_copy_by_get_put(struct fx_backend *b, const char *src, const char *dst,
			      const struct fx_meta *meta)
{
	struct fx_object_info info = { 0 };
	uint64_t off = 0;
	char *buf;
	ssize_t n;
	int err, fd;

	err = b->ops->head(b->state, src, &info);
	if (err)
		return err;
	if (!strcmp(src, dst) && !meta)
		goto out_info;
	fd = fx_tmpfile();
	if (fd < 0) {
		err = fd;
		goto out_info;
	}
	buf = malloc(FX_COPY_CHUNK);
	if (!buf) {
		err = -ENOMEM;
		goto out_fd;
	}
	/* Read to the end, not to info.size: the object may have changed since. */
	do {
		n = b->ops->get(b->state, src, off, buf, FX_COPY_CHUNK);
		if (n < 0) {
			err = (int)n;
			goto out_buf;
		}
		err = fx_write_all(fd, buf, (size_t)n);
		if (err)
			goto out_buf;
		off += (uint64_t)n;
	} while (n == FX_COPY_CHUNK);
	err = b->ops->put(b->state, dst, fd, off, meta ? meta : &info.meta, NULL);
out_buf:
	free(buf);
out_fd:
	close(fd);
out_info:
	fx_object_info_clear(&info);
	return err;
}

static int fx_copy(struct fx_backend *b, const char *src, const char *dst,
		   const struct fx_meta *meta)
{
	if (FX_HAS(b->ops, copy) && (b->caps & FX_CAP_COPY))
		return b->ops->copy(b->state, src, dst, meta);
	fx_debug("%s: copy %s -> %s by get + put", b->ops->name, src, dst);
	return fx_copy_by_get_put(b, src, dst, meta);
}

int fx_backend_copy(struct fx_backend *b, const char *src, const char *dst,
		    const struct fx_meta *meta)
{
	int err;

	fx_count(b, FX_OP_COPY);
	err = fx_pair_check(src, dst);
	if (!err)
		err = fx_fault(b, FX_OP_COPY);
	return err ? err : fx_copy(b, src, dst, meta);
}

/*
 * Markers always take the copy + delete path: a backend's rename of "a/" is
 * a prefix rename (file:// moves the whole directory), not one object.
 * The fallback is not atomic: @dst may appear before @src goes.
 */
int fx_backend_rename(struct fx_backend *b, const char *src, const char *dst)
{
	struct fx_object_info info = { 0 };
	int err;

	fx_count(b, FX_OP_RENAME);
	err = fx_pair_check(src, dst);
	if (!err)
		err = fx_fault(b, FX_OP_RENAME);
	if (err)
		return err;
	if (!fx_is_marker(src) && FX_HAS(b->ops, rename) && (b->caps & FX_CAP_RENAME))
		return b->ops->rename(b->state, src, dst);
	err = b->ops->head(b->state, dst, &info);
	fx_object_info_clear(&info);
	if (err != -ENOENT)
		return err ? err : -EEXIST;
	err = fx_copy(b, src, dst, NULL);
	return err ? err : b->ops->del(b->state, src);
}

int fx_backend_rename_prefix(struct fx_backend *b, const char *src, const char *dst)
{
	int err;

	fx_count(b, FX_OP_RENAME);
	err = fx_pair_check(src, dst);
	/* Both prefixes, and not into itself. */
	if (!err && (!fx_is_marker(src) || !strncmp(dst, src, strlen(src))))
		err = -EINVAL;
	if (!err)
		err = fx_fault(b, FX_OP_RENAME);
	if (err)
		return err;
	if (!FX_HAS(b->ops, rename) || !(b->caps & FX_CAP_RENAME_PREFIX))
		return -ENOTSUP;
	return b->ops->rename(b->state, src, dst);
}

int fx_backend_statfs(struct fx_backend *b, struct statvfs *out)
{
	const uint64_t bsize = 4096, total = 1ull << 50; /* 1 PiB: "unlimited" */

	if (FX_HAS(b->ops, statfs))
		return b->ops->statfs(b->state, out);
	memset(out, 0, sizeof(*out));
	out->f_bsize = out->f_frsize = bsize;
	out->f_blocks = out->f_bfree = out->f_bavail = total / bsize;
	out->f_files = out->f_ffree = out->f_favail = 1ull << 32;
	out->f_namemax = FX_NAME_MAX;
	return 0;
}

int fx_backend_replace(struct fx_backend *b, const char *src, const char *dst)
{
	int err;

	fx_count(b, FX_OP_RENAME);
	err = fx_key_check(src);
	if (!err)
		err = fx_key_check(dst);
	if (!err && (fx_is_marker(src) || fx_is_marker(dst) || strcmp(src, dst) == 0))
		err = -EINVAL;
	if (!err)
		err = fx_fault(b, FX_OP_RENAME);
	if (err)
		return err;
	if (FX_HAS(b->ops, replace))
		return b->ops->replace(b->state, src, dst);
	err = fx_backend_copy(b, src, dst, NULL);
	return err ? err : fx_backend_delete(b, src);
}

int fx_backend_sync(struct fx_backend *b, const char *key)
{
	int err = fx_key_check(key);

	if (err)
		return err;
	return FX_HAS(b->ops, sync) ? b->ops->sync(b->state, key) : 0;
}

/* ------------------------------------------------------------ multipart */

static bool fx_has_mpu(const struct fx_backend *b)
{
	return FX_HAS(b->ops, mpu_begin) && FX_HAS(b->ops, mpu_part) &&
	       FX_HAS(b->ops, mpu_complete) && FX_HAS(b->ops, mpu_abort) &&
	       (b->caps & FX_CAP_MULTIPART);
}

int fx_backend_mpu_begin(struct fx_backend *b, const char *key, const struct fx_meta *meta,
			 struct fx_multipart **out)
{
	int err;

	fx_count(b, FX_OP_MULTIPART);
	err = fx_key_check(key);
	if (!err && (fx_is_marker(key) || !out))
		err = -EINVAL;
	if (!err)
		err = fx_fault(b, FX_OP_MULTIPART);
	if (err)
		return err;
	return fx_has_mpu(b) ? b->ops->mpu_begin(b->state, key, meta, out) : -ENOTSUP;
}

int fx_backend_mpu_part(struct fx_backend *b, struct fx_multipart *mp, unsigned part_no, int fd,
			uint64_t offset, uint64_t len)
{
	int err = 0;

	fx_count(b, FX_OP_MULTIPART);
	if (!mp || fd < 0 || part_no < 1 || part_no > FX_MPU_MAX_PARTS)
		err = -EINVAL;
	if (!err)
		err = fx_fault(b, FX_OP_MULTIPART);
	if (err)
		return err;
	return fx_has_mpu(b) ? b->ops->mpu_part(b->state, mp, part_no, fd, offset, len)
			     : -ENOTSUP;
}

/* On success @mp is consumed; on failure it stays valid for abort. */
int fx_backend_mpu_complete(struct fx_backend *b, struct fx_multipart *mp,
			    struct fx_object_info *out)
{
	int err = 0;

	fx_count(b, FX_OP_MULTIPART);
	if (!mp)
		err = -EINVAL;
	if (!err)
		err = fx_fault(b, FX_OP_MULTIPART);
	if (err)
		return err;
	return fx_has_mpu(b) ? b->ops->mpu_complete(b->state, mp, out) : -ENOTSUP;
}

void fx_backend_mpu_abort(struct fx_backend *b, struct fx_multipart *mp)
{
	fx_count(b, FX_OP_MULTIPART);
	if (mp && fx_has_mpu(b))
		b->ops->mpu_abort(b->state, mp);
}
