/*
 * test_policy.c - eviction policies: LRU order, S3-FIFO scan resistance and
 * ghost hits, every block evicted exactly once, and the registry.
 *
 * The tests play the store: they own the blocks, keep the byte count and
 * evict until it fits the capacity, as cache/store.c does.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/policy.h"

#define KIB 1024u

/* A store stand-in: blocks[i] is cached iff cached[i]. */
struct sim {
	struct fx_policy *p;
	struct fx_cblock *blocks;
	bool *cached;
	size_t n;
	uint64_t used, cap;
	unsigned misses;
};

static void sim_init(struct sim *s, const char *policy, size_t n, uint64_t cap)
{
	const struct fx_policy_ops *ops = fx_policy_find(policy);
	size_t i;

	cr_assert_not_null(ops, "policy %s is registered", policy);
	memset(s, 0, sizeof(*s));
	s->p = fx_policy_new(ops, &(struct fx_policy_env){.capacity = cap});
	cr_assert_not_null(s->p);
	s->blocks = calloc(n, sizeof(*s->blocks));
	s->cached = calloc(n, sizeof(*s->cached));
	cr_assert(s->blocks && s->cached);
	s->n = n;
	s->cap = cap;
	for (i = 0; i < n; i++) {
		uint64_t v = i + 1;

		memcpy(s->blocks[i].id, &v, sizeof(v));
		memcpy(s->blocks[i].id + 8, "policyid", 8);
		s->blocks[i].size = KIB;
	}
}

static void sim_fini(struct sim *s)
{
	fx_policy_free(s->p);
	free(s->blocks);
	free(s->cached);
}

static size_t sim_index(const struct sim *s, const struct fx_cblock *b)
{
	cr_assert(b >= s->blocks && b < s->blocks + s->n, "evict returned a foreign block");
	return (size_t)(b - s->blocks);
}

static void sim_evict_one(struct sim *s)
{
	struct fx_cblock *b = fx_policy_evict(s->p);
	size_t i;

	cr_assert_not_null(b, "evict returned NULL while %llu bytes are held",
			   (unsigned long long)s->used);
	i = sim_index(s, b);
	cr_assert(s->cached[i], "block %zu evicted but not held (twice?)", i);
	s->cached[i] = false;
	s->used -= b->size;
}

static void sim_insert(struct sim *s, size_t i)
{
	cr_assert(!s->cached[i]);
	s->cached[i] = true;
	s->used += s->blocks[i].size;
	fx_policy_insert(s->p, &s->blocks[i]);
	while (s->used > s->cap)
		sim_evict_one(s);
}

/* A read of block @i: a hit if cached, else a miss that fills it. */
static void sim_access(struct sim *s, size_t i)
{
	if (s->cached[i]) {
		s->blocks[i].count++;
		fx_policy_hit(s->p, &s->blocks[i]);
		return;
	}
	s->misses++;
	sim_insert(s, i);
}

static void sim_remove(struct sim *s, size_t i)
{
	cr_assert(s->cached[i]);
	fx_policy_remove(s->p, &s->blocks[i]);
	s->cached[i] = false;
	s->used -= s->blocks[i].size;
}

/* Evict everything; every held block must come back exactly once. */
static void sim_drain(struct sim *s)
{
	size_t i;

	while (s->used > 0)
		sim_evict_one(s);
	cr_assert_null(fx_policy_evict(s->p), "evict returned a block after all were evicted");
	for (i = 0; i < s->n; i++)
		cr_assert(!s->cached[i], "block %zu never evicted", i);
}

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static const char *const fx_builtin[] = { "lru", "s3fifo" };

/* ----------------------------------------------------------------- lru */

Test(lru, evicts_least_recent_after_hits, .timeout = 30)
{
	static const size_t want[] = { 2, 4, 1, 3, 0 };
	struct sim s;
	size_t i;

	sim_init(&s, "lru", 5, 100 * KIB);
	for (i = 0; i < 5; i++)
		sim_access(&s, i);
	sim_access(&s, 1);
	sim_access(&s, 3);
	sim_access(&s, 0);
	for (i = 0; i < 5; i++) {
		struct fx_cblock *b = fx_policy_evict(s.p);

		cr_assert_not_null(b);
		cr_assert_eq(sim_index(&s, b), want[i], "eviction %zu: block %zu, want %zu", i,
			     sim_index(&s, b), want[i]);
	}
	cr_assert_null(fx_policy_evict(s.p));
	sim_fini(&s);
}

Test(lru, remove_middle, .timeout = 30)
{
	struct sim s;

	sim_init(&s, "lru", 3, 100 * KIB);
	sim_access(&s, 0);
	sim_access(&s, 1);
	sim_access(&s, 2);
	sim_remove(&s, 1);
	cr_assert_eq(fx_policy_evict(s.p), &s.blocks[0]);
	cr_assert_eq(fx_policy_evict(s.p), &s.blocks[2]);
	cr_assert_null(fx_policy_evict(s.p));
	sim_fini(&s);
}

Test(lru, remove_head_and_tail, .timeout = 30)
{
	struct sim s;

	sim_init(&s, "lru", 4, 100 * KIB);
	for (size_t i = 0; i < 4; i++)
		sim_access(&s, i);
	sim_remove(&s, 0); /* tail */
	sim_remove(&s, 3); /* head */
	sim_access(&s, 1);
	cr_assert_eq(fx_policy_evict(s.p), &s.blocks[2]);
	cr_assert_eq(fx_policy_evict(s.p), &s.blocks[1]);
	cr_assert_null(fx_policy_evict(s.p));
	sim_fini(&s);
}

/* ------------------------------------------------------------ both */

Test(policy, evict_on_empty_is_null, .timeout = 30)
{
	for (size_t k = 0; k < 2; k++) {
		struct sim s;

		sim_init(&s, fx_builtin[k], 1, 100 * KIB);
		cr_assert_null(fx_policy_evict(s.p), "%s: empty", fx_builtin[k]);
		sim_access(&s, 0);
		sim_access(&s, 0);
		sim_remove(&s, 0);
		cr_assert_null(fx_policy_evict(s.p), "%s: after the only block left",
			       fx_builtin[k]);
		sim_access(&s, 0);
		cr_assert_eq(fx_policy_evict(s.p), &s.blocks[0], "%s", fx_builtin[k]);
		cr_assert_null(fx_policy_evict(s.p), "%s: after evicting all", fx_builtin[k]);
		sim_fini(&s);
	}
}

/*
 * Random sizes, reads, removes and refills against a small cap: evict never
 * returns NULL while something is held, only returns held blocks (so none
 * twice), and a final drain returns each remaining block once.
 */
Test(policy, every_block_evicted_exactly_once, .timeout = 30)
{
	for (size_t k = 0; k < 2; k++) {
		struct sim s;
		size_t i, step, n = 3000;

		sim_init(&s, fx_builtin[k], n, 64 * KIB);
		for (i = 0; i < n; i++)
			s.blocks[i].size = 1 + rng() % (4 * KIB);
		for (step = 0; step < 40000; step++) {
			/* Skewed toward low indices so that some blocks are hot. */
			size_t hi = 1 + rng() % n;

			i = rng() % hi;
			if (s.cached[i] && rng() % 16 == 0)
				sim_remove(&s, i);
			else
				sim_access(&s, i);
		}
		cr_assert_gt(s.misses, 100);
		cr_assert_lt(s.misses, 40000, "%s: some reads hit", fx_builtin[k]);
		/* Saturate every counter, then drain: S3-FIFO must rotate M to the end. */
		for (i = 0; i < n; i++)
			if (s.cached[i])
				for (int r = 0; r < 5; r++)
					sim_access(&s, i);
		sim_drain(&s);
		sim_fini(&s);
	}
}

/* Every block inserted is returned once even if it is never read. */
Test(policy, drain_without_eviction_pressure, .timeout = 30)
{
	for (size_t k = 0; k < 2; k++) {
		struct sim s;
		size_t i, n = 500;

		sim_init(&s, fx_builtin[k], n, (uint64_t)n * 8 * KIB);
		for (i = 0; i < n; i++) {
			s.blocks[i].size = 1 + rng() % (8 * KIB);
			sim_access(&s, i);
			if (i % 3 == 0)
				sim_access(&s, i);
		}
		sim_drain(&s);
		sim_fini(&s);
	}
}

/* ------------------------------------------------------------- s3fifo */

Test(s3fifo, remove_middle_keeps_fifo_order, .timeout = 30)
{
	struct sim s;
	size_t i;

	sim_init(&s, "s3fifo", 5, 100 * KIB);
	for (i = 0; i < 5; i++)
		sim_access(&s, i);
	sim_remove(&s, 2);
	cr_assert_eq(fx_policy_evict(s.p), &s.blocks[0]);
	cr_assert_eq(fx_policy_evict(s.p), &s.blocks[1]);
	cr_assert_eq(fx_policy_evict(s.p), &s.blocks[3]);
	cr_assert_eq(fx_policy_evict(s.p), &s.blocks[4]);
	cr_assert_null(fx_policy_evict(s.p));
	sim_fini(&s);
}

/* A block read again while in S goes to M instead of out. */
Test(s3fifo, read_in_small_is_kept, .timeout = 30)
{
	struct sim s;
	size_t i;

	sim_init(&s, "s3fifo", 20, 10 * KIB);
	for (i = 0; i < 10; i++)
		sim_access(&s, i);
	sim_access(&s, 0);
	sim_access(&s, 10); /* over the cap: S's tail 0 was read, so 1 goes */
	cr_assert(s.cached[0]);
	cr_assert(!s.cached[1]);
	sim_fini(&s);
}

/*
 * Five hot blocks read once per 60 one-hit-wonders, in a cache of 50 blocks.
 * LRU loses the hot set every round; S3-FIFO keeps it in M while the scan
 * passes through S.
 */
static unsigned hot_misses(const char *policy)
{
	const size_t hot = 5, scan = 60, rounds = 20;
	size_t r, i, next = hot;
	unsigned misses = 0, before;
	struct sim s;

	sim_init(&s, policy, hot + scan * rounds, 50 * KIB);
	for (i = 0; i < hot; i++) {
		sim_access(&s, i);
		sim_access(&s, i);
	}
	for (r = 0; r < rounds; r++) {
		for (i = 0; i < scan; i++)
			sim_access(&s, next++);
		before = s.misses;
		for (i = 0; i < hot; i++)
			sim_access(&s, i);
		misses += s.misses - before;
	}
	sim_fini(&s);
	return misses;
}

Test(s3fifo, scan_does_not_evict_hot_set, .timeout = 30)
{
	unsigned lru = hot_misses("lru"), s3 = hot_misses("s3fifo");

	cr_assert_eq(s3, 0, "s3fifo missed the hot set %u times", s3);
	cr_assert_eq(lru, 5 * 20, "lru kept the hot set (%u misses); the test proves nothing",
		      lru);
}

/*
 * Evicted from S and soon inserted again: G remembers it, so it goes to M and
 * outlives a whole S's worth of one-hit-wonders that would have flushed it
 * from S.
 */
Test(s3fifo, ghost_hit_goes_to_main, .timeout = 30)
{
	struct sim s;
	size_t i;

	sim_init(&s, "s3fifo", 300, 100 * KIB);
	for (i = 0; i <= 100; i++)
		sim_access(&s, i);
	cr_assert(!s.cached[0], "block 0 was S's tail and unread");
	sim_access(&s, 0);
	cr_assert(s.cached[0]);
	cr_assert_neq(s.blocks[0].queue, s.blocks[100].queue, "block 0 is not in S with 100");
	for (i = 101; i < 251; i++)
		sim_access(&s, i);
	cr_assert(s.cached[0], "block 0 was flushed with S");
	for (i = 1; i <= 100; i++)
		cr_assert(!s.cached[i], "block %zu of S outlived 150 newer ones", i);
	sim_fini(&s);
}

/* G remembers the most recently evicted ids through heavy churn. */
Test(s3fifo, ghost_remembers_recent_ids, .timeout = 30)
{
	struct sim s;
	size_t i;

	sim_init(&s, "s3fifo", 1100, 100 * KIB);
	for (i = 0; i < 1000; i++)
		sim_access(&s, i);
	for (i = 0; i < 900; i++)
		cr_assert(!s.cached[i]);
	for (i = 850; i < 900; i++) {
		sim_access(&s, i);
		cr_assert_neq(s.blocks[i].queue, s.blocks[999].queue,
			      "block %zu was evicted %zu evictions ago and went to S", i, 899 - i);
	}
	sim_fini(&s);
}

/*
 * An id G remembers twice (evicted from S, back via M, removed as stale,
 * refilled into S and evicted again) is still remembered when its older
 * record ages out. Blocks of 256 KiB make G about as long as M (900 ids).
 */
Test(s3fifo, ghost_keeps_newer_record, .timeout = 30)
{
	const uint32_t bs = 256 * KIB;
	const size_t x = 3999;
	size_t i, next = 0;
	struct sim s;

	sim_init(&s, "s3fifo", 4000, 1000ull * bs);
	for (i = 0; i < s.n; i++)
		s.blocks[i].size = bs;
	/* M: 900 read blocks; S: its 100-block share. */
	for (; next < 1000; next++)
		sim_access(&s, next);
	for (i = 0; i < 900; i++)
		sim_access(&s, i);
	sim_access(&s, next++);
	/* x through S into G, back into M, out as stale, again through S into G. */
	sim_access(&s, x);
	for (i = 0; i < 100; i++)
		sim_access(&s, next++);
	cr_assert(!s.cached[x]);
	sim_access(&s, x);
	cr_assert_neq(s.blocks[x].queue, s.blocks[next - 1].queue, "ghost hit went to S");
	sim_remove(&s, x);
	sim_access(&s, x);
	cr_assert_eq(s.blocks[x].queue, s.blocks[next - 1].queue, "a used-up ghost hit again");
	for (i = 0; i < 101; i++)
		sim_access(&s, next++);
	cr_assert(!s.cached[x]);
	/* The first record ages out after ~795 more evictions, the second after ~900. */
	for (i = 0; i < 850; i++)
		sim_access(&s, next++);
	sim_access(&s, x);
	cr_assert_neq(s.blocks[x].queue, s.blocks[next - 1].queue,
		      "x went to S: the old record's expiry dropped the new one");
	sim_fini(&s);
}

/* G is bounded: an id evicted long ago (many evictions since) is forgotten. */
Test(s3fifo, ghost_forgets_old_ids, .timeout = 30)
{
	struct sim s;
	size_t i, n = 2000;

	sim_init(&s, "s3fifo", n, 100 * KIB);
	for (i = 0; i <= 100; i++)
		sim_access(&s, i);
	cr_assert(!s.cached[0]);
	for (i = 101; i < n - 1; i++)
		sim_access(&s, i);
	sim_access(&s, 0);
	cr_assert_eq(s.blocks[0].queue, s.blocks[n - 2].queue,
		     "block 0 went to M though G should have forgotten it");
	sim_fini(&s);
}

/*
 * S gives up blocks only while over its share; then M goes, FIFO with lazy
 * promotion: a block read while in M is rotated back once, an unread one goes.
 */
Test(s3fifo, main_rotates_read_blocks, .timeout = 30)
{
	static const size_t want[] = { 30, 31, 32, 33, 34, 35, 36, 37, 5, 6,
				       7,  8,  9,  0,  1,  2,  3,  4,  38, 39 };
	struct sim s;
	size_t i;

	/* Cap 20 blocks, S's share 2. Fill, read 0..9, and push them into M. */
	sim_init(&s, "s3fifo", 40, 20 * KIB);
	for (i = 0; i < 20; i++)
		sim_access(&s, i);
	for (i = 0; i < 10; i++)
		sim_access(&s, i);
	for (i = 20; i < 40; i++)
		sim_access(&s, i);
	for (i = 0; i < 40; i++)
		cr_assert_eq(s.cached[i], i < 10 || i >= 30, "block %zu", i);
	/* M holds 0..9 (oldest first) with counters reset; S holds 30..39. */
	for (i = 0; i < 5; i++)
		sim_access(&s, i);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct fx_cblock *b = fx_policy_evict(s.p);

		cr_assert_not_null(b);
		cr_assert_eq(sim_index(&s, b), want[i], "eviction %zu: block %zu, want %zu", i,
			     sim_index(&s, b), want[i]);
	}
	cr_assert_null(fx_policy_evict(s.p));
	sim_fini(&s);
}

/* ------------------------------------------------------------- registry */

static const struct fx_policy_ops *fx_lru(void)
{
	return fx_policy_find("lru");
}

Test(registry, builtins_present, .timeout = 30)
{
	const struct fx_policy_ops *lru = fx_policy_find("lru");
	const struct fx_policy_ops *s3 = fx_policy_find("s3fifo");

	cr_assert_not_null(lru);
	cr_assert_not_null(s3);
	cr_assert_neq(lru, s3);
	cr_assert_str_eq(lru->name, "lru");
	cr_assert_str_eq(s3->name, "s3fifo");
	cr_assert_null(fx_policy_find("nope"));
	cr_assert_null(fx_policy_find(""));
	cr_assert_null(fx_policy_find(NULL));
	cr_assert_null(fx_policy_find("LRU"), "names are exact");
	cr_assert_not_null(strstr(fx_policy_names(), "lru"));
	cr_assert_not_null(strstr(fx_policy_names(), "s3fifo"));
}

Test(registry, register_duplicate_and_full, .timeout = 30)
{
	struct fx_policy_ops dup = *fx_lru();
	static struct fx_policy_ops extra[16];
	static char names[16][16];
	struct fx_policy *p;
	int ret = 0;
	size_t i;

	cr_assert_eq(fx_policy_register(&dup), -EEXIST);
	dup.name = "s3fifo";
	cr_assert_eq(fx_policy_register(&dup), -EEXIST);
	dup.name = NULL;
	cr_assert_eq(fx_policy_register(&dup), -EINVAL);
	cr_assert_eq(fx_policy_register(NULL), -EINVAL);

	for (i = 0; i < 16; i++) {
		extra[i] = *fx_lru();
		snprintf(names[i], sizeof(names[i]), "test%zu", i);
		extra[i].name = names[i];
	}
	cr_assert_eq(fx_policy_register(&extra[0]), 0);
	cr_assert_eq(fx_policy_find("test0"), &extra[0]);
	cr_assert_eq(fx_policy_register(&extra[0]), -EEXIST);
	cr_assert_not_null(strstr(fx_policy_names(), "lru"));
	cr_assert_not_null(strstr(fx_policy_names(), "s3fifo"));
	cr_assert_not_null(strstr(fx_policy_names(), "test0"), "names: %s", fx_policy_names());

	p = fx_policy_new(fx_policy_find("test0"), &(struct fx_policy_env){.capacity = 10 * KIB});
	cr_assert_not_null(p);
	cr_assert_str_eq(fx_policy_name(p), "test0");
	fx_policy_tick(p, 1000); /* no tick method: a no-op */
	fx_policy_free(p);
	fx_policy_free(NULL);

	for (i = 1; i < 16 && ret == 0; i++)
		ret = fx_policy_register(&extra[i]);
	cr_assert_eq(ret, -ENOSPC, "a fixed registry fills up");
	cr_assert_not_null(fx_policy_find("lru"));
	cr_assert_not_null(fx_policy_find("test0"));
}
