/*
 * completion.h - shell completion scripts for rustfx, generated from the
 * command list and the configuration schema, so they never go stale.
 */
#ifndef FX_TOOLS_COMPLETION_H
#define FX_TOOLS_COMPLETION_H

#include <stdio.h>

#include "core/config.h"

/** Print the script for @shell ("bash", "zsh", "fish"). @return 0 or -EINVAL. */
int fx_completion_print(const struct fx_config *cfg, const char *shell, FILE *f);

#endif
