/*
 * sync.h - `rustfx sync SRC DST`: make DST hold what SRC holds, between any
 * two of a local directory, file:///dir and s3://BUCKET[/PREFIX].
 *
 * Owns: the command's options, listing and comparing both sides, the worker
 * pool that copies and deletes, the progress bar, the summary (text or
 * JSON) and the exit code. Does not own: the backends (backends/), the
 * metadata names of mode/uid/gid/mtime (fs/namespace.h), the layered
 * configuration (tools/cli.c loads it and hands it over).
 */
#ifndef FX_TOOLS_SYNC_H
#define FX_TOOLS_SYNC_H

#include <stdbool.h>
#include <stdio.h>

#include "core/config.h"
#include "core/error.h"

/**
 * Load the resolved configuration (defaults, rustfx.toml, RUSTFX_* env) into
 * *@out (freed by the caller with fx_config_free). @return 0 or -errno with
 * @d filled. @arg is the caller's own.
 */
typedef int (*fx_sync_config_fn)(void *arg, struct fx_config **out, struct fx_diag *d);

/**
 * `rustfx sync ARGS...` (@argv[0] is "sync"); @json is the global --json,
 * @verbose the global -v count; @load gets the configuration ([s3], [retry],
 * [io] apply to both backends). Not reentrant: it installs SIGINT/SIGTERM
 * handlers for its run.
 * @return the process exit code: 0 when every file was copied, skipped or
 * deleted; 1 when some file failed (the others are still done) or the run
 * was interrupted; 2 for bad input (options, URLs, overlapping SRC and DST,
 * a missing SRC); fx_exit_code() of the error when a side cannot be listed.
 */
int fx_cli_sync(int argc, char **argv, bool json, int verbose, fx_sync_config_fn load, void *arg);

/** The usage text. */
void fx_cli_sync_help(FILE *f);

#endif
