/* Retry policy: full-jitter delays stay within the capped exponential bound. */
#include <criterion/criterion.h>
#include <errno.h>
#include <sodium.h>

#include "core/retry.h"

TestSuite(retry, .init = (void (*)(void))sodium_init);

Test(retry, delays_within_capped_exponential_bound)
{
	struct fx_retry_policy p = { .max_attempts = 8, .base_delay_ms = 100, .max_delay_ms = 1000 };
	unsigned bound[] = { 0, 100, 200, 400, 800, 1000, 1000, 1000 };

	cr_assert_eq(fx_retry_delay_ms(&p, 0), 0);
	for (unsigned attempt = 1; attempt < 8; attempt++) {
		uint32_t max_seen = 0;

		for (int i = 0; i < 2000; i++) {
			uint32_t d = fx_retry_delay_ms(&p, attempt);

			cr_assert_leq(d, bound[attempt], "attempt %u gave %u", attempt, d);
			if (d > max_seen)
				max_seen = d;
		}
		/* Jitter spreads over the whole window, not only its start. */
		cr_assert_geq(max_seen, bound[attempt] / 2, "attempt %u max %u", attempt, max_seen);
	}
}

Test(retry, jitter_varies)
{
	struct fx_retry_policy p = { .max_attempts = 5, .base_delay_ms = 1000, .max_delay_ms = 10000 };
	uint32_t first = fx_retry_delay_ms(&p, 3);
	bool differs = false;

	for (int i = 0; i < 50 && !differs; i++)
		differs = fx_retry_delay_ms(&p, 3) != first;
	cr_assert(differs, "50 delays were all %u: no jitter", first);
}

Test(retry, huge_attempt_numbers_do_not_overflow)
{
	struct fx_retry_policy p = { .max_attempts = 100, .base_delay_ms = 60000, .max_delay_ms = 600000 };

	for (int i = 0; i < 100; i++)
		cr_assert_leq(fx_retry_delay_ms(&p, 1000), 600000);
}

Test(retry, worth_it_only_for_transient_errors)
{
	cr_assert(fx_retry_worth_it(-ETIMEDOUT));
	cr_assert(fx_retry_worth_it(-ECONNRESET));
	cr_assert(fx_retry_worth_it(-EAGAIN));
	cr_assert(fx_retry_worth_it(EIO));
	cr_assert_not(fx_retry_worth_it(-ENOENT));
	cr_assert_not(fx_retry_worth_it(-EACCES));
	cr_assert_not(fx_retry_worth_it(-EINVAL));
	cr_assert_not(fx_retry_worth_it(0));
}
