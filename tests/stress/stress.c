/*
 * stress.c - a concurrency stress of a mounted directory: N threads (default
 * 8) of mixed reads, writes, partial overwrites, truncates, renames,
 * unlinks, mkdir/rmdir, stats and listings for a fixed time (default 20 s).
 * Run by tests/stress/run.sh on a rustfx mount whose daemon is built with
 * ThreadSanitizer, so the daemon's locking is exercised from every side;
 * the program itself checks that the filesystem stayed right.
 *
 * Owns: the workload and its checks. Each thread works in its own
 * directory t<i>/ and keeps a model (the bytes of each of its files, its
 * directories): every read, stat and listing of its own directory must
 * match the model exactly. All threads also share shared/: files there are
 * replaced whole by writing a temporary file and renaming it into place,
 * and each holds a header with its length and checksum, so a reader must
 * see one whole version or none (ENOENT), never a mix. Listings of the
 * shared directory and the top directory only have to succeed.
 * Does not own: the mount (run.sh starts it) or race detection (TSan, in
 * the daemon).
 *
 * Usage: rustfx-stress [-t THREADS] [-d SECONDS] [-s SEED] DIR
 * Exit: 0 when every check held, 1 on a mismatch or unexpected error
 * (printed, the first few of each thread), 2 on bad usage.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FX_FILES	8	     /* own files per thread: f0..f7 */
#define FX_DIRS		4	     /* own directories per thread: d0..d3 */
#define FX_SHARED	6	     /* shared files: s0..s5 */
#define FX_FILE_MAX	(192 * 1024) /* own files stay below this */
#define FX_SHARED_MAX	(48 * 1024)
#define FX_ERRORS_SHOWN 5

enum fx_op {
	FX_OP_WRITE,	  /* create or replace an own file */
	FX_OP_PATCH,	  /* pwrite into an own file (may extend it) */
	FX_OP_TRUNCATE,	  /* truncate an own file (grow or shrink) */
	FX_OP_READ,	  /* read an own file whole and compare */
	FX_OP_STAT,	  /* stat an own file: size and type */
	FX_OP_RENAME,	  /* rename an own file over another */
	FX_OP_UNLINK,	  /* remove an own file */
	FX_OP_DIR,	  /* mkdir or rmdir an own directory */
	FX_OP_LIST,	  /* list the own directory and compare */
	FX_OP_LIST_ALL,	  /* list shared/ and the top directory */
	FX_OP_SHARED_PUT, /* replace a shared file (temp + rename) */
	FX_OP_SHARED_GET, /* read a shared file: one whole version */
	FX_OP_COUNT
};

static const char *const fx_op_names[FX_OP_COUNT] = {
    "write",  "patch", "truncate", "read",     "stat",	     "rename",
    "unlink", "dir",   "list",	   "list_all", "shared_put", "shared_get",
};

/* How often each op is picked, out of the sum. */
static const unsigned fx_op_weight[FX_OP_COUNT] = {
    10, 8, 4, 16, 8, 6, 3, 3, 8, 4, 8, 12,
};

struct fx_file {
	bool exists;
	size_t len;
	uint8_t *data; /* FX_FILE_MAX bytes */
};

struct fx_worker {
	pthread_t thread;
	unsigned id;
	uint64_t rng;
	char dir[4096];
	struct fx_file files[FX_FILES];
	bool dirs[FX_DIRS];
	uint8_t *buf; /* scratch, FX_FILE_MAX bytes */
	uint64_t ops[FX_OP_COUNT];
	unsigned errors;
	unsigned shared_errors; /* of those, in shared/ */
	bool in_shared;		/* the op running works in shared/ */
};

static const char *fx_root;
static atomic_bool fx_stop;

static uint64_t fx_rand(struct fx_worker *w)
{
	/* xorshift64* */
	w->rng ^= w->rng >> 12;
	w->rng ^= w->rng << 25;
	w->rng ^= w->rng >> 27;
	return w->rng * 0x2545f4914f6cdd1dULL;
}

static size_t fx_below(struct fx_worker *w, size_t n)
{
	return n ? (size_t)(fx_rand(w) % n) : 0;
}

static void fx_fill(struct fx_worker *w, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = fx_rand(w);

		memcpy(p + i, &v, n - i < 8 ? n - i : 8);
	}
}

__attribute__((format(printf, 2, 3))) static void fx_error(struct fx_worker *w, const char *fmt,
							   ...)
{
	va_list ap;

	w->shared_errors += w->in_shared;
	if (w->errors++ >= FX_ERRORS_SHOWN)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "stress: thread %u: ", w->id);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void fx_path(const struct fx_worker *w, char *out, size_t n, char kind, unsigned i)
{
	snprintf(out, n, "%s/%c%u", w->dir, kind, i);
}

static bool fx_write_all(int fd, const uint8_t *p, size_t n, off_t off)
{
	while (n) {
		ssize_t got = pwrite(fd, p, n, off);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return false;
		p += got;
		n -= (size_t)got;
		off += got;
	}
	return true;
}

/* Read up to @n bytes from the start; @return bytes read or -errno. */
static ssize_t fx_read_all(int fd, uint8_t *p, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t got = pread(fd, p + done, n - done, (off_t)done);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			break;
		done += (size_t)got;
	}
	return (ssize_t)done;
}

/* ---------------------------------------------------------- own files */

static void fx_op_write(struct fx_worker *w)
{
	unsigned k = (unsigned)fx_below(w, FX_FILES);
	struct fx_file *f = &w->files[k];
	size_t len = fx_below(w, FX_FILE_MAX);
	char path[4200];
	int fd;

	fx_path(w, path, sizeof(path), 'f', k);
	fx_fill(w, w->buf, len);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fx_error(w, "create %s: %s", path, strerror(errno));
		return;
	}
	if (!fx_write_all(fd, w->buf, len, 0))
		fx_error(w, "write %zu bytes to %s: %s", len, path, strerror(errno));
	if (fx_below(w, 4) == 0 && fsync(fd) < 0)
		fx_error(w, "fsync %s: %s", path, strerror(errno));
	if (close(fd) < 0)
		fx_error(w, "close %s: %s", path, strerror(errno));
	memcpy(f->data, w->buf, len);
	f->len = len;
	f->exists = true;
}

static void fx_op_patch(struct fx_worker *w)
{
	unsigned k = (unsigned)fx_below(w, FX_FILES);
	struct fx_file *f = &w->files[k];
	size_t off, len;
	char path[4200];
	int fd;

	if (!f->exists)
		return;
	off = fx_below(w, f->len + 4096);
	if (off >= FX_FILE_MAX)
		off = FX_FILE_MAX - 1;
	len = 1 + fx_below(w, 32768);
	if (off + len > FX_FILE_MAX)
		len = FX_FILE_MAX - off;
	fx_path(w, path, sizeof(path), 'f', k);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fx_error(w, "open %s for a patch: %s", path, strerror(errno));
		return;
	}
	fx_fill(w, w->buf, len);
	if (!fx_write_all(fd, w->buf, len, (off_t)off))
		fx_error(w, "pwrite %zu at %zu of %s: %s", len, off, path, strerror(errno));
	if (close(fd) < 0)
		fx_error(w, "close %s: %s", path, strerror(errno));
	if (off > f->len) /* the gap reads as zeros */
		memset(f->data + f->len, 0, off - f->len);
	memcpy(f->data + off, w->buf, len);
	if (off + len > f->len)
		f->len = off + len;
}

static void fx_op_truncate(struct fx_worker *w)
{
	unsigned k = (unsigned)fx_below(w, FX_FILES);
	struct fx_file *f = &w->files[k];
	size_t len = fx_below(w, FX_FILE_MAX);
	char path[4200];

	if (!f->exists)
		return;
	fx_path(w, path, sizeof(path), 'f', k);
	if (truncate(path, (off_t)len) < 0) {
		fx_error(w, "truncate %s to %zu: %s", path, len, strerror(errno));
		return;
	}
	if (len > f->len)
		memset(f->data + f->len, 0, len - f->len);
	f->len = len;
}

static void fx_op_read(struct fx_worker *w)
{
	unsigned k = (unsigned)fx_below(w, FX_FILES);
	struct fx_file *f = &w->files[k];
	char path[4200];
	ssize_t got;
	int fd;

	fx_path(w, path, sizeof(path), 'f', k);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT || f->exists)
			fx_error(w, "open %s: %s (exists in the model: %d)", path, strerror(errno),
				 f->exists);
		return;
	}
	if (!f->exists)
		fx_error(w, "%s opened, but it was removed", path);
	got = fx_read_all(fd, w->buf, FX_FILE_MAX);
	close(fd);
	if (got < 0) {
		fx_error(w, "read %s: %s", path, strerror((int)-got));
		return;
	}
	if (f->exists && ((size_t)got != f->len || memcmp(w->buf, f->data, f->len))) {
		size_t i = 0;

		while (i < (size_t)got && i < f->len && w->buf[i] == f->data[i])
			i++;
		fx_error(w, "%s: read %zd bytes, expected %zu; first difference at byte %zu", path,
			 got, f->len, i);
	}
}

static void fx_op_stat(struct fx_worker *w)
{
	unsigned k = (unsigned)fx_below(w, FX_FILES);
	struct fx_file *f = &w->files[k];
	char path[4200];
	struct stat st;

	fx_path(w, path, sizeof(path), 'f', k);
	if (stat(path, &st) < 0) {
		if (errno != ENOENT || f->exists)
			fx_error(w, "stat %s: %s", path, strerror(errno));
		return;
	}
	if (!f->exists || !S_ISREG(st.st_mode) || (size_t)st.st_size != f->len)
		fx_error(w, "stat %s: mode 0%o size %lld, expected %s of %zu bytes", path,
			 (unsigned)st.st_mode, (long long)st.st_size,
			 f->exists ? "a file" : "nothing", f->len);
}

static void fx_op_rename(struct fx_worker *w)
{
	unsigned a = (unsigned)fx_below(w, FX_FILES), b = (unsigned)fx_below(w, FX_FILES);
	char from[4200], to[4200];
	uint8_t *swap;

	if (a == b || !w->files[a].exists)
		return;
	fx_path(w, from, sizeof(from), 'f', a);
	fx_path(w, to, sizeof(to), 'f', b);
	if (rename(from, to) < 0) {
		fx_error(w, "rename %s to %s: %s", from, to, strerror(errno));
		return;
	}
	swap = w->files[b].data;
	w->files[b] = w->files[a];
	w->files[a] = (struct fx_file){.data = swap};
}

static void fx_op_unlink(struct fx_worker *w)
{
	unsigned k = (unsigned)fx_below(w, FX_FILES);
	char path[4200];

	fx_path(w, path, sizeof(path), 'f', k);
	if (unlink(path) < 0) {
		if (errno != ENOENT || w->files[k].exists)
			fx_error(w, "unlink %s: %s", path, strerror(errno));
		return;
	}
	if (!w->files[k].exists)
		fx_error(w, "unlink %s succeeded, but it was removed", path);
	w->files[k].exists = false;
	w->files[k].len = 0;
}

static void fx_op_dir(struct fx_worker *w)
{
	unsigned k = (unsigned)fx_below(w, FX_DIRS);
	char path[4200];

	fx_path(w, path, sizeof(path), 'd', k);
	if (!w->dirs[k]) {
		if (mkdir(path, 0755) < 0)
			fx_error(w, "mkdir %s: %s", path, strerror(errno));
		else
			w->dirs[k] = true;
	} else {
		if (rmdir(path) < 0)
			fx_error(w, "rmdir %s: %s", path, strerror(errno));
		else
			w->dirs[k] = false;
	}
}

/* List @dir; @return the number of entries (without . and ..) or -errno,
 * and with @seen mark f<k> (bits 0..) and d<k> (bits 16..) found. */
static int fx_list(const char *dir, uint32_t *seen, unsigned *other)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -errno;
	errno = 0;
	while ((e = readdir(d))) {
		unsigned k;
		char kind, extra;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		n++;
		if (seen && sscanf(e->d_name, "%c%u%c", &kind, &k, &extra) == 2 &&
		    ((kind == 'f' && k < FX_FILES) || (kind == 'd' && k < FX_DIRS)))
			*seen |= 1u << (k + (kind == 'd' ? 16 : 0));
		else if (other)
			(*other)++;
		errno = 0;
	}
	if (errno) {
		int err = -errno;

		closedir(d);
		return err;
	}
	closedir(d);
	return n;
}

static void fx_op_list(struct fx_worker *w)
{
	uint32_t seen = 0, want = 0;
	unsigned other = 0;
	int n = fx_list(w->dir, &seen, &other);

	if (n < 0) {
		fx_error(w, "list %s: %s", w->dir, strerror(-n));
		return;
	}
	for (unsigned k = 0; k < FX_FILES; k++)
		want |= w->files[k].exists ? 1u << k : 0;
	for (unsigned k = 0; k < FX_DIRS; k++)
		want |= w->dirs[k] ? 1u << (16 + k) : 0;
	if (seen != want || other)
		fx_error(w, "list %s: entries 0x%x (+%u others), expected 0x%x", w->dir, seen,
			 other, want);
}

static void fx_op_list_all(struct fx_worker *w)
{
	char path[4200];
	int n;

	snprintf(path, sizeof(path), "%s/shared", fx_root);
	if ((n = fx_list(path, NULL, NULL)) < 0)
		fx_error(w, "list %s: %s", path, strerror(-n));
	if ((n = fx_list(fx_root, NULL, NULL)) < 0)
		fx_error(w, "list %s: %s", fx_root, strerror(-n));
}

/* ---------------------------------------------------------- shared files */

/* A shared file: "RFXS" magic, u32 length of the whole file, u64 FNV-1a of
 * the bytes after the header, then the bytes. */
#define FX_SHARED_HDR 16

static uint64_t fx_fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

static void fx_op_shared_put(struct fx_worker *w)
{
	unsigned k = (unsigned)fx_below(w, FX_SHARED);
	size_t len = FX_SHARED_HDR + fx_below(w, FX_SHARED_MAX - FX_SHARED_HDR);
	uint32_t l32 = (uint32_t)len;
	uint64_t sum;
	char tmp[4200], path[4200];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/shared/.tmp-%u", fx_root, w->id);
	snprintf(path, sizeof(path), "%s/shared/s%u", fx_root, k);
	fx_fill(w, w->buf + FX_SHARED_HDR, len - FX_SHARED_HDR);
	sum = fx_fnv(w->buf + FX_SHARED_HDR, len - FX_SHARED_HDR);
	memcpy(w->buf, "RFXS", 4);
	memcpy(w->buf + 4, &l32, 4);
	memcpy(w->buf + 8, &sum, 8);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fx_error(w, "create %s: %s", tmp, strerror(errno));
		return;
	}
	if (!fx_write_all(fd, w->buf, len, 0))
		fx_error(w, "write %s: %s", tmp, strerror(errno));
	if (close(fd) < 0)
		fx_error(w, "close %s: %s", tmp, strerror(errno));
	if (rename(tmp, path) < 0)
		fx_error(w, "rename %s to %s: %s", tmp, path, strerror(errno));
}

static void fx_op_shared_get(struct fx_worker *w)
{
	unsigned k = (unsigned)fx_below(w, FX_SHARED);
	char path[4200];
	uint32_t l32;
	uint64_t sum;
	ssize_t got;
	int fd;

	snprintf(path, sizeof(path), "%s/shared/s%u", fx_root, k);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			fx_error(w, "open %s: %s", path, strerror(errno));
		return;
	}
	got = fx_read_all(fd, w->buf, FX_SHARED_MAX + 1);
	close(fd);
	if (got < 0) {
		fx_error(w, "read %s: %s", path, strerror((int)-got));
		return;
	}
	if (got < FX_SHARED_HDR || memcmp(w->buf, "RFXS", 4)) {
		fx_error(w, "%s: %zd bytes without a whole header", path, got);
		return;
	}
	memcpy(&l32, w->buf + 4, 4);
	memcpy(&sum, w->buf + 8, 8);
	if ((size_t)got != l32 ||
	    fx_fnv(w->buf + FX_SHARED_HDR, (size_t)got - FX_SHARED_HDR) != sum)
		fx_error(w, "%s: %zd bytes that are not one whole version (header says %u bytes)",
			 path, got, l32);
}

/* ---------------------------------------------------------- driver */

static void (*const fx_ops[FX_OP_COUNT])(struct fx_worker *) = {
    fx_op_write,  fx_op_patch, fx_op_truncate, fx_op_read,     fx_op_stat,	 fx_op_rename,
    fx_op_unlink, fx_op_dir,   fx_op_list,     fx_op_list_all, fx_op_shared_put, fx_op_shared_get,
};

static void *fx_worker_main(void *arg)
{
	struct fx_worker *w = arg;
	unsigned total = 0;

	for (int i = 0; i < FX_OP_COUNT; i++)
		total += fx_op_weight[i];
	while (!atomic_load(&fx_stop)) {
		unsigned pick = (unsigned)fx_below(w, total);
		int op = 0;

		while (pick >= fx_op_weight[op])
			pick -= fx_op_weight[op++];
		w->in_shared =
		    op == FX_OP_LIST_ALL || op == FX_OP_SHARED_PUT || op == FX_OP_SHARED_GET;
		fx_ops[op](w);
		w->in_shared = false;
		w->ops[op]++;
	}
	/* The end state must be what the model says, file by file. */
	for (unsigned k = 0; k < FX_FILES; k++) {
		char path[4200];
		ssize_t got;
		int fd;

		fx_path(w, path, sizeof(path), 'f', k);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			if (errno != ENOENT || w->files[k].exists)
				fx_error(w, "final: open %s: %s", path, strerror(errno));
			continue;
		}
		got = fx_read_all(fd, w->buf, FX_FILE_MAX);
		close(fd);
		if (!w->files[k].exists || got != (ssize_t)w->files[k].len ||
		    memcmp(w->buf, w->files[k].data, w->files[k].len))
			fx_error(w, "final: %s holds %zd bytes, not the %zu expected", path, got,
				 w->files[k].len);
	}
	fx_op_list(w);
	return NULL;
}

static void fx_usage(void)
{
	fprintf(stderr, "usage: rustfx-stress [-t THREADS] [-d SECONDS] [-s SEED] DIR\n");
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned threads = 8, seconds = 20;
	uint64_t seed = (uint64_t)time(NULL);
	uint64_t per_op[FX_OP_COUNT] = {0}, total = 0;
	struct fx_worker *workers;
	unsigned errors = 0, shared_errors = 0;
	char path[4200];
	int c;

	while ((c = getopt(argc, argv, "t:d:s:")) != -1) {
		switch (c) {
		case 't':
			threads = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'd':
			seconds = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 10);
			break;
		default:
			fx_usage();
		}
	}
	if (optind != argc - 1 || threads < 1 || threads > 64 || seconds < 1)
		fx_usage();
	fx_root = argv[optind];
	printf("stress: %u threads, %u s, seed %" PRIu64 " (replay with -s), in %s\n", threads,
	       seconds, seed, fx_root);
	fflush(stdout);
	snprintf(path, sizeof(path), "%s/shared", fx_root);
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "stress: mkdir %s: %s\n", path, strerror(errno));
		return 1;
	}
	workers = calloc(threads, sizeof(*workers));
	if (!workers)
		return 1;
	for (unsigned i = 0; i < threads; i++) {
		struct fx_worker *w = &workers[i];

		w->id = i;
		w->rng = (seed + 1) * 0x9e3779b97f4a7c15ULL + i * 0xbf58476d1ce4e5b9ULL + 1;
		snprintf(w->dir, sizeof(w->dir), "%s/t%u", fx_root, i);
		if (mkdir(w->dir, 0755) < 0) {
			fprintf(stderr, "stress: mkdir %s: %s\n", w->dir, strerror(errno));
			return 1;
		}
		w->buf = malloc(FX_FILE_MAX + 1);
		for (unsigned k = 0; k < FX_FILES; k++)
			w->files[k].data = malloc(FX_FILE_MAX);
		if (!w->buf)
			return 1;
		for (unsigned k = 0; k < FX_FILES; k++)
			if (!w->files[k].data)
				return 1;
	}
	for (unsigned i = 0; i < threads; i++)
		if (pthread_create(&workers[i].thread, NULL, fx_worker_main, &workers[i]) != 0) {
			fprintf(stderr, "stress: cannot start thread %u\n", i);
			return 1;
		}
	sleep(seconds);
	atomic_store(&fx_stop, true);
	for (unsigned i = 0; i < threads; i++) {
		pthread_join(workers[i].thread, NULL);
		errors += workers[i].errors;
		shared_errors += workers[i].shared_errors;
		for (int op = 0; op < FX_OP_COUNT; op++)
			per_op[op] += workers[i].ops[op];
	}
	for (int op = 0; op < FX_OP_COUNT; op++)
		total += per_op[op];
	printf("stress: %" PRIu64 " operations:", total);
	for (int op = 0; op < FX_OP_COUNT; op++)
		printf(" %s %" PRIu64, fx_op_names[op], per_op[op]);
	printf("\nstress: %u errors (own files and directories: %u; shared/, files replaced by "
	       "rename while others read them: %u)\n",
	       errors, errors - shared_errors, shared_errors);
	for (unsigned i = 0; i < threads; i++) {
		free(workers[i].buf);
		for (unsigned k = 0; k < FX_FILES; k++)
			free(workers[i].files[k].data);
	}
	free(workers);
	return errors ? 1 : 0;
}
