/*
 * test_backends.c - one set of object-store cases run against every backend.
 *
 * Backends: file:// on a fresh directory, mem://, and "minimal": mem:// with
 * every optional method removed, so the same cases go through the wrappers'
 * fallbacks (copy by get + put, rename by copy + delete, delete loops).
 * The "file" suite at the end adds what only a directory can get wrong.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "backends/backend.h"

enum { KIND_FILE, KIND_MEM, KIND_MINIMAL, KIND_COUNT };

#include "backends/backend_i.h"

static struct {
	struct fx_backend *b;
	char top[64];   /* mkdtemp'd; holds root/ and a sentinel outside it */
	char root[96];
} C;

#define BN (C.b ? fx_backend_name(C.b) : "?")

#define EQ(actual, want)                                                                   \
	do {                                                                               \
		long long a_ = (long long)(actual), w_ = (long long)(want);                \
		cr_assert_eq(a_, w_, "[%s] %s: got %lld, want %lld", BN, #actual, a_, w_); \
	} while (0)
#define STREQ(actual, want)                                                               \
	do {                                                                              \
		const char *a_ = (actual), *w_ = (want);                                  \
		cr_assert(a_ && !strcmp(a_, w_), "[%s] %s: got '%s', want '%s'", BN, #actual, \
			  a_ ? a_ : "(null)", w_);                                        \
	} while (0)

/* ------------------------------------------------- the "minimal" backend */

static int minimal_open(const char *url, const struct fx_config *cfg, void **state,
			struct fx_diag *d)
{
	(void)url;
	return fx_backend_mem_ops.open("mem://", cfg, state, d);
}

static uint32_t minimal_caps(void *state)
{
	(void)state;
	return 0;
}

static struct fx_backend_ops minimal_ops;

static void register_minimal(void)
{
	if (minimal_ops.abi)
		return;
	minimal_ops = (struct fx_backend_ops){
		.abi = FX_BACKEND_ABI,
		.size = sizeof(minimal_ops),
		.name = "minimal",
		.scheme = "minimal",
		.open = minimal_open,
		.close = fx_backend_mem_ops.close,
		.caps = minimal_caps,
		.head = fx_backend_mem_ops.head,
		.list = fx_backend_mem_ops.list,
		.get = fx_backend_mem_ops.get,
		.put = fx_backend_mem_ops.put,
		.del = fx_backend_mem_ops.del,
	};
	cr_assert_eq(fx_backend_register(&minimal_ops), 0);
}

/* ---------------------------------------------------------------- fixture */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void conf_open(int kind)
{
	struct fx_diag d = { 0 };
	char url[128];

	memset(&C, 0, sizeof(C));
	if (kind == KIND_FILE) {
		strcpy(C.top, "/tmp/rustfx-conf-XXXXXX");
		cr_assert(mkdtemp(C.top));
		snprintf(C.root, sizeof(C.root), "%s/root", C.top);
		cr_assert_eq(mkdir(C.root, 0755), 0);
		snprintf(url, sizeof(url), "file://%s", C.root);
	} else if (kind == KIND_MEM) {
		strcpy(url, "mem://");
	} else {
		register_minimal();
		strcpy(url, "minimal://");
	}
	cr_assert_eq(fx_backend_open(url, &C.b, &d), 0, "open %s: %s (%s)", url, d.msg, d.hint);
}

static void conf_close(void)
{
	fx_backend_close(C.b);
	C.b = NULL;
	if (C.top[0])
		nftw(C.top, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#define CONF_TEST(name)                                                            \
	ParameterizedTestParameters(conf, name)                                    \
	{                                                                          \
		static int kinds[] = { KIND_FILE, KIND_MEM, KIND_MINIMAL };        \
		return cr_make_param_array(int, kinds, KIND_COUNT);                \
	}                                                                          \
	ParameterizedTest(int *kind, conf, name, .fini = conf_close)

/* ---------------------------------------------------------------- helpers */

static int fd_of(const char *data)
{
	int fd = memfd_create("object", MFD_CLOEXEC);

	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	return fd;
}

static int put_meta(const char *key, const char *data, const struct fx_meta *meta)
{
	int fd = fd_of(data), err;

	err = fx_backend_put(C.b, key, fd, strlen(data), meta, NULL);
	close(fd);
	return err;
}

static int put(const char *key, const char *data)
{
	return put_meta(key, data, NULL);
}

/* The whole object as a string (static buffer), or NULL if absent. */
static const char *get_all(const char *key)
{
	static char buf[4096];
	ssize_t n = fx_backend_get(C.b, key, 0, buf, sizeof(buf) - 1);

	if (n == -ENOENT)
		return NULL;
	cr_assert(n >= 0, "[%s] get %s: %zd", BN, key, n);
	buf[n] = '\0';
	return buf;
}

static bool exists(const char *key)
{
	struct fx_object_info info = { 0 };
	int err = fx_backend_head(C.b, key, &info);

	fx_object_info_clear(&info);
	cr_assert(err == 0 || err == -ENOENT, "[%s] head %s: %d", BN, key, err);
	return !err;
}

static void meta_of(struct fx_meta *m, const char *const *pairs)
{
	*m = (struct fx_meta){ 0 };
	for (; pairs && pairs[0]; pairs += 2)
		cr_assert_eq(fx_meta_set(m, pairs[0], pairs[1]), 0);
}

/* "name=value,..." of an object's metadata (static buffer). */
static const char *meta_str(const struct fx_meta *m)
{
	static char buf[1024];
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < m->n; i++)
		used += snprintf(buf + used, sizeof(buf) - used, "%s%s=%s", i ? "," : "",
				 m->kv[i].name, m->kv[i].value);
	return buf;
}

static const char *head_meta(const char *key)
{
	struct fx_object_info info = { 0 };
	const char *s;

	EQ(fx_backend_head(C.b, key, &info), 0);
	s = meta_str(&info.meta);
	fx_object_info_clear(&info);
	return s;
}

struct listing {
	char out[8192];
	char last[FX_KEY_MAX + 1];
	size_t n;
	bool out_of_order, meta_missing;
};

static int collect(void *arg, const struct fx_list_entry *e)
{
	struct listing *l = arg;
	size_t used = strlen(l->out);

	if (l->n && strcmp(e->key, l->last) <= 0)
		l->out_of_order = true;
	if (!e->is_prefix && (fx_backend_caps(C.b) & FX_CAP_LIST_META) && !e->meta)
		l->meta_missing = true;
	snprintf(l->last, sizeof(l->last), "%s", e->key);
	snprintf(l->out + used, sizeof(l->out) - used, "%s%s%s", l->n ? " " : "",
		 e->is_prefix ? "+" : "", e->key);
	l->n++;
	return 0;
}

/* Every entry under @prefix, pages of @max_keys; common prefixes marked '+'. */
static const char *ls_pages(const char *prefix, const char *delim, size_t max_keys)
{
	static struct listing l;
	char *token = NULL, *next = NULL;
	size_t before;

	memset(&l, 0, sizeof(l));
	do {
		before = l.n;
		EQ(fx_backend_list(C.b, prefix, delim, token, max_keys, collect, &l, &next), 0);
		cr_assert(l.n - before <= max_keys, "[%s] page of %zu > %zu", BN, l.n - before,
			  max_keys);
		cr_assert(!next || l.n > before, "[%s] empty page with a token", BN);
		cr_assert(!next || !token || strcmp(next, token) > 0, "[%s] token did not advance",
			  BN);
		free(token);
		token = next;
	} while (token);
	cr_assert(!l.out_of_order, "[%s] list '%s' not in byte order: %s", BN, prefix, l.out);
	cr_assert(!l.meta_missing, "[%s] list entries lack metadata", BN);
	return l.out;
}

static const char *ls(const char *prefix, const char *delim)
{
	return ls_pages(prefix, delim, 1000);
}

/* A tree with explicit markers, so file:// and S3-like stores agree. */
static void make_tree(void)
{
	static const char *const keys[] = { "a-b", "a/", "a/x", "a/y/", "a/y/z", "a0", "b" };
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		EQ(put(keys[i], keys[i][strlen(keys[i]) - 1] == '/' ? "" : keys[i]), 0);
}

/* ------------------------------------------------------------------ cases */

CONF_TEST(put_head_get)
{
	struct fx_object_info put_info = { 0 }, info = { 0 };
	char buf[32];
	int fd;

	conf_open(*kind);
	fd = fd_of("hello world");
	EQ(fx_backend_put(C.b, "obj", fd, 11, NULL, &put_info), 0);
	close(fd);
	EQ(fx_backend_head(C.b, "obj", &info), 0);
	EQ(info.size, 11);
	EQ(put_info.size, 11);
	cr_assert(info.etag[0] == '"' && strlen(info.etag) > 2, "[%s] etag %s", BN, info.etag);
	STREQ(put_info.etag, info.etag);
	cr_assert(info.mtime_ns > 0);
	EQ(info.meta.n, 0);

	EQ(fx_backend_get(C.b, "obj", 0, buf, 5), 5);
	cr_assert(!memcmp(buf, "hello", 5));
	EQ(fx_backend_get(C.b, "obj", 6, buf, sizeof(buf)), 5); /* short read at the end */
	cr_assert(!memcmp(buf, "world", 5));
	EQ(fx_backend_get(C.b, "obj", 11, buf, sizeof(buf)), 0);
	EQ(fx_backend_get(C.b, "obj", 1000, buf, sizeof(buf)), 0);
	EQ(fx_backend_get(C.b, "obj", 3, buf, 0), 0);

	EQ(fx_backend_head(C.b, "absent", &info), -ENOENT);
	EQ(fx_backend_get(C.b, "absent", 0, buf, 1), -ENOENT);
	EQ(fx_backend_head(C.b, "ob", &info), -ENOENT);
	fx_object_info_clear(&put_info);
	fx_object_info_clear(&info);
}

/* Blocks cached from one version must never mix with another's bytes. */
CONF_TEST(get_version)
{
	struct fx_object_info v1 = { 0 }, v2 = { 0 };
	char buf[32];

	conf_open(*kind);
	EQ(put("obj", "version one"), 0);
	EQ(fx_backend_head(C.b, "obj", &v1), 0);
	EQ(fx_backend_get_version(C.b, "obj", v1.etag, 8, buf, sizeof(buf)), 3);
	cr_assert(!memcmp(buf, "one", 3));
	EQ(put("obj", "version two!"), 0);
	EQ(fx_backend_head(C.b, "obj", &v2), 0);
	cr_assert(strcmp(v1.etag, v2.etag), "[%s] a new version kept etag %s", BN, v1.etag);
	if (*kind == KIND_MINIMAL) /* no get_if: reads what is current */
		EQ(fx_backend_get_version(C.b, "obj", v1.etag, 8, buf, sizeof(buf)), 4);
	else
		EQ(fx_backend_get_version(C.b, "obj", v1.etag, 8, buf, sizeof(buf)), -ESTALE);
	EQ(fx_backend_get_version(C.b, "obj", v2.etag, 8, buf, sizeof(buf)), 4);
	cr_assert(!memcmp(buf, "two!", 4));
	EQ(fx_backend_get_version(C.b, "obj", "", 0, buf, 7), 7);
	EQ(fx_backend_get_version(C.b, "gone", v2.etag, 0, buf, 7), -ENOENT);
	fx_object_info_clear(&v1);
	fx_object_info_clear(&v2);
}

/* A read scattered across buffers (a run of cached blocks): the bytes in
 * order, an empty buffer skipped, short at the end of the object. */
CONF_TEST(get_scattered)
{
	struct fx_object_info v = { 0 };
	char a[3], b[1], c[5], d[8];
	struct iovec iov[] = { { a, sizeof(a) }, { b, 0 }, { c, sizeof(c) }, { d, sizeof(d) } };

	conf_open(*kind);
	EQ(put("obj", "0123456789abcdef"), 0);
	EQ(fx_backend_head(C.b, "obj", &v), 0);
	EQ(fx_backend_getv_version(C.b, "obj", v.etag, 2, iov, 3), 8);
	cr_assert(!memcmp(a, "234", 3) && !memcmp(c, "56789", 5), "[%s] %.3s|%.5s", BN, a, c);
	memset(d, 0, sizeof(d));
	EQ(fx_backend_getv_version(C.b, "obj", v.etag, 4, iov, 4), 12); /* 16 asked */
	cr_assert(!memcmp(a, "456", 3) && !memcmp(c, "789ab", 5) && !memcmp(d, "cdef", 4),
		  "[%s] %.3s|%.5s|%.4s", BN, a, c, d);
	EQ(fx_backend_getv_version(C.b, "obj", "", 16, iov, 4), 0);
	EQ(fx_backend_getv_version(C.b, "gone", "", 0, iov, 4), -ENOENT);
	fx_object_info_clear(&v);
}

CONF_TEST(empty_object)
{
	char buf[4];

	conf_open(*kind);
	EQ(put("empty", ""), 0);
	EQ(fx_backend_get(C.b, "empty", 0, buf, sizeof(buf)), 0);
	cr_assert(exists("empty"));
}

CONF_TEST(metadata_round_trip)
{
	static const char *const pairs[] = { "mode", "0100644", "uid", "1000", "mtime",
					     "1700000000.123", "x-note", "a b=c", NULL };
	struct fx_meta m;

	conf_open(*kind);
	meta_of(&m, pairs);
	EQ(put_meta("m", "data", &m), 0);
	STREQ(head_meta("m"), "mode=0100644,mtime=1700000000.123,uid=1000,x-note=a b=c");
	/* A put sets exactly the metadata given: none here. */
	EQ(put("m", "data2"), 0);
	STREQ(head_meta("m"), "");
	fx_meta_clear(&m);
}

CONF_TEST(overwrite)
{
	struct fx_object_info a = { 0 }, b = { 0 };

	conf_open(*kind);
	EQ(put("k", "first version"), 0);
	EQ(fx_backend_head(C.b, "k", &a), 0);
	EQ(put("k", "second"), 0);
	EQ(fx_backend_head(C.b, "k", &b), 0);
	EQ(b.size, 6);
	STREQ(get_all("k"), "second");
	cr_assert(strcmp(a.etag, b.etag), "[%s] etag did not change", BN);
	fx_object_info_clear(&a);
	fx_object_info_clear(&b);
}

CONF_TEST(delete)
{
	conf_open(*kind);
	EQ(put("d/x", "1"), 0);
	EQ(put("d/y", "2"), 0);
	EQ(fx_backend_delete(C.b, "d/x"), 0);
	cr_assert(!exists("d/x"));
	cr_assert(exists("d/y"));
	EQ(fx_backend_delete(C.b, "d/x"), 0); /* absent: fine, as S3 */
	EQ(fx_backend_delete(C.b, "never/was"), 0);
	EQ(fx_backend_delete(C.b, "d"), 0); /* names no object */
	cr_assert(exists("d/y"));
}

CONF_TEST(delete_batch)
{
	const char *keys[] = { "x1", "x2", "gone" };
	const char *bad[] = { "x3", "../x" };
	int results[3] = { 1, 1, 1 };

	conf_open(*kind);
	EQ(put("x1", "1"), 0);
	EQ(put("x2", "2"), 0);
	EQ(put("x3", "3"), 0);
	EQ(fx_backend_delete_batch(C.b, keys, 3, results), 0);
	EQ(results[0], 0);
	EQ(results[1], 0);
	EQ(results[2], 0);
	cr_assert(!exists("x1") && !exists("x2"));
	/* One unsafe key refuses the whole batch. */
	EQ(fx_backend_delete_batch(C.b, bad, 2, results), -EINVAL);
	EQ(results[1], -EINVAL);
	cr_assert(exists("x3"));
}

CONF_TEST(list_delimiter)
{
	conf_open(*kind);
	make_tree();
	STREQ(ls("", "/"), "a-b +a/ a0 b");
	STREQ(ls("a/", "/"), "a/ a/x +a/y/");
	STREQ(ls("a/y/", "/"), "a/y/ a/y/z");
	STREQ(ls("a", "/"), "a-b +a/ a0");
	STREQ(ls("a/x", "/"), "a/x");
	STREQ(ls("a/y", "/"), "+a/y/");
	STREQ(ls("zz", "/"), "");
	STREQ(ls("nope/", "/"), "");
	STREQ(ls("a/x/", "/"), "");
}

CONF_TEST(list_recursive)
{
	conf_open(*kind);
	make_tree();
	STREQ(ls("", NULL), "a-b a/ a/x a/y/ a/y/z a0 b");
	STREQ(ls("", ""), "a-b a/ a/x a/y/ a/y/z a0 b");
	STREQ(ls("a/", NULL), "a/ a/x a/y/ a/y/z");
	STREQ(ls("a/y", NULL), "a/y/ a/y/z");
	STREQ(ls("a", NULL), "a-b a/ a/x a/y/ a/y/z a0");
	STREQ(ls("b", NULL), "b");
}

CONF_TEST(list_pagination)
{
	static const char *const prefixes[] = { "", "a", "a/", "a/y" };
	char want[8192];
	size_t p, d, max;

	conf_open(*kind);
	make_tree();
	EQ(put("a/y/w", "w"), 0);
	EQ(put("a/y0", "y0"), 0);
	EQ(put("c/d/e/f", "f"), 0);
	EQ(put("c/", ""), 0);
	EQ(put("c/d/", ""), 0);
	EQ(put("c/d/e/", ""), 0);
	for (p = 0; p < sizeof(prefixes) / sizeof(prefixes[0]); p++) {
		for (d = 0; d < 2; d++) {
			const char *delim = d ? "/" : NULL;

			snprintf(want, sizeof(want), "%s", ls(prefixes[p], delim));
			cr_assert(want[0], "[%s] empty listing of '%s'", BN, prefixes[p]);
			for (max = 1; max <= 3; max++)
				cr_assert_str_eq(ls_pages(prefixes[p], delim, max), want,
						 "[%s] prefix '%s' delim %s max_keys %zu", BN,
						 prefixes[p], delim ? "/" : "none", max);
		}
	}
}

struct stop_state {
	int seen;
};

static int stop_after_two(void *arg, const struct fx_list_entry *e)
{
	struct stop_state *s = arg;

	(void)e;
	return ++s->seen == 2 ? 42 : 0;
}

CONF_TEST(list_callback_stops)
{
	struct stop_state s = { 0 };
	char *next = NULL;

	conf_open(*kind);
	make_tree();
	EQ(fx_backend_list(C.b, "", NULL, NULL, 100, stop_after_two, &s, &next), 42);
	EQ(s.seen, 2);
	cr_assert_null(next);
	s.seen = 0;
	EQ(fx_backend_list_all(C.b, "", "/", stop_after_two, &s), 42);
}

static int check_entry(void *arg, const struct fx_list_entry *e)
{
	struct fx_object_info info = { 0 };

	(void)arg;
	if (e->is_prefix)
		return 0;
	EQ(fx_backend_head(C.b, e->key, &info), 0); /* may call back in */
	EQ(e->size, info.size);
	STREQ(e->etag, info.etag);
	EQ(e->mtime_ns, info.mtime_ns);
	if (e->meta)
		STREQ(meta_str(e->meta), meta_str(&info.meta));
	fx_object_info_clear(&info);
	return 0;
}

CONF_TEST(list_entries_match_head)
{
	static const char *const pairs[] = { "mode", "0100600", NULL };
	struct fx_meta m;

	conf_open(*kind);
	meta_of(&m, pairs);
	EQ(put_meta("f", "12345", &m), 0);
	EQ(put_meta("dir/", "", &m), 0);
	EQ(put("dir/g", "1"), 0);
	EQ(fx_backend_list_all(C.b, "", NULL, check_entry, NULL), 0);
	fx_meta_clear(&m);
}

CONF_TEST(markers)
{
	static const char *const pairs[] = { "mode", "040755", NULL };
	struct fx_object_info info = { 0 };
	struct fx_meta m;
	int fd;

	conf_open(*kind);
	meta_of(&m, pairs);
	EQ(put_meta("d/", "", &m), 0);
	EQ(fx_backend_head(C.b, "d/", &info), 0);
	EQ(info.size, 0);
	STREQ(meta_str(&info.meta), "mode=040755");
	EQ(fx_backend_head(C.b, "d", &info), -ENOENT); /* a marker is not "d" */
	STREQ(get_all("d/"), "");
	STREQ(ls("", "/"), "+d/");
	STREQ(ls("d/", "/"), "d/");
	STREQ(ls("", NULL), "d/");
	EQ(put("e/", ""), 0); /* an empty marker is still a prefix */
	STREQ(ls("", "/"), "+d/ +e/");
	fd = fd_of("x");
	EQ(fx_backend_put(C.b, "f/", fd, 1, NULL, NULL), -EINVAL); /* markers are empty */
	close(fd);
	EQ(fx_backend_delete(C.b, "d/"), 0);
	cr_assert(!exists("d/"));
	STREQ(ls("", "/"), "+e/");
	fx_object_info_clear(&info);
	fx_meta_clear(&m);
}

CONF_TEST(copy)
{
	static const char *const p1[] = { "mode", "0100644", "uid", "7", NULL };
	static const char *const p2[] = { "mode", "0100600", NULL };
	static const char *const p3[] = { "gid", "5", NULL };
	struct fx_meta m1, m2, m3;

	conf_open(*kind);
	meta_of(&m1, p1);
	meta_of(&m2, p2);
	meta_of(&m3, p3);
	EQ(put_meta("src", "payload", &m1), 0);
	EQ(fx_backend_copy(C.b, "src", "dst", NULL), 0);
	STREQ(get_all("dst"), "payload");
	STREQ(head_meta("dst"), "mode=0100644,uid=7");
	EQ(fx_backend_copy(C.b, "src", "sub/dst2", &m2), 0); /* metadata REPLACE */
	STREQ(get_all("sub/dst2"), "payload");
	STREQ(head_meta("sub/dst2"), "mode=0100600");
	STREQ(head_meta("src"), "mode=0100644,uid=7");
	EQ(fx_backend_copy(C.b, "src", "src", &m3), 0); /* in place: metadata only */
	STREQ(head_meta("src"), "gid=5");
	STREQ(get_all("src"), "payload");
	EQ(fx_backend_copy(C.b, "src", "dst", &m3), 0); /* over an existing object */
	STREQ(head_meta("dst"), "gid=5");
	EQ(fx_backend_copy(C.b, "absent", "x", NULL), -ENOENT);
	cr_assert(!exists("x"));
	EQ(fx_backend_copy(C.b, "src", "x/", NULL), -EINVAL); /* object onto a marker */
	EQ(put_meta("m/", "", &m2), 0);
	EQ(fx_backend_copy(C.b, "m/", "n/", NULL), 0);
	STREQ(head_meta("n/"), "mode=0100600");
	fx_meta_clear(&m1);
	fx_meta_clear(&m2);
	fx_meta_clear(&m3);
}

CONF_TEST(rename)
{
	static const char *const pairs[] = { "mode", "0100640", NULL };
	struct fx_meta m;

	conf_open(*kind);
	meta_of(&m, pairs);
	EQ(put_meta("r1", "one", &m), 0);
	EQ(fx_backend_rename(C.b, "r1", "r2"), 0);
	cr_assert(!exists("r1"));
	STREQ(get_all("r2"), "one");
	STREQ(head_meta("r2"), "mode=0100640");
	EQ(put("r3", "three"), 0);
	EQ(fx_backend_rename(C.b, "r2", "r3"), -EEXIST);
	STREQ(get_all("r2"), "one");
	STREQ(get_all("r3"), "three");
	EQ(fx_backend_rename(C.b, "r3", "r3"), -EEXIST);
	EQ(fx_backend_rename(C.b, "absent", "r9"), -ENOENT);
	EQ(fx_backend_rename(C.b, "r2", "deep/er/r4"), 0);
	STREQ(get_all("deep/er/r4"), "one");
	EQ(fx_backend_rename(C.b, "r3", "r3/"), -EINVAL);
	/* One marker, as one object. */
	EQ(put("m1/", ""), 0);
	EQ(fx_backend_rename(C.b, "m1/", "m2/"), 0);
	cr_assert(exists("m2/") && !exists("m1/"));
	fx_meta_clear(&m);
}

/* rename(2) over a file: the target is replaced, never absent, with the
 * source's bytes and metadata; directories are never replaced. */
CONF_TEST(replace)
{
	static const char *const pairs[] = { "mode", "0100600", NULL };
	struct fx_meta m;

	conf_open(*kind);
	meta_of(&m, pairs);
	EQ(put_meta("tmp", "new bytes", &m), 0);
	EQ(put("target", "old"), 0);
	EQ(fx_backend_replace(C.b, "tmp", "target"), 0);
	cr_assert(!exists("tmp"));
	STREQ(get_all("target"), "new bytes");
	STREQ(head_meta("target"), "mode=0100600");
	EQ(fx_backend_replace(C.b, "absent", "target"), -ENOENT);
	STREQ(get_all("target"), "new bytes");
	EQ(fx_backend_replace(C.b, "target", "target"), -EINVAL);
	EQ(fx_backend_replace(C.b, "target", "dir/"), -EINVAL);
	EQ(fx_backend_replace(C.b, "../x", "target"), -EINVAL);
	fx_meta_clear(&m);
}

CONF_TEST(rename_prefix)
{
	conf_open(*kind);
	EQ(put("p/a", "a"), 0);
	EQ(put("p/", ""), 0);
	EQ(put("p/b/c", "c"), 0);
	EQ(put("p/b/", ""), 0);
	EQ(fx_backend_rename_prefix(C.b, "p/", "p/inside/"), -EINVAL);
	EQ(fx_backend_rename_prefix(C.b, "p", "q"), -EINVAL);
	if (!(fx_backend_caps(C.b) & FX_CAP_RENAME_PREFIX)) {
		EQ(fx_backend_rename_prefix(C.b, "p/", "q/"), -ENOTSUP);
		cr_assert(exists("p/a"));
		return;
	}
	EQ(put("taken/", ""), 0);
	EQ(fx_backend_rename_prefix(C.b, "p/", "taken/"), -EEXIST);
	EQ(fx_backend_rename_prefix(C.b, "p/", "q/"), 0);
	STREQ(ls("", NULL), "q/ q/a q/b/ q/b/c taken/");
	STREQ(get_all("q/b/c"), "c");
}

CONF_TEST(hostile_keys)
{
	static const char *const bad[] = { "../sentinel", "a/../../sentinel", "/etc/passwd", "",
					   ".", "..", "a//b", "./x", "a/./b", "x/.." };
	struct fx_object_info info = { 0 };
	char path[160], buf[16];
	size_t i;
	int fd, s;

	conf_open(*kind);
	if (C.top[0]) {
		snprintf(path, sizeof(path), "%s/sentinel", C.top);
		s = open(path, O_CREAT | O_WRONLY, 0644);
		cr_assert(s >= 0 && write(s, "keep", 4) == 4);
		close(s);
	}
	EQ(put("ok", "fine"), 0);
	fd = fd_of("evil");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int want = -EINVAL;

		cr_assert_eq(fx_backend_put(C.b, bad[i], fd, 4, NULL, NULL), want, "put '%s'", bad[i]);
		cr_assert_eq(fx_backend_head(C.b, bad[i], &info), want, "head '%s'", bad[i]);
		cr_assert_eq(fx_backend_get(C.b, bad[i], 0, buf, 4), want, "get '%s'", bad[i]);
		cr_assert_eq(fx_backend_delete(C.b, bad[i]), want, "delete '%s'", bad[i]);
		cr_assert_eq(fx_backend_copy(C.b, "ok", bad[i], NULL), want, "copy to '%s'", bad[i]);
		cr_assert_eq(fx_backend_copy(C.b, bad[i], "ok2", NULL), want, "copy '%s'", bad[i]);
		cr_assert_eq(fx_backend_rename(C.b, "ok", bad[i]), want, "rename to '%s'", bad[i]);
	}
	close(fd);
	EQ(fx_backend_list(C.b, "../", NULL, NULL, 10, collect, NULL, NULL), -EINVAL);
	EQ(fx_backend_list(C.b, "/abs", NULL, NULL, 10, collect, NULL, NULL), -EINVAL);
	EQ(fx_backend_list(C.b, "a//", NULL, NULL, 10, collect, NULL, NULL), -EINVAL);
	EQ(fx_backend_list(C.b, "", "|", NULL, 10, collect, NULL, NULL), -EINVAL);
	STREQ(ls("", NULL), "ok");
	STREQ(get_all("ok"), "fine");
	if (C.top[0]) {
		s = open(path, O_RDONLY);
		cr_assert(s >= 0 && read(s, buf, sizeof(buf)) == 4 && !memcmp(buf, "keep", 4),
			  "the sentinel outside the root changed");
		close(s);
	}
}

CONF_TEST(long_keys)
{
	char key[FX_KEY_MAX + 2];

	conf_open(*kind);
	memset(key, 'n', FX_NAME_MAX);
	key[FX_NAME_MAX] = '\0';
	EQ(put(key, "x"), 0);
	STREQ(get_all(key), "x");
	key[FX_NAME_MAX] = 'n';
	key[FX_NAME_MAX + 1] = '\0';
	EQ(put(key, "x"), -ENAMETOOLONG);
}

CONF_TEST(unusual_names)
{
	static const char *const keys[] = { "with space/file+plus%25.txt", "\xc3\xbcml\xc3\xa4ut/\xe2\x82\xac",
					    "tab\there", "-dash", "#hash&amp;?q=1" };
	size_t i;

	conf_open(*kind);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		EQ(put(keys[i], keys[i]), 0);
		STREQ(get_all(keys[i]), keys[i]);
	}
	/* (file:// has the implicit markers "with space/" and "\xc3\xbcml\xc3\xa4ut/") */
	STREQ(ls("with", "/"), "+with space/");
	STREQ(ls("with space/f", "/"), "with space/file+plus%25.txt");
	STREQ(ls("\xc3\xbcml\xc3\xa4ut/\xe2", NULL), "\xc3\xbcml\xc3\xa4ut/\xe2\x82\xac");
}

CONF_TEST(statfs)
{
	struct statvfs sv;

	conf_open(*kind);
	EQ(fx_backend_statfs(C.b, &sv), 0);
	cr_assert(sv.f_bsize > 0 && sv.f_blocks > 0 && sv.f_namemax >= FX_NAME_MAX);
}

CONF_TEST(counters)
{
	char buf[4];

	conf_open(*kind);
	EQ(put("c", "x"), 0);
	EQ(fx_backend_get(C.b, "c", 0, buf, 1), 1);
	EQ(fx_backend_get(C.b, "..", 0, buf, 1), -EINVAL);
	EQ(fx_backend_calls(C.b, FX_OP_PUT), 1);
	EQ(fx_backend_calls(C.b, FX_OP_GET), 2);
	fx_backend_inject_fault(C.b, FX_OP_GET, -EIO, 1);
	EQ(fx_backend_get(C.b, "c", 0, buf, 1), -EIO);
	EQ(fx_backend_get(C.b, "c", 0, buf, 1), 1);
}

static int count_entries(void *arg, const struct fx_list_entry *e)
{
	(void)e;
	++*(int *)arg;
	return 0;
}

/* Workers share one backend; failures are counted, asserted by the test. */
static void *worker(void *arg)
{
	long id = (long)arg, failures = 0;
	char key[64], buf[64];
	int i, n;

	for (i = 0; i < 40; i++) {
		snprintf(key, sizeof(key), "t%ld/dir%d/obj", id, i % 4);
		snprintf(buf, sizeof(buf), "%ld-%d", id, i);
		failures += put(key, buf) != 0;
		failures += fx_backend_get(C.b, key, 0, buf, sizeof(buf)) <= 0;
		n = 0;
		failures += fx_backend_list_all(C.b, "t", "/", count_entries, &n) != 0;
	}
	return (void *)failures;
}

CONF_TEST(concurrent_use)
{
	pthread_t t[4];
	void *failures;
	long i;
	int n = 0;

	conf_open(*kind);
	for (i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, worker, (void *)i), 0);
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], &failures);
		EQ((long)failures, 0);
	}
	EQ(fx_backend_list_all(C.b, "", NULL, count_entries, &n), 0);
	/* 16 objects; file:// adds markers t0/ .. t3/ and 16 dirN/ */
	EQ(n, C.top[0] ? 16 + 4 + 16 : 16);
}

/* ------------------------------------------------- file:// only */

static void file_open(void)
{
	conf_open(KIND_FILE);
}

static void plant(const char *rel, const char *data)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", C.root, rel);
	fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	cr_assert(fd >= 0, "plant %s", path);
	cr_assert_eq(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
}

static const char *root_path(const char *rel)
{
	static char path[256];

	snprintf(path, sizeof(path), "%s/%s", C.root, rel);
	return path;
}

Test(file, hidden_entries, .init = file_open, .fini = conf_close)
{
	struct fx_object_info info = { 0 };
	char out[128], buf[8];
	struct stat st;

	EQ(put("d/real", "r"), 0);
	plant("d/.rustfx-tmp-abc123", "half");
	plant("d/.rustfx-tmp-stale1", "crashed");
	{
		struct timespec old[2] = { { .tv_sec = 1000000000 }, { .tv_sec = 1000000000 } };

		cr_assert_eq(utimensat(AT_FDCWD, root_path("d/.rustfx-tmp-stale1"), old, 0), 0);
	}
	snprintf(out, sizeof(out), "%s/outside", C.top);
	cr_assert_eq(mkdir(out, 0755), 0);
	cr_assert_eq(symlink(out, root_path("d/link-dir")), 0);
	cr_assert_eq(symlink("/etc/passwd", root_path("d/link-file")), 0);
	cr_assert_eq(mkfifo(root_path("d/fifo"), 0644), 0);
	STREQ(ls("", NULL), "d/ d/real");
	STREQ(ls("d/", "/"), "d/ d/real");
	EQ(fx_backend_head(C.b, "d/link-file", &info), -ENOENT);
	EQ(fx_backend_get(C.b, "d/link-file", 0, buf, sizeof(buf)), -ENOENT);
	EQ(fx_backend_head(C.b, "d/fifo", &info), -ENOENT); /* and does not block */
	EQ(fx_backend_head(C.b, "d/link-dir/", &info), -ENOENT);
	EQ(fx_backend_head(C.b, "d/.rustfx-tmp-abc123", &info), -EINVAL); /* reserved */
	EQ(put("d/.rustfx-tmp-x", "no"), -EINVAL);
	/* Writes through a symlinked directory never land outside the root. */
	cr_assert_neq(put("d/link-dir/x", "escape"), 0);
	cr_assert_neq(put("d/link-dir/", ""), 0);
	snprintf(out, sizeof(out), "%s/outside/x", C.top);
	cr_assert(access(out, F_OK) != 0, "a put escaped through a symlink");
	EQ(fx_backend_delete(C.b, "d/link-file"), 0);
	cr_assert(lstat(root_path("d/link-file"), &st) == 0, "not an object: left alone");
	STREQ(ls("", NULL), "d/ d/real");
}

Test(file, type_clashes, .init = file_open, .fini = conf_close)
{
	EQ(put("a", "file"), 0);
	EQ(put("a/b", "x"), -ENOTDIR);
	EQ(put("a/", ""), -ENOTDIR);
	EQ(put("dir/f", "x"), 0);
	EQ(put("dir", "x"), -EISDIR);
	EQ(fx_backend_delete(C.b, "dir/"), -ENOTEMPTY);
	EQ(fx_backend_delete(C.b, "dir/f"), 0);
	/* The now-empty directory stays: it is a marker. */
	cr_assert(exists("dir/"));
	STREQ(ls("", "/"), "a +dir/");
	EQ(fx_backend_delete(C.b, "dir/"), 0);
	STREQ(ls("", NULL), "a");
}

Test(file, layout_on_disk, .init = file_open, .fini = conf_close)
{
	static const char *const pairs[] = { "mode", "0100644", NULL };
	struct fx_meta m;
	char value[32];
	ssize_t n;
	struct stat st;

	meta_of(&m, pairs);
	EQ(put_meta("x/y/z", "content", &m), 0);
	cr_assert_eq(stat(root_path("x/y/z"), &st), 0);
	cr_assert(S_ISREG(st.st_mode) && st.st_size == 7);
	n = getxattr(root_path("x/y/z"), "user.rustfx.mode", value, sizeof(value));
	cr_assert(n == 7 && !memcmp(value, "0100644", 7));
	cr_assert_eq(stat(root_path("x/y"), &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	/* Plain files dropped in by hand are objects too. */
	plant("hand", "made");
	STREQ(get_all("hand"), "made");
	STREQ(head_meta("hand"), "");
	fx_meta_clear(&m);
}

Test(file, open_errors)
{
	struct fx_backend *b = NULL;
	struct fx_diag d = { 0 };
	char url[128];

	EQ(fx_backend_open("file://relative/dir", &b, &d), -FX_EBADURL);
	cr_assert(strstr(d.hint, "absolute"), "hint: %s", d.hint);
	memset(&d, 0, sizeof(d));
	EQ(fx_backend_open("file:///nonexistent/rustfx/root", &b, &d), -ENOENT);
	cr_assert(strstr(d.hint, "mkdir -p /nonexistent/rustfx/root"), "hint: %s", d.hint);
	cr_assert(strstr(d.msg, "/nonexistent/rustfx/root"), "msg: %s", d.msg);
	memset(&d, 0, sizeof(d));
	snprintf(url, sizeof(url), "file://%s", "/etc/passwd");
	EQ(fx_backend_open(url, &b, &d), -ENOTDIR);
	cr_assert(strstr(d.msg, "not a directory"), "msg: %s", d.msg);
	cr_assert_null(b);
	memset(&d, 0, sizeof(d));
	EQ(fx_backend_open("file:///tmp/", &b, &d), 0);
	STREQ(fx_backend_url(b), "file:///tmp/");
	EQ(fx_backend_caps(b) & FX_CAP_RENAME_PREFIX, FX_CAP_RENAME_PREFIX);
	fx_backend_close(b);
}
