/*
 * cache_test.h - helpers the cache tests share: scratch directories, block
 * contents that can be told apart, and looking at block files on disk.
 *
 * Owns: nothing a test asserts about the cache; only the plumbing. Every
 * helper fails the calling test (cr_assert) rather than return an error.
 * Header-only (static inline): each test file is its own executable.
 */
#ifndef FX_TESTS_CACHE_TEST_H
#define FX_TESTS_CACHE_TEST_H

#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/policy.h"

/* 32 recognizable bytes: searched for in block files to see sealing work. */
#define CT_PATTERN "rustfx-plaintext-pattern-0123456"
#define CT_PATTERN_LEN 32

/* Directories ct_tmpdir made and ct_rmdir has not removed yet: a failed
 * assertion ends a test early, and ct_cleanup (each suite's .fini) removes
 * what it left. Each test runs in its own process. */
#define CT_MAX_DIRS 64
static char *ct_dirs[CT_MAX_DIRS];

static inline int ct_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* A fresh directory under /tmp (malloc'd; ct_rmdir frees it). */
static inline char *ct_tmpdir(void)
{
	char *dir = strdup("/tmp/rustfx-cache-test.XXXXXX");
	int i = 0;

	cr_assert_not_null(dir);
	cr_assert_not_null(mkdtemp(dir), "mkdtemp");
	while (i < CT_MAX_DIRS && ct_dirs[i])
		i++;
	cr_assert_lt(i, CT_MAX_DIRS, "more than %d scratch directories at once", CT_MAX_DIRS);
	ct_dirs[i] = dir;
	return dir;
}

/* rm -rf @dir, then free it. */
static inline void ct_rmdir(char *dir)
{
	for (int i = 0; i < CT_MAX_DIRS; i++)
		if (ct_dirs[i] == dir)
			ct_dirs[i] = NULL;
	nftw(dir, ct_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

/* Remove every scratch directory still there. */
static inline void ct_cleanup(void)
{
	for (int i = 0; i < CT_MAX_DIRS; i++)
		if (ct_dirs[i])
			ct_rmdir(ct_dirs[i]);
}

/* @n bytes that differ for every @seed (xorshift64*). */
static inline void ct_fill(uint8_t *buf, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 0x2545f4914f6cdd1dull;

	for (size_t i = 0; i < n; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		buf[i] = (uint8_t)((x * 0x2545f4914f6cdd1dull) >> 56);
	}
}

/* <dir>/blocks/XX/<32 hex>: where the store keeps block @id. */
static inline void ct_block_path(const char *dir, const uint8_t *id, char *out)
{
	char hex[2 * FX_BLOCK_ID_LEN + 1];

	for (int i = 0; i < FX_BLOCK_ID_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", id[i]);
	snprintf(out, PATH_MAX, "%s/blocks/%.2s/%s", dir, hex, hex);
}

/* Invert every bit of the byte at @off of @path. */
static inline void ct_flip_byte(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	unsigned char c;

	cr_assert(fd >= 0, "open %s", path);
	cr_assert_eq(pread(fd, &c, 1, off), 1, "%s has a byte at %lld", path, (long long)off);
	c ^= 0xff;
	cr_assert_eq(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static inline void ct_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert(fd >= 0, "create %s", path);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* The first @len bytes of @path into @out. */
static inline void ct_read_head(const char *path, void *out, size_t len)
{
	int fd = open(path, O_RDONLY);

	cr_assert(fd >= 0, "open %s", path);
	cr_assert_eq(pread(fd, out, len, 0), (ssize_t)len);
	close(fd);
}

/* True if @path holds the @len bytes @pat anywhere. */
static inline bool ct_file_contains(const char *path, const void *pat, size_t len)
{
	struct stat st;
	uint8_t *buf;
	bool found;

	cr_assert_eq(stat(path, &st), 0, "stat %s", path);
	buf = malloc((size_t)st.st_size + 1);
	cr_assert_not_null(buf);
	ct_read_head(path, buf, (size_t)st.st_size);
	found = memmem(buf, (size_t)st.st_size, pat, len) != NULL;
	free(buf);
	return found;
}

static uint64_t ct_walk_files, ct_walk_bytes; /* nftw has no argument: one walk at a time */

static inline int ct_walk_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (flag == FTW_F && S_ISREG(st->st_mode)) {
		ct_walk_files++;
		ct_walk_bytes += (uint64_t)st->st_size;
	}
	return 0;
}

static inline void ct_walk(const char *dir, const char *sub)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	ct_walk_files = ct_walk_bytes = 0;
	nftw(path, ct_walk_entry, 16, FTW_PHYS);
}

/* Regular files below <dir>/<sub>. */
static inline uint64_t ct_count_files(const char *dir, const char *sub)
{
	ct_walk(dir, sub);
	return ct_walk_files;
}

/* Bytes of the regular files below <dir>/<sub>. */
static inline uint64_t ct_du(const char *dir, const char *sub)
{
	ct_walk(dir, sub);
	return ct_walk_bytes;
}

#endif
