/*
 * error.c - error strings, diagnostics and exit codes (see error.h).
 */
#include "core/error.h"

#include <errno.h>
#include <string.h>
#include <sysexits.h>

static const char *const fx_messages[] = {
	[FX_EUSAGE - FX_ERR_BASE] = "invalid command line",
	[FX_EBADCONF - FX_ERR_BASE] = "invalid configuration",
	[FX_EBADOPT - FX_ERR_BASE] = "invalid mount option",
	[FX_EBADURL - FX_ERR_BASE] = "invalid backend URL",
	[FX_EBADKEY - FX_ERR_BASE] = "object key cannot be mapped to a path",
	[FX_EMOUNTPOINT - FX_ERR_BASE] = "unusable mount point",
	[FX_ECORRUPT - FX_ERR_BASE] = "data failed its integrity check",
	[FX_ENOTYET - FX_ERR_BASE] = "not available in this release",
};

const char *fx_strerror(int err)
{
	if (err < 0)
		err = -err;
	if (err > FX_ERR_BASE && err < FX_ERR_END)
		return fx_messages[err - FX_ERR_BASE];
	return strerror(err);
}

int fx_exit_code(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return FX_EXIT_OK;
	case FX_EUSAGE:
	case FX_EBADCONF:
	case FX_EBADOPT:
	case FX_EBADURL:
	case FX_EBADKEY:
	case FX_EMOUNTPOINT:
	case FX_ENOTYET:
	case EINVAL:
	case ENAMETOOLONG:
	case EISDIR:
		return FX_EXIT_INVALID;
	case EAGAIN:
	case EBUSY:
	case ETIMEDOUT:
	case ECONNREFUSED:
	case ECONNRESET:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EINTR:
		return FX_EXIT_RECOVERABLE;
	case ENOENT:
	case ENOTDIR:
		return EX_NOINPUT;
	case EACCES:
	case EPERM:
		return EX_NOPERM;
	case ENOSPC:
	case EIO:
	case EROFS:
	case FX_ECORRUPT:
		return EX_IOERR;
	case ENOMEM:
	case EMFILE:
	case ENFILE:
		return EX_OSERR;
	case ENOTSUP:
	case ENODEV:
		return EX_UNAVAILABLE;
	default:
		return EX_SOFTWARE;
	}
}

void fx_diag_set(struct fx_diag *d, int err, const char *hint, const char *fmt, ...)
{
	va_list ap;

	if (!d || d->err)
		return;
	d->err = err ? err : -EINVAL;
	va_start(ap, fmt);
	vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
	va_end(ap);
	snprintf(d->hint, sizeof(d->hint), "%s", hint ? hint : "");
}

void fx_diag_print(const struct fx_diag *d, FILE *f)
{
	fprintf(f, "error: %s\n", d->msg[0] ? d->msg : fx_strerror(d->err));
	if (d->hint[0])
		fprintf(f, "hint: %s\n", d->hint);
}
