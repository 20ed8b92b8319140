/*
 * signals.h - the mounted daemon's runtime-control signals.
 *
 * Owns: SIGUSR2 (cycle the default log level: warn, info, debug, trace) and
 * SIGHUP (reopen the log file, for logrotate) while a mount runs.
 * Does not own: SIGINT/SIGTERM (libfuse's handlers end the session loop),
 * SIGPIPE (libfuse ignores it), nor what cycling or reopening means
 * (core/log.c: fx_log_cycle, fx_log_reopen).
 *
 * The handlers only write one byte to a self-pipe (async-signal-safe); a
 * thread of this module reads the pipe and does the work. Signal dispositions
 * are per process, so at most one struct fx_signals exists at a time.
 */
#ifndef FX_FS_SIGNALS_H
#define FX_FS_SIGNALS_H

struct fx_signals;

/**
 * Install the SIGUSR2 and SIGHUP handlers (replacing libfuse's SIGHUP, which
 * would unmount) and start the thread that acts on them. Call after
 * fuse_set_signal_handlers() and after fuse_daemonize() (fork keeps no threads).
 * @return 0 or -errno (pipe, sigaction, pthread_create); on error nothing is
 * installed. @out is owned by the caller; release with fx_signals_free().
 */
int fx_signals_new(struct fx_signals **out);

/**
 * Put back the dispositions fx_signals_new() replaced, stop the thread and
 * free @s. Call before fuse_remove_signal_handlers(). NULL is a no-op.
 */
void fx_signals_free(struct fx_signals *s);

#endif
