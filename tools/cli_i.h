/*
 * cli_i.h - what the rustfx subcommands in tools/ share: reporting an error
 * as the one-line "error: ... / hint: ..." pair with its exit code, finding
 * the cache stores a CACHE_DIR argument names, and taking -o arguments that
 * may hold secrets.
 */
#ifndef FX_TOOLS_CLI_I_H
#define FX_TOOLS_CLI_I_H

#include <stdbool.h>

#include "core/error.h"

/** Print @d to stderr. @return its exit code (fx_exit_code). */
int fx_cli_fail(const struct fx_diag *d);
/** A usage error: @fmt with one string @arg, and @hint. @return exit code 2. */
int fx_cli_usage(const char *hint, const char *fmt, const char *arg);

/**
 * The cache stores named by @dir: @dir itself if it holds @marker (a file
 * name such as "index.mdb"), else each subdirectory that does, sorted. A
 * marker counts only as a regular file unless @any_type.
 * @return how many, with their paths in *@out (fx_cli_stores_free), or -errno.
 */
int fx_cli_stores(const char *dir, const char *marker, bool any_type, char ***out);
void fx_cli_stores_free(char **list, int n);

/**
 * Take the -o argument @arg (an argv string): append it to *@opts (malloc'd,
 * joined with ','; the old copy is wiped), then overwrite the values of
 * secret options in @arg so ps does not show them. @return 0 or -ENOMEM.
 */
int fx_cli_take_opts(char **opts, char *arg);
/** Wipe and free what fx_cli_take_opts() built; NULL is a no-op. */
void fx_cli_free_opts(char *opts);

#endif
