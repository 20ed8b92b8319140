/*
 * client.h - rustfx's backends for programs that want a bucket without a
 * mount: open a client on a URL (file://, s3://, mem://) with a resolved
 * configuration, check its health, list, read, write, delete.
 *
 * Owns: the public C API over the backend layer (one opaque handle, plain
 * structs in, plain structs out) and the health check (reachability,
 * credentials, bucket, latency, clock skew) that `rustfx health` reports.
 * Does not own: the backends themselves (backend.h), the configuration
 * (core/config.h), caching or anything POSIX: keys are object keys.
 *
 * Keys are UTF-8 without a leading '/' ("a/b/c"); unsafe keys ("..", "//")
 * are refused with -EINVAL before any request. Functions return 0 or -errno
 * (rustfx codes such as -FX_EBADURL too: fx_strerror() names both), counts
 * as ssize_t. A client is thread-safe: one handle may serve many threads.
 *
 * Example (backends/examples/client_example.c is a complete program):
 *
 *	struct fx_config *cfg = fx_client_config_new();
 *	struct fx_client *c;
 *	struct fx_diag d = { 0 };
 *
 *	fx_config_load_env(cfg, environ, &d);       // RUSTFX_S3_ENDPOINT=...
 *	if (fx_client_open(cfg, "s3://bucket", &c, &d) < 0)
 *		fx_diag_print(&d, stderr);
 *	fx_client_put(c, "hello", "hi\n", 3);
 *	fx_client_close(c);
 *	fx_config_free(cfg);
 */
#ifndef FX_BACKENDS_CLIENT_H
#define FX_BACKENDS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/error.h"

struct fx_config;  /* core/config.h */
struct fx_client;  /* opaque: one open bucket */

/**
 * A configuration over the settings backends read ([retry], [io], [cache]
 * and, in builds with S3, [s3]) at their defaults, to fill with
 * fx_config_load_file(), fx_config_load_env() or fx_config_set().
 * @return NULL only when out of memory; free with fx_config_free().
 * @note A rustfx.toml with other tables ([mount], ...) is refused by this
 *       schema; set the few settings a program needs instead.
 */
struct fx_config *fx_client_config_new(void);

/**
 * Open @url with the settings of @cfg (NULL: defaults). An s3:// URL is
 * checked at once with one listing request, so a wrong endpoint, a missing
 * bucket or refused credentials fail here (-ECONNREFUSED, -ENOENT,
 * -EACCES, ...), not at the first read.
 * @return 0 and *@out, or -FX_EBADURL (bad URL) / -FX_EBADCONF / -errno with
 *         @d (may be NULL) holding one line of what failed and a hint.
 * @note @cfg must outlive the client.
 */
int fx_client_open(const struct fx_config *cfg, const char *url, struct fx_client **out,
		   struct fx_diag *d);

/** Close the client; NULL is a no-op. */
void fx_client_close(struct fx_client *c);

/** The URL the client was opened with; valid until fx_client_close(). */
const char *fx_client_url(const struct fx_client *c);

/* ------------------------------------------------------------- health */

/** One check's verdict. */
enum fx_health_state {
	FX_HEALTH_SKIP = 0, /* not applicable, or not established (see detail) */
	FX_HEALTH_OK,
	FX_HEALTH_WARN,
	FX_HEALTH_FAIL,
};

/** The checks, in the order they are reported. */
enum fx_health_item {
	FX_HEALTH_REACHABLE,   /* the endpoint (or directory) answers */
	FX_HEALTH_CREDENTIALS, /* requests are accepted */
	FX_HEALTH_BUCKET,      /* the bucket (or root directory) exists */
	FX_HEALTH_LATENCY,     /* p50/p99 of a few listing requests */
	FX_HEALTH_CLOCK,       /* skew between our clock and the server's Date */
	FX_HEALTH_ITEMS
};

/** Overall: unreachable if the endpoint is; degraded if any check warns or fails. */
enum fx_health_status {
	FX_HEALTHY = 0,
	FX_DEGRADED,
	FX_UNREACHABLE,
};

struct fx_health_check {
	enum fx_health_state state;
	int err;         /* -errno behind a WARN or FAIL, else 0 */
	char detail[256]; /* what was found, e.g. "bucket 'b' does not exist at http://..." */
	char hint[256];  /* what to do about a WARN or FAIL; "" otherwise */
};

/* Thresholds (documented in `rustfx health --help` too). */
#define FX_HEALTH_SAMPLES 5        /* requests timed by default */
#define FX_HEALTH_SLOW_MS 1000.0   /* p50 at least this: latency warns */
#define FX_HEALTH_SKEW_WARN_S 30.0 /* |skew| above this: clock warns */
#define FX_HEALTH_SKEW_FAIL_S 900.0 /* above this S3 refuses signatures (15 min) */

struct fx_health {
	enum fx_health_status status;
	struct fx_health_check check[FX_HEALTH_ITEMS];
	unsigned samples;        /* requests timed (0: none answered) */
	double p50_ms, p99_ms;   /* nearest-rank percentiles of those */
	bool skew_known;         /* the server sent a Date header */
	double skew_s;           /* server clock minus ours, +-1 s (Date has whole seconds) */
};

/**
 * Check an open client: time @samples (0: FX_HEALTH_SAMPLES) listing
 * requests of one key each, and compare the server's clock with ours
 * (s3:// only). Read-only: nothing is written to the bucket.
 * @return 0 with *@out filled (whatever its verdict), or -EINVAL/-ENOMEM.
 */
int fx_client_health(struct fx_client *c, unsigned samples, struct fx_health *out);

/**
 * Open @url with @cfg, check it as fx_client_health() does, and close it.
 * Unlike fx_client_open() a bucket that is missing, refuses us or does not
 * answer is a verdict in *@out, not an error: e.g. refused credentials give
 * credentials FAIL, with the clock check still made from the refusal.
 * @return 0 with *@out filled; -FX_EBADURL, -FX_EBADCONF (bad input) or
 *         -ENOMEM with @d filled.
 */
int fx_client_check(const struct fx_config *cfg, const char *url, unsigned samples,
		    struct fx_health *out, struct fx_diag *d);

/** "reachable", "credentials", "bucket", "latency", "clock". */
const char *fx_health_item_name(enum fx_health_item item);
/** "skip", "ok", "warn", "fail". */
const char *fx_health_state_name(enum fx_health_state state);
/** "healthy", "degraded", "unreachable". */
const char *fx_health_status_name(enum fx_health_status status);

/* ------------------------------------------------------------- objects */

/** What fx_client_head() reports of an object. */
struct fx_client_object {
	uint64_t size;
	int64_t mtime_ns; /* upload (last-modified) time */
	char etag[128];   /* as the server gives it, quotes included */
};

/** One listing entry; pointers are valid only during the callback. */
struct fx_client_entry {
	const char *key;  /* full key; a common prefix ends with the delimiter */
	bool is_prefix;   /* a common prefix ("directory"), not an object */
	uint64_t size;    /* objects only */
	int64_t mtime_ns; /* objects only */
	const char *etag; /* objects only; may be "" */
};

/** Listing callback: 0 to go on, anything else stops the listing (and is returned). */
typedef int (*fx_client_list_fn)(void *arg, const struct fx_client_entry *e);

/**
 * Call @fn for every key starting with @prefix ("" or NULL: all), in byte
 * order, following every page. With @delimiter "/" keys with a further '/'
 * after the prefix roll up into one common-prefix entry; NULL lists flat.
 * @return 0, what @fn returned to stop, or -errno (-EINVAL for a delimiter
 *         other than NULL, "" or "/").
 */
int fx_client_list(struct fx_client *c, const char *prefix, const char *delimiter,
		   fx_client_list_fn fn, void *arg);

/**
 * Read up to @len bytes of @key from @offset into @buf.
 * @return bytes read (short only at the end of the object; 0 at or past it)
 *         or -errno (-ENOENT: no such object).
 */
ssize_t fx_client_get(struct fx_client *c, const char *key, uint64_t offset, void *buf, size_t len);

/**
 * Store @len bytes of @buf as @key, replacing any object of that name.
 * Atomic: readers see the old or the new object. @return 0 or -errno.
 */
int fx_client_put(struct fx_client *c, const char *key, const void *buf, size_t len);

/**
 * Store the first @size bytes of the file @fd (read with pread(2) from
 * offset 0; its file offset is not used) as @key. Large objects go up in
 * parallel parts on S3. @return 0 or -errno. @note @fd stays the caller's.
 */
int fx_client_put_fd(struct fx_client *c, const char *key, int fd, uint64_t size);

/** Size, time and ETag of @key. @return 0 or -errno (-ENOENT: no such object). */
int fx_client_head(struct fx_client *c, const char *key, struct fx_client_object *out);

/** Delete @key; deleting an absent key succeeds (as S3). @return 0 or -errno. */
int fx_client_delete(struct fx_client *c, const char *key);

#endif
