/*
 * client.c - the public C API over the backends, and the health check
 * (see client.h).
 *
 * Owns: the client handle, translating the API's plain structs to and from
 * the backend layer's, and judging a backend's health: which of
 * reachability, credentials or bucket a failure points at, latency
 * percentiles of a few listing requests, and clock skew from the server's
 * Date header (s3.h fx_s3_last_date).
 * Does not own: requests, retries or credentials (the backends do), or how
 * a verdict is printed (tools/health.c).
 *
 * A failed open is classified by its error: a transport error means the
 * endpoint does not answer, -ENOENT/-ENOTDIR a missing bucket (or root
 * directory), -EACCES refused credentials. For s3:// the credentials chain
 * is resolved again on its own first, so "no usable credentials" (found
 * before any request) is not mistaken for an answer of the server.
 */
#define FX_LOG_MODULE "client"
#include "backends/client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "backends/backend.h"
#include "core/config.h"
#ifdef RUSTFX_S3
#include "backends/s3.h"
#include "backends/s3_creds.h"
#endif

extern char **environ;

struct fx_client {
	struct fx_backend *b;
	const struct fx_config *cfg; /* the caller's; outlives the client */
	char creds_source[96];       /* s3: where the credentials came from; else "" */
};

static const struct fx_conf_key *const fx_client_tables[] = {
	fx_core_conf_keys,
#ifdef RUSTFX_S3
	fx_s3_conf_keys,
#endif
	NULL,
};

struct fx_config *fx_client_config_new(void)
{
	return fx_config_new(fx_client_tables);
}

static bool fx_is_s3(const char *url)
{
	return strncmp(url, "s3://", 5) == 0;
}

#ifdef RUSTFX_S3
static const char *fx_cfg_str(const struct fx_config *cfg, const char *k)
{
	return cfg ? fx_config_str(cfg, k) : NULL;
}

/*
 * Resolve the credentials an s3:// open of @url with @cfg would use, the way
 * s3.c does, only to learn where they come from (or why there are none).
 * @return 0 with @source filled, or -errno with @d.
 */
static int fx_s3_creds_of(const struct fx_config *cfg, const char *url, char *source, size_t n,
			  struct fx_diag *d)
{
	const char *rest = url + strlen("s3://");
	char bucket[64];
	struct fx_s3_creds_opts co = { 0 };
	struct fx_s3_creds *creds = NULL;
	int ret;

	snprintf(bucket, sizeof(bucket), "%.*s", (int)strcspn(rest, "/"), rest);
	co.access_key = fx_cfg_str(cfg, "s3.access_key_id");
	co.secret_key = cfg ? fx_config_secret(cfg, "s3.secret_access_key") : NULL;
	co.session_token = cfg ? fx_config_secret(cfg, "s3.session_token") : NULL;
	co.profile = fx_cfg_str(cfg, "s3.profile");
	co.passwd_file = fx_cfg_str(cfg, "s3.passwd_file");
	co.anonymous = cfg && fx_config_bool(cfg, "s3.public_bucket");
	co.bucket = bucket;
	co.envp = environ;
	co.home = getenv("HOME");
	ret = fx_s3_creds_resolve(&co, &creds, d);
	if (ret == 0) {
		snprintf(source, n, "%s", creds->source);
		fx_s3_creds_free(creds);
	}
	return ret;
}
#endif

int fx_client_open(const struct fx_config *cfg, const char *url, struct fx_client **out,
		   struct fx_diag *d)
{
	struct fx_client *c;
	int ret;

	if (!url || !out) {
		fx_diag_set(d, -EINVAL, NULL, "fx_client_open needs a URL and an output");
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		fx_diag_set(d, -ENOMEM, NULL, "out of memory");
		return -ENOMEM;
	}
	c->cfg = cfg;
	ret = fx_backend_open_config(url, cfg, &c->b, d);
	if (ret < 0) {
		free(c);
		return ret;
	}
#ifdef RUSTFX_S3
	/* Resolved already by the open, so this cannot fail but for memory. */
	if (fx_is_s3(url) &&
	    fx_s3_creds_of(cfg, url, c->creds_source, sizeof(c->creds_source), NULL) < 0)
		c->creds_source[0] = '\0';
#endif
	*out = c;
	return 0;
}

void fx_client_close(struct fx_client *c)
{
	if (!c)
		return;
	fx_backend_close(c->b);
	free(c);
}

const char *fx_client_url(const struct fx_client *c)
{
	return fx_backend_url(c->b);
}

/* ------------------------------------------------------------- health */

static const char *const fx_item_names[FX_HEALTH_ITEMS] = {
	"reachable", "credentials", "bucket", "latency", "clock",
};

const char *fx_health_item_name(enum fx_health_item item)
{
	return (unsigned)item < FX_HEALTH_ITEMS ? fx_item_names[item] : "?";
}

const char *fx_health_state_name(enum fx_health_state state)
{
	static const char *const names[] = { "skip", "ok", "warn", "fail" };

	return (unsigned)state < sizeof(names) / sizeof(names[0]) ? names[state] : "?";
}

const char *fx_health_status_name(enum fx_health_status status)
{
	static const char *const names[] = { "healthy", "degraded", "unreachable" };

	return (unsigned)status < sizeof(names) / sizeof(names[0]) ? names[status] : "?";
}

static void fx_check_set(struct fx_health *h, enum fx_health_item item,
			 enum fx_health_state state, int err, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void fx_check_set(struct fx_health *h, enum fx_health_item item,
			 enum fx_health_state state, int err, const char *hint, const char *fmt, ...)
{
	struct fx_health_check *c = &h->check[item];
	va_list ap;

	c->state = state;
	c->err = state == FX_HEALTH_WARN || state == FX_HEALTH_FAIL ? err : 0;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
	snprintf(c->hint, sizeof(c->hint), "%s", hint && state >= FX_HEALTH_WARN ? hint : "");
}

static void fx_health_init(struct fx_health *h)
{
	memset(h, 0, sizeof(*h));
	for (int i = 0; i < FX_HEALTH_ITEMS; i++)
		fx_check_set(h, (enum fx_health_item)i, FX_HEALTH_SKIP, 0, NULL, "not checked");
}

/* The overall verdict from the checks. */
static void fx_health_finish(struct fx_health *h)
{
	h->status = FX_HEALTHY;
	for (int i = 0; i < FX_HEALTH_ITEMS; i++)
		if (h->check[i].state >= FX_HEALTH_WARN)
			h->status = FX_DEGRADED;
	if (h->check[FX_HEALTH_REACHABLE].state == FX_HEALTH_FAIL)
		h->status = FX_UNREACHABLE;
}

static double fx_now_s(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool fx_transport_err(int err)
{
	switch (err) {
	case -ECONNREFUSED:
	case -EHOSTUNREACH:
	case -ENETUNREACH:
	case -ETIMEDOUT:
	case -ECONNRESET:
	case -EPROTO:
		return true;
	default:
		return false;
	}
}

/* The checks a failed request (or open) with @err and diagnostic @msg /
 * @hint decides. @local: a file:// or mem:// backend. */
static void fx_health_failure(struct fx_health *h, bool local, int err, const char *msg,
			      const char *hint)
{
	if (err == -ENOENT || err == -ENOTDIR || err == -ENOTSUP) {
		if (!local)
			fx_check_set(h, FX_HEALTH_REACHABLE, FX_HEALTH_OK, 0, NULL,
				     "the endpoint answers");
		fx_check_set(h, FX_HEALTH_BUCKET, FX_HEALTH_FAIL, err,
			     hint && *hint ? hint : "check the bucket name and the endpoint/region",
			     "%s", msg);
		if (!local)
			fx_check_set(h, FX_HEALTH_CREDENTIALS, FX_HEALTH_SKIP, 0, NULL,
				     "not established: the bucket is missing");
	} else if (err == -EACCES || err == -EPERM) {
		if (!local)
			fx_check_set(h, FX_HEALTH_REACHABLE, FX_HEALTH_OK, 0, NULL,
				     "the endpoint answers");
		fx_check_set(h, FX_HEALTH_CREDENTIALS, FX_HEALTH_FAIL, err,
			     hint && *hint ? hint
			     : local	   ? "check the permissions of the directory"
					   : "check the credentials (rustfx config print) and the bucket policy",
			     "%s", msg);
		fx_check_set(h, FX_HEALTH_BUCKET, FX_HEALTH_SKIP, 0, NULL,
			     "unknown: access was refused");
	} else {
		if (!local) {
			fx_check_set(h, FX_HEALTH_CREDENTIALS, FX_HEALTH_SKIP, 0, NULL,
				     "not established: no usable answer");
			fx_check_set(h, FX_HEALTH_BUCKET, FX_HEALTH_SKIP, 0, NULL,
				     "not established: no usable answer");
		}
		fx_check_set(h, FX_HEALTH_REACHABLE, FX_HEALTH_FAIL, err,
			     hint && *hint ? hint
				      : fx_transport_err(err)
					? "check the endpoint and that the server is up"
					: "run with -v for the server's answers",
			     "%s", msg);
	}
}

/* Compare our clock with the Date of the last S3 answer, if it came after
 * @since_s (CLOCK_REALTIME): the answer to a request of this call. */
static void fx_health_clock(struct fx_health *h, const char *url, double since_s)
{
	if (!fx_is_s3(url)) {
		fx_check_set(h, FX_HEALTH_CLOCK, FX_HEALTH_SKIP, 0, NULL,
			     "no server clock (local backend)");
		return;
	}
#ifdef RUSTFX_S3
	int64_t server_s;
	double local_s, skew, mag;

	if (fx_s3_last_date(&server_s, &local_s) < 0 || local_s < since_s) {
		fx_check_set(h, FX_HEALTH_CLOCK, FX_HEALTH_SKIP, 0, NULL,
			     "unknown: the server sent no Date header");
		return;
	}
	/* Date has whole seconds: the server's clock was in [server_s, server_s + 1). */
	skew = (double)server_s + 0.5 - local_s;
	mag = skew < 0 ? -skew : skew;
	h->skew_known = true;
	h->skew_s = skew;
	if (mag > FX_HEALTH_SKEW_FAIL_S)
		fx_check_set(h, FX_HEALTH_CLOCK, FX_HEALTH_FAIL, -EACCES,
			     "synchronise this machine's clock (systemd-timesyncd, chrony or ntpd)",
			     "our clock is %.0f s %s the server's: S3 refuses requests signed more "
			     "than 15 minutes off",
			     mag, skew > 0 ? "behind" : "ahead of");
	else if (mag > FX_HEALTH_SKEW_WARN_S)
		fx_check_set(h, FX_HEALTH_CLOCK, FX_HEALTH_WARN, -ERANGE,
			     "synchronise this machine's clock (systemd-timesyncd, chrony or ntpd)",
			     "our clock is %.0f s %s the server's (S3 refuses 15 minutes)", mag,
			     skew > 0 ? "behind" : "ahead of");
	else
		fx_check_set(h, FX_HEALTH_CLOCK, FX_HEALTH_OK, 0, NULL,
			     "skew %+.1f s from the server's Date (whole seconds: +-1 s)", skew);
#else
	(void)since_s;
	fx_check_set(h, FX_HEALTH_CLOCK, FX_HEALTH_SKIP, 0, NULL, "not checked (built without S3)");
#endif
}

static int fx_list_nothing(void *arg, const struct fx_list_entry *e)
{
	(void)arg;
	(void)e;
	return 0;
}

static int fx_ms_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile @q of the sorted @v[@n] (n > 0): the smallest
 * value with at least q*n values at or below it. */
static double fx_percentile(const double *v, unsigned n, double q)
{
	unsigned rank = (unsigned)(q * n);

	if ((double)rank < q * n)
		rank++;
	return v[rank ? rank - 1 : 0];
}

/* @ms as text: microseconds under 1 ms (local backends answer in those). */
static const char *fx_ms_text(double ms, char *buf, size_t n)
{
	if (ms < 1.0)
		snprintf(buf, n, "%.0f us", ms * 1000.0);
	else
		snprintf(buf, n, "%.1f ms", ms);
	return buf;
}

/* Time @samples one-key listings; a failure decides its check and stops. */
static int fx_health_latency(struct fx_health *h, struct fx_backend *b, bool local,
			     unsigned samples)
{
	double *ms = calloc(samples, sizeof(*ms));
	char p50[32], p99[32];
	unsigned ok = 0;
	int err = 0;

	if (!ms)
		return -ENOMEM;
	for (unsigned i = 0; i < samples; i++) {
		char *token = NULL;
		double t0 = fx_now_s(CLOCK_MONOTONIC);

		err = fx_backend_list(b, "", "/", NULL, 1, fx_list_nothing, NULL, &token);
		free(token);
		if (err < 0)
			break;
		ms[ok++] = (fx_now_s(CLOCK_MONOTONIC) - t0) * 1000.0;
	}
	h->samples = ok;
	if (ok) {
		qsort(ms, ok, sizeof(*ms), fx_ms_cmp);
		h->p50_ms = fx_percentile(ms, ok, 0.50);
		h->p99_ms = fx_percentile(ms, ok, 0.99);
	}
	free(ms);
	if (err < 0) {
		char msg[160];

		snprintf(msg, sizeof(msg), "a listing request failed (%s)", fx_strerror(err));
		fx_health_failure(h, local, err, msg, NULL);
		fx_check_set(h, FX_HEALTH_LATENCY, FX_HEALTH_FAIL, err,
			     "see the other checks; run with -v for the server's answers",
			     "%u of %u requests answered before one failed (%s)", ok, samples,
			     fx_strerror(err));
	} else if (h->p50_ms >= FX_HEALTH_SLOW_MS) {
		fx_check_set(h, FX_HEALTH_LATENCY, FX_HEALTH_WARN, -ETIMEDOUT,
			     "check the network path to the endpoint and the server's load",
			     "slow: p50 %s, p99 %s over %u requests",
			     fx_ms_text(h->p50_ms, p50, sizeof(p50)),
			     fx_ms_text(h->p99_ms, p99, sizeof(p99)), ok);
	} else {
		fx_check_set(h, FX_HEALTH_LATENCY, FX_HEALTH_OK, 0, NULL,
			     "p50 %s, p99 %s over %u requests", fx_ms_text(h->p50_ms, p50, sizeof(p50)),
			     fx_ms_text(h->p99_ms, p99, sizeof(p99)), ok);
	}
	return 0;
}

/* The checks of an open backend; @since_s as for fx_health_clock. */
static int fx_health_run(struct fx_client *c, unsigned samples, double since_s,
			 struct fx_health *out)
{
	const char *url = fx_backend_url(c->b);
	bool local = !fx_is_s3(url);
	struct fx_health h;
	int ret;

	fx_health_init(&h);
	if (local) {
		fx_check_set(&h, FX_HEALTH_REACHABLE, FX_HEALTH_OK, 0, NULL, "local (%s backend)",
			     fx_backend_name(c->b));
		fx_check_set(&h, FX_HEALTH_CREDENTIALS, FX_HEALTH_SKIP, 0, NULL,
			     "none needed (local backend)");
		fx_check_set(&h, FX_HEALTH_BUCKET, FX_HEALTH_OK, 0, NULL, "%s is there", url);
	} else {
		fx_check_set(&h, FX_HEALTH_REACHABLE, FX_HEALTH_OK, 0, NULL, "the endpoint answers");
		fx_check_set(&h, FX_HEALTH_CREDENTIALS, FX_HEALTH_OK, 0, NULL,
			     "accepted (from %s)", c->creds_source[0] ? c->creds_source : "?");
		fx_check_set(&h, FX_HEALTH_BUCKET, FX_HEALTH_OK, 0, NULL, "%s exists", url);
	}
	if ((ret = fx_health_latency(&h, c->b, local, samples ? samples : FX_HEALTH_SAMPLES)) < 0)
		return ret;
	fx_health_clock(&h, url, since_s);
	fx_health_finish(&h);
	*out = h;
	return 0;
}

int fx_client_health(struct fx_client *c, unsigned samples, struct fx_health *out)
{
	if (!c || !out || samples > 1000)
		return -EINVAL;
	return fx_health_run(c, samples, fx_now_s(CLOCK_REALTIME), out);
}

int fx_client_check(const struct fx_config *cfg, const char *url, unsigned samples,
		    struct fx_health *out, struct fx_diag *d)
{
	double since = fx_now_s(CLOCK_REALTIME);
	struct fx_diag od = { 0 };
	struct fx_client *c = NULL;
	struct fx_health h;
	bool local;
	int ret;

	if (!out || samples > 1000) {
		fx_diag_set(d, -EINVAL, NULL, "fx_client_check: bad arguments");
		return -EINVAL;
	}
	ret = fx_client_open(cfg, url, &c, &od);
	if (ret == 0) {
		ret = fx_health_run(c, samples, since, out);
		fx_client_close(c);
		if (ret < 0)
			fx_diag_set(d, ret, NULL, "health check of %s failed (%s)", url,
				    fx_strerror(ret));
		return ret;
	}
	if (ret == -FX_EBADURL || ret == -FX_EUSAGE || ret == -ENOMEM || ret == -EINVAL ||
	    (ret == -FX_EBADCONF && !fx_is_s3(url))) {
		fx_diag_set(d, od.err ? od.err : ret, od.hint[0] ? od.hint : NULL, "%s",
			    od.msg[0] ? od.msg : fx_strerror(ret));
		return ret;
	}
	local = !fx_is_s3(url);
	fx_health_init(&h);
	if (local)
		fx_check_set(&h, FX_HEALTH_CREDENTIALS, FX_HEALTH_SKIP, 0, NULL,
			     "none needed (local backend)");
#ifdef RUSTFX_S3
	if (!local) {
		struct fx_diag cd = { 0 };
		char source[96];

		/* No usable credentials: found before any request was sent. */
		if (fx_s3_creds_of(cfg, url, source, sizeof(source), &cd) < 0) {
			fx_check_set(&h, FX_HEALTH_REACHABLE, FX_HEALTH_SKIP, 0, NULL,
				     "not tried: no usable credentials");
			fx_check_set(&h, FX_HEALTH_CREDENTIALS, FX_HEALTH_FAIL, cd.err,
				     cd.hint[0] ? cd.hint : "see rustfx config print", "%s", cd.msg);
			fx_health_finish(&h);
			*out = h;
			return 0;
		}
		if (ret == -FX_EBADCONF) { /* not the credentials: some other setting */
			fx_diag_set(d, od.err ? od.err : ret, od.hint[0] ? od.hint : NULL, "%s",
				    od.msg[0] ? od.msg : fx_strerror(ret));
			return ret;
		}
	}
#endif
	fx_health_failure(&h, local, ret, od.msg[0] ? od.msg : fx_strerror(ret), od.hint);
	if (local && h.check[FX_HEALTH_REACHABLE].state == FX_HEALTH_SKIP)
		fx_check_set(&h, FX_HEALTH_REACHABLE, FX_HEALTH_OK, 0, NULL, "local (%.*s backend)",
			     (int)strcspn(url, ":"), url);
	fx_check_set(&h, FX_HEALTH_LATENCY, FX_HEALTH_SKIP, 0, NULL, "not measured: the open failed");
	fx_health_clock(&h, url, since);
	fx_health_finish(&h);
	*out = h;
	return 0;
}

/* ------------------------------------------------------------- objects */

struct fx_list_ctx {
	fx_client_list_fn fn;
	void *arg;
};

static int fx_list_adapt(void *arg, const struct fx_list_entry *e)
{
	struct fx_list_ctx *x = arg;
	struct fx_client_entry ce = { e->key, e->is_prefix, e->size, e->mtime_ns,
				      e->etag ? e->etag : "" };

	return x->fn(x->arg, &ce);
}

int fx_client_list(struct fx_client *c, const char *prefix, const char *delimiter,
		   fx_client_list_fn fn, void *arg)
{
	struct fx_list_ctx x = { fn, arg };

	if (!c || !fn)
		return -EINVAL;
	return fx_backend_list_all(c->b, prefix ? prefix : "", delimiter, fx_list_adapt, &x);
}

ssize_t fx_client_get(struct fx_client *c, const char *key, uint64_t offset, void *buf, size_t len)
{
	if (!c || !key)
		return -EINVAL;
	return fx_backend_get(c->b, key, offset, buf, len);
}

int fx_client_put_fd(struct fx_client *c, const char *key, int fd, uint64_t size)
{
	if (!c || !key || fd < 0)
		return -EINVAL;
	return fx_backend_put(c->b, key, fd, size, NULL, NULL);
}

int fx_client_put(struct fx_client *c, const char *key, const void *buf, size_t len)
{
	const char *p = buf;
	size_t done = 0;
	int fd, ret;

	if (!c || !key || (!buf && len))
		return -EINVAL;
	/* Backends upload from a file (and may read it twice, to sign then send). */
	fd = memfd_create("rustfx-client-put", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t n = write(fd, p + done, len - done);

		if (n < 0) {
			ret = -errno;
			goto out_fd;
		}
		done += (size_t)n;
	}
	ret = fx_backend_put(c->b, key, fd, len, NULL, NULL);
out_fd:
	close(fd);
	return ret;
}

int fx_client_head(struct fx_client *c, const char *key, struct fx_client_object *out)
{
	struct fx_object_info info = { 0 };
	int ret;

	if (!c || !key || !out)
		return -EINVAL;
	ret = fx_backend_head(c->b, key, &info);
	if (ret < 0)
		return ret;
	out->size = info.size;
	out->mtime_ns = info.mtime_ns;
	snprintf(out->etag, sizeof(out->etag), "%s", info.etag);
	fx_object_info_clear(&info);
	return 0;
}

int fx_client_delete(struct fx_client *c, const char *key)
{
	if (!c || !key)
		return -EINVAL;
	return fx_backend_delete(c->b, key);
}
