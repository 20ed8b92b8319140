/*
 * cli_i.h - what the rustfx subcommands in tools/ share: reporting an error
 * as the one-line "error: ... / hint: ..." pair with its exit code.
 */
#ifndef FX_TOOLS_CLI_I_H
#define FX_TOOLS_CLI_I_H

#include "core/error.h"

/** Print @d to stderr. @return its exit code (fx_exit_code). */
int fx_cli_fail(const struct fx_diag *d);
/** A usage error: @fmt with one string @arg, and @hint. @return exit code 2. */
int fx_cli_usage(const char *hint, const char *fmt, const char *arg);

#endif
