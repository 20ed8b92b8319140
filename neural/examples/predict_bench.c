/*
 * predict_bench.c - what one fx_predict_access costs on a synthetic
 * workload of 1,000,000 block reads, and how much memory the model holds.
 *
 * Owns: the workload generator and the report. Does not own: any threshold;
 * it prints numbers for a person (or a script) to compare, it asserts
 * nothing. Build target rustfx-predict-bench (not installed).
 *
 * Workload: 20,000 objects of 1..64 blocks; 64 "jobs", each a fixed list of
 * 200 objects; jobs run one after another (some far more often than others),
 * each reading every block of its objects in order (at most 16 per object),
 * 1 ms per block and 10 ms between objects; one object read in 10 is a
 * random one instead.
 *
 * Usefulness (object level): an object predicted while not already awaited
 * becomes awaited; it counts as useful if it is then read within the next
 * 256 accesses. "useful" = useful / awaited, a rough precision.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "neural/predict.h"

#define N_OBJECTS  20000u
#define N_JOBS	   64u
#define JOB_LEN	   200u
#define N_ACCESSES 1000000u
#define HORIZON	   256u

static uint64_t bench_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, uint32_t *ns, size_t n)
{
	if (!n)
		return;
	qsort(ns, n, sizeof(*ns), cmp_u32);
	printf("%-28s %8zu calls  median %5" PRIu32 " ns  p99 %6" PRIu32 " ns  max %7" PRIu32
	       " ns\n",
	       what, n, ns[n / 2], ns[n * 99 / 100], ns[n - 1]);
}

int main(void)
{
	static uint32_t blocks[N_OBJECTS], jobs[N_JOBS][JOB_LEN];
	static uint32_t awaited_since[N_OBJECTS]; /* access index + 1; 0: not awaited */
	uint32_t *all = malloc(N_ACCESSES * sizeof(*all));
	uint32_t *fired = malloc(N_ACCESSES * sizeof(*fired));
	struct fx_prediction out[8];
	struct fx_predict_opts o;
	struct fx_predictor *p;
	struct fx_predict_counters c;
	uint64_t rng = 42, now_ms = 1000, predictions = 0, awaited = 0, useful = 0;
	size_t n_all = 0, n_fired = 0;

	fx_predict_opts_default(&o);
	p = fx_predict_new(&o);
	if (!p || !all || !fired) {
		fprintf(stderr, "error: out of memory\n");
		return 71; /* EX_OSERR */
	}
	for (uint32_t i = 0; i < N_OBJECTS; i++)
		blocks[i] = 1 + (uint32_t)(bench_rand(&rng) % 64);
	for (uint32_t j = 0; j < N_JOBS; j++)
		for (uint32_t k = 0; k < JOB_LEN; k++)
			jobs[j][k] = (uint32_t)(bench_rand(&rng) % N_OBJECTS);

	while (n_all < N_ACCESSES) {
		/* job j with weight ~ 1/(j+1): a few hot jobs, a long tail */
		uint32_t job = (uint32_t)((bench_rand(&rng) % 1000) * (bench_rand(&rng) % 1000) /
					  1000000.0 * N_JOBS);

		for (uint32_t k = 0; k < JOB_LEN && n_all < N_ACCESSES; k++) {
			uint32_t f = bench_rand(&rng) % 10
					 ? jobs[job][k]
					 : (uint32_t)(bench_rand(&rng) % N_OBJECTS);
			uint32_t nb = blocks[f] < 16 ? blocks[f] : 16;

			for (uint32_t b = 0; b < nb && n_all < N_ACCESSES; b++) {
				uint64_t before = 0, t0, t1;
				int n;

				fx_predict_counters(p, &c);
				before = c.fired;
				t0 = now_ns();
				n = fx_predict_access(p, f + 1, b, now_ms, out, 8);
				t1 = now_ns();
				if (awaited_since[f] && n_all + 1 - awaited_since[f] <= HORIZON)
					useful++;
				awaited_since[f] = 0;
				for (int i = 0; i < n; i++) {
					uint32_t g = (uint32_t)(out[i].obj - 1);

					if (!awaited_since[g] ||
					    n_all + 1 - awaited_since[g] > HORIZON) {
						awaited++;
						awaited_since[g] = (uint32_t)n_all + 1;
					}
				}
				if (n > 0)
					predictions += (uint64_t)n;
				all[n_all++] = (uint32_t)(t1 - t0);
				fx_predict_counters(p, &c);
				if (c.fired != before)
					fired[n_fired++] = (uint32_t)(t1 - t0);
				now_ms += 1;
			}
			now_ms += 10;
		}
	}
	fx_predict_counters(p, &c);
	printf("fx_predict_access, %u neurons, region_blocks %u, depth %u, max 8 predictions\n",
	       o.neurons, o.region_blocks, o.depth);
	report("all accesses", all, n_all);
	report("accesses that fired", fired, n_fired);
	printf("predictions per firing access %.2f; objects predicted %" PRIu64
	       ", read within %u accesses %.1f%%; synapses %zu\n",
	       c.fired ? (double)predictions / (double)c.fired : 0.0, awaited, HORIZON,
	       awaited ? 100.0 * (double)useful / (double)awaited : 0.0,
	       fx_snn_synapse_count(fx_predict_snn(p)));
	printf("model memory %zu bytes (%.2f MiB; network %.2f MiB)\n", fx_predict_memory(p),
	       fx_predict_memory(p) / 1048576.0, fx_snn_memory(fx_predict_snn(p)) / 1048576.0);
	fx_predict_free(p);
	free(all);
	free(fired);
	return 0;
}
