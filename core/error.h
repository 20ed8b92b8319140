/*
 * error.h - rustfx error codes, user-facing diagnostics and exit codes.
 *
 * Owns: the project-specific error range (disjoint from errno), fx_strerror()
 * for both, the one-line "error: ... / hint: ..." diagnostic, and the mapping
 * from an error to a deterministic process exit code.
 * Does not own: mapping foreign error domains (HTTP, CURLcode, MDB_*) to errno;
 * each of those lives beside the code that meets it.
 */
#ifndef FX_CORE_ERROR_H
#define FX_CORE_ERROR_H

#include <stdarg.h>
#include <stdio.h>

/* Functions return 0 or -errno; project codes are negative values of these. */
#define FX_ERR_BASE 4096 /* above every errno value */
enum {
	FX_EUSAGE = FX_ERR_BASE + 1, /* bad command line */
	FX_EBADCONF,                 /* bad configuration file or env value */
	FX_EBADOPT,                  /* bad mount option */
	FX_EBADURL,                  /* bad or unsupported backend URL */
	FX_EBADKEY,                  /* object key unsafe to map to a path */
	FX_EMOUNTPOINT,              /* mount point missing or unusable */
	FX_ECORRUPT,                 /* checksum or format mismatch */
	FX_ENOTYET,                  /* feature arrives with a later release */
	FX_ERR_END
};

/* Exit codes: 0 ok, 1 recoverable, 2 invalid input, >=64 system (sysexits.h). */
#define FX_EXIT_OK 0
#define FX_EXIT_RECOVERABLE 1
#define FX_EXIT_INVALID 2

/**
 * Describe an error. @err may be negative or positive, errno or FX_E*.
 * @return a static string; never NULL.
 */
const char *fx_strerror(int err);

/** Exit code for an error (0 for 0). Deterministic: the same error, the same code. */
int fx_exit_code(int err);

/**
 * A user-facing diagnostic: one line of what failed and why, one line of what
 * to do. Filled by the layer that knows the details, printed by the CLI.
 */
struct fx_diag {
	int err;        /* negative errno or FX_E* code; 0 when unset */
	char msg[768];  /* "WHAT (WHY)" */
	char hint[384]; /* "WHAT TO DO"; may be empty */
};

/** Record a diagnostic (the first one wins; later calls are ignored). @d may be NULL. */
void fx_diag_set(struct fx_diag *d, int err, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/** Print "error: MSG\nhint: HINT\n" to @f. */
void fx_diag_print(const struct fx_diag *d, FILE *f);

#endif
