/*
 * test_trace.c - cache/trace.c: the rustfx trace writer and the readers of
 * every format (rustfx, csv, lirs, cloudphysics, auto-detection), on small
 * inputs written by the tests; malformed input is refused with the line or
 * byte named; a write error is reported once; the format is pinned by a
 * golden file.
 *
 * Golden file: tests/unit/cache/golden/trace-v1.rfxtrace holds the bytes
 * the writer makes for golden_records() below, with a fixed clock. The
 * test "trace/golden_write" compares fresh output with it, and
 * "trace/golden_read" reads it back. When the format changes on purpose
 * (a new version), regenerate it with
 *     FX_GOLDEN_REGEN=1 build/tests/cache_test_trace --filter 'trace/golden_write'
 * and commit the new file with the version bump.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "cache/trace.h"

static char tt_dir[64];

static void tt_setup(void)
{
	snprintf(tt_dir, sizeof(tt_dir), "/tmp/rustfx-trace-test.XXXXXX");
	cr_assert_not_null(mkdtemp(tt_dir));
}

static void tt_teardown(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tt_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tt_dir);
}

TestSuite(trace, .init = tt_setup, .fini = tt_teardown);

static const char *tt_path(const char *name)
{
	static char buf[4][PATH_MAX];
	static int i;
	char *p = buf[i++ % 4];

	snprintf(p, PATH_MAX, "%s/%s", tt_dir, name);
	return p;
}

static void tt_write(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	cr_assert_not_null(f, "create %s", path);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

static void tt_write_str(const char *path, const char *text)
{
	tt_write(path, text, strlen(text));
}

static void tt_write_gz(const char *path, const void *data, size_t len)
{
	gzFile g = gzopen(path, "wb");

	cr_assert_not_null(g);
	cr_assert_eq(gzwrite(g, data, (unsigned)len), (int)len);
	cr_assert_eq(gzclose(g), Z_OK);
}

/* The whole of @path into a malloc'd buffer. */
static uint8_t *tt_slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY);

	cr_assert(fd >= 0, "open %s", path);
	cr_assert_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

/* Open @path as @fmt; fail the test unless it opens. */
static struct fx_trace_reader *tt_open(const char *path, enum fx_trace_format fmt)
{
	struct fx_trace_reader *r = NULL;
	struct fx_diag d = {0};
	int ret = fx_trace_reader_open(path, fmt, &r, &d);

	cr_assert_eq(ret, 0, "open %s: %d %s / %s", path, ret, d.msg, d.hint);
	return r;
}

static struct fx_trace_req tt_next(struct fx_trace_reader *r)
{
	struct fx_trace_req q;
	int ret = fx_trace_next(r, &q);

	cr_assert_eq(ret, 1, "expected a request, got %d (%s)", ret, fx_trace_reader_diag(r)->msg);
	return q;
}

static void tt_end(struct fx_trace_reader *r)
{
	struct fx_trace_req q;

	cr_assert_eq(fx_trace_next(r, &q), 0, "expected the end of the trace");
}

static void tt_req_eq(struct fx_trace_req q, enum fx_trace_op op, uint64_t t, uint64_t obj,
		      uint64_t off, uint64_t len, uint64_t size)
{
	cr_assert_eq(q.op, op, "op %d != %d", q.op, op);
	cr_assert_eq(q.time_us, t, "time %llu != %llu", (unsigned long long)q.time_us,
		     (unsigned long long)t);
	cr_assert_eq(q.obj, obj, "obj %llx != %llx", (unsigned long long)q.obj,
		     (unsigned long long)obj);
	cr_assert_eq(q.off, off, "off %llu != %llu", (unsigned long long)q.off,
		     (unsigned long long)off);
	cr_assert_eq(q.len, len, "len %llu != %llu", (unsigned long long)q.len,
		     (unsigned long long)len);
	cr_assert_eq(q.size, size, "size %llu != %llu", (unsigned long long)q.size,
		     (unsigned long long)size);
}

/* Opening @path as @fmt fails with @err, and the message holds @needle. */
static void tt_open_fails(const char *path, enum fx_trace_format fmt, int err, const char *needle)
{
	struct fx_trace_reader *r = NULL;
	struct fx_diag d = {0};
	int ret = fx_trace_reader_open(path, fmt, &r, &d);

	cr_assert_eq(ret, err, "open %s: %d, expected %d (%s)", path, ret, err, d.msg);
	cr_assert_null(r);
	cr_assert_eq(d.err, err);
	cr_assert_not_null(strstr(d.msg, needle), "'%s' not in '%s'", needle, d.msg);
	cr_assert(d.hint[0] || err == -FX_ECORRUPT, "a hint for '%s'", d.msg);
}

/* After @ok good requests, the reader stops with -FX_ECORRUPT naming @where. */
static void tt_next_fails(struct fx_trace_reader *r, unsigned ok, const char *where)
{
	struct fx_trace_req q;
	int ret;

	for (unsigned i = 0; i < ok; i++)
		tt_next(r);
	ret = fx_trace_next(r, &q);
	cr_assert_eq(ret, -FX_ECORRUPT, "got %d, expected -FX_ECORRUPT", ret);
	cr_assert_not_null(strstr(fx_trace_reader_diag(r)->msg, where), "'%s' not in '%s'", where,
			   fx_trace_reader_diag(r)->msg);
	cr_assert_eq(fx_trace_next(r, &q), -FX_ECORRUPT, "the error sticks");
}

/* ------------------------------------------------------------ writer */

struct tt_clock {
	uint64_t now;
	uint64_t step[64];
	unsigned n, i;
};

/* Each call returns the next preset time (then stays). */
static uint64_t tt_clock_now(void *arg)
{
	struct tt_clock *c = arg;

	if (c->i < c->n)
		c->now = c->step[c->i++];
	return c->now;
}

#define GOLDEN_SEED  0x0123456789abcdefull
#define GOLDEN_START 1700000000123456ull

/* The records of the golden file, written through @w. */
static void golden_records(struct fx_trace_writer *w)
{
	cr_assert_eq(fx_trace_note_open(w, 0x1111, "bucket/a.bin", 3u << 20), 0);
	cr_assert_eq(fx_trace_note_read(w, 0x1111, "bucket/a.bin", 0, 1u << 20, 3u << 20), 0);
	cr_assert_eq(fx_trace_note_read(w, 0x1111, "bucket/a.bin", 1u << 20, 1u << 20, 3u << 20),
		     0);
	cr_assert_eq(fx_trace_note_read(w, 0xfedcba9876543210ull, "dir/b", 4096, 100, 5000), 0);
	cr_assert_eq(fx_trace_note_open(w, 0x1111, "bucket/a.bin", 3u << 20), 0);
	cr_assert_eq(fx_trace_note_read(w, 0x7, NULL, UINT64_MAX - 10, 10, UINT64_MAX), 0);
}

/* Write the golden records to @path with a fixed clock. */
static void golden_write(const char *path)
{
	struct tt_clock c = {.step = {5000, 5000, 5250, 6250, 6250, 9000000, 9000001}, .n = 7};
	struct fx_trace_writer *w;

	cr_assert_eq(fx_trace_writer_open(path, GOLDEN_SEED, &w), 0);
	cr_assert_eq(fx_trace_writer_set_clock(w, GOLDEN_START, tt_clock_now, &c), 0);
	golden_records(w);
	cr_assert_eq(fx_trace_writer_close(w), 0);
}

/* What reading the golden records gives. */
static void golden_check(const char *path, enum fx_trace_format fmt)
{
	struct fx_trace_reader *r = tt_open(path, fmt);
	struct fx_trace_info info;
	const uint64_t t = GOLDEN_START;

	fx_trace_reader_info(r, &info);
	cr_assert_eq(info.format, FX_TRACE_RUSTFX);
	cr_assert_eq(info.seed, GOLDEN_SEED);
	cr_assert_eq(info.start_us, GOLDEN_START);
	cr_assert_eq(info.hash_alg, FX_TRACE_HASH_XXH3);
	cr_assert(info.timed);
	/* set_clock read 5000 first; the dts are 0, 250, 1000, 0, 8993750, 1. */
	tt_req_eq(tt_next(r), FX_TRACE_OPEN, t, 0x1111, 0, 0, 3u << 20);
	cr_assert_str_eq(fx_trace_name(r, 0x1111), "bucket/a.bin");
	tt_req_eq(tt_next(r), FX_TRACE_READ, t + 250, 0x1111, 0, 1u << 20, 3u << 20);
	tt_req_eq(tt_next(r), FX_TRACE_READ, t + 1250, 0x1111, 1u << 20, 1u << 20, 3u << 20);
	tt_req_eq(tt_next(r), FX_TRACE_READ, t + 1250, 0xfedcba9876543210ull, 4096, 100, 5000);
	cr_assert_str_eq(fx_trace_name(r, 0xfedcba9876543210ull), "dir/b");
	tt_req_eq(tt_next(r), FX_TRACE_OPEN, t + 8995000, 0x1111, 0, 0, 3u << 20);
	tt_req_eq(tt_next(r), FX_TRACE_READ, t + 8995001, 0x7, UINT64_MAX - 10, 10, UINT64_MAX);
	cr_assert_null(fx_trace_name(r, 0x7), "no key, no name");
	tt_end(r);
	fx_trace_reader_close(r);
}

/* tests/unit/cache/golden/<name>, beside this file. */
static void golden_path(char *out, const char *name)
{
	const char *slash = strrchr(__FILE__, '/');

	cr_assert_not_null(slash, "__FILE__ is a path: %s", __FILE__);
	snprintf(out, PATH_MAX, "%.*s/golden/%s", (int)(slash - __FILE__), __FILE__, name);
}

Test(trace, golden_write)
{
	char golden[PATH_MAX];
	const char *fresh = tt_path("fresh.rfxtrace");
	uint8_t *a, *b;
	size_t alen, blen;

	golden_path(golden, "trace-v1.rfxtrace");
	golden_write(fresh);
	if (getenv("FX_GOLDEN_REGEN")) {
		a = tt_slurp(fresh, &alen);
		tt_write(golden, a, alen);
		free(a);
		cr_log_warn("regenerated %s", golden);
	}
	a = tt_slurp(golden, &alen);
	b = tt_slurp(fresh, &blen);
	cr_assert_eq(alen, blen, "golden %zu bytes, writer made %zu", alen, blen);
	for (size_t i = 0; i < alen; i++)
		cr_assert_eq(a[i], b[i], "byte %zu differs: golden %02x, writer %02x", i, a[i],
			     b[i]);
	free(a);
	free(b);
}

Test(trace, golden_read)
{
	char golden[PATH_MAX];
	size_t len;
	uint8_t *g;

	golden_path(golden, "trace-v1.rfxtrace");
	golden_check(golden, FX_TRACE_RUSTFX);
	golden_check(golden, FX_TRACE_AUTO);
	/* The layout trace.h documents, byte by byte for the header and the first record. */
	g = tt_slurp(golden, &len);
	cr_assert_gt(len, 40);
	cr_assert_eq(memcmp(g, "RFXTRACE\x01\x00\x01\x00\x01\x00\x00\x00", 16), 0);
	cr_assert_eq(memcmp(g + 16, "\xef\xcd\xab\x89\x67\x45\x23\x01", 8), 0);
	/* name: type 3, obj 0x1111 = varint 91 22, keylen 12, "bucket/a.bin" */
	cr_assert_eq(memcmp(g + 32,
			    "\x03\x91\x22\x0c"
			    "bucket/a.bin",
			    16),
		     0);
	/* open: type 1, dt 0, obj 91 22, size 3 MiB = varint 80 80 c0 01 */
	cr_assert_eq(memcmp(g + 48, "\x01\x00\x91\x22\x80\x80\xc0\x01", 8), 0);
	free(g);
}

Test(trace, round_trip_names_once)
{
	const char *path = tt_path("rt.rfxtrace");
	struct fx_trace_writer *w;
	struct fx_trace_reader *r;
	uint8_t *buf;
	size_t len;
	unsigned found = 0;

	cr_assert_eq(fx_trace_writer_open(path, 42, &w), 0);
	for (unsigned i = 0; i < 100; i++)
		cr_assert_eq(fx_trace_note_read(w, 1000 + i % 3,
						i % 3 == 0   ? "zero"
						: i % 3 == 1 ? "one"
							     : "two",
						(uint64_t)i << 20, 1u << 20, 1ull << 40),
			     0);
	cr_assert_eq(fx_trace_writer_close(w), 0);

	/* Each key is written once, however often its object is read. */
	buf = tt_slurp(path, &len);
	for (size_t i = 0; i + 4 <= len; i++)
		found += memcmp(buf + i, "zero", 4) == 0;
	cr_assert_eq(found, 1, "key written %u times", found);
	free(buf);

	r = tt_open(path, FX_TRACE_RUSTFX);
	for (unsigned i = 0; i < 100; i++) {
		struct fx_trace_req q = tt_next(r);

		cr_assert_eq(q.op, FX_TRACE_READ);
		cr_assert_eq(q.obj, 1000 + i % 3);
		cr_assert_eq(q.off, (uint64_t)i << 20);
		cr_assert_eq(q.len, 1u << 20);
		cr_assert_eq(q.size, 1ull << 40);
	}
	tt_end(r);
	cr_assert_str_eq(fx_trace_name(r, 1000), "zero");
	cr_assert_str_eq(fx_trace_name(r, 1001), "one");
	cr_assert_str_eq(fx_trace_name(r, 1002), "two");
	cr_assert_null(fx_trace_name(r, 1003));
	fx_trace_reader_close(r);
}

Test(trace, real_clock_is_monotonic_and_recent)
{
	const char *path = tt_path("clock.rfxtrace");
	struct fx_trace_writer *w;
	struct fx_trace_reader *r;
	struct fx_trace_info info;
	uint64_t before = (uint64_t)time(NULL) * 1000000u, prev = 0;

	cr_assert_eq(fx_trace_writer_open(path, 1, &w), 0);
	for (unsigned i = 0; i < 10; i++)
		cr_assert_eq(fx_trace_note_read(w, 5, "k", i, 1, 10), 0);
	cr_assert_eq(fx_trace_writer_close(w), 0);
	r = tt_open(path, FX_TRACE_RUSTFX);
	fx_trace_reader_info(r, &info);
	cr_assert_geq(info.start_us + 1000000u, before, "start time is the wall clock");
	for (unsigned i = 0; i < 10; i++) {
		struct fx_trace_req q = tt_next(r);

		cr_assert_geq(q.time_us, prev);
		cr_assert_geq(q.time_us, info.start_us);
		prev = q.time_us;
	}
	fx_trace_reader_close(r);
}

/* Many records: the 64 KiB buffer is flushed several times mid-trace. */
Test(trace, flushes_keep_records_whole)
{
	const char *path = tt_path("big.rfxtrace");
	struct fx_trace_writer *w;
	struct fx_trace_reader *r;
	char key[64];
	size_t len;

	cr_assert_eq(fx_trace_writer_open(path, 7, &w), 0);
	for (unsigned i = 0; i < 20000; i++) {
		snprintf(key, sizeof(key), "objects/%05u", i % 5000);
		cr_assert_eq(
		    fx_trace_note_read(w, i % 5000 + 1, key, (uint64_t)i * 4096, 4096, 1u << 30),
		    0);
	}
	cr_assert_eq(fx_trace_writer_close(w), 0);
	free(tt_slurp(path, &len));
	cr_assert_gt(len, 3 * FX_TRACE_FLUSH, "big enough to flush: %zu", len);
	r = tt_open(path, FX_TRACE_AUTO);
	for (unsigned i = 0; i < 20000; i++) {
		struct fx_trace_req q = tt_next(r);

		cr_assert_eq(q.obj, i % 5000 + 1);
		cr_assert_eq(q.off, (uint64_t)i * 4096);
	}
	tt_end(r);
	snprintf(key, sizeof(key), "objects/%05u", 4321);
	cr_assert_str_eq(fx_trace_name(r, 4322), key);
	fx_trace_reader_close(r);
}

struct tt_thread {
	struct fx_trace_writer *w;
	unsigned id;
};

static void *tt_writer_thread(void *arg)
{
	struct tt_thread *t = arg;
	char key[32];

	snprintf(key, sizeof(key), "thread-%u", t->id);
	for (unsigned i = 0; i < 5000; i++)
		if (fx_trace_note_read(t->w, 100 + t->id, key, i, 1, 5000) != 0)
			return (void *)1;
	return NULL;
}

Test(trace, concurrent_writers)
{
	const char *path = tt_path("mt.rfxtrace");
	struct tt_thread t[4];
	pthread_t th[4];
	struct fx_trace_writer *w;
	struct fx_trace_reader *r;
	struct fx_trace_req q;
	uint64_t next[4] = {0};
	unsigned n = 0;
	int ret;

	cr_assert_eq(fx_trace_writer_open(path, 9, &w), 0);
	for (unsigned i = 0; i < 4; i++) {
		t[i] = (struct tt_thread){w, i};
		cr_assert_eq(pthread_create(&th[i], NULL, tt_writer_thread, &t[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		void *res;

		pthread_join(th[i], &res);
		cr_assert_null(res, "thread %u saw an error", i);
	}
	cr_assert_eq(fx_trace_writer_close(w), 0);
	r = tt_open(path, FX_TRACE_RUSTFX);
	while ((ret = fx_trace_next(r, &q)) == 1) {
		unsigned id = (unsigned)(q.obj - 100);

		cr_assert_lt(id, 4);
		cr_assert_eq(q.off, next[id], "thread %u's reads stay in order", id);
		next[id]++;
		n++;
	}
	cr_assert_eq(ret, 0);
	cr_assert_eq(n, 20000);
	cr_assert_str_eq(fx_trace_name(r, 102), "thread-2");
	fx_trace_reader_close(r);
}

/* A file size limit makes the first flush fail: reported once, then quiet. */
Test(trace, write_error_reported_once)
{
	const char *path = tt_path("limited.rfxtrace");
	struct rlimit lim = {.rlim_cur = 4096, .rlim_max = RLIM_INFINITY};
	struct fx_trace_writer *w;
	int errors = 0, first = 0;

	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(fx_trace_writer_open(path, 1, &w), 0);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (unsigned i = 0; i < 50000; i++) {
		int ret = fx_trace_note_read(w, 1, "k", (uint64_t)i << 12, 4096, 1u << 30);

		if (ret < 0) {
			errors++;
			if (!first)
				first = ret;
		}
	}
	cr_assert_eq(errors, 1, "the error is returned once, not %d times", errors);
	cr_assert_eq(first, -EFBIG);
	cr_assert_eq(fx_trace_writer_close(w), 0, "close does not report it again");
}

Test(trace, writer_open_errors)
{
	struct fx_trace_writer *w = NULL;

	cr_assert_eq(fx_trace_writer_open(tt_path("no/such/dir/t"), 1, &w), -ENOENT);
	cr_assert_null(w);
	cr_assert_eq(fx_trace_writer_close(NULL), 0);
	cr_assert_eq(fx_trace_note_read(NULL, 1, "k", 0, 1, 1), 0, "no writer, nothing recorded");
}

Test(trace, long_key_has_no_name)
{
	const char *path = tt_path("long.rfxtrace");
	char *key = malloc(FX_TRACE_KEY_MAX + 2);
	struct fx_trace_writer *w;
	struct fx_trace_reader *r;

	memset(key, 'x', FX_TRACE_KEY_MAX + 1);
	key[FX_TRACE_KEY_MAX + 1] = '\0';
	cr_assert_eq(fx_trace_writer_open(path, 1, &w), 0);
	cr_assert_eq(fx_trace_note_open(w, 3, key, 10), 0);
	key[FX_TRACE_KEY_MAX] = '\0'; /* the longest allowed */
	cr_assert_eq(fx_trace_note_open(w, 4, key, 10), 0);
	cr_assert_eq(fx_trace_writer_close(w), 0);
	r = tt_open(path, FX_TRACE_RUSTFX);
	tt_next(r);
	tt_next(r);
	tt_end(r);
	cr_assert_null(fx_trace_name(r, 3));
	cr_assert_eq(strlen(fx_trace_name(r, 4)), FX_TRACE_KEY_MAX);
	fx_trace_reader_close(r);
	free(key);
}

Test(trace, rustfx_gzipped)
{
	const char *path = tt_path("g.rfxtrace"), *gz = tt_path("g.rfxtrace.gz");
	uint8_t *buf;
	size_t len;

	golden_write(path);
	buf = tt_slurp(path, &len);
	tt_write_gz(gz, buf, len);
	free(buf);
	golden_check(gz, FX_TRACE_RUSTFX);
}

/* ------------------------------------------------------------ bad rustfx */

Test(trace, rustfx_bad_magic)
{
	const char *path = tt_path("bad.rfxtrace");

	tt_write(path,
		 "RFXTRACX\x01\x00\x01\x00\x01\x00\x00\x00"
		 "0123456789abcdef",
		 32);
	tt_open_fails(path, FX_TRACE_RUSTFX, -FX_ECORRUPT, "bad magic");
}

Test(trace, rustfx_unknown_version_flags_hash)
{
	const char *path = tt_path("v.rfxtrace");
	uint8_t *buf;
	size_t len;

	golden_write(path);
	buf = tt_slurp(path, &len);
	buf[8] = 2;
	tt_write(path, buf, len);
	tt_open_fails(path, FX_TRACE_RUSTFX, -FX_ECORRUPT, "unsupported version 2");
	tt_open_fails(path, FX_TRACE_AUTO, -FX_ECORRUPT, "unsupported version 2");
	buf[8] = 1;
	buf[10] = 0x03;
	tt_write(path, buf, len);
	tt_open_fails(path, FX_TRACE_RUSTFX, -FX_ECORRUPT, "unknown flags");
	buf[10] = 0x01;
	buf[12] = 9;
	tt_write(path, buf, len);
	tt_open_fails(path, FX_TRACE_RUSTFX, -FX_ECORRUPT, "hash algorithm");
	free(buf);
}

Test(trace, rustfx_truncated)
{
	const char *path = tt_path("t.rfxtrace");
	struct fx_trace_reader *r;
	uint8_t *buf;
	size_t len;

	golden_write(path);
	buf = tt_slurp(path, &len);
	tt_write(path, buf, 20);
	tt_open_fails(path, FX_TRACE_RUSTFX, -FX_ECORRUPT, "shorter than the 32-byte header");
	/* Cut the last record (a read) in its middle: five good requests, then the error. */
	tt_write(path, buf, len - 3);
	r = tt_open(path, FX_TRACE_RUSTFX);
	tt_next_fails(r, 5, "truncated record");
	fx_trace_reader_close(r);
	free(buf);
}

Test(trace, rustfx_unknown_record)
{
	const char *path = tt_path("u.rfxtrace");
	struct fx_trace_reader *r;
	uint8_t *buf;
	size_t len;

	golden_write(path);
	buf = tt_slurp(path, &len);
	buf = realloc(buf, len + 1);
	buf[len] = 0x7f;
	tt_write(path, buf, len + 1);
	r = tt_open(path, FX_TRACE_RUSTFX);
	tt_next_fails(r, 6, "unknown record type 127");
	free(buf);
	fx_trace_reader_close(r);
}

Test(trace, missing_and_directory)
{
	tt_open_fails(tt_path("nope"), FX_TRACE_AUTO, -ENOENT, "cannot open trace");
	tt_open_fails(tt_dir, FX_TRACE_LIRS, -EISDIR, "cannot read trace");
}

/* ------------------------------------------------------------ csv */

Test(trace, csv_ids_keys_and_names)
{
	static const char text[] = "time,object,offset,size\r\n"
				   "10,42,0,4096\r\n"
				   "\r\n"
				   "20, photos/cat.jpg ,4096,100\n"
				   "30,\"a,b \"\"c\"\"\",0,1\n"
				   "40,0,5,6\n";
	const char *path = tt_path("t.csv");
	struct fx_trace_reader *r;
	struct fx_trace_req q;
	uint64_t cat, quoted;

	tt_write(path, text, sizeof(text) - 1);
	r = tt_open(path, FX_TRACE_CSV);
	tt_req_eq(tt_next(r), FX_TRACE_READ, 10, 42, 0, 4096, 0);
	cr_assert_null(fx_trace_name(r, 42), "decimal ids have no name");
	q = tt_next(r);
	cat = q.obj;
	tt_req_eq(q, FX_TRACE_READ, 20, cat, 4096, 100, 0);
	cr_assert_str_eq(fx_trace_name(r, cat), "photos/cat.jpg");
	q = tt_next(r);
	quoted = q.obj;
	cr_assert_neq(quoted, cat);
	cr_assert_str_eq(fx_trace_name(r, quoted), "a,b \"c\"");
	tt_req_eq(tt_next(r), FX_TRACE_READ, 40, UINT64_MAX, 5, 6, 0); /* id 0 is reserved */
	tt_end(r);
	fx_trace_reader_close(r);

	/* The same key hashes to the same id in another reader. */
	r = tt_open(path, FX_TRACE_AUTO);
	tt_next(r);
	cr_assert_eq(tt_next(r).obj, cat);
	fx_trace_reader_close(r);
}

Test(trace, csv_bad_input)
{
	const char *path = tt_path("bad.csv");
	struct fx_trace_reader *r;

	tt_write_str(path, "t,o,off,len\n1,2,3,4\n");
	tt_open_fails(path, FX_TRACE_CSV, -FX_ECORRUPT, "line 1: expected the header");
	tt_write_str(path, "version,time,op,size,lbn\n");
	tt_open_fails(path, FX_TRACE_CSV, -FX_ECORRUPT, "expected the header");
	tt_write_str(path, "");
	tt_open_fails(path, FX_TRACE_CSV, -FX_ECORRUPT, "empty file");

	tt_write_str(path, "time,object,offset,size\n1,2,3,4\n\n5,6,seven,8\n");
	r = tt_open(path, FX_TRACE_CSV);
	tt_next_fails(r, 1, "line 4: bad offset 'seven'");
	fx_trace_reader_close(r);

	tt_write_str(path, "time,object,offset,size\n1,2,3\n");
	r = tt_open(path, FX_TRACE_CSV);
	tt_next_fails(r, 0, "line 2: 3 fields, not 4");
	fx_trace_reader_close(r);

	tt_write_str(path, "time,object,offset,size\n1,\"2,3,4\n");
	r = tt_open(path, FX_TRACE_CSV);
	tt_next_fails(r, 0, "unterminated quote");
	fx_trace_reader_close(r);

	tt_write_str(path, "time,object,offset,size\n99999999999999999999,1,1,1\n");
	r = tt_open(path, FX_TRACE_CSV);
	tt_next_fails(r, 0, "bad time");
	fx_trace_reader_close(r);
}

/* ------------------------------------------------------------ lirs */

Test(trace, lirs_plain_and_gzip)
{
	static const char text[] = "0\n1\n*\n\n  7 \n1\n";
	const char *plain = tt_path("l.trace"), *gz = tt_path("l.trace.gz");
	const char *paths[] = {plain, gz};
	struct fx_trace_info info;

	tt_write(plain, text, sizeof(text) - 1);
	tt_write_gz(gz, text, sizeof(text) - 1);
	for (int i = 0; i < 2; i++)
		for (int fmt = 0; fmt < 2; fmt++) {
			struct fx_trace_reader *r =
			    tt_open(paths[i], fmt ? FX_TRACE_LIRS : FX_TRACE_AUTO);

			tt_req_eq(tt_next(r), FX_TRACE_READ, 0, 1, 0, 4096, 0);
			tt_req_eq(tt_next(r), FX_TRACE_READ, 0, 1, 4096, 4096, 0);
			tt_req_eq(tt_next(r), FX_TRACE_READ, 0, 1, 7 * 4096, 4096, 0);
			tt_req_eq(tt_next(r), FX_TRACE_READ, 0, 1, 4096, 4096, 0);
			tt_end(r);
			fx_trace_reader_info(r, &info);
			cr_assert_eq(info.format, FX_TRACE_LIRS);
			cr_assert_not(info.timed);
			fx_trace_reader_close(r);
		}
}

Test(trace, lirs_bad_input)
{
	const char *path = tt_path("bad.trace"), *gz = tt_path("cut.trace.gz");
	struct fx_trace_reader *r;
	char big[20000];
	uint8_t *buf;
	size_t len;

	tt_write_str(path, "1\n2\nx3\n");
	r = tt_open(path, FX_TRACE_LIRS);
	tt_next_fails(r, 2, "line 3: not a block number: 'x3'");
	fx_trace_reader_close(r);

	tt_write_str(path, "1\n-2\n");
	r = tt_open(path, FX_TRACE_LIRS);
	tt_next_fails(r, 1, "line 2");
	fx_trace_reader_close(r);

	/* A gzip stream cut short is damage, not a shorter trace. */
	for (size_t i = 0; i + 8 < sizeof(big); i += 8)
		snprintf(big + i, 9, "%7zu\n", i / 8);
	tt_write_gz(gz, big, sizeof(big) - 8);
	buf = tt_slurp(gz, &len);
	tt_write(gz, buf, len / 2);
	free(buf);
	r = tt_open(gz, FX_TRACE_LIRS);
	{
		struct fx_trace_req q;
		int ret;

		while ((ret = fx_trace_next(r, &q)) == 1)
			;
		cr_assert_eq(ret, -FX_ECORRUPT, "cut gzip: %d", ret);
		cr_assert_not_null(strstr(fx_trace_reader_diag(r)->msg, "gzip"), "%s",
				   fx_trace_reader_diag(r)->msg);
	}
	fx_trace_reader_close(r);
}

/* ------------------------------------------------------------ cloudphysics */

Test(trace, cloudphysics_ops_and_units)
{
	static const char text[] = "version,time,op,size,lbn\n"
				   "1,5633898,2a,512,42932745\n"
				   "1,5633900,28,6656,8\n"
				   "1,5633901,35,0,0\n"
				   "1,5633902,88,4096,1\n"
				   "1,5633903,AA,1024,2\n";
	const char *path = tt_path("cp.csv");
	struct fx_trace_reader *r;
	struct fx_trace_info info;

	tt_write(path, text, sizeof(text) - 1);
	r = tt_open(path, FX_TRACE_CLOUDPHYSICS);
	tt_req_eq(tt_next(r), FX_TRACE_WRITE, 5633898, 1, 42932745ull * 512, 512, 0);
	tt_req_eq(tt_next(r), FX_TRACE_READ, 5633900, 1, 8 * 512, 6656, 0);
	tt_req_eq(tt_next(r), FX_TRACE_READ, 5633902, 1, 512, 4096, 0);
	tt_req_eq(tt_next(r), FX_TRACE_WRITE, 5633903, 1, 1024, 1024, 0);
	tt_end(r);
	fx_trace_reader_info(r, &info);
	cr_assert_eq(info.skipped, 1, "the 0x35 (SYNCHRONIZE CACHE) record is skipped");
	cr_assert(info.timed);
	fx_trace_reader_close(r);

	r = tt_open(path, FX_TRACE_AUTO);
	fx_trace_reader_info(r, &info);
	cr_assert_eq(info.format, FX_TRACE_CLOUDPHYSICS);
	fx_trace_reader_close(r);
}

Test(trace, cloudphysics_bad_input)
{
	const char *path = tt_path("cp.csv");
	struct fx_trace_reader *r;

	tt_write_str(path, "version,time,op,size,lbn\n1,2,zz,4,5\n");
	r = tt_open(path, FX_TRACE_CLOUDPHYSICS);
	tt_next_fails(r, 0, "line 2: bad op 'zz'");
	fx_trace_reader_close(r);
	tt_write_str(path, "time,object,offset,size\n");
	tt_open_fails(path, FX_TRACE_CLOUDPHYSICS, -FX_ECORRUPT, "expected the header");
}

/* ------------------------------------------------------------ auto */

Test(trace, auto_detects_or_refuses)
{
	const char *path = tt_path("a");
	struct fx_trace_reader *r;
	struct fx_trace_info info;

	tt_write_str(path, "time,object,offset,size\n1,2,3,4\n");
	r = tt_open(path, FX_TRACE_AUTO);
	fx_trace_reader_info(r, &info);
	cr_assert_eq(info.format, FX_TRACE_CSV);
	tt_req_eq(tt_next(r), FX_TRACE_READ, 1, 2, 3, 4, 0);
	fx_trace_reader_close(r);

	tt_write_str(path, "hello world\n");
	tt_open_fails(path, FX_TRACE_AUTO, -EINVAL, "cannot tell the format");
	tt_write_str(path, "");
	tt_open_fails(path, FX_TRACE_AUTO, -EINVAL, "it is empty");
}

Test(trace, format_names)
{
	enum fx_trace_format f;

	cr_assert_eq(fx_trace_format_parse("cloudphysics", &f), 0);
	cr_assert_eq(f, FX_TRACE_CLOUDPHYSICS);
	cr_assert_str_eq(fx_trace_format_name(FX_TRACE_LIRS), "lirs");
	cr_assert_eq(fx_trace_format_parse("LIRS", &f), -EINVAL);
	cr_assert_eq(fx_trace_format_parse(NULL, &f), -EINVAL);
}
