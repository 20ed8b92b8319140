/*
 * test_headahead.c - predicted lookups: a wanted key is HEADed once in the
 * background and handed to one lookup; results of another mutation
 * generation, older than the ttl, or of a missing object are not used;
 * wanting a key twice sends one HEAD.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "backends/backend.h"
#include "fs/headahead.h"

static struct fx_backend *mem_with(const char *key, const char *data)
{
	struct fx_backend *b = NULL;
	struct fx_diag d = {0};
	int fd = memfd_create("object", MFD_CLOEXEC);

	cr_assert_eq(fx_backend_open("mem://headahead", &b, &d), 0, "%s", d.msg);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	cr_assert_eq(fx_backend_put(b, key, fd, strlen(data), NULL, NULL), 0);
	close(fd);
	return b;
}

static uint64_t heads(struct fx_backend *b)
{
	struct fx_backend_op_stats st;

	fx_backend_op_stats(b, FX_OP_HEAD, &st);
	return st.calls;
}

/* Wait until the background HEADs of @h have sent @n in all. */
static void wait_sent(struct fx_headahead *h, uint64_t n)
{
	struct fx_headahead_stats st;

	for (int i = 0; i < 500; i++) {
		fx_headahead_stats(h, &st);
		if (st.sent >= n) {
			usleep(20000); /* and its result is stored */
			return;
		}
		usleep(10000);
	}
	cr_assert_fail("the background HEAD was not sent");
}

Test(headahead, wanted_key_is_ready_once, .timeout = 30)
{
	struct fx_backend *b = mem_with("dir/a", "hello");
	struct fx_headahead *h;
	struct fx_object_info info = {0};
	uint64_t before;

	cr_assert_eq(fx_headahead_new(b, 10.0, &h), 0);
	cr_assert_eq(fx_headahead_start(h), 0);
	before = heads(b);
	fx_headahead_want(h, "dir/a", 1);
	fx_headahead_want(h, "dir/a", 1); /* queued or held: not sent twice */
	wait_sent(h, 1);
	cr_assert_eq(heads(b), before + 1);
	cr_assert_eq(fx_headahead_take(h, "dir/a", 1, &info), 0);
	cr_assert_eq(info.size, 5);
	cr_assert_str_neq(info.etag, "");
	fx_object_info_clear(&info);
	cr_assert_eq(fx_headahead_take(h, "dir/a", 1, &info), -ENOENT, "a result is used once");
	cr_assert_eq(fx_headahead_take(h, "dir/b", 1, &info), -ENOENT, "never wanted");
	fx_headahead_free(h);
	fx_backend_close(b);
}

Test(headahead, other_generation_missing_object_and_ttl, .timeout = 30)
{
	struct fx_backend *b = mem_with("a", "x");
	struct fx_headahead *h;
	struct fx_object_info info = {0};

	cr_assert_eq(fx_headahead_new(b, 0.2, &h), 0);
	cr_assert_eq(fx_headahead_start(h), 0);
	fx_headahead_want(h, "a", 1);
	wait_sent(h, 1);
	cr_assert_eq(fx_headahead_take(h, "a", 2, &info), -ENOENT,
		     "a change through the mount since the HEAD makes it stale");

	fx_headahead_want(h, "nope", 2);
	wait_sent(h, 2);
	cr_assert_eq(fx_headahead_take(h, "nope", 2, &info), -ENOENT, "absent objects are not kept");

	fx_headahead_want(h, "a", 2);
	wait_sent(h, 3);
	usleep(300000);
	cr_assert_eq(fx_headahead_take(h, "a", 2, &info), -ENOENT, "older than the ttl");
	fx_headahead_free(h);
	fx_backend_close(b);
}

Test(headahead, idle_without_threads_and_null, .timeout = 30)
{
	struct fx_backend *b = mem_with("a", "x");
	struct fx_headahead *h;
	struct fx_object_info info = {0};
	struct fx_headahead_stats st;

	cr_assert_eq(fx_headahead_new(b, 10.0, &h), 0);
	fx_headahead_want(h, "a", 1); /* not started (before fork): ignored */
	fx_headahead_stats(h, &st);
	cr_assert_eq(st.wanted, 0);
	cr_assert_eq(fx_headahead_take(h, "a", 1, &info), -ENOENT);
	fx_headahead_free(h);
	fx_headahead_want(NULL, "a", 1);
	cr_assert_eq(fx_headahead_take(NULL, "a", 1, &info), -ENOENT);
	fx_headahead_free(NULL);
	fx_backend_close(b);
}
