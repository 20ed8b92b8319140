/*
 * health.h - `rustfx health [URL|MOUNTPOINT] [--json]`: is a bucket, its
 * cache directory and (for a mount point) its daemon in working order?
 *
 * Owns: the health command: its arguments, the [health] settings, the
 * cache-directory checks (free space, a read-only look at the index, the
 * learned model), the mount-point checks (a fuse.rustfx mount whose daemon
 * answers within a timeout, its key counters) and the report (text or JSON)
 * and exit code. Does not own: the backend checks (backends/client.c) or
 * loading the configuration (tools/cli.c passes a loader).
 */
#ifndef FX_TOOLS_HEALTH_H
#define FX_TOOLS_HEALTH_H

#include <stdbool.h>

#include "core/config.h"
#include "core/error.h"

/** The [health] table: url (checked when none is named) and samples. */
extern const struct fx_conf_key fx_health_conf_keys[];

/**
 * Build the layered configuration (defaults, file, env, flags) with the
 * mount options @opts (NULL: none) applied last. @return 0 and *@out, or
 * -errno / -FX_EBADCONF with @d filled.
 */
typedef int (*fx_health_load_fn)(void *arg, const char *opts, struct fx_config **out,
				 struct fx_diag *d);

/**
 * `rustfx health ARGS` (argv[0] is "health"). @json: the global --json was
 * given; @verbose: the -v count. @load builds the configuration once the
 * arguments are known. @return the exit code: 0 healthy, 1 degraded or
 * unreachable, 2 bad input, >= 64 a system error.
 */
int fx_cli_health(int argc, char **argv, bool json, int verbose, fx_health_load_fn load,
		  void *load_arg);

#endif
