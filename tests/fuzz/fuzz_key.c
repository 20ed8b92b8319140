/*
 * fuzz_key.c - libFuzzer harness for key <-> path mapping: the key safety
 * check (backends/key.c: fx_key_check) and the filesystem's names <-> keys
 * (fs/namespace.c: fx_ns_child_key, fx_ns_dir_marker, fx_ns_entry_name) and
 * metadata <-> struct stat (fx_ns_stat, fx_ns_meta_from_stat,
 * fx_ns_parse_mtime).
 *
 * Input: one mode byte, then bytes.
 *   mode % 3 == 0: the bytes (to the first NUL) are an object key from a
 *                  bucket; bits 2-7 of the mode pick a split point for an
 *                  extra listing prefix.
 *   mode % 3 == 1: the bytes are file names separated by NUL, created one
 *                  inside the other from the mount's root.
 *   mode % 3 == 2: the bytes are metadata values separated by NUL: mode,
 *                  uid, gid, mtime, s3cmd-attrs; bit 2 of the mode says
 *                  "directory", the last 8 bytes (if any) an object mtime.
 * Invariants checked:
 *  - fx_key_check agrees with a plain restatement of its rule (not empty,
 *    no leading '/', <= FX_KEY_MAX bytes, segments non-empty (a trailing
 *    '/' aside), not "." or "..", <= FX_NAME_MAX bytes);
 *  - a key it accepts is a path and back: walking its segments with
 *    fx_ns_child_key from the root rebuilds exactly the key (a marker "d/"
 *    through fx_ns_dir_marker), as long as it leaves the byte a marker
 *    needs; and listing the key under its parent's marker shows its last
 *    segment;
 *  - nothing hostile is shown: whenever fx_ns_entry_name shows a name for a
 *    key under a prefix, the name is one safe segment and prefix + name (+
 *    '/') is the key, which fx_key_check accepts;
 *  - whatever key the mount composes from names passes fx_key_check, and
 *    so does its marker; a name it refuses is unsafe or too long;
 *  - fx_ns_stat never shows a device, FIFO or socket, gives a directory
 *    exactly for a directory, a normalised mtime; and fx_ns_meta_from_stat
 *    followed by fx_ns_stat gives the same attributes back;
 *  - fx_ns_parse_mtime gives the value its text says (sign, seconds,
 *    fraction), as a plain restatement computes it.
 * Does not own: the code under test.
 */
#include <errno.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "backends/backend.h"
#include "fs/namespace.h"
#include "tests/fuzz/fuzz.h"

#define FX_KBUF (FX_KEY_MAX + 2) /* what fs/ops.c gives fx_ns_child_key */

/* fx_key_check's rule, written out again. */
static int fx_ref_key_check(const char *key)
{
	size_t len = strlen(key), start = 0, i;

	if (len == 0 || key[0] == '/')
		return -EINVAL;
	if (len > FX_KEY_MAX)
		return -ENAMETOOLONG;
	for (i = 0; i <= len; i++) {
		size_t seg;

		if (i < len && key[i] != '/')
			continue;
		seg = i - start;
		if (seg == 0 && i == len) /* after a trailing '/' */
			break;
		if (seg == 0)
			return -EINVAL;
		if ((seg == 1 && key[start] == '.') ||
		    (seg == 2 && key[start] == '.' && key[start + 1] == '.'))
			return -EINVAL;
		if (seg > FX_NAME_MAX)
			return -ENAMETOOLONG;
		start = i + 1;
	}
	return 0;
}

static bool fx_safe_name(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n <= FX_NAME_MAX && !strchr(name, '/') && strcmp(name, ".") &&
	       strcmp(name, "..");
}

/* If @key shows as a name under @prefix, that name maps back to @key safely. */
static void fx_check_shown(const char *prefix, const char *key)
{
	char name[FX_NAME_MAX + 1], dir[FX_KBUF], child[FX_KBUF];
	size_t pl = strlen(prefix), kl = strlen(key);
	int rc = fx_ns_entry_name(prefix, key, name, sizeof(name));

	FX_FUZZ_CHECK(rc == 0 || rc == 1 || rc == -EINVAL, "entry_name: %d", rc);
	if (rc == 1)
		FX_FUZZ_CHECK(!strcmp(prefix, key), "'%s' under '%s' taken for the marker", key,
			      prefix);
	if (rc != 0)
		return;
	FX_FUZZ_CHECK(fx_safe_name(name), "'%s' under '%s' shows as unsafe name '%s'", key, prefix,
		      name);
	FX_FUZZ_CHECK(fx_key_check(key) == 0 || kl > FX_KEY_MAX,
		      "hostile key '%s' shown as '%s' under '%s' (fx_key_check %d)", key, name,
		      prefix, fx_key_check(key));
	/* prefix is a marker ("" or ending in '/'); the name sits right after it */
	FX_FUZZ_CHECK(!strncmp(key, prefix, pl) && !strncmp(key + pl, name, strlen(name)),
		      "'%s' under '%s' shown as '%s'", key, prefix, name);
	FX_FUZZ_CHECK(!strcmp(key + pl + strlen(name), "") || !strcmp(key + pl + strlen(name), "/"),
		      "'%s' under '%s' shown as '%s' hides the rest", key, prefix, name);
	/* And the mount composes the same key back from the name. */
	if (pl && prefix[pl - 1] == '/' && pl <= sizeof(dir)) {
		memcpy(dir, prefix, pl - 1);
		dir[pl - 1] = '\0';
		if (fx_ns_child_key(dir, name, child, sizeof(child)) >= 0)
			FX_FUZZ_CHECK(
			    !strncmp(child, key, strlen(child)) &&
				(key[strlen(child)] == '\0' || !strcmp(key + strlen(child), "/")),
			    "'%s' shown as '%s' composes back to '%s'", key, name, child);
	}
}

/* Mode 0: one key from a bucket. */
static void fx_key(const char *key, unsigned pick)
{
	int rc = fx_key_check(key), ref = fx_ref_key_check(key);
	size_t kl = strlen(key), i, start;
	char dir[FX_KBUF], next[FX_KBUF], name[FX_NAME_MAX + 1], prefix[FX_KBUF];
	bool marker;

	FX_FUZZ_CHECK(rc == ref, "fx_key_check('%s') = %d, the rule says %d", key, rc, ref);

	/* Listed under the prefix up to any of its '/'s, or under the root. */
	fx_check_shown("", key);
	for (i = 0, start = 0; i < kl && i + 1 < sizeof(prefix); i++) {
		if (key[i] == '/' && start++ % 8 == pick % 8) {
			/* Only a safe directory can be listed: the mount made its key. */
			memcpy(prefix, key, i + 1);
			prefix[i + 1] = '\0';
			if (fx_key_check(prefix) == 0)
				fx_check_shown(prefix, key);
		}
	}
	if (rc != 0)
		return;

	/* An accepted key is a path: walk it from the root. */
	marker = key[kl - 1] == '/';
	dir[0] = '\0';
	for (start = 0, i = 0; i <= kl; i++) {
		int n;

		if (i < kl && key[i] != '/')
			continue;
		if (i == start) /* the empty end after a marker's '/' */
			break;
		memcpy(name, key + start, i - start);
		name[i - start] = '\0';
		n = fx_ns_child_key(dir, name, next, sizeof(next));
		if (n == -ENAMETOOLONG) {
			/* Only the key's full length (no byte for a marker) stops it. */
			FX_FUZZ_CHECK(i + 1 > FX_KEY_MAX, "'%s' of '%s' refused at %zu bytes", name,
				      key, i);
			return;
		}
		FX_FUZZ_CHECK(n == (int)i && !memcmp(next, key, i) && next[i] == '\0',
			      "walking '%s': '%s' in '%s' gave %d '%s'", key, name, dir, n,
			      n >= 0 ? next : "");
		/* The key lists under its parent's marker as its last segment. */
		if (i == kl || (marker && i == kl - 1)) {
			char shown[FX_NAME_MAX + 1];

			fx_ns_dir_marker(dir, prefix, sizeof(prefix));
			FX_FUZZ_CHECK(fx_ns_entry_name(prefix, key, shown, sizeof(shown)) == 0 &&
					  !strcmp(shown, name),
				      "'%s' is not shown as '%s' under its parent '%s'", key, name,
				      prefix);
		}
		memcpy(dir, next, (size_t)n + 1);
		start = i + 1;
	}
	if (marker) {
		FX_FUZZ_CHECK(fx_ns_dir_marker(dir, next, sizeof(next)) == (int)kl &&
				  !strcmp(next, key),
			      "the marker of '%s' is '%s', not '%s'", dir, next, key);
	} else {
		FX_FUZZ_CHECK(!strcmp(dir, key), "'%s' walked to '%s'", key, dir);
	}
}

/* Mode 1: names created one inside the other. */
static void fx_names(const char *data, size_t size)
{
	char dir[FX_KBUF] = "", next[FX_KBUF], marker[FX_KBUF], name[FX_NAME_MAX + 1];
	const char *p = data, *end = data + size;

	while (p < end) {
		size_t nl = strnlen(p, (size_t)(end - p));
		char *n = fx_fuzz_str((const uint8_t *)p, nl);
		int rc = fx_ns_child_key(dir, n, next, sizeof(next));

		p += nl + 1;
		if (rc < 0) {
			FX_FUZZ_CHECK(rc == -ENAMETOOLONG ? fx_safe_name(n) || nl > FX_NAME_MAX
							  : !fx_safe_name(n),
				      "name '%s' in '%s' refused with %d", n, dir, rc);
			free(n);
			continue;
		}
		FX_FUZZ_CHECK(fx_safe_name(n), "unsafe name '%s' accepted in '%s'", n, dir);
		FX_FUZZ_CHECK(fx_key_check(next) == 0, "composed key '%s' fails fx_key_check: %d",
			      next, fx_key_check(next));
		FX_FUZZ_CHECK(fx_ns_dir_marker(next, marker, sizeof(marker)) > 0 &&
				  fx_key_check(marker) == 0,
			      "the marker of '%s' fails fx_key_check", next);
		fx_ns_dir_marker(dir, marker, sizeof(marker));
		FX_FUZZ_CHECK(fx_ns_entry_name(marker, next, name, sizeof(name)) == 0 &&
				  !strcmp(name, n),
			      "'%s' lists under '%s' as '%s', not '%s'", next, marker, name, n);
		memcpy(dir, next, (size_t)rc + 1);
		free(n);
	}
}

/* The nanoseconds an mtime text accepted by fx_ns_parse_mtime stands for:
 * [blanks][sign]seconds[.fraction], the fraction cut after 9 digits. */
static int64_t fx_ref_mtime(const char *text)
{
	const char *p = text + strspn(text, " \t\n\v\f\r");
	bool neg = *p == '-';
	int64_t sec = 0, frac = 0, scale = 100000000;

	if (*p == '-' || *p == '+')
		p++;
	for (; *p >= '0' && *p <= '9'; p++)
		sec = sec * 10 + (*p - '0');
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
			frac += (*p - '0') * scale;
	return (neg ? -1 : 1) * (sec * 1000000000 + frac);
}

/* Mode 2: metadata to attributes and back. */
static void fx_attrs(const char *data, size_t size, bool is_dir)
{
	static const char *const names[] = {"mode", "uid", "gid", "mtime", "s3cmd-attrs"};
	struct fx_ns_defaults def = {
	    .uid = 1000, .gid = 100, .umask = 022, .dir_mtime_ns = 1600000000123456789LL};
	struct fx_meta meta = {0}, meta2 = {0};
	struct stat st, st2;
	const char *p = data, *end = data + size;
	int64_t obj_mtime = 0, ns;
	uint64_t obj_size = size;

	if (size >= 8) {
		memcpy(&obj_mtime, end - 8, 8);
		end -= 8;
	}
	for (size_t i = 0; i < 5 && p < end; i++) {
		size_t vl = strnlen(p, (size_t)(end - p));
		char *v = fx_fuzz_str((const uint8_t *)p, vl);

		p += vl + 1;
		if (i == 3 && fx_ns_parse_mtime(v, &ns) == 0) {
			int64_t want = fx_ref_mtime(v);

			FX_FUZZ_CHECK(ns == want, "mtime '%s' parsed to %lld ns, not %lld", v,
				      (long long)ns, (long long)want);
		}
		if (*v) /* a value over FX_META_VALUE_MAX is refused: then absent */
			(void)fx_meta_set(&meta, names[i], v);
		free(v);
	}
	memset(&st, 0, sizeof(st));
	fx_ns_stat(&st, &meta, is_dir, obj_size, obj_mtime, &def);
	FX_FUZZ_CHECK(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode),
		      "mode 0%o is not a file, directory or symlink", (unsigned)st.st_mode);
	FX_FUZZ_CHECK(!!S_ISDIR(st.st_mode) == is_dir, "mode 0%o for is_dir %d",
		      (unsigned)st.st_mode, is_dir);
	FX_FUZZ_CHECK(st.st_mtim.tv_nsec >= 0 && st.st_mtim.tv_nsec < 1000000000, "mtime nsec %ld",
		      (long)st.st_mtim.tv_nsec);
	FX_FUZZ_CHECK(st.st_size == (is_dir ? 4096 : (off_t)obj_size), "size %lld",
		      (long long)st.st_size);

	/* What a write stores reads back the same. */
	FX_FUZZ_CHECK(fx_ns_meta_from_stat(&meta2, &st) == 0, "meta_from_stat failed");
	memset(&st2, 0, sizeof(st2));
	fx_ns_stat(&st2, &meta2, is_dir, obj_size, obj_mtime, &def);
	FX_FUZZ_CHECK(st2.st_mode == st.st_mode && st2.st_uid == st.st_uid &&
			  st2.st_gid == st.st_gid,
		      "mode/uid/gid 0%o/%u/%u stored and read back as 0%o/%u/%u",
		      (unsigned)st.st_mode, (unsigned)st.st_uid, (unsigned)st.st_gid,
		      (unsigned)st2.st_mode, (unsigned)st2.st_uid, (unsigned)st2.st_gid);
	FX_FUZZ_CHECK(
	    st2.st_mtim.tv_sec == st.st_mtim.tv_sec && st2.st_mtim.tv_nsec == st.st_mtim.tv_nsec,
	    "mtime %lld.%09ld stored as '%s' read back as %lld.%09ld", (long long)st.st_mtim.tv_sec,
	    (long)st.st_mtim.tv_nsec, fx_meta_get(&meta2, "mtime"), (long long)st2.st_mtim.tv_sec,
	    (long)st2.st_mtim.tv_nsec);
	fx_meta_clear(&meta);
	fx_meta_clear(&meta2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *key;

	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		key = fx_fuzz_str(data + 1, size - 1);
		fx_key(key, data[0] >> 2);
		free(key);
		break;
	case 1:
		fx_names((const char *)data + 1, size - 1);
		break;
	case 2:
		fx_attrs((const char *)data + 1, size - 1, data[0] & 4);
		break;
	}
	return 0;
}
