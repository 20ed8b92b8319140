/*
 * brain.c - `rustfx brain` (see brain.h).
 *
 * Owns: parsing the command's options; finding the stores of a cache
 * directory that hold a model; reading a model whatever the mount's
 * options were (fx_model_info, then fx_model_load with what it found);
 * ranking synapses (a bounded heap: a big model is never copied whole);
 * naming a neuron by the region it stands for and the object record of
 * that region's object; escaping object keys, which are hostile input
 * (anyone who can write to the bucket chose them, and the model file holds
 * them), for a terminal, for JSON and for DOT; the three outputs; taking
 * the store's lock around a reset.
 * Does not own: the model's format or its checks (neural/model.c), the
 * object record layout (cache/learn.c), the lock itself (cache/store.c).
 */
#include "tools/brain.h"
#include "tools/cli_i.h"

#include <errno.h>
#include <dirent.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>

#include "cache/learn.h"
#include "cache/store.h"
#include "core/error.h"
#include "neural/model.h"
#include "neural/predict.h"
#include "neural/snn.h"

#define FX_BRAIN_HINT                                                                              \
	"rustfx brain show|export --dot|reset [--json] CACHE_DIR; see 'rustfx brain --help'"
#define FX_BRAIN_TOP_DEFAULT	    20ul
#define FX_BRAIN_MIN_WEIGHT_DEFAULT 1.0 /* the firing threshold: a synapse this strong predicts */
#define FX_BRAIN_MAX_EDGES_DEFAULT  200ul
#define FX_BRAIN_LIST_MAX	    100000ul /* --top and --max-edges at most */
/* A label: a key of FX_PREDICT_OBJECT_MAX bytes grows at most 5 times
 * escaped for DOT (an invalid byte becomes \\xNN), plus the block range. */
#define FX_BRAIN_LABEL_MAX (5 * FX_PREDICT_OBJECT_MAX + 128)

enum fx_brain_cmd { FX_BRAIN_SHOW, FX_BRAIN_EXPORT, FX_BRAIN_RESET };

struct fx_brain_args {
	enum fx_brain_cmd cmd;
	const char *dir;
	bool json, dot;
	unsigned long top;	 /* show: associations listed */
	double min_weight;	 /* export: weakest edge drawn */
	unsigned long max_edges; /* export: edges drawn at most */
};

void fx_cli_brain_help(FILE *f)
{
	fprintf(
	    f,
	    "usage: rustfx brain show [--top N] [--json] CACHE_DIR\n"
	    "       rustfx brain export --dot [--min-weight W] [--max-edges N] CACHE_DIR\n"
	    "       rustfx brain reset [--json] CACHE_DIR\n\n"
	    "The model the learning cache saves (prefetch=snn, cache_policy=snn) in\n"
	    "model.mdb beside a store's index. CACHE_DIR is the cache_dir of a mount\n"
	    "(every store below it that holds a model is taken) or one store in it.\n\n"
	    "  show     per store: the model file's size and shape, what it holds, the\n"
	    "           learned prefetch's counters (accuracy = used / prefetched), the\n"
	    "           reuse scorer (MLP) if one is saved, and the strongest associations\n"
	    "           by object name, one a line:\n"
	    "             KEY [blocks a-b] -> KEY [blocks c-d]  weight w\n"
	    "           a read of the left blocks predicts a read of the right ones\n"
	    "           (weights 0 to 4; from 1 on they predict). In keys, control and\n"
	    "           bidirectional characters and bytes that are not UTF-8 are shown as\n"
	    "           \\xNN or \\uNNNN, and a backslash as \\\\.\n"
	    "    --top N          associations listed (default %lu; 0: none)\n"
	    "  export   --dot: the associations as a Graphviz digraph on standard output,\n"
	    "           a cluster per store, e.g.\n"
	    "             rustfx brain export --dot CACHE_DIR | dot -Tsvg >model.svg\n"
	    "    --min-weight W   weakest association drawn (default %.0f: those that predict)\n"
	    "    --max-edges N    the N strongest at most (default %lu)\n"
	    "  reset    delete the model: the next mount starts a new one. Refused (exit 1)\n"
	    "           while the store is mounted, which would save its model again.\n"
	    "  --json   show, reset: one JSON object per store, in an array\n\n"
	    "show and export read a mounted store's model as last saved (about every 30 s\n"
	    "and at unmount). 'rustfx cache clear' keeps the model; 'brain reset' removes it.\n"
	    "Exit: 0 ok, 1 store in use, 2 bad arguments or no model, 74 damaged model,\n"
	    ">= 64 other system errors.\n",
	    FX_BRAIN_TOP_DEFAULT, FX_BRAIN_MIN_WEIGHT_DEFAULT, FX_BRAIN_MAX_EDGES_DEFAULT);
}

/* ------------------------------------------------------------ options */

static int fx_brain_count(const char *s, unsigned long min, unsigned long *out)
{
	unsigned long v;
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > FX_BRAIN_LIST_MAX)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Parse into @a. @return -1 to go on, else an exit code. */
static int fx_brain_parse(int argc, char **argv, struct fx_brain_args *a)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"top", required_argument, NULL, 't'},
	    {"dot", no_argument, NULL, 'd'},
	    {"min-weight", required_argument, NULL, 'w'},
	    {"max-edges", required_argument, NULL, 'e'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool top = false, weight = false, edges = false;
	char **sub = argv + 1, *end, what[64];
	int c, nsub = argc - 1;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fx_cli_brain_help(stdout);
			return 0;
		}
	if (argc < 2)
		return fx_cli_usage(FX_BRAIN_HINT,
				      "brain needs a command: show, export or reset%s", "");
	if (!strcmp(argv[1], "show"))
		a->cmd = FX_BRAIN_SHOW;
	else if (!strcmp(argv[1], "export"))
		a->cmd = FX_BRAIN_EXPORT;
	else if (!strcmp(argv[1], "reset"))
		a->cmd = FX_BRAIN_RESET;
	else
		return fx_cli_usage(FX_BRAIN_HINT, "unknown brain command '%s'", argv[1]);

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(nsub, sub, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			a->json = true;
			break;
		case 't':
			top = true;
			if (fx_brain_count(optarg, 0, &a->top) < 0)
				return fx_cli_usage("a number of associations, 0 to 100000",
						      "bad --top '%s'", optarg);
			break;
		case 'd':
			a->dot = true;
			break;
		case 'w':
			weight = true;
			errno = 0;
			a->min_weight = strtod(optarg, &end);
			if (errno || end == optarg || *end || !isfinite(a->min_weight) ||
			    a->min_weight < 0)
				return fx_cli_usage("a weight of 0 or more, e.g. 0.5 (weights "
						      "run from 0 to 4)",
						      "bad --min-weight '%s'", optarg);
			break;
		case 'e':
			edges = true;
			if (fx_brain_count(optarg, 1, &a->max_edges) < 0)
				return fx_cli_usage("a number of edges, 1 to 100000",
						      "bad --max-edges '%s'", optarg);
			break;
		default:
			return fx_cli_usage(FX_BRAIN_HINT, "bad option '%s' for brain",
					      sub[optind - 1]);
		}
	}
	if (optind >= nsub)
		return fx_cli_usage(FX_BRAIN_HINT, "brain %s needs a cache directory", argv[1]);
	if (nsub - optind > 1)
		return fx_cli_usage(FX_BRAIN_HINT, "unexpected argument '%s'", sub[optind + 1]);
	a->dir = sub[optind];

	if (a->cmd == FX_BRAIN_EXPORT && !a->dot)
		return fx_cli_usage("rustfx brain export --dot CACHE_DIR | dot -Tsvg >model.svg",
				      "brain export needs a format: --dot%s", "");
	if (a->cmd == FX_BRAIN_EXPORT && (a->json || top))
		return fx_cli_usage("export takes --dot, --min-weight and --max-edges",
				      "%s is not for brain export", a->json ? "--json" : "--top");
	if (a->cmd != FX_BRAIN_EXPORT && (a->dot || weight || edges)) {
		snprintf(what, sizeof(what), "%s is not for brain %s",
			 a->dot	  ? "--dot"
			 : weight ? "--min-weight"
				  : "--max-edges",
			 argv[1]);
		return fx_cli_usage("--dot, --min-weight and --max-edges are for brain export",
				      "%s", what);
	}
	if (a->cmd == FX_BRAIN_RESET && top)
		return fx_cli_usage("--top is for brain show", "--top is not for brain reset%s",
				      "");
	return -1;
}

/* ------------------------------------------------------------ stores */

/* ------------------------------------------------------------ escaping */

/* Text being built in a caller's buffer; a piece that does not fit is
 * dropped whole (never cut, so an escape is never left half-written). */
struct fx_text {
	char *p;
	size_t len, cap; /* cap > 0; p[len] is always NUL */
};

static void fx_text_init(struct fx_text *t, char *buf, size_t cap)
{
	t->p = buf;
	t->len = 0;
	t->cap = cap;
	buf[0] = '\0';
}

static void fx_text_add(struct fx_text *t, const char *s, size_t n)
{
	if (t->len + n >= t->cap)
		return;
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

static void fx_text_str(struct fx_text *t, const char *s)
{
	fx_text_add(t, s, strlen(s));
}

/* The well-formed UTF-8 sequence at @s (@n bytes left): @return its length
 * with *@cp, or 0 (overlong, a surrogate, cut short, not UTF-8). */
static size_t fx_utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t v, min;
	size_t len;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, v = s[0] & 0x1fu, min = 0x80;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, v = s[0] & 0x0fu, min = 0x800;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, v = s[0] & 0x07u, min = 0x10000;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3fu);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

/* Characters a terminal or a reader could be fooled by: C0 and C1
 * controls, DEL, and those that reorder or break lines. */
static bool fx_cp_unsafe(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || cp == 0x061c || cp == 0x200e ||
	       cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
	       cp == 0xfeff;
}

/* Append key @s as text that shows every byte of it and nothing else:
 * unsafe characters as \uNNNN (\xNN below 0x80), bytes that are not UTF-8
 * as \xNN, a backslash as \\. @return whether anything was escaped. */
static bool fx_brain_escape(struct fx_text *t, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	bool escaped = false;
	char buf[16];

	while (n) {
		uint32_t cp = 0;
		size_t len = fx_utf8_seq(p, n, &cp);

		if (len && cp == '\\') {
			fx_text_str(t, "\\\\");
			escaped = true;
		} else if (len && !fx_cp_unsafe(cp)) {
			fx_text_add(t, (const char *)p, len);
		} else {
			if (!len || cp < 0x80)
				snprintf(buf, sizeof(buf), "\\x%02x", len ? (unsigned)cp : p[0]);
			else
				snprintf(buf, sizeof(buf), "\\u%04x", (unsigned)cp);
			fx_text_str(t, buf);
			escaped = true;
			if (!len)
				len = 1;
		}
		p += len;
		n -= len;
	}
	return escaped;
}

/* Append @s (already free of control characters) as the inside of a DOT
 * quoted string whose label shows @s as it is: \ and " escaped. */
static void fx_brain_dot_quote(struct fx_text *t, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fx_text_str(t, "\\\\");
		else if (*s == '"')
			fx_text_str(t, "\\\"");
		else
			fx_text_add(t, s, 1);
	}
}

/* ------------------------------------------------------------ the model */

/* The strongest synapses: a min-heap of at most cap until sorted. */
struct fx_brain_top {
	struct fx_snn_synapse *s;
	size_t n, cap;
	uint64_t seen; /* synapses of at least min_weight */
	float min_weight;
};

/* Stronger: heavier, then (for a stable order) lower pre, then lower post. */
static bool fx_syn_stronger(const struct fx_snn_synapse *a, const struct fx_snn_synapse *b)
{
	if (a->weight != b->weight)
		return a->weight > b->weight;
	return a->pre != b->pre ? a->pre < b->pre : a->post < b->post;
}

static int fx_syn_cmp(const void *x, const void *y)
{
	const struct fx_snn_synapse *a = x, *b = y;

	return fx_syn_stronger(a, b) ? -1 : fx_syn_stronger(b, a) ? 1 : 0;
}

static void fx_heap_swap(struct fx_snn_synapse *h, size_t i, size_t j)
{
	struct fx_snn_synapse t = h[i];

	h[i] = h[j];
	h[j] = t;
}

static int fx_brain_collect(void *arg, const struct fx_snn_synapse *s)
{
	struct fx_brain_top *t = arg;
	struct fx_snn_synapse *h = t->s;
	size_t i;

	if (s->weight < t->min_weight)
		return 0;
	t->seen++;
	if (!t->cap)
		return 0;
	if (t->n < t->cap) { /* sift up: the weakest stays at the root */
		h[i = t->n++] = *s;
		while (i && fx_syn_stronger(&h[(i - 1) / 2], &h[i])) {
			fx_heap_swap(h, i, (i - 1) / 2);
			i = (i - 1) / 2;
		}
		return 0;
	}
	if (!fx_syn_stronger(s, &h[0]))
		return 0;
	h[0] = *s;
	for (i = 0;;) { /* sift down */
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < t->n && fx_syn_stronger(&h[m], &h[l]))
			m = l;
		if (r < t->n && fx_syn_stronger(&h[m], &h[r]))
			m = r;
		if (m == i)
			break;
		fx_heap_swap(h, i, m);
		i = m;
	}
	return 0;
}

struct fx_brain_model {
	const char *dir;
	struct fx_model_info info;
	struct fx_predictor *pred;
	struct fx_brain_top top; /* sorted, strongest first */
};

static void fx_brain_model_free(struct fx_brain_model *m)
{
	fx_predict_free(m->pred);
	free(m->top.s);
}

/*
 * Load the model of store @dir the way it was saved, and keep its @k
 * strongest synapses of at least @min_weight. @return 0 or -errno with @d.
 */
static int fx_brain_model_load(const char *dir, size_t k, float min_weight,
			       struct fx_brain_model *m, struct fx_diag *d)
{
	struct fx_predict_opts o;
	struct fx_snn *snn;
	int rc;

	memset(m, 0, sizeof(*m));
	m->dir = dir;
	if ((rc = fx_model_info(dir, &o, &m->info, d)) < 0 ||
	    (rc = fx_model_load(dir, &o, NULL, &m->pred, &m->info.counters, d)) < 0) {
		if (rc == -ENOENT) /* gone since the directory was listed */
			fx_diag_set(d, rc, "run the command again", "no model in %s any more", dir);
		return rc;
	}
	snn = fx_predict_snn(m->pred);
	/* a mount may have saved a newer model between the two reads */
	m->info.synapses = fx_snn_synapse_count(snn);
	m->top.cap = k;
	m->top.min_weight = min_weight;
	if (k && !(m->top.s = malloc(k * sizeof(*m->top.s)))) {
		fx_predict_free(m->pred);
		m->pred = NULL;
		fx_diag_set(d, -ENOMEM, NULL, "out of memory");
		return -ENOMEM;
	}
	fx_snn_each_synapse(snn, fx_snn_clock(snn), 0.0f, fx_brain_collect, &m->top);
	if (m->top.n)
		qsort(m->top.s, m->top.n, sizeof(*m->top.s), fx_syn_cmp);
	return 0;
}

/* What a neuron stands for. */
struct fx_brain_end {
	uint32_t neuron;
	bool region; /* it stands for a region (else nothing yet) */
	uint64_t obj, first, last;
	bool named; /* the object's record was there (the key below) */
	char key[FX_PREDICT_OBJECT_MAX + 1];
};

static void fx_brain_end(struct fx_predictor *pred, uint32_t neuron, struct fx_brain_end *e)
{
	unsigned char rec[FX_PREDICT_OBJECT_MAX];
	struct fx_object_ref ref;
	struct fx_prediction r;
	int n;

	memset(e, 0, sizeof(*e));
	e->neuron = neuron;
	if (!fx_predict_region(pred, neuron, &r))
		return;
	e->region = true;
	e->obj = r.obj;
	e->first = r.first_block;
	e->last = r.first_block + r.nblocks - 1;
	n = fx_predict_object_get(pred, r.obj, rec, sizeof(rec));
	if (n > 0 && fx_learn_rec_decode(rec, (size_t)n, e->key, &ref) == 0) {
		memmove(e->key, ref.key, strlen(ref.key) + 1);
		e->named = true;
	}
}

/* @e for people: "KEY [blocks a-b]", "object HEX [blocks a-b]" or "neuron N";
 * @sep goes between the name and the blocks. */
static void fx_brain_label(const struct fx_brain_end *e, const char *sep, struct fx_text *t)
{
	char buf[96];

	if (!e->region) {
		snprintf(buf, sizeof(buf), "neuron %u", e->neuron);
		fx_text_str(t, buf);
		return;
	}
	if (e->named) {
		fx_brain_escape(t, e->key);
	} else {
		snprintf(buf, sizeof(buf), "object %016llx", (unsigned long long)e->obj);
		fx_text_str(t, buf);
	}
	snprintf(buf, sizeof(buf), "%s[blocks %llu-%llu]", sep, (unsigned long long)e->first,
		 (unsigned long long)e->last);
	fx_text_str(t, buf);
}

/* ------------------------------------------------------------ show */

static double fx_brain_accuracy(const struct fx_model_counters *c)
{
	double a = c->prefetched ? (double)c->used / (double)c->prefetched : 0;

	return a > 1 ? 1 : a;
}

static void fx_brain_mlp_shape(const struct fx_model_info *in, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	for (uint32_t i = 0; i < in->mlp_layers && len < cap; i++)
		len +=
		    (size_t)snprintf(buf + len, cap - len, "%s%u", i ? "-" : "", in->mlp_shape[i]);
}

static void fx_brain_print(struct fx_brain_model *m)
{
	const struct fx_model_info *in = &m->info;
	const struct fx_model_counters *c = &in->counters;
	char shape[FX_MLP_MAX_LAYERS * 7], a[FX_BRAIN_LABEL_MAX], b[FX_BRAIN_LABEL_MAX];

	printf("%s\n", m->dir);
	printf("  model         %s, %llu bytes, format %u; %u neurons x %u blocks a region, "
	       "fanout %u\n",
	       FX_MODEL_FILE, (unsigned long long)in->file_bytes, in->version, in->neurons,
	       in->region_blocks, in->fanout);
	printf("  holds         %llu synapses, %llu regions, %llu object records; "
	       "%.1f MiB in memory\n",
	       (unsigned long long)in->synapses, (unsigned long long)in->region_slots,
	       (unsigned long long)in->objects, (double)fx_predict_memory(m->pred) / 1048576.0);
	printf("  prefetch      %llu predicted, %llu prefetched, %llu used, %llu wasted; ",
	       (unsigned long long)c->predicted, (unsigned long long)c->prefetched,
	       (unsigned long long)c->used, (unsigned long long)c->wasted);
	if (c->prefetched)
		printf("accuracy %.2f\n", fx_brain_accuracy(c));
	else
		printf("accuracy - (nothing prefetched yet)\n");
	printf("  saved         %llu time%s; model time %.1f s (runs while mounted); "
	       "%llu reads seen\n",
	       (unsigned long long)c->saves, c->saves == 1 ? "" : "s", in->clock_ms / 1000.0,
	       (unsigned long long)in->predict.accesses);
	fx_brain_mlp_shape(in, shape, sizeof(shape));
	if (in->mlp_layers)
		printf("  reuse scorer  MLP %s saved, %llu samples trained\n", shape,
		       (unsigned long long)c->trained);
	else
		printf("  reuse scorer  none saved (cache_policy=snn saves one)\n");
	if (!m->top.cap)
		return;
	printf("  strongest associations (%zu of %llu):\n", m->top.n,
	       (unsigned long long)m->top.seen);
	for (size_t i = 0; i < m->top.n; i++) {
		struct fx_brain_end from, to;
		struct fx_text ta, tb;

		fx_brain_end(m->pred, m->top.s[i].pre, &from);
		fx_brain_end(m->pred, m->top.s[i].post, &to);
		fx_text_init(&ta, a, sizeof(a));
		fx_text_init(&tb, b, sizeof(b));
		fx_brain_label(&from, " ", &ta);
		fx_brain_label(&to, " ", &tb);
		printf("    %s -> %s  weight %.2f\n", a, b, (double)m->top.s[i].weight);
	}
}

/* @e as JSON: {"key", "object", "first_block", "last_block"} or {"neuron"}. */
static json_t *fx_brain_end_json(const struct fx_brain_end *e)
{
	char hex[24], esc[FX_BRAIN_LABEL_MAX];
	struct fx_text t;
	json_t *o, *key = NULL;

	if (!e->region)
		return json_pack("{s:I}", "neuron", (json_int_t)e->neuron);
	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)e->obj);
	o = json_pack("{s:I, s:s, s:I, s:I}", "neuron", (json_int_t)e->neuron, "object", hex,
		      "first_block", (json_int_t)e->first, "last_block", (json_int_t)e->last);
	if (!o || !e->named)
		return o;
	/* JSON strings are UTF-8: a key that is not is given escaped, and says so */
	if (!(key = json_string(e->key))) {
		fx_text_init(&t, esc, sizeof(esc));
		fx_brain_escape(&t, e->key);
		key = json_string(esc);
		json_object_set_new(o, "key_escaped", json_true());
	}
	json_object_set_new(o, "key", key ? key : json_null());
	return o;
}

static json_t *fx_brain_json(struct fx_brain_model *m)
{
	const struct fx_model_info *in = &m->info;
	const struct fx_model_counters *c = &in->counters;
	json_t *o, *shape, *assoc;
	char seed[24];

	snprintf(seed, sizeof(seed), "0x%016llx", (unsigned long long)in->seed);
	o = json_pack("{s:s, s:s, s:I, s:i, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "dir",
		      m->dir, "file", FX_MODEL_FILE, "file_bytes", (json_int_t)in->file_bytes,
		      "format_version", (int)in->version, "seed", seed, "neurons",
		      (json_int_t)in->neurons, "region_blocks", (json_int_t)in->region_blocks,
		      "fanout", (json_int_t)in->fanout, "synapses", (json_int_t)in->synapses,
		      "regions", (json_int_t)in->region_slots, "objects", (json_int_t)in->objects,
		      "model_bytes", (json_int_t)fx_predict_memory(m->pred), "model_time_s",
		      in->clock_ms / 1000.0);
	if (!o)
		return NULL;
	json_object_set_new(
	    o, "counters",
	    json_pack("{s:I, s:I, s:I, s:I, s:o, s:I, s:I}", "predicted", (json_int_t)c->predicted,
		      "prefetched", (json_int_t)c->prefetched, "used", (json_int_t)c->used,
		      "wasted", (json_int_t)c->wasted, "accuracy",
		      c->prefetched ? json_real(fx_brain_accuracy(c)) : json_null(), "saves",
		      (json_int_t)c->saves, "trained", (json_int_t)c->trained));
	json_object_set_new(o, "predictor",
			    json_pack("{s:I, s:I, s:I}", "accesses",
				      (json_int_t)in->predict.accesses, "fired",
				      (json_int_t)in->predict.fired, "predictions",
				      (json_int_t)in->predict.predictions));
	shape = json_array();
	for (uint32_t i = 0; shape && i < in->mlp_layers; i++)
		json_array_append_new(shape, json_integer(in->mlp_shape[i]));
	if (in->mlp_layers) {
		json_object_set_new(o, "mlp", json_pack("{s:b, s:o}", "saved", 1, "shape", shape));
	} else {
		json_decref(shape);
		json_object_set_new(o, "mlp", json_pack("{s:b}", "saved", 0));
	}
	assoc = json_array();
	for (size_t i = 0; assoc && i < m->top.n; i++) {
		struct fx_brain_end from, to;

		fx_brain_end(m->pred, m->top.s[i].pre, &from);
		fx_brain_end(m->pred, m->top.s[i].post, &to);
		json_array_append_new(
		    assoc, json_pack("{s:o, s:o, s:f}", "from", fx_brain_end_json(&from), "to",
				     fx_brain_end_json(&to), "weight", (double)m->top.s[i].weight));
	}
	json_object_set_new(o, "associations", assoc ? assoc : json_null());
	return o;
}

/* ------------------------------------------------------------ export */

static int fx_u32_cmp(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

/* One store's associations as a DOT cluster (number @k). */
static int fx_brain_dot(struct fx_brain_model *m, unsigned k, float w_max)
{
	char label[2 * FX_BRAIN_LABEL_MAX], text[FX_BRAIN_LABEL_MAX];
	uint32_t *nodes = malloc(2 * m->top.n * sizeof(*nodes) + 1);
	size_t n_nodes = 0;
	struct fx_text t;

	if (!nodes)
		return -ENOMEM;
	for (size_t i = 0; i < m->top.n; i++) {
		nodes[n_nodes++] = m->top.s[i].pre;
		nodes[n_nodes++] = m->top.s[i].post;
	}
	if (n_nodes)
		qsort(nodes, n_nodes, sizeof(*nodes), fx_u32_cmp);

	fx_text_init(&t, text, sizeof(text));
	fx_brain_escape(&t, m->dir);
	fx_text_init(&t, label, sizeof(label));
	fx_brain_dot_quote(&t, text);
	printf("\tsubgraph cluster_%u {\n\t\tlabel=\"%s (%zu of %llu associations)\";\n", k, label,
	       m->top.n, (unsigned long long)m->top.seen);
	for (size_t i = 0; i < n_nodes; i++) {
		struct fx_brain_end e;

		if (i && nodes[i] == nodes[i - 1])
			continue;
		fx_brain_end(m->pred, nodes[i], &e);
		fx_text_init(&t, text, sizeof(text));
		fx_brain_label(&e, "\n", &t);
		/* the label's line break is DOT's own \n, not an escaped one */
		fx_text_init(&t, label, sizeof(label));
		for (char *line = text, *nl; line; line = nl ? nl + 1 : NULL) {
			if ((nl = strchr(line, '\n')))
				*nl = '\0';
			fx_brain_dot_quote(&t, line);
			if (nl)
				fx_text_str(&t, "\\n");
		}
		printf("\t\ts%un%u [label=\"%s\"];\n", k, nodes[i], label);
	}
	for (size_t i = 0; i < m->top.n; i++) {
		const struct fx_snn_synapse *s = &m->top.s[i];

		printf("\t\ts%un%u -> s%un%u [label=\"%.2f\", penwidth=%.2f];\n", k, s->pre, k,
		       s->post, (double)s->weight, 0.5 + 3.5 * (double)(s->weight / w_max));
	}
	printf("\t}\n");
	free(nodes);
	return 0;
}

/* ------------------------------------------------------------ reset */

/* Remove @store's model under the store's lock. @return 0 or -errno with @d. */
static int fx_brain_reset_one(const char *store, uint64_t *bytes, struct fx_diag *d)
{
	char path[PATH_MAX];
	struct stat st;
	int fd = -1, rc;

	if ((rc = fx_store_lock(store, &fd, d)) < 0) {
		if (rc == -EBUSY) { /* say it in this command's words */
			memset(d, 0, sizeof(*d));
			fx_diag_set(d, rc,
				    "unmount it first (rustfx umount MOUNTPOINT), then run 'rustfx "
				    "brain reset' again",
				    "cannot reset the model in %s (the store is in use by a rustfx "
				    "mount)",
				    store);
		}
		return rc;
	}
	snprintf(path, sizeof(path), "%s/%s", store, FX_MODEL_FILE);
	*bytes = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
	if ((rc = fx_model_remove(store)) < 0)
		fx_diag_set(d, rc, rc == -ENOENT ? "nothing to do: it is gone" : NULL,
			    "cannot remove the model in %s (%s)", store, fx_strerror(rc));
	fx_store_unlock(fd);
	return rc;
}

/* ------------------------------------------------------------ the command */

/* Record a store's failure: into @arr, or printed. */
static void fx_brain_report_error(const char *store, const struct fx_diag *d, json_t *arr)
{
	if (arr)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "dir", store, "error",
						     d->msg, "hint", d->hint));
	else
		fx_diag_print(d, stderr);
}

int fx_cli_brain(int argc, char **argv, bool json)
{
	struct fx_brain_args a = {.json = json,
				  .top = FX_BRAIN_TOP_DEFAULT,
				  .min_weight = FX_BRAIN_MIN_WEIGHT_DEFAULT,
				  .max_edges = FX_BRAIN_MAX_EDGES_DEFAULT};
	struct fx_diag d = {0};
	json_t *arr = NULL;
	char **stores = NULL;
	int n, rc, fail = 0;

	if ((rc = fx_brain_parse(argc, argv, &a)) >= 0)
		return rc;
	n = fx_cli_stores(a.dir, FX_MODEL_FILE, true, &stores);
	if (n < 0) {
		fx_diag_set(&d, n == -ENOMEM ? n : -FX_EUSAGE,
			    "name a mount's cache_dir (default ~/.cache/rustfx) or a store in it",
			    "%s is not a rustfx cache directory (%s)", a.dir, fx_strerror(n));
		return fx_cli_fail(&d);
	}
	if (n == 0) {
		fx_diag_set(
		    &d, -FX_EUSAGE,
		    "a mount with -o prefetch=snn or cache_policy=snn saves one (every 30 s "
		    "and at unmount)",
		    "no learned model in %s (no %s in it or its subdirectories)", a.dir,
		    FX_MODEL_FILE);
		fx_cli_stores_free(stores, 0);
		return fx_cli_fail(&d);
	}
	if (a.json && !(arr = json_array())) {
		fx_cli_stores_free(stores, n);
		return EX_OSERR;
	}
	if (a.cmd == FX_BRAIN_EXPORT)
		printf("digraph rustfx_model {\n"
		       "\tgraph [rankdir=LR, fontname=\"Helvetica\", fontsize=11, "
		       "label=\"rustfx learned model: associations of weight >= %.2f, the %lu "
		       "strongest a store at most\"];\n"
		       "\tnode [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=10];\n"
		       "\tedge [fontname=\"Helvetica\", fontsize=8];\n",
		       a.min_weight, a.max_edges);
	for (int i = 0; i < n; i++) {
		struct fx_brain_model m;
		uint64_t bytes = 0;

		memset(&d, 0, sizeof(d));
		if (a.cmd == FX_BRAIN_RESET) {
			rc = fx_brain_reset_one(stores[i], &bytes, &d);
			if (!rc && arr)
				json_array_append_new(
				    arr, json_pack("{s:s, s:b, s:I}", "dir", stores[i], "removed",
						   1, "file_bytes", (json_int_t)bytes));
			else if (!rc)
				printf("%s: model removed (%llu bytes); the next mount starts a "
				       "new one\n",
				       stores[i], (unsigned long long)bytes);
		} else {
			size_t k = a.cmd == FX_BRAIN_SHOW ? a.top : a.max_edges;
			float min = a.cmd == FX_BRAIN_SHOW ? 0.0f : (float)a.min_weight;

			rc = fx_brain_model_load(stores[i], k, min, &m, &d);
			if (!rc && a.cmd == FX_BRAIN_EXPORT) {
				rc = fx_brain_dot(&m, (unsigned)i,
						  fx_snn_params(fx_predict_snn(m.pred))->w_max);
				if (rc)
					fx_diag_set(&d, rc, NULL, "out of memory");
			} else if (!rc && arr) {
				json_array_append_new(arr, fx_brain_json(&m));
			} else if (!rc) {
				if (i)
					putchar('\n');
				fx_brain_print(&m);
			}
			fx_brain_model_free(&m); /* what a failed load left is NULL */
		}
		if (rc < 0) {
			fx_brain_report_error(stores[i], &d, a.cmd == FX_BRAIN_EXPORT ? NULL : arr);
			if (!fail)
				fail = fx_exit_code(rc);
		}
	}
	if (a.cmd == FX_BRAIN_EXPORT)
		printf("}\n");
	if (arr) {
		json_dumpf(arr, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(arr);
	}
	fx_cli_stores_free(stores, n);
	if (fflush(stdout) != 0 && !fail) {
		memset(&d, 0, sizeof(d));
		fx_diag_set(&d, -errno, "check where the output goes",
			    "cannot write the output (%s)", strerror(errno));
		fail = fx_cli_fail(&d);
	}
	return fail;
}
