/*
 * s3_creds.c - the S3 credentials chain (see s3_creds.h).
 *
 * Owns: reading explicit settings, the environment given in the options,
 * ~/.aws/credentials and s3fs passwd files, and holding what they yield in
 * sodium_malloc memory. Does not own: signing, or where settings come from.
 *
 * Files are read with read(2) into sodium_malloc'd buffers and split into
 * lines in place, so no copy of a secret is left in a stdio or parser buffer.
 * libinih is not used: Debian builds it with INI_MAX_LINE 200, which cuts STS
 * session tokens (often 400-1200+ bytes), and it keeps lines on its stack.
 * Messages name files, variables and line numbers, never a value.
 */
#include "backends/s3_creds.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/secret.h"

#define FX_CREDS_ABSENT	  1 /* the source is not there: try the next one */
#define FX_CREDS_FILE_MAX (1 << 20)

/* A whole file in sodium memory; @size bytes allocated. */
struct fx_secret_text {
	char *buf;
	size_t size;
};

/* For messages and hints, where a cut is harmless. */
static void __attribute__((format(printf, 3, 4))) fmt_cut(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, n, fmt, ap);
	va_end(ap);
}

static void text_free(struct fx_secret_text *t)
{
	if (!t->buf)
		return;
	sodium_memzero(t->buf, t->size);
	sodium_free(t->buf);
	t->buf = NULL;
}

void fx_s3_creds_free(struct fx_s3_creds *c)
{
	if (!c)
		return;
	fx_secret_free(c->access_key);
	fx_secret_free(c->secret_key);
	fx_secret_free(c->session_token);
	free(c);
}

/* @token may be NULL. */
static int creds_set(struct fx_s3_creds *c, const char *access, const char *secret,
		     const char *token, const char *source, struct fx_diag *d)
{
	c->access_key = fx_secret_dup(access);
	c->secret_key = fx_secret_dup(secret);
	c->session_token = token ? fx_secret_dup(token) : NULL;
	if (!c->access_key || !c->secret_key || (token && !c->session_token)) {
		fx_diag_set(d, -ENOMEM, NULL, "no memory to hold S3 credentials");
		return -ENOMEM;
	}
	fmt_cut(c->source, sizeof(c->source), "%s", source);
	return 0;
}

/* Value of @name in @envp; an empty value counts as unset. */
static const char *env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (; envp && *envp; envp++)
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return (*envp)[n + 1] ? *envp + n + 1 : NULL;
	return NULL;
}

/* Both halves of a key pair, or neither: one alone is a broken source. */
static int pair_check(const char *access, const char *secret, const char *access_name,
		      const char *secret_name, const char *where, struct fx_diag *d)
{
	char hint[256];

	if (!access && !secret)
		return FX_CREDS_ABSENT;
	if (access && secret)
		return 0;
	fmt_cut(hint, sizeof(hint), "set both %s and %s%s, or neither", access_name, secret_name,
		where);
	fx_diag_set(d, -FX_EBADCONF, hint, "%s is set but %s is not%s",
		    access ? access_name : secret_name, access ? secret_name : access_name, where);
	return -FX_EBADCONF;
}

static int path_join(char *path, size_t n, const char *home, const char *name, struct fx_diag *d)
{
	if ((size_t)snprintf(path, n, "%s%s", home, name) < n)
		return 0;
	fx_diag_set(d, -ENAMETOOLONG, "use a shorter HOME", "HOME is too long to hold %s", name);
	return -ENAMETOOLONG;
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* Next line of *@cur, cut and trimmed in place; NULL at the end. */
static char *next_line(char **cur)
{
	char *line = *cur, *nl;

	if (!line || !*line)
		return NULL;
	nl = strchr(line, '\n');
	if (nl)
		*nl = '\0';
	*cur = nl ? nl + 1 : line + strlen(line);
	return trim(line);
}

/*
 * Read @path into sodium memory. A passwd file must be a private file.
 * @return 0, FX_CREDS_ABSENT (missing, !@must_exist) or -errno with @d.
 */
static int file_read(const char *path, bool passwd, bool must_exist, struct fx_secret_text *t,
		     struct fx_diag *d)
{
	char hint[PATH_MAX + 32];
	size_t off = 0;
	struct stat st;
	ssize_t got;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		if (err == ENOENT && !must_exist)
			return FX_CREDS_ABSENT;
		fx_diag_set(d, -err,
			    err == ENOENT ? "create it (chmod 600) or fix passwd_file" : NULL,
			    "cannot open %s (%s)", path, strerror(err));
		return -err;
	}
	if (fstat(fd, &st) < 0) {
		err = -errno;
		fx_diag_set(d, err, NULL, "cannot stat %s (%s)", path, strerror(-err));
		goto out_close;
	}
	err = -EINVAL;
	if (!S_ISREG(st.st_mode) || st.st_size > FX_CREDS_FILE_MAX) {
		fx_diag_set(d, err, "point it at a regular file of credentials",
			    "%s is not a credentials file (not a regular file, or over 1 MiB)",
			    path);
		goto out_close;
	}
	err = -EACCES;
	if (passwd && (st.st_mode & 077)) {
		fmt_cut(hint, sizeof(hint), "chmod 600 %s", path);
		fx_diag_set(d, err, hint, "passwd file %s is readable by others", path);
		goto out_close;
	}
	err = -ENOMEM;
	t->size = (size_t)st.st_size + 1;
	t->buf = sodium_malloc(t->size);
	if (!t->buf) {
		fx_diag_set(d, err, NULL, "no memory to read %s", path);
		goto out_close;
	}
	while (off < t->size - 1) {
		got = read(fd, t->buf + off, t->size - 1 - off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			err = -errno;
			fx_diag_set(d, err, NULL, "cannot read %s (%s)", path, strerror(-err));
			goto out_free;
		}
		if (got == 0)
			break;
		off += (size_t)got;
	}
	t->buf[off] = '\0';
	close(fd);
	return 0;

out_free:
	text_free(t);
out_close:
	close(fd);
	return err;
}

/* [profile] in ~/.aws/credentials: a named profile must exist and have keys. */
static int from_profile(const struct fx_s3_creds_opts *o, const char *home, struct fx_s3_creds *c,
			struct fx_diag *d)
{
	const char *name = o->profile && *o->profile ? o->profile : env_get(o->envp, "AWS_PROFILE");
	const char *access = NULL, *secret = NULL, *token = NULL;
	struct fx_secret_text t = {NULL, 0};
	char path[PATH_MAX], where[PATH_MAX + 32], hint[PATH_MAX + 64], *cur, *line, *eq;
	bool named = name != NULL, in = false, found = false;
	int rc;

	name = named ? name : "default";
	if (path_join(path, sizeof(path), home, "/.aws/credentials", d))
		return -ENAMETOOLONG;
	fmt_cut(hint, sizeof(hint),
		"add [%s] with aws_access_key_id and aws_secret_access_key "
		"to %s",
		name, path);
	rc = file_read(path, false, false, &t, d);
	if (rc == FX_CREDS_ABSENT && named) {
		fx_diag_set(d, -ENOENT, hint, "profile %s not found (%s does not exist)", name,
			    path);
		return -ENOENT;
	}
	if (rc)
		return rc;
	for (cur = t.buf; (line = next_line(&cur));) {
		if (*line == '[' && (eq = strrchr(line, ']'))) {
			*eq = '\0';
			in = strcmp(trim(line + 1), name) == 0;
			found |= in;
		} else if (in && *line != '#' && *line != ';' && (eq = strchr(line, '='))) {
			*eq = '\0';
			line = trim(line);
			eq = trim(eq + 1);
			if (strcmp(line, "aws_access_key_id") == 0)
				access = *eq ? eq : NULL;
			else if (strcmp(line, "aws_secret_access_key") == 0)
				secret = *eq ? eq : NULL;
			else if (strcmp(line, "aws_session_token") == 0)
				token = *eq ? eq : NULL;
		}
	}
	fmt_cut(where, sizeof(where), " in profile %s of %s", name, path);
	if (!found && named) {
		fx_diag_set(d, -ENOENT, hint, "profile %s not found in %s", name, path);
		rc = -ENOENT;
	} else if (!access && !secret && named) {
		fx_diag_set(d, -FX_EBADCONF, hint, "profile %s in %s has no static keys", name,
			    path);
		rc = -FX_EBADCONF;
	} else {
		rc = pair_check(access, secret, "aws_access_key_id", "aws_secret_access_key", where,
				d);
	}
	if (rc == 0) {
		fmt_cut(where, sizeof(where), "profile %s in ~/.aws/credentials", name);
		rc = creds_set(c, access, secret, token, where, d);
	}
	text_free(&t);
	return rc;
}

/* An s3fs passwd file: ACCESS:SECRET, or BUCKET:ACCESS:SECRET which wins. */
static int from_passwd(const char *path, bool must_exist, const char *bucket, struct fx_s3_creds *c,
		       struct fx_diag *d)
{
	struct fx_secret_text t = {NULL, 0};
	char *cur, *line, *c1, *c2, source[PATH_MAX + 32];
	char *access[2] = {NULL, NULL}, *secret[2] = {NULL, NULL}; /* [0]: bucket line */
	unsigned lineno = 0, picked[2] = {0, 0};
	int rc = file_read(path, true, must_exist, &t, d), which;

	for (cur = rc ? NULL : t.buf; (line = next_line(&cur));) {
		lineno++;
		if (!*line || *line == '#')
			continue;
		c1 = strchr(line, ':');
		c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c1 || c1 == line || !c1[1] ||
		    (c2 && (c2 == c1 + 1 || !c2[1] || strchr(c2 + 1, ':')))) {
			fx_diag_set(d, -FX_EBADCONF, "write ACCESS:SECRET or BUCKET:ACCESS:SECRET",
				    "passwd file %s line %u is not ACCESS:SECRET or "
				    "BUCKET:ACCESS:SECRET",
				    path, lineno);
			rc = -FX_EBADCONF;
			break;
		}
		*c1 = '\0';
		if (c2)
			*c2 = '\0';
		which = c2 ? 0 : 1;
		if ((c2 && (!bucket || strcmp(line, bucket) != 0)) || access[which])
			continue;
		access[which] = c2 ? c1 + 1 : line;
		secret[which] = c2 ? c2 + 1 : c1 + 1;
		picked[which] = lineno;
	}
	if (rc == 0) {
		which = access[0] ? 0 : 1;
		rc = FX_CREDS_ABSENT;
		if (access[which]) {
			fmt_cut(source, sizeof(source), "passwd file %s line %u", path,
				picked[which]);
			rc = creds_set(c, access[which], secret[which], NULL, source, d);
		}
	}
	text_free(&t);
	return rc;
}

/* Where explicit settings are given, for messages. */
#define FX_CREDS_SETTINGS " ([s3] in rustfx.toml, RUSTFX_S3_* or -o)"

static const char *nonempty(const char *s)
{
	return s && *s ? s : NULL;
}

/* Explicit settings: both keys, with a session token or not; or nothing. */
static int from_settings(const struct fx_s3_creds_opts *o, struct fx_s3_creds *c,
			 struct fx_diag *d)
{
	const char *access = nonempty(o->access_key), *secret = nonempty(o->secret_key);
	const char *token = nonempty(o->session_token);
	int rc = pair_check(access, secret, "access_key_id", "secret_access_key", FX_CREDS_SETTINGS,
			    d);

	if (rc == 0)
		return creds_set(c, access, secret, token,
				 token ? "settings [s3] access_key_id and session_token"
				       : "settings [s3] access_key_id",
				 d);
	if (rc == FX_CREDS_ABSENT && token) {
		/* A token is only valid with the keys it was issued with. */
		fx_diag_set(d, -FX_EBADCONF,
			    "set access_key_id and secret_access_key too" FX_CREDS_SETTINGS
			    ", or remove session_token",
			    "session_token is set but access_key_id and secret_access_key are not");
		return -FX_EBADCONF;
	}
	return rc;
}

static int creds_chain(const struct fx_s3_creds_opts *o, struct fx_s3_creds *c, struct fx_diag *d)
{
	const char *home = o->home ? o->home : env_get(o->envp, "HOME");
	const char *profile =
	    o->profile && *o->profile ? o->profile : env_get(o->envp, "AWS_PROFILE");
	const char *access, *secret;
	char path[PATH_MAX], hint[384];
	int rc;

	if (o->anonymous) {
		c->anonymous = true;
		snprintf(c->source, sizeof(c->source), "anonymous (public_bucket)");
		return 0;
	}
	if ((rc = from_settings(o, c, d)) != FX_CREDS_ABSENT)
		return rc;

	access = env_get(o->envp, "AWS_ACCESS_KEY_ID");
	secret = env_get(o->envp, "AWS_SECRET_ACCESS_KEY");
	rc = pair_check(access, secret, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
			" in the environment", d);
	if (rc == 0)
		return creds_set(c, access, secret, env_get(o->envp, "AWS_SESSION_TOKEN"),
				 "env AWS_ACCESS_KEY_ID", d);
	if (rc != FX_CREDS_ABSENT)
		return rc;

	if (home && (rc = from_profile(o, home, c, d)) != FX_CREDS_ABSENT)
		return rc;

	if (o->passwd_file)
		return from_passwd(o->passwd_file, true, o->bucket, c, d);
	if (home) {
		if (path_join(path, sizeof(path), home, "/.passwd-s3fs", d))
			return -ENAMETOOLONG;
		if ((rc = from_passwd(path, false, o->bucket, c, d)) != FX_CREDS_ABSENT)
			return rc;
	}
	if ((rc = from_passwd("/etc/passwd-s3fs", false, o->bucket, c, d)) != FX_CREDS_ABSENT)
		return rc;

	fmt_cut(hint, sizeof(hint),
		"put keys in access_key_id/secret_access_key, env AWS_ACCESS_KEY_ID/"
		"AWS_SECRET_ACCESS_KEY, [%s] in %s/.aws/credentials, %s/.passwd-s3fs or "
		"/etc/passwd-s3fs (chmod 600); or set public_bucket",
		profile ? profile : "default", home ? home : "$HOME", home ? home : "$HOME");
	fx_diag_set(d, -EACCES, hint, "no S3 credentials found");
	return -EACCES;
}

int fx_s3_creds_resolve(const struct fx_s3_creds_opts *o, struct fx_s3_creds **out,
			struct fx_diag *d)
{
	struct fx_s3_creds *c;
	int rc;

	if (sodium_init() < 0) {
		fx_diag_set(d, -EIO, NULL, "libsodium could not be initialised");
		return -EIO;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		fx_diag_set(d, -ENOMEM, NULL, "no memory for S3 credentials");
		return -ENOMEM;
	}
	rc = creds_chain(o, c, d);
	if (rc) {
		fx_s3_creds_free(c);
		return rc;
	}
	*out = c;
	return 0;
}
