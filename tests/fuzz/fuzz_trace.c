/*
 * fuzz_trace.c - libFuzzer harness for the trace readers (cache/trace.c:
 * fx_trace_reader_open, fx_trace_next, fx_trace_name), every format, plain
 * and gzip'd, and the rustfx trace writer as their inverse.
 *
 * Input: one mode byte, then the file.
 *   mode % 5: the format asked for: auto, rustfx, csv, lirs, cloudphysics
 *   bit 3:    the harness gzips the file first (raw input still reaches
 *             zlib's damaged-stream paths, since every input goes through
 *             gzread)
 * Invariants checked:
 *  - open gives 0, -FX_ECORRUPT, -EINVAL or -ENOMEM, with a diagnostic when
 *    it fails; after open the format is known (the one asked for, unless
 *    auto) and timed unless lirs;
 *  - every request is what its format can say: obj never 0; opens only in
 *    rustfx traces (at offset 0, length 0), writes only in cloudphysics;
 *    lirs reads are 4 KiB blocks of object 1 at time 0; cloudphysics
 *    requests are sector-aligned on object 1; off + len never wraps; rustfx
 *    times never go backwards (start + the sum of the dts);
 *  - the end and errors are sticky: after 0 comes 0 again, after an error
 *    the same error, with a diagnostic that says it;
 *  - writing back the requests read (the rustfx writer for rustfx traces,
 *    the format's own text otherwise) and reading that gives the same
 *    requests, and for rustfx the same seed and start time.
 * Does not own: the readers or the writer.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <zlib.h>

#include "cache/trace.h"
#include "tests/fuzz/fuzz.h"

#define FX_MAX_REQS (1u << 16) /* a gzip bomb of "0\n" lines stops here */

struct fx_reqs {
	struct fx_trace_req *r;
	size_t n, cap;
	int end;		   /* 0, or the error that ended the trace */
	struct fx_trace_info info; /* at the end */
};

/* gzip @n bytes of @data into @out. */
static void fx_gzip(const uint8_t *data, size_t n, struct fx_fuzz_buf *out)
{
	z_stream z = {0};
	uint8_t chunk[4096];
	int rc;

	FX_FUZZ_CHECK(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK,
		      "deflateInit2");
	z.next_in = (uint8_t *)data;
	z.avail_in = (uInt)n;
	do {
		z.next_out = chunk;
		z.avail_out = sizeof(chunk);
		rc = deflate(&z, Z_FINISH);
		fx_fuzz_put(out, chunk, sizeof(chunk) - z.avail_out);
	} while (rc == Z_OK);
	FX_FUZZ_CHECK(rc == Z_STREAM_END, "deflate: %d", rc);
	deflateEnd(&z);
}

static void fx_check_req(const struct fx_trace_req *q, enum fx_trace_format f,
			 const struct fx_trace_info *info, uint64_t prev_time, size_t i)
{
	FX_FUZZ_CHECK(q->obj != 0, "request %zu: object 0", i);
	FX_FUZZ_CHECK(q->op == FX_TRACE_OPEN || q->op == FX_TRACE_READ || q->op == FX_TRACE_WRITE,
		      "request %zu: op %d", i, (int)q->op);
	FX_FUZZ_CHECK(q->off + q->len >= q->off, "request %zu: %" PRIu64 " + %" PRIu64 " wraps", i,
		      q->off, q->len);
	FX_FUZZ_CHECK(q->op != FX_TRACE_OPEN || (f == FX_TRACE_RUSTFX && !q->off && !q->len),
		      "request %zu: an open in a %s trace", i, fx_trace_format_name(f));
	FX_FUZZ_CHECK(q->op != FX_TRACE_WRITE || f == FX_TRACE_CLOUDPHYSICS,
		      "request %zu: a write in a %s trace", i, fx_trace_format_name(f));
	switch (f) {
	case FX_TRACE_LIRS:
		FX_FUZZ_CHECK(q->obj == 1 && q->len == FX_TRACE_LIRS_BLOCK &&
				  q->off % FX_TRACE_LIRS_BLOCK == 0 && q->time_us == 0,
			      "request %zu: not a lirs block", i);
		break;
	case FX_TRACE_CLOUDPHYSICS:
		FX_FUZZ_CHECK(q->obj == 1 && q->off % 512 == 0, "request %zu: not sector-aligned",
			      i);
		break;
	case FX_TRACE_RUSTFX:
		FX_FUZZ_CHECK(q->time_us >= info->start_us && q->time_us >= prev_time,
			      "request %zu: time %" PRIu64 " before %" PRIu64 " (start %" PRIu64
			      ")",
			      i, q->time_us, prev_time, info->start_us);
		break;
	default:
		break;
	}
}

/* Open @path as @fmt and read every request into @out. @return open's result. */
static int fx_read_all(const char *path, enum fx_trace_format fmt, struct fx_reqs *out)
{
	struct fx_trace_reader *r = NULL;
	struct fx_diag d = {0};
	struct fx_trace_req q;
	const struct fx_diag *rd;
	uint64_t prev = 0;
	int rc = fx_trace_reader_open(path, fmt, &r, &d);

	memset(out, 0, sizeof(*out));
	FX_FUZZ_CHECK(rc == 0 || rc == -FX_ECORRUPT || rc == -EINVAL || rc == -ENOMEM,
		      "open as %s: %d (%s)", fx_trace_format_name(fmt), rc, d.msg);
	if (rc) {
		FX_FUZZ_CHECK(d.err == rc && d.msg[0], "open failed %d, diagnostic %d '%s'", rc,
			      d.err, d.msg);
		return rc;
	}
	fx_trace_reader_info(r, &out->info);
	FX_FUZZ_CHECK(out->info.format != FX_TRACE_AUTO &&
			  (fmt == FX_TRACE_AUTO || out->info.format == fmt),
		      "opened as %s, format %s", fx_trace_format_name(fmt),
		      fx_trace_format_name(out->info.format));
	FX_FUZZ_CHECK(out->info.timed == (out->info.format != FX_TRACE_LIRS), "timed %d for %s",
		      out->info.timed, fx_trace_format_name(out->info.format));
	while (out->n < FX_MAX_REQS && (rc = fx_trace_next(r, &q)) == 1) {
		fx_check_req(&q, out->info.format, &out->info, prev, out->n);
		prev = q.time_us;
		if (fx_trace_name(r, q.obj))
			FX_FUZZ_CHECK(
			    out->info.format == FX_TRACE_RUSTFX || out->info.format == FX_TRACE_CSV,
			    "a name in a %s trace", fx_trace_format_name(out->info.format));
		if (out->n == out->cap) {
			out->cap = out->cap ? 2 * out->cap : 64;
			out->r = fx_fuzz_must(realloc(out->r, out->cap * sizeof(*out->r)));
		}
		out->r[out->n++] = q;
	}
	if (out->n < FX_MAX_REQS) {
		FX_FUZZ_CHECK(rc == 0 || rc == -FX_ECORRUPT || rc == -ENOMEM, "next: %d", rc);
		FX_FUZZ_CHECK(fx_trace_next(r, &q) == rc, "the end (%d) is not sticky", rc);
		rd = fx_trace_reader_diag(r);
		if (rc)
			FX_FUZZ_CHECK(rd->err == rc && rd->msg[0], "error %d, diagnostic %d '%s'",
				      rc, rd->err, rd->msg);
		out->end = rc;
	}
	fx_trace_reader_info(r, &out->info);
	fx_trace_reader_close(r);
	return 0;
}

static uint64_t fx_clock;
static uint64_t fx_now(void *arg)
{
	(void)arg;
	return fx_clock;
}

/* Write @in back as a trace of its format into the memfd @fd / @path. */
static void fx_write_back(const struct fx_reqs *in, int fd, const char *path)
{
	enum fx_trace_format f = in->info.format;
	struct fx_fuzz_buf text = {0};
	struct fx_trace_writer *w;
	size_t i;

	if (f == FX_TRACE_RUSTFX) {
		FX_FUZZ_CHECK(fx_trace_writer_open(path, in->info.seed, &w) == 0, "writer open");
		fx_clock = 0;
		FX_FUZZ_CHECK(fx_trace_writer_set_clock(w, in->info.start_us, fx_now, NULL) == 0,
			      "writer clock");
		for (i = 0; i < in->n; i++) {
			const struct fx_trace_req *q = &in->r[i];

			fx_clock = q->time_us - in->info.start_us;
			if (q->op == FX_TRACE_OPEN)
				FX_FUZZ_CHECK(fx_trace_note_open(w, q->obj, NULL, q->size) == 0,
					      "note open");
			else
				FX_FUZZ_CHECK(fx_trace_note_read(w, q->obj, NULL, q->off, q->len,
								 q->size) == 0,
					      "note read");
		}
		FX_FUZZ_CHECK(fx_trace_writer_close(w) == 0, "writer close");
		return;
	}
	if (f == FX_TRACE_CSV)
		fx_fuzz_printf(&text, "time,object,offset,size\n");
	if (f == FX_TRACE_CLOUDPHYSICS)
		fx_fuzz_printf(&text, "version,time,op,size,lbn\n");
	for (i = 0; i < in->n; i++) {
		const struct fx_trace_req *q = &in->r[i];

		if (f == FX_TRACE_CSV)
			fx_fuzz_printf(&text, "%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\n",
				       q->time_us, q->obj, q->off, q->len);
		else if (f == FX_TRACE_LIRS)
			fx_fuzz_printf(&text, "%" PRIu64 "\n", q->off / FX_TRACE_LIRS_BLOCK);
		else
			fx_fuzz_printf(&text, "1,%" PRIu64 ",%s,%" PRIu64 ",%" PRIu64 "\n",
				       q->time_us, q->op == FX_TRACE_WRITE ? "2a" : "28", q->len,
				       q->off / 512);
	}
	FX_FUZZ_CHECK(ftruncate(fd, 0) == 0 &&
			  pwrite(fd, text.p ? text.p : "", text.len, 0) == (ssize_t)text.len,
		      "writing the text back");
	fx_fuzz_buf_free(&text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fx_fuzz_buf file = {0};
	struct fx_reqs first, again;
	enum fx_trace_format fmt;
	char path[64];
	int fd, rc;

	if (size < 1)
		return 0;
	fmt = (enum fx_trace_format)(data[0] % 5);
	if (data[0] & 8)
		fx_gzip(data + 1, size - 1, &file);
	else
		fx_fuzz_put(&file, data + 1, size - 1);
	fd = fx_fuzz_memfile(file.p, file.len, path, sizeof(path));
	rc = fx_read_all(path, fmt, &first);
	if (rc == 0) {
		/* Read it back from what it says. */
		fx_write_back(&first, fd, path);
		rc = fx_read_all(path, first.info.format, &again);
		FX_FUZZ_CHECK(rc == 0 && again.end == 0, "the trace written back fails: %d / %d",
			      rc, again.end);
		FX_FUZZ_CHECK(again.n == first.n, "%zu requests written back, %zu read", first.n,
			      again.n);
		for (size_t i = 0; i < first.n; i++) {
			const struct fx_trace_req *a = &first.r[i], *b = &again.r[i];

			FX_FUZZ_CHECK(
			    a->time_us == b->time_us && a->obj == b->obj && a->off == b->off &&
				a->len == b->len && a->op == b->op &&
				(first.info.format != FX_TRACE_RUSTFX || a->size == b->size),
			    "request %zu written back differs: t %" PRIu64 "/%" PRIu64
			    " obj %" PRIx64 "/%" PRIx64 " off %" PRIu64 "/%" PRIu64 " len %" PRIu64
			    "/%" PRIu64 " op %d/%d",
			    i, a->time_us, b->time_us, a->obj, b->obj, a->off, b->off, a->len,
			    b->len, (int)a->op, (int)b->op);
		}
		if (first.info.format == FX_TRACE_RUSTFX)
			FX_FUZZ_CHECK(again.info.seed == first.info.seed &&
					  again.info.start_us == first.info.start_us,
				      "header written back differs");
		free(again.r);
	}
	free(first.r);
	close(fd);
	fx_fuzz_buf_free(&file);
	return 0;
}
