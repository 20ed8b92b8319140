/*
 * test_policy_snn.c - the learned "snn" eviction policy: it learns to beat
 * LRU where LRU is hopeless (a loop longer than the cache), stays close to
 * LRU where nothing can be learned (uniform random reads), trains a shared
 * scorer under its lock, asks for predicted activity, and hands back every
 * block exactly once.
 *
 * The harness plays the store: it owns the blocks, counts bytes, evicts
 * until the insert fits, and calls tick every 256 accesses.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cache/policy.h"
#include "neural/mlp.h"

#define BLK 4096u

struct harness {
	struct fx_policy *p;
	struct fx_cblock *b;
	bool *held;
	size_t n;
	uint64_t used, cap, accesses, misses;
};

static void h_open(struct harness *h, const char *policy, size_t n, size_t cap_blocks,
		   const struct fx_policy_env *env_in)
{
	struct fx_policy_env env = {0};

	if (env_in)
		env = *env_in;
	env.capacity = cap_blocks * BLK;
	memset(h, 0, sizeof(*h));
	h->p = fx_policy_new(fx_policy_find(policy), &env);
	cr_assert_not_null(h->p, "policy %s opens", policy);
	h->b = calloc(n, sizeof(*h->b));
	h->held = calloc(n, sizeof(*h->held));
	cr_assert(h->b && h->held);
	h->n = n;
	h->cap = env.capacity;
	for (size_t i = 0; i < n; i++) {
		uint64_t k = (i + 1) * 0x9e3779b97f4a7c15ULL;

		memcpy(h->b[i].id, &k, sizeof(k));
		memcpy(h->b[i].id + 8, &i, sizeof(i));
		h->b[i].size = BLK;
		h->b[i].obj = 7;
		h->b[i].index = i;
	}
}

static void h_close(struct harness *h)
{
	fx_policy_free(h->p);
	free(h->b);
	free(h->held);
}

static void h_read(struct harness *h, size_t i)
{
	h->accesses++;
	if (h->held[i]) {
		h->b[i].count++;
		fx_policy_hit(h->p, &h->b[i]);
	} else {
		h->misses++;
		while (h->used + BLK > h->cap) {
			struct fx_cblock *v = fx_policy_evict(h->p);
			size_t j;

			cr_assert_not_null(v, "nothing to evict with %llu bytes held",
					   (unsigned long long)h->used);
			j = (size_t)(v - h->b);
			cr_assert(j < h->n && h->held[j], "evicted block %zu was not held", j);
			h->held[j] = false;
			h->used -= BLK;
		}
		h->b[i].count = 1;
		h->held[i] = true;
		h->used += BLK;
		fx_policy_insert(h->p, &h->b[i]);
	}
	if (h->accesses % 256 == 0)
		fx_policy_tick(h->p, h->accesses);
}

/* Misses of @policy over @passes loops through @n blocks with a cache of @cap. */
static uint64_t loop_misses(const char *policy, size_t n, size_t cap, int passes)
{
	struct harness h;
	uint64_t m;

	h_open(&h, policy, n, cap, NULL);
	for (int p = 0; p < passes; p++)
		for (size_t i = 0; i < n; i++)
			h_read(&h, i);
	m = h.misses;
	h_close(&h);
	return m;
}

Test(snn_policy, registered)
{
	cr_assert_not_null(fx_policy_find("snn"));
	cr_assert_not_null(strstr(fx_policy_names(), "snn"));
}

Test(snn_policy, learns_a_loop_longer_than_the_cache, .timeout = 60)
{
	/* LRU misses every read of a loop 1.5x the cache; the optimum keeps
	 * two thirds of it. The learned policy must get a good part of that. */
	uint64_t lru = loop_misses("lru", 1500, 1000, 40);
	uint64_t snn = loop_misses("snn", 1500, 1000, 40);

	cr_assert_eq(lru, 1500 * 40, "LRU misses every read of the loop (%llu)",
		     (unsigned long long)lru);
	cr_assert_lt(snn, lru * 7 / 10, "snn missed %llu of %llu reads, LRU %llu",
		     (unsigned long long)snn, 1500ull * 40, (unsigned long long)lru);
}

Test(snn_policy, close_to_lru_on_uniform_random_reads, .timeout = 60)
{
	/* Nothing to learn: every block is as likely as any other. */
	struct harness a, b;
	uint64_t rng = 1;

	h_open(&a, "lru", 4000, 1000, NULL);
	h_open(&b, "snn", 4000, 1000, NULL);
	for (int i = 0; i < 200000; i++) {
		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		h_read(&a, (rng >> 33) % 4000);
		h_read(&b, (rng >> 33) % 4000);
	}
	cr_assert_lt(b.misses, a.misses * 103 / 100, "snn %llu misses, LRU %llu",
		     (unsigned long long)b.misses, (unsigned long long)a.misses);
	h_close(&a);
	h_close(&b);
}

static unsigned activity_calls;

static float fake_activity(void *arg, const struct fx_cblock *blk)
{
	(void)arg;
	cr_assert_eq(blk->obj, 7, "the block's origin reaches the callback");
	activity_calls++;
	return 0.5f;
}

Test(snn_policy, trains_the_shared_scorer_and_asks_for_activity, .timeout = 60)
{
	const unsigned shape[] = {8, 12, 1};
	struct fx_mlp *mlp = fx_mlp_new(shape, 3, 1);
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct fx_policy_env env = {.activity = fake_activity, .mlp = mlp, .mlp_lock = &lock};
	size_t np = fx_mlp_param_count(mlp);
	float *before = malloc(np * sizeof(float));
	struct harness h;
	bool changed = false;

	cr_assert(mlp && before);
	memcpy(before, fx_mlp_params(mlp), np * sizeof(float));
	h_open(&h, "snn", 1500, 1000, &env);
	for (int p = 0; p < 20; p++)
		for (size_t i = 0; i < 1500; i++)
			h_read(&h, i);
	for (size_t i = 0; i < np; i++)
		changed |= before[i] != fx_mlp_params(mlp)[i];
	cr_assert(changed, "ticks trained the scorer the policy was given");
	cr_assert_gt(activity_calls, 0, "features include the predicted activity");
	cr_assert_eq(pthread_mutex_trylock(&lock), 0, "the scorer's lock is free between calls");
	pthread_mutex_unlock(&lock);
	h_close(&h); /* the policy does not free a scorer it was given */
	cr_assert_eq(fx_mlp_param_count(mlp), np);
	fx_mlp_free(mlp);
	free(before);
}

Test(snn_policy, every_block_back_once_and_removals, .timeout = 60)
{
	struct harness h;
	size_t held = 0, got = 0;

	h_open(&h, "snn", 300, 100, NULL);
	for (int p = 0; p < 5; p++)
		for (size_t i = 0; i < 300; i += 1 + p)
			h_read(&h, i);
	for (size_t i = 0; i < 300; i += 7)
		if (h.held[i]) {
			fx_policy_remove(h.p, &h.b[i]);
			h.held[i] = false;
			h.used -= BLK;
		}
	for (size_t i = 0; i < 300; i++)
		held += h.held[i];
	for (struct fx_cblock *v; (v = fx_policy_evict(h.p));) {
		size_t j = (size_t)(v - h.b);

		cr_assert(h.held[j], "block %zu came back twice or was removed", j);
		h.held[j] = false;
		got++;
	}
	cr_assert_eq(got, held, "all %zu held blocks come back once (got %zu)", held, got);
	h_close(&h);
}
