/*
 * fuzz_s3_list.c - libFuzzer harness for the streamed ListObjectsV2 parser
 * (backends/s3_xml.c: fx_s3_list_parser_*).
 *
 * Input: one flags byte, then the response body.
 *   bit 0     the request asked for encoding-type=url
 *   bits 1-6  chunk size - 1 for the streamed run (1..64 bytes)
 *   bit 7     also run with a callback that stops after the k-th entry,
 *             k = 1 + (chunk size % 4)
 * Invariants checked, not only "does not crash":
 *  - splitting the body into chunks changes nothing: the same entries in
 *    the same order, the same result and the same continuation token as
 *    one feed of the whole body;
 *  - every entry is sane: a non-empty key of at most 4096 bytes (the
 *    parser's text limit), no metadata; prefixes carry no size, time or
 *    ETag; objects carry an ETag shorter than FX_ETAG_MAX;
 *  - success means the document was a ListBucketResult, and a returned
 *    token is non-empty; failure is -EPROTO or -ENOMEM, or -EILSEQ when
 *    url encoding was asked for;
 *  - a callback that asks to stop stops the parse: exactly k entries (the
 *    first k of the full run), and feed and finish return its value.
 * Does not own: the parser.
 */
#include <errno.h>
#include <stdbool.h>

#include "backends/s3_xml.h"
#include "tests/fuzz/fuzz.h"

#define FX_FUZZ_STOP 7 /* what the stopping callback returns */

struct fx_run {
	struct fx_fuzz_buf log; /* one line per entry */
	size_t n, stop_after;	/* entries seen; stop after this many (0: never) */
};

static int fx_on_entry(void *arg, const struct fx_list_entry *e)
{
	struct fx_run *run = arg;
	size_t klen;

	FX_FUZZ_CHECK(e->key != NULL, "entry without a key");
	klen = strlen(e->key);
	FX_FUZZ_CHECK(klen > 0 && klen <= 4096, "key of %zu bytes", klen);
	FX_FUZZ_CHECK(e->meta == NULL, "S3 listing entries carry no metadata");
	if (e->is_prefix) {
		FX_FUZZ_CHECK(e->size == 0 && e->mtime_ns == 0 && e->etag == NULL,
			      "prefix '%s' with object fields", e->key);
	} else {
		FX_FUZZ_CHECK(e->etag != NULL && strlen(e->etag) < FX_ETAG_MAX,
			      "object '%s' with a bad ETag", e->key);
	}
	/* Keys may hold any byte but NUL: length-prefix them in the log. */
	fx_fuzz_printf(&run->log, "%c %zu:", e->is_prefix ? 'P' : 'O', klen);
	fx_fuzz_put(&run->log, e->key, klen);
	if (!e->is_prefix)
		fx_fuzz_printf(&run->log, " %llu %lld %s", (unsigned long long)e->size,
			       (long long)e->mtime_ns, e->etag);
	fx_fuzz_put(&run->log, "\n", 1);
	run->n++;
	return run->stop_after && run->n == run->stop_after ? FX_FUZZ_STOP : 0;
}

/* Parse @body in chunks of @chunk bytes (0: one feed). @return finish's result. */
static int fx_parse(const char *body, size_t len, bool url, size_t chunk, struct fx_run *run,
		    char **token)
{
	struct fx_s3_list_parser *p = fx_s3_list_parser_new(fx_on_entry, run, url);
	size_t off = 0, n;
	int rc = 0, fed;

	if (!p)
		return -ENOMEM;
	*token = NULL;
	do {
		n = chunk && chunk < len - off ? chunk : len - off;
		fed = fx_s3_list_parser_feed(p, body + off, n);
		off += n;
		if (fed) {
			FX_FUZZ_CHECK(fed == FX_FUZZ_STOP || fed == -EPROTO || fed == -ENOMEM,
				      "feed returned %d", fed);
			if (!rc)
				rc = fed;
			if (fed == FX_FUZZ_STOP) /* later feeds must say so again */
				FX_FUZZ_CHECK(fx_s3_list_parser_feed(p, "<", 1) == FX_FUZZ_STOP,
					      "a feed after the stop did not return it");
		}
	} while (off < len && !fed);
	fed = fx_s3_list_parser_finish(p, token);
	if (rc)
		FX_FUZZ_CHECK(fed == rc, "feed said %d, finish %d", rc, fed);
	FX_FUZZ_CHECK(fed == 0 || *token == NULL, "a token came back with an error %d", fed);
	fx_s3_list_parser_free(p);
	return fed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fx_run whole, streamed, stopped;
	char *tok1 = NULL, *tok2 = NULL, *tok3 = NULL;
	const char *body;
	size_t len, chunk;
	bool url;
	int rc1, rc2, rc3;

	if (size < 1)
		return 0;
	memset(&whole, 0, sizeof(whole));
	memset(&streamed, 0, sizeof(streamed));
	memset(&stopped, 0, sizeof(stopped));
	url = data[0] & 1;
	chunk = 1 + ((data[0] >> 1) & 63);
	body = (const char *)data + 1;
	len = size - 1;

	rc1 = fx_parse(body, len, url, 0, &whole, &tok1);
	/* -EILSEQ: url encoding asked for, ignored by the server, and it mattered. */
	FX_FUZZ_CHECK(rc1 == 0 || rc1 == -EPROTO || rc1 == -ENOMEM || (rc1 == -EILSEQ && url),
		      "finish returned %d (url encoding asked for: %d)", rc1, url);
	if (rc1 == 0) {
		FX_FUZZ_CHECK(memmem(body, len, "ListBucketResult", 16) != NULL,
			      "success without a ListBucketResult element");
		FX_FUZZ_CHECK(!tok1 || *tok1, "an empty continuation token");
	}

	rc2 = fx_parse(body, len, url, chunk, &streamed, &tok2);
	FX_FUZZ_CHECK(rc2 == rc1, "whole: %d, in chunks of %zu: %d", rc1, chunk, rc2);
	FX_FUZZ_CHECK(fx_fuzz_buf_eq(&whole.log, &streamed.log),
		      "entries differ when fed in chunks of %zu:\n--- whole\n%s--- chunked\n%s",
		      chunk, whole.log.p ? whole.log.p : "", streamed.log.p ? streamed.log.p : "");
	FX_FUZZ_CHECK((!tok1 && !tok2) || (tok1 && tok2 && !strcmp(tok1, tok2)),
		      "tokens differ when fed in chunks");

	if (data[0] & 0x80) {
		stopped.stop_after = 1 + chunk % 4;
		rc3 = fx_parse(body, len, url, chunk, &stopped, &tok3);
		if (whole.n >= stopped.stop_after) {
			FX_FUZZ_CHECK(rc3 == FX_FUZZ_STOP && stopped.n == stopped.stop_after,
				      "stop after %zu: result %d with %zu entries",
				      stopped.stop_after, rc3, stopped.n);
			FX_FUZZ_CHECK(fx_fuzz_buf_starts(&whole.log, &stopped.log),
				      "the entries before the stop differ");
		} else {
			FX_FUZZ_CHECK(rc3 == rc1 && stopped.n == whole.n,
				      "a stop that never came changed the result");
		}
		free(tok3);
		fx_fuzz_buf_free(&stopped.log);
	}
	free(tok1);
	free(tok2);
	fx_fuzz_buf_free(&whole.log);
	fx_fuzz_buf_free(&streamed.log);
	return 0;
}
