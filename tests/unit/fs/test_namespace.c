/*
 * test_namespace.c - unit tests of fs/namespace.c: child keys and directory
 * markers, the names shown for listing entries (hostile keys from a malicious
 * bucket are hidden), mtime parsing, and metadata <-> struct stat (s3fs's
 * names, and s3cmd's s3cmd-attrs where those are absent).
 * Does not test key safety inside backends (tests/unit/backends/test_key.c).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "backends/backend.h"
#include "fs/namespace.h"

/* A string of @n copies of @c in a static buffer (valid until the next call with the same slot). */
static const char *repeat(int slot, char c, size_t n)
{
	static char buf[2][FX_KEY_MAX * 2 + 2];

	cr_assert_lt(n, sizeof(buf[0]));
	memset(buf[slot], c, n);
	buf[slot][n] = '\0';
	return buf[slot];
}

/* A valid key of @n bytes: 100-byte segments of 'd' joined by '/' (never ending in '/'
 * for the lengths used here). Static buffer, valid until the next call. */
static const char *path_of(size_t n)
{
	static char buf[FX_KEY_MAX * 2 + 2];

	cr_assert_lt(n, sizeof(buf));
	for (size_t i = 0; i < n; i++)
		buf[i] = i % 101 == 100 ? '/' : 'd';
	buf[n] = '\0';
	cr_assert(n == 0 || buf[n - 1] != '/');
	return buf;
}

/* ------------------------------------------------------------- child key */

Test(ns, child_key_basic)
{
	char out[64];

	cr_assert_eq(fx_ns_child_key("", "a", out, sizeof(out)), 1);
	cr_assert_str_eq(out, "a");
	cr_assert_eq(fx_ns_child_key("a/b", "c", out, sizeof(out)), 5);
	cr_assert_str_eq(out, "a/b/c");
	cr_assert_eq(fx_ns_child_key("dir", "f\xc3\xa9 +%.txt", out, sizeof(out)), 14);
	cr_assert_str_eq(out, "dir/f\xc3\xa9 +%.txt");
	cr_assert_eq(fx_ns_child_key("", "...", out, sizeof(out)), 3, "'...' is a fine name");
	cr_assert_eq(fx_ns_child_key("", ".hidden", out, sizeof(out)), 7);
}

Test(ns, child_key_rejects_unsafe_names)
{
	static const char *const bad[] = { "", ".", "..", "x/y", "/", "/x", "x/", "../x", NULL };
	char out[64];

	for (const char *const *p = bad; *p; p++) {
		memset(out, 'Z', sizeof(out));
		cr_assert_eq(fx_ns_child_key("a", *p, out, sizeof(out)), -EINVAL, "name '%s'", *p);
		cr_assert_eq(fx_ns_child_key("", *p, out, sizeof(out)), -EINVAL, "name '%s'", *p);
		cr_assert_eq(out[0], 'Z', "nothing written for '%s'", *p);
	}
}

Test(ns, child_key_name_length)
{
	char out[FX_KEY_MAX + 8];

	cr_assert_eq(fx_ns_child_key("d", repeat(0, 'n', FX_NAME_MAX), out, sizeof(out)),
		     2 + FX_NAME_MAX);
	cr_assert_eq(fx_ns_child_key("d", repeat(0, 'n', FX_NAME_MAX + 1), out, sizeof(out)),
		     -ENAMETOOLONG);
	cr_assert_eq(fx_ns_child_key("", repeat(0, 'n', 256), out, sizeof(out)), -ENAMETOOLONG);
	cr_assert_eq(fx_ns_child_key("", repeat(0, 'n', 2000), out, sizeof(out)), -ENAMETOOLONG);
}

Test(ns, child_key_near_key_max)
{
	char out[FX_KEY_MAX * 2];
	/* A key of FX_KEY_MAX - 1 bytes leaves one for its marker's '/'. */
	size_t dl = FX_KEY_MAX - 1 - 2; /* dir + '/' + 1-byte name = FX_KEY_MAX - 1 */
	const char *dir = path_of(dl);

	cr_assert_eq(fx_ns_child_key(dir, "x", out, sizeof(out)), FX_KEY_MAX - 1);
	cr_assert_eq(strlen(out), FX_KEY_MAX - 1);
	cr_assert_eq(out[dl], '/');
	cr_assert_eq(fx_ns_child_key(dir, "xy", out, sizeof(out)), -ENAMETOOLONG,
		     "a key of FX_KEY_MAX bytes has no room for its marker");
	cr_assert_eq(fx_ns_child_key(path_of(FX_KEY_MAX), "x", out, sizeof(out)),
		     -ENAMETOOLONG);
	/* The output buffer also bounds it, with room for the marker's '/'. */
	cr_assert_eq(fx_ns_child_key("ab", "c", out, 5), -ENAMETOOLONG);
	cr_assert_eq(fx_ns_child_key("ab", "c", out, 6), 4);
	cr_assert_str_eq(out, "ab/c");
}

/* ------------------------------------------------------------ dir marker */

Test(ns, dir_marker)
{
	char out[16];

	cr_assert_eq(fx_ns_dir_marker("a/b", out, sizeof(out)), 4);
	cr_assert_str_eq(out, "a/b/");
	cr_assert_eq(fx_ns_dir_marker("a", out, sizeof(out)), 2);
	cr_assert_str_eq(out, "a/");
	cr_assert_eq(fx_ns_dir_marker("", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "");
	cr_assert_eq(fx_ns_dir_marker("abc", out, 4), -ENAMETOOLONG);
	cr_assert_eq(fx_ns_dir_marker("abc", out, 5), 4);
	cr_assert_str_eq(out, "abc/");
}

Test(ns, dir_marker_of_child_key_fits)
{
	char key[FX_KEY_MAX + 1], marker[FX_KEY_MAX + 1];
	int len = fx_ns_child_key(path_of(FX_KEY_MAX - 3), "x", key, sizeof(key));

	cr_assert_eq(len, FX_KEY_MAX - 1);
	cr_assert_eq(fx_key_check(key), 0, "the child key is a valid key");
	cr_assert_eq(fx_ns_dir_marker(key, marker, sizeof(marker)), FX_KEY_MAX);
	cr_assert_eq(marker[FX_KEY_MAX - 1], '/');
	cr_assert_eq(fx_key_check(marker), 0, "the marker is a valid key");
}

/* ------------------------------------------------------------ entry name */

struct entry_case {
	const char *prefix, *key;
	int want;
	const char *name; /* when want == 0 */
};

static const struct entry_case entry_cases[] = {
	{ "", "a", 0, "a" },
	{ "", "a/", 0, "a" },
	{ "a/b/", "a/b/c", 0, "c" },
	{ "a/b/", "a/b/d/", 0, "d" },
	{ "a/", "a/sub/", 0, "sub" },
	{ "a/", "a/", 1, NULL },
	{ "", "", 1, NULL },
	/* names that must round trip untouched */
	{ "", "with space", 0, "with space" },
	{ "d/", "d/a+b", 0, "a+b" },
	{ "d/", "d/100%25", 0, "100%25" },
	{ "d/", "d/\xc3\xa9t\xc3\xa9 \xe2\x98\x83", 0, "\xc3\xa9t\xc3\xa9 \xe2\x98\x83" },
	{ "d/", "d/...", 0, "..." },
	{ "d/", "d/.x", 0, ".x" },
	{ "d/", "d/x..", 0, "x.." },
	/* hostile keys from a malicious bucket: hidden */
	{ "", "a/../x", -EINVAL, NULL },
	{ "a/", "a/../x", -EINVAL, NULL },
	{ "a/", "a/./x", -EINVAL, NULL },
	{ "a/", "a//x", -EINVAL, NULL },
	{ "a/", "a/..", -EINVAL, NULL },
	{ "a/", "a/../", -EINVAL, NULL },
	{ "a/", "a/.", -EINVAL, NULL },
	{ "a/", "a/./", -EINVAL, NULL },
	{ "a/", "a//", -EINVAL, NULL },
	{ "a/", "a/x//", -EINVAL, NULL },
	{ "", "/", -EINVAL, NULL },
	{ "", "/etc/passwd", -EINVAL, NULL },
	{ "", "..", -EINVAL, NULL },
	{ "", "../", -EINVAL, NULL },
	{ "a/", "a/x/y", -EINVAL, NULL }, /* not one level below */
	/* not under the prefix */
	{ "a/", "b/x", -EINVAL, NULL },
	{ "a/", "ab", -EINVAL, NULL },
	{ "a/b/", "a/", -EINVAL, NULL },
};

Test(ns, entry_name_table)
{
	for (size_t i = 0; i < sizeof(entry_cases) / sizeof(entry_cases[0]); i++) {
		const struct entry_case *c = &entry_cases[i];
		char out[FX_NAME_MAX + 1];
		int rc;

		strcpy(out, "untouched");
		rc = fx_ns_entry_name(c->prefix, c->key, out, sizeof(out));
		cr_assert_eq(rc, c->want, "prefix '%s' key '%s': got %d, want %d", c->prefix, c->key,
			     rc, c->want);
		if (c->want == 0)
			cr_assert_str_eq(out, c->name, "prefix '%s' key '%s'", c->prefix, c->key);
	}
}

Test(ns, entry_name_lengths)
{
	char key[FX_KEY_MAX * 2], out[FX_NAME_MAX + 1];

	snprintf(key, sizeof(key), "d/%s", repeat(0, 'n', FX_NAME_MAX));
	cr_assert_eq(fx_ns_entry_name("d/", key, out, sizeof(out)), 0);
	cr_assert_eq(strlen(out), FX_NAME_MAX);
	snprintf(key, sizeof(key), "d/%s/", repeat(0, 'n', FX_NAME_MAX));
	cr_assert_eq(fx_ns_entry_name("d/", key, out, sizeof(out)), 0, "marker of a 255-byte dir");
	cr_assert_eq(strlen(out), FX_NAME_MAX);
	snprintf(key, sizeof(key), "d/%s", repeat(0, 'n', FX_NAME_MAX + 1));
	cr_assert_eq(fx_ns_entry_name("d/", key, out, sizeof(out)), -EINVAL,
		     "a 256-byte name cannot be shown");
	/* A short output buffer is not overrun. */
	memset(out, 'Z', sizeof(out));
	cr_assert_lt(fx_ns_entry_name("", "abcdef", out, 4), 0);
	cr_assert_eq(out[4], 'Z');
	cr_assert_eq(fx_ns_entry_name("", "abc", out, 4), 0);
	cr_assert_str_eq(out, "abc");
}

Test(ns, entry_name_round_trips_child_key)
{
	static const char *const names[] = { "a", "with space", "a+b", "%2F", "\xe2\x98\x83",
					     "x.y", "..x", NULL };
	char key[256], marker[256], out[256];

	for (const char *const *n = names; *n; n++) {
		cr_assert_gt(fx_ns_child_key("dir/sub", *n, key, sizeof(key)), 0);
		cr_assert_eq(fx_ns_dir_marker("dir/sub", marker, sizeof(marker)), 8);
		cr_assert_eq(fx_ns_entry_name(marker, key, out, sizeof(out)), 0, "%s", *n);
		cr_assert_str_eq(out, *n);
	}
}

/* ----------------------------------------------------------------- mtime */

Test(ns, parse_mtime_good)
{
	int64_t ns = 0;

	cr_assert_eq(fx_ns_parse_mtime("1600000000", &ns), 0);
	cr_assert_eq(ns, 1600000000LL * 1000000000LL);
	cr_assert_eq(fx_ns_parse_mtime("1600000000.5", &ns), 0);
	cr_assert_eq(ns, 1600000000LL * 1000000000LL + 500000000LL);
	cr_assert_eq(fx_ns_parse_mtime("1600000000.123456789", &ns), 0);
	cr_assert_eq(ns, 1600000000LL * 1000000000LL + 123456789LL);
	cr_assert_eq(fx_ns_parse_mtime("1600000000.000000001", &ns), 0);
	cr_assert_eq(ns, 1600000000LL * 1000000000LL + 1);
	cr_assert_eq(fx_ns_parse_mtime("1600000000.1234567891234", &ns), 0,
		     "digits past ns are dropped");
	cr_assert_eq(ns, 1600000000LL * 1000000000LL + 123456789LL);
	cr_assert_eq(fx_ns_parse_mtime("0", &ns), 0);
	cr_assert_eq(ns, 0);
	cr_assert_eq(fx_ns_parse_mtime("-5", &ns), 0);
	cr_assert_eq(ns, -5000000000LL);
	cr_assert_eq(fx_ns_parse_mtime("-5.5", &ns), 0);
	cr_assert_eq(ns, -5500000000LL);
}

Test(ns, parse_mtime_negative_below_one_second)
{
	int64_t ns = 0;

	/* "-0.5" is half a second before the epoch, like "-5.5" is 5.5 s before. */
	cr_assert_eq(fx_ns_parse_mtime("-0.5", &ns), 0);
	cr_assert_eq(ns, -500000000LL, "'-0.5' parsed as %lld ns", (long long)ns);
}

Test(ns, parse_mtime_bad)
{
	static const char *const bad[] = {
		"", "abc", "12abc", "1.5x", ".5", "1e9", "1600000000 ", "0x10", "1.2.3", "--1",
		"99999999999999999999", "-99999999999999999999", "9000000001", "-9000000001",
		NULL,
	};

	for (const char *const *p = bad; *p; p++) {
		int64_t ns = 42;

		cr_assert_eq(fx_ns_parse_mtime(*p, &ns), -EINVAL, "'%s' must be rejected", *p);
		cr_assert_eq(ns, 42, "'%s': output written on failure", *p);
	}
}

Test(ns, parse_mtime_bounds)
{
	int64_t ns = 0;

	cr_assert_eq(fx_ns_parse_mtime("9000000000", &ns), 0);
	cr_assert_eq(ns, 9000000000LL * 1000000000LL);
	cr_assert_eq(fx_ns_parse_mtime("9000000000.999999999", &ns), 0, "no int64 overflow");
	cr_assert_eq(ns, 9000000000LL * 1000000000LL + 999999999LL);
	cr_assert_eq(fx_ns_parse_mtime("-9000000000.999999999", &ns), 0);
	cr_assert_eq(ns, -9000000000LL * 1000000000LL - 999999999LL);
}

/* ------------------------------------------------------------------ stat */

static const struct fx_ns_defaults defs = {
	.uid = 1234, .gid = 5678, .umask = 022, .dir_mtime_ns = 1700000000LL * 1000000000LL + 7,
};

/* Metadata from NULL-terminated name, value pairs. */
static void meta_of(struct fx_meta *m, const char *const *kv)
{
	memset(m, 0, sizeof(*m));
	for (; kv[0]; kv += 2)
		cr_assert_eq(fx_meta_set(m, kv[0], kv[1]), 0, "%s=%s", kv[0], kv[1]);
}

Test(ns, stat_s3fs_decimal_mode)
{
	static const char *const kv[] = { "mode", "33188", NULL };
	struct fx_meta m;
	struct stat st = { 0 };

	meta_of(&m, kv);
	fx_ns_stat(&st, &m, false, 10, 0, &defs);
	cr_assert(S_ISREG(st.st_mode));
	cr_assert_eq(st.st_mode, S_IFREG | 0644, "mode %o", st.st_mode);
	cr_assert_eq(st.st_size, 10);
	cr_assert_eq(st.st_nlink, 1);
	cr_assert_eq(st.st_blocks, 1);
	fx_meta_clear(&m);
}

Test(ns, stat_mode_without_type_is_regular)
{
	static const char *const kv[] = { "mode", "420", NULL }; /* 0644 */
	struct fx_meta m;
	struct stat st = { 0 };

	meta_of(&m, kv);
	fx_ns_stat(&st, &m, false, 0, 0, &defs);
	cr_assert_eq(st.st_mode, S_IFREG | 0644, "mode %o", st.st_mode);
	cr_assert_eq(st.st_blocks, 0);
	fx_meta_clear(&m);
}

Test(ns, stat_marker_with_file_mode_is_dir)
{
	static const char *const kv[] = { "mode", "33261", NULL }; /* 0100755 */
	struct fx_meta m;
	struct stat st = { 0 };

	meta_of(&m, kv);
	fx_ns_stat(&st, &m, true, 0, 0, &defs);
	cr_assert(S_ISDIR(st.st_mode), "mode %o", st.st_mode);
	cr_assert_eq(st.st_mode & 07777, 0755, "permissions kept");
	cr_assert_eq(st.st_nlink, 2);
	cr_assert_eq(st.st_size, 4096);
	fx_meta_clear(&m);
}

Test(ns, stat_object_with_dir_mode_is_file)
{
	static const char *const kv[] = { "mode", "16877", NULL }; /* 040755 */
	struct fx_meta m;
	struct stat st = { 0 };

	meta_of(&m, kv);
	fx_ns_stat(&st, &m, false, 3, 0, &defs);
	cr_assert(S_ISREG(st.st_mode), "an object is never a directory; mode %o", st.st_mode);
	cr_assert_eq(st.st_mode & 07777, 0755);
	cr_assert_eq(st.st_size, 3);
	fx_meta_clear(&m);
}

Test(ns, stat_missing_meta_defaults)
{
	struct fx_meta empty = { 0 };
	struct stat st;

	memset(&st, 0xAB, sizeof(st));
	st.st_ino = 77;
	fx_ns_stat(&st, NULL, false, 5000, 1600000000LL * 1000000000LL, &defs);
	cr_assert_eq(st.st_mode, S_IFREG | 0644, "0666 & ~022; got %o", st.st_mode);
	cr_assert_eq(st.st_uid, 1234);
	cr_assert_eq(st.st_gid, 5678);
	cr_assert_eq(st.st_ino, 77, "st_ino is kept");
	cr_assert_eq(st.st_size, 5000);
	cr_assert_eq(st.st_blocks, 10);
	cr_assert_eq(st.st_mtim.tv_sec, 1600000000);
	cr_assert_eq(st.st_mtim.tv_nsec, 0);

	fx_ns_stat(&st, &empty, true, 0, 0, &defs);
	cr_assert_eq(st.st_mode, S_IFDIR | 0755, "0777 & ~022; got %o", st.st_mode);
	cr_assert_eq(st.st_nlink, 2);

	{
		struct fx_ns_defaults strict = defs;

		strict.umask = 077;
		fx_ns_stat(&st, NULL, false, 0, 0, &strict);
		cr_assert_eq(st.st_mode, S_IFREG | 0600);
		fx_ns_stat(&st, NULL, true, 0, 0, &strict);
		cr_assert_eq(st.st_mode, S_IFDIR | 0700);
		strict.umask = 0;
		fx_ns_stat(&st, NULL, false, 0, 0, &strict);
		cr_assert_eq(st.st_mode, S_IFREG | 0666);
	}
}

Test(ns, stat_bad_mode_falls_back)
{
	static const char *const bad[] = { "abc", "", "-1", "999999999", "12x", "262144", NULL };

	for (const char *const *p = bad; *p; p++) {
		const char *const kv[] = { "mode", *p, NULL };
		struct fx_meta m;
		struct stat st = { 0 };

		meta_of(&m, kv);
		fx_ns_stat(&st, &m, false, 0, 0, &defs);
		cr_assert_eq(st.st_mode, S_IFREG | 0644, "mode '%s' gave %o", *p, st.st_mode);
		fx_meta_clear(&m);
	}
}

Test(ns, stat_uid_gid)
{
	static const char *const kv[] = { "uid", "1000", "gid", "0", NULL };
	static const char *const bad[] = { "uid", "-1", "gid", "bob", NULL };
	static const char *const huge[] = { "uid", "4294967295", "gid", "99999999999", NULL };
	struct fx_meta m;
	struct stat st = { 0 };

	meta_of(&m, kv);
	fx_ns_stat(&st, &m, false, 0, 0, &defs);
	cr_assert_eq(st.st_uid, 1000);
	cr_assert_eq(st.st_gid, 0, "gid 0 from metadata is not the default");
	fx_meta_clear(&m);

	meta_of(&m, bad);
	fx_ns_stat(&st, &m, false, 0, 0, &defs);
	cr_assert_eq(st.st_uid, 1234, "bad uid falls back to the default");
	cr_assert_eq(st.st_gid, 5678);
	fx_meta_clear(&m);

	meta_of(&m, huge);
	fx_ns_stat(&st, &m, false, 0, 0, &defs);
	cr_assert_eq(st.st_uid, 1234, "(uid_t)-1 is not a valid owner");
	cr_assert_eq(st.st_gid, 5678);
	fx_meta_clear(&m);
}

Test(ns, stat_mtime_from_meta_beats_object)
{
	static const char *const kv[] = { "mtime", "1500000000.25", NULL };
	static const char *const junk[] = { "mtime", "yesterday", NULL };
	struct fx_meta m;
	struct stat st = { 0 };

	meta_of(&m, kv);
	fx_ns_stat(&st, &m, false, 0, 1600000000LL * 1000000000LL, &defs);
	cr_assert_eq(st.st_mtim.tv_sec, 1500000000);
	cr_assert_eq(st.st_mtim.tv_nsec, 250000000);
	cr_assert_eq(st.st_ctim.tv_sec, 1500000000);
	cr_assert_eq(st.st_atim.tv_sec, 1500000000);
	/* Also for a directory marker with metadata. */
	fx_ns_stat(&st, &m, true, 0, 0, &defs);
	cr_assert_eq(st.st_mtim.tv_sec, 1500000000);
	fx_meta_clear(&m);

	meta_of(&m, junk);
	fx_ns_stat(&st, &m, false, 0, 1600000000LL * 1000000000LL + 3, &defs);
	cr_assert_eq(st.st_mtim.tv_sec, 1600000000, "junk mtime: the object's own");
	cr_assert_eq(st.st_mtim.tv_nsec, 3);
	fx_meta_clear(&m);
}

Test(ns, stat_dir_mtime_default)
{
	struct stat st = { 0 };

	fx_ns_stat(&st, NULL, true, 0, 0, &defs);
	cr_assert_eq(st.st_mtim.tv_sec, 1700000000);
	cr_assert_eq(st.st_mtim.tv_nsec, 7);
	/* A marker object with its own time uses that. */
	fx_ns_stat(&st, NULL, true, 0, 1650000000LL * 1000000000LL, &defs);
	cr_assert_eq(st.st_mtim.tv_sec, 1650000000);
	/* A file without a time stays at 0, not the mount time. */
	fx_ns_stat(&st, NULL, false, 0, 0, &defs);
	cr_assert_eq(st.st_mtim.tv_sec, 0);
}

Test(ns, stat_negative_mtime_normalised)
{
	struct stat st = { 0 };

	fx_ns_stat(&st, NULL, false, 0, -5500000000LL, &defs);
	cr_assert_eq(st.st_mtim.tv_sec, -6);
	cr_assert_eq(st.st_mtim.tv_nsec, 500000000);
}

/* What s3cmd 2.x stores for a file of mode 0600 owned by 1000:1000. */
#define S3CMD_ATTRS                                                                    \
	"atime:1700000100/ctime:1700000200/gid:1000/gname:users"                           \
	"/md5:d41d8cd98f00b204e9800998ecf8427e/mode:33152/mtime:978307200/uid:1000/uname:alice"
#define UPLOADED_NS (1600000000LL * 1000000000LL)

/* The stat of a 7-byte object uploaded at UPLOADED_NS with metadata @kv. */
static struct stat object_stat(const char *const *kv)
{
	struct fx_meta m;
	struct stat st = { 0 };

	meta_of(&m, kv);
	fx_ns_stat(&st, &m, false, 7, UPLOADED_NS, &defs);
	fx_meta_clear(&m);
	return st;
}

Test(ns, stat_from_s3cmd_attrs)
{
	static const char *const kv[] = { "s3cmd-attrs", S3CMD_ATTRS, NULL };
	/* After a chmod through the mount: s3fs's mode and mtime, s3cmd's header kept. */
	static const char *const both[] = { "s3cmd-attrs", S3CMD_ATTRS, "mode", "33184",
					    "mtime", "1500000000.5", "uid", "0", NULL };
	struct stat st = object_stat(kv);

	cr_assert_eq(st.st_mode, S_IFREG | 0600, "mode %o", st.st_mode);
	cr_assert_eq(st.st_uid, 1000);
	cr_assert_eq(st.st_gid, 1000);
	cr_assert_eq(st.st_mtim.tv_sec, 978307200, "s3cmd's mtime, not the upload time");
	cr_assert_eq(st.st_mtim.tv_nsec, 0);
	cr_assert_eq(st.st_size, 7);

	st = object_stat(both);
	cr_assert_eq(st.st_mode, S_IFREG | 0640, "s3fs's mode wins; got %o", st.st_mode);
	cr_assert_eq(st.st_uid, 0, "s3fs uid 0 wins over s3cmd's 1000");
	cr_assert_eq(st.st_gid, 1000, "no s3fs gid: s3cmd's");
	cr_assert_eq(st.st_mtim.tv_sec, 1500000000);
	cr_assert_eq(st.st_mtim.tv_nsec, 500000000);
}

Test(ns, stat_s3cmd_attrs_partial_or_odd)
{
	/* Names must match whole: "xmode", "uname" and "gname" are not mode, uid, gid. */
	static const char *const odd[] = {
		"s3cmd-attrs", "xmode:16877/uname:0/gname:0/mtime:/mode:/uid:", NULL
	};
	static const char *const only_mtime[] = { "s3cmd-attrs", "mtime:1234567890", NULL };
	static const char *const dir_mode[] = { "s3cmd-attrs", "mode:16877/gid:7", NULL };
	struct stat st = object_stat(odd);

	cr_assert_eq(st.st_mode, S_IFREG | 0644, "mode %o", st.st_mode);
	cr_assert_eq(st.st_uid, 1234);
	cr_assert_eq(st.st_gid, 5678);
	cr_assert_eq(st.st_mtim.tv_sec, 1600000000);

	st = object_stat(only_mtime);
	cr_assert_eq(st.st_mtim.tv_sec, 1234567890);
	cr_assert_eq(st.st_mode, S_IFREG | 0644);

	/* s3cmd's mode obeys the same type rules as s3fs's. */
	st = object_stat(dir_mode);
	cr_assert_eq(st.st_mode, S_IFREG | 0755, "an object is never a directory; mode %o",
		     st.st_mode);
	cr_assert_eq(st.st_gid, 7, "the last pair, without a trailing '/'");
}

/* ---------------------------------------------------- meta <-> stat trip */

static void round_trip(mode_t mode, bool is_dir, uid_t uid, gid_t gid, time_t sec, long nsec)
{
	struct stat in = { 0 }, out = { 0 };
	struct fx_meta m = { 0 };

	in.st_mode = mode;
	in.st_uid = uid;
	in.st_gid = gid;
	in.st_mtim.tv_sec = sec;
	in.st_mtim.tv_nsec = nsec;
	cr_assert_eq(fx_ns_meta_from_stat(&m, &in), 0);
	cr_assert_not_null(fx_meta_get(&m, "mode"));
	cr_assert_not_null(fx_meta_get(&m, "uid"));
	cr_assert_not_null(fx_meta_get(&m, "gid"));
	cr_assert_not_null(fx_meta_get(&m, "mtime"));
	fx_ns_stat(&out, &m, is_dir, 0, 0, &defs);
	cr_assert_eq(out.st_mode, mode, "mode %o came back as %o", mode, out.st_mode);
	cr_assert_eq(out.st_uid, uid);
	cr_assert_eq(out.st_gid, gid);
	cr_assert_eq(out.st_mtim.tv_sec, sec,
		     "mtime {%lld s, %ld ns} came back as {%lld s, %ld ns} (meta mtime '%s')",
		     (long long)sec, nsec, (long long)out.st_mtim.tv_sec, out.st_mtim.tv_nsec,
		     fx_meta_get(&m, "mtime"));
	cr_assert_eq(out.st_mtim.tv_nsec, nsec, "mtime {%lld s, %ld ns} came back as {%lld s, %ld ns}",
		     (long long)sec, nsec, (long long)out.st_mtim.tv_sec, out.st_mtim.tv_nsec);
	fx_meta_clear(&m);
}

Test(ns, meta_from_stat_s3fs_encoding)
{
	struct stat st = { 0 };
	struct fx_meta m = { 0 };

	st.st_mode = S_IFREG | 0644;
	st.st_uid = 1000;
	st.st_gid = 100;
	st.st_mtim.tv_sec = 1600000000;
	cr_assert_eq(fx_ns_meta_from_stat(&m, &st), 0);
	cr_assert_str_eq(fx_meta_get(&m, "mode"), "33188");
	cr_assert_str_eq(fx_meta_get(&m, "uid"), "1000");
	cr_assert_str_eq(fx_meta_get(&m, "gid"), "100");
	cr_assert_str_eq(fx_meta_get(&m, "mtime"), "1600000000");
	st.st_mtim.tv_nsec = 5;
	cr_assert_eq(fx_ns_meta_from_stat(&m, &st), 0, "replacing existing values");
	cr_assert_str_eq(fx_meta_get(&m, "mtime"), "1600000000.000000005");
	cr_assert_eq(m.n, 4);
	fx_meta_clear(&m);
}

Test(ns, meta_round_trip)
{
	round_trip(S_IFREG | 0644, false, 1000, 1000, 1600000000, 0);
	round_trip(S_IFREG | 0600, false, 0, 0, 1600000000, 123456789);
	round_trip(S_IFREG | 04755, false, 65534, 65534, 1, 1);
	round_trip(S_IFDIR | 0750, true, 42, 43, 1700000000, 999999999);
	round_trip(S_IFLNK | 0777, false, 1, 2, 1234567890, 500000000);
	round_trip(S_IFREG | 0644, false, 1000, 1000, -5, 0);
}

Test(ns, meta_round_trip_before_epoch)
{
	/* 5.5 s before the epoch: a normalised timespec is { -6, 500000000 }. */
	round_trip(S_IFREG | 0644, false, 1000, 1000, -6, 500000000);
}
