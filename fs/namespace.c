/*
 * namespace.c - names <-> keys and metadata <-> struct stat (see namespace.h).
 *
 * Attributes are read under s3fs's metadata names (mode, uid, gid, mtime);
 * where one is absent, the same name in s3cmd's single entry s3cmd-attrs
 * ("atime:.../gid:0/gname:root/md5:.../mode:33188/mtime:.../uid:0/...") is
 * used instead. Attributes are always written under s3fs's names, which then
 * win over what s3cmd recorded.
 */
#include "fs/namespace.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fx_name_check(const char *name, size_t len)
{
	if (len == 0 || memchr(name, '/', len) || (len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return -EINVAL;
	if (len > FX_NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

int fx_ns_child_key(const char *dir_key, const char *name, char *out, size_t n)
{
	size_t dl = strlen(dir_key), nl = strlen(name);
	size_t len = dl + (dl ? 1 : 0) + nl;
	int ret = fx_name_check(name, nl);

	if (ret < 0)
		return ret;
	/* One byte stays free for the '/' of a directory marker. */
	if (len + 1 > FX_KEY_MAX || len + 2 > n)
		return -ENAMETOOLONG;
	memcpy(out, dir_key, dl);
	if (dl)
		out[dl++] = '/';
	memcpy(out + dl, name, nl + 1);
	return (int)len;
}

int fx_ns_dir_marker(const char *dir_key, char *out, size_t n)
{
	size_t dl = strlen(dir_key);

	if (dl + 2 > n)
		return -ENAMETOOLONG;
	memcpy(out, dir_key, dl);
	if (dl)
		out[dl++] = '/';
	out[dl] = '\0';
	return (int)dl;
}

int fx_ns_entry_name(const char *prefix, const char *key, char *out, size_t n)
{
	size_t pl = strlen(prefix), len;
	const char *rest;

	if (strncmp(key, prefix, pl) != 0)
		return -EINVAL;
	rest = key + pl;
	if (*rest == '\0')
		return 1; /* the directory's own marker */
	len = strlen(rest);
	if (rest[len - 1] == '/')
		len--;
	if (fx_name_check(rest, len) < 0 || len + 1 > n)
		return -EINVAL;
	memcpy(out, rest, len);
	out[len] = '\0';
	return 0;
}

int fx_ns_parse_mtime(const char *text, int64_t *out_ns)
{
	char *end;
	long long sec;
	int64_t ns = 0, scale = 100000000;
	/* "-0.5" has a zero, unsigned integer part; strtoll skips leading blanks */
	bool negative = text[strspn(text, " \t\n\v\f\r")] == '-';

	errno = 0;
	sec = strtoll(text, &end, 10);
	if (end == text || errno || sec < -9000000000LL || sec > 9000000000LL)
		return -EINVAL;
	if (*end == '.') {
		for (end++; *end >= '0' && *end <= '9'; end++) {
			ns += (*end - '0') * scale;
			scale /= 10;
		}
	}
	if (*end != '\0')
		return -EINVAL;
	*out_ns = (int64_t)sec * 1000000000 + (negative ? -ns : ns);
	return 0;
}

/* The value of @name in s3cmd's "name:value/name:value" @attrs, copied to
 * @buf; NULL when absent or longer than @buf allows. */
static const char *fx_s3cmd_attr(const char *attrs, const char *name, char *buf, size_t n)
{
	size_t nl = strlen(name), vl;
	const char *p = attrs, *end;

	for (; *p; p = *end ? end + 1 : end) {
		end = strchrnul(p, '/');
		if ((size_t)(end - p) <= nl || p[nl] != ':' || strncmp(p, name, nl) != 0)
			continue;
		vl = (size_t)(end - p) - nl - 1;
		if (vl >= n)
			return NULL;
		memcpy(buf, p + nl + 1, vl);
		buf[vl] = '\0';
		return buf;
	}
	return NULL;
}

/* Attribute @name of an object: s3fs's entry, else s3cmd's (copied to @buf). */
static const char *fx_ns_attr(const struct fx_meta *m, const char *name, char *buf, size_t n)
{
	const char *v = m ? fx_meta_get(m, name) : NULL, *attrs;

	if (v && *v)
		return v;
	attrs = m ? fx_meta_get(m, "s3cmd-attrs") : NULL;
	return attrs ? fx_s3cmd_attr(attrs, name, buf, n) : NULL;
}

/* Decimal @v (NULL: absent) up to @max. */
static int fx_ns_ulong(const char *v, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long x;

	if (!v || !*v)
		return -ENOENT;
	errno = 0;
	x = strtoul(v, &end, 10);
	if (*end || errno || x > max)
		return -EINVAL;
	*out = x;
	return 0;
}

void fx_ns_stat(struct stat *st, const struct fx_meta *meta, bool is_dir, uint64_t size,
		int64_t obj_mtime_ns, const struct fx_ns_defaults *def)
{
	unsigned long mode, id;
	int64_t mtime_ns = is_dir && !obj_mtime_ns ? def->dir_mtime_ns : obj_mtime_ns;
	const char *mt;
	char attr[64]; /* one attribute at a time, used at once */
	ino_t ino = st->st_ino;

	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	if (fx_ns_ulong(fx_ns_attr(meta, "mode", attr, sizeof(attr)), 0177777, &mode) == 0) {
		/* Only files, directories and symlinks exist here: a hostile bucket
		 * must not show device nodes, FIFOs or sockets. */
		if (!S_ISREG(mode) && !S_ISDIR(mode) && !S_ISLNK(mode))
			mode = (mode & ~(unsigned long)S_IFMT) | S_IFREG;
		/* A marker is a directory whatever its mode says; an object is not. */
		if (is_dir)
			mode = (mode & ~(unsigned long)S_IFMT) | S_IFDIR;
		else if (S_ISDIR(mode))
			mode = (mode & ~(unsigned long)S_IFMT) | S_IFREG;
		st->st_mode = (mode_t)mode;
	} else {
		st->st_mode = is_dir ? (S_IFDIR | (0777 & ~def->umask)) : (S_IFREG | (0666 & ~def->umask));
	}
	st->st_uid = fx_ns_ulong(fx_ns_attr(meta, "uid", attr, sizeof(attr)), UINT32_MAX - 1,
				 &id) == 0 ? (uid_t)id : def->uid;
	st->st_gid = fx_ns_ulong(fx_ns_attr(meta, "gid", attr, sizeof(attr)), UINT32_MAX - 1,
				 &id) == 0 ? (gid_t)id : def->gid;
	mt = fx_ns_attr(meta, "mtime", attr, sizeof(attr));
	if (mt)
		fx_ns_parse_mtime(mt, &mtime_ns);
	st->st_mtim.tv_sec = mtime_ns / 1000000000;
	st->st_mtim.tv_nsec = mtime_ns % 1000000000;
	if (st->st_mtim.tv_nsec < 0) {
		st->st_mtim.tv_sec--;
		st->st_mtim.tv_nsec += 1000000000;
	}
	st->st_ctim = st->st_mtim;
	st->st_atim = st->st_mtim;
	st->st_nlink = is_dir ? 2 : 1;
	st->st_size = is_dir ? 4096 : (off_t)size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((st->st_size + 511) / 512);
}

int fx_ns_meta_from_stat(struct fx_meta *meta, const struct stat *st)
{
	char buf[48];
	int ret;

	snprintf(buf, sizeof(buf), "%u", (unsigned)st->st_mode);
	if ((ret = fx_meta_set(meta, "mode", buf)) < 0)
		return ret;
	snprintf(buf, sizeof(buf), "%u", (unsigned)st->st_uid);
	if ((ret = fx_meta_set(meta, "uid", buf)) < 0)
		return ret;
	snprintf(buf, sizeof(buf), "%u", (unsigned)st->st_gid);
	if ((ret = fx_meta_set(meta, "gid", buf)) < 0)
		return ret;
	if (st->st_mtim.tv_nsec && st->st_mtim.tv_sec < 0) /* {-6, .5} is -5.5 s */
		snprintf(buf, sizeof(buf), "-%lld.%09ld", -(long long)st->st_mtim.tv_sec - 1,
			 1000000000 - st->st_mtim.tv_nsec);
	else if (st->st_mtim.tv_nsec)
		snprintf(buf, sizeof(buf), "%lld.%09ld", (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
	else
		snprintf(buf, sizeof(buf), "%lld", (long long)st->st_mtim.tv_sec);
	return fx_meta_set(meta, "mtime", buf);
}
