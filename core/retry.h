/*
 * retry.h - retry policy: capped exponential backoff with full jitter.
 *
 * Owns: how long to wait before attempt N, and which errors are worth a retry.
 * Does not own: the loop itself; callers (backends) retry around their I/O.
 */
#ifndef FX_CORE_RETRY_H
#define FX_CORE_RETRY_H

#include <stdbool.h>
#include <stdint.h>

struct fx_retry_policy {
	unsigned max_attempts; /* including the first; >= 1 */
	unsigned base_delay_ms;
	unsigned max_delay_ms;
};

/**
 * Delay before retry number @attempt (1 = first retry): a uniformly random
 * value in [0, min(max, base * 2^(attempt-1))] ("full jitter"), so that many
 * clients failing together do not retry together. Thread-safe.
 */
uint32_t fx_retry_delay_ms(const struct fx_retry_policy *p, unsigned attempt);

/** True for errors a retry may cure: timeouts, resets, throttling, EIO/EAGAIN. */
bool fx_retry_worth_it(int err);

#endif
