/*
 * test_s3_xml.c - S3 XML parsing: streamed listings split at every byte,
 * url-decoding, error documents, the errno table, DeleteObjects and
 * CompleteMultipartUpload results, timestamps and escaping.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/s3_xml.h"

/* ------------------------------------------------------------- collecting */

#define MAX_SEEN 16

struct seen {
	size_t n;
	struct {
		char key[1100];
		bool is_prefix;
		uint64_t size;
		int64_t mtime_ns;
		char etag[FX_ETAG_MAX];
	} e[MAX_SEEN];
	size_t stop_after; /* 0: never stop */
};

static int collect(void *arg, const struct fx_list_entry *e)
{
	struct seen *s = arg;

	cr_assert_lt(s->n, MAX_SEEN);
	cr_assert_null(e->meta);
	snprintf(s->e[s->n].key, sizeof(s->e[s->n].key), "%s", e->key);
	s->e[s->n].is_prefix = e->is_prefix;
	s->e[s->n].size = e->size;
	s->e[s->n].mtime_ns = e->mtime_ns;
	snprintf(s->e[s->n].etag, sizeof(s->e[s->n].etag), "%s", e->is_prefix ? "" : e->etag);
	s->n++;
	return s->stop_after && s->n == s->stop_after ? 42 : 0;
}

/* Parse @xml fed in pieces of @step bytes, the first piece @first bytes long. */
static int parse_list(const char *xml, size_t first, size_t step, bool url, struct seen *s,
		      char **token)
{
	struct fx_s3_list_parser *p = fx_s3_list_parser_new(collect, s, url);
	size_t len = strlen(xml), off = 0, n = first;
	int rc = 0;

	cr_assert_not_null(p);
	while (off < len && rc == 0) {
		if (n > len - off)
			n = len - off;
		rc = fx_s3_list_parser_feed(p, xml + off, n);
		off += n;
		n = step;
	}
	if (rc == 0)
		rc = fx_s3_list_parser_finish(p, token);
	fx_s3_list_parser_free(p);
	return rc;
}

static const char fx_listing[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<Name>bucket</Name><Prefix>photos/</Prefix><KeyCount>3</KeyCount>"
    "<MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><IsTruncated>false</IsTruncated>"
    "<Contents><Key>photos/a&amp;b.jpg</Key>"
    "<LastModified>2024-05-01T12:34:56.789Z</LastModified>"
    "<ETag>&quot;6761d6772dc789aa1a2be9e51757c93b&quot;</ETag><Size>1048576</Size>"
    "<Owner><ID>6cf4ba</ID><DisplayName>someone</DisplayName></Owner>"
    "<StorageClass>STANDARD</StorageClass></Contents>"
    "<Contents><Key>photos/\xc3\xbc ber</Key>"
    "<LastModified>2009-10-12T17:50:00.000Z</LastModified>"
    "<ETag>\"abc-2\"</ETag><Size>0</Size><StorageClass>STANDARD</StorageClass></Contents>"
    "<CommonPrefixes><Prefix>photos/2023/</Prefix></CommonPrefixes>"
    "<CommonPrefixes><Prefix>photos/2024/</Prefix></CommonPrefixes>"
    "</ListBucketResult>";

static void check_listing(const struct seen *s)
{
	cr_assert_eq(s->n, 4);
	cr_expect_str_eq(s->e[0].key, "photos/a&b.jpg");
	cr_expect_not(s->e[0].is_prefix);
	cr_expect_eq(s->e[0].size, 1048576);
	cr_expect_eq(s->e[0].mtime_ns, 1714566896789000000LL);
	cr_expect_str_eq(s->e[0].etag, "\"6761d6772dc789aa1a2be9e51757c93b\"");
	cr_expect_str_eq(s->e[1].key, "photos/\xc3\xbc ber");
	cr_expect_eq(s->e[1].size, 0);
	cr_expect_eq(s->e[1].mtime_ns, 1255369800000000000LL);
	cr_expect_str_eq(s->e[1].etag, "\"abc-2\"");
	cr_expect_str_eq(s->e[2].key, "photos/2023/");
	cr_expect(s->e[2].is_prefix);
	cr_expect_str_eq(s->e[3].key, "photos/2024/");
	cr_expect(s->e[3].is_prefix);
}

Test(s3_xml, list_whole)
{
	struct seen s = {0};
	char *token = (char *)"unset";

	cr_assert_eq(parse_list(fx_listing, sizeof(fx_listing), 1, false, &s, &token), 0);
	cr_expect_null(token);
	check_listing(&s);
}

Test(s3_xml, list_every_split_position)
{
	size_t len = strlen(fx_listing), cut;

	for (cut = 0; cut <= len; cut++) {
		struct seen s = {0};
		char *token = NULL;

		cr_assert_eq(parse_list(fx_listing, cut, len, false, &s, &token), 0, "cut %zu",
			     cut);
		check_listing(&s);
	}
}

Test(s3_xml, list_one_byte_at_a_time)
{
	struct seen s = {0};
	char *token = NULL;

	cr_assert_eq(parse_list(fx_listing, 1, 1, false, &s, &token), 0);
	check_listing(&s);
}

Test(s3_xml, list_odd_steps)
{
	size_t step;

	for (step = 2; step < 64; step++) {
		struct seen s = {0};
		char *token = NULL;

		cr_assert_eq(parse_list(fx_listing, step, step, false, &s, &token), 0);
		check_listing(&s);
	}
}

static const char fx_encoded[] =
    "<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>"
    "<Contents><Key>a+b.txt</Key><Size>1</Size></Contents>"
    "<Contents><Key>a%2Bb.txt</Key><Size>2</Size></Contents>"
    "<Contents><Key>100%25.csv</Key><Size>3</Size></Contents>"
    "<Contents><Key>%ED%95%9C%EA%B8%80/x%20y.txt</Key><Size>4</Size></Contents>"
    "<CommonPrefixes><Prefix>run+books/</Prefix></CommonPrefixes>"
    "</ListBucketResult>";

Test(s3_xml, list_url_encoded_keys)
{
	size_t step;

	for (step = 1; step < sizeof(fx_encoded); step += 7) {
		struct seen s = {0};
		char *token = NULL;

		cr_assert_eq(parse_list(fx_encoded, step, step, true, &s, &token), 0);
		cr_assert_eq(s.n, 5);
		cr_expect_str_eq(s.e[0].key, "a b.txt");
		cr_expect_str_eq(s.e[1].key, "a+b.txt");
		cr_expect_str_eq(s.e[2].key, "100%.csv");
		cr_expect_str_eq(s.e[3].key, "\xed\x95\x9c\xea\xb8\x80/x y.txt");
		cr_expect_str_eq(s.e[4].key, "run books/");
		cr_expect(s.e[4].is_prefix);
	}
}

Test(s3_xml, list_raw_keys_not_decoded)
{
	struct seen s = {0};
	char *token = NULL;
	const char *xml = "<ListBucketResult><IsTruncated>false</IsTruncated>"
			  "<Contents><Key>a+b%20c</Key></Contents></ListBucketResult>";

	cr_assert_eq(parse_list(xml, 1000, 1000, false, &s, &token), 0);
	cr_assert_eq(s.n, 1);
	cr_expect_str_eq(s.e[0].key, "a+b%20c");
}

Test(s3_xml, list_bad_percent_escape)
{
	const char *bad[] = {"a%2", "a%zz", "a%", "a%00b"};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct seen s = {0};
		char *token = NULL;
		char xml[256];

		snprintf(xml, sizeof(xml),
			 "<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>%s"
			 "</Key></Contents></ListBucketResult>",
			 bad[i]);
		cr_expect_eq(parse_list(xml, 1000, 1000, true, &s, &token), -EPROTO, "%s", bad[i]);
		cr_expect_eq(s.n, 0);
	}
}

/* A server that ignores encoding-type=url and sends raw keys. */
Test(s3_xml, list_server_ignored_encoding)
{
	struct seen s = {0};
	char *token = NULL;
	const char *plain = "<ListBucketResult><IsTruncated>false</IsTruncated>"
			    "<Contents><Key>plain.txt</Key></Contents></ListBucketResult>";
	const char *tricky = "<ListBucketResult><IsTruncated>false</IsTruncated>"
			     "<Contents><Key>a+b.txt</Key></Contents></ListBucketResult>";

	/* Nothing depended on the encoding: fine. */
	cr_expect_eq(parse_list(plain, 1000, 1000, true, &s, &token), 0);
	/* "a+b.txt" was passed on as "a b.txt": the page is refused, with the
	 * error that makes the backend list without encoding-type from then on. */
	s.n = 0;
	cr_expect_eq(parse_list(tricky, 1000, 1000, true, &s, &token), -EILSEQ);
}

/* EncodingType before the entries decides even against the request. */
Test(s3_xml, list_encoding_type_first_wins)
{
	struct seen s = {0};
	char *token = NULL;
	const char *xml = "<ListBucketResult><EncodingType>url</EncodingType>"
			  "<Contents><Key>a%2Bb</Key></Contents></ListBucketResult>";

	cr_assert_eq(parse_list(xml, 1000, 1000, false, &s, &token), 0);
	cr_expect_str_eq(s.e[0].key, "a+b");
}

/* EncodingType after an entry that depended on the guess: refused. */
Test(s3_xml, list_encoding_type_late_conflict)
{
	struct seen s = {0};
	char *token = NULL;
	const char *late = "<ListBucketResult><Contents><Key>a+b</Key></Contents>"
			   "<EncodingType>url</EncodingType></ListBucketResult>";
	const char *late_ok = "<ListBucketResult><Contents><Key>ab</Key></Contents>"
			      "<EncodingType>url</EncodingType>"
			      "<Contents><Key>c+d</Key></Contents></ListBucketResult>";

	cr_expect_eq(parse_list(late, 1000, 1000, false, &s, &token), -EPROTO);
	s.n = 0;
	cr_assert_eq(parse_list(late_ok, 1000, 1000, false, &s, &token), 0);
	cr_assert_eq(s.n, 2);
	cr_expect_str_eq(s.e[1].key, "c d");
}

Test(s3_xml, list_truncated_token)
{
	struct seen s = {0};
	char *token = NULL;
	const char *xml = "<ListBucketResult><IsTruncated>true</IsTruncated>"
			  "<Contents><Key>k</Key><Size>5</Size></Contents>"
			  "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=+%</"
			  "NextContinuationToken>"
			  "</ListBucketResult>";

	cr_assert_eq(parse_list(xml, 3, 3, true, &s, &token), 0);
	cr_assert_not_null(token);
	/* Tokens are opaque: never decoded. */
	cr_expect_str_eq(token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=+%");
	free(token);
}

Test(s3_xml, list_truncated_without_token)
{
	struct seen s = {0};
	char *token = NULL;

	cr_expect_eq(parse_list("<ListBucketResult><IsTruncated>true</IsTruncated>"
				"</ListBucketResult>",
				1000, 1000, false, &s, &token),
		     -EPROTO);
}

Test(s3_xml, list_callback_stop)
{
	struct seen s = {.stop_after = 2};
	struct fx_s3_list_parser *p = fx_s3_list_parser_new(collect, &s, false);
	char *token = NULL;
	size_t i;
	int rc = 0;

	cr_assert_not_null(p);
	for (i = 0; i < strlen(fx_listing) && rc == 0; i++)
		rc = fx_s3_list_parser_feed(p, fx_listing + i, 1);
	cr_expect_eq(rc, 42);
	cr_expect_eq(s.n, 2);
	cr_expect_eq(fx_s3_list_parser_feed(p, "<x/>", 4), 42);
	cr_expect_eq(fx_s3_list_parser_finish(p, &token), 42);
	cr_expect_eq(s.n, 2);
	fx_s3_list_parser_free(p);
}

Test(s3_xml, list_malformed)
{
	const char *bad[] = {
	    "",
	    "not xml at all",
	    "<ListBucketResult><Contents><Key>a</Key></Contents>", /* unfinished */
	    "<ListBucketResult><Contents><Key>a</Kex></Contents></ListBucketResult>",
	    "<Error><Code>AccessDenied</Code></Error>", /* wrong root */
	    "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
	    "<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents>"
	    "</ListBucketResult>",
	    "<ListBucketResult><Contents><Key>a</Key><LastModified>yesterday"
	    "</LastModified></Contents></ListBucketResult>",
	    "<!DOCTYPE x [<!ENTITY e \"boom\">]><ListBucketResult></ListBucketResult>",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct seen s = {0};
		char *token = NULL;

		cr_expect_eq(parse_list(bad[i], 5, 5, false, &s, &token), -EPROTO, "case %zu", i);
		cr_expect_null(token);
	}
}

Test(s3_xml, list_text_bound)
{
	size_t big = 5000, i;
	char *xml = malloc(big + 200), *o = xml;
	struct seen s = {0};
	char *token = NULL;

	o += sprintf(o, "<ListBucketResult><Contents><Key>");
	for (i = 0; i < big; i++)
		*o++ = 'k';
	sprintf(o, "</Key></Contents></ListBucketResult>");
	cr_expect_eq(parse_list(xml, 100, 100, false, &s, &token), -EPROTO);
	cr_expect_eq(s.n, 0);
	free(xml);
}

/* A 1024-byte key of multibyte characters percent-encoded is 3072 bytes. */
Test(s3_xml, list_longest_encoded_key)
{
	char *xml = malloc(4000), *o = xml;
	struct seen s = {0};
	char *token = NULL;
	size_t i;

	o += sprintf(o, "<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>");
	for (i = 0; i < 1024; i++)
		o += sprintf(o, "%%%02X", 0xC3 + (unsigned)(i & 1) * (0xBC - 0xC3));
	sprintf(o, "</Key></Contents></ListBucketResult>");
	cr_assert_eq(parse_list(xml, 7, 7, true, &s, &token), 0);
	cr_assert_eq(s.n, 1);
	cr_expect_eq(strlen(s.e[0].key), 1024);
	cr_expect_eq(strncmp(s.e[0].key, "\xc3\xbc\xc3\xbc", 4), 0);
	free(xml);
}

Test(s3_xml, list_leading_blanks)
{
	struct seen s = {0};
	char *token = NULL;
	char xml[sizeof(fx_listing) + 8] = "  \n \n";

	strcat(xml, fx_listing);
	cr_assert_eq(parse_list(xml, 1, 1, false, &s, &token), 0);
	check_listing(&s);
}

/* ------------------------------------------------------------------ error */

Test(s3_xml, error_document)
{
	struct fx_s3_error e;
	const char *xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			  "<Error><Code>NoSuchKey</Code><Message>The resource you requested "
			  "does not exist</Message><Resource>/mybucket/myfoto.jpg</Resource>"
			  "<RequestId>4442587FB7D0A2F9</RequestId></Error>";

	fx_s3_parse_error(xml, strlen(xml), &e);
	cr_expect_str_eq(e.code, "NoSuchKey");
	cr_expect_str_eq(e.message, "The resource you requested does not exist");
	cr_expect_str_eq(e.request_id, "4442587FB7D0A2F9");
}

Test(s3_xml, error_not_xml)
{
	struct fx_s3_error e;
	const char *html = "<html><body><h1>502 Bad Gateway</h1></body></html>";
	const char *junk = "upstream connect error";

	memset(&e, 'x', sizeof(e));
	fx_s3_parse_error("", 0, &e);
	cr_expect_str_eq(e.code, "");
	cr_expect_str_eq(e.message, "");
	fx_s3_parse_error(NULL, 0, &e);
	cr_expect_str_eq(e.request_id, "");
	fx_s3_parse_error(html, strlen(html), &e);
	cr_expect_str_eq(e.code, "");
	fx_s3_parse_error(junk, strlen(junk), &e);
	cr_expect_str_eq(e.code, "");
	cr_expect_str_eq(e.message, "");
}

Test(s3_xml, error_long_message_truncated)
{
	char xml[6000], *o = xml;
	struct fx_s3_error e;
	int i;

	o += sprintf(o, "<Error><Code>SlowDown</Code><Message>");
	for (i = 0; i < 5000; i++)
		*o++ = 'm';
	sprintf(o, "</Message></Error>");
	fx_s3_parse_error(xml, strlen(xml), &e);
	cr_expect_str_eq(e.code, "SlowDown");
	cr_expect_eq(strlen(e.message), sizeof(e.message) - 1);
}

/* ------------------------------------------------------------------ errno */

struct errno_case {
	long status;
	const char *code;
	int err;
	bool retry;
};

static const struct errno_case fx_errno_cases[] = {
    {404, "NoSuchKey", -ENOENT, false},
    {404, "NoSuchBucket", -ENOENT, false},
    {404, "", -ENOENT, false},
    {404, NULL, -ENOENT, false},
    {403, "AccessDenied", -EACCES, false},
    {403, "SignatureDoesNotMatch", -EACCES, false},
    {403, "InvalidAccessKeyId", -EACCES, false},
    {403, "", -EACCES, false},
    {503, "SlowDown", -EAGAIN, true},
    {503, "", -EAGAIN, true},
    {400, "RequestTimeout", -EAGAIN, true},
    {500, "InternalError", -EAGAIN, true},
    {500, "", -EAGAIN, true},
    {502, NULL, -EAGAIN, true},
    {504, NULL, -EAGAIN, true},
    {408, NULL, -EAGAIN, true},
    {429, NULL, -EAGAIN, true},
    {400, "EntityTooLarge", -EFBIG, false},
    {416, "InvalidRange", -ERANGE, false},
    {416, NULL, -ERANGE, false},
    {409, "BucketNotEmpty", -ENOTEMPTY, false},
    {412, "PreconditionFailed", -ESTALE, false},
    {412, NULL, -ESTALE, false},
    {501, "NotImplemented", -ENOTSUP, false},
    {501, NULL, -ENOTSUP, false},
    {400, "InvalidBucketName", -EINVAL, false},
    {400, "", -EINVAL, false},
    {400, "KeyTooLongError", -ENAMETOOLONG, false},
    {409, "OperationAborted", -EIO, false},
    {200, "", -EIO, false},
    {505, NULL, -EIO, true},
    {0, "SomethingNew", -EIO, false},
};

Test(s3_xml, errno_table)
{
	size_t i;

	for (i = 0; i < sizeof(fx_errno_cases) / sizeof(fx_errno_cases[0]); i++) {
		const struct errno_case *c = &fx_errno_cases[i];

		cr_expect_eq(fx_s3_errno(c->status, c->code), c->err, "%ld %s -> %d, want %d",
			     c->status, c->code ? c->code : "(null)",
			     fx_s3_errno(c->status, c->code), c->err);
		cr_expect_eq(fx_s3_retryable(c->status, c->code), c->retry, "retry %ld %s",
			     c->status, c->code ? c->code : "(null)");
	}
}

/* ------------------------------------------------------------- multipart */

Test(s3_xml, upload_id)
{
	const char *xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			  "<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/"
			  "2006-03-01/\"><Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2FkIElE"
			  "&amp;x</UploadId></InitiateMultipartUploadResult>";
	char id[64], small[4];

	strcpy(small, "abc");
	cr_assert_eq(fx_s3_parse_upload_id(xml, strlen(xml), id, sizeof(id)), 0);
	cr_expect_str_eq(id, "VXBsb2FkIElE&x");
	cr_expect_eq(fx_s3_parse_upload_id(xml, strlen(xml), small, sizeof(small)), -ENAMETOOLONG);
	cr_expect_str_eq(small, "abc");
	cr_expect_eq(fx_s3_parse_upload_id("<InitiateMultipartUploadResult/>", 32, id, sizeof(id)),
		     -EPROTO);
	cr_expect_eq(fx_s3_parse_upload_id("<Init", 5, id, sizeof(id)), -EPROTO);
}

Test(s3_xml, complete_ok)
{
	const char *xml = "  \n  <?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			  "<CompleteMultipartUploadResult><Location>http://x/b/k</Location>"
			  "<Bucket>b</Bucket><Key>k</Key><ETag>\"3858f62230ac3c915f300c664312c11f-9"
			  "\"</ETag></CompleteMultipartUploadResult>";
	char etag[FX_ETAG_MAX];

	/* Leading blanks: S3 keeps the connection alive with them. */
	cr_assert_eq(fx_s3_parse_complete(xml, strlen(xml), etag, sizeof(etag)), 0);
	cr_expect_str_eq(etag, "\"3858f62230ac3c915f300c664312c11f-9\"");
}

Test(s3_xml, complete_error_in_200)
{
	const char *internal = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>"
			       "InternalError</Code><Message>We encountered an internal error."
			       "</Message><RequestId>656c76696e6727732072657175657374</RequestId>"
			       "</Error>";
	const char *denied = "<Error><Code>AccessDenied</Code></Error>";
	const char *part = "<Error><Code>InvalidPart</Code></Error>";
	char etag[FX_ETAG_MAX] = "keep";

	cr_expect_eq(fx_s3_parse_complete(internal, strlen(internal), etag, sizeof(etag)), -EAGAIN);
	cr_expect_eq(fx_s3_parse_complete(denied, strlen(denied), etag, sizeof(etag)), -EACCES);
	cr_expect_eq(fx_s3_parse_complete(part, strlen(part), etag, sizeof(etag)), -EIO);
	cr_expect_str_eq(etag, "keep");
	cr_expect_eq(fx_s3_parse_complete("", 0, etag, sizeof(etag)), -EPROTO);
	/* radosgw 16 sends an empty ETag: success, with the ETag unknown. */
	cr_expect_eq(fx_s3_parse_complete("<CompleteMultipartUploadResult><ETag></ETag>"
					  "</CompleteMultipartUploadResult>", 76, etag, sizeof(etag)),
		     0);
	cr_expect_str_eq(etag, "");
	cr_expect_eq(fx_s3_parse_complete("<Other/>", 8, etag, sizeof(etag)), -EPROTO);
}

/* ---------------------------------------------------------- DeleteObjects */

Test(s3_xml, delete_result)
{
	const char *keys[] = {"a", "b & c", "dup", "missing", "dup", "denied"};
	int results[6];
	const char *xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			  "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			  "<Deleted><Key>a</Key></Deleted>"
			  "<Deleted><Key>b &amp; c</Key><VersionId>v1</VersionId></Deleted>"
			  "<Deleted><Key>dup</Key></Deleted>"
			  "<Error><Key>denied</Key><Code>AccessDenied</Code>"
			  "<Message>Access Denied</Message></Error>"
			  "<Deleted><Key>not-asked</Key></Deleted>"
			  "</DeleteResult>";

	cr_assert_eq(fx_s3_parse_delete_result(xml, strlen(xml), keys, 6, results), 0);
	cr_expect_eq(results[0], 0);
	cr_expect_eq(results[1], 0);
	cr_expect_eq(results[2], 0);
	cr_expect_eq(results[3], -EIO);
	cr_expect_eq(results[4], 0);
	cr_expect_eq(results[5], -EACCES);
}

Test(s3_xml, delete_result_error_first_then_deleted)
{
	const char *keys[] = {"x", "y"};
	int results[2];
	const char *xml = "<DeleteResult><Error><Code>InternalError</Code><Key>x</Key></Error>"
			  "<Deleted><Key>x</Key></Deleted></DeleteResult>";

	/* Code before Key, and a second answer for a key does not override. */
	cr_assert_eq(fx_s3_parse_delete_result(xml, strlen(xml), keys, 2, results), 0);
	cr_expect_eq(results[0], -EAGAIN);
	cr_expect_eq(results[1], -EIO);
}

Test(s3_xml, delete_result_malformed)
{
	const char *keys[] = {"a"};
	int results[1] = {7};

	cr_expect_eq(fx_s3_parse_delete_result("<DeleteResult><Deleted>", 23, keys, 1, results),
		     -EPROTO);
	cr_expect_eq(results[0], -EIO);
	cr_expect_eq(fx_s3_parse_delete_result("<Error><Code>AccessDenied</Code></Error>", 40, keys,
					       1, results),
		     -EPROTO);
	cr_expect_eq(fx_s3_parse_delete_result("<DeleteResult/>", 15, keys, 1, results), 0);
	cr_expect_eq(results[0], -EIO);
}

/* ------------------------------------------------------------------- time */

struct time_case {
	const char *text;
	int64_t ns;
};

static const struct time_case fx_times[] = {
    {"1970-01-01T00:00:00Z", 0},
    {"1970-01-01T00:00:00.000Z", 0},
    {"2024-05-01T12:34:56.789Z", 1714566896789000000LL},
    {"2024-05-01T12:34:56Z", 1714566896000000000LL},
    {"2024-05-01T12:34:56", 1714566896000000000LL},
    {"2024-05-01T12:34:56.5", 1714566896500000000LL},
    {"2024-05-01T12:34:56.123456789123Z", 1714566896123456789LL},
    {"2024-02-29T00:00:00Z", 1709164800000000000LL},
    {"1969-12-31T23:59:59.5Z", -500000000LL},
    {"2024-05-01T14:34:56.5+02:00", 1714566896500000000LL},
    {"2024-05-01T02:04:56-10:30", 1714566896000000000LL},
    {"Wed, 12 Oct 2009 17:50:00 GMT", 1255369800000000000LL},
    {"Thu, 01 Jan 1970 00:00:01 GMT", 1000000000LL},
    {"Wed, 01 May 2024 12:34:56 GMT", 1714566896000000000LL},
};

Test(s3_xml, time_good)
{
	size_t i;

	for (i = 0; i < sizeof(fx_times) / sizeof(fx_times[0]); i++) {
		int64_t ns = -1;

		cr_expect_eq(fx_s3_parse_time(fx_times[i].text, &ns), 0, "%s", fx_times[i].text);
		cr_expect_eq(ns, fx_times[i].ns, "%s -> %lld", fx_times[i].text, (long long)ns);
	}
}

Test(s3_xml, time_bad)
{
	static const char *const bad[] = {
	    "",
	    "2024",
	    "2024-05-01",
	    "2024-05-01 12:34:56Z",
	    "2024-5-01T12:34:56Z",
	    "2024-13-01T00:00:00Z",
	    "2024-00-01T00:00:00Z",
	    "2023-02-29T00:00:00Z",
	    "2024-04-31T00:00:00Z",
	    "2024-05-01T24:00:00Z",
	    "2024-05-01T12:60:00Z",
	    "2024-05-01T12:34:56.Z",
	    "2024-05-01T12:34:56Zjunk",
	    "2024-05-01T12:34:56+2:00",
	    "2024-05-01T12:34:56+0200",
	    "2024-05-01T12:34:56Z+02:00",
	    "2024-05-01T12:34:56+24:00",
	    "Wed, 12 Oct 2009 17:50:00",
	    "Wed, 12 Oct 2009 17:50:00 PST",
	    "Wed, 12 Foo 2009 17:50:00 GMT",
	    "Xyz, 12 Oct 2009 17:50:00 GMT",
	    "Wed 12 Oct 2009 17:50:00 GMT",
	    "Wed, 2 Oct 2009 17:50:00 GMT",
	    "Wed",
	    "yesterday",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t ns = 12345;

		cr_expect_neq(fx_s3_parse_time(bad[i], &ns), 0, "%s", bad[i]);
		cr_expect_eq(ns, 12345, "%s wrote its output", bad[i]);
	}
	cr_expect_eq(fx_s3_parse_time(NULL, NULL), -EINVAL);
}

/* ----------------------------------------------------------------- escape */

Test(s3_xml, escape)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;

	cr_assert_eq(fx_s3_xml_escape("<Key>", &buf, &len, &cap), 0);
	cr_assert_eq(fx_s3_xml_escape("a&b<c>d\"e'f \xc3\xbc\r\n", &buf, &len, &cap), 0);
	cr_expect_str_eq(buf, "&lt;Key&gt;a&amp;b&lt;c&gt;d&quot;e&apos;f \xc3\xbc&#13;&#10;");
	cr_expect_eq(len, strlen(buf));
	cr_expect_geq(cap, len + 1);
	cr_expect_eq(fx_s3_xml_escape("\x01", &buf, &len, &cap), -EINVAL);
	cr_expect_eq(len, strlen(buf));
	free(buf);
}

Test(s3_xml, escape_grows)
{
	char *buf = NULL;
	size_t len = 0, cap = 0, i;

	for (i = 0; i < 1000; i++)
		cr_assert_eq(fx_s3_xml_escape("&&&&", &buf, &len, &cap), 0);
	cr_expect_eq(len, 1000 * 20);
	cr_expect_eq(strlen(buf), len);
	free(buf);
}

/* Escaped text parses back to itself. */
Test(s3_xml, escape_round_trip)
{
	const char *key = "we<ird> & \"quoted\" 'key'\r\n\t\xc3\xbc";
	const char *keys[] = {key};
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int results[1];

	buf = strdup("<DeleteResult><Deleted><Key>");
	len = strlen(buf);
	cap = len + 1;
	cr_assert_eq(fx_s3_xml_escape(key, &buf, &len, &cap), 0);
	buf = realloc(buf, len + 64);
	strcat(buf, "</Key></Deleted></DeleteResult>");
	cr_assert_eq(fx_s3_parse_delete_result(buf, strlen(buf), keys, 1, results), 0);
	cr_expect_eq(results[0], 0);
	free(buf);
}
