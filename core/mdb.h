/*
 * mdb.h - the one mapping of LMDB's return codes to -errno, for every
 * module that keeps an LMDB environment (the cache index, the model).
 * Header-only so that core/ itself does not link LMDB.
 */
#ifndef FX_CORE_MDB_H
#define FX_CORE_MDB_H

#include <errno.h>
#include <lmdb.h>

#include "core/error.h"

static inline int fx_mdb_errno(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_MAP_FULL:
	case MDB_DBS_FULL:
		return -ENOSPC;
	case MDB_CORRUPTED:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_PAGE_NOTFOUND:
	case MDB_BAD_VALSIZE:
		return -FX_ECORRUPT;
	default:
		return rc > 0 ? -rc : -EIO;
	}
}

#endif
