/*
 * fuzz_s3_error.c - libFuzzer harness for the S3 error parser and the other
 * one-shot S3 documents (backends/s3_xml.c: fx_s3_parse_error, the errno
 * table, fx_s3_parse_upload_id, fx_s3_parse_complete,
 * fx_s3_parse_delete_result, fx_s3_xml_escape).
 *
 * Input: one mode byte, then the rest.
 *   mode % 3 == 0: the rest is a response body, given to every parser.
 *   mode % 3 == 1: the rest is a text (cut at the first NUL) that is
 *              escaped with fx_s3_xml_escape and put in <Error><Code>..
 *              </Code><Message>..</Message></Error>: escaping then parsing
 *              must give the text back.
 *   mode % 3 == 2: the rest is a timestamp for fx_s3_parse_time (as in
 *              LastModified or a Last-Modified header).
 * Invariants checked:
 *  - error fields are NUL-terminated inside their arrays, and an empty or
 *    non-XML body leaves them "" (the parser never fails);
 *  - the errno of any (status, code) is negative and retryable exactly when
 *    it is -EAGAIN or a 5xx status the table does not name;
 *  - UploadId / ETag: success means a string that fits the buffer (a
 *    non-empty one for UploadId); a CompleteMultipartUpload body whose
 *    root is <Error> gives the errno of its code;
 *  - DeleteObjects: every key's result is 0 or a negative errno, and on a
 *    failed parse every result is -EIO;
 *  - escape + parse round-trips any text the escaper accepts (the parser
 *    may refuse bytes that are not UTF-8 or not XML characters: then the
 *    fields stay "", never something else), up to the field's size;
 *  - a timestamp that parses is a real instant: written back as ISO 8601
 *    with nanoseconds (and as RFC 1123 when whole seconds) it parses to the
 *    same nanosecond.
 * Does not own: the parsers.
 */
#include <errno.h>
#include <stdbool.h>
#include <time.h>

#include "backends/s3_xml.h"
#include "tests/fuzz/fuzz.h"

static const long fx_statuses[] = {0,	200, 400, 403, 404, 408, 412, 416, 429,
				   500, 501, 502, 503, 504, 505, 599, 600};

static void fx_check_errno(long status, const char *code)
{
	int err = fx_s3_errno(status, code);
	bool retry = fx_s3_retryable(status, code);

	FX_FUZZ_CHECK(err < 0, "fx_s3_errno(%ld, '%s') = %d", status, code ? code : "(null)", err);
	if (err == -EAGAIN)
		FX_FUZZ_CHECK(retry, "-EAGAIN for (%ld, '%s') but not retryable", status, code);
	else if (err == -EIO)
		FX_FUZZ_CHECK(retry == (status >= 505 && status <= 599),
			      "(%ld, '%s'): EIO, retryable %d", status, code, retry);
	else
		FX_FUZZ_CHECK(!retry, "(%ld, '%s'): %d yet retryable", status, code, err);
}

static void fx_check_fields(const struct fx_s3_error *e)
{
	FX_FUZZ_CHECK(memchr(e->code, 0, sizeof(e->code)) &&
			  memchr(e->message, 0, sizeof(e->message)) &&
			  memchr(e->request_id, 0, sizeof(e->request_id)),
		      "an error field is not NUL-terminated");
}

static void fx_body(const char *body, size_t len)
{
	static const char *const keys[] = {"a", "b/c", "a", "d&e", ""};
	struct fx_s3_error e;
	int results[5], rc;
	char out[64];

	fx_s3_parse_error(body, len, &e);
	fx_check_fields(&e);
	if (!memmem(body, len, "<", 1))
		FX_FUZZ_CHECK(!e.code[0] && !e.message[0] && !e.request_id[0],
			      "fields from a body without XML");
	for (size_t i = 0; i < sizeof(fx_statuses) / sizeof(fx_statuses[0]); i++)
		fx_check_errno(fx_statuses[i], e.code);

	memset(out, 'x', sizeof(out));
	rc = fx_s3_parse_upload_id(body, len, out, sizeof(out));
	FX_FUZZ_CHECK(rc == 0 || rc == -EPROTO || rc == -ENAMETOOLONG || rc == -ENOMEM,
		      "upload id: %d", rc);
	if (rc == 0)
		FX_FUZZ_CHECK(memchr(out, 0, sizeof(out)) && out[0], "upload id not a string");

	memset(out, 'x', sizeof(out));
	rc = fx_s3_parse_complete(body, len, out, sizeof(out));
	FX_FUZZ_CHECK(rc <= 0, "complete: %d", rc);
	if (rc == 0)
		FX_FUZZ_CHECK(memchr(out, 0, sizeof(out)) != NULL, "ETag not a string");
	if (rc < 0 && rc != -EPROTO && rc != -ENAMETOOLONG && rc != -ENOMEM) {
		/* Only an <Error> document maps to other errnos: its code decides. */
		FX_FUZZ_CHECK(e.code[0] || rc == -EIO, "complete: %d from no error code", rc);
		FX_FUZZ_CHECK(!e.code[0] || rc == fx_s3_errno(200, e.code),
			      "complete: %d, the error code '%s' says %d", rc, e.code,
			      fx_s3_errno(200, e.code));
	}

	rc = fx_s3_parse_delete_result(body, len, keys, 5, results);
	FX_FUZZ_CHECK(rc == 0 || rc == -EPROTO || rc == -ENOMEM, "delete: %d", rc);
	for (int i = 0; i < 5; i++) {
		FX_FUZZ_CHECK(results[i] <= 0, "delete result %d for key %d", results[i], i);
		if (rc)
			FX_FUZZ_CHECK(results[i] == -EIO, "failed parse, result %d", results[i]);
	}
	/* The same key twice gets the same answer. */
	FX_FUZZ_CHECK(results[0] == results[2], "key 'a' answered %d and %d", results[0],
		      results[2]);
}

/* <Error><Code>T</Code><Message>T</Message></Error> with T escaped. */
static void fx_round_trip(const char *text)
{
	struct fx_fuzz_buf b = {0};
	struct fx_s3_error e;
	char *esc = NULL;
	size_t elen = 0, ecap = 0, tl = strlen(text), want;
	bool control = false, high = false;
	int rc;

	for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
		control |= *c < 0x20 && *c != '\t' && *c != '\n' && *c != '\r';
		high |= *c >= 0x80;
	}
	rc = fx_s3_xml_escape(text, &esc, &elen, &ecap);
	if (rc == -EINVAL) { /* a C0 control XML 1.0 cannot carry */
		FX_FUZZ_CHECK(control, "escape refused '%s' without a control byte", text);
		free(esc);
		return;
	}
	FX_FUZZ_CHECK(rc == 0 && !control, "escape of '%s': %d", text, rc);
	FX_FUZZ_CHECK(strlen(esc) == elen, "escape's length is wrong");
	FX_FUZZ_CHECK(!strpbrk(esc, "<>\"'"), "escaped '%s' keeps a special character", esc);
	fx_fuzz_printf(&b, "<Error><Code>%s</Code><Message>%s</Message></Error>", esc, esc);
	fx_s3_parse_error(b.p, b.len, &e);
	fx_check_fields(&e);
	if (e.code[0] || e.message[0]) {
		/* Each field is the text, cut at the field's size. */
		want = tl < sizeof(e.code) - 1 ? tl : sizeof(e.code) - 1;
		FX_FUZZ_CHECK(strlen(e.code) == want && !memcmp(e.code, text, want),
			      "code '%s' from text '%s'", e.code, text);
		want = tl < sizeof(e.message) - 1 ? tl : sizeof(e.message) - 1;
		FX_FUZZ_CHECK(strlen(e.message) == want && !memcmp(e.message, text, want),
			      "message '%s' from text '%s'", e.message, text);
	} else {
		/* Nothing back: only for no text, or bytes that are not UTF-8
		 * XML characters (expat refuses the document). */
		FX_FUZZ_CHECK(!tl || high, "'%s' escaped and parsed to nothing", text);
	}
	fx_check_errno(0, e.code);
	free(esc);
	fx_fuzz_buf_free(&b);
}

/* A timestamp that parses writes back to text that parses the same. */
static void fx_time(const char *text)
{
	static const char days[] = "SunMonTueWedThuFriSat",
			  months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	int64_t ns, again = 0;
	time_t sec;
	struct tm tm;
	char iso[64];
	int rc = fx_s3_parse_time(text, &ns);

	FX_FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE, "parse_time('%s'): %d", text, rc);
	if (rc)
		return;
	sec = (time_t)(ns / 1000000000 - (ns % 1000000000 < 0));
	FX_FUZZ_CHECK(gmtime_r(&sec, &tm), "'%s' gave %lld ns, no calendar time", text,
		      (long long)ns);
	if (tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
		return; /* a +hh:mm offset moved it out of four-digit years */
	snprintf(iso, sizeof(iso), "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (long long)(ns - (int64_t)sec * 1000000000));
	FX_FUZZ_CHECK(fx_s3_parse_time(iso, &again) == 0 && again == ns,
		      "'%s' is %lld ns, written back as '%s' it is %lld", text, (long long)ns, iso,
		      (long long)again);
	if (ns % 1000000000 == 0) {
		snprintf(iso, sizeof(iso), "%.3s, %02d %.3s %04d %02d:%02d:%02d GMT",
			 days + 3 * tm.tm_wday, tm.tm_mday, months + 3 * tm.tm_mon,
			 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
		FX_FUZZ_CHECK(fx_s3_parse_time(iso, &again) == 0 && again == ns,
			      "'%s' is %lld ns, written back as '%s' it is %lld", text,
			      (long long)ns, iso, (long long)again);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fx_body((const char *)data + 1, size - 1);
		break;
	case 1:
		text = fx_fuzz_str(data + 1, size - 1);
		fx_round_trip(text);
		free(text);
		break;
	case 2:
		text = fx_fuzz_str(data + 1, size - 1);
		fx_time(text);
		free(text);
		break;
	}
	return 0;
}
