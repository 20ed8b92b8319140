/*
 * backend_i.h - declarations shared inside backends/ (and its tests):
 * the built-in backends' method tables.
 */
#ifndef FX_BACKENDS_BACKEND_I_H
#define FX_BACKENDS_BACKEND_I_H

#include "backends/backend.h"

extern const struct fx_backend_ops fx_backend_file_ops;
extern const struct fx_backend_ops fx_backend_mem_ops;
#ifdef RUSTFX_S3
extern const struct fx_backend_ops fx_backend_s3_ops;
#endif

#endif
