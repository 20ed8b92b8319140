/*
 * test_metrics.c - unit tests of fs/metrics.c: the metrics address syntax
 * (port only means 127.0.0.1, numeric IPv4 and bracketed IPv6, every bad
 * form refused with a message and a hint), the rendering of a stats
 * document into Prometheus text format (a golden exposition; counters,
 * gauges, booleans, the latency histogram cumulative with +Inf equal to
 * _count, _sum only when the document has the latency total; label
 * escaping; fields without a type entry served as untyped; bad documents
 * refused), and the real document of fx_ctl_stats_json() over a mem://
 * backend rendering with every field typed; the server over that document:
 * GET, HEAD, 404, 405, a taken port and a foreign address refused, the port
 * free again after fx_metrics_free (or, in a build without RUSTFX_METRICS,
 * every metrics setting refused). tests/mount/test_metrics.sh does the same
 * through a real mount.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "backends/backend.h"
#include "cache/cache.h"
#include "core/config.h"
#include "fs/control.h"
#include "fs/metrics.h"
#include "fs/options.h"

/* ------------------------------------------------------------ addresses */

static void addr_ok(const char *text, int family, const char *host, unsigned port)
{
	struct sockaddr_storage sa;
	struct fx_diag d = { 0 };
	socklen_t len = 0;
	char buf[INET6_ADDRSTRLEN];
	int rc = fx_metrics_parse_addr(text, &sa, &len, &d);

	cr_assert_eq(rc, 0, "'%s' gave %d: %s", text, rc, d.msg);
	cr_assert_eq(sa.ss_family, family, "'%s': family", text);
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&sa;

		cr_assert_eq(len, sizeof(*s4));
		cr_assert_eq(ntohs(s4->sin_port), port, "'%s': port", text);
		inet_ntop(AF_INET, &s4->sin_addr, buf, sizeof(buf));
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&sa;

		cr_assert_eq(len, sizeof(*s6));
		cr_assert_eq(ntohs(s6->sin6_port), port, "'%s': port", text);
		inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof(buf));
	}
	cr_assert_str_eq(buf, host, "'%s': host", text);
}

static void addr_bad(const char *text, const char *in_msg)
{
	struct fx_diag d = { 0 };
	int rc = fx_metrics_parse_addr(text, NULL, NULL, &d);

	cr_assert_eq(rc, -FX_EBADOPT, "'%s' gave %d, want -FX_EBADOPT", text, rc);
	cr_assert_eq(d.err, -FX_EBADOPT);
	cr_assert_not_null(strstr(d.msg, in_msg), "'%s': message '%s' lacks '%s'", text, d.msg, in_msg);
	cr_assert_neq(d.hint[0], '\0', "'%s': no hint", text);
	cr_assert_null(strchr(d.msg, '\n'), "one line");
}

Test(metrics_addr, accepted_forms)
{
	addr_ok("9567", AF_INET, "127.0.0.1", 9567);
	addr_ok("127.0.0.1:9567", AF_INET, "127.0.0.1", 9567);
	addr_ok("0.0.0.0:1", AF_INET, "0.0.0.0", 1);
	addr_ok("10.1.2.3:65535", AF_INET, "10.1.2.3", 65535);
	addr_ok("[::1]:9567", AF_INET6, "::1", 9567);
	addr_ok("[::]:80", AF_INET6, "::", 80);
	/* validation alone needs no output */
	cr_assert_eq(fx_metrics_parse_addr("1234", NULL, NULL, NULL), 0);
}

Test(metrics_addr, refused_forms)
{
	addr_bad("", "not a port");
	addr_bad("0", "'0' is not a port");
	addr_bad("65536", "'65536' is not a port");
	addr_bad("123456", "not a port");
	addr_bad("-1", "not a port");
	addr_bad(" 80", "not a port");
	addr_bad("http", "'http' is not a port");
	addr_bad("127.0.0.1:", "'' is not a port");
	addr_bad("127.0.0.1:80x", "not a port");
	addr_bad("300.1.1.1:80", "'300.1.1.1' is not a numeric IP address");
	addr_bad("localhost:9567", "'localhost' is not a numeric IP address");
	addr_bad(":9567", "'' is not a numeric IP address");
	addr_bad("::1:9567", "ambiguous");
	addr_bad("[::1]", "not [HOST:]PORT");
	addr_bad("[::1]9567", "not [HOST:]PORT");
	addr_bad("[127.0.0.1]:80", "not a numeric IP address");
	addr_bad("[::1]:", "not a port");
	addr_bad("1234567890123456789012345678901234567890123456789012345678901234567890",
		 "not [HOST:]PORT");
}

Test(metrics_addr, check_for_this_build)
{
	struct fx_diag d = { 0 };

	if (fx_metrics_built()) {
		cr_assert_eq(fx_metrics_check("127.0.0.1:9567", &d), 0, "%s", d.msg);
		cr_assert_eq(fx_metrics_check("nope", &d), -FX_EBADOPT);
		cr_assert_not_null(strstr(d.msg, "'nope'"), "%s", d.msg);
	} else {
		cr_assert_eq(fx_metrics_check("127.0.0.1:9567", &d), -FX_EBADOPT);
		cr_assert_not_null(strstr(d.msg, "built without metrics"), "%s", d.msg);
	}
}

/* The option goes through the [mount] schema, -o and resolve. */
Test(metrics_addr, mount_option)
{
	static const struct fx_conf_key *const tables[] = { fx_core_conf_keys, fx_fs_conf_keys, NULL };
	struct fx_config *cfg = fx_config_new(tables);
	struct fx_fs_options o;
	struct fx_diag d = { 0 };

	cr_assert_not_null(cfg);
	cr_assert_eq(fx_options_resolve(cfg, &o, &d), 0, "%s", d.msg);
	cr_assert_str_eq(o.metrics, "", "no metrics by default");
	cr_assert_eq(fx_options_apply(cfg, "metrics=127.0.0.1:9567", &d), 0, "%s", d.msg);
	cr_assert_eq(fx_config_source(cfg, "mount.metrics"), FX_SRC_FLAG);
	if (fx_metrics_built()) {
		cr_assert_eq(fx_options_resolve(cfg, &o, &d), 0, "%s", d.msg);
		cr_assert_str_eq(o.metrics, "127.0.0.1:9567");
	} else {
		cr_assert_eq(fx_options_resolve(cfg, &o, &d), -FX_EBADOPT);
		cr_assert_not_null(strstr(d.msg, "built without metrics"), "%s", d.msg);
		cr_assert_not_null(strstr(d.hint, "RUSTFX_METRICS=ON"), "%s", d.hint);
	}
	memset(&d, 0, sizeof(d));
	cr_assert_eq(fx_options_apply(cfg, "metrics=1.2.3:80", &d), 0, "%s", d.msg);
	cr_assert_eq(fx_options_resolve(cfg, &o, &d), -FX_EBADOPT);
	cr_assert_neq(d.hint[0], '\0');
	fx_config_free(cfg);
}

/* ------------------------------------------------------------ rendering */

static char *render_ok(const char *json)
{
	char *text = NULL;
	size_t len = 0;
	int rc = fx_metrics_render(json, &text, &len);

	cr_assert_eq(rc, 0, "render gave %d", rc);
	cr_assert_not_null(text);
	cr_assert_eq(strlen(text), len, "length");
	cr_assert(len > 0 && text[len - 1] == '\n', "ends with a newline");
	return text;
}

static const char doc[] =
	"{\"version\": 1, \"backend\": \"file:///srv/b\", \"uptime_s\": 42,"
	" \"cache\": {\"hits\": 7, \"misses\": 3, \"hit_ratio\": 0.7, \"capacity\": 1024},"
	" \"fetch\": {\"memory_used\": 5},"
	" \"requests\": {"
	"  \"get\": {\"calls\": 4, \"errors\": 1, \"bytes\": 300,"
	"          \"latency_us\": {\"<2\": 1, \"<8\": 2, \">=8388608\": 1}},"
	"  \"list\": {\"calls\": 0, \"errors\": 0, \"bytes\": 0, \"latency_us\": {}}},"
	" \"learn\": {\"model_loaded\": true, \"accuracy\": 0.25}}";

/* The histogram lines of one op: every bound, cumulative. */
static void want_buckets(char *buf, size_t size, const char *op, const uint64_t *counts)
{
	size_t used = 0;
	uint64_t total = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < FX_LATENCY_BUCKETS; i++) {
		unsigned long long us = 2ull << i;
		char le[32];

		total += counts[i];
		if (i == FX_LATENCY_BUCKETS - 1) {
			snprintf(le, sizeof(le), "+Inf");
		} else {
			int n = snprintf(le, sizeof(le), "%llu.%06llu", us / 1000000, us % 1000000);

			while (le[n - 1] == '0')
				le[--n] = '\0';
		}
		used += (size_t)snprintf(buf + used, size - used,
					 "rustfx_backend_request_duration_seconds_bucket{op=\"%s\",le=\"%s\"} %llu\n",
					 op, le, (unsigned long long)total);
	}
	snprintf(buf + used, size - used, "rustfx_backend_request_duration_seconds_count{op=\"%s\"} %llu\n",
		 op, (unsigned long long)total);
}

Test(metrics_render, golden)
{
	uint64_t get[FX_LATENCY_BUCKETS] = { 0 }, list[FX_LATENCY_BUCKETS] = { 0 };
	char get_lines[8192], list_lines[8192], want[24576];
	char *text = render_ok(doc);

	get[0] = 1;			  /* <2 us */
	get[2] = 2;			  /* <8 us */
	get[FX_LATENCY_BUCKETS - 1] = 1; /* >= 2^23 us */
	want_buckets(get_lines, sizeof(get_lines), "get", get);
	want_buckets(list_lines, sizeof(list_lines), "list", list);
	snprintf(want, sizeof(want),
		 "# HELP rustfx_info Always 1; the label names the mount's backend URL.\n"
		 "# TYPE rustfx_info gauge\n"
		 "rustfx_info{backend=\"file:///srv/b\"} 1\n"
		 "# HELP rustfx_uptime_seconds Seconds since the mount started.\n"
		 "# TYPE rustfx_uptime_seconds gauge\n"
		 "rustfx_uptime_seconds 42\n"
		 "# HELP rustfx_cache_hits_total Block reads served by the disk cache.\n"
		 "# TYPE rustfx_cache_hits_total counter\n"
		 "rustfx_cache_hits_total 7\n"
		 "# HELP rustfx_cache_misses_total Block reads the disk cache could not serve.\n"
		 "# TYPE rustfx_cache_misses_total counter\n"
		 "rustfx_cache_misses_total 3\n"
		 "# HELP rustfx_cache_hit_ratio hits / (hits + misses) since the mount.\n"
		 "# TYPE rustfx_cache_hit_ratio gauge\n"
		 "rustfx_cache_hit_ratio 0.7\n"
		 "# HELP rustfx_cache_capacity_bytes Bytes the disk cache may hold.\n"
		 "# TYPE rustfx_cache_capacity_bytes gauge\n"
		 "rustfx_cache_capacity_bytes 1024\n"
		 "# HELP rustfx_fetch_memory_used_bytes Bytes of fetch and prefetch buffers in use.\n"
		 "# TYPE rustfx_fetch_memory_used_bytes gauge\n"
		 "rustfx_fetch_memory_used_bytes 5\n"
		 "# HELP rustfx_backend_requests_total Backend requests, including failed ones.\n"
		 "# TYPE rustfx_backend_requests_total counter\n"
		 "rustfx_backend_requests_total{op=\"get\"} 4\n"
		 "rustfx_backend_requests_total{op=\"list\"} 0\n"
		 "# HELP rustfx_backend_request_errors_total Backend requests that failed (not counting answers that an object is missing).\n"
		 "# TYPE rustfx_backend_request_errors_total counter\n"
		 "rustfx_backend_request_errors_total{op=\"get\"} 1\n"
		 "rustfx_backend_request_errors_total{op=\"list\"} 0\n"
		 "# HELP rustfx_backend_request_bytes_total Bytes moved by backend requests (get: read, put: stored).\n"
		 "# TYPE rustfx_backend_request_bytes_total counter\n"
		 "rustfx_backend_request_bytes_total{op=\"get\"} 300\n"
		 "rustfx_backend_request_bytes_total{op=\"list\"} 0\n"
		 "# HELP rustfx_backend_request_duration_seconds Latency of backend requests that reached the backend.\n"
		 "# TYPE rustfx_backend_request_duration_seconds histogram\n"
		 "%s%s"
		 "# HELP rustfx_learn_model_loaded 1 when a saved model was loaded at mount.\n"
		 "# TYPE rustfx_learn_model_loaded gauge\n"
		 "rustfx_learn_model_loaded 1\n"
		 "# HELP rustfx_learn_accuracy Predicted blocks used / prefetched.\n"
		 "# TYPE rustfx_learn_accuracy gauge\n"
		 "rustfx_learn_accuracy 0.25\n",
		 get_lines, list_lines);
	cr_assert_str_eq(text, want);
	/* the bounds named as a person reads them */
	cr_assert_not_null(strstr(text, "{op=\"get\",le=\"0.000002\"} 1\n"));
	cr_assert_not_null(strstr(text, "{op=\"get\",le=\"0.000008\"} 3\n"));
	cr_assert_not_null(strstr(text, "{op=\"get\",le=\"1.048576\"} 3\n"));
	cr_assert_not_null(strstr(text, "{op=\"get\",le=\"8.388608\"} 3\n"));
	cr_assert_not_null(strstr(text, "{op=\"get\",le=\"+Inf\"} 4\n"));
	cr_assert_null(strstr(text, "_sum"), "no latency total in the document: no _sum");
	free(text);
}

Test(metrics_render, sum_when_the_document_has_it)
{
	char *text = render_ok("{\"requests\": {\"put\": {\"calls\": 2, \"latency_us\": {\"<4\": 2},"
			       " \"latency_sum_us\": 5}}}");

	cr_assert_not_null(strstr(text, "rustfx_backend_request_duration_seconds_sum{op=\"put\"} 5e-06\n"),
			   "%s", text);
	cr_assert_not_null(strstr(text, "rustfx_backend_request_duration_seconds_count{op=\"put\"} 2\n"));
	cr_assert_null(strstr(text, "latency_sum"), "the total is no family of its own");
	free(text);
}

Test(metrics_render, escaping_untyped_and_skipped)
{
	char *text = render_ok(
		"{\"backend\": \"s3://b/a\\\"q\\\\z\\nw\", \"version\": 9, \"note\": \"text\","
		" \"cache\": {\"new_counter\": 5, \"tier\": {\"depth\": 2.5}},"
		" \"requests\": {\"get\\\"x\": {\"calls\": 1, \"retries\": 3}}}");

	cr_assert_not_null(strstr(text, "rustfx_info{backend=\"s3://b/a\\\"q\\\\z\\nw\"} 1\n"), "%s", text);
	cr_assert_null(strstr(text, "version"), "the document's version is no metric");
	cr_assert_null(strstr(text, "note"), "strings are no metrics");
	cr_assert_not_null(strstr(text, "# TYPE rustfx_cache_new_counter untyped\nrustfx_cache_new_counter 5\n"),
			   "%s", text);
	cr_assert_not_null(strstr(text, "# HELP rustfx_cache_new_counter Stats field cache.new_counter"));
	cr_assert_not_null(strstr(text, "rustfx_cache_tier_depth 2.5\n"), "nested fields flatten");
	cr_assert_not_null(strstr(text, "rustfx_backend_requests_total{op=\"get\\\"x\"} 1\n"), "%s", text);
	cr_assert_not_null(strstr(text, "# TYPE rustfx_backend_request_retries untyped\n"
					"rustfx_backend_request_retries{op=\"get\\\"x\"} 3\n"),
			   "%s", text);
	free(text);
}

Test(metrics_render, numbers)
{
	char *text = render_ok("{\"cache\": {\"hit_ratio\": 0.1, \"blocks\": 9007199254740993,"
			       " \"bytes\": 1e300}, \"learn\": {\"model_loaded\": false}}");

	cr_assert_not_null(strstr(text, "rustfx_cache_hit_ratio 0.1\n"), "shortest exact form: %s", text);
	cr_assert_not_null(strstr(text, "rustfx_cache_blocks 9007199254740993\n"), "integers stay exact");
	cr_assert_not_null(strstr(text, "rustfx_cache_bytes 1e+300\n"), "%s", text);
	cr_assert_not_null(strstr(text, "rustfx_learn_model_loaded 0\n"));
	free(text);
}

Test(metrics_render, bad_documents)
{
	static const char *const bad[] = {
		"not json",
		"[1, 2]",
		"{\"requests\": [1]}",
		"{\"requests\": {\"get\": 3}}",
		"{\"requests\": {\"get\": {\"latency_us\": {\"<3\": 1}}}}",
		"{\"requests\": {\"get\": {\"latency_us\": {\"<2\": -1}}}}",
		"{\"requests\": {\"get\": {\"latency_us\": {\"<2\": 1.5}}}}",
		"{\"requests\": {\"get\": {\"latency_us\": {\">=4\": 1}}}}",
		"{\"requests\": {\"get\": {\"latency_us\": {\"<\": 1}}}}",
		"{\"requests\": {\"get\": {\"latency_us\": {\"< 2\": 1}}}}",
		"{\"requests\": {\"get\": {\"latency_us\": {\"<16777216\": 1}}}}",
		"{\"requests\": {\"get\": {\"latency_us\": 4}}}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *text = (char *)"untouched";
		size_t len = 7;

		cr_assert_eq(fx_metrics_render(bad[i], &text, &len), -EINVAL, "%s", bad[i]);
		cr_assert_str_eq(text, "untouched", "outputs written only on success");
		cr_assert_eq(len, 7);
	}
}

/* ------------------------------------- the real document of a live cache */

static const struct fx_conf_key *const live_tables[] = { fx_core_conf_keys, fx_cache_conf_keys,
							 fx_fs_conf_keys, NULL };
static struct fx_config *live_cfg;
static struct fx_backend *live_b;
static struct fx_cache *live_cache;
static struct fx_ctl live_ctl;
static char live_dir[] = "/tmp/fx-metrics-XXXXXX";

/* A mem:// backend with one object put and read, and a cache over it. */
static void live_setup(void)
{
	struct fx_cache_opts copt;
	struct fx_diag d = { 0 };
	char buf[16];
	int fd = memfd_create("object", MFD_CLOEXEC);

	live_cfg = fx_config_new(live_tables);
	cr_assert_not_null(live_cfg);
	cr_assert_not_null(mkdtemp(live_dir));
	/* prefetch=snn: the document then has its learn section too */
	cr_assert_eq(fx_config_set(live_cfg, "cache.prefetch", "snn", FX_SRC_FLAG, NULL, &d), 0, "%s", d.msg);
	cr_assert_eq(fx_config_set(live_cfg, "cache.min_free", "0", FX_SRC_FLAG, NULL, &d), 0, "%s", d.msg);
	cr_assert_eq(fx_cache_opts_resolve(live_cfg, &copt, &d), 0, "%s", d.msg);
	cr_assert_eq(fx_backend_open("mem://metrics", &live_b, &d), 0, "%s", d.msg);
	cr_assert_eq(fx_cache_open(live_b, live_dir, &copt, &live_cache, &d), 0, "%s", d.msg);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, "hello", 5), 5);
	cr_assert_eq(fx_backend_put(live_b, "a", fd, 5, NULL, NULL), 0);
	cr_assert_eq(fx_backend_get(live_b, "a", 0, buf, sizeof(buf)), 5);
	close(fd);
	live_ctl = (struct fx_ctl){ .backend = live_b, .cache = live_cache };
}

static void live_teardown(void)
{
	char cmd[64];

	fx_cache_close(live_cache);
	fx_backend_close(live_b);
	fx_config_free(live_cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", live_dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(metrics_live, .init = live_setup, .fini = live_teardown);

Test(metrics_live, real_stats_document_is_fully_typed)
{
	char *json = fx_ctl_stats_json(&live_ctl), *text;

	cr_assert_not_null(json);
	text = render_ok(json);
	cr_assert_null(strstr(text, " untyped\n"),
		       "a stats field has no entry in fs/metrics.c's table:\n%s", text);
	cr_assert_not_null(strstr(text, "rustfx_backend_requests_total{op=\"get\"} 1\n"), "%s", text);
	cr_assert_not_null(strstr(text, "rustfx_backend_requests_total{op=\"put\"} 1\n"), "%s", text);
	cr_assert_not_null(strstr(text, "rustfx_backend_request_duration_seconds_count{op=\"get\"} 1\n"),
			   "%s", text);
	cr_assert_not_null(strstr(text, "rustfx_learn_model_loaded "), "learn section rendered");
	cr_assert_not_null(strstr(text, "rustfx_cache_hits_total 0\n"));
	free(text);
	free(json);
}

/* A port nothing listens on now (the kernel's pick). */
static unsigned free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert(fd >= 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

/* Send @request to 127.0.0.1:@port, read the reply to EOF (10 s at most).
 * @return the reply (caller frees), or NULL when nothing listens. */
static char *http(unsigned port, const char *request)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 10 };
	size_t used = 0, size = 1 << 16;
	char *buf = malloc(size);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ssize_t n;

	cr_assert(fd >= 0 && buf);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		free(buf);
		return NULL;
	}
	cr_assert_eq(write(fd, request, strlen(request)), (ssize_t)strlen(request));
	while ((n = read(fd, buf + used, size - used - 1)) > 0) {
		used += (size_t)n;
		if (used + 1 == size)
			cr_assert_not_null(buf = realloc(buf, size *= 2));
	}
	close(fd);
	buf[used] = '\0';
	return buf;
}

#define GET(path) "GET " path " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

Test(metrics_live, server)
{
	struct fx_metrics *m = NULL, *again = NULL;
	struct fx_diag d = { 0 };
	char addr[32], *reply, *body, *json, *text;
	unsigned port = free_port();
	size_t len;

	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	cr_assert_eq(fx_metrics_new("", &live_ctl, &m, &d), 0, "no address: no server");
	cr_assert_null(m);
	if (!fx_metrics_built()) {
		cr_assert_eq(fx_metrics_new(addr, &live_ctl, &m, &d), -FX_EBADOPT);
		cr_assert_not_null(strstr(d.msg, "built without metrics"), "%s", d.msg);
		cr_assert_null(m);
		return;
	}
	cr_assert_eq(fx_metrics_new(addr, &live_ctl, &m, &d), 0, "%s", d.msg);
	cr_assert_not_null(m);

	/* bound, so a second server cannot have the port */
	cr_assert_eq(fx_metrics_new(addr, &live_ctl, &again, &d), -EBUSY);
	cr_assert_not_null(strstr(d.msg, "in use"), "%s", d.msg);
	cr_assert_neq(d.hint[0], '\0');
	cr_assert_null(again);
	memset(&d, 0, sizeof(d));
	cr_assert_eq(fx_metrics_new("192.0.2.1:9567", &live_ctl, &again, &d), -FX_EBADOPT);
	cr_assert_not_null(strstr(d.msg, "no such address on this machine"), "%s", d.msg);
	memset(&d, 0, sizeof(d));
	cr_assert_eq(fx_metrics_new("1.2.3.4.5:80", &live_ctl, &again, &d), -FX_EBADOPT);

	cr_assert_eq(fx_metrics_start(m), 0);
	reply = http(port, GET("/metrics"));
	cr_assert_not_null(reply, "nothing listens on %s", addr);
	cr_assert(!strncmp(reply, "HTTP/1.1 200 ", 13), "%.200s", reply);
	cr_assert_not_null(strstr(reply, "Content-Type: " FX_METRICS_CONTENT_TYPE "\r\n"), "%.400s", reply);
	body = strstr(reply, "\r\n\r\n");
	cr_assert_not_null(body);
	/* the same text as rendering the document now (nothing moves in between) */
	json = fx_ctl_stats_json(&live_ctl);
	cr_assert_eq(fx_metrics_render(json, &text, &len), 0);
	cr_assert_str_eq(body + 4, text);
	free(text);
	free(json);
	free(reply);

	reply = http(port, "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	cr_assert(!strncmp(reply, "HTTP/1.1 200 ", 13), "%.200s", reply);
	body = strstr(reply, "\r\n\r\n");
	cr_assert(body && body[4] == '\0', "HEAD has no body: %s", reply);
	free(reply);
	reply = http(port, GET("/"));
	cr_assert(!strncmp(reply, "HTTP/1.1 404 ", 13), "%.200s", reply);
	free(reply);
	reply = http(port, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
			   "Connection: close\r\n\r\nx");
	cr_assert(!strncmp(reply, "HTTP/1.1 405 ", 13), "%.200s", reply);
	cr_assert_not_null(strstr(reply, "Allow: GET, HEAD\r\n"), "%.300s", reply);
	free(reply);

	fx_metrics_free(m);
	cr_assert_null(http(port, GET("/metrics")), "nothing listens after free");
	/* and the port can be bound again at once */
	cr_assert_eq(fx_metrics_new(addr, &live_ctl, &again, &d), 0, "%s", d.msg);
	fx_metrics_free(again);
	fx_metrics_free(NULL);
}
