/*
 * fxmodel.c - rustfx-model-test, a model-based random tester: one random
 * sequence of file operations runs on a rustfx mount and on a plain
 * reference directory on local disk, and the two are compared after every
 * step.
 *
 * Owns: generating operations from a seed (the same seed and options give
 * the same sequence), running each one on both trees, comparing what came
 * back (return values, errno classes, the bytes read, sizes, types and
 * modes, directory listings), the op log printed on a mismatch, replaying
 * a saved log and shrinking a failing one.
 * Does not own: mounting (the --remount-cmd command unmounts and mounts
 * again), or what rustfx promises (README.md, "where rustfx differs from
 * POSIX"): the model keeps to those promises.
 *
 * Deliberately not exercised, because rustfx documents that it differs
 * from POSIX there, or because it is another test's business:
 *   - hard links (ENOTSUP by design), symlinks, special files;
 *   - timestamps (atime and ctime equal mtime by design), link counts and
 *     directory sizes (2 and 4096 by design), owners: no chmod, chown or
 *     utimens is issued and none of these is compared;
 *   - RENAME_EXCHANGE (EINVAL by design), RENAME_NOREPLACE, xattrs, locks
 *     (kernel-local), mmap, O_DIRECT, O_TMPFILE;
 *   - durability: fsync is compared by its return value only; crashes and
 *     server faults are other tests';
 *   - concurrency: one thread, one process, and no other client changing
 *     the bucket behind the mount;
 *   - names: short ASCII names only (hostile names are another test's).
 *
 * The reference is the model: which paths exist and how large files are is
 * read from the reference tree before each step, so a sequence depends only
 * on the seed and the options, never on what the mount answered (the run
 * stops at the first difference).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"

#define FXM_SLOTS    8		  /* handles open at once, at most */
#define FXM_PATH     64		  /* a relative path of the model */
#define FXM_SCAN_MAX 256	  /* entries of the reference tree looked at */
#define FXM_LIST_MAX 64		  /* entries of one directory compared */
#define FXM_IO_MAX   (1u << 20)	  /* bytes of one read or write */
#define FXM_CHUNK    (256u << 10) /* bytes compared at once by content checks */
#define FXM_BLOCK    (64u << 10)  /* offsets near multiples of this are favoured */
#define FXM_NAMES    "abcdefgh"	  /* one-letter names; collisions are the point */
#define FXM_DEPTH    3		  /* new names go at most this deep */
#define FXM_ERRNOS   140	  /* errno values counted one by one */
#define FXM_MOUNT    0		  /* side index: the rustfx mount */
#define FXM_REF	     1		  /* side index: the reference directory */

enum fxm_kind {
	FXM_OPEN,
	FXM_CLOSE,
	FXM_READ,
	FXM_WRITE,
	FXM_APPEND,
	FXM_FTRUNCATE,
	FXM_TRUNCATE,
	FXM_FSYNC,
	FXM_FSTAT,
	FXM_STAT,
	FXM_READDIR,
	FXM_MKDIR,
	FXM_RMDIR,
	FXM_UNLINK,
	FXM_RENAME,
	FXM_REMOUNT,
	FXM_CHECK,
	FXM_KINDS
};

static const char *const fxm_kind_names[FXM_KINDS] = {
    [FXM_OPEN] = "open",	 [FXM_CLOSE] = "close",	    [FXM_READ] = "read",
    [FXM_WRITE] = "write",	 [FXM_APPEND] = "append",   [FXM_FTRUNCATE] = "ftruncate",
    [FXM_TRUNCATE] = "truncate", [FXM_FSYNC] = "fsync",	    [FXM_FSTAT] = "fstat",
    [FXM_STAT] = "stat",	 [FXM_READDIR] = "readdir", [FXM_MKDIR] = "mkdir",
    [FXM_RMDIR] = "rmdir",	 [FXM_UNLINK] = "unlink",   [FXM_RENAME] = "rename",
    [FXM_REMOUNT] = "remount",	 [FXM_CHECK] = "check",
};

/* Relative weights of the generated operations (remounts come apart). */
static const unsigned fxm_weights[FXM_KINDS] = {
    [FXM_OPEN] = 10,	 [FXM_CLOSE] = 7,    [FXM_READ] = 18, [FXM_WRITE] = 16, [FXM_APPEND] = 6,
    [FXM_FTRUNCATE] = 5, [FXM_TRUNCATE] = 2, [FXM_FSYNC] = 3, [FXM_FSTAT] = 3,	[FXM_STAT] = 4,
    [FXM_READDIR] = 4,	 [FXM_MKDIR] = 4,    [FXM_RMDIR] = 3, [FXM_UNLINK] = 4, [FXM_RENAME] = 6,
};

/* One operation, complete enough to run again from its text form. */
struct fxm_op {
	enum fxm_kind kind;
	int slot;	/* handle slot, -1 when the op takes none */
	int flags;	/* open(2) flags */
	uint64_t off;	/* read/write offset */
	uint64_t len;	/* bytes to read or write, or the new size */
	uint64_t dseed; /* seed of the bytes written */
	char path[FXM_PATH], path2[FXM_PATH];
};

struct fxm_config {
	const char *root[2]; /* the mount, the reference */
	uint64_t seed, ops;
	bool seed_set;
	const char *remount_cmd;
	uint64_t remount_every; /* mean ops between remounts; 0: none */
	uint64_t max_size;	/* bytes a file may reach */
	unsigned max_names;	/* entries in the tree, at most (about) */
	unsigned history;	/* ops printed on a mismatch */
	uint64_t check_every;	/* ops between full listing checks; 0: never */
	uint64_t content_every; /* ops between full content checks; 0: never */
	const char *fail_log;	/* where the whole log goes on a mismatch */
	const char *replay;	/* a log to run instead of generating */
	const char *shrink_out; /* shrink the replayed log into this file */
	unsigned shrink_attempts;
	bool verbose, clean;
};

struct fxm_handle {
	bool open;
	bool dir; /* a directory opened O_RDONLY */
	int flags;
	char path[FXM_PATH]; /* where it was opened (it may have moved since) */
	int fd[2];
};

/* An entry of the reference tree, as the generator sees it. */
struct fxm_entry {
	char path[FXM_PATH];
	bool dir;
	int depth;  /* 1 for a name in the root */
	int height; /* directories: levels below it (0 when empty of dirs) */
	bool empty; /* a directory with nothing in it */
	uint64_t size;
};

struct fxm_tree {
	unsigned n, dirs;
	uint64_t bytes; /* of all files */
	struct fxm_entry e[FXM_SCAN_MAX];
};

struct fxm_attr {
	int err; /* 0 or an errno */
	mode_t mode;
	uint64_t size;
};

struct fxm_dirent {
	char name[FXM_PATH];
	struct fxm_attr a;
};

struct fxm_listing {
	int err;
	unsigned n;
	bool truncated;
	struct fxm_dirent e[FXM_LIST_MAX];
};

struct fxm_res {
	long long ret;
	int err;
};

struct fxm_stats {
	uint64_t ops[FXM_KINDS], errors[FXM_KINDS];
	uint64_t by_errno[FXM_KINDS][FXM_ERRNOS]; /* reference errors, by errno */
	uint64_t written, read, skipped, list_checks, content_checks, remounts;
};

struct fxm_run {
	const struct fxm_config *cfg;
	struct fxm_handle h[FXM_SLOTS];
	struct fxm_op *log; /* every op run so far */
	size_t nlog, caplog;
	struct fxm_tree tree;
	struct fxm_stats st;
	bool failed;	   /* a mismatch was found */
	char detail[4096]; /* what differed */
	size_t dlen;
	unsigned char *wbuf, *rbuf[2];
};

/* ------------------------------------------------------------ randomness */

/* splitmix64: small, fast, and the same on every machine. */
static uint64_t fxm_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t fxm_below(uint64_t *s, uint64_t n)
{
	return n ? fxm_next(s) % n : 0;
}

static bool fxm_chance(uint64_t *s, unsigned percent)
{
	return fxm_below(s, 100) < percent;
}

/* The bytes a write with @dseed writes: a stream of its own, replayable. */
static void fxm_fill(unsigned char *buf, size_t len, uint64_t dseed)
{
	uint64_t s = dseed, w = 0;

	for (size_t i = 0; i < len; i++) {
		if (i % 8 == 0)
			w = fxm_next(&s);
		buf[i] = (unsigned char)(w >> (8 * (i % 8)));
	}
}

/* ------------------------------------------------------------ op text */

static void fxm_flags_str(int flags, char *out, size_t n)
{
	int acc = flags & O_ACCMODE;

	snprintf(out, n, "%s%s%s%s%s",
		 acc == O_RDONLY   ? "rdonly"
		 : acc == O_WRONLY ? "wronly"
				   : "rdwr",
		 flags & O_CREAT ? ",creat" : "", flags & O_EXCL ? ",excl" : "",
		 flags & O_TRUNC ? ",trunc" : "", flags & O_APPEND ? ",append" : "");
}

static int fxm_flags_parse(const char *s, int *flags)
{
	char buf[128], *save = NULL, *tok;
	int f = -1, extra = 0;

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (strcmp(tok, "rdonly") == 0)
			f = O_RDONLY;
		else if (strcmp(tok, "wronly") == 0)
			f = O_WRONLY;
		else if (strcmp(tok, "rdwr") == 0)
			f = O_RDWR;
		else if (strcmp(tok, "creat") == 0)
			extra |= O_CREAT;
		else if (strcmp(tok, "excl") == 0)
			extra |= O_EXCL;
		else if (strcmp(tok, "trunc") == 0)
			extra |= O_TRUNC;
		else if (strcmp(tok, "append") == 0)
			extra |= O_APPEND;
		else
			return -EINVAL;
	}
	if (f < 0)
		return -EINVAL;
	*flags = f | extra;
	return 0;
}

static void fxm_op_str(const struct fxm_op *op, char *out, size_t n)
{
	const char *k = fxm_kind_names[op->kind];
	char fl[64];

	switch (op->kind) {
	case FXM_OPEN:
		fxm_flags_str(op->flags, fl, sizeof(fl));
		snprintf(out, n, "%s %d %s %s", k, op->slot, op->path, fl);
		break;
	case FXM_CLOSE:
	case FXM_FSYNC:
	case FXM_FSTAT:
		snprintf(out, n, "%s %d", k, op->slot);
		break;
	case FXM_READ:
		snprintf(out, n, "%s %d %" PRIu64 " %" PRIu64, k, op->slot, op->off, op->len);
		break;
	case FXM_WRITE:
		snprintf(out, n, "%s %d %" PRIu64 " %" PRIu64 " %016" PRIx64, k, op->slot, op->off,
			 op->len, op->dseed);
		break;
	case FXM_APPEND:
		snprintf(out, n, "%s %d %" PRIu64 " %016" PRIx64, k, op->slot, op->len, op->dseed);
		break;
	case FXM_FTRUNCATE:
		snprintf(out, n, "%s %d %" PRIu64, k, op->slot, op->len);
		break;
	case FXM_TRUNCATE:
		snprintf(out, n, "%s %s %" PRIu64, k, op->path, op->len);
		break;
	case FXM_STAT:
	case FXM_READDIR:
	case FXM_MKDIR:
	case FXM_RMDIR:
	case FXM_UNLINK:
		snprintf(out, n, "%s %s", k, op->path);
		break;
	case FXM_RENAME:
		snprintf(out, n, "%s %s %s", k, op->path, op->path2);
		break;
	case FXM_REMOUNT:
	case FXM_CHECK:
	case FXM_KINDS:
		snprintf(out, n, "%s", k);
		break;
	}
}

static bool fxm_takes_slot(enum fxm_kind k)
{
	return k == FXM_OPEN || k == FXM_CLOSE || k == FXM_READ || k == FXM_WRITE ||
	       k == FXM_APPEND || k == FXM_FTRUNCATE || k == FXM_FSYNC || k == FXM_FSTAT;
}

static bool fxm_path_ok(const char *p)
{
	size_t len = strlen(p);

	return len > 0 && len < FXM_PATH && p[0] != '/' && !strstr(p, "..") &&
	       strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_./-") == len;
}

/* Parse one line of a log ("[N:] KIND ARGS..."); 0, or -EINVAL. */
static int fxm_op_parse(const char *line, struct fxm_op *op)
{
	char kind[32], a[FXM_PATH] = "", b[FXM_PATH] = "";
	const char *p = line;
	int k, n;

	/* An optional "N:" index in front. */
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p >= '0' && *p <= '9') {
		const char *q = p + strspn(p, "0123456789");

		if (*q == ':')
			p = q + 1;
	}
	memset(op, 0, sizeof(*op));
	op->slot = -1;
	if (sscanf(p, "%31s%n", kind, &n) != 1)
		return -EINVAL;
	p += n;
	for (k = 0; k < FXM_KINDS; k++)
		if (strcmp(kind, fxm_kind_names[k]) == 0)
			break;
	if (k == FXM_KINDS)
		return -EINVAL;
	op->kind = k;
	switch (op->kind) {
	case FXM_OPEN:
		if (sscanf(p, "%d %63s %63s", &op->slot, op->path, a) != 3 ||
		    fxm_flags_parse(a, &op->flags) < 0)
			return -EINVAL;
		break;
	case FXM_CLOSE:
	case FXM_FSYNC:
	case FXM_FSTAT:
		if (sscanf(p, "%d", &op->slot) != 1)
			return -EINVAL;
		break;
	case FXM_READ:
		if (sscanf(p, "%d %" SCNu64 " %" SCNu64, &op->slot, &op->off, &op->len) != 3)
			return -EINVAL;
		break;
	case FXM_WRITE:
		if (sscanf(p, "%d %" SCNu64 " %" SCNu64 " %" SCNx64, &op->slot, &op->off, &op->len,
			   &op->dseed) != 4)
			return -EINVAL;
		break;
	case FXM_APPEND:
		if (sscanf(p, "%d %" SCNu64 " %" SCNx64, &op->slot, &op->len, &op->dseed) != 3)
			return -EINVAL;
		break;
	case FXM_FTRUNCATE:
		if (sscanf(p, "%d %" SCNu64, &op->slot, &op->len) != 2)
			return -EINVAL;
		break;
	case FXM_TRUNCATE:
		if (sscanf(p, "%63s %" SCNu64, op->path, &op->len) != 2)
			return -EINVAL;
		break;
	case FXM_STAT:
	case FXM_READDIR:
	case FXM_MKDIR:
	case FXM_RMDIR:
	case FXM_UNLINK:
		if (sscanf(p, "%63s", op->path) != 1)
			return -EINVAL;
		break;
	case FXM_RENAME:
		if (sscanf(p, "%63s %63s", a, b) != 2)
			return -EINVAL;
		memcpy(op->path, a, sizeof(a));
		memcpy(op->path2, b, sizeof(b));
		break;
	case FXM_REMOUNT:
	case FXM_CHECK:
	case FXM_KINDS:
		break;
	}
	if (op->slot >= FXM_SLOTS || (op->slot < 0 && fxm_takes_slot(op->kind)))
		return -EINVAL;
	if (op->len >
	    (fxm_takes_slot(op->kind) && op->kind != FXM_FTRUNCATE ? FXM_IO_MAX : (1ULL << 40)))
		return -EINVAL;
	if (op->path[0] && !fxm_path_ok(op->path))
		return -EINVAL;
	if (op->path2[0] && !fxm_path_ok(op->path2))
		return -EINVAL;
	return 0;
}

/* ------------------------------------------------------------ looking */

static void fxm_full(const struct fxm_run *r, int side, const char *rel, char *out, size_t n)
{
	if (!rel[0] || strcmp(rel, ".") == 0)
		snprintf(out, n, "%s", r->cfg->root[side]);
	else
		snprintf(out, n, "%s/%s", r->cfg->root[side], rel);
}

static void fxm_attr_of(const struct stat *st, struct fxm_attr *a)
{
	a->err = 0;
	a->mode = st->st_mode;
	a->size = (uint64_t)st->st_size;
}

static void fxm_lstat(const char *full, struct fxm_attr *a)
{
	struct stat st;

	memset(a, 0, sizeof(*a));
	if (lstat(full, &st) < 0)
		a->err = errno;
	else
		fxm_attr_of(&st, a);
}

static void fxm_fstat(int fd, struct fxm_attr *a)
{
	struct stat st;

	memset(a, 0, sizeof(*a));
	if (fstat(fd, &st) < 0)
		a->err = errno;
	else
		fxm_attr_of(&st, a);
}

static int fxm_dirent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct fxm_dirent *)a)->name, ((const struct fxm_dirent *)b)->name);
}

/* Names (sorted), types, modes and sizes of one directory. */
static void fxm_list(const char *full, struct fxm_listing *l)
{
	DIR *d = opendir(full);
	struct dirent *de;
	struct stat st;

	l->n = 0;
	l->truncated = false;
	l->err = 0;
	if (!d) {
		l->err = errno;
		return;
	}
	errno = 0;
	while ((de = readdir(d))) {
		struct fxm_dirent *e;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (l->n == FXM_LIST_MAX) {
			l->truncated = true;
			continue;
		}
		e = &l->e[l->n++];
		snprintf(e->name, sizeof(e->name), "%.*s", FXM_PATH - 1, de->d_name);
		memset(&e->a, 0, sizeof(e->a));
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			e->a.err = errno;
		else
			fxm_attr_of(&st, &e->a);
		errno = 0;
	}
	if (errno)
		l->err = errno;
	closedir(d);
	qsort(l->e, l->n, sizeof(l->e[0]), fxm_dirent_cmp);
}

/* ------------------------------------------------------------ comparing */

/* Errors POSIX lets a system choose between count as one class. */
static int fxm_errclass(int err)
{
	return err == EEXIST ? ENOTEMPTY : err;
}

#define FXM_E(e)                                                                                   \
	{                                                                                          \
		e, #e                                                                              \
	}
static const struct fxm_errname {
	int err;
	const char *name;
} fxm_errnames[] = {
    {0, "ok"},	      FXM_E(ENOENT), FXM_E(EEXIST),   FXM_E(ENOTDIR), FXM_E(EISDIR),
    FXM_E(ENOTEMPTY), FXM_E(EINVAL), FXM_E(EBADF),    FXM_E(EBUSY),   FXM_E(EIO),
    FXM_E(EPERM),     FXM_E(EACCES), FXM_E(ENOSPC),   FXM_E(EFBIG),   FXM_E(ESTALE),
    FXM_E(ENOTSUP),   FXM_E(ENOSYS), FXM_E(ENOTCONN), FXM_E(EXDEV),
};

static const char *fxm_errname(int err)
{
	static char buf[64];

	for (size_t i = 0; i < sizeof(fxm_errnames) / sizeof(fxm_errnames[0]); i++)
		if (fxm_errnames[i].err == err)
			return fxm_errnames[i].name;
	snprintf(buf, sizeof(buf), "errno %d (%s)", err, strerror(err));
	return buf;
}

__attribute__((format(printf, 2, 3))) static void fxm_differ(struct fxm_run *r, const char *fmt,
							     ...)
{
	va_list ap;

	r->failed = true;
	if (r->dlen >= sizeof(r->detail) - 2)
		return;
	va_start(ap, fmt);
	r->dlen += (size_t)vsnprintf(r->detail + r->dlen, sizeof(r->detail) - r->dlen, fmt, ap);
	va_end(ap);
	if (r->dlen < sizeof(r->detail) - 1)
		r->detail[r->dlen++] = '\n', r->detail[r->dlen] = '\0';
	else
		r->dlen = sizeof(r->detail) - 1;
}

static const char *fxm_type(mode_t m)
{
	return S_ISREG(m) ? "file" : S_ISDIR(m) ? "dir" : S_ISLNK(m) ? "symlink" : "other";
}

static void fxm_attr_str(const struct fxm_attr *a, char *out, size_t n)
{
	if (a->err)
		snprintf(out, n, "%s", fxm_errname(a->err));
	else if (S_ISREG(a->mode))
		snprintf(out, n, "file %04o size %" PRIu64, (unsigned)(a->mode & 07777), a->size);
	else
		snprintf(out, n, "%s %04o", fxm_type(a->mode), (unsigned)(a->mode & 07777));
}

/* Same outcome: error class, type, permission bits, and size for files. */
static bool fxm_attr_same(const struct fxm_attr *m, const struct fxm_attr *f)
{
	if (fxm_errclass(m->err) != fxm_errclass(f->err))
		return false;
	if (m->err)
		return true;
	if ((m->mode & (S_IFMT | 07777)) != (f->mode & (S_IFMT | 07777)))
		return false;
	return !S_ISREG(f->mode) || m->size == f->size;
}

static void fxm_check_attr(struct fxm_run *r, const char *what, const struct fxm_attr *m,
			   const struct fxm_attr *f)
{
	char ms[96], fs[96];

	if (fxm_attr_same(m, f))
		return;
	fxm_attr_str(m, ms, sizeof(ms));
	fxm_attr_str(f, fs, sizeof(fs));
	fxm_differ(r, "%s: mount has %s, reference has %s", what, ms, fs);
}

static void fxm_check_path(struct fxm_run *r, const char *rel)
{
	char full[2][PATH_MAX], what[FXM_PATH + 16];
	struct fxm_attr a[2];

	for (int s = 0; s < 2; s++) {
		fxm_full(r, s, rel, full[s], sizeof(full[s]));
		fxm_lstat(full[s], &a[s]);
	}
	snprintf(what, sizeof(what), "lstat %s", rel);
	fxm_check_attr(r, what, &a[FXM_MOUNT], &a[FXM_REF]);
}

static void fxm_check_slot(struct fxm_run *r, int slot)
{
	struct fxm_handle *h = &r->h[slot];
	struct fxm_attr a[2];
	char what[FXM_PATH + 32];

	if (!h->open)
		return;
	for (int s = 0; s < 2; s++)
		fxm_fstat(h->fd[s], &a[s]);
	snprintf(what, sizeof(what), "fstat of handle %d (%s)", slot, h->path);
	fxm_check_attr(r, what, &a[FXM_MOUNT], &a[FXM_REF]);
}

/* Compare one directory on both sides; the reference listing stays in @out. */
static void fxm_check_dir(struct fxm_run *r, const char *rel, struct fxm_listing *out)
{
	struct fxm_listing l[2];
	char full[PATH_MAX], ms[96], fs[96];
	const char *shown = rel[0] ? rel : ".";
	unsigned i = 0, j = 0;

	for (int s = 0; s < 2; s++) {
		fxm_full(r, s, rel, full, sizeof(full));
		fxm_list(full, &l[s]);
	}
	if (out)
		*out = l[FXM_REF];
	if (fxm_errclass(l[0].err) != fxm_errclass(l[1].err)) {
		fxm_differ(r, "readdir %s: mount has %s, reference has %s", shown,
			   fxm_errname(l[0].err), fxm_errname(l[1].err));
		return;
	}
	if (l[0].truncated != l[1].truncated)
		fxm_differ(r, "readdir %s: mount lists %s%u entries, reference %s%u", shown,
			   l[0].truncated ? "over " : "", l[0].n, l[1].truncated ? "over " : "",
			   l[1].n);
	while (i < l[0].n || j < l[1].n) {
		int c = i == l[0].n ? 1 : j == l[1].n ? -1 : strcmp(l[0].e[i].name, l[1].e[j].name);

		if (c < 0) {
			fxm_attr_str(&l[0].e[i].a, ms, sizeof(ms));
			fxm_differ(r, "readdir %s: '%s' (%s) only on the mount", shown,
				   l[0].e[i].name, ms);
			i++;
		} else if (c > 0) {
			fxm_attr_str(&l[1].e[j].a, fs, sizeof(fs));
			fxm_differ(r, "readdir %s: '%s' (%s) missing on the mount", shown,
				   l[1].e[j].name, fs);
			j++;
		} else {
			char what[2 * FXM_PATH + 16];

			snprintf(what, sizeof(what), "readdir %s: '%s'", shown, l[0].e[i].name);
			fxm_check_attr(r, what, &l[0].e[i].a, &l[1].e[j].a);
			i++, j++;
		}
	}
}

static void fxm_parent(const char *rel, char *out, size_t n)
{
	const char *slash = strrchr(rel, '/');

	if (!slash)
		snprintf(out, n, "%s", "");
	else
		snprintf(out, n, "%.*s", (int)(slash - rel), rel);
}

static void fxm_check_parent(struct fxm_run *r, const char *rel)
{
	char parent[FXM_PATH];

	fxm_parent(rel, parent, sizeof(parent));
	fxm_check_dir(r, parent, NULL);
}

/* The whole file, byte for byte. */
static void fxm_check_content(struct fxm_run *r, const char *rel)
{
	char full[PATH_MAX];
	int fd[2];
	uint64_t off = 0;

	for (int s = 0; s < 2; s++) {
		fxm_full(r, s, rel, full, sizeof(full));
		fd[s] = open(full, O_RDONLY | O_CLOEXEC);
		if (fd[s] < 0) {
			fxm_differ(r, "content of %s: open on the %s failed (%s)", rel,
				   s == FXM_MOUNT ? "mount" : "reference", fxm_errname(errno));
			if (s == FXM_REF)
				close(fd[0]);
			return;
		}
	}
	r->st.content_checks++;
	for (;;) {
		ssize_t n[2];
		int err[2];

		for (int s = 0; s < 2; s++) {
			n[s] = pread(fd[s], r->rbuf[s], FXM_CHUNK, (off_t)off);
			err[s] = n[s] < 0 ? errno : 0;
		}
		if (n[0] != n[1] || err[0] || err[1]) {
			fxm_differ(r,
				   "content of %s at offset %" PRIu64 ": mount read %zd (%s), "
				   "reference %zd (%s)",
				   rel, off, n[0], fxm_errname(err[0]), n[1], fxm_errname(err[1]));
			break;
		}
		if (memcmp(r->rbuf[0], r->rbuf[1], (size_t)n[0]) != 0) {
			size_t k = 0;

			while (r->rbuf[0][k] == r->rbuf[1][k])
				k++;
			fxm_differ(r,
				   "content of %s differs first at offset %" PRIu64
				   ": mount byte 0x%02x, reference 0x%02x",
				   rel, off + k, r->rbuf[0][k], r->rbuf[1][k]);
			break;
		}
		if (n[0] == 0)
			break;
		off += (uint64_t)n[0];
	}
	close(fd[0]);
	close(fd[1]);
}

/* Every directory's listing (and with @content every file's bytes). */
static void fxm_check_tree(struct fxm_run *r, const char *rel, bool content, int depth)
{
	struct fxm_listing *l = malloc(sizeof(*l));
	char child[FXM_PATH];

	if (!l) {
		fxm_differ(r, "out of memory while checking the tree");
		return;
	}
	if (depth == 0)
		r->st.list_checks++;
	fxm_check_dir(r, rel, l);
	for (unsigned i = 0; i < l->n && !r->failed; i++) {
		if (rel[0])
			snprintf(child, sizeof(child), "%s/%s", rel, l->e[i].name);
		else
			snprintf(child, sizeof(child), "%s", l->e[i].name);
		if (l->e[i].a.err)
			continue;
		if (S_ISDIR(l->e[i].a.mode) && depth < 16)
			fxm_check_tree(r, child, content, depth + 1);
		else if (S_ISREG(l->e[i].a.mode) && content)
			fxm_check_content(r, child);
	}
	free(l);
}

/* ------------------------------------------------------------ the model */

static void fxm_scan_dir(struct fxm_run *r, const char *rel, int depth)
{
	struct fxm_listing *l = malloc(sizeof(*l));
	char full[PATH_MAX];

	if (!l)
		return;
	fxm_full(r, FXM_REF, rel, full, sizeof(full));
	fxm_list(full, l);
	for (unsigned i = 0; i < l->n && r->tree.n < FXM_SCAN_MAX; i++) {
		struct fxm_entry *e = &r->tree.e[r->tree.n];

		if (l->e[i].a.err)
			continue;
		if (rel[0])
			snprintf(e->path, sizeof(e->path), "%s/%s", rel, l->e[i].name);
		else
			snprintf(e->path, sizeof(e->path), "%s", l->e[i].name);
		e->dir = S_ISDIR(l->e[i].a.mode);
		e->depth = depth;
		e->height = 0;
		e->size = l->e[i].a.size;
		r->tree.n++;
		if (e->dir && depth < 8)
			fxm_scan_dir(r, e->path, depth + 1);
	}
	free(l);
}

/* What exists in the reference now, in a fixed (sorted, depth-first) order. */
static void fxm_scan(struct fxm_run *r)
{
	struct fxm_tree *t = &r->tree;

	t->n = t->dirs = 0;
	t->bytes = 0;
	fxm_scan_dir(r, "", 1);
	for (unsigned i = 0; i < t->n; i++) {
		size_t len = strlen(t->e[i].path);

		if (!t->e[i].dir) {
			t->bytes += t->e[i].size;
			continue;
		}
		t->dirs++;
		t->e[i].empty = i + 1 == t->n ||
				strncmp(t->e[i + 1].path, t->e[i].path, len) != 0 ||
				t->e[i + 1].path[len] != '/';
		for (unsigned j = i + 1; j < t->n; j++) {
			if (strncmp(t->e[j].path, t->e[i].path, len) != 0 ||
			    t->e[j].path[len] != '/')
				break;
			if (t->e[j].dir && t->e[j].depth - t->e[i].depth > t->e[i].height)
				t->e[i].height = t->e[j].depth - t->e[i].depth;
		}
	}
}

/* A random entry: @want 0 a file, 1 a directory, 2 either, 3 an empty
 * directory; NULL when there is none. */
static const struct fxm_entry *fxm_pick(struct fxm_run *r, uint64_t *rng, int want)
{
	unsigned idx[FXM_SCAN_MAX], n = 0;

	for (unsigned i = 0; i < r->tree.n; i++) {
		const struct fxm_entry *e = &r->tree.e[i];

		if (want == 2 || (want == 3 ? e->dir && e->empty : e->dir == (want == 1)))
			idx[n++] = i;
	}
	return n ? &r->tree.e[idx[fxm_below(rng, n)]] : NULL;
}

/* A name under a random directory no deeper than @max_parent (0: the root). */
static void fxm_pick_new(struct fxm_run *r, uint64_t *rng, int max_parent, char *out)
{
	unsigned idx[FXM_SCAN_MAX + 1], n = 0;
	char name = FXM_NAMES[fxm_below(rng, sizeof(FXM_NAMES) - 1)];

	idx[n++] = UINT_MAX; /* the root */
	for (unsigned i = 0; i < r->tree.n; i++)
		if (r->tree.e[i].dir && r->tree.e[i].depth <= max_parent)
			idx[n++] = i;
	unsigned k = idx[fxm_below(rng, n)];

	if (k == UINT_MAX)
		snprintf(out, FXM_PATH, "%c", name);
	else
		snprintf(out, FXM_PATH, "%.*s/%c", FXM_PATH - 3, r->tree.e[k].path, name);
}

/* Any path: mostly one that exists, sometimes a new one, now and then one
 * that cannot be (under a file, or under a missing directory). */
static void fxm_pick_any(struct fxm_run *r, uint64_t *rng, char *out)
{
	unsigned roll = (unsigned)fxm_below(rng, 100);
	const struct fxm_entry *e = NULL;

	if (roll < 60 && (e = fxm_pick(r, rng, 2))) {
		snprintf(out, FXM_PATH, "%s", e->path);
	} else if (roll < 92 || !r->tree.n) {
		fxm_pick_new(r, rng, FXM_DEPTH - 1, out);
	} else if (roll < 96 && (e = fxm_pick(r, rng, 0))) {
		snprintf(out, FXM_PATH, "%.*s/a", FXM_PATH - 3, e->path); /* ENOTDIR */
	} else {
		snprintf(out, FXM_PATH, "zz/%c", FXM_NAMES[fxm_below(rng, 8)]); /* ENOENT */
	}
}

static int fxm_free_slot(struct fxm_run *r, uint64_t *rng)
{
	int free_slots[FXM_SLOTS], n = 0;

	for (int i = 0; i < FXM_SLOTS; i++)
		if (!r->h[i].open)
			free_slots[n++] = i;
	return n ? free_slots[fxm_below(rng, (uint64_t)n)] : -1;
}

/* An open handle; for @kind mostly one that can do it (a file opened for
 * reading or writing as the op needs), now and then any (EBADF, EISDIR). */
static int fxm_open_slot(struct fxm_run *r, uint64_t *rng, enum fxm_kind kind)
{
	int any[FXM_SLOTS], fit[FXM_SLOTS], n = 0, m = 0;

	for (int i = 0; i < FXM_SLOTS; i++) {
		const struct fxm_handle *h = &r->h[i];
		int acc = h->flags & O_ACCMODE;
		bool ok = !h->dir;

		if (!h->open)
			continue;
		any[n++] = i;
		if (kind == FXM_READ)
			ok = ok && acc != O_WRONLY;
		else if (kind == FXM_WRITE || kind == FXM_APPEND || kind == FXM_FTRUNCATE)
			ok = ok && acc != O_RDONLY;
		else if (kind == FXM_CLOSE) /* writers go sooner: reads then meet the cache */
			ok = acc != O_RDONLY;
		if (ok)
			fit[m++] = i;
	}
	if (m && fxm_chance(rng, kind == FXM_CLOSE ? 60 : 92))
		return fit[fxm_below(rng, (uint64_t)m)];
	/* Nothing fits: mostly open one (the caller does, on -1) if a slot is free. */
	if (!m && kind != FXM_CLOSE && n < FXM_SLOTS && fxm_chance(rng, 80))
		return -1;
	return n ? any[fxm_below(rng, (uint64_t)n)] : -1;
}

/* The size of what a handle has open, as the reference sees it. */
static uint64_t fxm_slot_size(struct fxm_run *r, int slot)
{
	struct fxm_attr a;

	fxm_fstat(r->h[slot].fd[FXM_REF], &a);
	return a.err || !S_ISREG(a.mode) ? 0 : a.size;
}

static bool fxm_slot_dir(struct fxm_run *r, int slot)
{
	struct fxm_attr a;

	fxm_fstat(r->h[slot].fd[FXM_REF], &a);
	return !a.err && S_ISDIR(a.mode);
}

/* Near a multiple of the block size: where block-cache bugs live. */
static uint64_t fxm_near_block(uint64_t *rng, uint64_t max)
{
	uint64_t b = fxm_below(rng, max / FXM_BLOCK + 1) * FXM_BLOCK;
	uint64_t d = fxm_below(rng, 257);

	return d <= 128 ? (b > d ? b - d : 0) : b + (d - 128);
}

static uint64_t fxm_gen_len(uint64_t *rng)
{
	unsigned roll = (unsigned)fxm_below(rng, 100);

	if (roll < 55)
		return 1 + fxm_below(rng, 4096);
	if (roll < 80)
		return 4096 + fxm_below(rng, FXM_BLOCK - 4096);
	if (roll < 94)
		return FXM_BLOCK + fxm_below(rng, 3 * FXM_BLOCK);
	return 4 * FXM_BLOCK + fxm_below(rng, FXM_IO_MAX - 4 * FXM_BLOCK);
}

static uint64_t fxm_gen_off(uint64_t *rng, uint64_t size, uint64_t max)
{
	unsigned roll = (unsigned)fxm_below(rng, 100);
	uint64_t off;

	if (roll < 35) {
		off = fxm_below(rng, size + 1);
	} else if (roll < 55) {
		off = size + fxm_below(rng, 8192);
		off = off > 4096 ? off - 4096 : 0;
	} else if (roll < 70) {
		off = fxm_near_block(rng, size + FXM_BLOCK);
	} else if (roll < 85) {
		off = size + fxm_below(rng, 8 * FXM_BLOCK); /* a hole */
	} else {
		off = fxm_below(rng, max);
	}
	return off;
}

static uint64_t fxm_gen_size(uint64_t *rng, uint64_t size, uint64_t max)
{
	unsigned roll = (unsigned)fxm_below(rng, 100);
	uint64_t len;

	if (roll < 30)
		len = fxm_below(rng, size + 1);
	else if (roll < 40)
		len = 0;
	else if (roll < 65)
		len = size + fxm_below(rng, 4 * FXM_BLOCK);
	else if (roll < 85)
		len = fxm_near_block(rng, size + 2 * FXM_BLOCK);
	else
		len = fxm_below(rng, max + 1);
	return len > max ? max : len;
}

/* Keep a write inside max_size: a file never grows past it. */
static void fxm_clamp_write(uint64_t *rng, uint64_t max, uint64_t *off, uint64_t *len)
{
	if (*off >= max)
		*off = fxm_below(rng, max);
	if (*off + *len > max)
		*len = max - *off;
	if (*len == 0)
		*len = 1, *off = max - 1;
}

/* An open into a free slot; @for_kind is the handle op it is made for (a
 * writer for writes, mostly). */
static void fxm_gen_open(struct fxm_run *r, uint64_t *rng, struct fxm_op *op, bool full,
			 enum fxm_kind for_kind)
{
	const struct fxm_entry *e = NULL;
	unsigned roll = (unsigned)fxm_below(rng, 100), acc = (unsigned)fxm_below(rng, 100);
	bool fresh = false;

	op->kind = FXM_OPEN;
	op->slot = fxm_free_slot(r, rng);
	/* New names come often while there are few files, never when full. */
	unsigned files = r->tree.n - r->tree.dirs, fresh_pct = full ? 0 : files < 12 ? 70 : 30;

	if (roll < 4)
		e = fxm_pick(r, rng, 1);
	else if (roll >= 4 + fresh_pct)
		e = fxm_pick(r, rng, 0);
	if (e) {
		snprintf(op->path, sizeof(op->path), "%s", e->path);
	} else {
		fxm_pick_new(r, rng, FXM_DEPTH - 1, op->path);
		fresh = true;
	}
	if ((for_kind == FXM_WRITE || for_kind == FXM_APPEND || for_kind == FXM_FTRUNCATE) &&
	    acc < 45 && fxm_chance(rng, 85))
		acc += 45; /* a writer */
	op->flags = acc < 45 ? O_RDONLY : acc < 65 ? O_WRONLY : O_RDWR;
	if (fxm_chance(rng, fresh ? 90 : 25)) {
		op->flags |= O_CREAT;
		if (fxm_chance(rng, 6))
			op->flags |= O_EXCL;
	}
	if ((op->flags & O_ACCMODE) != O_RDONLY) {
		if (fxm_chance(rng, 10))
			op->flags |= O_TRUNC;
		if (fxm_chance(rng, 20))
			op->flags |= O_APPEND;
	}
}

/* The next operation, from the seed's stream and the reference's state. */
static void fxm_gen(struct fxm_run *r, uint64_t *rng, struct fxm_op *op)
{
	const struct fxm_config *cfg = r->cfg;
	const struct fxm_entry *e;
	bool full = r->tree.n >= cfg->max_names;
	unsigned total = 0, roll;
	int k;

	memset(op, 0, sizeof(*op));
	op->slot = -1;
	for (k = 0; k < FXM_KINDS; k++)
		total += fxm_weights[k];
	roll = (unsigned)fxm_below(rng, total);
	for (k = 0; roll >= fxm_weights[k]; k++)
		roll -= fxm_weights[k];
	op->kind = k;
	/* A full tree makes room: creations become removals; and a quarter of
	 * the names at most are directories, so that there is data to read. */
	if (op->kind == FXM_MKDIR && (full || r->tree.dirs >= cfg->max_names / 4))
		op->kind = FXM_RMDIR;
	switch (op->kind) {
	case FXM_OPEN:
		if (fxm_free_slot(r, rng) < 0) {
			op->kind = FXM_CLOSE;
			op->slot = fxm_open_slot(r, rng, FXM_CLOSE);
			break;
		}
		fxm_gen_open(r, rng, op, full, FXM_OPEN);
		break;
	case FXM_CLOSE:
	case FXM_READ:
	case FXM_WRITE:
	case FXM_APPEND:
	case FXM_FTRUNCATE:
	case FXM_FSYNC:
	case FXM_FSTAT: {
		uint64_t size;

		op->slot = fxm_open_slot(r, rng, op->kind);
		if (op->slot < 0) {
			fxm_gen_open(r, rng, op, full, op->kind);
			break;
		}
		size = fxm_slot_size(r, op->slot);
		if (op->kind == FXM_READ) {
			op->off = fxm_chance(rng, 15) ? fxm_near_block(rng, size + FXM_BLOCK)
						      : fxm_gen_off(rng, size, size + FXM_BLOCK);
			op->len = fxm_chance(rng, 70) ? 1 + fxm_below(rng, 2 * FXM_BLOCK)
						      : fxm_gen_len(rng);
		} else if (op->kind == FXM_WRITE) {
			op->off = fxm_gen_off(rng, size, cfg->max_size);
			op->len = fxm_gen_len(rng);
			fxm_clamp_write(rng, cfg->max_size, &op->off, &op->len);
			op->dseed = fxm_next(rng);
		} else if (op->kind == FXM_APPEND) {
			op->len = fxm_gen_len(rng);
			if (size + op->len > cfg->max_size)
				op->len = 1 + fxm_below(rng, 4096);
			op->dseed = fxm_next(rng);
		} else if (op->kind == FXM_FTRUNCATE) {
			op->len = fxm_gen_size(rng, size, cfg->max_size);
		}
		break;
	}
	case FXM_TRUNCATE:
		if ((e = fxm_pick(r, rng, 0)) && fxm_chance(rng, 85))
			snprintf(op->path, sizeof(op->path), "%s", e->path);
		else
			fxm_pick_any(r, rng, op->path);
		op->len = fxm_gen_size(rng, e ? e->size : 0, cfg->max_size);
		break;
	case FXM_STAT:
		fxm_pick_any(r, rng, op->path);
		break;
	case FXM_READDIR:
		if (fxm_chance(rng, 20))
			snprintf(op->path, sizeof(op->path), ".");
		else if ((e = fxm_pick(r, rng, 1)) && fxm_chance(rng, 85))
			snprintf(op->path, sizeof(op->path), "%s", e->path);
		else
			fxm_pick_any(r, rng, op->path);
		break;
	case FXM_MKDIR:
		if (fxm_chance(rng, 80))
			fxm_pick_new(r, rng, FXM_DEPTH - 1, op->path);
		else
			fxm_pick_any(r, rng, op->path);
		break;
	case FXM_RMDIR:
		if ((e = fxm_pick(r, rng, fxm_chance(rng, 60) ? 3 : 1)) && fxm_chance(rng, 85))
			snprintf(op->path, sizeof(op->path), "%s", e->path);
		else
			fxm_pick_any(r, rng, op->path);
		break;
	case FXM_UNLINK:
		/* Few files: let them live (a creation instead, mostly). */
		if (r->tree.n - r->tree.dirs < 10 && fxm_chance(rng, 70) &&
		    fxm_free_slot(r, rng) >= 0) {
			fxm_gen_open(r, rng, op, full, FXM_OPEN);
			break;
		}
		if ((e = fxm_pick(r, rng, 0)) && fxm_chance(rng, 85))
			snprintf(op->path, sizeof(op->path), "%s", e->path);
		else
			fxm_pick_any(r, rng, op->path);
		break;
	case FXM_RENAME: {
		unsigned roll2 = (unsigned)fxm_below(rng, 100);
		const struct fxm_entry *d = NULL;

		e = fxm_pick(r, rng, fxm_chance(rng, 70) ? 0 : 1);
		if (!e)
			e = fxm_pick(r, rng, 2);
		if (e)
			snprintf(op->path, sizeof(op->path), "%s", e->path);
		else
			fxm_pick_any(r, rng, op->path);
		if (roll2 < 45) {
			/* A directory moves only where its subtree stays shallow. */
			int maxp = FXM_DEPTH - 1 - (e && e->dir ? e->height : 0);

			fxm_pick_new(r, rng, maxp < 0 ? 0 : maxp, op->path2);
		} else if (roll2 < 80 && e && (d = fxm_pick(r, rng, e->dir ? 1 : 0))) {
			snprintf(op->path2, sizeof(op->path2), "%s", d->path);
		} else {
			fxm_pick_any(r, rng, op->path2);
		}
		break;
	}
	case FXM_REMOUNT:
	case FXM_CHECK:
	case FXM_KINDS:
		break;
	}
}

/* ------------------------------------------------------------ running */

static struct fxm_res fxm_res_of(long long ret)
{
	return (struct fxm_res){.ret = ret, .err = ret < 0 ? errno : 0};
}

/* Run one op on one side; a read leaves its bytes in r->rbuf[side]. */
static struct fxm_res fxm_do(struct fxm_run *r, int side, const struct fxm_op *op)
{
	char full[PATH_MAX], full2[PATH_MAX];
	struct fxm_handle *h = op->slot >= 0 ? &r->h[op->slot] : NULL;
	int fd = h ? h->fd[side] : -1;

	if (op->path[0])
		fxm_full(r, side, op->path, full, sizeof(full));
	if (op->path2[0])
		fxm_full(r, side, op->path2, full2, sizeof(full2));
	switch (op->kind) {
	case FXM_OPEN:
		return fxm_res_of(open(full, op->flags | O_CLOEXEC, 0644));
	case FXM_CLOSE:
		return fxm_res_of(close(fd));
	case FXM_READ:
		return fxm_res_of(pread(fd, r->rbuf[side], op->len, (off_t)op->off));
	case FXM_WRITE:
		return fxm_res_of(pwrite(fd, r->wbuf, op->len, (off_t)op->off));
	case FXM_APPEND:
		return fxm_res_of(write(fd, r->wbuf, op->len));
	case FXM_FTRUNCATE:
		return fxm_res_of(ftruncate(fd, (off_t)op->len));
	case FXM_TRUNCATE:
		return fxm_res_of(truncate(full, (off_t)op->len));
	case FXM_FSYNC:
		return fxm_res_of(fsync(fd));
	case FXM_MKDIR:
		return fxm_res_of(mkdir(full, 0755));
	case FXM_RMDIR:
		return fxm_res_of(rmdir(full));
	case FXM_UNLINK:
		return fxm_res_of(unlink(full));
	case FXM_RENAME:
		return fxm_res_of(rename(full, full2));
	case FXM_FSTAT:
	case FXM_STAT:
	case FXM_READDIR:
	case FXM_REMOUNT:
	case FXM_CHECK:
	case FXM_KINDS:
		break;
	}
	return (struct fxm_res){0, 0};
}

static void fxm_check_res(struct fxm_run *r, const struct fxm_res *m, const struct fxm_res *f)
{
	bool ok_m = m->ret >= 0, ok_f = f->ret >= 0;

	if (ok_m != ok_f || (!ok_m && fxm_errclass(m->err) != fxm_errclass(f->err)))
		fxm_differ(r, "result: mount %s%s, reference %s%s",
			   ok_m ? "succeeded" : "failed: ", ok_m ? "" : fxm_errname(m->err),
			   ok_f ? "succeeded" : "failed: ", ok_f ? "" : fxm_errname(f->err));
}

static int fxm_run_cmd(struct fxm_run *r)
{
	int status;

	fflush(stdout);
	fflush(stderr);
	status = system(r->cfg->remount_cmd);
	if (status == -1) {
		fxm_differ(r, "remount: cannot run '%s' (%s)", r->cfg->remount_cmd,
			   strerror(errno));
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fxm_differ(r, "remount: '%s' failed (%s %d)", r->cfg->remount_cmd,
			   WIFEXITED(status) ? "exit" : "signal",
			   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		return -1;
	}
	return 0;
}

/* Close a handle on both sides, comparing what close() said. */
static void fxm_close_slot(struct fxm_run *r, int slot, bool compare)
{
	struct fxm_handle *h = &r->h[slot];
	struct fxm_res res[2];

	for (int s = 0; s < 2; s++)
		res[s] = fxm_res_of(close(h->fd[s]));
	h->open = false;
	if (compare) {
		char what[FXM_PATH + 32];

		fxm_check_res(r, &res[FXM_MOUNT], &res[FXM_REF]);
		snprintf(what, sizeof(what), "(close of handle %d, %s)", slot, h->path);
		if (r->failed)
			fxm_differ(r, "%s", what);
	}
}

/*
 * Run one op on both sides and compare, then look at what it touched.
 * Returns 1 when it was skipped (a replayed op whose handle is not there),
 * else 0; a difference sets r->failed.
 */
static int fxm_exec(struct fxm_run *r, const struct fxm_op *op)
{
	struct fxm_handle *h = op->slot >= 0 ? &r->h[op->slot] : NULL;
	struct fxm_res res[2];
	char closed_path[FXM_PATH] = "";
	int closed_flags = 0;

	/* A shrunk log may name a handle its shorter past never opened. */
	if (op->kind == FXM_OPEN ? h->open : h && !h->open) {
		r->st.skipped++;
		return 1;
	}
	r->st.ops[op->kind]++;
	switch (op->kind) {
	case FXM_REMOUNT:
		for (int i = 0; i < FXM_SLOTS && !r->failed; i++)
			if (r->h[i].open)
				fxm_close_slot(r, i, true);
		if (r->failed)
			return 0;
		if (r->cfg->remount_cmd) {
			if (fxm_run_cmd(r) < 0)
				return 0;
			r->st.remounts++;
		}
		fxm_check_tree(r, "", true, 0);
		return 0;
	case FXM_CHECK:
		fxm_check_tree(r, "", true, 0);
		return 0;
	case FXM_STAT:
		fxm_check_path(r, op->path);
		return 0;
	case FXM_FSTAT:
		fxm_check_slot(r, op->slot);
		return 0;
	case FXM_READDIR:
		fxm_check_dir(r, strcmp(op->path, ".") == 0 ? "" : op->path, NULL);
		return 0;
	case FXM_WRITE:
	case FXM_APPEND:
		fxm_fill(r->wbuf, op->len, op->dseed);
		break;
	case FXM_CLOSE:
		snprintf(closed_path, sizeof(closed_path), "%s", h->path);
		closed_flags = h->flags;
		break;
	default:
		break;
	}
	for (int s = 0; s < 2; s++)
		res[s] = fxm_do(r, s, op);
	if (res[FXM_REF].ret < 0) {
		r->st.errors[op->kind]++;
		r->st.by_errno[op->kind][res[FXM_REF].err < FXM_ERRNOS ? res[FXM_REF].err : 0]++;
	}
	fxm_check_res(r, &res[FXM_MOUNT], &res[FXM_REF]);
	if (op->kind == FXM_OPEN) {
		if (res[0].ret >= 0 && res[1].ret >= 0) {
			h->open = true;
			h->flags = op->flags;
			h->fd[0] = (int)res[0].ret;
			h->fd[1] = (int)res[1].ret;
			h->dir = fxm_slot_dir(r, op->slot);
			snprintf(h->path, sizeof(h->path), "%s", op->path);
		} else {
			/* Only one side opened: close it, the run stops anyway. */
			for (int s = 0; s < 2; s++)
				if (res[s].ret >= 0)
					close((int)res[s].ret);
		}
	} else if (op->kind == FXM_CLOSE) {
		h->open = false;
	}
	if (r->failed)
		return 0;
	switch (op->kind) {
	case FXM_READ:
		if (res[0].ret != res[1].ret) {
			fxm_differ(r,
				   "read returned %lld bytes on the mount, %lld on the reference",
				   res[0].ret, res[1].ret);
		} else if (res[0].ret > 0 &&
			   memcmp(r->rbuf[0], r->rbuf[1], (size_t)res[0].ret) != 0) {
			size_t k = 0;

			while (r->rbuf[0][k] == r->rbuf[1][k])
				k++;
			fxm_differ(r,
				   "read bytes differ first at offset %" PRIu64
				   " (byte %zu of the read): mount 0x%02x, reference 0x%02x",
				   op->off + k, k, r->rbuf[0][k], r->rbuf[1][k]);
		}
		if (res[1].ret > 0)
			r->st.read += (uint64_t)res[1].ret;
		break;
	case FXM_WRITE:
	case FXM_APPEND:
		if (res[0].ret != res[1].ret)
			fxm_differ(r, "write returned %lld on the mount, %lld on the reference",
				   res[0].ret, res[1].ret);
		if (res[1].ret > 0)
			r->st.written += (uint64_t)res[1].ret;
		fxm_check_slot(r, op->slot);
		break;
	case FXM_FTRUNCATE:
	case FXM_FSYNC:
		fxm_check_slot(r, op->slot);
		break;
	case FXM_OPEN:
		fxm_check_path(r, op->path);
		if (op->flags & O_CREAT)
			fxm_check_parent(r, op->path);
		if (h->open)
			fxm_check_slot(r, op->slot);
		break;
	case FXM_CLOSE:
		/* Only a writer's close publishes, and may change a listing. */
		fxm_check_path(r, closed_path);
		if ((closed_flags & O_ACCMODE) != O_RDONLY)
			fxm_check_parent(r, closed_path);
		break;
	case FXM_TRUNCATE:
		fxm_check_path(r, op->path);
		break;
	case FXM_MKDIR:
	case FXM_RMDIR:
	case FXM_UNLINK:
		fxm_check_path(r, op->path);
		fxm_check_parent(r, op->path);
		break;
	case FXM_RENAME:
		fxm_check_path(r, op->path);
		fxm_check_path(r, op->path2);
		fxm_check_parent(r, op->path);
		fxm_check_parent(r, op->path2);
		break;
	default:
		break;
	}
	return 0;
}

/* ------------------------------------------------------------ the log */

static int fxm_log_push(struct fxm_run *r, const struct fxm_op *op)
{
	if (r->nlog == r->caplog) {
		size_t cap = r->caplog ? r->caplog * 2 : 4096;
		struct fxm_op *log = realloc(r->log, cap * sizeof(*log));

		if (!log)
			return -ENOMEM;
		r->log = log;
		r->caplog = cap;
	}
	r->log[r->nlog++] = *op;
	return 0;
}

static int fxm_log_write(const char *path, const struct fxm_op *ops, size_t n, const char *header)
{
	FILE *f = fopen(path, "w");
	char line[256];

	if (!f)
		return -errno;
	fprintf(f, "%s", header);
	for (size_t i = 0; i < n; i++) {
		fxm_op_str(&ops[i], line, sizeof(line));
		fprintf(f, "%zu: %s\n", i, line);
	}
	if (fclose(f) != 0)
		return -errno;
	return 0;
}

static int fxm_log_read(const char *path, struct fxm_op **out, size_t *nout)
{
	FILE *f = fopen(path, "r");
	char line[512];
	struct fxm_op *ops = NULL, op;
	size_t n = 0, cap = 0, lineno = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " \t");

		lineno++;
		if (*p == '#' || *p == '\n' || *p == '\0')
			continue;
		if (fxm_op_parse(p, &op) < 0) {
			fprintf(stderr, "error: %s:%zu: not an op: %s", path, lineno, line);
			free(ops);
			fclose(f);
			return -EINVAL;
		}
		if (n == cap) {
			struct fxm_op *grown;

			cap = cap ? cap * 2 : 1024;
			grown = realloc(ops, cap * sizeof(*ops));
			if (!grown) {
				free(ops);
				fclose(f);
				return -ENOMEM;
			}
			ops = grown;
		}
		ops[n++] = op;
	}
	fclose(f);
	*out = ops;
	*nout = n;
	return 0;
}

static void fxm_print_ops(const struct fxm_op *ops, size_t from, size_t to, FILE *f)
{
	char line[256];

	for (size_t i = from; i < to; i++) {
		fxm_op_str(&ops[i], line, sizeof(line));
		fprintf(f, "  %zu: %s\n", i, line);
	}
}

/* ------------------------------------------------------------ cleaning */

static int fxm_rm_tree(const char *full, bool keep_top)
{
	DIR *d = opendir(full);
	struct dirent *de;
	char child[PATH_MAX];
	int ret = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(child, sizeof(child), "%s/%s", full, de->d_name);
		if (lstat(child, &st) < 0) {
			ret = -errno;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			int r2 = fxm_rm_tree(child, false);

			if (r2 < 0)
				ret = r2;
		} else if (unlink(child) < 0) {
			ret = -errno;
		}
	}
	closedir(d);
	if (!keep_top && rmdir(full) < 0)
		ret = -errno;
	return ret;
}

static bool fxm_empty_dir(const char *full)
{
	DIR *d = opendir(full);
	struct dirent *de;
	bool empty = true;

	if (!d)
		return false;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			empty = false;
	closedir(d);
	return empty;
}

/* ------------------------------------------------------------ reporting */

static void fxm_report(struct fxm_run *r, size_t at)
{
	const struct fxm_config *cfg = r->cfg;
	char line[256], header[1024];
	size_t from = at + 1 > cfg->history ? at + 1 - cfg->history : 0;

	fxm_op_str(&r->log[at], line, sizeof(line));
	printf("fxmodel: MISMATCH at op %zu: %s\n", at, line);
	printf("%s", r->detail);
	if (cfg->replay)
		printf("fxmodel: replayed log %s, op index %zu\n", cfg->replay, at);
	else
		printf("fxmodel: seed %" PRIu64 ", op index %zu (replay: --seed %" PRIu64
		       " --ops %zu with the same --max-size/--max-names/--remount-every)\n",
		       cfg->seed, at, cfg->seed, at + 1);
	printf("fxmodel: the last %zu ops:\n", at + 1 - from);
	fxm_print_ops(r->log, from, at + 1, stdout);
	if (cfg->fail_log) {
		snprintf(header, sizeof(header),
			 "# rustfx-model-test op log: seed %" PRIu64 ", mismatch at op %zu\n"
			 "# replay: rustfx-model-test --mount M --ref R --replay FILE"
			 " [--shrink OUT] [--remount-cmd CMD]\n",
			 cfg->seed, at);
		int ret = fxm_log_write(cfg->fail_log, r->log, at + 1, header);

		if (ret < 0)
			fprintf(stderr, "warning: cannot write %s (%s)\n", cfg->fail_log,
				strerror(-ret));
		else
			printf("fxmodel: the whole log (%zu ops) is in %s\n", at + 1,
			       cfg->fail_log);
	}
	fflush(stdout);
}

static double fxm_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fxm_summary(struct fxm_run *r, double secs)
{
	uint64_t total = 0;

	for (int k = 0; k < FXM_KINDS; k++)
		total += r->st.ops[k];
	printf("fxmodel: %" PRIu64 " ops in %.1f s (%.0f ops/s), %" PRIu64 " remounts, %" PRIu64
	       " full listing checks, %" PRIu64 " file contents compared, %" PRIu64
	       " MiB written, %" PRIu64 " MiB read by ops, %" PRIu64 " skipped\n",
	       total, secs, secs > 0 ? (double)total / secs : 0.0, r->st.remounts,
	       r->st.list_checks, r->st.content_checks, r->st.written >> 20, r->st.read >> 20,
	       r->st.skipped);
	printf("fxmodel: per op: count (errors the reference returned, by errno)\n");
	for (int k = 0; k < FXM_KINDS; k++) {
		if (!r->st.ops[k])
			continue;
		printf("  %-9s %7" PRIu64, fxm_kind_names[k], r->st.ops[k]);
		for (int e = 0; e < FXM_ERRNOS; e++)
			if (r->st.by_errno[k][e])
				printf(" %s %" PRIu64, e ? fxm_errname(e) : "other",
				       r->st.by_errno[k][e]);
		printf("\n");
	}
	fflush(stdout);
}

/* ------------------------------------------------------------ modes */

static void fxm_after_op(struct fxm_run *r, uint64_t i)
{
	const struct fxm_config *cfg = r->cfg;

	if (r->failed)
		return;
	if (cfg->content_every && (i + 1) % cfg->content_every == 0)
		fxm_check_tree(r, "", true, 0);
	else if (cfg->check_every && (i + 1) % cfg->check_every == 0)
		fxm_check_tree(r, "", false, 0);
}

/* Close what is open (compared), then check everything, as a last op. */
static int fxm_finish_ops(struct fxm_run *r, bool remount)
{
	struct fxm_op op = {.kind = FXM_CLOSE};

	for (int i = 0; i < FXM_SLOTS; i++) {
		if (!r->h[i].open)
			continue;
		op.slot = i;
		if (fxm_log_push(r, &op) < 0)
			return -ENOMEM;
		fxm_exec(r, &op);
		if (r->failed)
			return 0;
	}
	op = (struct fxm_op){.kind = remount ? FXM_REMOUNT : FXM_CHECK, .slot = -1};
	if (fxm_log_push(r, &op) < 0)
		return -ENOMEM;
	fxm_exec(r, &op);
	return 0;
}

static int fxm_generate(struct fxm_run *r)
{
	const struct fxm_config *cfg = r->cfg;
	uint64_t rng = cfg->seed;
	double t0 = fxm_clock(), last = t0;
	struct fxm_op op;
	char line[256];

	for (uint64_t i = 0; i < cfg->ops; i++) {
		fxm_scan(r);
		if (cfg->remount_cmd && cfg->remount_every && (i + 1) % cfg->remount_every == 0)
			op = (struct fxm_op){.kind = FXM_REMOUNT, .slot = -1};
		else
			fxm_gen(r, &rng, &op);
		if (fxm_log_push(r, &op) < 0)
			return -ENOMEM;
		if (cfg->verbose) {
			fxm_op_str(&op, line, sizeof(line));
			printf("%" PRIu64 ": %s\n", i, line);
		}
		fxm_exec(r, &op);
		fxm_after_op(r, i);
		if (r->failed) {
			fxm_report(r, r->nlog - 1);
			return 1;
		}
		if (fxm_clock() - last >= 10.0) {
			last = fxm_clock();
			printf("fxmodel: %" PRIu64 " ops, %.0f ops/s; the tree: %u files (%" PRIu64
			       " KiB), %u directories\n",
			       i + 1, (double)(i + 1) / (last - t0), r->tree.n - r->tree.dirs,
			       r->tree.bytes >> 10, r->tree.dirs);
			fflush(stdout);
		}
	}
	/* The end: everything closed and compared, then again after a remount. */
	if (fxm_finish_ops(r, cfg->remount_cmd != NULL) < 0)
		return -ENOMEM;
	if (r->failed) {
		fxm_report(r, r->nlog - 1);
		return 1;
	}
	fxm_summary(r, fxm_clock() - t0);
	return 0;
}

/* Start from empty trees: close handles, remount when we can, empty both. */
static int fxm_reset(struct fxm_run *r)
{
	int ret;

	for (int i = 0; i < FXM_SLOTS; i++)
		if (r->h[i].open)
			fxm_close_slot(r, i, false);
	r->failed = false;
	r->dlen = 0;
	r->detail[0] = '\0';
	if (r->cfg->remount_cmd && fxm_run_cmd(r) < 0)
		return -EIO;
	for (int s = 0; s < 2; s++) {
		if ((ret = fxm_rm_tree(r->cfg->root[s], true)) < 0) {
			fprintf(stderr, "error: cannot empty %s (%s)\n", r->cfg->root[s],
				strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* Run @ops from empty trees; 1 when they end in a mismatch (at *at), else 0. */
static int fxm_replay_ops(struct fxm_run *r, const struct fxm_op *ops, size_t n, size_t *at)
{
	int ret;

	r->nlog = 0;
	for (size_t i = 0; i < n; i++) {
		if (fxm_log_push(r, &ops[i]) < 0)
			return -ENOMEM;
		fxm_exec(r, &ops[i]);
		fxm_after_op(r, i);
		if (r->failed) {
			*at = r->nlog - 1;
			return 1;
		}
	}
	if ((ret = fxm_finish_ops(r, false)) < 0)
		return ret;
	*at = r->nlog - 1;
	return r->failed ? 1 : 0;
}

static int fxm_attempt(struct fxm_run *r, const struct fxm_op *ops, size_t n, size_t *at)
{
	int ret = fxm_reset(r);

	return ret < 0 ? ret : fxm_replay_ops(r, ops, n, at);
}

/*
 * Make a failing log smaller: first the shortest failing tail (from empty
 * trees), then ddmin over chunks of what is left. Every attempt starts from
 * empty trees (and a remount, with --remount-cmd).
 */
static int fxm_shrink(struct fxm_run *r, struct fxm_op *ops, size_t n)
{
	const struct fxm_config *cfg = r->cfg;
	struct fxm_op *cand = malloc(n * sizeof(*cand));
	unsigned attempts = 0;
	size_t at, chunks = 2;
	int ret;

	if (!cand)
		return -ENOMEM;
	for (size_t tail = 16; tail < n && attempts < cfg->shrink_attempts; tail *= 2) {
		attempts++;
		if ((ret = fxm_attempt(r, ops + n - tail, tail, &at)) < 0)
			goto out;
		if (ret == 1) {
			memmove(ops, ops + n - tail, tail * sizeof(*ops));
			n = at + 1 < tail ? at + 1 : tail;
			printf("fxmodel: shrink: the last %zu ops fail alone\n", tail);
			break;
		}
	}
	while (n >= 2 && attempts < cfg->shrink_attempts) {
		size_t size = (n + chunks - 1) / chunks;
		bool reduced = false;

		for (size_t c = 0; c * size < n && attempts < cfg->shrink_attempts; c++) {
			size_t lo = c * size, hi = lo + size < n ? lo + size : n, m = 0;

			for (size_t i = 0; i < n; i++)
				if (i < lo || i >= hi)
					cand[m++] = ops[i];
			attempts++;
			if ((ret = fxm_attempt(r, cand, m, &at)) < 0)
				goto out;
			if (ret == 1) {
				/* What follows the mismatch is not needed either. */
				m = at + 1 < m ? at + 1 : m;
				memcpy(ops, cand, m * sizeof(*ops));
				n = m;
				chunks = chunks > 2 ? chunks - 1 : 2;
				reduced = true;
				printf("fxmodel: shrink: %zu ops still fail (%u attempts)\n", n,
				       attempts);
				fflush(stdout);
				break;
			}
		}
		if (!reduced) {
			if (chunks >= n)
				break;
			chunks = chunks * 2 < n ? chunks * 2 : n;
		}
	}
	/* The result, run once more to show what it finds. */
	if ((ret = fxm_attempt(r, ops, n, &at)) < 0)
		goto out;
	if (ret == 0) {
		printf(
		    "fxmodel: shrink: the shrunk log passed when run again (a flaky mismatch?)\n");
		ret = fxm_log_write(cfg->shrink_out, ops, n,
				    "# rustfx-model-test: shrunk log (passed on its last run)\n");
		ret = ret < 0 ? ret : 1;
		goto out;
	}
	ret = fxm_log_write(cfg->shrink_out, r->log, at + 1,
			    "# rustfx-model-test: shrunk log; replay with --replay FILE\n");
	if (ret < 0)
		goto out;
	printf("fxmodel: shrunk to %zu ops in %u attempts, written to %s:\n", at + 1, attempts,
	       cfg->shrink_out);
	fxm_print_ops(r->log, 0, at + 1, stdout);
	printf("fxmodel: it fails with:\n%s", r->detail);
	ret = 1;
out:
	free(cand);
	return ret;
}

static int fxm_replay(struct fxm_run *r)
{
	struct fxm_op *ops = NULL;
	size_t n = 0, at = 0;
	double t0 = fxm_clock();
	int ret = fxm_log_read(r->cfg->replay, &ops, &n);

	if (ret < 0) {
		if (ret != -EINVAL) /* a bad line was named already */
			fprintf(stderr, "error: cannot read the log %s (%s)\n", r->cfg->replay,
				strerror(-ret));
		fprintf(stderr,
			"hint: a log is what --fail-log or --shrink wrote, one op a line\n");
		return ret;
	}
	printf("fxmodel: replaying %zu ops from %s\n", n, r->cfg->replay);
	ret = fxm_replay_ops(r, ops, n, &at);
	if (ret == 1) {
		fxm_report(r, at);
		if (r->cfg->shrink_out) {
			/* What ran, up to the mismatch (closes at the end included). */
			struct fxm_op *ran = malloc((at + 1) * sizeof(*ran));

			if (!ran) {
				free(ops);
				return -ENOMEM;
			}
			memcpy(ran, r->log, (at + 1) * sizeof(*ran));
			ret = fxm_shrink(r, ran, at + 1);
			free(ran);
		}
	} else if (ret == 0) {
		fxm_summary(r, fxm_clock() - t0);
	}
	free(ops);
	return ret;
}

/* ------------------------------------------------------------ main */

static void fxm_usage(FILE *f)
{
	fprintf(f,
		"usage: rustfx-model-test --mount DIR --ref DIR [options]\n"
		"Runs one random sequence of file operations on a rustfx mount (DIR) and on a\n"
		"plain reference directory, comparing them after every step. Both start empty.\n"
		"\n"
		"  --seed S            seed of the sequence (default: from the clock; printed)\n"
		"  --ops N             operations to generate (10000)\n"
		"  --remount-cmd CMD   shell command that unmounts and mounts DIR again; run\n"
		"                      (all handles closed first) every --remount-every ops\n"
		"                      and at the end\n"
		"  --remount-every N   ops between remounts (20000; 0: only at the end)\n"
		"  --max-size BYTES    largest size a file may reach (3145728)\n"
		"  --max-names N       entries in the tree before creations give way (30)\n"
		"  --check-every N     ops between full listing/size checks (64; 0: never)\n"
		"  --content-every N   ops between full content checks (2048; 0: never)\n"
		"  --history N         ops printed on a mismatch (40)\n"
		"  --fail-log FILE     write the whole log there on a mismatch\n"
		"  --replay FILE       run a log (from --fail-log) instead of generating\n"
		"  --shrink OUT        with --replay: shrink a failing log, write it to OUT\n"
		"                      (empties both directories between attempts)\n"
		"  --shrink-attempts N replays a shrink may try (300)\n"
		"  --clean             empty both directories first (else they must be empty)\n"
		"  --verbose           print every op\n"
		"\n"
		"Ops: open (several handles at once; rdonly/wronly/rdwr, creat, excl, trunc,\n"
		"append), read and write at random offsets (holes past EOF), append (write(2)),\n"
		"ftruncate and truncate (growing and shrinking), fsync, fstat, stat, readdir,\n"
		"mkdir, rmdir, unlink, rename (files and directories, over existing targets),\n"
		"close, remount. Compared: results and errno classes, bytes read, types,\n"
		"permission bits, file sizes, directory listings; whole contents every\n"
		"--content-every ops and after every remount.\n"
		"Not exercised (rustfx differs from POSIX there, README.md, or another test\n"
		"covers it): hard links, symlinks, timestamps, link counts, directory sizes,\n"
		"owners, xattrs, locks, mmap, RENAME_EXCHANGE, durability across crashes,\n"
		"concurrency, other clients of the bucket, hostile names.\n"
		"\n"
		"Exit: 0 no mismatch, 1 a mismatch (seed, op index and the last ops printed),\n"
		"2 bad usage, >= 64 a system error.\n");
}

static int fxm_num(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);

	if (errno || end == s || *end || s[0] == '-')
		return -EINVAL;
	*out = v;
	return 0;
}

static int fxm_parse(int argc, char **argv, struct fxm_config *cfg)
{
	enum {
		O_MOUNT = 256,
		O_REF,
		O_SEED,
		O_OPS,
		O_REMOUNT_CMD,
		O_REMOUNT_EVERY,
		O_MAX_SIZE,
		O_MAX_NAMES,
		O_HISTORY,
		O_CHECK_EVERY,
		O_CONTENT_EVERY,
		O_FAIL_LOG,
		O_REPLAY,
		O_SHRINK,
		O_SHRINK_ATTEMPTS,
		O_CLEAN,
		O_VERBOSE,
		O_HELP
	};
	static const struct option longopts[] = {
	    {"mount", required_argument, NULL, O_MOUNT},
	    {"ref", required_argument, NULL, O_REF},
	    {"seed", required_argument, NULL, O_SEED},
	    {"ops", required_argument, NULL, O_OPS},
	    {"remount-cmd", required_argument, NULL, O_REMOUNT_CMD},
	    {"remount-every", required_argument, NULL, O_REMOUNT_EVERY},
	    {"max-size", required_argument, NULL, O_MAX_SIZE},
	    {"max-names", required_argument, NULL, O_MAX_NAMES},
	    {"history", required_argument, NULL, O_HISTORY},
	    {"check-every", required_argument, NULL, O_CHECK_EVERY},
	    {"content-every", required_argument, NULL, O_CONTENT_EVERY},
	    {"fail-log", required_argument, NULL, O_FAIL_LOG},
	    {"replay", required_argument, NULL, O_REPLAY},
	    {"shrink", required_argument, NULL, O_SHRINK},
	    {"shrink-attempts", required_argument, NULL, O_SHRINK_ATTEMPTS},
	    {"clean", no_argument, NULL, O_CLEAN},
	    {"verbose", no_argument, NULL, O_VERBOSE},
	    {"help", no_argument, NULL, O_HELP},
	    {NULL, 0, NULL, 0},
	};
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		const char *arg = optarg;

		switch (c) {
		case O_MOUNT:
			cfg->root[FXM_MOUNT] = arg;
			continue;
		case O_REF:
			cfg->root[FXM_REF] = arg;
			continue;
		case O_REMOUNT_CMD:
			cfg->remount_cmd = arg;
			continue;
		case O_FAIL_LOG:
			cfg->fail_log = arg;
			continue;
		case O_REPLAY:
			cfg->replay = arg;
			continue;
		case O_SHRINK:
			cfg->shrink_out = arg;
			continue;
		case O_CLEAN:
			cfg->clean = true;
			continue;
		case O_VERBOSE:
			cfg->verbose = true;
			continue;
		case O_HELP:
			fxm_usage(stdout);
			exit(0);
		case '?':
			return -FX_EUSAGE;
		default:
			break;
		}
		if (fxm_num(arg, &v) < 0) {
			fprintf(stderr, "error: --%s wants a number, not '%s'\n",
				longopts[c - O_MOUNT].name, arg);
			fprintf(stderr, "hint: rustfx-model-test --help lists the options\n");
			return -FX_EUSAGE;
		}
		switch (c) {
		case O_SEED:
			cfg->seed = v, cfg->seed_set = true;
			break;
		case O_OPS:
			cfg->ops = v;
			break;
		case O_REMOUNT_EVERY:
			cfg->remount_every = v;
			break;
		case O_MAX_SIZE:
			cfg->max_size = v;
			break;
		case O_MAX_NAMES:
			cfg->max_names = (unsigned)v;
			break;
		case O_HISTORY:
			cfg->history = (unsigned)v;
			break;
		case O_CHECK_EVERY:
			cfg->check_every = v;
			break;
		case O_CONTENT_EVERY:
			cfg->content_every = v;
			break;
		case O_SHRINK_ATTEMPTS:
			cfg->shrink_attempts = (unsigned)v;
			break;
		default:
			return -FX_EUSAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "error: unexpected argument '%s'\n", argv[optind]);
		fprintf(stderr, "hint: rustfx-model-test --help lists the options\n");
		return -FX_EUSAGE;
	}
	if (!cfg->root[FXM_MOUNT] || !cfg->root[FXM_REF]) {
		fprintf(stderr, "error: --mount and --ref are required\n");
		fprintf(stderr,
			"hint: rustfx-model-test --mount MOUNTPOINT --ref DIR --seed S --ops N\n");
		return -FX_EUSAGE;
	}
	if (cfg->max_size < 2 || cfg->max_size > (1ULL << 40) ||
	    cfg->max_names > FXM_SCAN_MAX / 2 || cfg->max_names < 1) {
		fprintf(stderr, "error: --max-size must be 2..2^40 and --max-names 1..%d\n",
			FXM_SCAN_MAX / 2);
		fprintf(stderr, "hint: the defaults are --max-size 3145728 --max-names 30\n");
		return -FX_EUSAGE;
	}
	if (cfg->shrink_out && !cfg->replay) {
		fprintf(stderr, "error: --shrink works on a log (--replay FILE)\n");
		fprintf(stderr, "hint: save a failing run with --fail-log FILE first\n");
		return -FX_EUSAGE;
	}
	return 0;
}

static bool fxm_same_dir(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

int main(int argc, char **argv)
{
	struct fxm_config cfg = {
	    .ops = 10000,
	    .remount_every = 20000,
	    .max_size = 3u << 20,
	    .max_names = 30,
	    .history = 40,
	    .check_every = 64,
	    .content_every = 2048,
	    .shrink_attempts = 300,
	};
	struct fxm_run r = {.cfg = &cfg};
	struct fx_diag d = {0};
	int ret;

	if (fxm_parse(argc, argv, &cfg) < 0)
		return FX_EXIT_INVALID;
	if (!cfg.seed_set)
		cfg.seed = (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (fxm_same_dir(cfg.root[0], cfg.root[1])) {
		fx_diag_set(&d, -EINVAL, "give the mount and a separate reference directory",
			    "--mount and --ref are the same directory (%s)", cfg.root[0]);
		fx_diag_print(&d, stderr);
		return FX_EXIT_INVALID;
	}
	for (int s = 0; s < 2; s++) {
		struct stat st;
		const char *root = cfg.root[s];

		errno = 0;
		if (stat(root, &st) < 0 || !S_ISDIR(st.st_mode)) {
			fx_diag_set(&d, -ENOTDIR, "pass an existing directory",
				    "%s is not a directory (%s)", root,
				    errno ? strerror(errno) : "not a directory");
			fx_diag_print(&d, stderr);
			return FX_EXIT_INVALID;
		}
		if (cfg.clean && (ret = fxm_rm_tree(root, true)) < 0) {
			fx_diag_set(&d, ret, "empty it by hand", "cannot empty %s (%s)", root,
				    strerror(-ret));
			fx_diag_print(&d, stderr);
			return EX_IOERR;
		}
		if (!fxm_empty_dir(root)) {
			fx_diag_set(&d, -ENOTEMPTY, "pass empty directories, or --clean",
				    "%s is not empty", root);
			fx_diag_print(&d, stderr);
			return FX_EXIT_INVALID;
		}
	}
	r.wbuf = malloc(FXM_IO_MAX);
	r.rbuf[0] = malloc(FXM_IO_MAX > FXM_CHUNK ? FXM_IO_MAX : FXM_CHUNK);
	r.rbuf[1] = malloc(FXM_IO_MAX > FXM_CHUNK ? FXM_IO_MAX : FXM_CHUNK);
	if (!r.wbuf || !r.rbuf[0] || !r.rbuf[1]) {
		fprintf(stderr, "error: out of memory\n");
		return EX_OSERR;
	}
	if (cfg.replay) {
		ret = fxm_replay(&r);
	} else {
		printf("fxmodel: seed %" PRIu64 ", %" PRIu64 " ops, max-size %" PRIu64
		       ", max-names %u, remount-every %" PRIu64 "%s\n",
		       cfg.seed, cfg.ops, cfg.max_size, cfg.max_names,
		       cfg.remount_cmd ? cfg.remount_every : 0,
		       cfg.remount_cmd ? "" : " (no --remount-cmd: no remounts)");
		ret = fxm_generate(&r);
	}
	for (int i = 0; i < FXM_SLOTS; i++)
		if (r.h[i].open)
			fxm_close_slot(&r, i, false);
	free(r.wbuf);
	free(r.rbuf[0]);
	free(r.rbuf[1]);
	free(r.log);
	if (ret == -ENOMEM) {
		fprintf(stderr, "error: out of memory\n");
		return EX_OSERR;
	}
	if (ret == -EINVAL)
		return FX_EXIT_INVALID;
	if (ret < 0)
		return EX_IOERR;
	return ret ? FX_EXIT_RECOVERABLE : FX_EXIT_OK;
}
