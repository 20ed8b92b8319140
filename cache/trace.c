/*
 * trace.c - the rustfx trace writer and the trace readers (see trace.h).
 *
 * Owns: the writer's buffer, mutex, file and set of object ids already
 * named; the readers' decompressing input buffer, line splitting, number
 * parsing, auto-detection, and the id-to-key table of named objects.
 * Does not own: what a mount records (cache/learn.c) or what a replay does
 * with the requests (cache/sim.c).
 *
 * Every input goes through zlib's gzread, which passes plain files through
 * unchanged, so each format may be gzip-compressed.
 */
#include "core/hash.h"
#include "cache/trace.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#include <zlib.h>

#define FX_VARINT_MAX 10
#define FX_LINE_MAX   (1u << 20) /* longer text lines are malformed input */
#define FX_SRC_BUF    (64u * 1024)

/* murmur3's fmix64: ids from tests are small integers, spread them. */

static void fx_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void fx_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void fx_put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t fx_get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static size_t fx_put_uv(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* ================================================================ writer */

/*
 * The set of object ids already named: open addressing on fx_mix64(id),
 * grown at half load; id 0 (which callers should not use) has its own flag.
 */
struct fx_idset {
	uint64_t *slot; /* 0: empty */
	uint64_t mask, used;
	bool has_zero;
};

/* Add @id. @return 1 if it was new, 0 if already there, -ENOMEM. */
static int fx_idset_add(struct fx_idset *s, uint64_t id)
{
	uint64_t i;

	if (!id) {
		if (s->has_zero)
			return 0;
		s->has_zero = true;
		return 1;
	}
	if (!s->slot || 2 * (s->used + 1) > s->mask + 1) {
		uint64_t nslots = s->slot ? 2 * (s->mask + 1) : 1024,
			 *ns = calloc(nslots, sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		for (uint64_t j = 0; s->slot && j <= s->mask; j++) {
			if (!s->slot[j])
				continue;
			for (i = fx_mix64(s->slot[j]) & (nslots - 1); ns[i];
			     i = (i + 1) & (nslots - 1))
				;
			ns[i] = s->slot[j];
		}
		free(s->slot);
		s->slot = ns;
		s->mask = nslots - 1;
	}
	for (i = fx_mix64(id) & s->mask; s->slot[i]; i = (i + 1) & s->mask)
		if (s->slot[i] == id)
			return 0;
	s->slot[i] = id;
	s->used++;
	return 1;
}

/* Lock order: w->lock is a leaf; no other lock is taken while it is held. */
struct fx_trace_writer {
	pthread_mutex_t lock;
	int fd;			     /* lock */
	uint8_t buf[FX_TRACE_FLUSH]; /* lock: records not yet written */
	size_t len;		     /* lock */
	uint64_t last_us;	     /* lock: monotonic time of the last record */
	int err;		     /* lock: first write error; recording stopped */
	bool err_told;		     /* lock: err was returned to a caller */
	struct fx_idset named;	     /* lock */
	uint64_t (*now_us)(void *arg);
	void *now_arg;
};

static uint64_t fx_clock_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t fx_mono_us(void *arg)
{
	(void)arg;
	return fx_clock_us(CLOCK_MONOTONIC);
}

/* Write all of @iov. @return 0 or -errno. */
static int fx_writev_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t got = writev(fd, iov, n);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (n > 0 && (size_t)got >= iov->iov_len) {
			got -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + got;
			iov->iov_len -= (size_t)got;
		}
	}
	return 0;
}

/* Write the buffer (w->lock held). */
static int fx_tw_flush(struct fx_trace_writer *w)
{
	struct iovec iov = {.iov_base = w->buf, .iov_len = w->len};
	int ret;

	if (!w->len)
		return 0;
	ret = fx_writev_all(w->fd, &iov, 1);
	w->len = 0;
	return ret;
}

/* Append one record, @head then @tail (w->lock held): records never straddle
 * a flush unless one is larger than the whole buffer. */
static int fx_tw_record(struct fx_trace_writer *w, const uint8_t *head, size_t hlen,
			const void *tail, size_t tlen)
{
	int ret;

	if (w->len + hlen + tlen > sizeof(w->buf) && (ret = fx_tw_flush(w)) < 0)
		return ret;
	if (hlen + tlen > sizeof(w->buf)) {
		struct iovec iov[2] = {{(void *)head, hlen}, {(void *)tail, tlen}};

		return fx_writev_all(w->fd, iov, 2);
	}
	memcpy(w->buf + w->len, head, hlen);
	if (tlen)
		memcpy(w->buf + w->len + hlen, tail, tlen);
	w->len += hlen + tlen;
	return 0;
}

static void fx_tw_header(uint8_t h[FX_TRACE_HEADER_LEN], uint64_t seed, uint64_t start_us)
{
	memcpy(h, FX_TRACE_MAGIC, 8);
	fx_put_le16(h + 8, FX_TRACE_VERSION);
	fx_put_le16(h + 10, FX_TRACE_F_NAMES);
	fx_put_le32(h + 12, FX_TRACE_HASH_XXH3);
	fx_put_le64(h + 16, seed);
	fx_put_le64(h + 24, start_us);
}

int fx_trace_writer_open(const char *path, uint64_t seed, struct fx_trace_writer **out)
{
	uint8_t h[FX_TRACE_HEADER_LEN];
	struct fx_trace_writer *w = calloc(1, sizeof(*w));
	struct iovec iov = {.iov_base = h, .iov_len = sizeof(h)};
	int ret;

	if (!w)
		return -ENOMEM;
	w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		ret = -errno;
		goto out_free;
	}
	fx_tw_header(h, seed, fx_clock_us(CLOCK_REALTIME));
	if ((ret = fx_writev_all(w->fd, &iov, 1)) < 0)
		goto out_close;
	pthread_mutex_init(&w->lock, NULL);
	w->now_us = fx_mono_us;
	w->last_us = fx_mono_us(NULL);
	*out = w;
	return 0;
out_close:
	close(w->fd);
	unlink(path);
out_free:
	free(w);
	return ret;
}

int fx_trace_writer_set_clock(struct fx_trace_writer *w, uint64_t start_us,
			      uint64_t (*now_us)(void *arg), void *arg)
{
	uint8_t v[8];

	fx_put_le64(v, start_us);
	pthread_mutex_lock(&w->lock);
	w->now_us = now_us;
	w->now_arg = arg;
	w->last_us = now_us(arg);
	pthread_mutex_unlock(&w->lock);
	return pwrite(w->fd, v, sizeof(v), 24) == (ssize_t)sizeof(v) ? 0 : -EIO;
}

/* The error to return for @ret (w->lock held): the first error once, then 0. */
static int fx_tw_fail(struct fx_trace_writer *w, int ret)
{
	if (ret >= 0)
		return 0;
	w->err = ret;
	w->len = 0;
	w->err_told = true;
	return ret;
}

/* A name record for @obj if it has none yet (w->lock held). */
static int fx_tw_name(struct fx_trace_writer *w, uint64_t obj, const char *key)
{
	uint8_t head[1 + 2 * FX_VARINT_MAX];
	size_t klen, n = 0;

	if (!key || (klen = strlen(key)) > FX_TRACE_KEY_MAX)
		return 0;
	/* Out of memory for the set: name it again, a duplicate is harmless. */
	if (fx_idset_add(&w->named, obj) == 0)
		return 0;
	head[n++] = FX_TRACE_REC_NAME;
	n += fx_put_uv(head + n, obj);
	n += fx_put_uv(head + n, klen);
	return fx_tw_record(w, head, n, key, klen);
}

/* One open (@read false) or read record. */
static int fx_tw_note(struct fx_trace_writer *w, bool read, uint64_t obj, const char *key,
		      uint64_t off, uint64_t len, uint64_t size)
{
	uint8_t rec[1 + 5 * FX_VARINT_MAX];
	uint64_t now;
	size_t n = 0;
	int ret;

	if (!w)
		return 0;
	pthread_mutex_lock(&w->lock);
	if (w->err) {
		pthread_mutex_unlock(&w->lock);
		return 0;
	}
	if ((ret = fx_tw_name(w, obj, key)) < 0)
		goto out;
	now = w->now_us(w->now_arg);
	rec[n++] = read ? FX_TRACE_REC_READ : FX_TRACE_REC_OPEN;
	n += fx_put_uv(rec + n, now > w->last_us ? now - w->last_us : 0);
	if (now > w->last_us)
		w->last_us = now;
	n += fx_put_uv(rec + n, obj);
	if (read) {
		n += fx_put_uv(rec + n, off);
		n += fx_put_uv(rec + n, len);
	}
	n += fx_put_uv(rec + n, size);
	ret = fx_tw_record(w, rec, n, NULL, 0);
out:
	ret = fx_tw_fail(w, ret);
	pthread_mutex_unlock(&w->lock);
	return ret;
}

int fx_trace_note_open(struct fx_trace_writer *w, uint64_t obj, const char *key, uint64_t size)
{
	return fx_tw_note(w, false, obj, key, 0, 0, size);
}

int fx_trace_note_read(struct fx_trace_writer *w, uint64_t obj, const char *key, uint64_t off,
		       uint64_t len, uint64_t size)
{
	return fx_tw_note(w, true, obj, key, off, len, size);
}

int fx_trace_writer_close(struct fx_trace_writer *w)
{
	int ret = 0;

	if (!w)
		return 0;
	pthread_mutex_lock(&w->lock);
	if (!w->err)
		ret = fx_tw_flush(w);
	if (close(w->fd) < 0 && !ret && !w->err)
		ret = -errno;
	if (w->err_told)
		ret = 0;
	pthread_mutex_unlock(&w->lock);
	pthread_mutex_destroy(&w->lock);
	free(w->named.slot);
	free(w);
	return ret;
}

/* ================================================================ input */

/* Bytes of a (possibly gzip'd) file, buffered. */
struct fx_src {
	gzFile gz;
	uint8_t buf[FX_SRC_BUF];
	size_t pos, len;
	uint64_t base; /* uncompressed offset of buf[0] */
	bool eof;
	int err;       /* -errno / -FX_ECORRUPT of the last refill */
	char why[160]; /* what the error was */
};

/* Refill when empty. @return bytes available, 0 at the end, or -err. */
static ssize_t fx_src_fill(struct fx_src *s)
{
	int n, zerr;
	const char *msg;

	if (s->pos < s->len)
		return (ssize_t)(s->len - s->pos);
	if (s->err)
		return s->err;
	if (s->eof)
		return 0;
	s->base += s->len;
	s->pos = s->len = 0;
	n = gzread(s->gz, s->buf, sizeof(s->buf));
	if (n < 0) {
		msg = gzerror(s->gz, &zerr);
		if (zerr == Z_ERRNO) {
			s->err = errno ? -errno : -EIO;
			snprintf(s->why, sizeof(s->why), "%s", strerror(-s->err));
		} else {
			s->err = zerr == Z_MEM_ERROR ? -ENOMEM : -FX_ECORRUPT;
			snprintf(s->why, sizeof(s->why), "bad gzip data: %s", msg);
		}
		return s->err;
	}
	if (n == 0) {
		/* A gzip stream cut short reads as a clean end plus this error. */
		msg = gzerror(s->gz, &zerr);
		if (zerr != Z_OK && zerr != Z_STREAM_END) {
			s->err = -FX_ECORRUPT;
			snprintf(s->why, sizeof(s->why), "bad gzip data: %s", msg);
			return s->err;
		}
		s->eof = true;
		return 0;
	}
	s->len = (size_t)n;
	return n;
}

/* The next byte into *@c. @return 1, 0 at the end, or -err. */
static int fx_src_byte(struct fx_src *s, uint8_t *c)
{
	ssize_t n = fx_src_fill(s);

	if (n <= 0)
		return (int)n;
	*c = s->buf[s->pos++];
	return 1;
}

static uint64_t fx_src_off(const struct fx_src *s)
{
	return s->base + s->pos;
}

/* ================================================================ readers */

/* Object id -> key, open addressing on fx_mix64(id); ids are never 0. */
struct fx_names {
	uint64_t *id;
	char **key;
	uint64_t mask, used;
};

static char **fx_names_slot(const struct fx_names *t, uint64_t id)
{
	uint64_t i;

	if (!t->id)
		return NULL;
	for (i = fx_mix64(id) & t->mask; t->id[i]; i = (i + 1) & t->mask)
		if (t->id[i] == id)
			return &t->key[i];
	return NULL;
}

/* Map @id to a copy of @key[0..@len) (replacing). @return 0 or -ENOMEM. */
static int fx_names_put(struct fx_names *t, uint64_t id, const char *key, size_t len)
{
	char *copy = strndup(key, len), **slot;
	uint64_t i;

	if (!copy)
		return -ENOMEM;
	if ((slot = fx_names_slot(t, id))) {
		free(*slot);
		*slot = copy;
		return 0;
	}
	if (!t->id || 2 * (t->used + 1) > t->mask + 1) {
		uint64_t n = t->id ? 2 * (t->mask + 1) : 256;
		uint64_t *nid = calloc(n, sizeof(*nid));
		char **nkey = calloc(n, sizeof(*nkey));

		if (!nid || !nkey) {
			free(nid);
			free(nkey);
			free(copy);
			return -ENOMEM;
		}
		for (uint64_t j = 0; t->id && j <= t->mask; j++) {
			if (!t->id[j])
				continue;
			for (i = fx_mix64(t->id[j]) & (n - 1); nid[i]; i = (i + 1) & (n - 1))
				;
			nid[i] = t->id[j];
			nkey[i] = t->key[j];
		}
		free(t->id);
		free(t->key);
		t->id = nid;
		t->key = nkey;
		t->mask = n - 1;
	}
	for (i = fx_mix64(id) & t->mask; t->id[i]; i = (i + 1) & t->mask)
		;
	t->id[i] = id;
	t->key[i] = copy;
	t->used++;
	return 0;
}

static void fx_names_destroy(struct fx_names *t)
{
	for (uint64_t j = 0; t->id && j <= t->mask; j++)
		free(t->key[j]);
	free(t->id);
	free(t->key);
}

struct fx_trace_reader {
	struct fx_src src;
	struct fx_trace_info info;
	struct fx_diag diag;
	char path[256];	  /* for messages; cut when long */
	int err;	  /* sticky error of fx_trace_next */
	uint64_t line_no; /* text formats: lines read so far */
	char *line;	  /* text formats: the current line */
	size_t line_cap;
	bool pending;	   /* auto-detection read the first data line already */
	uint64_t clock_us; /* rustfx: sum of the dts so far */
	struct fx_names names;
};

static const char *const fx_format_names[] = {
    [FX_TRACE_AUTO] = "auto",
    [FX_TRACE_RUSTFX] = "rustfx",
    [FX_TRACE_CSV] = "csv",
    [FX_TRACE_LIRS] = "lirs",
    [FX_TRACE_CLOUDPHYSICS] = "cloudphysics",
};

int fx_trace_format_parse(const char *name, enum fx_trace_format *out)
{
	for (size_t i = 0; i < sizeof(fx_format_names) / sizeof(fx_format_names[0]); i++)
		if (name && strcmp(name, fx_format_names[i]) == 0) {
			*out = (enum fx_trace_format)i;
			return 0;
		}
	return -EINVAL;
}

const char *fx_trace_format_name(enum fx_trace_format f)
{
	return (unsigned)f < sizeof(fx_format_names) / sizeof(fx_format_names[0])
		   ? fx_format_names[f]
		   : "?";
}

/* Record a malformed-input error at the current line (text formats) or
 * byte offset @off (binary); the first one wins. @return -FX_ECORRUPT. */
static int fx_bad(struct fx_trace_reader *r, int64_t off, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fx_bad(struct fx_trace_reader *r, int64_t off, const char *hint, const char *fmt, ...)
{
	char what[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (off >= 0)
		fx_diag_set(&r->diag, -FX_ECORRUPT, hint,
			    "malformed %s trace %s (byte %" PRId64 ": %s)",
			    fx_trace_format_name(r->info.format), r->path, off, what);
	else
		fx_diag_set(&r->diag, -FX_ECORRUPT, hint,
			    "malformed %s trace %s (line %" PRIu64 ": %s)",
			    fx_trace_format_name(r->info.format), r->path, r->line_no, what);
	return -FX_ECORRUPT;
}

/* An input error from the source, with its description. */
static int fx_src_fail(struct fx_trace_reader *r)
{
	const char *hint = r->src.err == -FX_ECORRUPT ? "the file is damaged or cut short" : NULL;

	fx_diag_set(&r->diag, r->src.err, hint, "cannot read trace %s (%s)", r->path, r->src.why);
	return r->src.err;
}

/*
 * The next line into r->line (NUL-terminated, without "\n" or "\r\n").
 * @return 1, 0 at the end, or -err.
 */
static int fx_next_line(struct fx_trace_reader *r)
{
	struct fx_src *s = &r->src;
	size_t len = 0;
	bool any = false;

	for (;;) {
		ssize_t avail = fx_src_fill(s);
		const uint8_t *start, *nl;
		size_t take;

		if (avail < 0)
			return fx_src_fail(r);
		if (avail == 0) {
			if (!any)
				return 0;
			break;
		}
		any = true;
		start = s->buf + s->pos;
		nl = memchr(start, '\n', (size_t)avail);
		take = nl ? (size_t)(nl - start) : (size_t)avail;
		if (len + take + 1 > FX_LINE_MAX) {
			r->line_no++;
			return fx_bad(r, -1, NULL, "line longer than %u bytes", FX_LINE_MAX);
		}
		if (len + take + 1 > r->line_cap) {
			size_t cap = r->line_cap ? r->line_cap : 256;
			char *nb;

			while (cap < len + take + 1)
				cap *= 2;
			if (!(nb = realloc(r->line, cap)))
				return -ENOMEM;
			r->line = nb;
			r->line_cap = cap;
		}
		memcpy(r->line + len, start, take);
		len += take;
		s->pos += take + (nl ? 1 : 0);
		if (nl)
			break;
	}
	if (len && r->line[len - 1] == '\r')
		len--;
	r->line[len] = '\0';
	r->line_no++;
	return 1;
}

static bool fx_blank(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return !*s;
}

/* Trim ASCII blanks around [*@p, *@p + *@n). */
static void fx_trim(const char **p, size_t *n)
{
	while (*n && (**p == ' ' || **p == '\t')) {
		(*p)++;
		(*n)--;
	}
	while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
		(*n)--;
}

/* A decimal (@base 10) or hex (16) unsigned number filling [@p, @p + @n). */
static bool fx_num(const char *p, size_t n, int base, uint64_t *out)
{
	uint64_t v = 0;

	fx_trim(&p, &n);
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		int d;

		if (p[i] >= '0' && p[i] <= '9')
			d = p[i] - '0';
		else if (base == 16 && isxdigit((unsigned char)p[i]))
			d = tolower((unsigned char)p[i]) - 'a' + 10;
		else
			return false;
		if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
			return false;
		v = v * (uint64_t)base + (uint64_t)d;
	}
	*out = v;
	return true;
}

#define FX_CSV_MAXF 8

/* One CSV field: [p, p + n) after unquoting into r->line in place. */
struct fx_field {
	const char *p;
	size_t n;
	bool quoted;
};

/*
 * Split r->line into fields (in place: quoted fields are unescaped where
 * they stand). @return the number of fields, or -FX_ECORRUPT.
 */
static int fx_split(struct fx_trace_reader *r, struct fx_field *f, int max)
{
	char *p = r->line;
	int n = 0;

	for (;;) {
		if (n == max)
			return fx_bad(r, -1, NULL, "more than %d fields", max);
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '"') {
			char *w = ++p, *start = w;

			for (;;) {
				if (!*p)
					return fx_bad(r, -1, NULL, "unterminated quote");
				if (*p == '"' && p[1] == '"') {
					*w++ = '"';
					p += 2;
				} else if (*p == '"') {
					p++;
					break;
				} else {
					*w++ = *p++;
				}
			}
			f[n] = (struct fx_field){start, (size_t)(w - start), true};
			while (*p == ' ' || *p == '\t')
				p++;
			if (*p && *p != ',')
				return fx_bad(r, -1, NULL, "text after a closing quote");
		} else {
			char *start = p;

			while (*p && *p != ',')
				p++;
			f[n] = (struct fx_field){start, (size_t)(p - start), false};
			fx_trim(&f[n].p, &f[n].n);
		}
		n++;
		if (!*p)
			return n;
		p++; /* the comma */
	}
}

/* Does @line hold exactly the comma-separated @names (case and blanks aside)? */
static bool fx_is_header(const char *line, const char *names)
{
	const char *p = line, *q = names;

	if ((unsigned char)p[0] == 0xef && (unsigned char)p[1] == 0xbb &&
	    (unsigned char)p[2] == 0xbf)
		p += 3; /* UTF-8 byte order mark */
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		while (*q && *q != ',' && tolower((unsigned char)*p) == *q) {
			p++;
			q++;
		}
		while (*p == ' ' || *p == '\t')
			p++;
		if (*q == ',' && *p == ',') {
			p++;
			q++;
			continue;
		}
		return !*q && !*p;
	}
}

#define FX_CSV_HEADER "time,object,offset,size"
#define FX_CP_HEADER  "version,time,op,size,lbn"

static uint64_t fx_obj_id(uint64_t id)
{
	return id ? id : UINT64_MAX; /* 0 means "unknown" everywhere in rustfx */
}

/* ------------------------------------------------------------ rustfx */

/* A varint at the current position; @rec is where the record began. */
static int fx_get_uv(struct fx_trace_reader *r, uint64_t rec, uint64_t *out)
{
	uint64_t v = 0;
	uint8_t c = 0;
	int ret;

	for (int i = 0; i < FX_VARINT_MAX; i++) {
		if ((ret = fx_src_byte(&r->src, &c)) < 0)
			return fx_src_fail(r);
		if (ret == 0)
			return fx_bad(r, (int64_t)rec,
				      "the trace was cut short (a mount killed while "
				      "recording?)",
				      "truncated record");
		if (i == FX_VARINT_MAX - 1 && c > 1)
			return fx_bad(r, (int64_t)rec, NULL, "varint over 64 bits");
		v |= (uint64_t)(c & 0x7f) << (7 * i);
		if (!(c & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return fx_bad(r, (int64_t)rec, NULL, "varint longer than %d bytes", FX_VARINT_MAX);
}

static int fx_rustfx_header(struct fx_trace_reader *r)
{
	uint8_t h[FX_TRACE_HEADER_LEN];
	uint64_t version, flags, alg;
	int ret;

	for (size_t i = 0; i < sizeof(h); i++) {
		if ((ret = fx_src_byte(&r->src, &h[i])) < 0)
			return fx_src_fail(r);
		if (ret == 0)
			return fx_bad(r, (int64_t)i, NULL,
				      "%zu bytes, shorter than the %d-byte header", i,
				      FX_TRACE_HEADER_LEN);
	}
	if (memcmp(h, FX_TRACE_MAGIC, 8) != 0)
		return fx_bad(r, 0,
			      "name the format of the file with --format (csv, lirs, cloudphysics)",
			      "bad magic: not a rustfx trace");
	version = fx_get_le(h + 8, 2);
	flags = fx_get_le(h + 10, 2);
	alg = fx_get_le(h + 12, 4);
	if (version != FX_TRACE_VERSION)
		return fx_bad(r, 8,
			      "record it again with this rustfx, or replay it with the rustfx that "
			      "wrote it",
			      "unsupported version %" PRIu64 " (this rustfx reads version %d)",
			      version, FX_TRACE_VERSION);
	if (flags & ~(uint64_t)FX_TRACE_F_NAMES)
		return fx_bad(r, 10, NULL, "unknown flags 0x%" PRIx64, flags);
	if (alg != FX_TRACE_HASH_XXH3)
		return fx_bad(r, 12, NULL, "unknown hash algorithm %" PRIu64, alg);
	r->info.seed = fx_get_le(h + 16, 8);
	r->info.start_us = fx_get_le(h + 24, 8);
	r->info.hash_alg = (uint32_t)alg;
	return 0;
}

static int fx_rustfx_next(struct fx_trace_reader *r, struct fx_trace_req *out)
{
	for (;;) {
		uint64_t rec = fx_src_off(&r->src), dt, obj, v[3] = {0, 0, 0}, klen;
		uint8_t type = 0;
		int ret = fx_src_byte(&r->src, &type);

		if (ret < 0)
			return fx_src_fail(r);
		if (ret == 0)
			return 0;
		switch (type) {
		case FX_TRACE_REC_NAME: {
			char key[256], *big = NULL;
			const char *k = key;

			if ((ret = fx_get_uv(r, rec, &obj)) < 0 ||
			    (ret = fx_get_uv(r, rec, &klen)) < 0)
				return ret;
			if (klen > FX_TRACE_KEY_MAX)
				return fx_bad(r, (int64_t)rec, NULL, "name of %" PRIu64 " bytes",
					      klen);
			if (klen >= sizeof(key) && !(k = big = malloc(klen + 1)))
				return -ENOMEM;
			for (uint64_t i = 0; i < klen; i++) {
				if ((ret = fx_src_byte(&r->src, (uint8_t *)&k[i])) <= 0) {
					free(big);
					return ret < 0 ? fx_src_fail(r)
						       : fx_bad(r, (int64_t)rec, NULL,
								"truncated record");
				}
			}
			ret = fx_names_put(&r->names, fx_obj_id(obj), k, (size_t)klen);
			free(big);
			if (ret < 0)
				return ret;
			continue;
		}
		case FX_TRACE_REC_OPEN:
		case FX_TRACE_REC_READ:
			if ((ret = fx_get_uv(r, rec, &dt)) < 0 ||
			    (ret = fx_get_uv(r, rec, &obj)) < 0)
				return ret;
			for (int i = type == FX_TRACE_REC_READ ? 0 : 2; i < 3; i++)
				if ((ret = fx_get_uv(r, rec, &v[i])) < 0)
					return ret;
			/* What a reader gives never wraps (csv and lirs say so too). */
			if (v[0] + v[1] < v[0])
				return fx_bad(r, (int64_t)rec, NULL,
					      "read of %" PRIu64 " bytes at %" PRIu64 " ends past 2^64",
					      v[1], v[0]);
			if (dt > UINT64_MAX - r->info.start_us - r->clock_us)
				return fx_bad(r, (int64_t)rec, NULL, "time past 2^64 microseconds");
			r->clock_us += dt;
			*out = (struct fx_trace_req){
			    .time_us = r->info.start_us + r->clock_us,
			    .obj = fx_obj_id(obj),
			    .off = v[0],
			    .len = v[1],
			    .size = v[2],
			    .op = type == FX_TRACE_REC_READ ? FX_TRACE_READ : FX_TRACE_OPEN,
			};
			return 1;
		default:
			return fx_bad(r, (int64_t)rec, NULL, "unknown record type %u", type);
		}
	}
}

/* ------------------------------------------------------------ text */

/* The next line that is not blank; @return 1, 0 at the end, -err. */
static int fx_next_data_line(struct fx_trace_reader *r)
{
	int ret;

	if (r->pending) {
		r->pending = false;
		return 1;
	}
	while ((ret = fx_next_line(r)) == 1)
		if (!fx_blank(r->line))
			return 1;
	return ret;
}

static int fx_lirs_next(struct fx_trace_reader *r, struct fx_trace_req *out)
{
	uint64_t block;
	int ret;

	for (;;) {
		const char *p;
		size_t n;

		if ((ret = fx_next_data_line(r)) <= 0)
			return ret;
		p = r->line;
		n = strlen(p);
		fx_trim(&p, &n);
		if (n == 1 && *p == '*')
			continue;
		/* >=: the last block would end at 2^64, wrapping off + len */
		if (!fx_num(p, n, 10, &block) || block >= UINT64_MAX / FX_TRACE_LIRS_BLOCK)
			return fx_bad(r, -1, "each line of a lirs trace is one block number",
				      "not a block number: '%.40s'", r->line);
		*out = (struct fx_trace_req){.obj = 1,
					     .off = block * FX_TRACE_LIRS_BLOCK,
					     .len = FX_TRACE_LIRS_BLOCK,
					     .op = FX_TRACE_READ};
		return 1;
	}
}

static int fx_csv_next(struct fx_trace_reader *r, struct fx_trace_req *out)
{
	static const char hint[] = "rows are time_us,object,offset,size";
	struct fx_field f[FX_CSV_MAXF];
	uint64_t t, obj, off, len;
	int n, ret;

	if ((ret = fx_next_data_line(r)) <= 0)
		return ret;
	if ((n = fx_split(r, f, FX_CSV_MAXF)) < 0)
		return n;
	if (n != 4)
		return fx_bad(r, -1, hint, "%d fields, not 4", n);
	if (!fx_num(f[0].p, f[0].n, 10, &t))
		return fx_bad(r, -1, hint, "bad time '%.*s'", (int)f[0].n, f[0].p);
	if (!f[1].n)
		return fx_bad(r, -1, hint, "empty object");
	if (f[1].quoted || !fx_num(f[1].p, f[1].n, 10, &obj)) {
		obj = XXH3_64bits_withSeed(f[1].p, f[1].n, 0);
		obj = fx_obj_id(obj);
		if (!fx_names_slot(&r->names, obj) &&
		    fx_names_put(&r->names, obj, f[1].p, f[1].n) < 0)
			return -ENOMEM;
	}
	if (!fx_num(f[2].p, f[2].n, 10, &off))
		return fx_bad(r, -1, hint, "bad offset '%.*s'", (int)f[2].n, f[2].p);
	if (!fx_num(f[3].p, f[3].n, 10, &len) || off + len < off)
		return fx_bad(r, -1, hint, "bad size '%.*s'", (int)f[3].n, f[3].p);
	*out = (struct fx_trace_req){
	    .time_us = t, .obj = fx_obj_id(obj), .off = off, .len = len, .op = FX_TRACE_READ};
	return 1;
}

static int fx_cp_next(struct fx_trace_reader *r, struct fx_trace_req *out)
{
	static const char hint[] = "rows are version,time_us,op_hex,size_bytes,lbn";
	struct fx_field f[FX_CSV_MAXF];
	uint64_t version, t, op, size, lbn;
	int n, ret;

	for (;;) {
		if ((ret = fx_next_data_line(r)) <= 0)
			return ret;
		if ((n = fx_split(r, f, FX_CSV_MAXF)) < 0)
			return n;
		if (n != 5)
			return fx_bad(r, -1, hint, "%d fields, not 5", n);
		if (!fx_num(f[0].p, f[0].n, 10, &version))
			return fx_bad(r, -1, hint, "bad version '%.*s'", (int)f[0].n, f[0].p);
		if (!fx_num(f[1].p, f[1].n, 10, &t))
			return fx_bad(r, -1, hint, "bad time '%.*s'", (int)f[1].n, f[1].p);
		if (!fx_num(f[2].p, f[2].n, 16, &op))
			return fx_bad(r, -1, hint, "bad op '%.*s'", (int)f[2].n, f[2].p);
		if (!fx_num(f[3].p, f[3].n, 10, &size))
			return fx_bad(r, -1, hint, "bad size '%.*s'", (int)f[3].n, f[3].p);
		if (!fx_num(f[4].p, f[4].n, 10, &lbn) || lbn > UINT64_MAX / 512 ||
		    lbn * 512 + size < lbn * 512)
			return fx_bad(r, -1, hint, "bad lbn '%.*s'", (int)f[4].n, f[4].p);
		switch (op) {
		case 0x08:
		case 0x28:
		case 0x88:
		case 0xa8: /* READ(6/10/16/12) */
		case 0x0a:
		case 0x2a:
		case 0x8a:
		case 0xaa: /* WRITE(6/10/16/12) */
			*out = (struct fx_trace_req){
			    .time_us = t,
			    .obj = 1,
			    .off = lbn * 512,
			    .len = size,
			    .op = (op & 0x02) ? FX_TRACE_WRITE : FX_TRACE_READ,
			};
			return 1;
		default:
			r->info.skipped++;
		}
	}
}

/* ------------------------------------------------------------ open */

/* Read the first non-blank line and check it is @header. */
static int fx_expect_header(struct fx_trace_reader *r, const char *header)
{
	int ret = fx_next_data_line(r);

	if (ret < 0)
		return ret;
	if (ret == 0)
		return fx_bad(r, -1, NULL, "empty file, expected the header %s", header);
	if (!fx_is_header(r->line, header)) {
		const char *hint = fx_is_header(r->line, FX_CP_HEADER)
				       ? "this is a cloudphysics trace: --format cloudphysics"
				   : fx_is_header(r->line, FX_CSV_HEADER)
				       ? "this is a generic csv trace: --format csv"
				       : "the first line must be the header (or try --format auto)";

		return fx_bad(r, -1, hint, "expected the header %s, found '%.60s'", header,
			      r->line);
	}
	return 0;
}

/* Tell the format from the first bytes; consumes a CSV header, keeps a
 * first lirs line pending. */
static int fx_detect(struct fx_trace_reader *r)
{
	ssize_t avail = fx_src_fill(&r->src);
	const char *p;
	size_t n;
	uint64_t v;
	int ret;

	if (avail < 0)
		return fx_src_fail(r);
	if ((size_t)avail >= 8 && memcmp(r->src.buf + r->src.pos, FX_TRACE_MAGIC, 8) == 0) {
		r->info.format = FX_TRACE_RUSTFX;
		return fx_rustfx_header(r);
	}
	if ((ret = fx_next_data_line(r)) < 0)
		return ret;
	if (ret == 0) {
		fx_diag_set(&r->diag, -EINVAL, "name the format with --format",
			    "cannot tell the format of %s (it is empty)", r->path);
		return -EINVAL;
	}
	if (fx_is_header(r->line, FX_CP_HEADER)) {
		r->info.format = FX_TRACE_CLOUDPHYSICS;
		return 0;
	}
	if (fx_is_header(r->line, FX_CSV_HEADER)) {
		r->info.format = FX_TRACE_CSV;
		return 0;
	}
	p = r->line;
	n = strlen(p);
	fx_trim(&p, &n);
	if ((n == 1 && *p == '*') || fx_num(p, n, 10, &v)) {
		r->info.format = FX_TRACE_LIRS;
		r->pending = true;
		return 0;
	}
	fx_diag_set(&r->diag, -EINVAL, "name the format with --format rustfx|csv|lirs|cloudphysics",
		    "cannot tell the format of %s (line %" PRIu64 ": '%.40s')", r->path, r->line_no,
		    r->line);
	return -EINVAL;
}

int fx_trace_reader_open(const char *path, enum fx_trace_format fmt, struct fx_trace_reader **out,
			 struct fx_diag *d)
{
	struct fx_trace_reader *r = calloc(1, sizeof(*r));
	struct stat st;
	int fd, ret;

	if (!r) {
		fx_diag_set(d, -ENOMEM, NULL, "out of memory");
		return -ENOMEM;
	}
	snprintf(r->path, sizeof(r->path), "%s", strcmp(path, "-") ? path : "(stdin)");
	fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : dup(STDIN_FILENO);
	if (fd < 0) {
		ret = -errno;
		fx_diag_set(d, ret, ret == -ENOENT ? "check the path" : NULL,
			    "cannot open trace %s (%s)", r->path, strerror(-ret));
		goto out_free;
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		ret = -EISDIR;
		fx_diag_set(d, ret, "name a trace file", "cannot read trace %s (%s)", r->path,
			    strerror(EISDIR));
		goto out_free;
	}
	if (!(r->src.gz = gzdopen(fd, "rb"))) {
		close(fd);
		ret = -ENOMEM;
		fx_diag_set(d, ret, NULL, "out of memory");
		goto out_free;
	}
	r->info.format = fmt;
	switch (fmt) {
	case FX_TRACE_AUTO:
		ret = fx_detect(r);
		break;
	case FX_TRACE_RUSTFX:
		ret = fx_rustfx_header(r);
		break;
	case FX_TRACE_CSV:
		ret = fx_expect_header(r, FX_CSV_HEADER);
		break;
	case FX_TRACE_CLOUDPHYSICS:
		ret = fx_expect_header(r, FX_CP_HEADER);
		break;
	case FX_TRACE_LIRS:
		ret = 0;
		break;
	default:
		ret = -EINVAL;
		fx_diag_set(&r->diag, ret, NULL, "unknown trace format %d", (int)fmt);
	}
	if (ret < 0) {
		if (d && !d->err)
			*d = r->diag;
		if (ret == -ENOMEM)
			fx_diag_set(d, ret, NULL, "out of memory");
		goto out_close;
	}
	r->info.timed = r->info.format != FX_TRACE_LIRS;
	*out = r;
	return 0;
out_close:
	fx_trace_reader_close(r);
	return ret;
out_free:
	free(r);
	return ret;
}

int fx_trace_next(struct fx_trace_reader *r, struct fx_trace_req *out)
{
	struct fx_trace_req req;
	int ret;

	if (r->err)
		return r->err;
	switch (r->info.format) {
	case FX_TRACE_RUSTFX:
		ret = fx_rustfx_next(r, &req);
		break;
	case FX_TRACE_CSV:
		ret = fx_csv_next(r, &req);
		break;
	case FX_TRACE_LIRS:
		ret = fx_lirs_next(r, &req);
		break;
	case FX_TRACE_CLOUDPHYSICS:
		ret = fx_cp_next(r, &req);
		break;
	default:
		ret = -EINVAL;
	}
	if (ret < 0) {
		if (ret == -ENOMEM)
			fx_diag_set(&r->diag, ret, NULL, "out of memory");
		r->err = ret;
		return ret;
	}
	if (ret == 1)
		*out = req;
	return ret;
}

const char *fx_trace_name(const struct fx_trace_reader *r, uint64_t obj)
{
	char **slot = fx_names_slot(&r->names, obj);

	return slot ? *slot : NULL;
}

void fx_trace_reader_info(const struct fx_trace_reader *r, struct fx_trace_info *out)
{
	*out = r->info;
}

const struct fx_diag *fx_trace_reader_diag(const struct fx_trace_reader *r)
{
	return &r->diag;
}

void fx_trace_reader_close(struct fx_trace_reader *r)
{
	if (!r)
		return;
	if (r->src.gz)
		gzclose(r->src.gz);
	fx_names_destroy(&r->names);
	free(r->line);
	free(r);
}
