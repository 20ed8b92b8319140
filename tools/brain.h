/*
 * brain.h - `rustfx brain show|export|reset`: look at, draw or delete the
 * learned model (neural/model.h) of the stores in a cache directory.
 *
 * Owns: the command's options, output (text, JSON, Graphviz DOT) and exit
 * codes. Does not own: the model's format and checks (neural/model.c), the
 * object record layout (cache/learn.h), the store's lock (cache/store.h).
 */
#ifndef FX_TOOLS_BRAIN_H
#define FX_TOOLS_BRAIN_H

#include <stdbool.h>
#include <stdio.h>

/**
 * `rustfx brain ARGS...` (@argv[0] is "brain"); @json is the global --json.
 * @return the process exit code: 0; 1 when a store is in use by a mount
 * (reset); 2 for bad input (options, a directory that is no cache or holds
 * no model); >= 64 for system errors (74 for a damaged model file).
 */
int fx_cli_brain(int argc, char **argv, bool json);

/** The usage text. */
void fx_cli_brain_help(FILE *f);

#endif
