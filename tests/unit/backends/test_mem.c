/*
 * test_mem.c - mem:// specifics and the wrappers around any backend:
 * multipart uploads, shared named stores, batch delete, fault injection,
 * call counters, the registry and URL diagnostics, metadata sets.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include "backends/backend.h"



static struct fx_backend *open_url(const char *url)
{
	struct fx_backend *b = NULL;
	struct fx_diag d = { 0 };

	cr_assert_eq(fx_backend_open(url, &b, &d), 0, "open %s: %s", url, d.msg);
	return b;
}

static int fd_of(const char *data)
{
	int fd = memfd_create("object", MFD_CLOEXEC);

	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	return fd;
}

static int put(struct fx_backend *b, const char *key, const char *data)
{
	int fd = fd_of(data), err = fx_backend_put(b, key, fd, strlen(data), NULL, NULL);

	close(fd);
	return err;
}

static const char *get_all(struct fx_backend *b, const char *key)
{
	static char buf[256];
	ssize_t n = fx_backend_get(b, key, 0, buf, sizeof(buf) - 1);

	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return buf;
}

/* ------------------------------------------------------------- multipart */

Test(mem, multipart_assembles_in_part_order)
{
	struct fx_backend *b = open_url("mem://");
	struct fx_object_info info = { 0 };
	struct fx_multipart *mp = NULL;
	struct fx_meta m = { 0 };
	char want_etag[32];
	int fd = fd_of("xxAAAABBCCCyy");

	cr_assert(fx_backend_caps(b) & FX_CAP_MULTIPART);
	cr_assert_eq(fx_meta_set(&m, "mode", "0100644"), 0);
	cr_assert_eq(fx_backend_mpu_begin(b, "big", &m, &mp), 0);
	/* Uploaded out of order, and part 1 twice: the last upload wins. */
	cr_assert_eq(fx_backend_mpu_part(b, mp, 3, fd, 8, 3), 0);  /* CCC */
	cr_assert_eq(fx_backend_mpu_part(b, mp, 1, fd, 0, 2), 0);  /* xx */
	cr_assert_eq(fx_backend_mpu_part(b, mp, 2, fd, 6, 2), 0);  /* BB */
	cr_assert_eq(fx_backend_mpu_part(b, mp, 1, fd, 2, 4), 0);  /* AAAA */
	cr_assert_eq(fx_backend_head(b, "big", &info), -ENOENT, "invisible until complete");
	cr_assert_eq(fx_backend_mpu_complete(b, mp, &info), 0);
	cr_assert_str_eq(get_all(b, "big"), "AAAABBCCC");
	cr_assert_eq(info.size, 9);
	snprintf(want_etag, sizeof(want_etag), "\"%016" PRIx64 "\"",
		 (uint64_t)XXH3_64bits("AAAABBCCC", 9));
	cr_assert_str_eq(info.etag, want_etag);
	cr_assert_str_eq(fx_meta_get(&info.meta, "mode"), "0100644");
	cr_assert_eq(fx_backend_calls(b, FX_OP_MULTIPART), 6);
	fx_object_info_clear(&info);
	fx_meta_clear(&m);
	close(fd);
	fx_backend_close(b);
}

Test(mem, multipart_abort_and_errors)
{
	struct fx_backend *b = open_url("mem://");
	struct fx_multipart *mp = NULL;
	struct fx_object_info info = { 0 };
	int fd = fd_of("abc");

	cr_assert_eq(fx_backend_mpu_begin(b, "a", NULL, &mp), 0);
	cr_assert_eq(fx_backend_mpu_part(b, mp, 1, fd, 0, 3), 0);
	fx_backend_mpu_abort(b, mp);
	cr_assert_eq(fx_backend_head(b, "a", &info), -ENOENT);

	cr_assert_eq(fx_backend_mpu_begin(b, "a", NULL, &mp), 0);
	cr_assert_eq(fx_backend_mpu_part(b, mp, 0, fd, 0, 3), -EINVAL);     /* 1-based */
	cr_assert_eq(fx_backend_mpu_part(b, mp, 10001, fd, 0, 3), -EINVAL); /* S3 limit */
	cr_assert_eq(fx_backend_mpu_part(b, mp, 1, fd, 2, 5), -EIO);        /* past EOF */
	cr_assert_eq(fx_backend_mpu_complete(b, mp, NULL), -EINVAL);        /* no parts */
	/* An injected failure of complete leaves the upload to abort. */
	cr_assert_eq(fx_backend_mpu_part(b, mp, 1, fd, 0, 3), 0);
	fx_backend_inject_fault(b, FX_OP_MULTIPART, -ECONNRESET, 1);
	cr_assert_eq(fx_backend_mpu_complete(b, mp, NULL), -ECONNRESET);
	cr_assert_eq(fx_backend_mpu_complete(b, mp, NULL), 0);
	cr_assert_str_eq(get_all(b, "a"), "abc");
	fx_backend_mpu_abort(b, NULL); /* a no-op */
	cr_assert_eq(fx_backend_mpu_begin(b, "dir/", NULL, &mp), -EINVAL);
	cr_assert_eq(fx_backend_mpu_begin(b, "../x", NULL, &mp), -EINVAL);
	close(fd);
	fx_backend_close(b);
}

Test(mem, multipart_unsupported_on_file)
{
	char dir[] = "/tmp/rustfx-mpu-XXXXXX", url[64];
	struct fx_multipart *mp = NULL;
	struct fx_backend *b;

	cr_assert(mkdtemp(dir));
	snprintf(url, sizeof(url), "file://%s", dir);
	b = open_url(url);
	cr_assert_eq(fx_backend_mpu_begin(b, "k", NULL, &mp), -ENOTSUP);
	fx_backend_close(b);
	rmdir(dir);
}

/* ------------------------------------------------------------- instances */

Test(mem, named_stores_are_shared)
{
	struct fx_backend *a = open_url("mem://shared-test"), *b, *other, *priv;

	cr_assert_eq(put(a, "k", "v1"), 0);
	b = open_url("mem://shared-test");
	cr_assert_str_eq(get_all(b, "k"), "v1");
	cr_assert_eq(put(b, "k", "v2"), 0);
	cr_assert_str_eq(get_all(a, "k"), "v2");
	fx_backend_close(a);
	fx_backend_close(b);
	a = open_url("mem://shared-test"); /* survives every close */
	cr_assert_str_eq(get_all(a, "k"), "v2");
	other = open_url("mem://other");
	priv = open_url("mem://");
	cr_assert_null(get_all(other, "k"));
	cr_assert_null(get_all(priv, "k"));
	cr_assert_eq(put(priv, "p", "x"), 0);
	fx_backend_close(priv);
	priv = open_url("mem://"); /* private: a new empty store */
	cr_assert_null(get_all(priv, "p"));
	fx_backend_close(priv);
	fx_backend_close(other);
	fx_backend_close(a);
}

Test(mem, delete_batch_results)
{
	struct fx_backend *b = open_url("mem://");
	const char *keys[] = { "a", "b/", "missing" };
	int results[3] = { 9, 9, 9 };

	cr_assert_eq(put(b, "a", "1"), 0);
	cr_assert_eq(put(b, "b/", ""), 0);
	cr_assert_eq(put(b, "c", "3"), 0);
	cr_assert_eq(fx_backend_delete_batch(b, keys, 3, results), 0);
	cr_assert(results[0] == 0 && results[1] == 0 && results[2] == 0);
	cr_assert_null(get_all(b, "a"));
	cr_assert_null(get_all(b, "b/"));
	cr_assert_str_eq(get_all(b, "c"), "3");
	cr_assert_eq(fx_backend_calls(b, FX_OP_DELETE), 1, "one batch is one call");
	cr_assert_eq(fx_backend_delete_batch(b, keys, 0, NULL), 0);
	fx_backend_close(b);
}

/* ----------------------------------------------- faults and counters */

static int count_entries(void *arg, const struct fx_list_entry *e)
{
	(void)e;
	++*(int *)arg;
	return 0;
}

Test(mem, fault_injection_and_counters)
{
	struct fx_backend *b = open_url("mem://");
	struct fx_object_info info = { 0 };
	char buf[8], name[8];
	int i, n = 0;

	for (i = 0; i < 2500; i++) {
		snprintf(name, sizeof(name), "k%04d", i);
		cr_assert_eq(put(b, name, "v"), 0);
	}
	cr_assert_eq(fx_backend_calls(b, FX_OP_PUT), 2500);

	fx_backend_inject_fault(b, FX_OP_GET, -EIO, 2);
	/* A rejected key neither reaches the backend nor uses up a fault. */
	cr_assert_eq(fx_backend_get(b, "../k0000", 0, buf, 1), -EINVAL);
	cr_assert_eq(fx_backend_get(b, "k0000", 0, buf, 1), -EIO);
	cr_assert_eq(fx_backend_get(b, "k0000", 0, buf, 1), -EIO);
	cr_assert_eq(fx_backend_get(b, "k0000", 0, buf, 1), 1);
	cr_assert_eq(fx_backend_calls(b, FX_OP_GET), 4);

	fx_backend_inject_fault(b, FX_OP_PUT, ENOSPC, 1); /* positive errno is negated */
	cr_assert_eq(put(b, "new", "x"), -ENOSPC);
	cr_assert_eq(fx_backend_head(b, "new", &info), -ENOENT);
	cr_assert_eq(put(b, "new", "x"), 0);

	fx_backend_inject_fault(b, FX_OP_HEAD, -ETIMEDOUT, 5);
	fx_backend_inject_fault(b, FX_OP_HEAD, -ETIMEDOUT, 0); /* disarmed */
	cr_assert_eq(fx_backend_head(b, "new", &info), 0);
	fx_object_info_clear(&info);

	/* list_all follows tokens: 2501 keys in pages of 1000. */
	cr_assert_eq(fx_backend_list_all(b, "", NULL, count_entries, &n), 0);
	cr_assert_eq(n, 2501);
	cr_assert_eq(fx_backend_calls(b, FX_OP_LIST), 3);
	fx_backend_inject_fault(b, FX_OP_LIST, -EAGAIN, 1);
	n = 0;
	cr_assert_eq(fx_backend_list_all(b, "k1", NULL, count_entries, &n), -EAGAIN);
	cr_assert_eq(n, 0);
	cr_assert_eq(fx_backend_list_all(b, "k1", NULL, count_entries, &n), 0);
	cr_assert_eq(n, 1000);

	fx_backend_inject_fault(b, FX_OP_COPY, -EACCES, 1);
	cr_assert_eq(fx_backend_copy(b, "new", "copy", NULL), -EACCES);
	fx_backend_inject_fault(b, FX_OP_RENAME, -EACCES, 1);
	cr_assert_eq(fx_backend_rename(b, "new", "moved"), -EACCES);
	fx_backend_inject_fault(b, FX_OP_DELETE, -EACCES, 1);
	cr_assert_eq(fx_backend_delete(b, "new"), -EACCES);
	cr_assert_str_eq(get_all(b, "new"), "x");
	cr_assert_eq(fx_backend_calls(b, FX_OP_COPY), 1);
	cr_assert_eq(fx_backend_calls(b, FX_OP_RENAME), 1);
	cr_assert_eq(fx_backend_calls(b, FX_OP_DELETE), 1);
	fx_backend_close(b);
}

/* Lookups of absent names are answers: a healthy mount shows no errors. */
Test(mem, missing_objects_are_not_errors)
{
	struct fx_backend *b = open_url("mem://");
	struct fx_object_info info = { 0 };
	struct fx_backend_op_stats st;
	char buf[4];

	cr_assert_eq(fx_backend_head(b, "absent", &info), -ENOENT);
	cr_assert_eq(fx_backend_get(b, "absent", 0, buf, 1), -ENOENT);
	fx_backend_op_stats(b, FX_OP_HEAD, &st);
	cr_assert_eq(st.calls, 1);
	cr_assert_eq(st.errors, 0);
	fx_backend_op_stats(b, FX_OP_GET, &st);
	cr_assert_eq(st.calls, 1);
	cr_assert_eq(st.errors, 0);
	fx_backend_close(b);
}

Test(mem, etag_is_content_hash)
{
	struct fx_backend *b = open_url("mem://");
	struct fx_object_info x = { 0 }, y = { 0 };

	cr_assert_eq(put(b, "x", "same"), 0);
	cr_assert_eq(put(b, "y", "same"), 0);
	cr_assert_eq(fx_backend_head(b, "x", &x), 0);
	cr_assert_eq(fx_backend_head(b, "y", &y), 0);
	cr_assert_str_eq(x.etag, y.etag);
	fx_backend_close(b);
}

Test(mem, statfs_fallback)
{
	struct fx_backend *b = open_url("mem://");
	struct statvfs sv;

	cr_assert_eq(fx_backend_caps(b) & FX_CAP_STATFS, 0);
	cr_assert_eq(fx_backend_statfs(b, &sv), 0);
	cr_assert_eq((uint64_t)sv.f_blocks * sv.f_frsize, 1ull << 50);
	cr_assert_eq(sv.f_bavail, sv.f_blocks);
	cr_assert_eq(sv.f_namemax, 255);
	fx_backend_close(b);
}

/* ------------------------------------------------------ registry, URLs */

Test(registry, unknown_scheme_diag)
{
	struct fx_backend *b = NULL;
	struct fx_diag d = { 0 };

	cr_assert_eq(fx_backend_open("ftp://x", &b, &d), -FX_EBADURL);
	cr_assert_null(b);
	cr_assert_eq(d.err, -FX_EBADURL);
	cr_assert_str_eq(d.msg, "unsupported URL scheme 'ftp' in 'ftp://x'");
	cr_assert(strstr(d.hint, "file://") && strstr(d.hint, "mem://"), "hint: %s", d.hint);
}

Test(registry, missing_scheme_diag)
{
	struct fx_backend *b = NULL;
	struct fx_diag d = { 0 };

	cr_assert_eq(fx_backend_open("/srv/bucket", &b, &d), -FX_EBADURL);
	cr_assert(strstr(d.hint, "file:///srv/bucket"), "hint: %s", d.hint);
	memset(&d, 0, sizeof(d));
	cr_assert_eq(fx_backend_open("://x", &b, &d), -FX_EBADURL);
	cr_assert_eq(fx_backend_open(NULL, &b, NULL), -FX_EBADURL);
	cr_assert_null(b);
}

extern const struct fx_backend_ops fx_backend_mem_ops;

static int fake_open(const char *url, const struct fx_config *cfg, void **state,
		     struct fx_diag *d)
{
	(void)cfg;
	(void)url;
	(void)state;
	fx_diag_set(d, -EACCES, "fix it", "fake refuses");
	return -EACCES;
}

Test(registry, register_rules)
{
	static struct fx_backend_ops fake;
	struct fx_backend *b = NULL;
	struct fx_diag d = { 0 };

	fake = (struct fx_backend_ops){ .abi = FX_BACKEND_ABI, .size = sizeof(fake),
					.name = "fake", .scheme = "fake", .open = fake_open,
					.close = fx_backend_mem_ops.close };
	cr_assert_eq(fx_backend_register(&fake), -EINVAL, "head/list/get/put/del missing");
	fake.head = fx_backend_mem_ops.head;
	fake.list = fx_backend_mem_ops.list;
	fake.get = fx_backend_mem_ops.get;
	fake.put = fx_backend_mem_ops.put;
	fake.del = fx_backend_mem_ops.del;
	fake.abi = FX_BACKEND_ABI + 1;
	cr_assert_eq(fx_backend_register(&fake), -EINVAL, "wrong ABI");
	fake.abi = FX_BACKEND_ABI;
	fake.scheme = "mem";
	cr_assert_eq(fx_backend_register(&fake), -EEXIST, "mem is built in");
	fake.scheme = "fake";
	cr_assert_eq(fx_backend_register(&fake), 0);
	cr_assert_eq(fx_backend_open("fake://x", &b, &d), -EACCES);
	cr_assert_str_eq(d.msg, "fake refuses", "the backend's own diag wins");
	cr_assert_str_eq(d.hint, "fix it");
	cr_assert_null(b);
	memset(&d, 0, sizeof(d));
	cr_assert_eq(fx_backend_open("nope://x", &b, &d), -FX_EBADURL);
	cr_assert(strstr(d.hint, "fake://"), "registered schemes are listed: %s", d.hint);
}

/* ---------------------------------------------------------------- meta */

Test(meta, set_get_unset_copy)
{
	struct fx_meta m = { 0 }, c = { 0 };

	cr_assert_eq(fx_meta_set(&m, "uid", "1000"), 0);
	cr_assert_eq(fx_meta_set(&m, "gid", "100"), 0);
	cr_assert_eq(fx_meta_set(&m, "mode", "0644"), 0);
	cr_assert_eq(fx_meta_set(&m, "uid", "0"), 0); /* replaces */
	cr_assert_eq(m.n, 3);
	cr_assert_str_eq(m.kv[0].name, "gid"); /* kept sorted */
	cr_assert_str_eq(m.kv[2].name, "uid");
	cr_assert_str_eq(fx_meta_get(&m, "uid"), "0");
	cr_assert_null(fx_meta_get(&m, "mtime"));
	cr_assert_eq(fx_meta_set(&m, "Mode", "1"), -EINVAL, "names are lower-case");
	cr_assert_eq(fx_meta_set(&m, "", "1"), -EINVAL);
	cr_assert_eq(fx_meta_set(&m, "a b", "1"), -EINVAL);
	cr_assert_eq(fx_meta_set(&m, "x", "line\r\nInjected: 1"), -EINVAL);
	cr_assert_eq(fx_meta_copy(&c, &m), 0);
	fx_meta_unset(&m, "gid");
	fx_meta_unset(&m, "absent");
	cr_assert_eq(m.n, 2);
	cr_assert_null(fx_meta_get(&m, "gid"));
	cr_assert_str_eq(fx_meta_get(&c, "gid"), "100");
	cr_assert_eq(fx_meta_copy(&c, NULL), 0);
	cr_assert_eq(c.n, 0);
	fx_meta_clear(&m);
	fx_meta_clear(&m); /* twice is fine */
	cr_assert_null(fx_meta_get(NULL, "x"));
}
