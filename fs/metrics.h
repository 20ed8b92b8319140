/*
 * metrics.h - the mount's stats in Prometheus text format over HTTP
 * (-o metrics=[HOST:]PORT; CMake option RUSTFX_METRICS, libmicrohttpd).
 *
 * Owns: parsing the metrics address, rendering the stats document as
 * Prometheus text exposition format 0.0.4 (a pure function, also built
 * without RUSTFX_METRICS), the listening socket and the HTTP server thread.
 * Does not own: collecting the numbers. They come from fx_ctl_stats_json()
 * (fs/control.c), the same document MOUNTPOINT/.rustfx/stats serves, so the
 * two cannot disagree; when to start and stop (fs/ops.c calls the hooks).
 *
 * Names: a stats field SECTION.KEY is rustfx_SECTION_KEY, with "_total" for
 * counters and a unit suffix where the field has one (_bytes, _seconds);
 * requests.OP.* are families labelled op="OP", their latency_us a histogram
 * rustfx_backend_request_duration_seconds. A field this file has no entry
 * for is still served, as type "untyped", so nothing in the stats is lost.
 */
#ifndef FX_FS_METRICS_H
#define FX_FS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "core/error.h"

struct fx_ctl;

/* Content-Type of the exposition. */
#define FX_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define FX_METRICS_PATH "/metrics"
/* Longest address text: "[" IPv6 "]:" port. */
#define FX_METRICS_ADDR_MAX 64

/** True when this build serves metrics (RUSTFX_METRICS was ON). */
bool fx_metrics_built(void);

/**
 * Parse a metrics address: "PORT" (then 127.0.0.1), "IPV4:PORT" or
 * "[IPV6]:PORT", numeric only (no name lookup: the address bound is the one
 * written), port 1-65535. @sa and @salen may be NULL to only validate.
 * @return 0 and, when non-NULL, *@sa and *@salen, or -FX_EBADOPT with @d
 * (one line naming the text, and a hint with examples).
 */
int fx_metrics_parse_addr(const char *text, struct sockaddr_storage *sa, socklen_t *salen,
			  struct fx_diag *d);

/**
 * Check the setting metrics=@addr for this build: its syntax
 * (fx_metrics_parse_addr) and that the build serves metrics at all.
 * @return 0, or -FX_EBADOPT with @d (a build without RUSTFX_METRICS says so
 * and how to get one).
 */
int fx_metrics_check(const char *addr, struct fx_diag *d);

/**
 * Render the stats document @stats_json (the text of fx_ctl_stats_json())
 * in Prometheus text exposition format 0.0.4.
 * @return 0 and *@out (NUL-terminated, malloc'd: the caller frees it) and
 * *@len its length; -EINVAL when @stats_json is not a JSON object or a
 * latency histogram has a bucket name other than "<2^(i+1)" or ">=2^i";
 * -ENOMEM.
 */
int fx_metrics_render(const char *stats_json, char **out, size_t *len);

struct fx_metrics;

/**
 * Bind and listen on @addr (fx_metrics_parse_addr text) to serve the stats
 * of @ctl, which is borrowed and must outlive fx_metrics_free(). Call before
 * mounting, so that a taken port fails the mount; nothing is served until
 * fx_metrics_start(). An empty or NULL @addr sets *@out to NULL and returns 0.
 * @return 0 and *@out, or with @d filled: -FX_EBADOPT (bad address, an
 * address not on this machine, or a build without RUSTFX_METRICS), -EBUSY
 * (the port is taken), another -errno.
 */
int fx_metrics_new(const char *addr, const struct fx_ctl *ctl, struct fx_metrics **out,
		   struct fx_diag *d);

/**
 * Start the server thread (after any fork: fuse_daemonize). Requests are
 * answered until fx_metrics_free(). NULL is a no-op.
 * @return 0 or -errno (the socket stays bound; free it).
 */
int fx_metrics_start(struct fx_metrics *m);

/** Stop the thread (waits for requests being answered), close the socket.
 *  NULL is a no-op. */
void fx_metrics_free(struct fx_metrics *m);

#endif
