/*
 * test_key.c - fx_key_check on good and hostile keys.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "backends/backend.h"

struct key_case {
	const char *key;
	int want;
};

static const struct key_case fx_cases[] = {
	{ "a", 0 },
	{ "a/b/c", 0 },
	{ "a/b/", 0 },
	{ "a b+%\xc3\xbc", 0 },
	{ ".hidden", 0 },
	{ "a/..b/c.", 0 },
	{ "...", 0 },
	{ "", -EINVAL },
	{ "/", -EINVAL },
	{ "/abs", -EINVAL },
	{ ".", -EINVAL },
	{ "..", -EINVAL },
	{ "./a", -EINVAL },
	{ "../a", -EINVAL },
	{ "a/../b", -EINVAL },
	{ "a/..", -EINVAL },
	{ "a/./b", -EINVAL },
	{ "a/.", -EINVAL },
	{ "a/../", -EINVAL },
	{ "a//b", -EINVAL },
	{ "a//", -EINVAL },
	{ "//a", -EINVAL },
};

Test(key, table)
{
	size_t i;

	for (i = 0; i < sizeof(fx_cases) / sizeof(fx_cases[0]); i++)
		cr_expect_eq(fx_key_check(fx_cases[i].key), fx_cases[i].want,
			     "fx_key_check(\"%s\") = %d, want %d", fx_cases[i].key,
			     fx_key_check(fx_cases[i].key), fx_cases[i].want);
}

Test(key, null_is_invalid)
{
	cr_assert_eq(fx_key_check(NULL), -EINVAL);
}

Test(key, segment_length)
{
	char key[FX_NAME_MAX + 8];

	memset(key, 's', FX_NAME_MAX);
	key[FX_NAME_MAX] = '\0';
	cr_assert_eq(fx_key_check(key), 0, "255-byte segment is fine");
	strcpy(key + FX_NAME_MAX, "/");
	cr_assert_eq(fx_key_check(key), 0, "255-byte marker segment is fine");
	memset(key, 's', FX_NAME_MAX + 1);
	key[FX_NAME_MAX + 1] = '\0';
	cr_assert_eq(fx_key_check(key), -ENAMETOOLONG);
	key[0] = 'a';
	key[1] = '/'; /* 254-byte segment after "a/" */
	cr_assert_eq(fx_key_check(key), 0);
}

Test(key, total_length)
{
	char key[FX_KEY_MAX + 2];
	size_t i;

	/* "aaaa/aaaa/..." segments of 4, exactly FX_KEY_MAX bytes, then one more. */
	for (i = 0; i < FX_KEY_MAX + 1; i++)
		key[i] = (i % 5 == 4) ? '/' : 'a';
	key[FX_KEY_MAX - 1] = 'a';
	key[FX_KEY_MAX] = '\0';
	cr_assert_eq(fx_key_check(key), 0, "a 1024-byte key is fine");
	key[FX_KEY_MAX] = 'a';
	key[FX_KEY_MAX + 1] = '\0';
	cr_assert_eq(fx_key_check(key), -ENAMETOOLONG, "a 1025-byte key is too long");
}
