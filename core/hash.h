/*
 * hash.h - the 64-bit finaliser (murmur3's fmix64) used to spread ids that
 * are not already hashes (simulator block ids, object ids in tables) over
 * open-addressing tables.
 */
#ifndef FX_CORE_HASH_H
#define FX_CORE_HASH_H

#include <stdint.h>

static inline uint64_t fx_mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

#endif
