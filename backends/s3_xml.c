/*
 * s3_xml.c - S3 XML responses parsed with expat, as streams (see s3_xml.h).
 *
 * Owns: one small path-matching layer over expat (struct fx_xml_doc) that
 * collects the text of the elements a document cares about, and the parsers
 * built on it: ListObjectsV2, <Error>, InitiateMultipartUpload,
 * CompleteMultipartUpload, DeleteObjects; the S3 error -> errno table;
 * S3 timestamps; escaping text for request bodies.
 * Does not own: HTTP, signing or retries (s3.c).
 *
 * encoding-type=url: AWS form-encodes keys (space -> '+', '+' -> "%2B",
 * non-ASCII -> %XX of the UTF-8 bytes); radosgw and minio write "%20" and
 * "%2B". Neither ever sends a bare '+' for a '+', so decoding '+' as a space
 * and %XX as a byte is right for all of them.
 */
#include "backends/s3_xml.h"

#include <ctype.h>
#include <errno.h>
#include <expat.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Longest element text kept: a 1024-byte key is <= 3072 bytes percent-encoded. */
#define FX_XML_TEXT_MAX	 4096
#define FX_XML_DEPTH_MAX 8
#define FX_XML_PATH_MAX	 192

/* ------------------------------------------------- path-matching document */

/* One parse. Elements are named by their path from the root, "A/B/C", with
 * namespace prefixes dropped; on_end() is called at the end of each element
 * whose path is in paths[], with the text of that element (leaves only). */
struct fx_xml_doc {
	XML_Parser xp;
	const char *const *paths; /* NULL-terminated */
	int (*on_end)(void *ctx, int which, const char *text, size_t len);
	void *ctx;
	bool truncate; /* over-long text is cut (error bodies) instead of -EPROTO */
	bool started;  /* a non-blank byte was seen (S3 may send blanks first) */
	bool collecting, text_over;
	unsigned depth;
	int err; /* first failure or the callback's stop value; sticky */
	char root[40];
	char path[FX_XML_PATH_MAX];
	size_t plen[FX_XML_DEPTH_MAX + 1]; /* SIZE_MAX: path too long to match */
	int match[FX_XML_DEPTH_MAX + 1];   /* index in paths[] or -1 */
	size_t text_len;
	char text[FX_XML_TEXT_MAX + 1];
};

static void doc_fail(struct fx_xml_doc *doc, int err)
{
	if (!doc->err)
		doc->err = err;
	XML_StopParser(doc->xp, XML_FALSE);
}

static void XMLCALL doc_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct fx_xml_doc *doc = ud;
	const char *local = strrchr(name, ':');
	size_t at, n;
	unsigned d;
	int i;

	(void)attrs;
	local = local ? local + 1 : name;
	if (doc->depth == 0)
		snprintf(doc->root, sizeof(doc->root), "%s", local);
	d = ++doc->depth;
	doc->collecting = false;
	if (d > FX_XML_DEPTH_MAX)
		return;
	doc->match[d] = -1;
	at = doc->plen[d - 1];
	n = strlen(local);
	if (at == SIZE_MAX || at + n + 2 > sizeof(doc->path)) {
		doc->plen[d] = SIZE_MAX;
		return;
	}
	if (d > 1)
		doc->path[at++] = '/';
	memcpy(doc->path + at, local, n + 1);
	doc->plen[d] = at + n;
	for (i = 0; doc->paths[i]; i++) {
		if (strcmp(doc->paths[i], doc->path) == 0) {
			doc->match[d] = i;
			doc->collecting = true;
			doc->text_len = 0;
			doc->text_over = false;
			break;
		}
	}
}

static void XMLCALL doc_end(void *ud, const XML_Char *name)
{
	struct fx_xml_doc *doc = ud;
	int which = doc->depth <= FX_XML_DEPTH_MAX ? doc->match[doc->depth] : -1;
	int rc;

	(void)name;
	doc->depth--;
	doc->collecting = false;
	if (which < 0 || doc->err)
		return;
	if (doc->text_over && !doc->truncate) {
		doc_fail(doc, -EPROTO);
		return;
	}
	doc->text[doc->text_len] = '\0';
	rc = doc->on_end(doc->ctx, which, doc->text, doc->text_len);
	if (rc)
		doc_fail(doc, rc);
}

/* Text may arrive in any number of pieces; it is gathered per element. */
static void XMLCALL doc_text(void *ud, const XML_Char *s, int len)
{
	struct fx_xml_doc *doc = ud;
	size_t room = FX_XML_TEXT_MAX - doc->text_len;

	if (!doc->collecting || len <= 0)
		return;
	if ((size_t)len > room) {
		doc->text_over = true;
		len = (int)room;
	}
	memcpy(doc->text + doc->text_len, s, (size_t)len);
	doc->text_len += (size_t)len;
}

/* S3 never sends a DTD; refusing one rules out entity games. */
static void XMLCALL doc_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
				const XML_Char *pubid, int has_internal_subset)
{
	(void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
	doc_fail(ud, -EPROTO);
}

static int doc_init(struct fx_xml_doc *doc, const char *const *paths,
		    int (*on_end)(void *, int, const char *, size_t), void *ctx)
{
	memset(doc, 0, sizeof(*doc));
	doc->xp = XML_ParserCreate(NULL);
	if (!doc->xp)
		return -ENOMEM;
	doc->paths = paths;
	doc->on_end = on_end;
	doc->ctx = ctx;
	XML_SetUserData(doc->xp, doc);
	XML_SetElementHandler(doc->xp, doc_start, doc_end);
	XML_SetCharacterDataHandler(doc->xp, doc_text);
	XML_SetStartDoctypeDeclHandler(doc->xp, doc_doctype);
	return 0;
}

static void doc_destroy(struct fx_xml_doc *doc)
{
	XML_ParserFree(doc->xp);
}

static int doc_feed(struct fx_xml_doc *doc, const char *data, size_t len, bool final)
{
	int chunk;

	if (doc->err)
		return doc->err;
	while (!doc->started && len && isspace((unsigned char)*data))
		data++, len--;
	if (len)
		doc->started = true;
	if (!data)
		data = "";
	do {
		chunk = len > INT_MAX ? INT_MAX : (int)len;
		if (XML_Parse(doc->xp, data, chunk, final && (size_t)chunk == len) !=
		    XML_STATUS_OK) {
			if (!doc->err)
				doc->err = XML_GetErrorCode(doc->xp) == XML_ERROR_NO_MEMORY
					       ? -ENOMEM
					       : -EPROTO;
			return doc->err;
		}
		data += chunk;
		len -= (size_t)chunk;
	} while (len);
	return 0;
}

/* ------------------------------------------------------------ small parts */

static int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* @out has room for strlen(@in) + 1; a NUL byte cannot be a key. */
static int url_decode(const char *in, char *out)
{
	int hi, lo;

	for (; *in; in++) {
		if (*in == '+') {
			*out++ = ' ';
		} else if (*in == '%') {
			hi = hex_value((unsigned char)in[1]);
			lo = hi < 0 ? -1 : hex_value((unsigned char)in[2]);
			if (lo < 0 || (hi | lo) == 0)
				return -EPROTO;
			*out++ = (char)(hi << 4 | lo);
			in += 2;
		} else {
			*out++ = *in;
		}
	}
	*out = '\0';
	return 0;
}

static int parse_u64(const char *text, uint64_t *out)
{
	char *end;

	if (!isdigit((unsigned char)*text))
		return -EPROTO;
	errno = 0;
	*out = strtoull(text, &end, 10);
	return errno || *end ? -EPROTO : 0;
}

static int copy_text(char *dst, size_t n, const char *text, size_t len)
{
	if (len >= n)
		return -ENAMETOOLONG;
	memcpy(dst, text, len + 1);
	return 0;
}

/* ---------------------------------------------------------- ListObjectsV2 */

enum { L_KEY, L_MTIME, L_ETAG, L_SIZE, L_CONTENTS, L_PREFIX, L_TRUNC, L_TOKEN, L_ENC };
static const char *const fx_list_paths[] = {
    "ListBucketResult/Contents/Key",  "ListBucketResult/Contents/LastModified",
    "ListBucketResult/Contents/ETag", "ListBucketResult/Contents/Size",
    "ListBucketResult/Contents",      "ListBucketResult/CommonPrefixes/Prefix",
    "ListBucketResult/IsTruncated",   "ListBucketResult/NextContinuationToken",
    "ListBucketResult/EncodingType",  NULL,
};

struct fx_s3_list_parser {
	struct fx_xml_doc doc;
	fx_list_fn fn;
	void *arg;
	bool url_requested, url_encoded; /* asked for / in force */
	bool enc_seen;			 /* the answer had <EncodingType> */
	bool ambiguous;			 /* a key passed on had '%' or '+': encoding mattered */
	bool truncated, has_key;
	uint64_t size;
	int64_t mtime_ns;
	char etag[FX_ETAG_MAX];
	char key[FX_XML_TEXT_MAX + 1];
	char token[FX_XML_TEXT_MAX + 1];
};

static int list_take_key(struct fx_s3_list_parser *p, const char *text, size_t len)
{
	if (len == 0)
		return -EPROTO;
	if (strpbrk(text, "%+"))
		p->ambiguous = true;
	if (p->url_encoded)
		return url_decode(text, p->key);
	memcpy(p->key, text, len + 1);
	return 0;
}

static int list_emit(struct fx_s3_list_parser *p, bool is_prefix)
{
	struct fx_list_entry e = {.key = p->key, .is_prefix = is_prefix};
	int rc;

	if (!is_prefix) {
		e.size = p->size;
		e.mtime_ns = p->mtime_ns;
		e.etag = p->etag;
	}
	rc = p->fn(p->arg, &e);
	p->has_key = false;
	p->size = 0;
	p->mtime_ns = 0;
	p->etag[0] = '\0';
	return rc;
}

static int list_on_end(void *ctx, int which, const char *text, size_t len)
{
	struct fx_s3_list_parser *p = ctx;
	int rc;

	switch (which) {
	case L_KEY:
		p->has_key = true;
		return list_take_key(p, text, len);
	case L_MTIME:
		return fx_s3_parse_time(text, &p->mtime_ns) ? -EPROTO : 0;
	case L_ETAG:
		return copy_text(p->etag, sizeof(p->etag), text, len) ? -EPROTO : 0;
	case L_SIZE:
		return parse_u64(text, &p->size);
	case L_CONTENTS:
		return p->has_key ? list_emit(p, false) : -EPROTO;
	case L_PREFIX:
		rc = list_take_key(p, text, len);
		return rc ? rc : list_emit(p, true);
	case L_TRUNC:
		p->truncated = strcmp(text, "true") == 0;
		return 0;
	case L_TOKEN:
		memcpy(p->token, text, len + 1);
		return 0;
	case L_ENC:
		/* The answer decides; it may come after the entries, so keys
		 * already passed on must not have depended on the guess. */
		p->enc_seen = true;
		if ((strcmp(text, "url") == 0) != p->url_encoded) {
			if (p->ambiguous)
				return -EPROTO;
			p->url_encoded = !p->url_encoded;
		}
		return 0;
	}
	return 0;
}

struct fx_s3_list_parser *fx_s3_list_parser_new(fx_list_fn fn, void *arg, bool url_encoded)
{
	struct fx_s3_list_parser *p = calloc(1, sizeof(*p));

	if (!p || doc_init(&p->doc, fx_list_paths, list_on_end, p) != 0) {
		free(p);
		return NULL;
	}
	p->fn = fn;
	p->arg = arg;
	p->url_requested = p->url_encoded = url_encoded;
	return p;
}

int fx_s3_list_parser_feed(struct fx_s3_list_parser *p, const char *data, size_t len)
{
	return doc_feed(&p->doc, data, len, false);
}

int fx_s3_list_parser_finish(struct fx_s3_list_parser *p, char **next_token)
{
	char *token = NULL;
	int rc = doc_feed(&p->doc, "", 0, true);

	if (rc)
		return rc;
	if (strcmp(p->doc.root, "ListBucketResult") != 0)
		return -EPROTO;
	/* Asked for url encoding, got no sign of it, and it would have mattered:
	 * the server ignored encoding-type and some keys were mis-decoded. */
	if (p->url_requested && !p->enc_seen && p->ambiguous)
		return -EILSEQ;
	if (p->truncated) {
		if (!p->token[0])
			return -EPROTO;
		token = strdup(p->token);
		if (!token)
			return -ENOMEM;
	}
	*next_token = token;
	return 0;
}

void fx_s3_list_parser_free(struct fx_s3_list_parser *p)
{
	if (!p)
		return;
	doc_destroy(&p->doc);
	free(p);
}

/* ------------------------------------------------------ one-shot documents */

static int doc_run(const char *const *paths, int (*on_end)(void *, int, const char *, size_t),
		   void *ctx, bool truncate, const char *xml, size_t len, char *root, size_t n)
{
	struct fx_xml_doc doc;
	int rc = doc_init(&doc, paths, on_end, ctx);

	if (rc)
		return rc;
	doc.truncate = truncate;
	rc = doc_feed(&doc, xml, len, true);
	snprintf(root, n, "%s", doc.root);
	doc_destroy(&doc);
	return rc;
}

static const char *const fx_error_paths[] = {"Error/Code", "Error/Message", "Error/RequestId",
					     NULL};

static int error_on_end(void *ctx, int which, const char *text, size_t len)
{
	struct fx_s3_error *e = ctx;

	(void)len;
	if (which == 0)
		snprintf(e->code, sizeof(e->code), "%s", text);
	else if (which == 1)
		snprintf(e->message, sizeof(e->message), "%s", text);
	else
		snprintf(e->request_id, sizeof(e->request_id), "%s", text);
	return 0;
}

void fx_s3_parse_error(const char *xml, size_t len, struct fx_s3_error *out)
{
	char root[40];

	memset(out, 0, sizeof(*out));
	if (xml && len)
		(void)doc_run(fx_error_paths, error_on_end, out, true, xml, len, root,
			      sizeof(root));
}

/* Text of the one element a small document is read for, plus an <Error> code. */
struct fx_xml_value {
	bool found;
	char code[64];
	char text[FX_XML_TEXT_MAX + 1];
};

static int value_on_end(void *ctx, int which, const char *text, size_t len)
{
	struct fx_xml_value *v = ctx;

	if (which == 1) {
		snprintf(v->code, sizeof(v->code), "%s", text);
		return 0;
	}
	v->found = len > 0;
	memcpy(v->text, text, len + 1);
	return 0;
}

int fx_s3_parse_upload_id(const char *xml, size_t len, char *out, size_t n)
{
	static const char *const paths[] = {"InitiateMultipartUploadResult/UploadId", NULL};
	struct fx_xml_value v = {.found = false};
	char root[40];
	int rc = doc_run(paths, value_on_end, &v, false, xml, len, root, sizeof(root));

	if (rc)
		return rc;
	if (!v.found)
		return -EPROTO;
	return copy_text(out, n, v.text, strlen(v.text));
}

int fx_s3_parse_complete(const char *xml, size_t len, char *etag, size_t n)
{
	static const char *const paths[] = {"CompleteMultipartUploadResult/ETag", "Error/Code",
					    NULL};
	struct fx_xml_value v = {.found = false};
	char root[40];
	int rc = doc_run(paths, value_on_end, &v, false, xml, len, root, sizeof(root));

	if (rc)
		return rc;
	if (strcmp(root, "Error") == 0)
		return fx_s3_errno(200, v.code);
	if (strcmp(root, "CompleteMultipartUploadResult") != 0)
		return -EPROTO;
	/* radosgw 16 answers <ETag></ETag>; HEAD and LIST still give the real one. */
	if (!v.found) {
		if (n)
			etag[0] = '\0';
		return 0;
	}
	return copy_text(etag, n, v.text, strlen(v.text));
}

/* ----------------------------------------------------------- DeleteObjects */

#define FX_DEL_UNSET 1 /* not a valid result: no answer for this key yet */

enum { D_DELETED_KEY, D_DELETED, D_ERROR_KEY, D_ERROR_CODE, D_ERROR };
static const char *const fx_delete_paths[] = {
    "DeleteResult/Deleted/Key", "DeleteResult/Deleted", "DeleteResult/Error/Key",
    "DeleteResult/Error/Code",	"DeleteResult/Error",	NULL,
};

struct fx_delete_ctx {
	const char *const *keys;
	size_t n;
	int *results;
	char code[64];
	char key[FX_XML_TEXT_MAX + 1];
};

/* Keys may repeat in the request; every copy still waiting gets the answer. */
static void delete_apply(struct fx_delete_ctx *c, int result)
{
	size_t i;

	for (i = 0; i < c->n && c->key[0]; i++)
		if (c->results[i] == FX_DEL_UNSET && strcmp(c->keys[i], c->key) == 0)
			c->results[i] = result;
	c->key[0] = c->code[0] = '\0';
}

static int delete_on_end(void *ctx, int which, const char *text, size_t len)
{
	struct fx_delete_ctx *c = ctx;

	switch (which) {
	case D_DELETED_KEY:
	case D_ERROR_KEY:
		memcpy(c->key, text, len + 1);
		break;
	case D_ERROR_CODE:
		snprintf(c->code, sizeof(c->code), "%s", text);
		break;
	case D_DELETED:
		delete_apply(c, 0);
		break;
	case D_ERROR:
		delete_apply(c, fx_s3_errno(0, c->code));
		break;
	}
	return 0;
}

int fx_s3_parse_delete_result(const char *xml, size_t len, const char *const *keys, size_t n,
			      int *results)
{
	struct fx_delete_ctx c = {.keys = keys, .n = n, .results = results};
	char root[40];
	size_t i;
	int rc;

	for (i = 0; i < n; i++)
		results[i] = FX_DEL_UNSET;
	rc = doc_run(fx_delete_paths, delete_on_end, &c, false, xml, len, root, sizeof(root));
	if (!rc && strcmp(root, "DeleteResult") != 0)
		rc = -EPROTO;
	for (i = 0; i < n; i++)
		if (rc || results[i] == FX_DEL_UNSET)
			results[i] = -EIO;
	if (rc && rc != -ENOMEM)
		rc = -EPROTO;
	return rc;
}

/* ------------------------------------------------------------ S3 -> errno */

static const struct {
	const char *code;
	int err;
} fx_s3_codes[] = {
    {"NoSuchKey", ENOENT},
    {"NoSuchBucket", ENOENT},
    {"NoSuchUpload", ENOENT},
    {"AccessDenied", EACCES},
    {"SignatureDoesNotMatch", EACCES},
    {"InvalidAccessKeyId", EACCES},
    {"ExpiredToken", EACCES},
    {"InvalidToken", EACCES},
    {"SlowDown", EAGAIN},
    {"RequestTimeout", EAGAIN},
    {"InternalError", EAGAIN},
    {"ServiceUnavailable", EAGAIN},
    {"EntityTooLarge", EFBIG},
    {"InvalidRange", ERANGE},
    {"BucketNotEmpty", ENOTEMPTY},
    {"PreconditionFailed", ESTALE},
    {"NotImplemented", ENOTSUP},
    {"InvalidBucketName", EINVAL},
    {"KeyTooLongError", ENAMETOOLONG},
};

static const struct {
	long status;
	int err;
} fx_s3_statuses[] = {
    {400, EINVAL}, {403, EACCES}, {404, ENOENT},  {408, EAGAIN}, {412, ESTALE}, {416, ERANGE},
    {429, EAGAIN}, {500, EAGAIN}, {501, ENOTSUP}, {502, EAGAIN}, {503, EAGAIN}, {504, EAGAIN},
};

/* The code decides when it is known; else the status; else EIO. */
static int code_errno(long http_status, const char *code)
{
	size_t i;

	for (i = 0; code && i < sizeof(fx_s3_codes) / sizeof(fx_s3_codes[0]); i++)
		if (strcmp(code, fx_s3_codes[i].code) == 0)
			return fx_s3_codes[i].err;
	for (i = 0; i < sizeof(fx_s3_statuses) / sizeof(fx_s3_statuses[0]); i++)
		if (http_status == fx_s3_statuses[i].status)
			return fx_s3_statuses[i].err;
	return 0;
}

int fx_s3_errno(long http_status, const char *code)
{
	int err = code_errno(http_status, code);

	return err ? -err : -EIO;
}

bool fx_s3_retryable(long http_status, const char *code)
{
	int err = code_errno(http_status, code);

	/* 505..599 are not in the table but are server trouble all the same. */
	return err ? err == EAGAIN : http_status >= 505 && http_status <= 599;
}

/* ----------------------------------------------------------------- escape */

int fx_s3_xml_escape(const char *s, char **buf, size_t *len, size_t *cap)
{
	static const char *const entity[128] = {
	    ['&'] = "&amp;",   ['<'] = "&lt;",	['>'] = "&gt;",	  ['"'] = "&quot;",
	    ['\''] = "&apos;", ['\t'] = "&#9;", ['\n'] = "&#10;", ['\r'] = "&#13;",
	};
	const unsigned char *c;
	size_t need = *len + 1;
	char *grown, *o;

	/* Parsers fold "\r\n" to "\n" unless CR is a character reference; the
	 * other C0 controls cannot appear in XML 1.0 at all. */
	for (c = (const unsigned char *)s; *c; c++) {
		if (*c < 0x20 && !entity[*c])
			return -EINVAL;
		need += *c < 128 && entity[*c] ? strlen(entity[*c]) : 1;
	}
	if (need > *cap) {
		size_t ncap = *cap ? *cap : 256;

		while (ncap < need)
			ncap *= 2;
		grown = realloc(*buf, ncap);
		if (!grown)
			return -ENOMEM;
		*buf = grown;
		*cap = ncap;
	}
	o = *buf + *len;
	for (c = (const unsigned char *)s; *c; c++) {
		if (*c < 128 && entity[*c])
			o = stpcpy(o, entity[*c]);
		else
			*o++ = (char)*c;
	}
	*o = '\0';
	*len = (size_t)(o - *buf);
	return 0;
}

/* ------------------------------------------------------------------- time */

/* Exactly @n digits. */
static bool read_digits(const char **s, int n, int *out)
{
	int v = 0;

	for (; n > 0; n--, (*s)++) {
		if (!isdigit((unsigned char)**s))
			return false;
		v = v * 10 + (**s - '0');
	}
	*out = v;
	return true;
}

static bool read_lit(const char **s, const char *lit)
{
	size_t n = strlen(lit);

	if (strncmp(*s, lit, n) != 0)
		return false;
	*s += n;
	return true;
}

/* Index of the 3-letter name at @s in @names, or -1. */
static int name_index(const char *s, const char *names, int count)
{
	int i;

	for (i = 0; i < count; i++)
		if (strncmp(s, names + 3 * i, 3) == 0)
			return i;
	return -1;
}

int fx_s3_parse_time(const char *text, int64_t *out_ns)
{
	struct tm tm = {0}, chk;
	const char *s = text;
	int64_t frac = 0, scale = 100000000;
	int y = 0, mo = -1, d = 0, h = 0, mi = 0, sec = 0, oh = 0, om = 0, sign;
	bool iso, ok;
	time_t t;

	if (!s)
		return -EINVAL;
	iso = isdigit((unsigned char)*s);
	if (iso) { /* 2024-05-01T12:34:56[.789][Z|+hh:mm] */
		ok = read_digits(&s, 4, &y) && read_lit(&s, "-") && read_digits(&s, 2, &mo) &&
		     read_lit(&s, "-") && read_digits(&s, 2, &d) && read_lit(&s, "T");
		mo--;
	} else { /* Wed, 12 Oct 2009 17:50:00 GMT */
		ok = strlen(s) >= 8 && name_index(s, "SunMonTueWedThuFriSat", 7) >= 0;
		s += ok ? 3 : 0;
		ok = ok && read_lit(&s, ", ") && read_digits(&s, 2, &d) && read_lit(&s, " ") &&
		     strlen(s) >= 3 &&
		     (mo = name_index(s, "JanFebMarAprMayJunJulAugSepOctNovDec", 12)) >= 0;
		s += ok ? 3 : 0;
		ok = ok && read_lit(&s, " ") && read_digits(&s, 4, &y) && read_lit(&s, " ");
	}
	ok = ok && read_digits(&s, 2, &h) && read_lit(&s, ":") && read_digits(&s, 2, &mi) &&
	     read_lit(&s, ":") && read_digits(&s, 2, &sec);
	if (ok && iso && *s == '.' && isdigit((unsigned char)s[1]))
		for (s++; isdigit((unsigned char)*s); s++, scale /= 10)
			frac += (*s - '0') * scale; /* digits past ns add 0 */
	sign = *s == '+' ? -1 : *s == '-' ? 1 : 0;  /* to UTC */
	if (ok && iso && (sign || *s == 'Z'))
		s++;
	if (ok && iso && sign)
		ok = read_digits(&s, 2, &oh) && read_lit(&s, ":") && read_digits(&s, 2, &om) &&
		     oh < 24 && om < 60;
	if (ok && !iso)
		ok = read_lit(&s, " GMT");
	if (!ok || *s || mo < 0 || mo > 11 || d < 1 || h > 23 || mi > 59 || sec > 59)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	/* timegm normalises Feb 30 to Mar 2: a day that does not exist fails. */
	if (!gmtime_r(&t, &chk) || chk.tm_mon != mo)
		return -EINVAL;
	if (t > INT64_MAX / 1000000000 - 1 || t < INT64_MIN / 1000000000 + 1)
		return -ERANGE;
	t += sign * (oh * 3600 + om * 60);
	*out_ns = (int64_t)t * 1000000000 + frac;
	return 0;
}
