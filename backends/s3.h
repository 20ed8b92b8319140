/*
 * s3.h - the s3:// backend's settings ([s3] table) for the configuration
 * schema. The backend itself registers as fx_backend_s3_ops (backend_i.h).
 */
#ifndef FX_BACKENDS_S3_H
#define FX_BACKENDS_S3_H

#include "core/config.h"

extern const struct fx_conf_key fx_s3_conf_keys[];

#endif
