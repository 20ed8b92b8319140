/*
 * s3_sign.c - AWS Signature Version 4, see s3_sign.h.
 *
 * Owns: building the canonical request, string to sign and Authorization
 * header from a borrowed request description, and SHA-256 helpers.
 * Does not own: sending anything, credentials storage, or any cache: the
 * signing key is derived per call on the stack and wiped before returning.
 * Text is assembled in open_memstream() buffers, so no length is guessed.
 */
#include "backends/s3_sign.h"

#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FX_S3_ALGORITHM "AWS4-HMAC-SHA256"
#define FX_S3_FD_CHUNK	(64 * 1024)

/* ------------------------------------------------------------ encoding */

static bool unreserved(unsigned char c, bool encode_slash)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~' || (c == '/' && !encode_slash);
}

/* Writes the UriEncode of @in and a NUL to @out when non-NULL; returns its length. */
static size_t uri_encode(const char *in, bool encode_slash, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = 0;

	for (const unsigned char *s = (const unsigned char *)in; *s; s++) {
		char pct[3] = {'%', hex[*s >> 4], hex[*s & 15]};
		size_t k = unreserved(*s, encode_slash) ? 1 : 3;

		if (out)
			memcpy(out + len, k == 1 ? (const char *)s : pct, k);
		len += k;
	}
	if (out)
		out[len] = '\0';
	return len;
}

static char *encode_dup(const char *in, bool encode_slash)
{
	char *p = malloc(uri_encode(in, encode_slash, NULL) + 1);

	if (p)
		uri_encode(in, encode_slash, p);
	return p;
}

int fx_s3_uri_encode(const char *in, bool encode_slash, char *out, size_t n)
{
	size_t len;

	if (!in || !out)
		return -EINVAL;
	len = uri_encode(in, encode_slash, NULL);
	if (len >= n || len > INT_MAX)
		return -ENAMETOOLONG;
	uri_encode(in, encode_slash, out);
	return (int)len;
}

/* Closes a memstream; on any write failure frees its buffer. */
static int mem_close(FILE *f, char **buf)
{
	int bad = ferror(f);

	if (fclose(f) || bad) {
		free(*buf);
		*buf = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* ------------------------------------------------------- canonical parts */

struct fx_s3_kv {
	char *name;
	char *value;
	size_t order; /* position given by the caller */
};

/* Query: by encoded name, then encoded value (the order libcurl skips). */
static int param_cmp(const void *a, const void *b)
{
	const struct fx_s3_kv *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

/* Headers: by name; repeated names keep the caller's order ("a,b" != "b,a"). */
static int header_cmp(const void *a, const void *b)
{
	const struct fx_s3_kv *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : (x->order > y->order) - (x->order < y->order);
}

static void kv_free(struct fx_s3_kv *kv, size_t n)
{
	for (size_t i = 0; kv && i < n; i++) {
		free(kv[i].name);
		free(kv[i].value);
	}
	free(kv);
}

int fx_s3_query_string(const struct fx_s3_param *query, size_t n, char **out)
{
	struct fx_s3_kv *kv;
	char *buf = NULL;
	size_t i, size;
	FILE *f;
	int rc;

	if (!out || (n && !query))
		return -EINVAL;
	kv = calloc(n ? n : 1, sizeof(*kv));
	if (!kv)
		return -ENOMEM;
	for (i = 0, rc = 0; i < n && !rc; i++) {
		if (!query[i].name) {
			rc = -EINVAL;
			break;
		}
		kv[i].name = encode_dup(query[i].name, true);
		kv[i].value = encode_dup(query[i].value ? query[i].value : "", true);
		rc = kv[i].name && kv[i].value ? 0 : -ENOMEM;
	}
	f = rc ? NULL : open_memstream(&buf, &size);
	if (f) {
		qsort(kv, n, sizeof(*kv), param_cmp);
		for (i = 0; i < n; i++)
			fprintf(f, "%s%s=%s", i ? "&" : "", kv[i].name, kv[i].value);
		rc = mem_close(f, &buf);
	} else if (!rc) {
		rc = -ENOMEM;
	}
	kv_free(kv, n);
	if (!rc)
		*out = buf;
	return rc;
}

/* Lower-case copy of a header name; NULL if empty or unsafe on the wire. */
static char *header_name(const char *s)
{
	char *p;

	if (!s || !*s || strpbrk(s, "\r\n: \t"))
		return NULL;
	p = strdup(s);
	for (size_t i = 0; p && p[i]; i++)
		if (p[i] >= 'A' && p[i] <= 'Z')
			p[i] = (char)(p[i] - 'A' + 'a');
	return p;
}

/* SigV4 "Trimall": strip both ends, squeeze inner runs of blanks to one ' '. */
static char *header_value(const char *s)
{
	char *p, *d;

	if (!s || strpbrk(s, "\r\n"))
		return NULL;
	while (*s == ' ' || *s == '\t')
		s++;
	p = d = malloc(strlen(s) + 1);
	for (; p && *s; s++) {
		bool blank = *s == ' ' || *s == '\t';

		if (blank && (s[1] == ' ' || s[1] == '\t' || !s[1]))
			continue;
		*d++ = blank ? ' ' : *s;
	}
	if (p)
		*d = '\0';
	return p;
}

/* Everything derived from a request before hashing. */
struct fx_s3_canon {
	struct fx_s3_kv *hdr; /* sorted, lower-cased, trimmed; x-amz-date added */
	size_t n_hdr;
	char *path;  /* encoded */
	char *query; /* canonical query string */
	char amz_date[FX_S3_AMZ_DATE_LEN + 1];
	char date[9];
	const char *service;
};

static void canon_free(struct fx_s3_canon *c)
{
	kv_free(c->hdr, c->n_hdr);
	free(c->path);
	free(c->query);
}

/* Appends a normalised header. An allocation failure also reads as -EINVAL:
 * unlikely, harmless, and it keeps the validation in one place. */
static int canon_add_header(struct fx_s3_canon *c, const char *name, const char *value)
{
	struct fx_s3_kv *h = &c->hdr[c->n_hdr];

	h->name = header_name(name);
	h->value = header_value(value);
	h->order = c->n_hdr++;
	return h->name && h->value ? 0 : -EINVAL;
}

static int canon_build(const struct fx_s3_request *req, const struct fx_s3_credentials *cred,
		       struct fx_s3_canon *c)
{
	bool have_host = false;
	struct tm tm;
	int rc = 0;

	memset(c, 0, sizeof(*c));
	if (!req || !req->method || !*req->method || !req->path || req->path[0] != '/' ||
	    !req->payload_sha256 || !req->region || (req->n_headers && !req->headers))
		return -EINVAL;
	c->service = req->service ? req->service : "s3";
	if (!gmtime_r(&req->when, &tm) || tm.tm_year + 1900 < 0 ||
	    !strftime(c->amz_date, sizeof(c->amz_date), "%Y%m%dT%H%M%SZ", &tm))
		return -EINVAL; /* strftime fails past year 9999: it does not fit */
	memcpy(c->date, c->amz_date, 8);

	c->hdr = calloc(req->n_headers + 2, sizeof(*c->hdr));
	if (!c->hdr)
		return -ENOMEM;
	for (size_t i = 0; i < req->n_headers && !rc; i++) {
		rc = canon_add_header(c, req->headers[i].name, req->headers[i].value);
		if (!rc && (!strcmp(c->hdr[i].name, "x-amz-date") ||
			    !strcmp(c->hdr[i].name, "x-amz-security-token")))
			rc = -EINVAL; /* the signer owns these two */
		have_host |= !rc && !strcmp(c->hdr[i].name, "host");
	}
	if (!rc && !have_host)
		rc = -EINVAL;
	if (!rc)
		rc = canon_add_header(c, "x-amz-date", c->amz_date);
	if (!rc && cred && cred->session_token && *cred->session_token)
		rc = canon_add_header(c, "x-amz-security-token", cred->session_token);
	if (!rc) {
		qsort(c->hdr, c->n_hdr, sizeof(*c->hdr), header_cmp);
		c->path = encode_dup(req->path, false);
		rc = c->path ? fx_s3_query_string(req->query, req->n_query, &c->query) : -ENOMEM;
	}
	if (rc)
		canon_free(c);
	return rc;
}

static void put_signed_headers(FILE *f, const struct fx_s3_canon *c)
{
	for (size_t i = 0; i < c->n_hdr; i++)
		if (!i || strcmp(c->hdr[i].name, c->hdr[i - 1].name))
			fprintf(f, "%s%s", i ? ";" : "", c->hdr[i].name);
}

static void put_canonical_request(FILE *f, const struct fx_s3_request *req,
				  const struct fx_s3_canon *c)
{
	fprintf(f, "%s\n%s\n%s\n", req->method, c->path, c->query);
	for (size_t i = 0; i < c->n_hdr; i++) {
		if (i && !strcmp(c->hdr[i].name, c->hdr[i - 1].name))
			fprintf(f, ",%s", c->hdr[i].value); /* repeated header */
		else
			fprintf(f, "%s%s:%s", i ? "\n" : "", c->hdr[i].name, c->hdr[i].value);
	}
	fputs("\n\n", f);
	put_signed_headers(f, c);
	fprintf(f, "\n%s", req->payload_sha256);
}

/* The canonical request (@sts false) or the string to sign, malloc'd. */
static int render(const struct fx_s3_request *req, const struct fx_s3_canon *c, bool sts,
		  char **out, size_t *len)
{
	char hash[FX_S3_SHA256_HEX_LEN + 1], *creq = NULL;
	size_t n;
	FILE *f;
	int rc;

	f = open_memstream(&creq, &n);
	if (!f)
		return -ENOMEM;
	put_canonical_request(f, req, c);
	rc = mem_close(f, &creq);
	if (rc || !sts) {
		*out = creq;
		*len = n;
		return rc;
	}
	fx_s3_sha256_hex(creq, n, hash);
	free(creq);
	f = open_memstream(out, len);
	if (!f)
		return -ENOMEM;
	fprintf(f, FX_S3_ALGORITHM "\n%s\n%s/%s/%s/aws4_request\n%s", c->amz_date, c->date,
		req->region, c->service, hash);
	return mem_close(f, out);
}

static int render_public(const struct fx_s3_request *req, const struct fx_s3_credentials *cred,
			 bool sts, char **out)
{
	struct fx_s3_canon c;
	char *text = NULL;
	size_t len;
	int rc;

	if (!out)
		return -EINVAL;
	rc = canon_build(req, cred, &c);
	if (rc)
		return rc;
	rc = render(req, &c, sts, &text, &len);
	canon_free(&c);
	if (!rc)
		*out = text;
	return rc;
}

int fx_s3_canonical_request(const struct fx_s3_request *req, const struct fx_s3_credentials *cred,
			    char **out)
{
	return render_public(req, cred, false, out);
}

int fx_s3_string_to_sign(const struct fx_s3_request *req, const struct fx_s3_credentials *cred,
			 char **out)
{
	return render_public(req, cred, true, out);
}

/* ------------------------------------------------------------- signing */

static void hmac_sha256(unsigned char out[crypto_auth_hmacsha256_BYTES], const unsigned char *key,
			size_t keylen, const char *msg, size_t len)
{
	crypto_auth_hmacsha256_state st;

	/* The _init API because the first key ("AWS4"+secret) is not 32 bytes. */
	crypto_auth_hmacsha256_init(&st, key, keylen);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, len);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

int fx_s3_sign(const struct fx_s3_request *req, const struct fx_s3_credentials *cred,
	       struct fx_s3_signed *out)
{
	unsigned char kbuf[4 + FX_S3_SECRET_MAX];
	unsigned char k1[crypto_auth_hmacsha256_BYTES], k2[crypto_auth_hmacsha256_BYTES];
	char sig[FX_S3_SHA256_HEX_LEN + 1], *sts = NULL, *auth = NULL;
	struct fx_s3_canon c;
	size_t slen, sts_len, auth_len;
	FILE *f;
	int rc;

	if (!out || !cred || !cred->access_key_id || !*cred->access_key_id ||
	    !cred->secret_access_key)
		return -EINVAL;
	slen = strlen(cred->secret_access_key);
	if (!slen || slen > FX_S3_SECRET_MAX)
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	rc = canon_build(req, cred, &c);
	if (rc)
		return rc;
	rc = render(req, &c, true, &sts, &sts_len);
	if (rc)
		goto out_canon;

	/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service),
	 * "aws4_request"); two buffers so no HMAC reads the key it is writing. */
	memcpy(kbuf, "AWS4", 4);
	memcpy(kbuf + 4, cred->secret_access_key, slen);
	hmac_sha256(k1, kbuf, 4 + slen, c.date, strlen(c.date));
	hmac_sha256(k2, k1, sizeof(k1), req->region, strlen(req->region));
	hmac_sha256(k1, k2, sizeof(k2), c.service, strlen(c.service));
	hmac_sha256(k2, k1, sizeof(k1), "aws4_request", strlen("aws4_request"));
	hmac_sha256(k1, k2, sizeof(k2), sts, sts_len);
	sodium_bin2hex(sig, sizeof(sig), k1, sizeof(k1));
	sodium_memzero(kbuf, sizeof(kbuf));
	sodium_memzero(k2, sizeof(k2));

	rc = -ENOMEM;
	f = open_memstream(&auth, &auth_len);
	if (!f)
		goto out_sts;
	fprintf(f, FX_S3_ALGORITHM " Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=",
		cred->access_key_id, c.date, req->region, c.service);
	put_signed_headers(f, &c);
	fprintf(f, ", Signature=%s", sig);
	rc = mem_close(f, &auth);
	if (!rc && auth_len >= sizeof(out->authorization))
		rc = -ENAMETOOLONG;
	if (!rc) {
		memcpy(out->amz_date, c.amz_date, sizeof(out->amz_date));
		memcpy(out->authorization, auth, auth_len + 1);
	}
	free(auth);
out_sts:
	free(sts);
out_canon:
	canon_free(&c);
	return rc;
}

/* ------------------------------------------------------------- hashing */

void fx_s3_sha256_hex(const void *data, size_t len, char out[FX_S3_SHA256_HEX_LEN + 1])
{
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, data ? data : (const void *)"", data ? len : 0);
	sodium_bin2hex(out, FX_S3_SHA256_HEX_LEN + 1, h, sizeof(h));
}

/* A payload is hashed with OpenSSL's SHA-256, which uses the CPU's SHA
 * instructions (1.7 GB/s here against libsodium's portable 315 MB/s): for an
 * upload it was 58% of the daemon's CPU. The signature itself (small
 * strings) stays with libsodium. */
int fx_s3_sha256_fd(int fd, uint64_t offset, uint64_t len, char out[FX_S3_SHA256_HEX_LEN + 1])
{
	unsigned char h[EVP_MAX_MD_SIZE], *buf;
	unsigned int hlen = 0;
	EVP_MD_CTX *ctx;
	int rc = 0;

	if (fd < 0 || !out || offset + len < offset || offset + len > (uint64_t)INT64_MAX)
		return -EINVAL;
	buf = malloc(FX_S3_FD_CHUNK);
	ctx = EVP_MD_CTX_new();
	if (!buf || !ctx) {
		rc = -ENOMEM;
		goto out;
	}
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		rc = -EIO;
		goto out;
	}
	while (len) {
		size_t want = len < FX_S3_FD_CHUNK ? (size_t)len : FX_S3_FD_CHUNK;
		ssize_t got = pread(fd, buf, want, (off_t)offset);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			rc = got < 0 ? -errno : -EIO; /* -EIO: file shorter than the region */
			goto out;
		}
		if (EVP_DigestUpdate(ctx, buf, (size_t)got) != 1) {
			rc = -EIO;
			goto out;
		}
		offset += (uint64_t)got;
		len -= (uint64_t)got;
	}
	if (EVP_DigestFinal_ex(ctx, h, &hlen) != 1 || hlen != crypto_hash_sha256_BYTES) {
		rc = -EIO;
		goto out;
	}
	sodium_bin2hex(out, FX_S3_SHA256_HEX_LEN + 1, h, hlen);
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	return rc;
}
