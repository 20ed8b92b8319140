/*
 * test_store.c - the persistent block store on real temporary directories:
 * round trips, verified reads that drop corrupt blocks, sealing, the hard
 * size cap under concurrent inserts, persistence and the repair done at
 * open, object versions, the `rustfx cache` entry points (verify, clear),
 * and the block file's header layout.
 *
 * Blocks are 64K or 256K here so every test stays fast; a block id is
 * computed by the store itself (fx_store_block_id) as the reader does.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/store.h"
#include "tests/unit/cache/cache_test.h"

#define URL "mem://store-test"
#define HEADER_LEN 80u /* struct fx_block_header on disk */
#define BLOCK FX_STORE_BLOCK_MIN /* the smallest block size */

TestSuite(store, .fini = ct_cleanup);

static uint32_t chunks_of(uint32_t size)
{
	return (size + FX_STORE_CHUNK - 1) / FX_STORE_CHUNK;
}

/* Where the first chunk of a block of @size bytes starts in its file: after
 * the header and a checksum per chunk, at the next multiple of 4096. */
static uint64_t data_off(uint32_t size)
{
	return (HEADER_LEN + 8ull * chunks_of(size) + 4095) / 4096 * 4096;
}

/* Bytes of a block file holding @size plain bytes, unsealed. */
static uint64_t file_len(uint32_t size)
{
	return data_off(size) + size;
}

static struct fx_store *open_store(const char *dir, uint64_t capacity, uint32_t block_size,
				   const unsigned char *key)
{
	struct fx_store_opts o = { .dir = dir, .capacity = capacity, .block_size = block_size,
				   .key = key };
	struct fx_store *s = NULL;
	struct fx_diag d = { 0 };
	int ret = fx_store_open(&o, &s, &d);

	cr_assert_eq(ret, 0, "open store in %s: %s (%s)", dir, d.msg, fx_strerror(ret));
	return s;
}

/* Id of block @index of the test object "obj" at @version. */
static void block_id(const struct fx_store *s, const char *version, uint64_t index, uint8_t *id)
{
	fx_store_block_id(s, URL, "obj", version, index, id);
}

/* Insert @n blocks 0..n-1 of "obj" at "v1", each @size bytes from @seed + index. */
static void insert_blocks(struct fx_store *s, unsigned n, uint32_t size, uint64_t seed)
{
	uint8_t *data = malloc(size), id[FX_BLOCK_ID_LEN];

	cr_assert_not_null(data);
	for (unsigned i = 0; i < n; i++) {
		ct_fill(data, size, seed + i);
		block_id(s, "v1", i, id);
		cr_assert_eq(fx_store_insert(s, id, data, size, 0), 0, "insert block %u", i);
	}
	free(data);
}

/* Block @index of "obj" at "v1" reads back whole as inserted by insert_blocks. */
static void expect_block(struct fx_store *s, unsigned index, uint32_t size, uint64_t seed)
{
	uint8_t *want = malloc(size), *got = malloc(size), id[FX_BLOCK_ID_LEN];

	cr_assert(want && got);
	ct_fill(want, size, seed + index);
	block_id(s, "v1", index, id);
	cr_assert_eq(fx_store_read(s, id, 0, got, size), (ssize_t)size, "read block %u", index);
	cr_assert_eq(memcmp(want, got, size), 0, "block %u has the bytes inserted", index);
	free(want);
	free(got);
}

static void expect_missing(struct fx_store *s, unsigned index)
{
	uint8_t id[FX_BLOCK_ID_LEN], byte;

	block_id(s, "v1", index, id);
	cr_assert_not(fx_store_has(s, id), "block %u is not cached", index);
	cr_assert_eq(fx_store_read(s, id, 0, &byte, 1), -ENOENT, "block %u reads as a miss", index);
}

static void path_of(const struct fx_store *s, const char *dir, unsigned index, char *out)
{
	uint8_t id[FX_BLOCK_ID_LEN];

	block_id(s, "v1", index, id);
	ct_block_path(dir, id, out);
}

/* A new store (1M cap) holding @n blocks of @size bytes from @seed, closed
 * again; @path (may be NULL) gets the file of block @index.
 * @return its directory (ct_rmdir frees it). */
static char *make_store(uint32_t block_size, const unsigned char *key, unsigned n, uint32_t size,
			uint64_t seed, unsigned index, char *path)
{
	char *dir = ct_tmpdir();
	struct fx_store *s = open_store(dir, 1 << 20, block_size, key);

	insert_blocks(s, n, size, seed);
	if (path)
		path_of(s, dir, index, path);
	fx_store_close(s);
	return dir;
}

static struct fx_store_stats stats_of(struct fx_store *s)
{
	struct fx_store_stats st;

	fx_store_stats(s, &st);
	return st;
}

/* Reopen the store in @dir with these settings: it holds @blocks blocks,
 * as many files on disk, and none over @capacity bytes. */
static void expect_reopened(const char *dir, uint64_t capacity, uint32_t block_size,
			    const unsigned char *key, uint64_t blocks)
{
	struct fx_store *s = open_store(dir, capacity, block_size, key);

	cr_assert_eq(stats_of(s).blocks, blocks, "%llu blocks after reopening",
		     (unsigned long long)stats_of(s).blocks);
	cr_assert_leq(stats_of(s).bytes, capacity);
	cr_assert_eq(ct_count_files(dir, "blocks"), blocks, "as many block files");
	fx_store_close(s);
}

/* ------------------------------------------------------------ round trip */

Test(store, round_trip_partial_ranges, .timeout = 30)
{
	char *dir = ct_tmpdir();
	struct fx_store *s = open_store(dir, 64 << 20, 256 * 1024, NULL);
	const uint32_t full = 256 * 1024, last = 100000; /* short: not a chunk multiple */
	static const struct { uint32_t off, len; } ranges[] = {
		{ 0, 1 },
		{ FX_STORE_CHUNK - 6, 20 }, /* across the first chunk boundary */
		{ 2 * FX_STORE_CHUNK - 1, 2 },
		{ FX_STORE_CHUNK + 1, 3 * FX_STORE_CHUNK }, /* across three */
		{ 65530, 20 }, { 65536, 65536 }, { 100, 200000 }, { 131071, 2 },
		{ 196600, 65536 }, { 0, 262144 },
	};
	uint8_t *want = malloc(full), *got = malloc(full), id[FX_BLOCK_ID_LEN];

	cr_assert(want && got);
	cr_assert_eq(fx_store_block_size(s), full);
	insert_blocks(s, 1, full, 1);
	ct_fill(want, full, 1);
	block_id(s, "v1", 0, id);
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		memset(got, 0xee, full);
		cr_assert_eq(fx_store_read(s, id, ranges[i].off, got, ranges[i].len),
			     (ssize_t)ranges[i].len, "read %u+%u", ranges[i].off, ranges[i].len);
		cr_assert_eq(memcmp(got, want + ranges[i].off, ranges[i].len), 0,
			     "bytes of %u+%u", ranges[i].off, ranges[i].len);
	}

	/* The short last block: reads are cut at its end. */
	ct_fill(want, last, 2);
	block_id(s, "v1", 1, id);
	cr_assert_eq(fx_store_insert(s, id, want, last, 0), 0);
	cr_assert_eq(fx_store_read(s, id, 65000, got, full), (ssize_t)(last - 65000));
	cr_assert_eq(memcmp(got, want + 65000, last - 65000), 0);
	cr_assert_eq(fx_store_read(s, id, last, got, 10), 0, "at the end: 0 bytes");
	cr_assert_eq(fx_store_read(s, id, last - 1, got, 10), 1);
	cr_assert_eq(got[0], want[last - 1]);

	/* Inserting again is a no-op; a block larger than block_size is refused. */
	cr_assert_eq(fx_store_insert(s, id, want, last, 0), 0);
	cr_assert_eq(fx_store_insert(s, id, want, full + 1, 0), -EINVAL);
	cr_assert_eq(stats_of(s).blocks, 2);
	cr_assert_eq(stats_of(s).bytes, file_len(full) + file_len(last));
	free(want);
	free(got);
	fx_store_close(s);
	ct_rmdir(dir);
}

Test(store, miss_is_enoent, .timeout = 30)
{
	char *dir = ct_tmpdir();
	struct fx_store *s = open_store(dir, 1 << 20, BLOCK, NULL);
	uint8_t byte;

	insert_blocks(s, 1, 100, 1);
	expect_missing(s, 1);
	cr_assert_eq(stats_of(s).misses, 1);
	/* Another version of the same block index is another block. */
	{
		uint8_t id[FX_BLOCK_ID_LEN];

		block_id(s, "v2", 0, id);
		cr_assert_eq(fx_store_read(s, id, 0, &byte, 1), -ENOENT);
	}
	fx_store_close(s);
	ct_rmdir(dir);
}

/* ------------------------------------------------------------ corruption */

Test(store, flipped_byte_is_ebadmsg_and_dropped, .timeout = 30)
{
	char *dir = ct_tmpdir(), path[PATH_MAX];
	struct fx_store *s = open_store(dir, 1 << 20, 128 * 1024, NULL);
	uint8_t id[FX_BLOCK_ID_LEN], buf[16];

	insert_blocks(s, 2, 128 * 1024, 7);
	path_of(s, dir, 0, path);
	/* In the second chunk: a read of the first chunk alone does not see it. */
	ct_flip_byte(path, data_off(128 * 1024) + FX_STORE_CHUNK + 1234);
	block_id(s, "v1", 0, id);
	cr_assert_eq(fx_store_read(s, id, 0, buf, sizeof(buf)), (ssize_t)sizeof(buf),
		     "only the chunks read are checked");
	cr_assert_eq(fx_store_read(s, id, FX_STORE_CHUNK + 1000, buf, sizeof(buf)), -EBADMSG);
	cr_assert_eq(stats_of(s).corrupt, 1);
	cr_assert_not(fx_store_has(s, id), "a corrupt block is dropped");
	cr_assert_eq(access(path, F_OK), -1, "its file is gone");
	cr_assert_eq(fx_store_read(s, id, 0, buf, sizeof(buf)), -ENOENT, "then it is a miss");
	expect_block(s, 1, 128 * 1024, 7);
	cr_assert_eq(stats_of(s).blocks, 1);
	cr_assert_eq(stats_of(s).bytes, file_len(128 * 1024));
	fx_store_close(s);
	ct_rmdir(dir);
}

Test(store, broken_header_is_ebadmsg, .timeout = 30)
{
	char *dir = ct_tmpdir(), path[PATH_MAX];
	struct fx_store *s = open_store(dir, 1 << 20, BLOCK, NULL);
	uint8_t id[FX_BLOCK_ID_LEN], buf[16];

	insert_blocks(s, 2, 1000, 3);
	path_of(s, dir, 0, path);
	ct_flip_byte(path, 32); /* the size field */
	block_id(s, "v1", 0, id);
	cr_assert_eq(fx_store_read(s, id, 0, buf, sizeof(buf)), -EBADMSG);
	path_of(s, dir, 1, path);
	ct_flip_byte(path, HEADER_LEN + 2); /* the checksum table */
	block_id(s, "v1", 1, id);
	cr_assert_eq(fx_store_read(s, id, 0, buf, sizeof(buf)), -EBADMSG);
	cr_assert_eq(stats_of(s).corrupt, 2);
	cr_assert_eq(stats_of(s).blocks, 0);
	fx_store_close(s);
	ct_rmdir(dir);
}

/* --------------------------------------------------------------- sealing */

/* A block of @size bytes: the 32-byte pattern over and over. */
static uint8_t *pattern_block(size_t size)
{
	uint8_t *data = malloc(size);

	cr_assert_not_null(data);
	for (size_t i = 0; i < size; i++)
		data[i] = (uint8_t)CT_PATTERN[i % CT_PATTERN_LEN];
	return data;
}

Test(store, sealed_round_trip_hides_plaintext, .timeout = 30)
{
	char *dir = ct_tmpdir(), *plain_dir = ct_tmpdir(), path[PATH_MAX];
	unsigned char key[FX_STORE_KEY_LEN];
	const size_t size = 150000;
	uint8_t *data = pattern_block(size), *got = malloc(size), id[FX_BLOCK_ID_LEN];
	struct fx_store *s;

	cr_assert_not_null(got);
	memset(key, 0x5a, sizeof(key));

	/* Control: an unsealed block holds the pattern, so the search can fail. */
	s = open_store(plain_dir, 1 << 20, 256 * 1024, NULL);
	block_id(s, "v1", 0, id);
	cr_assert_eq(fx_store_insert(s, id, data, size, 0), 0);
	ct_block_path(plain_dir, id, path);
	cr_assert(ct_file_contains(path, CT_PATTERN, CT_PATTERN_LEN));
	fx_store_close(s);

	s = open_store(dir, 1 << 20, 256 * 1024, key);
	block_id(s, "v1", 0, id);
	cr_assert_eq(fx_store_insert(s, id, data, size, 0), 0);
	cr_assert_eq(fx_store_read(s, id, 0, got, size), (ssize_t)size);
	cr_assert_eq(memcmp(got, data, size), 0, "sealed round trip");
	cr_assert_eq(fx_store_read(s, id, 70000, got, 1000), 1000);
	cr_assert_eq(memcmp(got, data + 70000, 1000), 0, "sealed partial read");
	ct_block_path(dir, id, path);
	cr_assert_not(ct_file_contains(path, CT_PATTERN, CT_PATTERN_LEN),
		      "a sealed block file does not hold the plaintext");
	cr_assert_not(ct_file_contains(path, CT_PATTERN, 8), "not even 8 bytes of it");

	/* Tampering is caught. */
	ct_flip_byte(path, data_off((uint32_t)size) + 500); /* in chunk 0 */
	cr_assert_eq(fx_store_read(s, id, 0, got, 100), -EBADMSG);
	cr_assert_eq(stats_of(s).corrupt, 1);
	cr_assert_not(fx_store_has(s, id));
	free(data);
	free(got);
	fx_store_close(s);
	ct_rmdir(dir);
	ct_rmdir(plain_dir);
}

Test(store, another_key_empties_the_store, .timeout = 30)
{
	char *dir = ct_tmpdir(), path[PATH_MAX];
	unsigned char key[FX_STORE_KEY_LEN], other[FX_STORE_KEY_LEN];
	struct fx_store *s;

	memset(key, 1, sizeof(key));
	memset(other, 2, sizeof(other));
	s = open_store(dir, 1 << 20, BLOCK, key);
	insert_blocks(s, 3, 5000, 11);
	path_of(s, dir, 0, path);
	fx_store_close(s);

	s = open_store(dir, 1 << 20, BLOCK, key);
	expect_block(s, 2, 5000, 11); /* the same key: kept */
	fx_store_close(s);

	expect_reopened(dir, 1 << 20, BLOCK, other, 0); /* another key: emptied */
	cr_assert_eq(access(path, F_OK), -1);

	s = open_store(dir, 1 << 20, BLOCK, NULL);
	insert_blocks(s, 1, 5000, 11);
	fx_store_close(s);
	/* Unsealed blocks are not taken by a sealed store. */
	expect_reopened(dir, 1 << 20, BLOCK, key, 0);
	ct_rmdir(dir);
}

/* ---------------------------------------------------------- the hard cap */

struct cap_run {
	struct fx_store *s;
	unsigned first, n;
	int errors;
};

struct cap_sampler {
	struct fx_store *s;
	volatile bool stop;
	uint64_t max_bytes, samples;
};

static void *cap_inserter(void *arg)
{
	struct cap_run *r = arg;
	uint8_t *data = malloc(BLOCK), id[FX_BLOCK_ID_LEN];

	if (!data)
		return NULL;
	for (unsigned i = r->first; i < r->first + r->n; i++) {
		int err;

		ct_fill(data, BLOCK, i);
		block_id(r->s, "v1", i, id);
		err = fx_store_insert(r->s, id, data, BLOCK, 0);
		if (err && err != -ENOSPC)
			r->errors++;
	}
	free(data);
	return NULL;
}

static void *cap_sample(void *arg)
{
	struct cap_sampler *c = arg;

	while (!c->stop) {
		struct fx_store_stats st;

		fx_store_stats(c->s, &st);
		if (st.bytes > c->max_bytes)
			c->max_bytes = st.bytes;
		c->samples++;
		usleep(200);
	}
	return NULL;
}

Test(store, hard_cap_under_concurrent_inserts, .timeout = 60)
{
	enum { THREADS = 8, PER_THREAD = 13 };
	char *dir = ct_tmpdir();
	const uint64_t fsize = file_len(BLOCK), cap = 10 * fsize;
	struct fx_store *s = open_store(dir, cap, BLOCK, NULL);
	struct cap_run runs[THREADS];
	struct cap_sampler c = { .s = s };
	pthread_t th[THREADS], sampler;
	struct fx_store_stats st;
	unsigned held = 0;

	cr_assert_eq(pthread_create(&sampler, NULL, cap_sample, &c), 0);
	for (int t = 0; t < THREADS; t++) {
		runs[t] = (struct cap_run){ .s = s, .first = (unsigned)t * PER_THREAD,
					    .n = PER_THREAD };
		cr_assert_eq(pthread_create(&th[t], NULL, cap_inserter, &runs[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(th[t], NULL);
		cr_assert_eq(runs[t].errors, 0, "inserter %d: no error but -ENOSPC", t);
	}
	c.stop = true;
	pthread_join(sampler, NULL);

	st = stats_of(s);
	cr_assert_gt(c.samples, 0);
	cr_assert_leq(c.max_bytes, cap + THREADS * fsize, "bytes peaked at %llu, cap %llu",
		      (unsigned long long)c.max_bytes, (unsigned long long)cap);
	cr_assert_leq(st.bytes, cap, "bytes %llu end under the cap %llu",
		      (unsigned long long)st.bytes, (unsigned long long)cap);
	cr_assert_eq(st.inserts, THREADS * PER_THREAD, "every insert made room by evicting");
	cr_assert_eq(st.evictions, st.inserts - st.blocks);
	cr_assert_eq(st.blocks, 10);
	/* What the store counts is what is on disk. */
	cr_assert_eq(ct_count_files(dir, "blocks"), st.blocks);
	cr_assert_eq(ct_du(dir, "blocks"), st.bytes);
	cr_assert_eq(ct_count_files(dir, "tmp"), 0, "no temporary file left behind");
	for (unsigned i = 0; i < THREADS * PER_THREAD; i++) {
		uint8_t id[FX_BLOCK_ID_LEN];

		block_id(s, "v1", i, id);
		if (fx_store_has(s, id)) {
			expect_block(s, i, BLOCK, 0);
			held++;
		}
	}
	cr_assert_eq(held, st.blocks);
	fx_store_close(s);
	ct_rmdir(dir);
}

Test(store, lower_cap_at_reopen_evicts, .timeout = 30)
{
	char *dir = make_store(BLOCK, NULL, 20, 4096, 0, 0, NULL);
	const uint64_t fsize = file_len(4096);

	expect_reopened(dir, 5 * fsize, BLOCK, NULL, 5);
	ct_rmdir(dir);
}

/* ------------------------------------------------------ persistence, repair */

Test(store, blocks_survive_reopen, .timeout = 30)
{
	char *dir = ct_tmpdir();
	struct fx_store *s = open_store(dir, 1 << 20, BLOCK, NULL);

	cr_assert_eq(fx_store_start(s), 0);
	insert_blocks(s, 4, 30000, 5);
	fx_store_close(s);
	s = open_store(dir, 1 << 20, BLOCK, NULL);
	cr_assert_eq(stats_of(s).blocks, 4);
	cr_assert_eq(stats_of(s).adopted, 0, "the index knew them all");
	cr_assert_eq(stats_of(s).dropped, 0);
	for (unsigned i = 0; i < 4; i++)
		expect_block(s, i, 30000, 5);
	fx_store_close(s);
	ct_rmdir(dir);
}

/* Empty the "blocks" table of the index, as a crash before the flusher
 * committed leaves it: the files are there, the index knows none. */
static void forget_index_entries(const char *dir)
{
	char path[PATH_MAX];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;

	snprintf(path, sizeof(path), "%s/index.mdb", dir);
	cr_assert_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 4);
	cr_assert_eq(mdb_env_open(env, path, MDB_NOSUBDIR, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "blocks", 0, &dbi), 0);
	cr_assert_eq(mdb_drop(txn, dbi, 0), 0);
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

Test(store, orphans_adopted_after_lost_entries, .timeout = 30)
{
	char *dir = make_store(BLOCK, NULL, 5, 20000, 9, 0, NULL);
	struct fx_store *s;

	forget_index_entries(dir);
	s = open_store(dir, 1 << 20, BLOCK, NULL);
	cr_assert_eq(stats_of(s).adopted, 5);
	cr_assert_eq(stats_of(s).blocks, 5);
	cr_assert_eq(stats_of(s).bytes, 5 * file_len(20000));
	for (unsigned i = 0; i < 5; i++)
		expect_block(s, i, 20000, 9);
	fx_store_close(s);
	/* Adopted blocks were written back to the index. */
	s = open_store(dir, 1 << 20, BLOCK, NULL);
	cr_assert_eq(stats_of(s).adopted, 0);
	cr_assert_eq(stats_of(s).blocks, 5);
	fx_store_close(s);
	ct_rmdir(dir);
}

/* Blocks are written at their final name, without a temporary: a daemon
 * killed in the middle leaves a short file the index never learnt of. */
Test(store, half_written_block_removed_at_open, .timeout = 30)
{
	char half[PATH_MAX];
	char *dir = make_store(BLOCK, NULL, 4, 20000, 5, 1, half);
	struct fx_store *s;
	struct stat st;

	forget_index_entries(dir);
	cr_assert_eq(truncate(half, 20000 / 2), 0);
	s = open_store(dir, 1 << 20, BLOCK, NULL);
	cr_assert_eq(stats_of(s).adopted, 3);
	cr_assert_eq(stats_of(s).blocks, 3);
	cr_assert(stat(half, &st) < 0 && errno == ENOENT, "the half-written file is removed");
	expect_block(s, 0, 20000, 5);
	expect_block(s, 2, 20000, 5);
	expect_block(s, 3, 20000, 5);
	fx_store_close(s);
	ct_rmdir(dir);
}

Test(store, orphans_adopted_after_lost_index, .timeout = 30)
{
	char *dir = make_store(BLOCK, NULL, 5, 20000, 9, 0, NULL), path[PATH_MAX];
	struct fx_store *s;

	snprintf(path, sizeof(path), "%s/index.mdb", dir);
	cr_assert_eq(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/index.mdb-lock", dir);
	unlink(path);
	s = open_store(dir, 1 << 20, BLOCK, NULL);
	cr_assert_eq(stats_of(s).adopted, 5, "adopted %llu of 5 block files",
		     (unsigned long long)stats_of(s).adopted);
	for (unsigned i = 0; i < 5; i++)
		expect_block(s, i, 20000, 9);
	fx_store_close(s);
	ct_rmdir(dir);
}

Test(store, repair_at_open, .timeout = 30)
{
	char gone[PATH_MAX], junk[PATH_MAX], tmp[PATH_MAX], sub[PATH_MAX];
	char *dir = make_store(BLOCK, NULL, 4, 10000, 21, 2, gone);
	struct fx_store *s;

	cr_assert_eq(unlink(gone), 0, "an index entry whose file is deleted");
	snprintf(sub, sizeof(sub), "%s/blocks/ab", dir);
	mkdir(sub, 0700);
	snprintf(junk, sizeof(junk), "%s/blocks/ab/junk", dir);
	ct_write_file(junk, "not a block", 11);
	snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
	mkdir(tmp, 0700); /* as older versions left it */
	snprintf(tmp, sizeof(tmp), "%s/tmp/123.4", dir);
	ct_write_file(tmp, "half a block", 12);

	s = open_store(dir, 1 << 20, BLOCK, NULL);
	cr_assert_eq(stats_of(s).blocks, 3);
	cr_assert_eq(stats_of(s).dropped, 2, "the entry and the junk file: %llu",
		     (unsigned long long)stats_of(s).dropped);
	cr_assert_eq(stats_of(s).bytes, 3 * file_len(10000));
	expect_missing(s, 2);
	expect_block(s, 0, 10000, 21);
	expect_block(s, 1, 10000, 21);
	expect_block(s, 3, 10000, 21);
	cr_assert_eq(access(junk, F_OK), -1, "the junk file in blocks/ab is removed");
	cr_assert_eq(access(tmp, F_OK), -1, "the leftover in tmp/ is removed");
	*strrchr(tmp, '/') = '\0';
	cr_assert_eq(access(tmp, F_OK), -1, "and tmp/ itself: blocks are written in place");
	fx_store_close(s);

	s = open_store(dir, 1 << 20, BLOCK, NULL);
	cr_assert_eq(stats_of(s).dropped, 0, "the repair was written back");
	fx_store_close(s);
	ct_rmdir(dir);
}

Test(store, second_open_is_busy, .timeout = 30)
{
	char *dir = ct_tmpdir();
	struct fx_store *s = open_store(dir, 1 << 20, BLOCK, NULL), *s2 = NULL;
	struct fx_store_opts o = { .dir = dir, .capacity = 1 << 20, .block_size = BLOCK };
	struct fx_store_report r;
	struct fx_diag d = { 0 };
	int fd = -1;

	cr_assert_eq(fx_store_open(&o, &s2, &d), -EBUSY);
	cr_assert_null(s2);
	cr_assert_neq(d.hint[0], '\0', "a busy store comes with a hint");
	memset(&d, 0, sizeof(d));
	cr_assert_eq(fx_store_verify(dir, &r, &d), -EBUSY);
	memset(&d, 0, sizeof(d));
	cr_assert_eq(fx_store_clear(dir, &d), -EBUSY);
	memset(&d, 0, sizeof(d));
	cr_assert_eq(fx_store_lock(dir, &fd, &d), -EBUSY, "fx_store_lock of an open store");
	cr_assert_eq(fd, -1, "no lock handed out when busy");
	cr_assert_neq(d.msg[0], '\0');
	fx_store_close(s);
	/* Free again once closed; a lock taken with fx_store_lock keeps a mount out. */
	cr_assert_eq(fx_store_lock(dir, &fd, NULL), 0);
	memset(&d, 0, sizeof(d));
	cr_assert_eq(fx_store_open(&o, &s2, &d), -EBUSY);
	fx_store_unlock(fd);
	fx_store_unlock(-1); /* a no-op */
	s = open_store(dir, 1 << 20, BLOCK, NULL);
	fx_store_close(s);
	ct_rmdir(dir);
}

Test(store, bad_block_size_refused, .timeout = 30)
{
	char *dir = ct_tmpdir();
	struct fx_store_opts o = { .dir = dir, .capacity = 1 << 20, .block_size = 100 * 1024 };
	struct fx_store *s = NULL;
	struct fx_diag d = { 0 };

	cr_assert_eq(fx_store_open(&o, &s, &d), -FX_EBADOPT);
	cr_assert_neq(d.hint[0], '\0');
	ct_rmdir(dir);
}

Test(store, block_size_change_empties, .timeout = 30)
{
	char *dir = make_store(BLOCK, NULL, 3, 1000, 0, 0, NULL);

	expect_reopened(dir, 1 << 20, 2 * BLOCK, NULL, 0);
	ct_rmdir(dir);
}

/* --------------------------------------------------------- object versions */

Test(store, object_version_drops_older_blocks, .timeout = 30)
{
	char *dir = ct_tmpdir();
	struct fx_store *s = open_store(dir, 1 << 20, BLOCK, NULL);
	const uint64_t size = 3 * BLOCK + 100; /* 4 blocks */
	uint8_t id[FX_BLOCK_ID_LEN];

	cr_assert_eq(fx_store_object_version(s, URL, "obj", "v1", size), 0);
	insert_blocks(s, 4, 1000, 0);
	/* Another object's blocks stay. */
	fx_store_block_id(s, URL, "other", "v1", 0, id);
	cr_assert_eq(fx_store_insert(s, id, "x", 1, 0), 0);

	cr_assert_eq(fx_store_object_version(s, URL, "obj", "v1", size), 0);
	cr_assert_eq(stats_of(s).blocks, 5, "the same version keeps its blocks");
	fx_store_close(s);

	/* The record persists: a reopened store still knows "v1". */
	s = open_store(dir, 1 << 20, BLOCK, NULL);
	cr_assert_eq(fx_store_object_version(s, URL, "obj", "v2", size), 0);
	for (unsigned i = 0; i < 4; i++)
		expect_missing(s, i);
	cr_assert_eq(stats_of(s).stale, 4);
	cr_assert(fx_store_has(s, id), "another object's block stays");
	cr_assert_eq(ct_count_files(dir, "blocks"), 1);

	/* Back to "v1" (the size changed too): nothing of v2 was cached. */
	cr_assert_eq(fx_store_object_version(s, URL, "obj", "v1", 10), 0);
	cr_assert_eq(stats_of(s).blocks, 1);
	fx_store_close(s);
	ct_rmdir(dir);
}

/* -------------------------------------------------------------- the tools */

/* fx_store_verify of @dir succeeds, leaving @blocks and having found @corrupt. */
static struct fx_store_report verify(const char *dir, uint64_t blocks, uint64_t corrupt)
{
	struct fx_store_report r;
	struct fx_diag d = { 0 };

	cr_assert_eq(fx_store_verify(dir, &r, &d), 0, "verify: %s", d.msg);
	cr_assert_eq(r.blocks, blocks, "verify left %llu blocks", (unsigned long long)r.blocks);
	cr_assert_eq(r.corrupt, corrupt, "verify found %llu corrupt",
		     (unsigned long long)r.corrupt);
	return r;
}

Test(store, verify_reports_and_drops_corrupt, .timeout = 30)
{
	char path[PATH_MAX], *dir = make_store(BLOCK, NULL, 4, 40000, 31, 1, path);
	struct fx_store *s;
	struct fx_store_report r = verify(dir, 4, 0);

	cr_assert_eq(r.bytes, 4 * file_len(40000));
	ct_flip_byte(path, data_off(40000) + 39999);
	r = verify(dir, 3, 1);
	cr_assert_eq(r.bytes, 3 * file_len(40000));
	cr_assert_eq(access(path, F_OK), -1, "the corrupt block's file is gone");
	r = verify(dir, 3, 0); /* verifying repaired the store */
	cr_assert_eq(r.dropped, 0);

	s = open_store(dir, 1 << 20, BLOCK, NULL);
	expect_missing(s, 1);
	expect_block(s, 3, 40000, 31);
	fx_store_close(s);
	ct_rmdir(dir);
}

Test(store, verify_sealed_without_key, .timeout = 30)
{
	unsigned char key[FX_STORE_KEY_LEN] = { 9, 9, 9 };
	char path[PATH_MAX], *dir = make_store(BLOCK, key, 3, 3000, 1, 0, path);
	struct fx_store *s;

	verify(dir, 3, 0);
	ct_flip_byte(path, data_off(3000) + 100);
	verify(dir, 2, 1);
	/* Verifying without the key left the store usable with it. */
	s = open_store(dir, 1 << 20, BLOCK, key);
	cr_assert_eq(stats_of(s).blocks, 2);
	expect_block(s, 2, 3000, 1);
	fx_store_close(s);
	ct_rmdir(dir);
}

Test(store, verify_of_no_store_fails, .timeout = 30)
{
	char *dir = ct_tmpdir();
	struct fx_store_report r;
	struct fx_diag d = { 0 };

	cr_assert_lt(fx_store_verify(dir, &r, &d), 0, "an empty directory is not a store");
	cr_assert_neq(d.msg[0], '\0');
	ct_rmdir(dir);
}

Test(store, clear_keeps_staging, .timeout = 30)
{
	char path[PATH_MAX], staged[PATH_MAX];
	char *dir = make_store(BLOCK, NULL, 3, 1000, 0, 0, NULL);
	struct fx_store *s;
	struct fx_diag d = { 0 };

	snprintf(path, sizeof(path), "%s/staging", dir);
	cr_assert_eq(mkdir(path, 0700), 0);
	snprintf(staged, sizeof(staged), "%s/staging/stage-1", dir);
	ct_write_file(staged, "unuploaded", 10);

	cr_assert_eq(fx_store_clear(dir, &d), 0, "clear: %s", d.msg);
	cr_assert_eq(ct_count_files(dir, "blocks"), 0);
	snprintf(path, sizeof(path), "%s/index.mdb", dir);
	cr_assert_eq(access(path, F_OK), -1, "the index is gone");
	cr_assert_eq(access(staged, F_OK), 0, "staged writes are left alone");

	s = open_store(dir, 1 << 20, BLOCK, NULL);
	cr_assert_eq(stats_of(s).blocks, 0);
	insert_blocks(s, 1, 1000, 0); /* blocks/XX went with clear */
	expect_block(s, 0, 1000, 0);
	fx_store_close(s);
	ct_rmdir(dir);
}

/* ---------------------------------------------------------------- format */

Test(store, block_file_header_layout, .timeout = 30)
{
	char *dir = ct_tmpdir(), path[PATH_MAX];
	struct fx_store *s = open_store(dir, 1 << 20, 2 * BLOCK, NULL);
	uint8_t head[2][HEADER_LEN], id[2][FX_BLOCK_ID_LEN];
	const uint32_t size = FX_STORE_CHUNK + 10;

	insert_blocks(s, 2, size, 0);
	for (unsigned i = 0; i < 2; i++) {
		uint16_t version;
		uint32_t v32;
		struct stat st;

		block_id(s, "v1", i, id[i]);
		ct_block_path(dir, id[i], path);
		ct_read_head(path, head[i], HEADER_LEN);
		cr_assert_eq(memcmp(head[i], "RFXB", 4), 0, "magic");
		memcpy(&version, head[i] + 4, 2);
		cr_assert_eq(version, 2, "format version 2");
		cr_assert_eq(memcmp(head[i] + 16, id[i], FX_BLOCK_ID_LEN), 0, "the block id at 16");
		memcpy(&v32, head[i] + 32, 4);
		cr_assert_eq(v32, size, "plain size at 32");
		memcpy(&v32, head[i] + 36, 4);
		/* Pinned: a change of the chunk size changes every block file. */
		cr_assert_eq(v32, 16 * 1024, "chunk size 16K at 36");
		cr_assert_eq(stat(path, &st), 0);
		cr_assert_eq((uint64_t)st.st_size, 4096 + size,
			     "header, a checksum per chunk, zeros to 4096, the bytes");
		/* The path is blocks/<first byte>/<id hex>. */
		cr_assert_not_null(strstr(path, "/blocks/"));
	}
	cr_assert_eq(memcmp(head[0] + 8, head[1] + 8, 8), 0, "one seed per store, at 8");
	{
		uint64_t seed;

		memcpy(&seed, head[0] + 8, 8);
		cr_assert_neq(seed, 0, "the seed is random, not zero");
	}
	fx_store_close(s);
	ct_rmdir(dir);
}

/* ------------------------------------------------- one block, many writers */

struct same_block {
	struct fx_store *s;
	pthread_barrier_t *go;
	const uint8_t *data;
	int err;
};

static void *insert_same(void *arg)
{
	struct same_block *a = arg;
	uint8_t id[FX_BLOCK_ID_LEN];

	block_id(a->s, "v1", 0, id);
	pthread_barrier_wait(a->go);
	a->err = fx_store_insert(a->s, id, a->data, BLOCK, 0);
	return NULL;
}

/* Eight inserts of one block at once into a new store (sealed with @key if
 * given); then the block must read back clean. */
static void insert_together(const unsigned char *key, const uint8_t *data, int round)
{
	enum { THREADS = 8 };
	char *dir = ct_tmpdir();
	struct fx_store *s = open_store(dir, 1 << 20, BLOCK, key);
	struct same_block args[THREADS];
	pthread_barrier_t go;
	pthread_t th[THREADS];

	pthread_barrier_init(&go, NULL, THREADS);
	for (int t = 0; t < THREADS; t++) {
		args[t] = (struct same_block){ .s = s, .go = &go, .data = data };
		cr_assert_eq(pthread_create(&th[t], NULL, insert_same, &args[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(th[t], NULL);
		cr_assert_eq(args[t].err, 0);
	}
	pthread_barrier_destroy(&go);
	cr_assert_eq(stats_of(s).blocks, 1);
	cr_assert_eq(stats_of(s).bytes, file_len(BLOCK) + (key ? 16 * chunks_of(BLOCK) : 0),
		     "one file counted once (a Poly1305 tag per chunk when sealed)");
	expect_block(s, 0, BLOCK, 0);
	cr_assert_eq(stats_of(s).corrupt, 0, "%s, round %d: the block read back clean",
		     key ? "sealed" : "unsealed", round);
	fx_store_close(s);
	ct_rmdir(dir);
}

/* Two fetches of one block may finish together (a reader that missed just
 * before the other's insert): the block must stay readable, sealed too. */
Test(store, concurrent_inserts_of_one_block, .timeout = 60)
{
	unsigned char key[FX_STORE_KEY_LEN];
	uint8_t *data = malloc(BLOCK);

	cr_assert_not_null(data);
	memset(key, 3, sizeof(key));
	ct_fill(data, BLOCK, 0);
	for (int round = 0; round < 20; round++)
		insert_together(NULL, data, round);
	for (int round = 0; round < 20; round++)
		insert_together(key, data, round);
	free(data);
}
