/*
 * mem.c - the mem:// backend: an in-process object store for tests.
 *
 * Owns: a sorted array of objects (key -> bytes, metadata, etag, mtime) per
 * store, S3-exact listing (prefix, delimiter, continuation after a key), batch
 * delete, copy, single-object rename and in-memory multipart uploads.
 * Does not own: persistence; "mem://NAME" stores live until the process ends
 * and are shared by every open of the same NAME (so a test can reopen one),
 * "mem://" alone is private and freed at close.
 *
 * ETag: the quoted lower-case hex of XXH3-64 of the content.
 * Locks: fx_mem_stores_lock (the list of named stores) before a store's lock;
 * a multipart upload's lock is never held with either. List callbacks run
 * with no lock held, on copies, so they may call back into the store.
 */
#include "backends/backend.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

struct fx_mem_object {
	char *key;
	char *data;
	size_t size;
	int64_t mtime_ns;
	char etag[24];
	struct fx_meta meta;
};

struct fx_mem_store {
	char *name;                /* NULL for a private store; immutable */
	pthread_mutex_t lock;      /* protects objs, n, cap */
	struct fx_mem_object *objs; /* sorted by strcmp of key */
	size_t n, cap;
	struct fx_mem_store *next; /* fx_mem_stores_lock */
};

struct fx_mem_part {
	unsigned no;
	char *data;
	size_t len;
};

struct fx_multipart {
	char *key;
	struct fx_meta meta;
	pthread_mutex_t lock; /* protects parts, n */
	struct fx_mem_part *parts;
	size_t n;
};

static pthread_mutex_t fx_mem_stores_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fx_mem_store *fx_mem_stores; /* named stores; fx_mem_stores_lock */

static int64_t fx_mem_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void fx_mem_object_free(struct fx_mem_object *o)
{
	free(o->key);
	free(o->data);
	fx_meta_clear(&o->meta);
}

static void fx_mem_info(const struct fx_mem_object *o, struct fx_object_info *out)
{
	out->size = o->size;
	out->mtime_ns = o->mtime_ns;
	snprintf(out->etag, sizeof(out->etag), "%s", o->etag);
	out->meta = (struct fx_meta){ 0 };
}

/* Index of @key, or where it would go (*found false). Store lock held. */
static size_t fx_mem_find(const struct fx_mem_store *s, const char *key, bool *found)
{
	size_t lo = 0, hi = s->n;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s->objs[mid].key, key);

		if (!c) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Store @o (taking what it owns), replacing an object of the same key. Lock held. */
static int fx_mem_insert(struct fx_mem_store *s, struct fx_mem_object *o)
{
	bool found;
	size_t i = fx_mem_find(s, o->key, &found);

	if (found) {
		fx_mem_object_free(&s->objs[i]);
		s->objs[i] = *o;
		return 0;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct fx_mem_object *objs = realloc(s->objs, cap * sizeof(*objs));

		if (!objs)
			return -ENOMEM;
		s->objs = objs;
		s->cap = cap;
	}
	memmove(&s->objs[i + 1], &s->objs[i], (s->n - i) * sizeof(*o));
	s->objs[i] = *o;
	s->n++;
	return 0;
}

static void fx_mem_remove(struct fx_mem_store *s, size_t i)
{
	fx_mem_object_free(&s->objs[i]);
	memmove(&s->objs[i], &s->objs[i + 1], (s->n - i - 1) * sizeof(*s->objs));
	s->n--;
}

/* Fill @o as a new object of @key owning @data; frees @data on failure. */
static int fx_mem_object_init(struct fx_mem_object *o, const char *key, char *data, size_t size,
			      const struct fx_meta *meta)
{
	*o = (struct fx_mem_object){ .data = data, .size = size, .mtime_ns = fx_mem_now() };
	snprintf(o->etag, sizeof(o->etag), "\"%016" PRIx64 "\"",
		 (uint64_t)XXH3_64bits(data, size));
	o->key = strdup(key);
	if (!o->key || fx_meta_copy(&o->meta, meta)) {
		fx_mem_object_free(o);
		return -ENOMEM;
	}
	return 0;
}

static int fx_mem_store_object(struct fx_mem_store *s, struct fx_mem_object *o,
			       struct fx_object_info *out)
{
	int err;

	if (out) {
		fx_mem_info(o, out);
		err = fx_meta_copy(&out->meta, &o->meta);
		if (err)
			goto out_free;
	}
	pthread_mutex_lock(&s->lock);
	err = fx_mem_insert(s, o);
	pthread_mutex_unlock(&s->lock);
	if (!err)
		return 0;
	if (out)
		fx_object_info_clear(out);
out_free:
	fx_mem_object_free(o);
	return err;
}

/* Read exactly @len bytes of @fd at @offset into a new buffer. */
static int fx_mem_read_fd(int fd, uint64_t offset, uint64_t len, char **out)
{
	char *buf = malloc(len ? len : 1);
	uint64_t done = 0;

	if (!buf)
		return -ENOMEM;
	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, (off_t)(offset + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? -errno : -EIO; /* the file is shorter than promised */

			free(buf);
			return err;
		}
		done += (uint64_t)n;
	}
	*out = buf;
	return 0;
}

/* ------------------------------------------------------------- open/close */

static int fx_mem_open(const char *url, const struct fx_config *cfg, void **state,
		       struct fx_diag *d)
{
	const char *name = url + strlen("mem://");
	struct fx_mem_store *s;

	(void)cfg; /* no settings yet */

	if (strncmp(url, "mem://", 6)) {
		fx_diag_set(d, -FX_EBADURL, "use mem://NAME", "not a mem:// URL: '%s'", url);
		return -FX_EBADURL;
	}
	pthread_mutex_lock(&fx_mem_stores_lock);
	for (s = fx_mem_stores; *name && s; s = s->next)
		if (!strcmp(s->name, name))
			goto out_found;
	s = calloc(1, sizeof(*s));
	if (!s || (*name && !(s->name = strdup(name)))) {
		free(s);
		pthread_mutex_unlock(&fx_mem_stores_lock);
		return -ENOMEM;
	}
	pthread_mutex_init(&s->lock, NULL);
	if (*name) {
		s->next = fx_mem_stores;
		fx_mem_stores = s;
	}
out_found:
	pthread_mutex_unlock(&fx_mem_stores_lock);
	*state = s;
	return 0;
}

static void fx_mem_close(void *state)
{
	struct fx_mem_store *s = state;
	size_t i;

	if (s->name) /* named stores outlive their opens */
		return;
	for (i = 0; i < s->n; i++)
		fx_mem_object_free(&s->objs[i]);
	free(s->objs);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static uint32_t fx_mem_caps(void *state)
{
	(void)state;
	return FX_CAP_COPY | FX_CAP_RENAME | FX_CAP_DELETE_BATCH | FX_CAP_MULTIPART |
	       FX_CAP_LIST_META;
}

/* ----------------------------------------------------------------- objects */

static int fx_mem_head(void *state, const char *key, struct fx_object_info *out)
{
	struct fx_mem_store *s = state;
	int err = -ENOENT;
	bool found;
	size_t i;

	pthread_mutex_lock(&s->lock);
	i = fx_mem_find(s, key, &found);
	if (found) {
		fx_mem_info(&s->objs[i], out);
		err = fx_meta_copy(&out->meta, &s->objs[i].meta);
	}
	pthread_mutex_unlock(&s->lock);
	return err;
}

static ssize_t fx_mem_get_if(void *state, const char *key, const char *etag, uint64_t offset,
			     const struct iovec *iov, int iovcnt)
{
	struct fx_mem_store *s = state;
	ssize_t n = -ENOENT;
	bool found;
	size_t i;

	pthread_mutex_lock(&s->lock);
	i = fx_mem_find(s, key, &found);
	if (found && etag && strcmp(etag, s->objs[i].etag)) {
		n = -ESTALE;
	} else if (found) {
		const struct fx_mem_object *o = &s->objs[i];

		n = 0;
		for (int k = 0; k < iovcnt && offset < o->size; k++) {
			size_t len = iov[k].iov_len < o->size - offset ? iov[k].iov_len
								  : o->size - offset;

			memcpy(iov[k].iov_base, o->data + offset, len);
			offset += len;
			n += (ssize_t)len;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

static ssize_t fx_mem_get(void *state, const char *key, uint64_t offset, void *buf, size_t len)
{
	struct iovec iov = {.iov_base = buf, .iov_len = len};

	return fx_mem_get_if(state, key, NULL, offset, &iov, 1);
}

static int fx_mem_put(void *state, const char *key, int fd, uint64_t size,
		      const struct fx_meta *meta, struct fx_object_info *out)
{
	struct fx_mem_object o;
	char *data;
	int err;

	err = fx_mem_read_fd(fd, 0, size, &data);
	if (!err)
		err = fx_mem_object_init(&o, key, data, size, meta);
	return err ? err : fx_mem_store_object(state, &o, out);
}

static int fx_mem_del(void *state, const char *key)
{
	struct fx_mem_store *s = state;
	bool found;
	size_t i;

	pthread_mutex_lock(&s->lock);
	i = fx_mem_find(s, key, &found);
	if (found)
		fx_mem_remove(s, i);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static int fx_mem_del_batch(void *state, const char *const *keys, size_t n, int *results)
{
	size_t i;

	for (i = 0; i < n; i++)
		results[i] = fx_mem_del(state, keys[i]);
	return 0;
}

static int fx_mem_copy(void *state, const char *src, const char *dst, const struct fx_meta *meta)
{
	struct fx_mem_store *s = state;
	struct fx_mem_object o, *from;
	int err = -ENOENT;
	char *data;
	bool found;
	size_t i;

	pthread_mutex_lock(&s->lock);
	i = fx_mem_find(s, src, &found);
	if (!found)
		goto out_unlock;
	from = &s->objs[i];
	if (!strcmp(src, dst)) { /* metadata update in place */
		err = meta ? fx_meta_copy(&from->meta, meta) : 0;
		from->mtime_ns = fx_mem_now();
		goto out_unlock;
	}
	err = -ENOMEM;
	data = malloc(from->size ? from->size : 1);
	if (!data)
		goto out_unlock;
	memcpy(data, from->data, from->size);
	err = fx_mem_object_init(&o, dst, data, from->size, meta ? meta : &from->meta);
	if (!err && (err = fx_mem_insert(s, &o)))
		fx_mem_object_free(&o);
out_unlock:
	pthread_mutex_unlock(&s->lock);
	return err;
}

static int fx_mem_rename(void *state, const char *src, const char *dst)
{
	struct fx_mem_store *s = state;
	struct fx_mem_object o;
	char *key = strdup(dst);
	int err = -ENOENT;
	bool found;
	size_t i;

	if (!key)
		return -ENOMEM;
	pthread_mutex_lock(&s->lock);
	fx_mem_find(s, dst, &found);
	if (found)
		err = -EEXIST;
	i = fx_mem_find(s, src, &found);
	if (found && err != -EEXIST) {
		/* Removing then inserting cannot fail for lack of room. */
		o = s->objs[i];
		memmove(&s->objs[i], &s->objs[i + 1], (s->n - i - 1) * sizeof(o));
		s->n--;
		free(o.key);
		o.key = key;
		key = NULL;
		err = fx_mem_insert(s, &o);
	}
	pthread_mutex_unlock(&s->lock);
	free(key);
	return err;
}

/* ------------------------------------------------------------------ list */

/* A copy of one listing entry, so callbacks run without the store lock. */
struct fx_mem_entry {
	struct fx_list_entry e;
	struct fx_meta meta;
	char etag[24];
};

static void fx_mem_entries_free(struct fx_mem_entry *v, size_t n)
{
	while (n--) {
		free((char *)v[n].e.key);
		fx_meta_clear(&v[n].meta);
	}
	free(v);
}

/* Copy an object @o, or (@o NULL) the common prefix @key of @len bytes, into @v. */
static int fx_mem_entry_init(struct fx_mem_entry *v, const struct fx_mem_object *o,
			     const char *key, size_t len)
{
	*v = (struct fx_mem_entry){ .e = { .key = strndup(key, len), .is_prefix = !o } };
	if (o) {
		v->e.size = o->size;
		v->e.mtime_ns = o->mtime_ns;
		v->e.etag = memcpy(v->etag, o->etag, sizeof(v->etag));
		v->e.meta = &v->meta;
	}
	return !v->e.key || (o && fx_meta_copy(&v->meta, &o->meta)) ? -ENOMEM : 0;
}

/* First index at or after @i whose key does not start with @pfx (length @len). */
static size_t fx_mem_skip(const struct fx_mem_store *s, size_t i, const char *pfx, size_t len)
{
	while (i < s->n && !strncmp(s->objs[i].key, pfx, len))
		i++;
	return i;
}

static int fx_mem_list(void *state, const char *prefix, const char *delimiter, const char *token,
		       size_t max_keys, fx_list_fn fn, void *arg, char **next_token)
{
	struct fx_mem_store *s = state;
	size_t i, n = 0, plen = strlen(prefix), dlen = delimiter ? strlen(delimiter) : 0;
	struct fx_mem_entry *v;
	bool found, more = false;
	int err = 0;

	pthread_mutex_lock(&s->lock);
	v = calloc(max_keys < s->n ? max_keys : s->n + 1, sizeof(*v));
	if (!v) {
		pthread_mutex_unlock(&s->lock);
		return -ENOMEM;
	}
	i = fx_mem_find(s, prefix, &found);
	if (token && strcmp(token, prefix) >= 0) {
		i = fx_mem_find(s, token, &found);
		i += found;
	}
	while (!err && i < s->n && !strncmp(s->objs[i].key, prefix, plen)) {
		const struct fx_mem_object *o = &s->objs[i];
		const char *d = dlen ? strstr(o->key + plen, delimiter) : NULL;
		size_t len = d ? (size_t)(d - o->key) + dlen : 0;

		if (n == max_keys) {
			more = true;
			break;
		}
		if (!d) {
			err = fx_mem_entry_init(&v[n++], o, o->key, strlen(o->key));
			i++;
			continue;
		}
		/* A common prefix at or before the token was on an earlier page. */
		if (!token || strncmp(o->key, token, len) > 0)
			err = fx_mem_entry_init(&v[n++], NULL, o->key, len);
		i = fx_mem_skip(s, i, o->key, len);
	}
	pthread_mutex_unlock(&s->lock);
	for (i = 0; !err && i < n; i++)
		err = fn(arg, &v[i].e);
	if (!err && more && !(*next_token = strdup(v[n - 1].e.key)))
		err = -ENOMEM;
	fx_mem_entries_free(v, n);
	return err;
}

/* ------------------------------------------------------------- multipart */

static int fx_mem_mpu_begin(void *state, const char *key, const struct fx_meta *meta,
			    struct fx_multipart **out)
{
	struct fx_multipart *mp = calloc(1, sizeof(*mp));

	(void)state;
	if (!mp)
		return -ENOMEM;
	mp->key = strdup(key);
	if (!mp->key || fx_meta_copy(&mp->meta, meta)) {
		free(mp->key);
		free(mp);
		return -ENOMEM;
	}
	pthread_mutex_init(&mp->lock, NULL);
	*out = mp;
	return 0;
}

static int fx_mem_mpu_part(void *state, struct fx_multipart *mp, unsigned part_no, int fd,
			   uint64_t offset, uint64_t len)
{
	struct fx_mem_part *parts;
	char *data;
	size_t i;
	int err;

	(void)state;
	err = fx_mem_read_fd(fd, offset, len, &data);
	if (err)
		return err;
	pthread_mutex_lock(&mp->lock);
	for (i = 0; i < mp->n && mp->parts[i].no != part_no; i++)
		;
	if (i == mp->n) { /* a new part; an old number is replaced, as in S3 */
		parts = realloc(mp->parts, (mp->n + 1) * sizeof(*parts));
		if (!parts) {
			pthread_mutex_unlock(&mp->lock);
			free(data);
			return -ENOMEM;
		}
		mp->parts = parts;
		mp->parts[mp->n++] = (struct fx_mem_part){ .no = part_no };
	}
	free(mp->parts[i].data);
	mp->parts[i].data = data;
	mp->parts[i].len = len;
	pthread_mutex_unlock(&mp->lock);
	return 0;
}

static int fx_mem_part_cmp(const void *a, const void *b)
{
	const struct fx_mem_part *x = a, *y = b;

	return (x->no > y->no) - (x->no < y->no);
}

static void fx_mem_mpu_abort(void *state, struct fx_multipart *mp)
{
	size_t i;

	(void)state;
	for (i = 0; i < mp->n; i++)
		free(mp->parts[i].data);
	free(mp->parts);
	free(mp->key);
	fx_meta_clear(&mp->meta);
	pthread_mutex_destroy(&mp->lock);
	free(mp);
}

static int fx_mem_mpu_complete(void *state, struct fx_multipart *mp, struct fx_object_info *out)
{
	struct fx_mem_object o;
	size_t i, size = 0;
	char *data;
	int err;

	if (!mp->n)
		return -EINVAL; /* S3 needs at least one part */
	qsort(mp->parts, mp->n, sizeof(*mp->parts), fx_mem_part_cmp);
	for (i = 0; i < mp->n; i++)
		size += mp->parts[i].len;
	data = malloc(size ? size : 1);
	if (!data)
		return -ENOMEM;
	for (size = 0, i = 0; i < mp->n; size += mp->parts[i++].len)
		memcpy(data + size, mp->parts[i].data, mp->parts[i].len);
	err = fx_mem_object_init(&o, mp->key, data, size, &mp->meta);
	if (!err)
		err = fx_mem_store_object(state, &o, out);
	if (!err)
		fx_mem_mpu_abort(state, mp);
	return err;
}

const struct fx_backend_ops fx_backend_mem_ops = {
	.abi = FX_BACKEND_ABI,
	.size = sizeof(struct fx_backend_ops),
	.name = "mem",
	.scheme = "mem",
	.open = fx_mem_open,
	.close = fx_mem_close,
	.caps = fx_mem_caps,
	.head = fx_mem_head,
	.list = fx_mem_list,
	.get = fx_mem_get,
	.get_if = fx_mem_get_if,
	.put = fx_mem_put,
	.del = fx_mem_del,
	.del_batch = fx_mem_del_batch,
	.copy = fx_mem_copy,
	.rename = fx_mem_rename,
	.mpu_begin = fx_mem_mpu_begin,
	.mpu_part = fx_mem_mpu_part,
	.mpu_complete = fx_mem_mpu_complete,
	.mpu_abort = fx_mem_mpu_abort,
};
