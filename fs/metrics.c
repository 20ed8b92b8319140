/*
 * metrics.c - Prometheus metrics of a mount (see metrics.h).
 *
 * Owns: the metrics address syntax, the stats-document-to-exposition
 * rendering with its table of metric types and help texts, and, when built
 * with RUSTFX_METRICS (FX_HAVE_METRICS), the listening socket and the
 * libmicrohttpd server thread that answers GET /metrics.
 * Does not own: the numbers (fx_ctl_stats_json() in fs/control.c collects
 * them for the stats file and for this alike), the mount's lifetime.
 *
 * The socket is bound before the mount so that a taken port or a foreign
 * address fails the mount with a message; the thread starts after
 * fuse_daemonize(), whose fork would leave it behind. libmicrohttpd gets a
 * duplicate of the socket, which it closes when stopped.
 */
#define FX_LOG_MODULE "fs"
#include "fs/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef FX_HAVE_METRICS
#include <microhttpd.h>
#endif

#include "backends/backend.h"
#include "core/log.h"
#include "fs/control.h"

#define FX_METRICS_BACKLOG 16
#define FX_METRICS_CONNECTIONS 16u /* scrapers at once */
#define FX_METRICS_TIMEOUT_S 10u   /* idle connection */

static const char fx_addr_hint[] =
	"write metrics=PORT (127.0.0.1), metrics=127.0.0.1:9567 or metrics=[::1]:9567";

/* ------------------------------------------------------------ addresses */

bool fx_metrics_built(void)
{
#ifdef FX_HAVE_METRICS
	return true;
#else
	return false;
#endif
}

static int fx_parse_port(const char *text, unsigned *out)
{
	unsigned long v = 0;

	if (!*text || strlen(text) > 5)
		return -EINVAL;
	for (const char *p = text; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v == 0 || v > 65535)
		return -ERANGE;
	*out = (unsigned)v;
	return 0;
}

int fx_metrics_parse_addr(const char *text, struct sockaddr_storage *sa, socklen_t *salen,
			  struct fx_diag *d)
{
	struct sockaddr_storage ss = { 0 };
	char host[FX_METRICS_ADDR_MAX];
	const char *port_text, *colon;
	unsigned port;
	socklen_t len;
	int ret;

	if (!text || strlen(text) >= sizeof(host))
		goto bad;
	if (text[0] == '[') { /* [IPV6]:PORT */
		const char *close = strchr(text, ']');

		if (!close || close[1] != ':')
			goto bad;
		snprintf(host, sizeof(host), "%.*s", (int)(close - text - 1), text + 1);
		port_text = close + 2;
	} else if ((colon = strrchr(text, ':'))) { /* IPV4:PORT */
		if (strchr(text, ':') != colon) {
			fx_diag_set(d, -FX_EBADOPT,
				    "put an IPv6 address in brackets, e.g. metrics=[::1]:9567",
				    "metrics address '%s' is ambiguous", text);
			return -FX_EBADOPT;
		}
		snprintf(host, sizeof(host), "%.*s", (int)(colon - text), text);
		port_text = colon + 1;
	} else { /* PORT: loopback only, never every interface by accident */
		snprintf(host, sizeof(host), "127.0.0.1");
		port_text = text;
	}
	if ((ret = fx_parse_port(port_text, &port)) < 0) {
		fx_diag_set(d, -FX_EBADOPT, fx_addr_hint,
			    "metrics address '%s': '%s' is not a port (1-65535)", text, port_text);
		return -FX_EBADOPT;
	}
	if (text[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			goto bad_host;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			goto bad_host;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		len = sizeof(*s4);
	}
	if (sa)
		*sa = ss;
	if (salen)
		*salen = len;
	return 0;
bad_host:
	fx_diag_set(d, -FX_EBADOPT,
		    "names are not looked up: write metrics=127.0.0.1:9567 or metrics=[::1]:9567",
		    "metrics address '%s': '%s' is not a numeric IP address", text, host);
	return -FX_EBADOPT;
bad:
	fx_diag_set(d, -FX_EBADOPT, fx_addr_hint, "metrics address '%s' is not [HOST:]PORT",
		    text ? text : "");
	return -FX_EBADOPT;
}

int fx_metrics_check(const char *addr, struct fx_diag *d)
{
	if (!fx_metrics_built()) {
		fx_diag_set(d, -FX_EBADOPT,
			    "rebuild with cmake -DRUSTFX_METRICS=ON (needs libmicrohttpd-dev), or drop metrics=",
			    "metrics=%s: this rustfx was built without metrics", addr);
		return -FX_EBADOPT;
	}
	return fx_metrics_parse_addr(addr, NULL, NULL, d);
}

/* ------------------------------------------------------------ rendering */

enum fx_metric_type {
	FX_METRIC_NONE,	   /* not a metric */
	FX_METRIC_COUNTER, /* only grows while mounted: _total */
	FX_METRIC_GAUGE,
	FX_METRIC_HISTOGRAM,
	FX_METRIC_UNTYPED, /* a stats field without an entry below */
};

static const char *const fx_metric_type_names[] = {
	[FX_METRIC_COUNTER] = "counter",
	[FX_METRIC_GAUGE] = "gauge",
	[FX_METRIC_HISTOGRAM] = "histogram",
	[FX_METRIC_UNTYPED] = "untyped",
};

/* One stats field. @path is "section.key" ("key" at the top level; a
 * per-operation field is "requests.key"); @name NULL derives the name as
 * rustfx_section_key, plus _total for a counter. */
struct fx_metric_def {
	const char *path;
	enum fx_metric_type type;
	const char *name;
	const char *help;
};

static const struct fx_metric_def fx_metric_defs[] = {
	{ "version", FX_METRIC_NONE, NULL, NULL }, /* of the document, not of anything measured */
	{ "uptime_s", FX_METRIC_GAUGE, "rustfx_uptime_seconds", "Seconds since the mount started." },

	{ "cache.blocks", FX_METRIC_GAUGE, NULL, "Blocks in the disk cache." },
	{ "cache.bytes", FX_METRIC_GAUGE, NULL, "Bytes of the blocks in the disk cache." },
	{ "cache.capacity", FX_METRIC_GAUGE, "rustfx_cache_capacity_bytes",
	  "Bytes the disk cache may hold." },
	{ "cache.hits", FX_METRIC_COUNTER, NULL, "Block reads served by the disk cache." },
	{ "cache.misses", FX_METRIC_COUNTER, NULL, "Block reads the disk cache could not serve." },
	{ "cache.bytes_from_cache", FX_METRIC_COUNTER, NULL, "Bytes read from cached blocks." },
	{ "cache.bytes_to_page_cache", FX_METRIC_COUNTER, NULL,
	  "Bytes of cached blocks put into the kernel page cache after small reads." },
	{ "cache.hit_ratio", FX_METRIC_GAUGE, NULL, "hits / (hits + misses) since the mount." },
	{ "cache.inserts", FX_METRIC_COUNTER, NULL, "Blocks stored in the disk cache." },
	{ "cache.evictions", FX_METRIC_COUNTER, NULL, "Blocks evicted from the disk cache." },
	{ "cache.checksum_failures", FX_METRIC_COUNTER, NULL,
	  "Cached blocks that failed their checksum and were fetched again." },
	{ "cache.skipped_inserts", FX_METRIC_COUNTER, NULL,
	  "Blocks not cached: no room even after evicting." },
	{ "cache.stale_dropped", FX_METRIC_COUNTER, NULL,
	  "Cached blocks dropped because their object changed." },
	{ "cache.adopted_at_mount", FX_METRIC_GAUGE, "rustfx_cache_adopted_at_mount_blocks",
	  "Orphan block files taken back when the mount opened the cache." },
	{ "cache.dropped_at_mount", FX_METRIC_GAUGE, "rustfx_cache_dropped_at_mount_blocks",
	  "Index entries or block files removed when the mount opened the cache." },

	{ "prefetch.issued", FX_METRIC_COUNTER, NULL,
	  "Blocks queued for prefetch (readahead and learned)." },
	{ "prefetch.used", FX_METRIC_COUNTER, NULL, "Prefetched blocks read later." },
	{ "prefetch.wasted", FX_METRIC_COUNTER, NULL, "Prefetched blocks evicted unread." },
	{ "prefetch.skipped", FX_METRIC_COUNTER, NULL,
	  "Prefetches not issued (memory budget or queue full)." },
	{ "prefetch.accuracy", FX_METRIC_GAUGE, NULL, "used / issued since the mount." },

	{ "fetch.blocks", FX_METRIC_COUNTER, NULL, "Blocks fetched from the backend." },
	{ "fetch.bytes_from_backend", FX_METRIC_COUNTER, NULL, "Bytes fetched from the backend." },
	{ "fetch.coalesced", FX_METRIC_COUNTER, NULL,
	  "Reads that joined a fetch of the same block already running." },
	{ "fetch.errors", FX_METRIC_COUNTER, NULL, "Block fetches that failed." },
	{ "fetch.stale", FX_METRIC_COUNTER, NULL, "Block fetches that found the object changed." },
	{ "fetch.memory_used", FX_METRIC_GAUGE, "rustfx_fetch_memory_used_bytes",
	  "Bytes of fetch and prefetch buffers in use." },
	{ "fetch.memory_peak", FX_METRIC_GAUGE, "rustfx_fetch_memory_peak_bytes",
	  "Most bytes of fetch and prefetch buffers in use at once." },
	{ "fetch.memory_limit", FX_METRIC_GAUGE, "rustfx_fetch_memory_limit_bytes",
	  "Budget of fetch and prefetch buffers (memory_limit)." },

	{ "requests.calls", FX_METRIC_COUNTER, "rustfx_backend_requests_total",
	  "Backend requests, including failed ones." },
	{ "requests.errors", FX_METRIC_COUNTER, "rustfx_backend_request_errors_total",
	  "Backend requests that failed (not counting answers that an object is missing)." },
	{ "requests.bytes", FX_METRIC_COUNTER, "rustfx_backend_request_bytes_total",
	  "Bytes moved by backend requests (get: read, put: stored)." },

	{ "learn.accesses", FX_METRIC_COUNTER, NULL, "Reads seen by the learned predictor." },
	{ "learn.predicted", FX_METRIC_COUNTER, NULL, "Blocks the predictor predicted." },
	{ "learn.prefetched", FX_METRIC_COUNTER, NULL, "Predicted blocks queued for fetching." },
	{ "learn.used", FX_METRIC_COUNTER, NULL, "Predicted blocks read later." },
	{ "learn.wasted", FX_METRIC_COUNTER, NULL, "Predicted blocks evicted unread." },
	{ "learn.accuracy", FX_METRIC_GAUGE, NULL, "Predicted blocks used / prefetched." },
	{ "learn.coverage", FX_METRIC_GAUGE, NULL,
	  "Predicted blocks used / (used + demand misses)." },
	{ "learn.model_bytes", FX_METRIC_GAUGE, NULL, "Memory of the predictor." },
	{ "learn.synapses", FX_METRIC_GAUGE, NULL, "Synapses of the predictor." },
	{ "learn.saves", FX_METRIC_COUNTER, NULL, "Model saves since the mount." },
	{ "learn.model_loaded", FX_METRIC_GAUGE, NULL, "1 when a saved model was loaded at mount." },
	{ "learn.lookups_prefetched", FX_METRIC_COUNTER, NULL, "Predicted lookups sent (HEADs)." },
	{ "learn.lookups_used", FX_METRIC_COUNTER, NULL,
	  "Predicted lookups whose attributes a lookup used." },
};

#define FX_METRIC_NAME_MAX 160

static const struct fx_metric_def *fx_metric_def(const char *path)
{
	for (size_t i = 0; i < sizeof(fx_metric_defs) / sizeof(fx_metric_defs[0]); i++)
		if (!strcmp(fx_metric_defs[i].path, path))
			return &fx_metric_defs[i];
	return NULL;
}

/* "rustfx_" @stem with every character outside [a-zA-Z0-9_] as '_', then @suffix. */
static void fx_metric_name(char *buf, size_t size, const char *stem, const char *suffix)
{
	size_t n = (size_t)snprintf(buf, size, "rustfx_%s%s", stem, suffix);

	for (char *p = buf + 7; p < buf + (n < size ? n : size - 1); p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			*p = '_';
}

/* Text after "# HELP name ": backslash and newline escaped. */
static void fx_put_help(FILE *f, const char *text)
{
	for (; *text; text++) {
		if (*text == '\\')
			fputs("\\\\", f);
		else if (*text == '\n')
			fputs("\\n", f);
		else
			fputc(*text, f);
	}
}

/* A label value: backslash, double quote and newline escaped. */
static void fx_put_label_value(FILE *f, const char *text)
{
	for (; *text; text++) {
		if (*text == '\\' || *text == '"')
			fprintf(f, "\\%c", *text);
		else if (*text == '\n')
			fputs("\\n", f);
		else
			fputc(*text, f);
	}
}

/* The shortest of %.15g and %.17g that reads back as @v. */
static void fx_put_double(FILE *f, double v)
{
	char buf[40];

	if (isnan(v)) {
		fputs("NaN", f);
		return;
	}
	if (isinf(v)) {
		fputs(v > 0 ? "+Inf" : "-Inf", f);
		return;
	}
	snprintf(buf, sizeof(buf), "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, sizeof(buf), "%.17g", v);
	fputs(buf, f);
}

/* @v as a sample value; false when it is not a number or a boolean. */
static bool fx_put_value(FILE *f, const json_t *v)
{
	if (json_is_integer(v))
		fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		fx_put_double(f, json_real_value(v));
	else if (json_is_boolean(v))
		fputc(json_is_true(v) ? '1' : '0', f);
	else
		return false;
	return true;
}

static bool fx_is_value(const json_t *v)
{
	return json_is_number(v) || json_is_boolean(v);
}

static void fx_put_family(FILE *f, const char *name, enum fx_metric_type type, const char *help)
{
	fprintf(f, "# HELP %s ", name);
	fx_put_help(f, help);
	fprintf(f, "\n# TYPE %s %s\n", name, fx_metric_type_names[type]);
}

/* Name, type and help of the field at @path (dotted) whose name stem is
 * @stem; false when it is not a metric. */
static bool fx_field_family(const char *path, const char *stem, char *name, size_t name_size,
			    enum fx_metric_type *type, char *help, size_t help_size)
{
	const struct fx_metric_def *def = fx_metric_def(path);

	if (def && def->type == FX_METRIC_NONE)
		return false;
	*type = def ? def->type : FX_METRIC_UNTYPED;
	if (def && def->name)
		snprintf(name, name_size, "%s", def->name);
	else
		fx_metric_name(name, name_size, stem, *type == FX_METRIC_COUNTER ? "_total" : "");
	if (def)
		snprintf(help, help_size, "%s", def->help);
	else
		snprintf(help, help_size, "Stats field %s (no type known to rustfx metrics).", path);
	return true;
}

/* The field @v at @path (dotted) with name stem @stem: a number or boolean
 * is one family of one sample; an object's fields flatten into their own. */
static void fx_render_field(FILE *f, const char *path, const char *stem, json_t *v)
{
	char name[FX_METRIC_NAME_MAX], help[FX_METRIC_NAME_MAX + 64];
	enum fx_metric_type type;

	if (json_is_object(v)) {
		char sub_path[FX_METRIC_NAME_MAX], sub_stem[FX_METRIC_NAME_MAX];
		const char *key;
		json_t *sub;

		json_object_foreach(v, key, sub) {
			snprintf(sub_path, sizeof(sub_path), "%s.%s", path, key);
			snprintf(sub_stem, sizeof(sub_stem), "%s_%s", stem, key);
			fx_render_field(f, sub_path, sub_stem, sub);
		}
		return;
	}
	if (!fx_is_value(v) ||
	    !fx_field_family(path, stem, name, sizeof(name), &type, help, sizeof(help)))
		return;
	fx_put_family(f, name, type, help);
	fprintf(f, "%s ", name);
	fx_put_value(f, v);
	fputc('\n', f);
}

/* The backend's latency buckets from their JSON names ("<2", "<4", ...,
 * ">=8388608"; absent ones are zero). @return 0 or -EINVAL. */
static int fx_latency_buckets(json_t *o, uint64_t *counts)
{
	const char *key;
	json_t *v;

	memset(counts, 0, FX_LATENCY_BUCKETS * sizeof(*counts));
	if (!json_is_object(o))
		return -EINVAL;
	json_object_foreach(o, key, v) {
		bool last = key[0] == '>' && key[1] == '=';
		const char *digits = last ? key + 2 : key + 1;
		char *end;
		unsigned long long bound;
		unsigned i;

		if ((!last && key[0] != '<') || !json_is_integer(v) || json_integer_value(v) < 0)
			return -EINVAL;
		errno = 0;
		bound = strtoull(digits, &end, 10);
		if (*end || errno || *digits < '0' || *digits > '9')
			return -EINVAL;
		if (last) {
			if (bound != 1ull << (FX_LATENCY_BUCKETS - 1))
				return -EINVAL;
			i = FX_LATENCY_BUCKETS - 1;
		} else {
			for (i = 0; i < FX_LATENCY_BUCKETS - 1 && bound != 2ull << i; i++)
				;
			if (i == FX_LATENCY_BUCKETS - 1)
				return -EINVAL;
		}
		counts[i] += (uint64_t)json_integer_value(v);
	}
	return 0;
}

/* Microseconds as seconds with no trailing zeros: 2 -> 0.000002. */
static void fx_put_seconds(FILE *f, unsigned long long us)
{
	char frac[8];
	int n = snprintf(frac, sizeof(frac), "%06llu", us % 1000000);

	while (n > 1 && frac[n - 1] == '0')
		frac[--n] = '\0';
	fprintf(f, "%llu.%s", us / 1000000, frac);
}

#define FX_HIST_NAME "rustfx_backend_request_duration_seconds"

/* The latency histogram of every operation that has one. Bucket i of the
 * backend holds calls under 2^(i+1) us, whole microseconds: le is that bound. */
static int fx_render_latency(FILE *f, json_t *requests)
{
	uint64_t counts[FX_LATENCY_BUCKETS];
	const char *op;
	json_t *stats;
	bool first = true;
	int ret;

	json_object_foreach(requests, op, stats) {
		json_t *hist = json_object_get(stats, "latency_us");
		json_t *sum = json_object_get(stats, "latency_sum_us");
		uint64_t total = 0;

		if (!hist)
			continue;
		if ((ret = fx_latency_buckets(hist, counts)) < 0)
			return ret;
		if (first)
			fx_put_family(f, FX_HIST_NAME, FX_METRIC_HISTOGRAM,
				      "Latency of backend requests that reached the backend.");
		first = false;
		for (unsigned i = 0; i < FX_LATENCY_BUCKETS; i++) {
			total += counts[i];
			fprintf(f, FX_HIST_NAME "_bucket{op=\"");
			fx_put_label_value(f, op);
			fputs("\",le=\"", f);
			if (i < FX_LATENCY_BUCKETS - 1)
				fx_put_seconds(f, 2ull << i);
			else
				fputs("+Inf", f);
			fprintf(f, "\"} %llu\n", (unsigned long long)total);
		}
		if (json_is_number(sum)) {
			fputs(FX_HIST_NAME "_sum{op=\"", f);
			fx_put_label_value(f, op);
			fputs("\"} ", f);
			fx_put_double(f, json_number_value(sum) / 1e6);
			fputc('\n', f);
		}
		fputs(FX_HIST_NAME "_count{op=\"", f);
		fx_put_label_value(f, op);
		fprintf(f, "\"} %llu\n", (unsigned long long)total);
	}
	return 0;
}

/* requests.OP.KEY: one family per KEY, a sample per operation. */
static int fx_render_requests(FILE *f, json_t *requests)
{
	const char *keys[32];
	size_t n = 0;
	const char *op, *key;
	json_t *stats, *v;

	if (!json_is_object(requests))
		return -EINVAL;
	/* The keys in the order they first appear: families stay whole. */
	json_object_foreach(requests, op, stats) {
		if (!json_is_object(stats))
			return -EINVAL;
		json_object_foreach(stats, key, v) {
			size_t i;

			for (i = 0; i < n && strcmp(keys[i], key); i++)
				;
			if (i == n && n < sizeof(keys) / sizeof(keys[0]))
				keys[n++] = key;
		}
	}
	for (size_t i = 0; i < n; i++) {
		char path[FX_METRIC_NAME_MAX], stem[FX_METRIC_NAME_MAX];
		char name[FX_METRIC_NAME_MAX], help[FX_METRIC_NAME_MAX + 64];
		enum fx_metric_type type;
		bool first = true;

		if (!strcmp(keys[i], "latency_sum_us")) /* the histogram's _sum */
			continue;
		if (!strcmp(keys[i], "latency_us")) {
			int ret = fx_render_latency(f, requests);

			if (ret < 0)
				return ret;
			continue;
		}
		snprintf(path, sizeof(path), "requests.%s", keys[i]);
		snprintf(stem, sizeof(stem), "backend_request_%s", keys[i]);
		if (!fx_field_family(path, stem, name, sizeof(name), &type, help, sizeof(help)))
			continue;
		json_object_foreach(requests, op, stats) {
			v = json_object_get(stats, keys[i]);
			if (!fx_is_value(v))
				continue;
			if (first)
				fx_put_family(f, name, type, help);
			first = false;
			fprintf(f, "%s{op=\"", name);
			fx_put_label_value(f, op);
			fputs("\"} ", f);
			fx_put_value(f, v);
			fputc('\n', f);
		}
	}
	return 0;
}

int fx_metrics_render(const char *stats_json, char **out, size_t *len)
{
	json_t *root = json_loads(stats_json, 0, NULL), *v;
	char *buf = NULL;
	size_t size = 0;
	const char *key;
	FILE *f;
	int ret = 0;

	if (!json_is_object(root)) {
		json_decref(root);
		return -EINVAL;
	}
	if (!(f = open_memstream(&buf, &size))) {
		json_decref(root);
		return -ENOMEM;
	}
	v = json_object_get(root, "backend");
	if (json_is_string(v)) {
		fx_put_family(f, "rustfx_info", FX_METRIC_GAUGE,
			      "Always 1; the label names the mount's backend URL.");
		fputs("rustfx_info{backend=\"", f);
		fx_put_label_value(f, json_string_value(v));
		fputs("\"} 1\n", f);
	}
	json_object_foreach(root, key, v) {
		if (strcmp(key, "requests"))
			fx_render_field(f, key, key, v);
		else if ((ret = fx_render_requests(f, v)) < 0)
			break;
	}
	if (ferror(f) && !ret)
		ret = -ENOMEM;
	if (fclose(f) != 0 && !ret)
		ret = -ENOMEM;
	json_decref(root);
	if (ret < 0) {
		free(buf);
		return ret;
	}
	*out = buf;
	*len = size;
	return 0;
}

/* ---------------------------------------------------------------- server */

struct fx_metrics {
	const struct fx_ctl *ctl; /* borrowed */
	int fd;			  /* the bound socket; closed when MHD has its copy */
	char addr[FX_METRICS_ADDR_MAX];
#ifdef FX_HAVE_METRICS
	struct MHD_Daemon *daemon; /* NULL until started */
#endif
};

int fx_metrics_new(const char *addr, const struct fx_ctl *ctl, struct fx_metrics **out,
		   struct fx_diag *d)
{
	struct sockaddr_storage sa;
	struct fx_metrics *m;
	socklen_t salen;
	int one = 1, ret;

	*out = NULL;
	if (!addr || !*addr)
		return 0;
	if ((ret = fx_metrics_check(addr, d)) < 0 ||
	    (ret = fx_metrics_parse_addr(addr, &sa, &salen, d)) < 0)
		return ret;
	if (!(m = calloc(1, sizeof(*m))))
		return -ENOMEM;
	m->ctl = ctl;
	snprintf(m->addr, sizeof(m->addr), "%s", addr);
	m->fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (m->fd < 0) {
		ret = -errno;
		fx_diag_set(d, ret, NULL, "cannot serve metrics at %s (%s)", addr, strerror(-ret));
		goto out_free;
	}
	/* A port left in TIME_WAIT by the last mount is free to bind again. */
	setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa.ss_family == AF_INET6) /* [::] means IPv6 only: the address written */
		setsockopt(m->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(m->fd, (struct sockaddr *)&sa, salen) < 0 || listen(m->fd, FX_METRICS_BACKLOG) < 0) {
		ret = -errno;
		if (ret == -EADDRINUSE) {
			ret = -EBUSY; /* recoverable: once the port is free, the same mount works */
			fx_diag_set(d, ret, "choose another port, or stop what listens there (ss -ltnp)",
				    "cannot serve metrics at %s (the port is in use)", addr);
		} else if (ret == -EADDRNOTAVAIL) {
			ret = -FX_EBADOPT;
			fx_diag_set(d, ret, "give an address of this machine, e.g. metrics=127.0.0.1:9567",
				    "cannot serve metrics at %s (no such address on this machine)", addr);
		} else if (ret == -EACCES) {
			fx_diag_set(d, ret, "choose a port from 1024 up, or mount as root",
				    "cannot serve metrics at %s (%s)", addr, strerror(-ret));
		} else {
			fx_diag_set(d, ret, NULL, "cannot serve metrics at %s (%s)", addr, strerror(-ret));
		}
		goto out_close;
	}
	*out = m;
	return 0;
out_close:
	close(m->fd);
out_free:
	free(m);
	return ret;
}

#ifdef FX_HAVE_METRICS

static void fx_mhd_log(void *arg, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)arg;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	fx_warn("metrics: %s", msg);
}

static enum MHD_Result fx_mhd_reply(struct MHD_Connection *conn, unsigned status, char *body,
				    size_t len, bool owned, const char *type)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, body,
					    owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!r) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

#define FX_MHD_TEXT(conn, status, text) \
	fx_mhd_reply(conn, status, (char *)(text), sizeof(text) - 1, false, "text/plain; charset=utf-8")

static enum MHD_Result fx_mhd_answer(void *arg, struct MHD_Connection *conn, const char *url,
				     const char *method, const char *version,
				     const char *upload_data, size_t *upload_data_size,
				     void **req_arg)
{
	struct fx_metrics *m = arg;
	char *json, *text = NULL;
	size_t len = 0;
	int ret;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_arg;
	fx_debug("metrics: %s %s", method, url);
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return FX_MHD_TEXT(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
	if (strcmp(url, FX_METRICS_PATH))
		return FX_MHD_TEXT(conn, MHD_HTTP_NOT_FOUND, "not found: the metrics are at /metrics\n");
	json = fx_ctl_stats_json(m->ctl);
	ret = json ? fx_metrics_render(json, &text, &len) : -ENOMEM;
	free(json);
	if (ret < 0) {
		fx_warn("metrics: cannot render the stats (%s)", fx_strerror(ret));
		return FX_MHD_TEXT(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot render the stats\n");
	}
	return fx_mhd_reply(conn, MHD_HTTP_OK, text, len, true, FX_METRICS_CONTENT_TYPE);
}

int fx_metrics_start(struct fx_metrics *m)
{
	int fd;

	if (!m || m->daemon)
		return 0;
	/* libmicrohttpd closes the socket it serves; it gets a copy of ours. */
	if ((fd = fcntl(m->fd, F_DUPFD_CLOEXEC, 0)) < 0)
		return -errno;
	/* The logger first: messages about the options after it go to the log too. */
	m->daemon = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
				     fx_mhd_answer, m, MHD_OPTION_EXTERNAL_LOGGER, fx_mhd_log, NULL,
				     MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
				     MHD_OPTION_CONNECTION_LIMIT, FX_METRICS_CONNECTIONS,
				     MHD_OPTION_CONNECTION_TIMEOUT, FX_METRICS_TIMEOUT_S, MHD_OPTION_END);
	if (!m->daemon) /* whether it closed the copy is not documented: at worst it leaks */
		return -EIO;
	close(m->fd);
	m->fd = -1;
	fx_info("serving metrics at http://%s%s", m->addr, FX_METRICS_PATH);
	return 0;
}

#else /* !FX_HAVE_METRICS: fx_metrics_new refuses, so there is never one */

int fx_metrics_start(struct fx_metrics *m)
{
	return m ? -ENOTSUP : 0;
}

#endif

void fx_metrics_free(struct fx_metrics *m)
{
	if (!m)
		return;
#ifdef FX_HAVE_METRICS
	if (m->daemon) {
		MHD_stop_daemon(m->daemon);
		fx_info("stopped serving metrics at %s", m->addr);
	}
#endif
	if (m->fd >= 0)
		close(m->fd);
	free(m);
}
