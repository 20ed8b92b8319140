/*
 * retry.c - backoff with full jitter (see retry.h); randomness from libsodium.
 */
#include "core/retry.h"

#include <errno.h>
#include <sodium.h>

uint32_t fx_retry_delay_ms(const struct fx_retry_policy *p, unsigned attempt)
{
	uint64_t cap = p->base_delay_ms;

	if (attempt == 0)
		return 0;
	for (unsigned i = 1; i < attempt && cap < p->max_delay_ms; i++)
		cap *= 2;
	if (cap > p->max_delay_ms)
		cap = p->max_delay_ms;
	return randombytes_uniform((uint32_t)cap + 1);
}

bool fx_retry_worth_it(int err)
{
	switch (err < 0 ? -err : err) {
	case EAGAIN:
	case EIO:
	case ETIMEDOUT:
	case ECONNRESET:
	case ECONNREFUSED:
	case ECONNABORTED:
	case EPIPE:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EBUSY:
		return true;
	default:
		return false;
	}
}
