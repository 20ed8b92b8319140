/*
 * test_learn.c - the object records of the learning cache (cache/learn.h):
 * what fx_learn_rec_encode writes decodes back to the same object, records
 * too long are refused, and decoding damaged or hostile records (they come
 * from model files) fails cleanly or stays within the record.
 * Does not test learning or prefetching through a mount
 * (tests/mount/test_learn.sh) nor the model file (neural/test_model.c).
 */
#include "cache/learn.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

TestSuite(learn);

Test(learn, a_record_round_trips)
{
	struct fx_object_ref obj = {.key = "dir/sub/file 01.dat",
				    .version = "\"d41d8cd9\"",
				    .size = 5ull << 32},
			     back;
	uint8_t rec[FX_LEARN_REC_MAX];
	char strings[FX_LEARN_REC_MAX];
	size_t len = fx_learn_rec_encode(&obj, rec);

	cr_assert_eq(len, 8 + 2 + strlen(obj.version) + strlen(obj.key));
	cr_assert_eq(fx_learn_rec_decode(rec, len, strings, &back), 0);
	cr_assert_str_eq(back.key, obj.key);
	cr_assert_str_eq(back.version, obj.version);
	cr_assert_eq(back.size, obj.size);
	/* the strings live in @strings, within the record's length */
	cr_assert(back.key >= strings && back.key + strlen(back.key) < strings + len);
}

Test(learn, an_empty_version_and_the_longest_record)
{
	static char key[FX_LEARN_REC_MAX + 1];
	struct fx_object_ref obj = {.key = key, .version = "", .size = 1}, back;
	uint8_t rec[FX_LEARN_REC_MAX];
	char strings[FX_LEARN_REC_MAX];
	size_t len;

	memset(key, 'k', FX_LEARN_REC_MAX - 10);
	len = fx_learn_rec_encode(&obj, rec);
	cr_assert_eq(len, FX_LEARN_REC_MAX);
	cr_assert_eq(fx_learn_rec_decode(rec, len, strings, &back), 0);
	cr_assert_str_eq(back.version, "");
	cr_assert_eq(strlen(back.key), FX_LEARN_REC_MAX - 10);
	key[FX_LEARN_REC_MAX - 10] = 'k'; /* one byte more: does not fit */
	cr_assert_eq(fx_learn_rec_encode(&obj, rec), 0);
}

Test(learn, damaged_records_are_refused)
{
	struct fx_object_ref obj = {.key = "a", .version = "v1", .size = 9}, back;
	uint8_t rec[FX_LEARN_REC_MAX];
	char strings[FX_LEARN_REC_MAX];
	size_t len = fx_learn_rec_encode(&obj, rec);
	uint16_t vl;

	for (size_t cut = 0; cut < len; cut++)
		cr_assert_eq(fx_learn_rec_decode(rec, cut, strings, &back), -EINVAL,
			     "cut to %zu bytes", cut);
	/* a version length reaching past the record, or leaving no key */
	vl = 0xffff;
	memcpy(rec + 8, &vl, 2);
	cr_assert_eq(fx_learn_rec_decode(rec, len, strings, &back), -EINVAL);
	vl = (uint16_t)(len - 10);
	memcpy(rec + 8, &vl, 2);
	cr_assert_eq(fx_learn_rec_decode(rec, len, strings, &back), -EINVAL);
}

Test(learn, hostile_bytes_in_a_key_stay_in_the_record)
{
	static const char key[] = "evil\"\\\n\x1b[31m\xff\xfe";
	struct fx_object_ref obj = {.key = key, .version = "e", .size = 3}, back;
	uint8_t rec[FX_LEARN_REC_MAX];
	char strings[FX_LEARN_REC_MAX];
	size_t len = fx_learn_rec_encode(&obj, rec);

	cr_assert_gt(len, 0);
	cr_assert_eq(fx_learn_rec_decode(rec, len, strings, &back), 0);
	cr_assert_eq(memcmp(back.key, key, sizeof(key)), 0, "bytes kept as they are");
	/* a NUL inside the key ends it early: never read past it */
	rec[len - 3] = '\0';
	cr_assert_eq(fx_learn_rec_decode(rec, len, strings, &back), 0);
	cr_assert_eq(strlen(back.key), sizeof(key) - 1 - 3);
}
