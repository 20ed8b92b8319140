/*
 * s3.h - the s3:// backend's settings ([s3] table) for the configuration
 * schema, and the server clock its last answer showed (for clock-skew
 * checks). The backend itself registers as fx_backend_s3_ops (backend_i.h).
 */
#ifndef FX_BACKENDS_S3_H
#define FX_BACKENDS_S3_H

#include <stdint.h>

#include "core/config.h"

extern const struct fx_conf_key fx_s3_conf_keys[];

/**
 * The server's clock as told by the last S3 response the calling thread
 * received: its Date header (@server_s, whole seconds since the epoch) and
 * the local CLOCK_REALTIME when the header arrived (@local_s). Per thread,
 * because a request runs on its caller's thread (multipart parts excepted),
 * so a caller that just made a request reads that request's answer; also
 * after an error answer (a refused signature is often a skewed clock).
 * @return 0, or -ENOENT when this thread has received no Date header.
 */
int fx_s3_last_date(int64_t *server_s, double *local_s);

#endif
