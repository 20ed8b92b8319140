/*
 * log.h - structured logging with per-module level filters.
 *
 * Owns: the filter ("info", "fs=debug,cache=trace" as in RUST_LOG), the text
 * or JSON-lines output to stderr, a log file or syslog, the per-thread
 * correlation id of the FUSE request being served, and log-once suppression.
 * Does not own: deciding what to log; callers name their module.
 *
 * Each .c file defines FX_LOG_MODULE (e.g. "fs") before including this header
 * and logs with fx_error()/fx_warn()/fx_info()/fx_debug()/fx_trace().
 * Thread-safe: each record is written with one write(2) call.
 * The default level and the log file can change at runtime (fx_log_cycle,
 * fx_log_reopen); the module rules cannot.
 */
#ifndef FX_CORE_LOG_H
#define FX_CORE_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

enum fx_log_level {
	FX_LOG_OFF = 0,
	FX_LOG_ERROR,
	FX_LOG_WARN,
	FX_LOG_INFO,
	FX_LOG_DEBUG,
	FX_LOG_TRACE,
};

enum fx_log_sink {
	FX_LOG_STDERR = 0,
	FX_LOG_FILE,
	FX_LOG_SYSLOG,
};

/**
 * Parse a filter such as "warn", "fs=debug,cache=trace" or "info,backend=off".
 * A bare level sets the default; "module=level" overrides one module.
 * @return 0, or -FX_EBADCONF with @d filled (names the bad part).
 */
int fx_log_check_filter(const char *spec, struct fx_diag *d);

/**
 * Configure logging. @filter as above (NULL keeps "info"); @json selects JSON
 * lines; @sink and @path (for FX_LOG_FILE) select the output.
 * Call before starting threads. @return 0 or -errno with @d filled.
 */
int fx_log_setup(const char *filter, bool json, enum fx_log_sink sink, const char *path,
		 struct fx_diag *d);

/** Raise verbosity of the default level by @n steps (-v, -vv). */
void fx_log_bump(int n);

/**
 * Cycle the default level warn -> info -> debug -> trace -> warn (off and
 * error go to warn), then log one line at the new level saying so. Module
 * rules ("fs=debug") are kept as configured: they pin their module.
 * Thread-safe; not async-signal-safe (call from a normal thread).
 * @return the new default level.
 */
enum fx_log_level fx_log_cycle(void);

/**
 * Reopen the log file by its path (for logrotate: after "mv log log.1" new
 * records go to a fresh "log"). Records being written concurrently land in
 * one file or the other, never nowhere. Thread-safe; not async-signal-safe.
 * @return 0; -ENOTSUP when the sink is stderr or syslog (nothing to reopen);
 * -errno from open(2), in which case logging goes on to the old file.
 */
int fx_log_reopen(void);

/** Close a log file or syslog connection. */
void fx_log_shutdown(void);

/** True when @module logs at @level. Cheap; call before formatting. */
bool fx_log_enabled(const char *module, enum fx_log_level level);

/** Set the correlation id of the request this thread now serves (0: none). */
void fx_log_set_request(uint64_t id);

/** A fresh, process-unique correlation id. */
uint64_t fx_log_next_request(void);

/**
 * Log once per distinct @tag for the process lifetime (e.g. a hostile key):
 * @return true the first time @tag is seen, false after. Bounded memory:
 * after a few thousand tags it stays quiet.
 */
bool fx_log_first_time(const char *tag);

void fx_log_write(const char *module, enum fx_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define fx_log(level, ...)                                          \
	do {                                                        \
		if (fx_log_enabled(FX_LOG_MODULE, level))           \
			fx_log_write(FX_LOG_MODULE, level, __VA_ARGS__); \
	} while (0)
#define fx_error(...) fx_log(FX_LOG_ERROR, __VA_ARGS__)
#define fx_warn(...) fx_log(FX_LOG_WARN, __VA_ARGS__)
#define fx_info(...) fx_log(FX_LOG_INFO, __VA_ARGS__)
#define fx_debug(...) fx_log(FX_LOG_DEBUG, __VA_ARGS__)
#define fx_trace(...) fx_log(FX_LOG_TRACE, __VA_ARGS__)

#endif
