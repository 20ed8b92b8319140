/*
 * sim.h - `rustfx sim`: replay a cache trace through the eviction policies
 * and prefetchers and print miss ratios (cache/sim.h does the replaying).
 *
 * Owns: the command's options, output (text, JSON, miss-ratio curve CSV)
 * and exit codes. Does not own: trace formats or the simulation.
 */
#ifndef FX_TOOLS_SIM_H
#define FX_TOOLS_SIM_H

#include <stdbool.h>
#include <stdio.h>

/**
 * `rustfx sim ARGS...` (@argv[0] is "sim"); @json is the global --json.
 * @return the process exit code: 0, 2 for bad input (options, unknown
 * format or policy, a trace that cannot be read or is malformed), >= 64
 * for system errors.
 */
int fx_cli_sim(int argc, char **argv, bool json);

/** The usage text. */
void fx_cli_sim_help(FILE *f);

#endif
