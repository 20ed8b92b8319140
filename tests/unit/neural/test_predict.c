/*
 * test_predict.c - the access predictor: what it learns from one pass over
 * a fixed order of ~300 files (chain, precision on replay), how fast it
 * relearns a changed order, the region mapping and de-duplication, the
 * object records (LRU, limits), activity, the model clock across downtime,
 * the memory bound at the defaults, and argument checking.
 * Does not time anything (tools: neural/examples/predict_bench.c) and does
 * not test persistence (test_model.c).
 */
#include "neural/predict.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The workload: N_FILES files, 1-3 regions each, read in a fixed order;
 * every block of a region is read (1 ms apart), files 20 ms apart. */
#define N_FILES	    300
#define BLOCK_MS    1
#define FILE_GAP_MS 20

struct workload {
	uint64_t obj[N_FILES];
	int regions[N_FILES];
	int order[N_FILES];
	uint64_t now;
};

static void workload_init(struct workload *w, uint32_t rb)
{
	(void)rb;
	for (int i = 0; i < N_FILES; i++) {
		w->obj[i] = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
		w->regions[i] = 1 + (i % 3 == 0) + (i % 7 == 0);
		w->order[i] = i;
	}
	w->now = 1000;
}

static void workload_shuffle(struct workload *w, unsigned seed)
{
	srand(seed);
	for (int i = N_FILES - 1; i > 0; i--) {
		int j = rand() % (i + 1), t = w->order[i];

		w->order[i] = w->order[j];
		w->order[j] = t;
	}
}

struct score {
	/* correct: names a later region of this file or one of the next depth files */
	long predictions, correct;
	/* files whose successor was predicted while they were read */
	long files, next_predicted;
};

/* One pass in w->order; predictions asked: depth per access. */
static struct score workload_pass(struct fx_predictor *p, struct workload *w)
{
	const struct fx_predict_opts *o = fx_predict_opts(p);
	struct fx_prediction out[FX_PREDICT_MAX_DEPTH];
	struct score sc = {0};

	for (int k = 0; k < N_FILES; k++) {
		int f = w->order[k];
		bool next_seen = false;

		for (int r = 0; r < w->regions[f]; r++) {
			for (uint32_t b = 0; b < o->region_blocks; b++) {
				uint64_t block = (uint64_t)r * o->region_blocks + b;
				int n =
				    fx_predict_access(p, w->obj[f], block, w->now, out, o->depth);

				cr_assert_geq(n, 0);
				w->now += BLOCK_MS;
				for (int i = 0; i < n; i++) {
					bool ok =
					    out[i].obj == w->obj[f] &&
					    out[i].first_block / o->region_blocks > (uint64_t)r;

					cr_assert_gt(out[i].confidence, 0.0f);
					cr_assert_leq(out[i].confidence, 1.0f);
					cr_assert(out[i].obj != w->obj[f] ||
						      out[i].first_block / o->region_blocks !=
							  (uint64_t)r,
						  "predicted the region just read");
					for (unsigned d = 1; d <= o->depth && k + d < N_FILES; d++)
						ok |= out[i].obj == w->obj[w->order[k + d]];
					if (k + 1 < N_FILES &&
					    out[i].obj == w->obj[w->order[k + 1]])
						next_seen = true;
					sc.correct += ok;
					sc.predictions++;
				}
			}
		}
		w->now += FILE_GAP_MS;
		if (k + 1 < N_FILES) {
			sc.files++;
			sc.next_predicted += next_seen;
		}
	}
	return sc;
}

static double precision(struct score s)
{
	return s.predictions ? (double)s.correct / (double)s.predictions : 0.0;
}

static double coverage(struct score s)
{
	return s.files ? (double)s.next_predicted / (double)s.files : 0.0;
}

static struct fx_predictor *new_default(void)
{
	struct fx_predict_opts o;
	struct fx_predictor *p;

	fx_predict_opts_default(&o);
	p = fx_predict_new(&o);
	cr_assert_not_null(p);
	return p;
}

Test(predict, defaults_and_bad_options)
{
	struct fx_predict_opts o;

	fx_predict_opts_default(&o);
	cr_assert_eq(o.neurons, 65536);
	cr_assert_eq(o.region_blocks, 4);
	cr_assert_float_eq(o.window_ms, 500.0f, 1e-6);
	cr_assert_eq(o.depth, 4);
	cr_assert_eq(o.max_objects, 16384);
	cr_assert_eq(o.seed, FX_PREDICT_SEED);
	for (int i = 0; i < 6; i++) {
		fx_predict_opts_default(&o);
		switch (i) {
		case 0:
			o.neurons = 0;
			break;
		case 1:
			o.region_blocks = 0;
			break;
		case 2:
			o.window_ms = 0;
			break;
		case 3:
			o.depth = FX_PREDICT_MAX_DEPTH + 1;
			break;
		case 4:
			o.max_objects = 0;
			break;
		default:
			o.max_object_bytes = 100;
			break;
		}
		errno = 0;
		cr_assert_null(fx_predict_new(&o), "bad options %d accepted", i);
		cr_assert_eq(errno, EINVAL);
	}
	cr_assert_null(fx_predict_new(NULL));
}

Test(predict, regions_map_to_neurons_by_seeded_hash)
{
	struct fx_predict_opts o;
	struct fx_predictor *a, *b;
	static unsigned hits[1024];
	int differ = 0;
	unsigned most = 0;

	fx_predict_opts_default(&o);
	o.neurons = 1024;
	a = fx_predict_new(&o);
	o.seed ^= 1;
	b = fx_predict_new(&o);
	for (uint64_t blk = 0; blk < 4; blk++)
		cr_assert_eq(fx_predict_neuron(a, 77, blk), fx_predict_neuron(a, 77, 0),
			     "blocks of one region");
	for (uint64_t obj = 1; obj <= 102400; obj++) {
		uint32_t n = fx_predict_neuron(a, obj, 8);

		cr_assert_lt(n, 1024);
		hits[n]++;
		differ += n != fx_predict_neuron(b, obj, 8);
	}
	for (int i = 0; i < 1024; i++)
		most = hits[i] > most ? hits[i] : most;
	cr_assert_lt(most, 2 * 100, "uneven spread: a neuron got %u of 100 expected", most);
	cr_assert_gt(differ, 100000, "the seed barely changes the mapping");
	fx_predict_free(a);
	fx_predict_free(b);
}

Test(predict, a_region_fires_once_and_its_block_range_grows)
{
	struct fx_predictor *p = new_default();
	struct fx_predict_counters c;
	struct fx_prediction out[4], r;
	uint32_t n = fx_predict_neuron(p, 9, 5);

	cr_assert_eq(fx_predict_region(p, n, &r), 0);
	cr_assert_eq(fx_predict_access(p, 9, 5, 100, out, 4), 0);
	cr_assert_eq(fx_predict_access(p, 9, 7, 101, out, 4), 0);
	cr_assert_eq(fx_predict_access(p, 9, 4, 102, out, 4), 0);
	fx_predict_counters(p, &c);
	cr_assert_eq(c.accesses, 3);
	cr_assert_eq(c.fired, 1);
	cr_assert_eq(fx_predict_region(p, n, &r), 1);
	cr_assert_eq(r.obj, 9);
	cr_assert_eq(r.first_block, 4);
	cr_assert_eq(r.nblocks, 4);
	/* after the window the region is a new event */
	cr_assert_eq(fx_predict_access(p, 9, 6, 102 + 501, out, 4), 0);
	fx_predict_counters(p, &c);
	cr_assert_eq(c.fired, 2);
	fx_predict_free(p);
}

Test(predict, one_pass_learns_a_chain)
{
	struct fx_predictor *p = new_default();
	struct fx_prediction out[8];
	uint64_t now = 1000;
	int n;

	for (uint64_t f = 1; f <= 10; f++, now += FILE_GAP_MS)
		cr_assert_eq(fx_predict_access(p, f, 0, now, out, 8), 0, "nothing learned yet");
	n = fx_predict_access(p, 1, 0, now + 10000, out, 4);
	cr_assert_eq(n, 4);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(out[i].obj, (uint64_t)(2 + i), "prediction %d is %lu", i,
			     (unsigned long)out[i].obj);
		cr_assert_eq(out[i].first_block, 0);
		cr_assert_eq(out[i].nblocks, 1);
		if (i > 0)
			cr_assert_lt(out[i].confidence, out[i - 1].confidence);
	}
	fx_predict_free(p);
}

Test(predict, replay_after_one_pass_predicts_the_next_files)
{
	struct fx_predictor *p = new_default();
	struct workload w;
	struct score learn, replay;

	workload_init(&w, 4);
	learn = workload_pass(p, &w);
	replay = workload_pass(p, &w);
	cr_assert_lt(coverage(learn), 0.1, "predicted before learning: %g", coverage(learn));
	cr_assert_gt(replay.predictions, N_FILES * 3, "only %ld predictions", replay.predictions);
	cr_assert_geq(precision(replay), 0.8, "precision %g", precision(replay));
	cr_assert_geq(coverage(replay), 0.9, "next file predicted for only %g of files",
		      coverage(replay));
	fx_predict_free(p);
}

Test(predict, a_changed_order_is_relearned_within_three_passes)
{
	struct fx_predictor *p = new_default();
	struct workload w;
	struct score s[3];

	workload_init(&w, 4);
	workload_pass(p, &w);
	workload_pass(p, &w);
	workload_shuffle(&w, 7);
	for (int i = 0; i < 3; i++)
		s[i] = workload_pass(p, &w);
	/* the first pass of the new order still predicts the old one */
	cr_assert_lt(precision(s[0]), 0.5, "precision %g right after the change", precision(s[0]));
	cr_assert_geq(precision(s[2]), 0.8, "precision %g %g %g over three passes", precision(s[0]),
		      precision(s[1]), precision(s[2]));
	cr_assert_geq(coverage(s[2]), 0.9, "coverage %g", coverage(s[2]));
	fx_predict_free(p);
}

Test(predict, reads_further_apart_than_the_window_are_not_associated)
{
	struct fx_predictor *p = new_default();
	struct fx_prediction out[4];
	uint64_t now = 0;

	for (int pass = 0; pass < 3; pass++)
		for (uint64_t f = 1; f <= 20; f++, now += 600)
			cr_assert_eq(fx_predict_access(p, f, 0, now, out, 4), 0);
	cr_assert_eq(fx_snn_synapse_count(fx_predict_snn(p)), 0);
	fx_predict_free(p);
}

Test(predict, activity_shows_what_is_expected)
{
	struct fx_predictor *p = new_default();
	struct fx_prediction out[4];
	uint64_t now = 1000;

	for (uint64_t f = 1; f <= 5; f++, now += FILE_GAP_MS)
		fx_predict_access(p, f, 0, now, out, 4);
	now += 5000;
	cr_assert_float_eq(fx_predict_activity(p, 2, 0, now), 0.0f, 1e-6);
	cr_assert_gt(fx_predict_access(p, 1, 0, now, out, 4), 0);
	cr_assert_float_eq(fx_predict_activity(p, 2, 0, now), 1.0f, 1e-6, "just predicted");
	cr_assert_float_eq(fx_predict_activity(p, 2, 3, now), 1.0f, 1e-6, "same region");
	cr_assert_eq(fx_predict_activity(p, 2, 4, now), 0.0f, "another region");
	cr_assert_eq(fx_predict_activity(p, 99, 0, now), 0.0f, "unknown object");
	float later = fx_predict_activity(p, 2, 0, now + 400);

	cr_assert_gt(later, 0.0f);
	cr_assert_lt(later, 1.0f, "activity leaks");
	cr_assert_lt(fx_predict_activity(p, 2, 0, now + 5000), 0.01f);
	fx_predict_free(p);
}

/* Two passes over files 1..5; the second starts at caller time @t2 (after
 * fx_predict_resume(@resume_at) when that is not 0). @return what reading
 * file 1 in the second pass predicted (into @out). */
static int two_passes(struct fx_predictor *p, uint64_t resume_at, uint64_t t2,
		      struct fx_prediction *out)
{
	int n = 0;

	for (uint64_t f = 1; f <= 5; f++)
		cr_assert_eq(fx_predict_access(p, f, 0, 1000 + 20 * f, out, 4), 0);
	if (resume_at)
		fx_predict_resume(p, resume_at);
	for (uint64_t f = 1; f <= 5; f++) {
		int k = fx_predict_access(p, f, 0, t2 + 20 * f, out + (f == 1 ? 0 : 4), 4);

		if (f == 1)
			n = k;
	}
	return n;
}

Test(predict, the_model_clock_skips_downtime)
{
	const uint64_t ten_days = 10ull * 86400 * 1000;
	struct fx_predictor *resumed = new_default(), *contiguous = new_default();
	struct fx_predictor *aged = new_default();
	struct fx_prediction a[8], b[8], c[8];
	int na, nb, nc;
	double before;

	/* the model clock starts at the first call (caller time 1020, model 0) and
	 * stops at the last (model 80); resumed later it goes on from there */
	na = two_passes(resumed, ten_days, ten_days + 5000, a);
	nb = two_passes(contiguous, 0, 1020 + 80 + 5000, b);
	nc = two_passes(aged, 0, ten_days + 5000, c); /* weights' half-life is a day */
	cr_assert_eq(na, 4);
	cr_assert_eq(nb, na);
	for (int i = 0; i < na; i++) {
		cr_assert_eq(a[i].obj, b[i].obj);
		cr_assert_eq(a[i].confidence, b[i].confidence, "aged across downtime");
	}
	cr_assert_eq(a[0].obj, 2);
	cr_assert_float_eq(fx_snn_clock(fx_predict_snn(resumed)),
			   fx_snn_clock(fx_predict_snn(contiguous)), 1e-9);
	cr_assert_eq(nc, 0, "ten days of model time should have decayed the synapses");

	/* a clock that goes backwards does not take the model back */
	before = fx_snn_clock(fx_predict_snn(resumed));
	fx_predict_access(resumed, 3, 0, 10, a, 4);
	cr_assert_geq(fx_snn_clock(fx_predict_snn(resumed)), before);
	fx_predict_free(resumed);
	fx_predict_free(contiguous);
	fx_predict_free(aged);
}

static int collect(void *arg, uint64_t obj, const void *rec, size_t len)
{
	uint64_t *seen = arg;

	cr_assert_eq(len, 8);
	cr_assert_eq(memcmp(rec, &obj, 8), 0);
	seen[++seen[0]] = obj;
	return 0;
}

Test(predict, object_records_are_a_bounded_lru)
{
	struct fx_predict_opts o;
	struct fx_predictor *p;
	uint64_t seen[8] = {0}, v;
	char buf[FX_PREDICT_OBJECT_MAX + 1] = {0};
	size_t mem;

	fx_predict_opts_default(&o);
	o.neurons = 64;
	o.max_objects = 3;
	p = fx_predict_new(&o);
	mem = fx_predict_memory(p);
	for (uint64_t obj = 1; obj <= 3; obj++)
		cr_assert_eq(fx_predict_object_put(p, obj, &obj, 8), 0);
	cr_assert_eq(fx_predict_memory(p), mem + 3 * (8 + FX_PREDICT_OBJECT_OVERHEAD));
	cr_assert_eq(fx_predict_object_get(p, 1, &v, 8), 8); /* 1 is now the newest */
	cr_assert_eq(v, 1);
	v = 4;
	cr_assert_eq(fx_predict_object_put(p, 4, &v, 8), 0); /* evicts 2 */
	cr_assert_eq(fx_predict_object_get(p, 2, &v, 8), -ENOENT);
	cr_assert_eq(fx_predict_each_object(p, collect, seen), 0);
	cr_assert_eq(seen[0], 3);
	cr_assert_eq(seen[1], 3, "least recently used first");
	cr_assert_eq(seen[2], 1);
	cr_assert_eq(seen[3], 4);
	cr_assert_eq(fx_predict_object_get(p, 3, &v, 4), -ENOSPC);
	cr_assert_eq(fx_predict_object_put(p, 5, buf, FX_PREDICT_OBJECT_MAX + 1), -EINVAL);
	cr_assert_eq(fx_predict_object_put(p, 0, buf, 1), -EINVAL);
	cr_assert_eq(fx_predict_object_put(p, 5, NULL, 1), -EINVAL);
	cr_assert_eq(fx_predict_object_put(p, 6, NULL, 0), 0, "an empty record");
	cr_assert_eq(fx_predict_object_get(p, 6, NULL, 0), 0);
	fx_predict_free(p);

	/* the byte budget: two full records fit, a third pushes the oldest out */
	o.max_objects = 100;
	o.max_object_bytes = 2 * (FX_PREDICT_OBJECT_MAX + FX_PREDICT_OBJECT_OVERHEAD);
	p = fx_predict_new(&o);
	for (uint64_t obj = 1; obj <= 3; obj++)
		cr_assert_eq(fx_predict_object_put(p, obj, buf, FX_PREDICT_OBJECT_MAX), 0);
	cr_assert_eq(fx_predict_object_get(p, 1, buf, sizeof(buf)), -ENOENT);
	cr_assert_eq(fx_predict_object_get(p, 3, buf, sizeof(buf)), FX_PREDICT_OBJECT_MAX);
	fx_predict_free(p);
}

Test(predict, memory_stays_within_16_MiB_at_the_defaults)
{
	struct fx_predictor *p = new_default();
	struct workload w;
	char rec[FX_PREDICT_OBJECT_MAX] = {1};
	const size_t limit = 16u << 20;

	cr_assert_leq(fx_predict_memory(p), limit, "%zu bytes when new", fx_predict_memory(p));
	workload_init(&w, 4);
	workload_pass(p, &w);
	for (uint64_t obj = 1; obj <= 16384; obj++)
		cr_assert_eq(fx_predict_object_put(p, obj, rec, 160), 0);
	cr_assert_leq(fx_predict_memory(p), limit, "%zu bytes with typical records",
		      fx_predict_memory(p));
	for (uint64_t obj = 1; obj <= 16384; obj++)
		cr_assert_eq(fx_predict_object_put(p, obj, rec, sizeof(rec)), 0);
	cr_assert_leq(fx_predict_memory(p), limit, "%zu bytes with the largest records",
		      fx_predict_memory(p));
	fx_predict_free(p);
}

Test(predict, arguments_are_checked)
{
	struct fx_predictor *p = new_default();
	struct fx_prediction out[1];

	cr_assert_eq(fx_predict_access(NULL, 1, 0, 0, out, 1), -EINVAL);
	cr_assert_eq(fx_predict_access(p, 0, 0, 0, out, 1), -EINVAL);
	cr_assert_eq(fx_predict_access(p, 1, 0, 0, NULL, 1), -EINVAL);
	cr_assert_eq(fx_predict_access(p, 1, 0, 0, NULL, 0), 0);
	cr_assert_eq(fx_predict_region(p, 65536, out), 0);
	cr_assert_eq(fx_predict_activity(NULL, 1, 0, 0), 0.0f);
	cr_assert_eq(fx_predict_object_get(p, 1, NULL, 8), -EINVAL);
	cr_assert_eq(fx_predict_each_object(p, NULL, NULL), -EINVAL);
	cr_assert_eq(fx_predict_memory(NULL), 0);
	fx_predict_free(NULL);
	fx_predict_free(p);
}
