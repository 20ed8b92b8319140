/*
 * s3_sign.h - AWS Signature Version 4 for S3 requests, computed by us.
 *
 * Owns: AWS UriEncode, the canonical request (method, encoded path, sorted
 * encoded query, lower-cased trimmed sorted headers, payload hash), the
 * string to sign, the signing-key HMAC chain and the Authorization header;
 * SHA-256 helpers for payload hashes (memory and a file region).
 * Does not own: HTTP, endpoints, bucket addressing or credentials storage.
 * It signs exactly what it is given and caches nothing, so every function is
 * thread-safe. libcurl's CURLOPT_AWS_SIGV4 is deliberately not used: it signs
 * the query in the order given, which radosgw rejects unless pre-sorted.
 *
 * Wire contract: the request the caller sends must carry
 *  - the path as fx_s3_uri_encode(path, false) (or an equivalent encoding),
 *  - the query as fx_s3_query_string() returns it (any order works for the
 *    server, but this string is known to encode identically),
 *  - every header in fx_s3_request.headers with the same values, plus
 *    "x-amz-date: <fx_s3_signed.amz_date>" and, when the credentials carry a
 *    session token, "x-amz-security-token: <token>". The signer adds those two
 *    to the signed headers itself; the caller must not list them.
 * For S3 the caller should also send and list "x-amz-content-sha256" with the
 * value of payload_sha256 (S3 requires it; the generic SigV4 suite does not).
 *
 * S3 does not normalise paths: "/a/./b" is signed as is, '/' kept, every
 * other byte outside A-Za-z0-9-._~ percent-encoded once.
 * Secrets: the derived signing keys live on the stack and are wiped with
 * sodium_memzero before returning; nothing here logs.
 */
#ifndef FX_BACKENDS_S3_SIGN_H
#define FX_BACKENDS_S3_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define FX_S3_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define FX_S3_EMPTY_SHA256     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define FX_S3_SHA256_HEX_LEN   64
#define FX_S3_AMZ_DATE_LEN     16   /* "YYYYMMDDTHHMMSSZ" */
#define FX_S3_AUTH_MAX	       1536 /* bytes of the Authorization value, NUL included */
#define FX_S3_SECRET_MAX       256  /* bytes of a secret access key */

/** One query parameter, raw (not encoded). A NULL value signs as "name=". */
struct fx_s3_param {
	const char *name;
	const char *value;
};

/** One request header; the name in any case, the value untrimmed. */
struct fx_s3_header {
	const char *name;
	const char *value;
};

/**
 * What to sign. Every pointer is borrowed: the caller keeps it valid for the
 * duration of the call only; nothing is retained.
 */
struct fx_s3_request {
	/* "GET", "PUT", ... used as given. */
	const char *method;
	/* Raw, unencoded, starting with '/': "/bucket/dir/a b.txt". */
	const char *path;
	/* Raw pairs in any order; names may repeat. */
	const struct fx_s3_param *query;
	size_t n_query;
	/* Must include "host"; repeated names are joined with ',' in given order. */
	const struct fx_s3_header *headers;
	size_t n_headers;
	/* 64 lower-case hex digits, or FX_S3_UNSIGNED_PAYLOAD. */
	const char *payload_sha256;
	/* "us-east-1". */
	const char *region;
	/* "s3"; NULL means "s3". */
	const char *service;
	/* Request time, seconds since the epoch; formatted as UTC. */
	time_t when;
};

/**
 * Credentials, borrowed for the call. The secret is only read; callers keep
 * it in sodium_malloc memory (house style). session_token is NULL or "" when
 * there is none; when set, x-amz-security-token is signed automatically and
 * the caller must send that header with the same value.
 */
struct fx_s3_credentials {
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token;
};

/** The result of fx_s3_sign(): two header values to send. */
struct fx_s3_signed {
	char amz_date[FX_S3_AMZ_DATE_LEN + 1]; /* value of x-amz-date */
	char authorization[FX_S3_AUTH_MAX];    /* value of Authorization */
};

/**
 * AWS UriEncode: bytes in A-Za-z0-9-._~ are kept, '/' is kept unless
 * @encode_slash, every other byte (UTF-8 bytes included) becomes %XX with
 * upper-case hex. A space is "%20", never '+'.
 * @param n size of @out including the terminating NUL.
 * @return the encoded length (without NUL), or -ENAMETOOLONG if it does not
 * fit in @n, or -EINVAL if @in or @out is NULL. @out is written only on success.
 */
int fx_s3_uri_encode(const char *in, bool encode_slash, char *out, size_t n);

/**
 * The canonical query string: each name and value UriEncoded (slash encoded),
 * sorted by encoded name then encoded value, joined as "n=v&n=v".
 * @param out receives a malloc'd string ("" for no parameters); free() it.
 * @return 0, -EINVAL (a NULL name or @out), -ENOMEM.
 */
int fx_s3_query_string(const struct fx_s3_param *query, size_t n, char **out);

/**
 * The canonical request of @req as SigV4 defines it (for tests and debug
 * logs; it holds no secret, but the session token if @cred has one).
 * @param cred may be NULL (no session token).
 * @param out receives a malloc'd string; free() it.
 * @return 0, -EINVAL (missing field, no host header, path without leading
 * '/', caller-supplied x-amz-date/x-amz-security-token, CR/LF in a header,
 * time not representable), -ENOMEM.
 */
int fx_s3_canonical_request(const struct fx_s3_request *req, const struct fx_s3_credentials *cred,
			    char **out);

/**
 * The string to sign: "AWS4-HMAC-SHA256\n<amz-date>\n<date>/<region>/
 * <service>/aws4_request\n<hex sha256 of the canonical request>".
 * @param out receives a malloc'd string; free() it.
 * @return as fx_s3_canonical_request().
 */
int fx_s3_string_to_sign(const struct fx_s3_request *req, const struct fx_s3_credentials *cred,
			 char **out);

/**
 * Sign @req: derive HMAC("AWS4"+secret, date) -> region -> service ->
 * "aws4_request", HMAC the string to sign, and format
 * "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
 * SignedHeaders=a;b;c, Signature=<hex>" (one line, ", " separators).
 * Calls sodium_init() itself.
 * @return 0, the errors of fx_s3_canonical_request(), -EINVAL (missing key
 * id or secret, secret longer than FX_S3_SECRET_MAX), -ENAMETOOLONG (the
 * header exceeds FX_S3_AUTH_MAX), -EIO (sodium_init failed).
 * @out is written only on success.
 */
int fx_s3_sign(const struct fx_s3_request *req, const struct fx_s3_credentials *cred,
	       struct fx_s3_signed *out);

/** Lower-case hex SHA-256 of @len bytes at @data into @out (NUL-terminated). */
void fx_s3_sha256_hex(const void *data, size_t len, char out[FX_S3_SHA256_HEX_LEN + 1]);

/**
 * Lower-case hex SHA-256 of the @len bytes of @fd starting at @offset, read
 * with pread (the file offset is not moved), for x-amz-content-sha256 of an
 * upload or a multipart part.
 * @return 0, -errno of pread, -EIO if the file ends before @offset + @len,
 * -ENOMEM, -EINVAL (negative fd, offset + len overflows). @out is written only
 * on success.
 */
int fx_s3_sha256_fd(int fd, uint64_t offset, uint64_t len, char out[FX_S3_SHA256_HEX_LEN + 1]);

#endif /* FX_BACKENDS_S3_SIGN_H */
