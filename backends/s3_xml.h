/*
 * s3_xml.h - parsing S3 XML responses with expat, as streams.
 *
 * Owns: ListObjectsV2 results (streamed: entries reach the callback while the
 * body is still arriving), error documents, InitiateMultipartUpload's UploadId,
 * CompleteMultipartUpload's ETag, DeleteObjects results, and mapping an S3
 * error (HTTP status + Code) to errno.
 * Does not own: HTTP, signing or retries (s3.c).
 */
#ifndef FX_BACKENDS_S3_XML_H
#define FX_BACKENDS_S3_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/backend.h"

struct fx_s3_list_parser;

/**
 * A parser for one ListObjectsV2 response body. Each <Contents> becomes an
 * object entry and each <CommonPrefixes><Prefix> a prefix entry passed to
 * @fn(@arg, entry); with @url_encoded (the request had encoding-type=url) Key,
 * Prefix, StartAfter and NextContinuationToken... are percent-decoded (Key and
 * Prefix only: tokens are opaque). LastModified (ISO 8601) becomes mtime_ns;
 * the ETag keeps its quotes. Entries carry no metadata (meta = NULL).
 * @return NULL on ENOMEM.
 */
struct fx_s3_list_parser *fx_s3_list_parser_new(fx_list_fn fn, void *arg, bool url_encoded);

/**
 * Feed @len bytes of body. @return 0; the callback's non-zero value once it
 * asks to stop (later feeds are ignored and return it again); -EPROTO on
 * malformed XML; -ENOMEM.
 */
int fx_s3_list_parser_feed(struct fx_s3_list_parser *p, const char *data, size_t len);

/**
 * End of body. @next_token receives a malloc'd NextContinuationToken when
 * IsTruncated is true, else NULL. @return 0, -EPROTO if the document was
 * incomplete or not a ListBucketResult, -EILSEQ if url encoding was asked
 * for, the answer showed no sign of it and a key's decoding depended on it
 * (the server ignores encoding-type: list again without it), or the
 * callback's stop value.
 */
int fx_s3_list_parser_finish(struct fx_s3_list_parser *p, char **next_token);

/** NULL is a no-op. */
void fx_s3_list_parser_free(struct fx_s3_list_parser *p);

/** Fields of an S3 <Error> document; absent fields are "". */
struct fx_s3_error {
	char code[64];
	char message[256];
	char request_id[128];
};

/** Parse an error body (may be empty or not XML: fields stay ""). Never fails. */
void fx_s3_parse_error(const char *xml, size_t len, struct fx_s3_error *out);

/**
 * errno for an S3 failure: NoSuchKey/NoSuchBucket/404 -> ENOENT, AccessDenied/
 * SignatureDoesNotMatch/InvalidAccessKeyId/403 -> EACCES, SlowDown/503/
 * RequestTimeout/500/502/504/InternalError -> EAGAIN (retryable), 408/429 ->
 * EAGAIN, EntityTooLarge -> EFBIG, InvalidRange/416 -> ERANGE, BucketNotEmpty
 * -> ENOTEMPTY, PreconditionFailed/412 -> ESTALE, NotImplemented/501 ->
 * ENOTSUP, InvalidBucketName/400 -> EINVAL, KeyTooLongError -> ENAMETOOLONG,
 * others -> EIO. @return a negative errno.
 */
int fx_s3_errno(long http_status, const char *code);

/** True when the status/code may succeed on retry (5xx, 408, 429, SlowDown, RequestTimeout). */
bool fx_s3_retryable(long http_status, const char *code);

/** <UploadId> of an InitiateMultipartUploadResult into @out. @return 0 or -EPROTO/-ENAMETOOLONG. */
int fx_s3_parse_upload_id(const char *xml, size_t len, char *out, size_t n);

/**
 * A CompleteMultipartUploadResult: 0 and the ETag in @etag, or, when the body
 * is an <Error> (S3 may answer 200 with an error), the mapped negative errno.
 */
int fx_s3_parse_complete(const char *xml, size_t len, char *etag, size_t n);

/**
 * A DeleteObjects result for @n keys: @results[i] = 0 for each <Deleted> key,
 * the mapped errno for each <Error> key, -EIO for keys the answer omits.
 * @return 0 or -EPROTO.
 */
int fx_s3_parse_delete_result(const char *xml, size_t len, const char *const *keys, size_t n,
			      int *results);

/** Append XML-escaped @s to @buf (for DeleteObjects/Complete bodies). @return 0 or -ENOMEM. */
int fx_s3_xml_escape(const char *s, char **buf, size_t *len, size_t *cap);

/** Parse "2024-05-01T12:34:56.789Z" (or an RFC 1123 Last-Modified header) to ns. */
int fx_s3_parse_time(const char *text, int64_t *out_ns);

#endif
