/*
 * cli.h - the rustfx command line, shared by `rustfx` and `mount.rustfx`.
 *
 * Owns: argument parsing, layering the configuration for a command, turning
 * diagnostics into "error:/hint:" lines and exit codes, and the commands
 * themselves (mount, umount, health, sync, config, completion).
 * Does not own: filesystem, backend or configuration logic.
 */
#ifndef FX_TOOLS_CLI_H
#define FX_TOOLS_CLI_H

/** `rustfx ARGS...`; returns the process exit code. */
int fx_cli_main(int argc, char **argv);

/** `mount.rustfx URL MOUNTPOINT [-o OPTS] [-f] [-n] [-s] [-v]` (mount(8) helper). */
int fx_cli_mount_helper(int argc, char **argv);

#endif
