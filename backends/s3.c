/*
 * s3.c - the s3:// backend: S3-compatible object stores over libcurl.
 *
 * Owns: s3://BUCKET[/PREFIX] URLs and the [s3] settings, bucket-name and
 * endpoint validation, one curl easy handle per worker thread (each keeps its
 * keep-alive connections), request signing through s3_sign.c, retries with
 * full jitter for idempotent requests, and the S3 operations behind the
 * backend vtable: HeadObject, ranged GetObject, ListObjectsV2 (url-encoded,
 * parsed as a stream), PutObject (multipart with parallel parts for large
 * objects), CopyObject with metadata REPLACE, DeleteObject.
 * Does not own: XML details (s3_xml.c), credentials (s3_creds.c), signing
 * (s3_sign.c).
 */
#define FX_LOG_MODULE "s3"
#include "backends/backend.h"

#include <ctype.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "backends/backend_i.h"
#include "backends/s3.h"
#include "backends/s3_creds.h"
#include "backends/s3_sign.h"
#include "backends/s3_xml.h"
#include "core/log.h"
#include "core/retry.h"

extern char **environ;

#define FX_S3_MAX_PARTS 10000
#define FX_S3_HEADERS_MAX 24
#define FX_S3_URL_MAX (FX_KEY_MAX * 3 + 512)
#define FX_S3_RECV_BUF (256L << 10) /* curl's receive buffer for block GETs */

const struct fx_conf_key fx_s3_conf_keys[] = {
	{ "s3", "endpoint", FX_CONF_STRING, NULL, 1, 0, NULL, "endpoint",
	  "S3 endpoint URL, e.g. http://127.0.0.1:9000 (default https://s3.REGION.amazonaws.com)" },
	{ "s3", "region", FX_CONF_STRING, "us-east-1", 1, 0, NULL, "region", "region to sign for" },
	{ "s3", "path_style", FX_CONF_BOOL, "false", 1, 0, NULL, "use_path_request_style",
	  "address buckets as ENDPOINT/BUCKET (needed by most non-AWS servers)" },
	/* Explicit keys come first in the credentials chain (s3_creds.h). */
	{ "s3", "access_key_id", FX_CONF_STRING, NULL, 1, 0, NULL, "access_key_id",
	  "access key id; with secret_access_key, first in the credentials chain" },
	{ "s3", "secret_access_key", FX_CONF_SECRET, NULL, 1, 0, NULL, "secret_access_key",
	  "secret key of access_key_id (held in locked memory, never printed)" },
	{ "s3", "session_token", FX_CONF_SECRET, NULL, 1, 0, NULL, "session_token",
	  "STS session token issued with access_key_id (never printed)" },
	{ "s3", "profile", FX_CONF_STRING, NULL, 1, 0, NULL, "profile",
	  "profile in ~/.aws/credentials (default $AWS_PROFILE or 'default')" },
	{ "s3", "passwd_file", FX_CONF_STRING, NULL, 1, 0, NULL, "passwd_file",
	  "s3fs-style ACCESS:SECRET file, mode 0600" },
	{ "s3", "public_bucket", FX_CONF_BOOL, "false", 1, 0, NULL, "public_bucket",
	  "send unsigned (anonymous) requests" },
	{ "s3", "connect_timeout_s", FX_CONF_FLOAT, "10", 0.1, 600, NULL, "connect_timeout",
	  "seconds to establish a connection" },
	{ "s3", "stall_timeout_s", FX_CONF_FLOAT, "30", 1, 3600, NULL, "stall_timeout",
	  "abandon a transfer slower than 1 KiB/s for this many seconds" },
	{ "s3", "multipart_threshold", FX_CONF_SIZE, "64M", 5.0 * 1024 * 1024, 5.0 * 1024 * 1024 * 1024,
	  NULL, "multipart_threshold", "objects at least this large are uploaded in parts" },
	{ "s3", "part_size", FX_CONF_SIZE, "8M", 5.0 * 1024 * 1024, 5.0 * 1024 * 1024 * 1024, NULL,
	  "part_size", "size of one multipart part (grown to stay under 10,000 parts)" },
	{ NULL, NULL, 0, NULL, 0, 0, NULL, NULL, NULL },
};

struct fx_s3 {
	char *scheme_host; /* "http://127.0.0.1:9000" or "https://bucket.s3.x.amazonaws.com" */
	char *host;        /* Host header value */
	char *bucket;
	char *prefix;      /* "" or "dir/" inside the bucket */
	char *region;
	bool path_style;
	struct fx_s3_creds *creds;
	struct fx_retry_policy retry;
	long connect_timeout_ms, stall_s, deadline_ms;
	uint64_t multipart_threshold, part_size;
	unsigned concurrency;
	pthread_key_t curl_key; /* this thread's easy handle */
	atomic_bool list_raw;   /* the server ignores encoding-type=url: list without it */
	struct fx_s3_page *opening; /* the root page open() listed, until taken */
	char *opening_token;	    /* ... and the token of the page after it */
};

/* The Date header of the last response this thread received, and the local
 * time it arrived (fx_s3_last_date in s3.h). Per thread, as requests are. */
static _Thread_local struct {
	bool seen;
	int64_t server_s;
	double local_s;
} fx_s3_date;

int fx_s3_last_date(int64_t *server_s, double *local_s)
{
	if (!fx_s3_date.seen)
		return -ENOENT;
	*server_s = fx_s3_date.server_s;
	*local_s = fx_s3_date.local_s;
	return 0;
}

static void fx_s3_note_date(const char *value)
{
	struct timespec now;
	int64_t ns;

	if (fx_s3_parse_time(value, &ns) != 0 || clock_gettime(CLOCK_REALTIME, &now) != 0)
		return;
	fx_s3_date.server_s = ns / 1000000000;
	fx_s3_date.local_s = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
	fx_s3_date.seen = true;
}

/* ------------------------------------------------------------ validation */

/* S3 bucket naming rules; @rule receives the one that failed. */
static bool fx_s3_bucket_valid(const char *b, const char **rule)
{
	size_t n = strlen(b);
	bool all_digits_dots = true;

	if (n < 3 || n > 63)
		return *rule = "must be 3 to 63 characters long", false;
	for (size_t i = 0; i < n; i++) {
		if (!(islower((unsigned char)b[i]) || isdigit((unsigned char)b[i]) || b[i] == '.' ||
		      b[i] == '-'))
			return *rule = "may hold only lower-case letters, digits, '.' and '-'", false;
		if (!isdigit((unsigned char)b[i]) && b[i] != '.')
			all_digits_dots = false;
	}
	if (!isalnum((unsigned char)b[0]) || !isalnum((unsigned char)b[n - 1]))
		return *rule = "must begin and end with a letter or digit", false;
	if (strstr(b, ".."))
		return *rule = "must not contain two adjacent periods", false;
	if (all_digits_dots)
		return *rule = "must not be formatted as an IP address", false;
	if (strncmp(b, "xn--", 4) == 0)
		return *rule = "must not start with 'xn--'", false;
	if (n > 8 && strcmp(b + n - 8, "-s3alias") == 0)
		return *rule = "must not end with '-s3alias'", false;
	return true;
}

/* "http(s)://host[:port]" without path; fills scheme_host and host. */
static int fx_s3_endpoint(struct fx_s3 *s3, const char *endpoint, struct fx_diag *d)
{
	const char *host = NULL;
	size_t hl;

	if (strncmp(endpoint, "http://", 7) == 0)
		host = endpoint + 7;
	else if (strncmp(endpoint, "https://", 8) == 0)
		host = endpoint + 8;
	hl = host ? strcspn(host, "/?#") : 0;
	if (!host || hl == 0 || (host[hl] && strcmp(host + hl, "/") != 0) || strchr(host, '@')) {
		fx_diag_set(d, -FX_EBADURL, "write it as http://HOST[:PORT] or https://HOST[:PORT]",
			    "bad S3 endpoint '%s' (scheme, host and port only)", endpoint);
		return -FX_EBADURL;
	}
	for (size_t i = 0; i < hl; i++) {
		if (!isalnum((unsigned char)host[i]) && !strchr(".-:[]", host[i])) {
			fx_diag_set(d, -FX_EBADURL, "write it as http://HOST[:PORT]",
				    "bad S3 endpoint '%s' (character '%c' in the host)", endpoint, host[i]);
			return -FX_EBADURL;
		}
	}
	if (s3->path_style) {
		s3->host = strndup(host, hl);
		if (asprintf(&s3->scheme_host, "%.*s%.*s", (int)(host - endpoint), endpoint, (int)hl,
			     host) < 0)
			s3->scheme_host = NULL;
	} else {
		if (asprintf(&s3->host, "%s.%.*s", s3->bucket, (int)hl, host) < 0)
			s3->host = NULL;
		if (asprintf(&s3->scheme_host, "%.*s%s", (int)(host - endpoint), endpoint, s3->host ? s3->host : "") < 0)
			s3->scheme_host = NULL;
	}
	return s3->host && s3->scheme_host ? 0 : -ENOMEM;
}

/* ------------------------------------------------------------ requests */

struct fx_s3_call {
	/* request */
	const char *method;
	const char *key;            /* object key below the prefix, or NULL: the bucket */
	struct fx_s3_param query[8];
	size_t n_query;
	struct fx_s3_header headers[FX_S3_HEADERS_MAX];
	size_t n_headers;
	char *owned[FX_S3_HEADERS_MAX]; /* header strings this call allocated */
	size_t n_owned;
	int body_fd;                /* upload source, or -1 */
	uint64_t body_off, body_len;
	const char *body_mem;       /* or an in-memory body */
	bool idempotent;
	/* response sinks: across @iov (ranged GET), a growing memory body, or a parser */
	const struct iovec *iov; /* buf_len bytes in all */
	int iov_at;              /* the buffer being filled, */
	size_t iov_off;          /* and where in it */
	size_t buf_len, buf_used;
	char *mem;
	size_t mem_len, mem_cap, mem_max;
	struct fx_s3_list_parser *parser;
	int parser_err;
	/* response */
	long status;
	struct fx_object_info *info; /* headers of interest land here when set */
	uint64_t upload_pos;
	double retry_after_s;
	char content_type[128];
	/* called before every retry to undo what the failed attempt delivered */
	int (*restart)(struct fx_s3_call *c, void *arg);
	void *restart_arg;
};

static int fx_call_header(struct fx_s3_call *c, const char *name, const char *value)
{
	if (c->n_headers == FX_S3_HEADERS_MAX)
		return -E2BIG;
	c->headers[c->n_headers++] = (struct fx_s3_header){ name, value };
	return 0;
}

/* Add a header whose name and value are formatted into memory the call owns. */
static int fx_call_header_own(struct fx_s3_call *c, char *name, char *value)
{
	if (!name || !value || c->n_owned + 2 > FX_S3_HEADERS_MAX) {
		free(name);
		free(value);
		return -ENOMEM;
	}
	c->owned[c->n_owned++] = name;
	c->owned[c->n_owned++] = value;
	return fx_call_header(c, name, value);
}

static void fx_call_free(struct fx_s3_call *c)
{
	for (size_t i = 0; i < c->n_owned; i++)
		free(c->owned[i]);
	free(c->mem);
}

/* Metadata pairs become x-amz-meta-NAME headers. */
static int fx_call_meta(struct fx_s3_call *c, const struct fx_meta *m)
{
	for (size_t i = 0; m && i < m->n; i++) {
		char *name = NULL;
		int ret;

		if (asprintf(&name, "x-amz-meta-%s", m->kv[i].name) < 0)
			return -ENOMEM;
		ret = fx_call_header_own(c, name, strdup(m->kv[i].value));
		if (ret < 0)
			return ret;
	}
	return 0;
}

static size_t fx_on_body(char *data, size_t size, size_t n, void *arg)
{
	struct fx_s3_call *c = arg;
	size_t len = size * n;

	if (c->status >= 300 || !(c->iov || c->parser)) { /* error documents, small answers */
		if (c->mem_len + len > c->mem_max)
			return 0; /* abort: larger than any answer we expect */
		if (c->mem_len + len + 1 > c->mem_cap) {
			size_t cap = (c->mem_len + len + 1) * 2;
			char *p = realloc(c->mem, cap);

			if (!p)
				return 0;
			c->mem = p;
			c->mem_cap = cap;
		}
		memcpy(c->mem + c->mem_len, data, len);
		c->mem_len += len;
		c->mem[c->mem_len] = '\0';
		return len;
	}
	if (c->parser) {
		int ret = fx_s3_list_parser_feed(c->parser, data, len);

		if (ret < 0) {
			c->parser_err = ret;
			return 0;
		}
		return len;
	}
	if (len > c->buf_len - c->buf_used)
		len = c->buf_len - c->buf_used; /* the server sent more than the range */
	c->buf_used += len;
	while (len) {
		const struct iovec *v = &c->iov[c->iov_at];
		size_t part = v->iov_len - c->iov_off < len ? v->iov_len - c->iov_off : len;

		memcpy((char *)v->iov_base + c->iov_off, data, part);
		data += part;
		len -= part;
		c->iov_off += part;
		if (c->iov_off == v->iov_len) {
			c->iov_at++;
			c->iov_off = 0;
		}
	}
	return size * n;
}

static size_t fx_on_header(char *line, size_t size, size_t n, void *arg)
{
	struct fx_s3_call *c = arg;
	size_t len = size * n, nl;
	char *colon = memchr(line, ':', len), value[FX_META_VALUE_MAX + 1], name[160];

	if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		/* A (new) response: its status decides where the body goes, so an
		 * error document never lands in a reader's buffer or a parser. */
		const char *sp = memchr(line, ' ', len);

		c->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		return len;
	}
	if (!colon || (size_t)(colon - line) >= sizeof(name))
		return len;
	nl = (size_t)(colon - line);
	memcpy(name, line, nl);
	name[nl] = '\0';
	colon++;
	while (colon < line + len && (*colon == ' ' || *colon == '\t'))
		colon++;
	nl = (size_t)(line + len - colon);
	while (nl && (colon[nl - 1] == '\r' || colon[nl - 1] == '\n' || colon[nl - 1] == ' '))
		nl--;
	if (nl > FX_META_VALUE_MAX)
		return len;
	memcpy(value, colon, nl);
	value[nl] = '\0';
	if (strcasecmp(name, "retry-after") == 0) {
		c->retry_after_s = atof(value);
	} else if (strcasecmp(name, "date") == 0) {
		fx_s3_note_date(value);
	} else if (strcasecmp(name, "content-type") == 0) {
		if (nl < sizeof(c->content_type))
			memcpy(c->content_type, value, nl + 1);
	} else if (c->info) {
		if (strcasecmp(name, "content-length") == 0)
			c->info->size = strtoull(value, NULL, 10);
		else if (strcasecmp(name, "etag") == 0 && nl < sizeof(c->info->etag))
			memcpy(c->info->etag, value, nl + 1);
		else if (strcasecmp(name, "last-modified") == 0)
			fx_s3_parse_time(value, &c->info->mtime_ns);
		else if (strncasecmp(name, "x-amz-meta-", 11) == 0) {
			for (char *p = name + 11; *p; p++)
				*p = (char)tolower((unsigned char)*p);
			fx_meta_set(&c->info->meta, name + 11, value);
		}
	}
	return len;
}

static size_t fx_on_upload(char *out, size_t size, size_t n, void *arg)
{
	struct fx_s3_call *c = arg;
	uint64_t left = c->body_len - c->upload_pos;
	size_t want = size * n < left ? size * n : (size_t)left;
	ssize_t got;

	if (want == 0)
		return 0;
	if (c->body_mem) {
		memcpy(out, c->body_mem + c->upload_pos, want);
		got = (ssize_t)want;
	} else {
		got = pread(c->body_fd, out, want, (off_t)(c->body_off + c->upload_pos));
		if (got <= 0)
			return CURL_READFUNC_ABORT; /* staged file shrank or failed */
	}
	c->upload_pos += (uint64_t)got;
	return (size_t)got;
}

static int fx_on_seek(void *arg, curl_off_t offset, int origin)
{
	struct fx_s3_call *c = arg;

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > c->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	c->upload_pos = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

static int fx_curl_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return -ECONNRESET;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
		return -EPROTO;
	default:
		return -EIO;
	}
}

static CURL *fx_s3_handle(struct fx_s3 *s3)
{
	CURL *h = pthread_getspecific(s3->curl_key);

	if (h) {
		curl_easy_reset(h); /* keeps the connection cache */
		return h;
	}
	h = curl_easy_init();
	if (h && pthread_setspecific(s3->curl_key, h) != 0) {
		curl_easy_cleanup(h);
		h = NULL;
	}
	return h;
}

static void fx_s3_handle_free(void *h)
{
	curl_easy_cleanup(h);
}

/* The request path: "/BUCKET/PREFIXKEY" (path style) or "/PREFIXKEY". */
static int fx_s3_path(const struct fx_s3 *s3, const char *key, char *out, size_t n)
{
	int len;

	if (!key)
		len = s3->path_style ? snprintf(out, n, "/%s/", s3->bucket) : snprintf(out, n, "/");
	else
		len = s3->path_style ? snprintf(out, n, "/%s/%s%s", s3->bucket, s3->prefix, key)
				     : snprintf(out, n, "/%s%s", s3->prefix, key);
	return len < 0 || (size_t)len >= n ? -ENAMETOOLONG : 0;
}

/* One attempt. @return 0 with c->status set, or a transport -errno. */
static int fx_s3_attempt(struct fx_s3 *s3, struct fx_s3_call *c, const char *sha)
{
	char path[FX_KEY_MAX + 128], enc[FX_S3_URL_MAX], url[FX_S3_URL_MAX + 256];
	struct fx_s3_header headers[FX_S3_HEADERS_MAX + 2];
	struct fx_s3_signed sig;
	struct curl_slist *list = NULL;
	char *qs = NULL, line[FX_META_VALUE_MAX + 192];
	size_t nh = c->n_headers;
	CURL *h = fx_s3_handle(s3);
	CURLcode rc;
	int ret;

	if (!h)
		return -ENOMEM;
	if ((ret = fx_s3_path(s3, c->key, path, sizeof(path))) < 0 ||
	    (ret = fx_s3_uri_encode(path, false, enc, sizeof(enc))) < 0 ||
	    (ret = fx_s3_query_string(c->query, c->n_query, &qs)) < 0)
		return ret;
	snprintf(url, sizeof(url), "%s%s%s%s", s3->scheme_host, enc, qs[0] ? "?" : "", qs);
	free(qs);

	memcpy(headers, c->headers, nh * sizeof(headers[0]));
	headers[nh++] = (struct fx_s3_header){ "host", s3->host };
	headers[nh++] = (struct fx_s3_header){ "x-amz-content-sha256", sha };
	if (!s3->creds->anonymous) {
		struct fx_s3_credentials cred = { s3->creds->access_key, s3->creds->secret_key,
						  s3->creds->session_token };
		struct fx_s3_request req = { c->method, path, c->query, c->n_query, headers, nh,
					     sha, s3->region, "s3", time(NULL) };

		if ((ret = fx_s3_sign(&req, &cred, &sig)) < 0)
			return ret;
		snprintf(line, sizeof(line), "Authorization: %s", sig.authorization);
		list = curl_slist_append(list, line);
		snprintf(line, sizeof(line), "x-amz-date: %s", sig.amz_date);
		list = curl_slist_append(list, line);
		if (s3->creds->session_token) {
			snprintf(line, sizeof(line), "x-amz-security-token: %s", s3->creds->session_token);
			list = curl_slist_append(list, line);
		}
		sodium_memzero(line, sizeof(line));
	}
	for (size_t i = 0; i < nh; i++) {
		if (strcmp(headers[i].name, "host") == 0)
			continue;
		snprintf(line, sizeof(line), "%s: %s", headers[i].name, headers[i].value);
		list = curl_slist_append(list, line);
	}
	list = curl_slist_append(list, "Expect:"); /* no 100-continue round trip */

	c->status = 0;
	c->buf_used = 0;
	c->iov_at = 0;
	c->iov_off = 0;
	c->mem_len = 0;
	c->upload_pos = 0;
	c->retry_after_s = 0;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, s3->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, s3->deadline_ms);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, s3->stall_s);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, fx_on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	/* Bodies into a caller's buffer (GETs of blocks) come in larger
	 * receives: a sixteenth of the system calls and wake-ups of curl's 16K. */
	if (c->iov)
		curl_easy_setopt(h, CURLOPT_BUFFERSIZE, FX_S3_RECV_BUF);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, fx_on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
	if (strcmp(c->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(c->method, "PUT") == 0 || strcmp(c->method, "POST") == 0) {
		curl_easy_setopt(h, strcmp(c->method, "PUT") == 0 ? CURLOPT_UPLOAD : CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, fx_on_upload);
		curl_easy_setopt(h, CURLOPT_READDATA, c);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, fx_on_seek);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, c);
		if (strcmp(c->method, "PUT") == 0)
			curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)c->body_len);
		else
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
	} else if (strcmp(c->method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
	}
	rc = curl_easy_perform(h);
	curl_slist_free_all(list);
	if (rc == CURLE_WRITE_ERROR && c->parser_err)
		return c->parser_err;
	if (rc != CURLE_OK) {
		fx_debug("%s %s: %s", c->method, path, curl_easy_strerror(rc));
		return fx_curl_errno(rc);
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
	return 0;
}

/*
 * Perform @c with retries: transport errors and retryable S3 answers are
 * retried (idempotent requests only) after a full-jitter delay, or the
 * server's Retry-After. @return 0 on 2xx, else -errno (S3 errors mapped).
 */
static int fx_s3_perform(struct fx_s3 *s3, struct fx_s3_call *c)
{
	char sha[FX_S3_SHA256_HEX_LEN + 1], reason[96];
	struct fx_s3_error err = { 0 };
	int ret = 0;

	/* The mount's prefix counts toward S3's 1024-byte key limit. */
	if (c->key && strlen(s3->prefix) + strlen(c->key) > FX_KEY_MAX)
		return -ENAMETOOLONG;
	if (c->body_mem)
		fx_s3_sha256_hex(c->body_mem, c->body_len, sha);
	else if (c->body_fd >= 0 && (ret = fx_s3_sha256_fd(c->body_fd, c->body_off, c->body_len, sha)) < 0)
		return ret;
	else if (c->body_fd < 0)
		snprintf(sha, sizeof(sha), "%s", FX_S3_EMPTY_SHA256);
	if (!c->mem_max)
		c->mem_max = 1 << 20;

	for (unsigned attempt = 1;; attempt++) {
		const char *why;

		ret = fx_s3_attempt(s3, c, sha);
		if (ret == 0 && c->status >= 200 && c->status < 300)
			return 0;
		if (ret == 0) {
			fx_s3_parse_error(c->mem, c->mem_len, &err);
			ret = fx_s3_errno(c->status, err.code);
			snprintf(reason, sizeof(reason), "HTTP %ld%s%s", c->status, err.code[0] ? " " : "",
				 err.code);
			why = reason;
			if (c->status != 404 || strcmp(c->method, "HEAD") != 0)
				fx_debug("%s %s%s: HTTP %ld %s (%s) request-id %s", c->method, s3->prefix,
					 c->key ? c->key : "", c->status, err.code, err.message,
					 err.request_id[0] ? err.request_id : "-");
			if (!fx_s3_retryable(c->status, err.code))
				return ret;
		} else {
			why = fx_strerror(ret);
			if (!fx_retry_worth_it(ret) || ret == -EPROTO)
				return ret;
		}
		if (!c->idempotent || attempt >= s3->retry.max_attempts) {
			if (attempt > 1)
				fx_warn("%s %s%s failed after %u attempts: %s", c->method, s3->prefix,
					c->key ? c->key : "", attempt, why);
			return ret == -EAGAIN ? -EIO : ret;
		}
		{
			uint32_t ms = fx_retry_delay_ms(&s3->retry, attempt);

			if (c->retry_after_s > 0 && c->retry_after_s < 60)
				ms = (uint32_t)(c->retry_after_s * 1000);
			fx_info("retrying %s %s%s (attempt %u of %u) in %u ms: %s", c->method, s3->prefix,
				c->key ? c->key : "", attempt + 1, s3->retry.max_attempts, ms, why);
			usleep(ms * 1000u);
		}
		if (c->restart && (ret = c->restart(c, c->restart_arg)) < 0)
			return ret;
	}
}

static void fx_call_init(struct fx_s3_call *c, const char *method, const char *key, bool idempotent)
{
	memset(c, 0, sizeof(*c));
	c->method = method;
	c->key = key;
	c->body_fd = -1;
	c->idempotent = idempotent;
}

/* ------------------------------------------------------------ operations */

static int fx_s3_head(void *state, const char *key, struct fx_object_info *out)
{
	struct fx_object_info info = { 0 };
	struct fx_s3_call c;
	int ret;

	fx_call_init(&c, "HEAD", key, true);
	c.info = &info;
	ret = fx_s3_perform(state, &c);
	fx_call_free(&c);
	if (ret < 0) {
		fx_object_info_clear(&info);
		return ret;
	}
	*out = info;
	return 0;
}

static ssize_t fx_s3_get_if(void *state, const char *key, const char *etag, uint64_t offset,
			    const struct iovec *iov, int iovcnt)
{
	struct fx_s3_call c;
	char range[64];
	size_t len = 0;
	int ret;

	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	if (len == 0)
		return 0;
	fx_call_init(&c, "GET", key, true);
	snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)offset,
		 (unsigned long long)(offset + len - 1));
	fx_call_header(&c, "range", range);
	if (etag)
		fx_call_header(&c, "if-match", etag);
	c.iov = iov;
	c.buf_len = len;
	ret = fx_s3_perform(state, &c);
	fx_call_free(&c);
	if (ret == -ERANGE)
		return 0; /* at or past the end: InvalidRange */
	if (ret < 0)
		return ret;
	if (c.status != 206 && offset > 0)
		return -EIO; /* a 200 with the whole object would put wrong bytes at @offset */
	return (ssize_t)c.buf_used;
}

static ssize_t fx_s3_get(void *state, const char *key, uint64_t offset, void *buf, size_t len)
{
	struct iovec iov = {.iov_base = buf, .iov_len = len};

	return fx_s3_get_if(state, key, NULL, offset, &iov, 1);
}

/* A listing page: entries are parsed as the body streams in and kept until
 * the page is complete, so a retried page never delivers an entry twice. */
struct fx_s3_page {
	struct fx_list_entry *e;
	char **keys, **etags;
	size_t n, cap;
	size_t strip; /* bytes of the bucket prefix to remove from keys */
	bool url;     /* keys come url-encoded (encoding-type=url was asked) */
};

static int fx_page_add(void *arg, const struct fx_list_entry *le)
{
	struct fx_s3_page *pg = arg;

	if (strlen(le->key) < pg->strip)
		return 0; /* not below our prefix: cannot happen with a correct server */
	if (pg->n == pg->cap) {
		size_t cap = pg->cap ? pg->cap * 2 : 256;
		struct fx_list_entry *e = realloc(pg->e, cap * sizeof(*e));
		char **k = e ? realloc(pg->keys, cap * sizeof(*k)) : NULL;
		char **t = k ? realloc(pg->etags, cap * sizeof(*t)) : NULL;

		if (e)
			pg->e = e;
		if (k)
			pg->keys = k;
		if (!t)
			return -ENOMEM;
		pg->etags = t;
		pg->cap = cap;
	}
	pg->keys[pg->n] = strdup(le->key + pg->strip);
	pg->etags[pg->n] = strdup(le->etag ? le->etag : "");
	if (!pg->keys[pg->n] || !pg->etags[pg->n]) {
		free(pg->keys[pg->n]);
		free(pg->etags[pg->n]);
		return -ENOMEM;
	}
	pg->e[pg->n] = *le;
	pg->e[pg->n].key = pg->keys[pg->n];
	pg->e[pg->n].etag = pg->etags[pg->n];
	pg->e[pg->n].meta = NULL;
	pg->n++;
	return 0;
}

static void fx_page_clear(struct fx_s3_page *pg)
{
	for (size_t i = 0; i < pg->n; i++) {
		free(pg->keys[i]);
		free(pg->etags[i]);
	}
	pg->n = 0;
}

static void fx_page_free(struct fx_s3_page *pg)
{
	fx_page_clear(pg);
	free(pg->e);
	free(pg->keys);
	free(pg->etags);
}

static int fx_page_restart(struct fx_s3_call *c, void *arg)
{
	fx_page_clear(arg);
	fx_s3_list_parser_free(c->parser);
	c->parser = fx_s3_list_parser_new(fx_page_add, arg, ((struct fx_s3_page *)arg)->url);
	return c->parser ? 0 : -ENOMEM;
}

static int fx_s3_list(void *state, const char *prefix, const char *delimiter, const char *token,
		      size_t max_keys, fx_list_fn fn, void *arg, char **next_token)
{
	struct fx_s3 *s3 = state;
	struct fx_s3_page pg = { .strip = strlen(s3->prefix) };
	struct fx_s3_call c;
	char full[FX_KEY_MAX * 2], max[24];
	bool url = !atomic_load(&s3->list_raw);
	int ret;

	snprintf(full, sizeof(full), "%s%s", s3->prefix, prefix);
	snprintf(max, sizeof(max), "%zu", max_keys);
again:
	fx_call_init(&c, "GET", NULL, true);
	c.query[c.n_query++] = (struct fx_s3_param){ "list-type", "2" };
	c.query[c.n_query++] = (struct fx_s3_param){ "prefix", full };
	c.query[c.n_query++] = (struct fx_s3_param){ "max-keys", max };
	if (url)
		c.query[c.n_query++] = (struct fx_s3_param){ "encoding-type", "url" };
	if (delimiter)
		c.query[c.n_query++] = (struct fx_s3_param){ "delimiter", delimiter };
	if (token)
		c.query[c.n_query++] = (struct fx_s3_param){ "continuation-token", token };
	c.restart = fx_page_restart;
	c.restart_arg = &pg;
	pg.url = url;
	c.parser = fx_s3_list_parser_new(fx_page_add, &pg, url);
	ret = c.parser ? fx_s3_perform(s3, &c) : -ENOMEM;
	if (ret == 0)
		ret = fx_s3_list_parser_finish(c.parser, next_token);
	if (ret == -EILSEQ && url) {
		/* Keys arrived raw although encoded ones were asked for (s3rver):
		 * ask no more, and take this page again as it is. */
		fx_warn("%s ignores encoding-type=url in listings: listing without it",
			s3->scheme_host);
		atomic_store(&s3->list_raw, true);
		url = false;
		fx_s3_list_parser_free(c.parser);
		fx_page_clear(&pg);
		fx_call_free(&c);
		goto again;
	}
	for (size_t i = 0; ret == 0 && i < pg.n; i++)
		ret = fn(arg, &pg.e[i]);
	if (ret != 0 && next_token && *next_token) {
		free(*next_token);
		*next_token = NULL;
	}
	fx_s3_list_parser_free(c.parser);
	fx_page_free(&pg);
	fx_call_free(&c);
	return ret;
}

static int fx_s3_put_single(struct fx_s3 *s3, const char *key, int fd, uint64_t size,
			    const struct fx_meta *meta, struct fx_object_info *out)
{
	struct fx_object_info info = { 0 };
	struct fx_s3_call c;
	int ret;

	fx_call_init(&c, "PUT", key, true); /* a PUT of the same bytes is idempotent */
	c.body_fd = fd;
	c.body_len = size;
	c.info = &info;
	ret = fx_call_meta(&c, meta);
	if (ret == 0)
		ret = fx_s3_perform(s3, &c);
	fx_call_free(&c);
	if (ret == 0 && out) {
		info.size = size;
		fx_meta_copy(&info.meta, meta ? meta : &(struct fx_meta){ 0 });
		*out = info;
		return 0;
	}
	fx_object_info_clear(&info);
	return ret;
}

/* Append @text (markup, not escaped) to a growing buffer. */
static int fx_buf_add(char **buf, size_t *len, size_t *cap, const char *text)
{
	size_t tl = strlen(text);

	if (*len + tl + 1 > *cap) {
		size_t ncap = (*len + tl + 1) * 2;
		char *p = realloc(*buf, ncap);

		if (!p)
			return -ENOMEM;
		*buf = p;
		*cap = ncap;
	}
	memcpy(*buf + *len, text, tl + 1);
	*len += tl;
	return 0;
}

/* ------------------------------------------------------------ multipart */

struct fx_multipart {
	char *key;
	char upload_id[512];
	char (*etags)[FX_ETAG_MAX]; /* by part number - 1 */
	unsigned max_part;
	pthread_mutex_t lock;
};

static int fx_s3_mpu_begin(void *state, const char *key, const struct fx_meta *meta,
			   struct fx_multipart **out)
{
	struct fx_multipart *mp = calloc(1, sizeof(*mp));
	struct fx_s3_call c;
	int ret;

	if (!mp || !(mp->key = strdup(key)) ||
	    !(mp->etags = calloc(FX_S3_MAX_PARTS, sizeof(*mp->etags)))) {
		if (mp)
			free(mp->key);
		free(mp);
		return -ENOMEM;
	}
	pthread_mutex_init(&mp->lock, NULL);
	fx_call_init(&c, "POST", key, false);
	c.query[c.n_query++] = (struct fx_s3_param){ "uploads", "" };
	c.body_mem = "";
	/* The object's type, as a single PUT gets by default; without it libcurl
	 * labels the POST (and so the object) as a form. */
	fx_call_header(&c, "content-type", "binary/octet-stream");
	ret = fx_call_meta(&c, meta);
	if (ret == 0)
		ret = fx_s3_perform(state, &c);
	if (ret == 0)
		ret = fx_s3_parse_upload_id(c.mem, c.mem_len, mp->upload_id, sizeof(mp->upload_id));
	fx_call_free(&c);
	if (ret < 0) {
		pthread_mutex_destroy(&mp->lock);
		free(mp->etags);
		free(mp->key);
		free(mp);
		return ret;
	}
	*out = mp;
	return 0;
}

static int fx_s3_mpu_part(void *state, struct fx_multipart *mp, unsigned part_no, int fd,
			  uint64_t offset, uint64_t len)
{
	struct fx_object_info info = { 0 };
	struct fx_s3_call c;
	char num[16];
	int ret;

	if (part_no < 1 || part_no > FX_S3_MAX_PARTS)
		return -EINVAL;
	snprintf(num, sizeof(num), "%u", part_no);
	fx_call_init(&c, "PUT", mp->key, true);
	c.query[c.n_query++] = (struct fx_s3_param){ "partNumber", num };
	c.query[c.n_query++] = (struct fx_s3_param){ "uploadId", mp->upload_id };
	c.body_fd = fd;
	c.body_off = offset;
	c.body_len = len;
	c.info = &info;
	ret = fx_s3_perform(state, &c);
	fx_call_free(&c);
	if (ret == 0) {
		pthread_mutex_lock(&mp->lock);
		snprintf(mp->etags[part_no - 1], FX_ETAG_MAX, "%s", info.etag);
		if (part_no > mp->max_part)
			mp->max_part = part_no;
		pthread_mutex_unlock(&mp->lock);
	}
	fx_object_info_clear(&info);
	return ret;
}

static void fx_mpu_free(struct fx_multipart *mp)
{
	pthread_mutex_destroy(&mp->lock);
	free(mp->etags);
	free(mp->key);
	free(mp);
}

static int fx_s3_mpu_complete(void *state, struct fx_multipart *mp, struct fx_object_info *out)
{
	char *body = NULL, part[FX_ETAG_MAX * 2 + 96];
	size_t len = 0, cap = 0;
	struct fx_s3_call c;
	char etag[FX_ETAG_MAX];
	int ret = 0;

	if (mp->max_part == 0)
		return -EINVAL;
	ret = fx_buf_add(&body, &len, &cap, "<CompleteMultipartUpload>");
	for (unsigned i = 1; ret == 0 && i <= mp->max_part; i++) {
		if (!mp->etags[i - 1][0]) {
			ret = -EIO; /* a part never arrived */
			break;
		}
		snprintf(part, sizeof(part), "<Part><PartNumber>%u</PartNumber><ETag>", i);
		ret = fx_buf_add(&body, &len, &cap, part);
		if (ret == 0)
			ret = fx_s3_xml_escape(mp->etags[i - 1], &body, &len, &cap);
		if (ret == 0)
			ret = fx_buf_add(&body, &len, &cap, "</ETag></Part>");
	}
	if (ret == 0)
		ret = fx_buf_add(&body, &len, &cap, "</CompleteMultipartUpload>");
	if (ret < 0) {
		free(body);
		return ret;
	}

	fx_call_init(&c, "POST", mp->key, false);
	c.query[c.n_query++] = (struct fx_s3_param){ "uploadId", mp->upload_id };
	c.body_mem = body;
	c.body_len = len;
	fx_call_header(&c, "content-type", "application/xml");
	ret = fx_s3_perform(state, &c);
	if (ret == 0) /* S3 may answer 200 with an <Error> inside */
		ret = fx_s3_parse_complete(c.mem, c.mem_len, etag, sizeof(etag));
	fx_call_free(&c);
	free(body);
	if (ret == 0) {
		if (out)
			snprintf(out->etag, sizeof(out->etag), "%s", etag);
		fx_mpu_free(mp);
	}
	return ret;
}

static void fx_s3_mpu_abort(void *state, struct fx_multipart *mp)
{
	struct fx_s3_call c;
	int ret;

	fx_call_init(&c, "DELETE", mp->key, true);
	c.query[c.n_query++] = (struct fx_s3_param){ "uploadId", mp->upload_id };
	ret = fx_s3_perform(state, &c);
	fx_call_free(&c);
	if (ret < 0 && ret != -ENOENT)
		fx_warn("aborting the multipart upload of %s failed (%s); the bucket's lifecycle rules "
			"must clean it up", mp->key, fx_strerror(ret));
	fx_mpu_free(mp);
}

struct fx_mpu_job {
	struct fx_s3 *s3;
	struct fx_multipart *mp;
	int fd;
	uint64_t size, part_size;
	unsigned parts, next;
	int err;
	pthread_mutex_t lock;
};

static void *fx_mpu_worker(void *arg)
{
	struct fx_mpu_job *j = arg;

	for (;;) {
		unsigned part;
		uint64_t off, len;
		int ret;

		pthread_mutex_lock(&j->lock);
		part = j->err ? j->parts : j->next++;
		pthread_mutex_unlock(&j->lock);
		if (part >= j->parts)
			return NULL;
		off = (uint64_t)part * j->part_size;
		len = j->size - off < j->part_size ? j->size - off : j->part_size;
		ret = fx_s3_mpu_part(j->s3, j->mp, part + 1, j->fd, off, len);
		if (ret < 0) {
			pthread_mutex_lock(&j->lock);
			if (!j->err)
				j->err = ret;
			pthread_mutex_unlock(&j->lock);
		}
	}
}

/* Upload in parts on up to [io] concurrency threads; abort on any failure so
 * no orphan upload is left behind. */
static int fx_s3_put_multipart(struct fx_s3 *s3, const char *key, int fd, uint64_t size,
			       const struct fx_meta *meta, struct fx_object_info *out)
{
	struct fx_mpu_job j = { .s3 = s3, .fd = fd, .size = size, .part_size = s3->part_size };
	pthread_t threads[64];
	unsigned n_threads, started = 0;
	struct fx_object_info info = { 0 };
	int ret;

	while ((size + j.part_size - 1) / j.part_size > FX_S3_MAX_PARTS)
		j.part_size *= 2;
	j.parts = (unsigned)((size + j.part_size - 1) / j.part_size);
	ret = fx_s3_mpu_begin(s3, key, meta, &j.mp);
	if (ret < 0)
		return ret;
	pthread_mutex_init(&j.lock, NULL);
	n_threads = s3->concurrency < j.parts ? s3->concurrency : j.parts;
	if (n_threads > sizeof(threads) / sizeof(threads[0]))
		n_threads = sizeof(threads) / sizeof(threads[0]);
	for (unsigned i = 0; i < n_threads; i++)
		if (pthread_create(&threads[i], NULL, fx_mpu_worker, &j) == 0)
			started++;
	if (started == 0)
		fx_mpu_worker(&j);
	for (unsigned i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	pthread_mutex_destroy(&j.lock);
	ret = j.err;
	if (ret == 0)
		ret = fx_s3_mpu_complete(s3, j.mp, &info);
	if (ret < 0) {
		fx_s3_mpu_abort(s3, j.mp);
		return ret;
	}
	fx_debug("uploaded %s in %u parts of %llu bytes", key, j.parts,
		 (unsigned long long)j.part_size);
	if (out) {
		info.size = size;
		fx_meta_copy(&info.meta, meta ? meta : &(struct fx_meta){ 0 });
		*out = info;
	} else {
		fx_object_info_clear(&info);
	}
	return 0;
}

static int fx_s3_put(void *state, const char *key, int fd, uint64_t size, const struct fx_meta *meta,
		     struct fx_object_info *out)
{
	struct fx_s3 *s3 = state;

	if (size >= s3->multipart_threshold)
		return fx_s3_put_multipart(s3, key, fd, size, meta, out);
	return fx_s3_put_single(s3, key, fd, size, meta, out);
}

static int fx_s3_del(void *state, const char *key)
{
	struct fx_s3_call c;
	int ret;

	fx_call_init(&c, "DELETE", key, true);
	ret = fx_s3_perform(state, &c);
	fx_call_free(&c);
	return ret == -ENOENT ? 0 : ret;
}

/* The Content-Type of @key ("" if unknown): a copy with metadata REPLACE
 * replaces it too, so chmod would otherwise reset it. */
static void fx_s3_content_type(struct fx_s3 *s3, const char *key, char *out, size_t n)
{
	struct fx_object_info info = { 0 };
	struct fx_s3_call c;

	fx_call_init(&c, "HEAD", key, true);
	c.info = &info;
	out[0] = '\0';
	if (fx_s3_perform(s3, &c) == 0)
		snprintf(out, n, "%s", c.content_type);
	fx_call_free(&c);
	fx_object_info_clear(&info);
}

static int fx_s3_copy(void *state, const char *src, const char *dst, const struct fx_meta *meta)
{
	struct fx_s3 *s3 = state;
	char source[FX_KEY_MAX * 3 + 256], raw[FX_KEY_MAX + 128], type[128] = "";
	struct fx_s3_call c;
	int ret;

	if (meta)
		fx_s3_content_type(s3, src, type, sizeof(type));

	snprintf(raw, sizeof(raw), "/%s/%s%s", s3->bucket, s3->prefix, src);
	if ((ret = fx_s3_uri_encode(raw, false, source, sizeof(source))) < 0)
		return ret;
	fx_call_init(&c, "PUT", dst, true);
	c.body_mem = "";
	fx_call_header(&c, "x-amz-copy-source", source);
	fx_call_header(&c, "x-amz-metadata-directive", meta ? "REPLACE" : "COPY");
	if (type[0])
		fx_call_header(&c, "content-type", type);
	ret = fx_call_meta(&c, meta);
	if (ret == 0)
		ret = fx_s3_perform(s3, &c);
	if (ret == 0 && c.mem_len && strstr(c.mem, "<Error>")) { /* 200 with an error inside */
		struct fx_s3_error err;

		fx_s3_parse_error(c.mem, c.mem_len, &err);
		ret = fx_s3_errno(500, err.code);
	}
	fx_call_free(&c);
	return ret;
}

/* DeleteObjects, up to 1000 keys a request. S3 demands a Content-MD5 of the
 * body; libsodium has no MD5, so it comes from libcrypto. */
static int fx_s3_del_chunk(struct fx_s3 *s3, const char *const *keys, size_t n, int *results)
{
	char **full = calloc(n, sizeof(*full)), md5_b64[32];
	unsigned char md5[EVP_MAX_MD_SIZE];
	unsigned md5_len = 0;
	char *body = NULL;
	size_t len = 0, cap = 0;
	struct fx_s3_call c;
	int ret = full ? 0 : -ENOMEM;

	for (size_t i = 0; ret == 0 && i < n; i++)
		if (asprintf(&full[i], "%s%s", s3->prefix, keys[i]) < 0) {
			full[i] = NULL;
			ret = -ENOMEM;
		}
	if (ret == 0)
		ret = fx_buf_add(&body, &len, &cap, "<Delete><Quiet>false</Quiet>");
	for (size_t i = 0; ret == 0 && i < n; i++) {
		ret = fx_buf_add(&body, &len, &cap, "<Object><Key>");
		if (ret == 0)
			ret = fx_s3_xml_escape(full[i], &body, &len, &cap);
		if (ret == 0)
			ret = fx_buf_add(&body, &len, &cap, "</Key></Object>");
	}
	if (ret == 0)
		ret = fx_buf_add(&body, &len, &cap, "</Delete>");
	if (ret == 0 && (EVP_Digest(body, len, md5, &md5_len, EVP_md5(), NULL) != 1 ||
			 !sodium_bin2base64(md5_b64, sizeof(md5_b64), md5, md5_len,
					    sodium_base64_VARIANT_ORIGINAL)))
		ret = -EIO;
	if (ret == 0) {
		fx_call_init(&c, "POST", NULL, true); /* deleting twice is harmless */
		c.query[c.n_query++] = (struct fx_s3_param){ "delete", "" };
		c.body_mem = body;
		c.body_len = len;
		c.mem_max = 16 << 20;
		fx_call_header(&c, "content-md5", md5_b64);
		fx_call_header(&c, "content-type", "application/xml");
		ret = fx_s3_perform(s3, &c);
		if (ret == 0)
			ret = fx_s3_parse_delete_result(c.mem, c.mem_len, (const char *const *)full, n,
							results);
		fx_call_free(&c);
	}
	for (size_t i = 0; full && i < n; i++)
		free(full[i]);
	free(full);
	free(body);
	return ret;
}

static int fx_s3_del_batch(void *state, const char *const *keys, size_t n, int *results)
{
	for (size_t i = 0; i < n; i += 1000) {
		size_t chunk = n - i < 1000 ? n - i : 1000;
		int ret = fx_s3_del_chunk(state, keys + i, chunk, results + i);

		if (ret < 0)
			return ret;
	}
	return 0;
}

static uint32_t fx_s3_caps(void *state)
{
	(void)state;
	return FX_CAP_COPY | FX_CAP_MULTIPART | FX_CAP_DELETE_BATCH;
}

/* ------------------------------------------------------------ open/close */

static void fx_s3_free(struct fx_s3 *s3)
{
	if (!s3)
		return;
	fx_s3_creds_free(s3->creds);
	if (s3->opening)
		fx_page_free(s3->opening);
	free(s3->opening);
	free(s3->opening_token);
	free(s3->scheme_host);
	free(s3->host);
	free(s3->bucket);
	free(s3->prefix);
	free(s3->region);
	free(s3);
}

static void fx_s3_close(void *state)
{
	struct fx_s3 *s3 = state;
	CURL *h = pthread_getspecific(s3->curl_key);

	if (h)
		curl_easy_cleanup(h);
	pthread_key_delete(s3->curl_key);
	fx_s3_free(s3);
}

static const char *fx_cfg_str(const struct fx_config *cfg, const char *k, const char *def)
{
	const char *v = cfg ? fx_config_str(cfg, k) : NULL;

	return v ? v : def;
}

/* Replay the page open() listed, once: the mount's first ls of the root, and
 * lookups in it, need no request of their own. */
static int fx_s3_opening_list(void *state, fx_list_fn fn, void *arg, char **next_token)
{
	struct fx_s3 *s3 = state;
	struct fx_s3_page *pg = s3->opening;
	int ret = 0;

	if (!pg)
		return -ENOENT;
	s3->opening = NULL;
	for (size_t i = 0; i < pg->n && !ret; i++)
		ret = fn(arg, &pg->e[i]);
	if (ret == 0) /* as list(): a callback's stop is returned, with no token */
		*next_token = s3->opening_token;
	else
		free(s3->opening_token);
	s3->opening_token = NULL;
	fx_page_free(pg);
	free(pg);
	return ret;
}

static void fx_s3_global_init(void)
{
	/* Once, before any handle: libcurl's global state is not thread-safe. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || sodium_init() < 0)
		fx_error("cannot initialise libcurl or libsodium; S3 requests will fail");
}

/* Check at mount time that the bucket exists and answers us, so a wrong
 * endpoint, bucket or key fails the mount, not the first ls. The check is
 * the first page of the root's listing, kept for the mount (opening_list):
 * its first ls and lookups would ask for it next. */
static int fx_s3_probe(struct fx_s3 *s3, const char *url, struct fx_diag *d)
{
	struct fx_s3_page *pg = calloc(1, sizeof(*pg));
	int ret = pg ? fx_s3_list(s3, "", "/", NULL, 1000, fx_page_add, pg, &s3->opening_token)
		     : -ENOMEM;

	if (ret == 0) {
		s3->opening = pg; /* its keys as list() gives them: strip 0, decoded */
		return 0;
	}
	if (pg)
		fx_page_free(pg);
	free(pg);
	switch (ret) {
	case -ENOENT:
		fx_diag_set(d, -ENOENT, "check the bucket name and the endpoint/region",
			    "bucket '%s' does not exist at %s", s3->bucket, s3->scheme_host);
		break;
	case -EACCES:
		fx_diag_set(d, -EACCES,
			    "check the credentials (their source: rustfx mount -v) and the bucket policy",
			    "access to %s refused with credentials from %s", url, s3->creds->source);
		break;
	case -ECONNREFUSED:
	case -EHOSTUNREACH:
	case -ETIMEDOUT:
		fx_diag_set(d, ret, "check -o endpoint= and that the server is up",
			    "cannot reach S3 endpoint %s (%s)", s3->scheme_host, fx_strerror(ret));
		break;
	default:
		fx_diag_set(d, ret, "run with -v for the server's answer", "S3 endpoint %s failed (%s)",
			    s3->scheme_host, fx_strerror(ret));
	}
	return ret;
}

static int fx_s3_open(const char *url, const struct fx_config *cfg, void **state, struct fx_diag *d)
{
	static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
	struct fx_s3 *s3 = calloc(1, sizeof(*s3));
	const char *rest = url + strlen("s3://"), *slash = strchr(rest, '/'), *rule = NULL;
	const char *endpoint;
	char *ep_default = NULL;
	struct fx_s3_creds_opts co = { 0 };
	int ret;

	if (!s3)
		return -ENOMEM;
	pthread_once(&curl_once, fx_s3_global_init);
	s3->bucket = slash ? strndup(rest, (size_t)(slash - rest)) : strdup(rest);
	if (slash && slash[1]) {
		size_t pl = strlen(slash + 1);

		ret = asprintf(&s3->prefix, "%s%s", slash + 1, slash[pl] == '/' ? "" : "/");
		if (ret < 0)
			s3->prefix = NULL;
	} else {
		s3->prefix = strdup("");
	}
	s3->region = strdup(fx_cfg_str(cfg, "s3.region", "us-east-1"));
	if (!s3->bucket || !s3->prefix || !s3->region) {
		ret = -ENOMEM;
		goto fail;
	}
	if (!fx_s3_bucket_valid(s3->bucket, &rule)) {
		ret = -FX_EBADURL;
		fx_diag_set(d, ret, "bucket names follow S3's rules: e.g. s3://my-bucket/optional/prefix",
			    "invalid bucket name '%s' in %s: it %s", s3->bucket, url, rule);
		goto fail;
	}
	if (s3->prefix[0] && (ret = fx_key_check(s3->prefix)) < 0) {
		if (ret == -ENAMETOOLONG)
			fx_diag_set(d, -FX_EBADURL, "use segments of at most 255 bytes and a prefix under 1024",
				    "invalid prefix in %s: a segment or the whole is too long", url);
		else
			fx_diag_set(d, -FX_EBADURL, "write the prefix as a/b, without '.', '..' or '//'",
				    "invalid prefix in %s: it has an empty, '.' or '..' segment", url);
		ret = -FX_EBADURL;
		goto fail;
	}
	s3->path_style = cfg && fx_config_bool(cfg, "s3.path_style");
	endpoint = fx_cfg_str(cfg, "s3.endpoint", NULL);
	if (!endpoint) {
		if (asprintf(&ep_default, "https://s3.%s.amazonaws.com", s3->region) < 0) {
			ret = -ENOMEM;
			goto fail;
		}
		endpoint = ep_default;
	}
	if ((ret = fx_s3_endpoint(s3, endpoint, d)) < 0)
		goto fail;
	s3->retry.max_attempts = cfg ? (unsigned)fx_config_int(cfg, "retry.max_attempts") : 5;
	s3->retry.base_delay_ms = cfg ? (unsigned)fx_config_int(cfg, "retry.base_delay_ms") : 50;
	s3->retry.max_delay_ms = cfg ? (unsigned)fx_config_int(cfg, "retry.max_delay_ms") : 2000;
	s3->concurrency = cfg ? (unsigned)fx_config_int(cfg, "io.concurrency") : 32;
	s3->deadline_ms = (long)((cfg ? fx_config_float(cfg, "io.timeout_s") : 30) * 1000);
	s3->connect_timeout_ms = (long)((cfg ? fx_config_float(cfg, "s3.connect_timeout_s") : 10) * 1000);
	s3->stall_s = (long)(cfg ? fx_config_float(cfg, "s3.stall_timeout_s") : 30);
	s3->multipart_threshold = cfg ? fx_config_size(cfg, "s3.multipart_threshold") : 64 << 20;
	s3->part_size = cfg ? fx_config_size(cfg, "s3.part_size") : 8 << 20;

	co.access_key = fx_cfg_str(cfg, "s3.access_key_id", NULL);
	co.secret_key = cfg ? fx_config_secret(cfg, "s3.secret_access_key") : NULL;
	co.session_token = cfg ? fx_config_secret(cfg, "s3.session_token") : NULL;
	co.profile = fx_cfg_str(cfg, "s3.profile", NULL);
	co.passwd_file = fx_cfg_str(cfg, "s3.passwd_file", NULL);
	co.anonymous = cfg && fx_config_bool(cfg, "s3.public_bucket");
	co.bucket = s3->bucket;
	co.envp = environ;
	co.home = getenv("HOME");
	if ((ret = fx_s3_creds_resolve(&co, &s3->creds, d)) < 0)
		goto fail;
	if (pthread_key_create(&s3->curl_key, fx_s3_handle_free) != 0) {
		ret = -EAGAIN;
		goto fail;
	}
	fx_info("s3: bucket %s%s%s at %s (%s addressing), credentials from %s", s3->bucket,
		s3->prefix[0] ? "/" : "", s3->prefix, s3->scheme_host,
		s3->path_style ? "path-style" : "virtual-hosted", s3->creds->source);
	if ((ret = fx_s3_probe(s3, url, d)) < 0) {
		fx_s3_close(s3);
		free(ep_default);
		return ret;
	}
	free(ep_default);
	*state = s3;
	return 0;
fail:
	free(ep_default);
	fx_s3_free(s3);
	return ret;
}

const struct fx_backend_ops fx_backend_s3_ops = {
	.abi = FX_BACKEND_ABI,
	.size = sizeof(struct fx_backend_ops),
	.name = "s3",
	.scheme = "s3",
	.open = fx_s3_open,
	.close = fx_s3_close,
	.caps = fx_s3_caps,
	.head = fx_s3_head,
	.list = fx_s3_list,
	.get = fx_s3_get,
	.get_if = fx_s3_get_if,
	.put = fx_s3_put,
	.del = fx_s3_del,
	.copy = fx_s3_copy,
	.del_batch = fx_s3_del_batch,
	.mpu_begin = fx_s3_mpu_begin,
	.mpu_part = fx_s3_mpu_part,
	.mpu_complete = fx_s3_mpu_complete,
	.mpu_abort = fx_s3_mpu_abort,
	.opening_list = fx_s3_opening_list,
};
