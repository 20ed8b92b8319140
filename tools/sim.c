/*
 * sim.c - `rustfx sim` (see sim.h).
 *
 * Owns: parsing the command's options, choosing the block size and the
 * readahead limit defaults, loading the trace once and running it for each
 * (size, policy) asked for, and printing: text, one JSON object (--json),
 * or the miss-ratio curve as CSV (--curve; a JSON array with --json).
 * Does not own: trace formats (cache/trace.c) or the simulation
 * (cache/sim.c).
 */
#include "tools/sim.h"
#include "tools/cli_i.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cache/policy.h"
#include "cache/sim.h"
#include "cache/trace.h"
#include "core/config.h"
#include "core/error.h"

#define FX_SIM_USAGE                                                                               \
	"usage: rustfx sim --trace FILE [--format F] --cache-size S [--policy P] [--prefetch M]\n" \
	"                  [--block-size N] [--readahead-max S] [--prefetch-max N] [--json]\n"     \
	"       rustfx sim --trace FILE [--format F] --curve [--sizes LIST] [--policy P,P...]"
#define FX_SIM_DEFAULT_SIZES "1%,2%,5%,10%,20%,50%"
#define FX_SIM_MAX_POLICIES  16
#define FX_SIM_MAX_SIZES     64

struct fx_sim_args {
	const char *trace, *cache_size, *sizes;
	char *policies[FX_SIM_MAX_POLICIES];
	unsigned npolicies;
	char *policy_buf; /* strdup of --policy, split in place */
	enum fx_trace_format format;
	enum fx_sim_prefetch prefetch;
	uint64_t block_size, readahead_max, prefetch_max;
	bool json, curve;
};

void fx_cli_sim_help(FILE *f)
{
	fprintf(f,
		FX_SIM_USAGE
		"\n\n"
		"Replays a cache trace through rustfx's eviction policies (the same code a\n"
		"mount runs) and prefetchers, and prints request, block and byte miss ratios.\n\n"
		"  --trace FILE        the trace (gzip or plain; - for standard input)\n"
		"  --format F          rustfx (recorded with -o trace=PATH), csv (header\n"
		"                      time,object,offset,size), lirs (a block number a line),\n"
		"                      cloudphysics (header version,time,op,size,lbn), or auto\n"
		"                      (default: told by the first bytes)\n"
		"  --cache-size S      bytes (512M, 10G) or a share of the trace's footprint\n"
		"                      (its distinct blocks' bytes): 5%%\n"
		"  --policy P          %s, " FX_SIM_BELADY " (offline optimal); default lru;\n"
		"                      with --curve a comma-separated list\n"
		"  --prefetch M        off (default), seq (the mount's readahead), snn (the\n"
		"                      learned predictor)\n"
		"  --block-size N      bytes a block (default 1M for rustfx traces, else 4K)\n"
		"  --readahead-max S   seq: largest window (default min(64M, cache size / 4))\n"
		"  --prefetch-max N    snn: blocks prefetched a request at most (default %u)\n"
		"  --json              one JSON object (with --curve: an array of rows)\n"
		"  --curve             the miss-ratio curve as CSV: cache_bytes,fraction,policy,\n"
		"                      request_miss_ratio,block_miss_ratio,byte_miss_ratio\n"
		"  --sizes LIST        --curve sizes, comma-separated (default %s)\n\n"
		"A request misses if any of its blocks missed. Writes are accesses that insert\n"
		"their blocks; only reads drive prefetch. Prefetch accuracy is used/issued,\n"
		"coverage prefetch hits / (prefetch hits + block misses).\n",
		fx_policy_names(), FX_SIM_PREFETCH_MAX_DEFAULT, FX_SIM_DEFAULT_SIZES);
}

/* Print @d (with a hint, always) and map it to an exit code: whatever is
 * wrong with the input is 2, memory and the like keep theirs. */
static int fx_sim_fail(struct fx_diag *d, bool input)
{
	if (!d->hint[0])
		snprintf(d->hint, sizeof(d->hint), "see 'rustfx sim --help'");
	fx_diag_print(d, stderr);
	if (d->err == -ENOMEM)
		return EX_OSERR;
	return input ? FX_EXIT_INVALID : fx_exit_code(d->err);
}

/* Parse the options into @a. @return -1 to go on, else an exit code. */
static int fx_sim_parse(int argc, char **argv, struct fx_sim_args *a)
{
	static const struct option longopts[] = {
	    {"trace", required_argument, NULL, 't'},
	    {"format", required_argument, NULL, 'f'},
	    {"cache-size", required_argument, NULL, 's'},
	    {"policy", required_argument, NULL, 'p'},
	    {"prefetch", required_argument, NULL, 'P'},
	    {"block-size", required_argument, NULL, 'b'},
	    {"readahead-max", required_argument, NULL, 'r'},
	    {"prefetch-max", required_argument, NULL, 'm'},
	    {"json", no_argument, NULL, 'j'},
	    {"curve", no_argument, NULL, 'c'},
	    {"sizes", required_argument, NULL, 'z'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *policy = "lru";
	char *save = NULL, *tok;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			a->trace = optarg;
			break;
		case 'f':
			if (fx_trace_format_parse(optarg, &a->format) < 0)
				return fx_cli_usage(
				    "formats: rustfx, csv, lirs, cloudphysics, auto",
				    "unknown trace format '%s'", optarg);
			break;
		case 's':
			a->cache_size = optarg;
			break;
		case 'p':
			policy = optarg;
			break;
		case 'P':
			if (fx_sim_prefetch_parse(optarg, &a->prefetch) < 0)
				return fx_cli_usage("prefetch modes: off, seq, snn",
						    "unknown prefetch mode '%s'", optarg);
			break;
		case 'b':
			if (fx_parse_size(optarg, &a->block_size) < 0 || a->block_size < 512 ||
			    a->block_size > FX_SIM_BLOCK_MAX)
				return fx_cli_usage(
				    "a block size is 512 bytes to 1G, e.g. 4K or 1M",
				    "bad --block-size '%s'", optarg);
			break;
		case 'r':
			if (fx_parse_size(optarg, &a->readahead_max) < 0)
				return fx_cli_usage("a size such as 8M", "bad --readahead-max '%s'",
						    optarg);
			break;
		case 'm':
			if (fx_parse_size(optarg, &a->prefetch_max) < 0 || !a->prefetch_max ||
			    a->prefetch_max > 65536)
				return fx_cli_usage("a number of blocks, 1 to 65536",
						    "bad --prefetch-max '%s'", optarg);
			break;
		case 'j':
			a->json = true;
			break;
		case 'c':
			a->curve = true;
			break;
		case 'z':
			a->sizes = optarg;
			break;
		case 'h':
			fx_cli_sim_help(stdout);
			return 0;
		default:
			return fx_cli_usage(FX_SIM_USAGE, "bad option '%s' for sim",
					    argv[optind - 1]);
		}
	}
	if (optind < argc)
		return fx_cli_usage(FX_SIM_USAGE, "unexpected argument '%s'", argv[optind]);
	if (!a->trace)
		return fx_cli_usage(FX_SIM_USAGE, "sim needs a trace: --trace FILE%s", "");
	if (!a->curve && !a->cache_size)
		return fx_cli_usage("e.g. --cache-size 512M or --cache-size 10%, or --curve",
				    "sim needs --cache-size%s", "");
	if (a->curve && a->cache_size)
		return fx_cli_usage("--curve takes its sizes from --sizes",
				    "--cache-size and --curve do not go together%s", "");
	if (a->sizes && !a->curve)
		return fx_cli_usage("add --curve", "--sizes is for --curve%s", "");
	if (!(a->policy_buf = strdup(policy)))
		return EX_OSERR;
	for (tok = strtok_r(a->policy_buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!fx_sim_policy_known(tok)) {
			struct fx_diag d = {0};

			fx_diag_set(&d, -FX_EUSAGE, NULL, "unknown policy '%s'", tok);
			snprintf(d.hint, sizeof(d.hint), "policies: %s, " FX_SIM_BELADY,
				 fx_policy_names());
			return fx_sim_fail(&d, true);
		}
		if (a->npolicies == FX_SIM_MAX_POLICIES)
			return fx_cli_usage("name fewer policies", "too many policies%s", "");
		a->policies[a->npolicies++] = tok;
	}
	if (!a->npolicies)
		return fx_cli_usage("e.g. --policy lru", "no policy named%s", "");
	if (a->npolicies > 1 && !a->curve)
		return fx_cli_usage("compare several policies with --curve, or run once per policy",
				    "one --policy at a time without --curve%s", "");
	return -1;
}

/* Open the trace and load it into a simulator. @return 0, or an exit code. */
static int fx_sim_load_trace(const struct fx_sim_args *a, struct fx_sim **out,
			     struct fx_trace_info *info)
{
	struct fx_trace_reader *r = NULL;
	struct fx_diag d = {0};
	struct fx_sim *s = NULL;
	uint64_t bs;
	int ret;

	if ((ret = fx_trace_reader_open(a->trace, a->format, &r, &d)) < 0)
		return fx_sim_fail(&d, true);
	fx_trace_reader_info(r, info);
	bs = a->block_size		       ? a->block_size
	     : info->format == FX_TRACE_RUSTFX ? FX_SIM_BLOCK_RUSTFX
					       : FX_SIM_BLOCK_DEFAULT;
	if ((ret = fx_sim_new((uint32_t)bs, &s)) < 0) {
		fx_diag_set(&d, ret, NULL, "cannot make a simulator (%s)", fx_strerror(ret));
		goto fail;
	}
	if ((ret = fx_sim_load(s, r)) < 0) {
		const struct fx_diag *rd = fx_trace_reader_diag(r);

		if (rd->err)
			d = *rd;
		else if (ret == -EFBIG)
			fx_diag_set(&d, ret, "use a larger --block-size",
				    "trace %s has too many blocks or too large a request (%s)",
				    a->trace, fx_strerror(ret));
		else
			fx_diag_set(&d, ret, NULL, "cannot load trace %s (%s)", a->trace,
				    fx_strerror(ret));
		goto fail;
	}
	fx_trace_reader_info(r, info);
	fx_trace_reader_close(r);
	if (!fx_sim_requests(s)) {
		fx_sim_free(s);
		fx_diag_set(&d, -FX_EUSAGE, "check that the file is the trace you meant",
			    "trace %s has no reads or writes", a->trace);
		return fx_sim_fail(&d, true);
	}
	*out = s;
	return 0;
fail:
	fx_trace_reader_close(r);
	fx_sim_free(s);
	return fx_sim_fail(&d, d.err != -ENOMEM);
}

static void fx_sim_opts_of(const struct fx_sim_args *a, const char *policy, uint64_t capacity,
			   struct fx_sim_opts *o)
{
	*o = (struct fx_sim_opts){
	    .capacity = capacity,
	    .policy = policy,
	    .prefetch = a->prefetch,
	    .readahead_max = a->readahead_max,
	    .prefetch_max = (unsigned)a->prefetch_max,
	};
}

/* "4.0 KiB" and the like. */
static const char *fx_human(uint64_t v, char *buf, size_t n)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double x = (double)v;
	unsigned u = 0;

	while (x >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		x /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, n, "%llu B", (unsigned long long)v);
	else
		snprintf(buf, n, "%.1f %s", x, units[u]);
	return buf;
}

static json_t *fx_sim_json(const struct fx_sim_args *a, const struct fx_trace_info *info,
			   const struct fx_sim *s, const char *policy,
			   const struct fx_sim_result *r)
{
	json_t *o = json_object();

#define J_INT(k, v)  json_object_set_new(o, k, json_integer((json_int_t)(v)))
#define J_REAL(k, v) json_object_set_new(o, k, json_real(v))
	if (!o)
		return NULL;
	json_object_set_new(o, "trace", json_string(a->trace));
	json_object_set_new(o, "format", json_string(fx_trace_format_name(info->format)));
	json_object_set_new(o, "policy", json_string(policy));
	json_object_set_new(o, "prefetch",
			    json_string(a->prefetch == FX_SIM_PREFETCH_SEQ   ? "seq"
					: a->prefetch == FX_SIM_PREFETCH_SNN ? "snn"
									     : "off"));
	J_INT("block_size", fx_sim_block_size(s));
	J_INT("cache_bytes", r->capacity);
	J_INT("footprint_bytes", r->footprint);
	J_INT("unique_blocks", fx_sim_unique_blocks(s));
	J_REAL("fraction", fx_sim_ratio(r->capacity, r->footprint));
	J_INT("requests", r->requests);
	J_INT("write_requests", r->write_requests);
	J_INT("request_misses", r->request_misses);
	J_REAL("request_miss_ratio", fx_sim_ratio(r->request_misses, r->requests));
	J_INT("blocks", r->blocks);
	J_INT("block_misses", r->block_misses);
	J_REAL("block_miss_ratio", fx_sim_ratio(r->block_misses, r->blocks));
	J_INT("bytes", r->bytes);
	J_INT("byte_misses", r->byte_misses);
	J_REAL("byte_miss_ratio", fx_sim_ratio(r->byte_misses, r->bytes));
	J_INT("prefetch_issued", r->prefetch_issued);
	J_INT("prefetch_used", r->prefetch_used);
	J_INT("prefetch_wasted", r->prefetch_wasted);
	J_INT("prefetch_unused", r->prefetch_unused);
	J_REAL("prefetch_accuracy", fx_sim_accuracy(r));
	J_REAL("prefetch_coverage", fx_sim_coverage(r));
	J_INT("evictions", r->evictions);
	J_INT("skipped_records", info->skipped);
	J_REAL("seconds", r->seconds);
	J_REAL("requests_per_s", r->seconds > 0 ? (double)r->requests / r->seconds : 0.0);
#undef J_INT
#undef J_REAL
	return o;
}

static void fx_sim_print(const struct fx_sim_args *a, const struct fx_trace_info *info,
			 const struct fx_sim *s, const char *policy, const struct fx_sim_result *r)
{
	char b1[32], b2[32], b3[32];

	printf("trace     %s: %s, %llu requests (%llu writes), %llu blocks of %s, footprint %s\n",
	       a->trace, fx_trace_format_name(info->format), (unsigned long long)r->requests,
	       (unsigned long long)r->write_requests, (unsigned long long)fx_sim_unique_blocks(s),
	       fx_human(fx_sim_block_size(s), b1, sizeof(b1)),
	       fx_human(r->footprint, b2, sizeof(b2)));
	printf("cache     %s (%.2f%% of the footprint), policy %s, prefetch %s\n",
	       fx_human(r->capacity, b3, sizeof(b3)), 100 * fx_sim_ratio(r->capacity, r->footprint),
	       policy,
	       a->prefetch == FX_SIM_PREFETCH_SEQ   ? "seq"
	       : a->prefetch == FX_SIM_PREFETCH_SNN ? "snn"
						    : "off");
	printf("requests  %llu, %llu missed: miss ratio %.4f\n", (unsigned long long)r->requests,
	       (unsigned long long)r->request_misses, fx_sim_ratio(r->request_misses, r->requests));
	printf("blocks    %llu, %llu missed: miss ratio %.4f\n", (unsigned long long)r->blocks,
	       (unsigned long long)r->block_misses, fx_sim_ratio(r->block_misses, r->blocks));
	printf("bytes     %llu, %llu missed: miss ratio %.4f\n", (unsigned long long)r->bytes,
	       (unsigned long long)r->byte_misses, fx_sim_ratio(r->byte_misses, r->bytes));
	printf("prefetch  %llu issued, %llu used, %llu wasted, %llu unused at the end: "
	       "accuracy %.4f, coverage %.4f\n",
	       (unsigned long long)r->prefetch_issued, (unsigned long long)r->prefetch_used,
	       (unsigned long long)r->prefetch_wasted, (unsigned long long)r->prefetch_unused,
	       fx_sim_accuracy(r), fx_sim_coverage(r));
	printf("speed     %.0f requests/s (%.3f s)\n",
	       r->seconds > 0 ? (double)r->requests / r->seconds : 0.0, r->seconds);
}

/* Run @policy at @capacity. @return 0 or an exit code (the error printed). */
static int fx_sim_once(const struct fx_sim_args *a, struct fx_sim *s, const char *policy,
		       uint64_t capacity, struct fx_sim_result *r)
{
	struct fx_sim_opts o;
	struct fx_diag d = {0};
	int ret;

	fx_sim_opts_of(a, policy, capacity, &o);
	if ((ret = fx_sim_run(s, &o, r, &d)) < 0)
		return fx_sim_fail(&d, ret == -FX_EUSAGE);
	return 0;
}

static int fx_sim_curve(const struct fx_sim_args *a, const struct fx_trace_info *info,
			struct fx_sim *s)
{
	uint64_t sizes[FX_SIM_MAX_SIZES];
	char *list = strdup(a->sizes ? a->sizes : FX_SIM_DEFAULT_SIZES), *save = NULL, *tok;
	json_t *arr = NULL;
	unsigned n = 0;
	int ret = 0;

	if (!list)
		return EX_OSERR;
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (n == FX_SIM_MAX_SIZES) {
			free(list);
			return fx_cli_usage("name fewer sizes", "more than 64 sizes%s", "");
		}
		if (fx_sim_parse_size(tok, fx_sim_footprint(s), &sizes[n++]) < 0) {
			ret = fx_cli_usage(
			    "sizes are bytes (512M, 10G) or percentages of the footprint (5%)",
			    "bad size '%s' in --sizes", tok);
			free(list);
			return ret;
		}
	}
	free(list);
	if (!n)
		return fx_cli_usage("e.g. --sizes 1%,5%,10%", "--sizes names no size%s", "");
	if (a->json && !(arr = json_array()))
		return EX_OSERR;
	if (!a->json)
		printf("cache_bytes,fraction,policy,request_miss_ratio,block_miss_ratio,byte_miss_"
		       "ratio\n");
	for (unsigned i = 0; i < n && !ret; i++)
		for (unsigned p = 0; p < a->npolicies && !ret; p++) {
			struct fx_sim_result r;

			if ((ret = fx_sim_once(a, s, a->policies[p], sizes[i], &r)) != 0)
				break;
			if (arr)
				json_array_append_new(arr,
						      fx_sim_json(a, info, s, a->policies[p], &r));
			else
				printf("%llu,%.6f,%s,%.6f,%.6f,%.6f\n",
				       (unsigned long long)sizes[i],
				       fx_sim_ratio(sizes[i], r.footprint), a->policies[p],
				       fx_sim_ratio(r.request_misses, r.requests),
				       fx_sim_ratio(r.block_misses, r.blocks),
				       fx_sim_ratio(r.byte_misses, r.bytes));
			fflush(stdout);
		}
	if (arr && !ret) {
		json_dumpf(arr, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
	}
	json_decref(arr);
	return ret;
}

int fx_cli_sim(int argc, char **argv, bool json)
{
	struct fx_sim_args a = {.format = FX_TRACE_AUTO, .json = json};
	struct fx_trace_info info;
	struct fx_sim_result r;
	struct fx_sim *s = NULL;
	uint64_t capacity;
	int ret;

	if ((ret = fx_sim_parse(argc, argv, &a)) >= 0)
		goto out;
	if ((ret = fx_sim_load_trace(&a, &s, &info)) != 0)
		goto out;
	if (info.format == FX_TRACE_LIRS && a.prefetch != FX_SIM_PREFETCH_OFF)
		fprintf(stderr,
			"note: lirs traces number blocks in order of first appearance, so the "
			"next block is always a new one: prefetch results on them mean little\n");
	if (info.skipped)
		fprintf(stderr,
			"note: %llu records of %s skipped (opcodes other than reads and writes)\n",
			(unsigned long long)info.skipped, a.trace);
	if (a.curve) {
		ret = fx_sim_curve(&a, &info, s);
		goto out;
	}
	if (fx_sim_parse_size(a.cache_size, fx_sim_footprint(s), &capacity) < 0) {
		ret = fx_cli_usage("bytes (512M, 10G) or a percentage of the footprint (5%)",
				   "bad --cache-size '%s'", a.cache_size);
		goto out;
	}
	if ((ret = fx_sim_once(&a, s, a.policies[0], capacity, &r)) != 0)
		goto out;
	if (a.json) {
		json_t *o = fx_sim_json(&a, &info, s, a.policies[0], &r);

		if (!o) {
			ret = EX_OSERR;
			goto out;
		}
		json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(o);
	} else {
		fx_sim_print(&a, &info, s, a.policies[0], &r);
	}
	ret = 0;
out:
	fx_sim_free(s);
	free(a.policy_buf);
	return ret;
}
