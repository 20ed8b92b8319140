/*
 * test_reader.c - the read path over a real store and the mem:// backend:
 * right bytes for any range, one backend GET per block however many readers
 * wait for it, background prefetch and sequential readahead filling the
 * cache, -ESTALE (never mixed bytes) for an object changed in the bucket,
 * a tiny memory budget, and injected backend faults.
 *
 * The backend's call counters (fx_backend_calls) tell how many GETs a read
 * cost; blocks are 64K so objects of a few blocks stay small.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "backends/backend.h"
#include "cache/reader.h"
#include "cache/store.h"
#include "tests/unit/cache/cache_test.h"

#define BS FX_STORE_BLOCK_MIN /* block size of every rig: 64K */

TestSuite(reader, .fini = ct_cleanup);

/* A backend with one object, a store and a reader over them. */
struct rig {
	char *dir;
	struct fx_backend *b;
	struct fx_store *s;
	struct fx_reader *r;
	uint8_t *data; /* the object's current bytes */
	char etag[FX_ETAG_MAX];
	struct fx_object_ref obj;
};

struct rig_opts {
	uint64_t size;          /* of the object "obj" */
	unsigned workers;       /* 0: not started (readers fetch inline) */
	uint64_t memory_limit;  /* 0: 64 blocks */
	uint64_t readahead_max; /* 0: off */
	unsigned idle_ms;       /* 0: the reader's default */
};

/* Put @size bytes from @seed as "obj"; the rig's data and etag follow. */
static void rig_put(struct rig *g, uint64_t size, uint64_t seed)
{
	struct fx_object_info info = { 0 };
	int fd = memfd_create("object", MFD_CLOEXEC);

	cr_assert(fd >= 0);
	free(g->data);
	g->data = malloc(size ? size : 1);
	cr_assert_not_null(g->data);
	ct_fill(g->data, size, seed);
	cr_assert_eq(write(fd, g->data, size), (ssize_t)size);
	cr_assert_eq(fx_backend_put(g->b, "obj", fd, size, NULL, &info), 0);
	close(fd);
	snprintf(g->etag, sizeof(g->etag), "%s", info.etag);
	fx_object_info_clear(&info);
	g->obj = (struct fx_object_ref){ .key = "obj", .version = g->etag, .size = size };
}

static void rig_open(struct rig *g, const struct rig_opts *o)
{
	struct fx_store_opts so = { .capacity = 64ull << 20, .block_size = BS };
	struct fx_reader_opts ro = { .workers = o->workers ? o->workers : 4,
				     .memory_limit = o->memory_limit ? o->memory_limit : 64 * BS,
				     .readahead_max = o->readahead_max,
				     .idle_ms = o->idle_ms };
	struct fx_diag d = { 0 };

	memset(g, 0, sizeof(*g));
	g->dir = ct_tmpdir();
	so.dir = g->dir;
	cr_assert_eq(fx_backend_open("mem://", &g->b, &d), 0, "open mem://: %s", d.msg);
	cr_assert_eq(fx_store_open(&so, &g->s, &d), 0, "open store: %s", d.msg);
	ro.backend = g->b;
	ro.store = g->s;
	cr_assert_eq(fx_reader_new(&ro, &g->r), 0);
	if (o->workers)
		cr_assert_eq(fx_reader_start(g->r), 0);
	rig_put(g, o->size, 1);
}

static void rig_close(struct rig *g)
{
	fx_reader_free(g->r);
	fx_store_close(g->s);
	fx_backend_close(g->b);
	free(g->data);
	ct_rmdir(g->dir);
}

static uint64_t gets(const struct rig *g)
{
	return fx_backend_calls(g->b, FX_OP_GET);
}

static uint64_t nblocks(const struct rig *g)
{
	return (g->obj.size + BS - 1) / BS;
}

static bool cached(const struct rig *g, const char *version, uint64_t index)
{
	uint8_t id[FX_BLOCK_ID_LEN];

	fx_store_block_id(g->s, fx_backend_url(g->b), "obj", version, index, id);
	return fx_store_has(g->s, id);
}

/* Wait up to 5 s for blocks [first, first + n) of the current version to be cached. */
static bool wait_cached(const struct rig *g, uint64_t first, uint64_t n)
{
	for (int tries = 0; tries < 500; tries++) {
		uint64_t i = first;

		while (i < first + n && cached(g, g->etag, i))
			i++;
		if (i == first + n)
			return true;
		usleep(10000);
	}
	return false;
}

/* Read @len at @off of the current version and compare with the object. */
static void expect_read(struct rig *g, uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len ? len : 1);
	size_t want = off >= g->obj.size ? 0 : len < g->obj.size - off ? len : g->obj.size - off;
	ssize_t n;

	cr_assert_not_null(buf);
	n = fx_reader_read(g->r, &g->obj, off, buf, len);
	cr_assert_eq(n, (ssize_t)want, "read %llu+%zu: %zd (%s)", (unsigned long long)off, len, n,
		     n < 0 ? fx_strerror((int)n) : "short");
	cr_assert_eq(memcmp(buf, g->data + off, want), 0, "bytes of %llu+%zu",
		     (unsigned long long)off, len);
	free(buf);
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* ---------------------------------------------------------------- reads */

static void random_reads(struct rig *g, unsigned count)
{
	uint64_t x = 88172645463325252ull;

	for (unsigned i = 0; i < count; i++) {
		uint64_t off = rnd(&x) % (g->obj.size + BS);
		size_t len = (size_t)(rnd(&x) % (3 * BS)) + 1;

		expect_read(g, off, len);
	}
}

Test(reader, random_ranges_right_bytes, .timeout = 60)
{
	struct rig g;
	struct rig_opts o = { .size = 10 * BS + 1234, .workers = 4 };
	uint64_t before;

	rig_open(&g, &o);
	random_reads(&g, 300);
	expect_read(&g, 0, g.obj.size); /* all of it in one read */
	expect_read(&g, g.obj.size - 1, 100);
	cr_assert_eq(gets(&g), nblocks(&g), "each block fetched once: %llu GETs",
		      (unsigned long long)gets(&g));
	for (uint64_t i = 0; i < nblocks(&g); i++)
		cr_assert(cached(&g, g.etag, i), "block %llu is cached", (unsigned long long)i);
	before = gets(&g);
	random_reads(&g, 100);
	cr_assert_eq(gets(&g), before, "reads of cached blocks cost no GET");
	rig_close(&g);
}

Test(reader, without_workers_readers_fetch_inline, .timeout = 60)
{
	struct rig g;
	struct rig_opts o = { .size = 5 * BS + 7 };

	rig_open(&g, &o);
	random_reads(&g, 100);
	expect_read(&g, 0, g.obj.size);
	cr_assert_eq(gets(&g), nblocks(&g));
	rig_close(&g);
}

Test(reader, empty_and_past_end, .timeout = 30)
{
	struct rig g;
	struct rig_opts o = { .size = BS + 10, .workers = 2 };
	uint8_t buf[16];

	rig_open(&g, &o);
	cr_assert_eq(fx_reader_read(g.r, &g.obj, g.obj.size, buf, sizeof(buf)), 0);
	cr_assert_eq(fx_reader_read(g.r, &g.obj, 0, buf, 0), 0);
	cr_assert_eq(gets(&g), 0, "nothing to read, nothing fetched");
	rig_close(&g);
}

/* ------------------------------------------------------------ coalescing */

struct reader_thread {
	struct rig *g;
	pthread_barrier_t *go;
	uint64_t off;
	size_t len;
	ssize_t n;
	bool same;
};

static void *read_range(void *arg)
{
	struct reader_thread *t = arg;
	uint8_t *buf = malloc(t->len);

	if (!buf)
		return NULL;
	if (t->go)
		pthread_barrier_wait(t->go);
	t->n = fx_reader_read(t->g->r, &t->g->obj, t->off, buf, t->len);
	t->same = t->n == (ssize_t)t->len && !memcmp(buf, t->g->data + t->off, t->len);
	free(buf);
	return NULL;
}

/* @threads readers of [off, off + len) each, started together; all must succeed. */
static void read_together(struct rig *g, unsigned threads, uint64_t off, size_t len, bool stagger)
{
	struct reader_thread *t = calloc(threads, sizeof(*t));
	pthread_t *th = calloc(threads, sizeof(*th));
	struct timespec deadline;
	pthread_barrier_t go;

	cr_assert(t && th);
	pthread_barrier_init(&go, NULL, threads);
	for (unsigned i = 0; i < threads; i++) {
		/* Staggered: each reader starts at another block of the range. */
		uint64_t shift = stagger ? (i * BS) % len : 0;

		t[i] = (struct reader_thread){ .g = g, .go = &go, .off = off + shift,
					       .len = len - shift };
		cr_assert_eq(pthread_create(&th[i], NULL, read_range, &t[i]), 0);
	}
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 10;
	for (unsigned i = 0; i < threads; i++) {
		/* A hang fails here, not at the test's timeout: the threads stay
		 * stuck, and the test's process ends with them. */
		cr_assert_eq(pthread_timedjoin_np(th[i], NULL, &deadline), 0,
			     "reader %u still waits after 10 s: the readers hang", i);
		cr_assert(t[i].same, "reader %u got %zd bytes (%s)", i, t[i].n,
			  t[i].n < 0 ? fx_strerror((int)t[i].n) : "compared");
	}
	pthread_barrier_destroy(&go);
	free(t);
	free(th);
}

Test(reader, concurrent_readers_one_get_per_block, .timeout = 120)
{
	enum { ROUNDS = 30, THREADS = 8 };

	for (int round = 0; round < ROUNDS; round++) {
		struct rig g;
		struct rig_opts o = { .size = 6 * BS, .workers = 4 };
		struct fx_reader_stats rs;

		rig_open(&g, &o);
		read_together(&g, THREADS, 0, g.obj.size, round % 2);
		fx_reader_stats(g.r, &rs);
		cr_assert_eq(gets(&g), nblocks(&g),
			     "round %d: %llu GETs for %llu blocks (%llu coalesced)", round,
			     (unsigned long long)gets(&g), (unsigned long long)nblocks(&g),
			     (unsigned long long)rs.coalesced);
		rig_close(&g);
	}
}

/* ------------------------------------------------------ prefetch, readahead */

Test(reader, prefetch_fills_the_cache, .timeout = 60)
{
	struct rig g;
	struct rig_opts o = { .size = 8 * BS + 100, .workers = 4 };
	struct fx_reader_stats rs;

	rig_open(&g, &o);
	cr_assert_eq(fx_reader_prefetch(g.r, &g.obj, 2, 100, FX_FETCH_PREDICTED), 7,
		     "blocks 2..8 queued (none past the end)");
	cr_assert(wait_cached(&g, 2, 7), "prefetched blocks arrive in the cache");
	cr_assert_not(cached(&g, g.etag, 0), "block 0 was not asked for");
	fx_reader_stats(g.r, &rs);
	cr_assert_eq(rs.fetched_bytes, 6 * BS + 100, "blocks 2..8 fetched once");
	cr_assert_leq(gets(&g), 7, "following blocks may share a GET");
	cr_assert_eq(fx_reader_prefetch(g.r, &g.obj, 0, 9, FX_FETCH_PREDICTED), 2,
		     "cached blocks are skipped");
	cr_assert(wait_cached(&g, 0, 9));
	expect_read(&g, 0, g.obj.size);
	fx_reader_stats(g.r, &rs);
	cr_assert_eq(rs.fetched_bytes, g.obj.size,
		     "the read was served from the prefetched blocks");
	cr_assert_eq(rs.predicted_blocks, 9);
	rig_close(&g);
}

/* A fetched block stays in memory until each of its bytes was read once:
 * the reads take it from there (a flipped byte in its file goes unseen),
 * count as cache hits, and give its memory back; later reads check the
 * file. */
Test(reader, fetched_blocks_are_read_from_memory_once, .timeout = 60)
{
	struct rig g;
	/* Held blocks go after an idle second by default: a stall that long
	 * on a busy machine would send the reads to the block files. */
	struct rig_opts o = { .size = 8 * BS, .workers = 4, .idle_ms = 600000 };
	struct fx_reader_stats rs;
	struct fx_store_stats ss;
	uint8_t id[FX_BLOCK_ID_LEN];
	char path[4096];

	rig_open(&g, &o);
	cr_assert_eq(fx_reader_prefetch(g.r, &g.obj, 0, 8, FX_FETCH_READAHEAD), 8);
	cr_assert(wait_cached(&g, 0, 8), "the prefetched blocks are stored");
	for (uint64_t i = 0; i < 8; i++) {
		fx_store_block_id(g.s, fx_backend_url(g.b), "obj", g.etag, i, id);
		ct_block_path(g.dir, id, path);
		ct_flip_byte(path, 4096 + 100); /* in the block's first chunk */
	}
	fx_reader_stats(g.r, &rs);
	cr_assert_eq(rs.memory_used, 8 * BS, "the 8 blocks are held in memory");
	expect_read(&g, 0, BS / 2);
	expect_read(&g, BS / 2, 8 * BS - BS / 2);
	fx_store_stats(g.s, &ss);
	cr_assert_eq(ss.corrupt, 0, "no read went to the block files");
	cr_assert_eq(ss.hits, 9, "each read of a held block is a cache hit");
	cr_assert_eq(ss.prefetch_used, 8);
	fx_reader_stats(g.r, &rs);
	cr_assert_eq(rs.memory_used, 0, "read once, the blocks left memory");
	expect_read(&g, 0, BS);
	fx_store_stats(g.s, &ss);
	cr_assert_eq(ss.corrupt, 1, "the next read checked the file and fetched the block again");
	rig_close(&g);
}

Test(reader, sequential_readahead_runs_ahead, .timeout = 60)
{
	struct rig g;
	struct rig_opts o = { .size = 32 * BS, .workers = 4, .readahead_max = 8 * BS };
	struct fx_readahead ra;
	struct fx_reader_stats rs;

	rig_open(&g, &o);
	fx_readahead_init(&ra);
	for (uint64_t i = 0; i < 2; i++) {
		expect_read(&g, i * BS, BS);
		fx_readahead_note(g.r, &ra, &g.obj, i * BS, BS);
	}
	cr_assert(wait_cached(&g, 2, 4), "blocks 2..5 arrive before they are read");
	for (uint64_t i = 2; i < 24; i++) {
		cr_assert(wait_cached(&g, i, 1), "block %llu was read ahead",
			  (unsigned long long)i);
		expect_read(&g, i * BS, BS);
		fx_readahead_note(g.r, &ra, &g.obj, i * BS, BS);
	}
	fx_reader_stats(g.r, &rs);
	cr_assert_geq(rs.readahead_blocks, 22);
	cr_assert_leq(gets(&g), nblocks(&g), "readahead fetched no block twice");
	fx_readahead_destroy(&ra);
	rig_close(&g);
}

Test(reader, random_reads_do_not_read_ahead, .timeout = 60)
{
	struct rig g;
	struct rig_opts o = { .size = 64 * BS, .workers = 4, .readahead_max = 8 * BS };
	static const uint64_t blocks[] = { 40, 3, 60, 20, 51, 9, 33 };
	struct fx_readahead ra;
	struct fx_reader_stats rs;

	rig_open(&g, &o);
	fx_readahead_init(&ra);
	for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++) {
		expect_read(&g, blocks[i] * BS, 4096);
		fx_readahead_note(g.r, &ra, &g.obj, blocks[i] * BS, 4096);
	}
	fx_reader_stats(g.r, &rs);
	cr_assert_eq(rs.readahead_blocks, 0, "seeks reset the window");
	cr_assert_eq(gets(&g), sizeof(blocks) / sizeof(blocks[0]));
	fx_readahead_destroy(&ra);
	rig_close(&g);
}

Test(reader, dense_random_reads_fetch_the_neighbourhood, .timeout = 60)
{
	struct rig g;
	struct rig_opts o = { .size = 16 * BS, .workers = 4, .readahead_max = 8 * BS };
	/* 8 seeks are half of 16 blocks: the 8th fetches its group, here the
	 * whole object (16 MiB of 64K blocks is more than 16 of them). */
	static const uint64_t blocks[] = { 10, 3, 14, 6, 12, 1, 8, 4 };
	struct fx_readahead ra;
	struct fx_reader_stats rs;

	rig_open(&g, &o);
	fx_readahead_init(&ra);
	for (size_t i = 0; i < 7; i++) {
		expect_read(&g, blocks[i] * BS, 4096);
		fx_readahead_note(g.r, &ra, &g.obj, blocks[i] * BS, 4096);
	}
	fx_reader_stats(g.r, &rs);
	cr_assert_eq(rs.readahead_blocks, 0, "7 seeks in 16 blocks are sparse");
	expect_read(&g, blocks[7] * BS, 4096);
	fx_readahead_note(g.r, &ra, &g.obj, blocks[7] * BS, 4096);
	fx_reader_stats(g.r, &rs);
	cr_assert_eq(rs.readahead_blocks, 16 - 8, "the blocks not read yet are prefetched");
	cr_assert(wait_cached(&g, 0, 16), "the whole object is cached");
	/* The 8 blocks read split the rest into 8 runs, a GET each at most. */
	cr_assert_leq(gets(&g), 8 + 8, "%llu GETs: one per run of missing blocks",
		      (unsigned long long)gets(&g));
	fx_readahead_destroy(&ra);
	rig_close(&g);
}

/* ------------------------------------------------------- changed objects */

Test(reader, changed_object_is_estale, .timeout = 60)
{
	struct rig g;
	struct rig_opts o = { .size = 4 * BS, .workers = 2 };
	char old_etag[FX_ETAG_MAX];
	struct fx_object_ref old;
	uint8_t *buf = malloc(4 * BS);

	cr_assert_not_null(buf);
	rig_open(&g, &o);
	expect_read(&g, 0, BS); /* block 0 of the first version is cached */
	snprintf(old_etag, sizeof(old_etag), "%s", g.etag);
	old = (struct fx_object_ref){ .key = "obj", .version = old_etag, .size = g.obj.size };

	rig_put(&g, 4 * BS, 2); /* same size, new bytes */
	cr_assert_str_neq(old_etag, g.etag);
	cr_assert_eq(fx_reader_read(g.r, &old, BS / 2, buf, 2 * BS), -ESTALE,
		     "a read spanning a cached block and a changed one fails whole");
	cr_assert_eq(fx_reader_read(g.r, &old, 3 * BS, buf, BS), -ESTALE);
	cr_assert_not(cached(&g, old_etag, 1), "no new bytes cached as the old version");
	cr_assert_not(cached(&g, old_etag, 3));
	expect_read(&g, 0, g.obj.size); /* the new version: all new bytes */

	rig_put(&g, BS + 5, 3); /* shorter */
	cr_assert_eq(fx_reader_read(g.r, &old, 2 * BS, buf, BS), -ESTALE,
		     "an old version longer than the object is stale too");
	expect_read(&g, 0, g.obj.size);
	free(buf);
	rig_close(&g);
}

/* ---------------------------------------------------------- memory budget */

static void expect_memory_bounded(struct rig *g)
{
	struct fx_reader_stats rs;

	/* A block is stored after its readers got it: its buffer goes back
	 * when the worker has written it, a moment after the read returned. */
	for (int i = 0; i < 500; i++) {
		fx_reader_stats(g->r, &rs);
		if (rs.memory_used == 0)
			break;
		usleep(10000);
	}
	cr_assert_leq(rs.memory_peak, BS, "fetch buffers peaked at %llu",
		      (unsigned long long)rs.memory_peak);
	cr_assert_eq(rs.memory_used, 0, "every buffer given back within 5 s");
}

Test(reader, tiny_memory_limit_still_reads, .timeout = 30)
{
	struct rig g;
	struct rig_opts o = { .size = 12 * BS + 3, .workers = 4, .memory_limit = 1 };
	struct fx_reader_stats rs;

	rig_open(&g, &o);
	fx_reader_stats(g.r, &rs);
	cr_assert_eq(rs.memory_limit, BS, "a budget under one block is raised to one block");
	expect_read(&g, 0, g.obj.size);
	cr_assert_eq(fx_reader_prefetch(g.r, &g.obj, 0, 12, FX_FETCH_PREDICTED), 0,
		     "no room for prefetch in a one-block budget");
	rig_put(&g, 12 * BS + 3, 4); /* uncached again: a fresh version */
	random_reads(&g, 50);
	expect_memory_bounded(&g);
	rig_close(&g);
}

/* Readers whose ranges overlap but start at different blocks, with room
 * for one fetch buffer: a finished block one reader is not yet waiting for
 * must not hold the budget that the block it waits for needs. */
Test(reader, tiny_memory_limit_overlapping_readers, .timeout = 60)
{
	struct rig g;
	struct rig_opts o = { .size = 12 * BS, .workers = 4, .memory_limit = 1 };

	rig_open(&g, &o);
	for (int round = 0; round < 5; round++) {
		rig_put(&g, 12 * BS, 10 + (uint64_t)round);
		read_together(&g, 6, 0, g.obj.size, true);
	}
	expect_memory_bounded(&g);
	rig_close(&g);
}

/* ----------------------------------------------------------- backend faults */

Test(reader, injected_fault_is_an_error_never_wrong_bytes, .timeout = 60)
{
	struct rig g;
	struct rig_opts o = { .size = 3 * BS, .workers = 2 };
	struct fx_reader_stats rs;
	uint8_t *buf = malloc(3 * BS);

	cr_assert_not_null(buf);
	rig_open(&g, &o);
	fx_backend_inject_fault(g.b, FX_OP_GET, -EIO, 1);
	cr_assert_eq(fx_reader_read(g.r, &g.obj, 0, buf, BS), -EIO);
	cr_assert_not(cached(&g, g.etag, 0), "a failed fetch caches nothing");
	expect_read(&g, 0, BS); /* the fault is spent: fetched again */

	fx_backend_inject_fault(g.b, FX_OP_GET, -ETIMEDOUT, 1);
	cr_assert_eq(fx_reader_read(g.r, &g.obj, 0, buf, 3 * BS), -ETIMEDOUT,
		     "one failed block fails the whole read");
	expect_read(&g, 0, 3 * BS);

	fx_backend_inject_fault(g.b, FX_OP_GET, -EIO, 1000);
	cr_assert_eq(fx_reader_read(g.r, &g.obj, 0, buf, 3 * BS), 3 * BS,
		     "cached blocks need no backend");
	fx_backend_inject_fault(g.b, FX_OP_GET, 0, 0);
	fx_reader_stats(g.r, &rs);
	cr_assert_eq(rs.fetch_errors, 2);
	free(buf);
	rig_close(&g);
}

Test(reader, following_prefetched_blocks_share_one_get, .timeout = 60)
{
	struct rig g;
	struct rig_opts o = { .size = 9 * BS + 7 }; /* workers not started yet */
	struct fx_reader_stats rs;

	rig_open(&g, &o);
	cr_assert_eq(fx_reader_prefetch(g.r, &g.obj, 0, 10, FX_FETCH_READAHEAD), 10);
	cr_assert_eq(gets(&g), 0, "queued, not fetched: no worker runs yet");
	cr_assert_eq(fx_reader_start(g.r), 0);
	cr_assert(wait_cached(&g, 0, 10), "every block arrives in the cache");
	cr_assert_eq(gets(&g), 1, "ten following blocks came with one ranged GET, not %llu",
		     (unsigned long long)gets(&g));
	fx_reader_stats(g.r, &rs);
	cr_assert_eq(rs.fetched_bytes, g.obj.size);
	expect_read(&g, 0, g.obj.size);
	cr_assert_eq(gets(&g), 1, "and each block reads back right from the cache");
	rig_close(&g);
}
