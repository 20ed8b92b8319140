/*
 * sync.c - `rustfx sync SRC DST` (see sync.h).
 *
 * Owns: parsing SRC/DST (a local path, file:// or s3:// and any other
 * backend URL), listing both sides, the include/exclude rules, deciding what
 * to copy, skip and delete, the bounded pool of worker threads that does it,
 * the progress bar, the summary and the exit code.
 * Does not own: object storage (backends/: retries, multipart, atomic puts
 * live there), the metadata names of mode/uid/gid/mtime and how they encode
 * (fs/namespace.c), the configuration layers (tools/cli.c).
 *
 * The two kinds of local side differ on purpose:
 * - A plain path is a directory of ordinary files. Its files' own mode,
 *   owner and mtime are the truth: they become x-amz-meta-mode/uid/gid/mtime
 *   when copied out, and a copy into it gets its permission bits and mtime
 *   set on the file (not its owner). It is walked here with fts(3), not
 *   listed through the file backend: that listing opens every file and
 *   stops at the first unreadable one, where sync must report that one file
 *   and go on. Symlinks and special files are skipped with a warning.
 * - A file:// URL is a directory used as a bucket, exactly as `rustfx mount
 *   file://` shows it: metadata in user.rustfx.* xattrs, the file's own
 *   mtime only when there is no "mtime" metadata.
 *
 * What is compared (without --checksum): the size, then the mtime, which is
 * the "mtime" metadata (s3fs, rustfx, rclone; s3cmd's attrs) if there, else
 * the object's Last-Modified (or a plain file's mtime). Equal to the
 * nanosecond, or to the second when either side has whole seconds only.
 * S3 listings carry no metadata, so that takes a HEAD of each S3 object whose
 * size matches. A copy always stores an "mtime", so a copied object compares
 * equal on the next run: a rerun after an interruption copies only what is
 * missing, and every put is atomic (an object is there whole or not at all).
 * Directories (marker objects "dir/") are created when missing, never
 * compared further: a directory's mtime changes whenever an entry does.
 *
 * Threads: the main thread lists and plans; N workers take jobs by an atomic
 * index (no lock around backend I/O); one thread redraws the progress bar.
 * Lock order: out_lock only (terminal output, the JSON lists); bar_lock is
 * never held with it.
 */
#define FX_LOG_MODULE "sync"
#include "tools/sync.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <fts.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "backends/backend.h"
#include "core/log.h"
#include "fs/namespace.h"
#include "tools/cli_i.h"

#define FX_SYNC_CHUNK (4u << 20)     /* bytes a GET asks for while fetching or hashing */
#define FX_SYNC_BATCH 1000	     /* keys a delete request carries (S3's limit) */
#define FX_SYNC_TMP   ".rustfx-tmp-" /* the file backend's temp files: never synced */
#define FX_SYNC_NS    1000000000LL

static const char fx_sync_usage[] = "usage: rustfx sync [OPTIONS] SRC DST";

enum fx_side_kind {
	FX_SIDE_POSIX, /* a plain local path */
	FX_SIDE_FILE,  /* file:///dir: a directory as a bucket */
	FX_SIDE_S3,    /* s3://bucket[/prefix] */
	FX_SIDE_OTHER, /* any other backend URL (mem://, ...) */
};

struct fx_sync_entry {
	char *key;  /* relative to the side's root; a marker ends with '/' */
	char *etag; /* "" when the listing had none */
	uint64_t size;
	int64_t mtime_ns; /* the effective mtime, when have_mtime */
	bool have_mtime;  /* known from the listing; else a HEAD tells */
	bool marker;
	bool excluded;
	/* SRC entries, written by the one worker that copies the entry: */
	bool created;	     /* a marker this run created at a POSIX DST */
	mode_t created_mode; /* ... and its mode and mtime, set again at the end */
	int64_t created_mtime_ns;
};

struct fx_sync_side {
	const char *arg; /* as given on the command line */
	enum fx_side_kind kind;
	char url[PATH_MAX + 16];     /* what the backend is opened with */
	char root[PATH_MAX];	     /* POSIX, FILE: the absolute directory */
	char bucket[256];	     /* S3 */
	char prefix[FX_KEY_MAX + 2]; /* S3: "" or "dir/" */
	bool absent;		     /* a local DST that does not exist (dry run) */
	struct fx_backend *b;
	struct fx_sync_entry *e; /* sorted by key once listed */
	size_t n, cap;
};

struct fx_sync_rule {
	const char *glob; /* argv string */
	bool include;
};

/* One line of a dry run's text output, printed sorted at the end. */
struct fx_sync_action {
	bool del;
	const char *key;    /* an entry's key: lives as long as the lists */
	const char *reason; /* static */
};

struct fx_sync {
	/* Set before the workers start; read-only after. */
	bool del, dry_run, checksum, json, verbose;
	unsigned concurrency;
	struct fx_sync_rule *rules;
	size_t n_rules;
	struct fx_sync_side src, dst;
	struct fx_backend *same; /* SRC and DST in one bucket: server-side copies */
	int devnull;		 /* the empty body of a marker */
	mode_t umask;
	ssize_t *match;		 /* SRC index -> DST index, or -1 */
	size_t *todo, n_todo;	 /* SRC indexes to compare and copy */
	size_t *dels, n_dels;	 /* DST objects to delete, ascending */
	size_t *mdels, n_mdels;	 /* DST markers to delete, descending (children first) */
	bool listing_incomplete; /* a SRC directory could not be read: no deletes */
	struct timespec t0;

	atomic_ullong copied, skipped, deleted, failed, bytes;
	atomic_ullong files_done, files_total, bytes_total;
	atomic_size_t next; /* the next job of the running phase */

	pthread_mutex_t out_lock; /* terminal output, failures, actions, plan, bar_shown */
	bool tty, bar_shown;
	json_t *failures, *actions;
	struct fx_sync_action *plan;
	size_t n_plan, cap_plan;

	pthread_mutex_t bar_lock; /* bar_stop */
	pthread_cond_t bar_cond;
	bool bar_stop;
};

/* SIGINT/SIGTERM: take no new job, finish those in flight, report. Read by
 * the workers: a lock-free atomic, which a signal handler may store to. */
static atomic_int fx_sync_stop;

static void fx_sync_on_signal(int sig)
{
	(void)sig;
	fx_sync_stop = 1;
}

void fx_cli_sync_help(FILE *f)
{
	fprintf(f,
		"%s\n\n"
		"Make DST hold what SRC holds: copy what is missing or different, skip what\n"
		"is the same. SRC and DST are each a local directory, file:///abs/dir (a\n"
		"directory used as a bucket) or s3://BUCKET[/PREFIX].\n\n"
		"options:\n"
		"  --delete           also remove from DST what SRC does not have (keys that\n"
		"                     --exclude leaves out are kept)\n"
		"  -n, --dry-run      print what would be copied and deleted; change nothing\n"
		"  --checksum         compare content instead of size and mtime: ETags where\n"
		"                     both are plain MD5s, else an MD5 of each side's bytes\n"
		"  --exclude GLOB     leave out keys matching GLOB (repeatable)\n"
		"  --include GLOB     keep keys matching GLOB (repeatable); the first --include\n"
		"                     or --exclude that matches a key decides; none: kept\n"
		"  --concurrency N    files in flight at once (default: [io] concurrency)\n"
		"  --json             print the summary as one JSON object\n"
		"  -v, --verbose      print each file copied or deleted\n"
		"  -h, --help         this help\n\n"
		"Without --checksum a file is copied when the sizes differ or the mtimes do:\n"
		"x-amz-meta-mtime (as s3fs and rustfx write it) else Last-Modified; a local\n"
		"file's own mtime. Copies keep mode, uid, gid, mtime and the other metadata.\n"
		"GLOB is fnmatch(3) on the key relative to SRC or DST, '*' matching '/' too,\n"
		"directories as 'dir/': '*.log' is every .log file, 'tmp/*' is tmp/ and all\n"
		"below it.\n"
		"A progress bar is drawn on stderr when it is a terminal; a summary line\n"
		"(copied, skipped, deleted, failed, bytes, seconds) ends every run.\n"
		"Exit status: 0 done; 1 some file failed (the others were done) or the run\n"
		"was interrupted, and running it again finishes the job; 2 bad input.\n",
		fx_sync_usage);
}

/* ------------------------------------------------------------- output */

static double fx_sync_elapsed(const struct fx_sync *s)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - s->t0.tv_sec) + (double)(now.tv_nsec - s->t0.tv_nsec) / 1e9;
}

static void fx_sync_human(double bytes, char *buf, size_t n)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	unsigned u = 0;

	while (bytes >= 1024 && u < 4) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
}

/* Erase the progress bar before a line is printed. out_lock held. */
static void fx_sync_bar_clear(struct fx_sync *s)
{
	if (!s->bar_shown)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	s->bar_shown = false;
}

/* One line of the bar: files, bytes, rate, ETA. out_lock held. */
static void fx_sync_bar_draw(struct fx_sync *s)
{
	double el = fx_sync_elapsed(s), done = (double)atomic_load(&s->bytes),
	       total = (double)atomic_load(&s->bytes_total), rate = el > 0 ? done / el : 0;
	unsigned long long fdone = atomic_load(&s->files_done),
			   ftotal = atomic_load(&s->files_total);
	char d[32], t[32], r[32], eta[32] = "--:--";
	double left = -1;

	if (rate > 0 && total >= done)
		left = (total - done) / rate;
	else if (fdone && ftotal >= fdone)
		left = el / (double)fdone * (double)(ftotal - fdone);
	if (left >= 0 && left < 360000) {
		unsigned long secs = (unsigned long)(left + 0.5);

		snprintf(eta, sizeof(eta), "%lu:%02lu:%02lu", secs / 3600, secs / 60 % 60,
			 secs % 60);
	}
	fx_sync_human(done, d, sizeof(d));
	fx_sync_human(total, t, sizeof(t));
	fx_sync_human(rate, r, sizeof(r));
	fprintf(stderr, "\r\033[K%llu/%llu files  %s/%s  %s/s  ETA %s", fdone, ftotal, d, t, r,
		eta);
	fflush(stderr);
	s->bar_shown = true;
}

static void *fx_sync_bar_thread(void *arg)
{
	struct fx_sync *s = arg;
	struct timespec until;
	bool stop;

	for (;;) {
		pthread_mutex_lock(&s->bar_lock);
		stop = s->bar_stop;
		pthread_mutex_unlock(&s->bar_lock);
		pthread_mutex_lock(&s->out_lock);
		if (stop)
			fx_sync_bar_clear(s);
		else
			fx_sync_bar_draw(s);
		pthread_mutex_unlock(&s->out_lock);
		if (stop)
			return NULL;
		/* Four times a second, or at once when the run ends. */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 250000000;
		if (until.tv_nsec >= FX_SYNC_NS) {
			until.tv_sec++;
			until.tv_nsec -= FX_SYNC_NS;
		}
		pthread_mutex_lock(&s->bar_lock);
		if (!s->bar_stop)
			pthread_cond_timedwait(&s->bar_cond, &s->bar_lock, &until);
		pthread_mutex_unlock(&s->bar_lock);
	}
}

/* A line on stdout for one file (@op "copy" or "delete"): "would copy KEY
 * (REASON)" in a dry run, "copied KEY (REASON)" with -v. */
static void fx_sync_say(struct fx_sync *s, const char *op, const char *key, const char *reason)
{
	const char *text = s->dry_run ? (op[0] == 'c' ? "would copy" : "would delete")
				      : (op[0] == 'c' ? "copied" : "deleted");

	if (s->json && !s->actions)
		return; /* stdout holds the JSON summary only */
	pthread_mutex_lock(&s->out_lock);
	if (s->dry_run && !s->json && s->n_plan == s->cap_plan) {
		size_t cap = s->cap_plan ? 2 * s->cap_plan : 256;
		struct fx_sync_action *p = realloc(s->plan, cap * sizeof(*p));

		if (p) {
			s->plan = p;
			s->cap_plan = cap;
		}
	}
	if (s->actions) {
		json_t *a = json_pack("{s:s, s:s}", "op", op, "key", key);

		if (a && reason)
			json_object_set_new(a, "reason", json_string(reason));
		json_array_append_new(s->actions, a);
	} else if (s->dry_run && s->n_plan < s->cap_plan) {
		/* Workers finish in any order; the plan reads better sorted. */
		s->plan[s->n_plan++] = (struct fx_sync_action){op[0] == 'd', key, reason};
	} else {
		fx_sync_bar_clear(s);
		if (reason)
			printf("%s %s (%s)\n", text, key, reason);
		else
			printf("%s %s\n", text, key);
		fflush(stdout);
	}
	pthread_mutex_unlock(&s->out_lock);
}

static void fx_sync_warn(struct fx_sync *s, const char *key, const char *why)
{
	pthread_mutex_lock(&s->out_lock);
	fx_sync_bar_clear(s);
	fprintf(stderr, "warning: skipping %s (%s)\n", key, why);
	pthread_mutex_unlock(&s->out_lock);
}

/* What a worker was doing when a file failed, for the error line. */
enum fx_sync_stage {
	FX_STAGE_READ,	   /* reading SRC: HEAD, open, GET */
	FX_STAGE_CHECK,	   /* comparing with DST: HEAD, hashing */
	FX_STAGE_WRITE,	   /* storing at DST */
	FX_STAGE_COPY,	   /* a server-side copy inside one bucket */
	FX_STAGE_DELETE,   /* deleting at DST */
	FX_STAGE_LIST_SRC, /* walking a directory of SRC */
	FX_STAGE_LIST_DST,
};

static const struct {
	const char *verb, *prep;
	bool dst;
} fx_sync_stages[] = {
    [FX_STAGE_READ] = {"read", "from", false},	[FX_STAGE_CHECK] = {"check", "at", true},
    [FX_STAGE_WRITE] = {"write", "to", true},	[FX_STAGE_COPY] = {"copy", "to", true},
    [FX_STAGE_DELETE] = {"delete", "at", true}, [FX_STAGE_LIST_SRC] = {"list", "in", false},
    [FX_STAGE_LIST_DST] = {"list", "in", true},
};

static const char *fx_sync_hint(int err, enum fx_sync_stage stage)
{
	bool at_dst = fx_sync_stages[stage].dst;

	switch (-err) {
	case EACCES:
	case EPERM:
		return at_dst ? "check write permission on DST, or the credentials and the bucket "
				"policy"
			      : "make it readable (chmod, chown), or check the credentials and the "
				"bucket policy";
	case ENOENT:
		return "it disappeared while sync ran; run sync again";
	case ESTALE:
		return "it changed while it was being copied; run sync again";
	case ENOSPC:
	case EDQUOT:
		return "free space at DST, then run sync again";
	case EISDIR:
	case ENOTDIR:
		return "a file and a directory have the same name at DST: remove one (or use "
		       "--delete), then run sync again";
	case ENOTEMPTY:
		return "the directory holds entries sync does not copy (symlinks, special files)";
	case EINVAL:
	case ENAMETOOLONG:
		return stage == FX_STAGE_DELETE
			   ? "rustfx does not touch keys it cannot map to a path: delete it with "
			     "another S3 client"
			   : "the key cannot be stored there or mapped to a path: rename it at SRC";
	default:
		return "run sync again to retry what failed; -v logs the backend's requests";
	}
}

/* Report one file that failed (error: and hint: lines); the others go on. */
static void fx_sync_fail(struct fx_sync *s, enum fx_sync_stage stage, const char *key, int err)
{
	bool at_dst = fx_sync_stages[stage].dst;
	struct fx_diag d = {0};

	fx_diag_set(&d, err, fx_sync_hint(err, stage), "cannot %s %s %s %s (%s)",
		    fx_sync_stages[stage].verb, key, fx_sync_stages[stage].prep,
		    at_dst ? s->dst.arg : s->src.arg, fx_strerror(err));
	atomic_fetch_add(&s->failed, 1);
	pthread_mutex_lock(&s->out_lock);
	fx_sync_bar_clear(s);
	fx_diag_print(&d, stderr);
	if (s->failures)
		json_array_append_new(s->failures, json_pack("{s:s, s:s, s:s}", "key", key, "error",
							     d.msg, "hint", d.hint));
	pthread_mutex_unlock(&s->out_lock);
}

/* ------------------------------------------------------ SRC and DST */

/* Lexically normalise absolute @in ("/a/./b/../c//") into @out ("/a/c"). */
static int fx_sync_normalize(const char *in, char *out, size_t n)
{
	size_t len = 0;
	const char *p = in;

	if (n < 2)
		return -ENAMETOOLONG;
	while (*p) {
		const char *seg;
		size_t sl;

		while (*p == '/')
			p++;
		seg = p;
		while (*p && *p != '/')
			p++;
		sl = (size_t)(p - seg);
		if (sl == 0 || (sl == 1 && seg[0] == '.'))
			continue;
		if (sl == 2 && seg[0] == '.' && seg[1] == '.') {
			while (len > 0 && out[len] != '/')
				len--;
			continue;
		}
		if (len + 1 + sl + 1 > n)
			return -ENAMETOOLONG;
		out[len] = '/';
		memcpy(out + len + 1, seg, sl);
		len += 1 + sl;
		out[len] = '\0';
	}
	if (len == 0)
		strcpy(out, "/");
	else
		out[len] = '\0';
	return 0;
}

/* The absolute, normalised form of local @path, with symlinks resolved when
 * it exists (so overlapping sides are found however they are named). */
static int fx_sync_local_root(const char *path, char *out, size_t n)
{
	char abs[PATH_MAX * 2], cwd[PATH_MAX], real[PATH_MAX];
	int ret;

	if (path[0] == '/') {
		if ((size_t)snprintf(abs, sizeof(abs), "%s", path) >= sizeof(abs))
			return -ENAMETOOLONG;
	} else {
		if (!getcwd(cwd, sizeof(cwd)))
			return -errno;
		if ((size_t)snprintf(abs, sizeof(abs), "%s/%s", cwd, path) >= sizeof(abs))
			return -ENAMETOOLONG;
	}
	if ((ret = fx_sync_normalize(abs, out, n)) < 0)
		return ret;
	if (realpath(out, real) && strlen(real) < n)
		strcpy(out, real);
	return 0;
}

/* Classify @arg and fill @sd's url, root, bucket and prefix. */
static int fx_sync_side_init(struct fx_sync_side *sd, const char *arg, struct fx_diag *d)
{
	const char *sep = strstr(arg, "://"), *rest, *slash;
	size_t bl, pl;
	int ret;

	sd->arg = arg;
	if (!sep) {
		sd->kind = FX_SIDE_POSIX;
		if (!*arg) {
			fx_diag_set(d, -FX_EUSAGE, "name a directory, file:///dir or s3://BUCKET",
				    "empty path%s", "");
			return -FX_EUSAGE;
		}
		ret = fx_sync_local_root(arg, sd->root, sizeof(sd->root));
	} else if (!strncmp(arg, "file://", 7)) {
		sd->kind = FX_SIDE_FILE;
		if (arg[7] != '/') {
			fx_diag_set(d, -FX_EBADURL,
				    "use an absolute path: file:///srv/bucket (three slashes)",
				    "file:// URL '%s' does not name an absolute path", arg);
			return -FX_EBADURL;
		}
		ret = fx_sync_local_root(arg + 7, sd->root, sizeof(sd->root));
	} else {
		sd->kind = strncmp(arg, "s3://", 5) ? FX_SIDE_OTHER : FX_SIDE_S3;
		if ((size_t)snprintf(sd->url, sizeof(sd->url), "%s", arg) >= sizeof(sd->url))
			goto too_long;
		if (sd->kind == FX_SIDE_OTHER)
			return 0;
		rest = arg + 5;
		slash = strchr(rest, '/');
		bl = slash ? (size_t)(slash - rest) : strlen(rest);
		if (bl == 0 || bl >= sizeof(sd->bucket)) {
			fx_diag_set(d, -FX_EBADURL, "write it as s3://BUCKET or s3://BUCKET/PREFIX",
				    "S3 URL '%s' has no valid bucket name", arg);
			return -FX_EBADURL;
		}
		memcpy(sd->bucket, rest, bl);
		sd->bucket[bl] = '\0';
		pl = slash ? strlen(slash + 1) : 0;
		while (pl && slash[pl] == '/')
			pl--;
		if (pl + 2 > sizeof(sd->prefix))
			goto too_long;
		if (pl)
			snprintf(sd->prefix, sizeof(sd->prefix), "%.*s/", (int)pl, slash + 1);
		return 0;
	}
	if (ret < 0)
		goto too_long;
	if ((size_t)snprintf(sd->url, sizeof(sd->url), "file://%s", sd->root) >= sizeof(sd->url))
		goto too_long;
	return 0;
too_long:
	fx_diag_set(d, -FX_EUSAGE, "use a shorter path", "cannot use '%s' (%s)", arg,
		    fx_strerror(-ENAMETOOLONG));
	return -FX_EUSAGE;
}

/* @a is @b or below it (directories, normalised). */
static bool fx_sync_below(const char *a, const char *b)
{
	size_t n = strlen(b);

	if (!strcmp(b, "/"))
		return true;
	return !strncmp(a, b, n) && (a[n] == '\0' || a[n] == '/');
}

/* SRC inside DST or DST inside SRC would copy a tree into itself. */
static int fx_sync_check_overlap(const struct fx_sync *s, struct fx_diag *d)
{
	const struct fx_sync_side *a = &s->src, *b = &s->dst;
	bool local_a = a->kind == FX_SIDE_POSIX || a->kind == FX_SIDE_FILE;
	bool local_b = b->kind == FX_SIDE_POSIX || b->kind == FX_SIDE_FILE;
	bool overlap = false;

	if (local_a && local_b)
		overlap = fx_sync_below(a->root, b->root) || fx_sync_below(b->root, a->root);
	else if (a->kind == FX_SIDE_S3 && b->kind == FX_SIDE_S3 && !strcmp(a->bucket, b->bucket))
		overlap = !strncmp(a->prefix, b->prefix, strlen(b->prefix)) ||
			  !strncmp(b->prefix, a->prefix, strlen(a->prefix));
	else if (a->kind == FX_SIDE_OTHER && b->kind == FX_SIDE_OTHER)
		overlap = !strcmp(a->url, b->url);
	if (!overlap)
		return 0;
	fx_diag_set(d, -FX_EUSAGE, "choose a DST that is neither SRC, inside SRC, nor holds SRC",
		    "SRC %s and DST %s overlap", a->arg, b->arg);
	return -FX_EUSAGE;
}

static int fx_sync_mkdirs(const char *dir)
{
	char path[PATH_MAX];
	size_t len = strlen(dir);

	if (len >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, len + 1);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0777) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(path, 0777) && errno != EEXIST)
		return -errno;
	return 0;
}

static int fx_sync_open_side(struct fx_sync *s, struct fx_sync_side *sd, bool is_src,
			     const struct fx_config *cfg, struct fx_diag *d)
{
	struct stat st;
	int ret;

	if (sd->kind == FX_SIDE_POSIX || sd->kind == FX_SIDE_FILE) {
		int serr = stat(sd->root, &st) ? errno : 0;

		if (!serr && !S_ISDIR(st.st_mode)) {
			fx_diag_set(d, -FX_EUSAGE,
				    "sync copies directories: name the directory that holds it",
				    "%s %s is not a directory", is_src ? "SRC" : "DST", sd->arg);
			return -FX_EUSAGE;
		}
		if (serr == ENOENT && is_src) {
			fx_diag_set(d, -FX_EUSAGE, "check the path", "SRC %s does not exist",
				    sd->arg);
			return -FX_EUSAGE;
		}
		if (serr == ENOENT && !is_src) {
			if (s->dry_run) {
				sd->absent =
				    true; /* nothing there yet: everything would be copied */
				return 0;
			}
			if ((ret = fx_sync_mkdirs(sd->root)) < 0) {
				fx_diag_set(
				    d, ret, "create it yourself, or choose a writable place",
				    "cannot create DST %s (%s)", sd->root, fx_strerror(ret));
				return ret;
			}
		}
	}
	ret = fx_backend_open_config(sd->url, cfg, &sd->b, d);
	/* A URL that names nothing is bad input, as for a mount. */
	if (ret == -ENOENT || ret == -ENOTDIR)
		d->err = ret = -FX_EBADURL;
	return ret;
}

/* --------------------------------------------------------------- listing */

static int fx_sync_add(struct fx_sync_side *sd, const char *key, uint64_t size, int64_t mtime_ns,
		       bool have_mtime, const char *etag)
{
	struct fx_sync_entry *e;

	if (sd->n == sd->cap) {
		size_t cap = sd->cap ? sd->cap * 2 : 1024;

		e = realloc(sd->e, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		sd->e = e;
		sd->cap = cap;
	}
	e = &sd->e[sd->n];
	*e = (struct fx_sync_entry){.size = size, .mtime_ns = mtime_ns, .have_mtime = have_mtime};
	e->key = strdup(key);
	e->etag = strdup(etag ? etag : "");
	if (!e->key || !e->etag) {
		free(e->key);
		free(e->etag);
		return -ENOMEM;
	}
	e->marker = key[strlen(key) - 1] == '/';
	sd->n++;
	return 0;
}

static int64_t fx_sync_ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * FX_SYNC_NS + ts->tv_nsec;
}

/* The mtime an object shows in a mount: its metadata's, else its own. */
static int64_t fx_sync_mtime_of(const struct fx_meta *meta, bool marker, uint64_t size,
				int64_t obj_mtime_ns)
{
	struct fx_ns_defaults def = {.dir_mtime_ns = obj_mtime_ns};
	struct stat st = {0};

	fx_ns_stat(&st, meta, marker, size, obj_mtime_ns, &def);
	return fx_sync_ts_ns(&st.st_mtim);
}

static int fx_sync_list_cb(void *arg, const struct fx_list_entry *le)
{
	struct fx_sync_side *sd = arg;
	bool marker;

	if (le->is_prefix || !le->key[0])
		return 0;
	marker = le->key[strlen(le->key) - 1] == '/';
	return fx_sync_add(sd, le->key, marker ? 0 : le->size,
			   le->meta ? fx_sync_mtime_of(le->meta, marker, le->size, le->mtime_ns)
				    : 0,
			   le->meta != NULL, le->etag);
}

static bool fx_sync_excluded(const struct fx_sync *s, const char *key)
{
	for (size_t i = 0; i < s->n_rules; i++)
		if (fnmatch(s->rules[i].glob, key, 0) == 0)
			return !s->rules[i].include;
	return false;
}

/* Walk a plain local directory (see the file comment for why not list). */
static int fx_sync_walk(struct fx_sync *s, struct fx_sync_side *sd, bool is_src, struct fx_diag *d)
{
	char *paths[] = {sd->root, NULL}, key[FX_KEY_MAX + 2];
	size_t skip = strcmp(sd->root, "/") ? strlen(sd->root) + 1 : 1;
	FTS *fts = fts_open(paths, FTS_PHYSICAL | FTS_NOCHDIR, NULL);
	FTSENT *f;
	int ret = 0;

	if (!fts) {
		ret = -errno;
		fx_diag_set(d, ret, NULL, "cannot read %s (%s)", sd->root, fx_strerror(ret));
		return ret;
	}
	while (!ret && (errno = 0, f = fts_read(fts))) {
		const char *rel = f->fts_level > 0 ? f->fts_path + skip : "";
		bool dir = f->fts_info == FTS_D || f->fts_info == FTS_DNR;

		if (f->fts_level == 0) {
			if (f->fts_info == FTS_DNR || f->fts_info == FTS_ERR ||
			    f->fts_info == FTS_NS) {
				ret = -f->fts_errno;
				fx_diag_set(d, ret, "check the directory's permissions",
					    "cannot read %s (%s)", sd->root, fx_strerror(ret));
			}
			continue;
		}
		if (f->fts_info == FTS_DP)
			continue;
		if (!strncmp(f->fts_name, FX_SYNC_TMP, strlen(FX_SYNC_TMP))) {
			if (dir)
				fts_set(fts, f, FTS_SKIP);
			continue; /* a put in progress (or killed) at a file backend */
		}
		if ((size_t)snprintf(key, sizeof(key), "%s%s", rel, dir ? "/" : "") >=
			sizeof(key) ||
		    fx_key_check(key) < 0) {
			if (!fx_sync_excluded(s, rel))
				fx_sync_warn(s, rel, "its name cannot be an object key");
			if (dir)
				fts_set(fts, f, FTS_SKIP);
			continue;
		}
		switch (f->fts_info) {
		case FTS_D:
		case FTS_F:
			ret = fx_sync_add(sd, key, dir ? 0 : (uint64_t)f->fts_statp->st_size,
					  fx_sync_ts_ns(&f->fts_statp->st_mtim), true, "");
			break;
		case FTS_NS:
			if (f->fts_errno == ENOENT)
				break; /* removed since its directory was read */
				       /* fall through */
		case FTS_DNR:
		case FTS_ERR:
			/* fts gave FTS_D for the directory before it failed to read it. */
			if (sd->n && !strcmp(sd->e[sd->n - 1].key, key)) {
				sd->n--;
				free(sd->e[sd->n].key);
				free(sd->e[sd->n].etag);
			}
			if (fx_sync_excluded(s, key))
				break;
			/* What is in it is unknown: deleting at DST on that basis is not safe. */
			if (is_src)
				s->listing_incomplete = true;
			fx_sync_fail(s, is_src ? FX_STAGE_LIST_SRC : FX_STAGE_LIST_DST, key,
				     -f->fts_errno);
			break;
		case FTS_SL:
		case FTS_SLNONE:
			if (!fx_sync_excluded(s, key))
				fx_sync_warn(s, key, "a symlink");
			break;
		default:
			if (!fx_sync_excluded(s, key))
				fx_sync_warn(s, key, "not a regular file or directory");
		}
	}
	if (!ret && errno) {
		ret = -errno;
		fx_diag_set(d, ret, NULL, "cannot walk %s (%s)", sd->root, fx_strerror(ret));
	}
	fts_close(fts);
	if (ret == -ENOMEM)
		fx_diag_set(d, ret, NULL, "out of memory%s", "");
	return ret;
}

static int fx_sync_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct fx_sync_entry *)a)->key,
		      ((const struct fx_sync_entry *)b)->key);
}

static int fx_sync_list(struct fx_sync *s, struct fx_sync_side *sd, bool is_src, struct fx_diag *d)
{
	int ret = 0;

	if (sd->absent)
		return 0;
	if (sd->kind == FX_SIDE_POSIX) {
		ret = fx_sync_walk(s, sd, is_src, d);
	} else {
		const char *hint =
		    "check the URL and that the server answers; -v logs the requests";

		ret = fx_backend_list_all(sd->b, "", NULL, fx_sync_list_cb, sd);
		if (ret == -EACCES || ret == -EPERM)
			hint = sd->kind == FX_SIDE_FILE
				   ? "every file below a file:// directory must be readable: "
				     "fix their permissions, or sync it as a plain path"
				   : "check the credentials and the bucket policy";
		if (ret < 0)
			fx_diag_set(d, ret == -ENOENT ? -FX_EBADURL : ret, hint,
				    "cannot list %s %s (%s)", is_src ? "SRC" : "DST", sd->arg,
				    fx_strerror(ret));
	}
	if (ret < 0)
		return d->err ? d->err : ret;
	if (sd->n)
		qsort(sd->e, sd->n, sizeof(*sd->e), fx_sync_entry_cmp);
	for (size_t i = 0; i < sd->n; i++)
		sd->e[i].excluded = fx_sync_excluded(s, sd->e[i].key);
	return 0;
}

/* ------------------------------------------------------------- compare */

static bool fx_sync_mtime_equal(int64_t a, int64_t b)
{
	int64_t sa = a / FX_SYNC_NS - (a % FX_SYNC_NS < 0),
		sb = b / FX_SYNC_NS - (b % FX_SYNC_NS < 0);

	if (a == b)
		return true;
	/* s3fs, s3cmd and Last-Modified keep whole seconds only. */
	return (a % FX_SYNC_NS == 0 || b % FX_SYNC_NS == 0) && sa == sb;
}

/* The mtime of @e at @sd: from the listing, else by a HEAD whose answer
 * stays in @info (for a copy) when @info is not NULL. */
static int fx_sync_side_mtime(struct fx_sync_side *sd, const struct fx_sync_entry *e,
			      struct fx_object_info *info, bool *headed, int64_t *out)
{
	struct fx_object_info own = {0};
	struct fx_object_info *i = info ? info : &own;
	int ret;

	if (e->have_mtime) {
		*out = e->mtime_ns;
		return 0;
	}
	if ((ret = fx_backend_head(sd->b, e->key, i)) < 0)
		return ret;
	if (info)
		*headed = true;
	*out = fx_sync_mtime_of(&i->meta, e->marker, i->size, i->mtime_ns);
	fx_object_info_clear(&own);
	return 0;
}

/* A plain MD5 ETag ("\"<32 hex>\""), lower-cased into @out. Multipart ETags
 * ("...-N") and the file backend's identity tags are not content hashes. */
static bool fx_sync_md5_etag(const char *etag, char out[33])
{
	size_t n = strlen(etag);

	if (n == 34 && etag[0] == '"' && etag[33] == '"') {
		etag++;
		n = 32;
	}
	if (n != 32)
		return false;
	for (size_t i = 0; i < 32; i++) {
		char c = etag[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return false;
		out[i] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
	}
	out[32] = '\0';
	return true;
}

/* MD5 of the @size bytes of @key at @sd, as 32 hex digits. */
static int fx_sync_md5(struct fx_sync_side *sd, const char *key, uint64_t size, char out[33])
{
	size_t cap = size < FX_SYNC_CHUNK ? (size_t)size + 1 : FX_SYNC_CHUNK;
	unsigned char *buf = malloc(cap), md[EVP_MAX_MD_SIZE];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned md_len = 0;
	uint64_t off = 0;
	ssize_t n;
	int ret = 0;

	if (!buf || !ctx || EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1) {
		ret = -ENOMEM;
		goto out;
	}
	/* Read to the end (a short read), not to @size: a longer object is another one. */
	do {
		n = fx_backend_get(sd->b, key, off, buf, cap);
		if (n < 0) {
			ret = (int)n;
			goto out;
		}
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1) {
			ret = -EIO;
			goto out;
		}
		off += (uint64_t)n;
	} while ((size_t)n == cap);
	if (off != size || EVP_DigestFinal_ex(ctx, md, &md_len) != 1 || md_len != 16) {
		ret = off != size ? -ESTALE : -EIO;
		goto out;
	}
	for (unsigned i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	return ret;
}

/* Do @se and @de (same size) hold the same bytes? */
static int fx_sync_same_content(struct fx_sync *s, const struct fx_sync_entry *se,
				const struct fx_sync_entry *de, bool *same,
				enum fx_sync_stage *stage)
{
	char a[33], b[33];
	int ret;

	*stage = FX_STAGE_READ;
	if (!fx_sync_md5_etag(se->etag, a) &&
	    (ret = fx_sync_md5(&s->src, se->key, se->size, a)) < 0)
		return ret;
	*stage = FX_STAGE_CHECK;
	if (!fx_sync_md5_etag(de->etag, b) &&
	    (ret = fx_sync_md5(&s->dst, de->key, de->size, b)) < 0)
		return ret;
	*same = !strcmp(a, b);
	return 0;
}

/* ---------------------------------------------------------------- copy */

static int fx_sync_set_mtime(struct fx_meta *meta, int64_t ns)
{
	char buf[48];
	int64_t sec = ns / FX_SYNC_NS, frac = ns % FX_SYNC_NS;

	/* The form fx_ns_meta_from_stat() writes: "S", "S.NNNNNNNNN", "-S.NNNNNNNNN". */
	if (frac < 0) {
		sec--;
		frac += FX_SYNC_NS;
	}
	if (frac && sec < 0)
		snprintf(buf, sizeof(buf), "-%lld.%09lld", -(long long)sec - 1,
			 (long long)(FX_SYNC_NS - frac));
	else if (frac)
		snprintf(buf, sizeof(buf), "%lld.%09lld", (long long)sec, (long long)frac);
	else
		snprintf(buf, sizeof(buf), "%lld", (long long)sec);
	return fx_meta_set(meta, "mtime", buf);
}

static int fx_sync_tmpfile(void)
{
	const char *dir = getenv("TMPDIR");
	char path[PATH_MAX];
	int fd;

	if (!dir || !*dir)
		dir = "/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	snprintf(path, sizeof(path), "%s/rustfx-sync.XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);
	return fd;
}

/* Download the version @etag of @key (@size bytes) into an unlinked temp file. */
static int fx_sync_fetch(struct fx_sync *s, const char *key, const char *etag, uint64_t size,
			 int *out)
{
	size_t cap = size < FX_SYNC_CHUNK ? (size_t)size : FX_SYNC_CHUNK;
	char *buf = malloc(cap ? cap : 1);
	uint64_t off = 0;
	int fd = fx_sync_tmpfile(), ret = 0;
	ssize_t n;

	if (fd < 0 || !buf) {
		ret = fd < 0 ? fd : -ENOMEM;
		goto fail;
	}
	while (off < size) {
		size_t want = size - off < cap ? (size_t)(size - off) : cap;

		n = fx_backend_get_version(s->src.b, key, etag, off, buf, want);
		if (n <= 0) {
			ret = n < 0 ? (int)n : -ESTALE; /* shorter than its HEAD said */
			goto fail;
		}
		for (ssize_t w = 0, m; w < n; w += m) {
			m = pwrite(fd, buf + w, (size_t)(n - w), (off_t)(off + (uint64_t)w));
			if (m < 0) {
				ret = -errno;
				goto fail;
			}
		}
		off += (uint64_t)n;
	}
	free(buf);
	*out = fd;
	return 0;
fail:
	free(buf);
	if (fd >= 0)
		close(fd);
	return ret;
}

static int fx_sync_path(const struct fx_sync_side *sd, const char *key, char *out, size_t n)
{
	size_t kl = strlen(key) - (key[strlen(key) - 1] == '/');

	if ((size_t)snprintf(out, n, "%s%s%.*s", sd->root, strcmp(sd->root, "/") ? "/" : "",
			     (int)kl, key) >= n)
		return -ENAMETOOLONG;
	return 0;
}

static void fx_sync_times(int64_t ns, struct timespec ts[2])
{
	ts[0].tv_sec = (time_t)(ns / FX_SYNC_NS - (ns % FX_SYNC_NS < 0));
	ts[0].tv_nsec = (long)(ns - (int64_t)ts[0].tv_sec * FX_SYNC_NS);
	ts[1] = ts[0];
}

/* The shortest ancestor of @path (below the DST root) that does not exist
 * yet, into @out; "" when @path's directory exists. */
static void fx_sync_first_missing(const struct fx_sync *s, const char *path, char *out, size_t n)
{
	size_t root_len = strlen(s->dst.root);
	char dir[PATH_MAX], *slash;
	struct stat st;

	out[0] = '\0';
	snprintf(dir, sizeof(dir), "%s", path);
	while ((slash = strrchr(dir, '/')) && (size_t)(slash - dir) > root_len) {
		*slash = '\0';
		if (lstat(dir, &st) == 0)
			break;
		snprintf(out, n, "%s", dir);
	}
}

/* The put made @path's missing ancestors from @first down (see the umask
 * in fx_sync_go): give them the mode a mkdir would have. Those SRC has a
 * marker for get the marker's mode at the end (fx_sync_dir_attrs). */
static void fx_sync_fix_parents(const struct fx_sync *s, const char *path, const char *first)
{
	size_t stop = strlen(first);
	char dir[PATH_MAX], *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	while ((slash = strrchr(dir, '/')) && (size_t)(slash - dir) >= stop) {
		*slash = '\0';
		chmod(dir, 0777 & ~s->umask);
	}
}

/* A copy into a plain directory: the permission bits (into *@mode) and, for
 * files, the mtime on the file itself. The owner is left as it is, as rsync
 * does without -o. */
static int fx_sync_posix_attrs(struct fx_sync *s, const char *path, bool marker,
			       const struct fx_meta *meta, uint64_t size, int64_t mtime_ns,
			       mode_t *mode)
{
	struct fx_ns_defaults def = {.umask = s->umask, .dir_mtime_ns = mtime_ns};
	struct timespec ts[2];
	struct stat st = {0};

	fx_ns_stat(&st, meta, marker, size, mtime_ns, &def);
	*mode = st.st_mode & 0777;
	if (fchmodat(AT_FDCWD, path, *mode, AT_SYMLINK_NOFOLLOW))
		return -errno;
	if (marker)
		return 0; /* a directory's mtime is set when its entries are in */
	fx_sync_times(mtime_ns, ts);
	return utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

/*
 * Copy @se from SRC to DST with its metadata. @si is SRC's HEAD answer when
 * @have_si. @bytes receives what was moved; @stage what failed.
 */
static int fx_sync_copy(struct fx_sync *s, struct fx_sync_entry *se, struct fx_object_info *si,
			bool have_si, uint64_t *bytes, enum fx_sync_stage *stage)
{
	bool local = s->src.kind == FX_SIDE_POSIX || s->src.kind == FX_SIDE_FILE, had_mtime;
	struct fx_meta meta = {0}, stripped = {0};
	const struct fx_meta *dmeta = &meta;
	char path[PATH_MAX], etag[FX_ETAG_MAX], dpath[PATH_MAX], missing[PATH_MAX] = "";
	mode_t mode = 0;
	uint64_t size;
	int64_t mtime_ns;
	struct stat st;
	int fd = -1, ret;

	*stage = FX_STAGE_READ;
	if (!have_si && (ret = fx_backend_head(s->src.b, se->key, si)) < 0)
		return ret;
	if ((ret = fx_meta_copy(&meta, &si->meta)) < 0)
		goto out;
	size = si->size;
	mtime_ns = fx_sync_mtime_of(&si->meta, se->marker, si->size, si->mtime_ns);
	snprintf(etag, sizeof(etag), "%s", si->etag);
	if (local) {
		/* Read the file itself: it is the temporary copy there is no need to make. */
		if ((ret = fx_sync_path(&s->src, se->key, path, sizeof(path))) < 0)
			goto out;
		if (se->marker)
			ret = lstat(path, &st) ? -errno : 0;
		else if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 || fstat(fd, &st))
			ret = -errno;
		if (ret < 0)
			goto out;
		if (se->marker ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
			ret = -ENOENT; /* replaced by something else since it was listed */
			goto out;
		}
		size = se->marker ? 0 : (uint64_t)st.st_size;
		if (s->src.kind == FX_SIDE_POSIX) {
			if ((ret = fx_ns_meta_from_stat(&meta, &st)) < 0)
				goto out;
			mtime_ns = fx_sync_ts_ns(&st.st_mtim);
		} else if (size != si->size) {
			ret = -ESTALE;
			goto out;
		}
	}
	had_mtime = fx_meta_get(&meta, "mtime") != NULL;
	/* Without one the copy would show its own upload time, and differ next run. */
	if (!had_mtime && (ret = fx_sync_set_mtime(&meta, mtime_ns)) < 0)
		goto out;
	if (s->dst.kind == FX_SIDE_POSIX) {
		/* The file's own attributes hold these there (set below). */
		if ((ret = fx_meta_copy(&stripped, &meta)) < 0)
			goto out;
		fx_meta_unset(&stripped, "mode");
		fx_meta_unset(&stripped, "uid");
		fx_meta_unset(&stripped, "gid");
		fx_meta_unset(&stripped, "mtime");
		dmeta = &stripped;
		if ((ret = fx_sync_path(&s->dst, se->key, dpath, sizeof(dpath))) < 0)
			goto out;
		fx_sync_first_missing(s, dpath, missing, sizeof(missing));
	}

	*stage = FX_STAGE_WRITE;
	if (se->marker) {
		ret = fx_backend_put(s->dst.b, se->key, s->devnull, 0, dmeta, NULL);
	} else if (s->same) {
		char from[FX_KEY_MAX * 2 + 4], to[FX_KEY_MAX * 2 + 4];

		*stage = FX_STAGE_COPY;
		snprintf(from, sizeof(from), "%s%s", s->src.prefix, se->key);
		snprintf(to, sizeof(to), "%s%s", s->dst.prefix, se->key);
		ret = fx_backend_copy(s->same, from, to, had_mtime ? NULL : &meta);
	} else {
		if (fd < 0) {
			*stage = FX_STAGE_READ;
			if ((ret = fx_sync_fetch(s, se->key, etag, size, &fd)) < 0)
				goto out;
			*stage = FX_STAGE_WRITE;
		}
		ret = fx_backend_put(s->dst.b, se->key, fd, size, dmeta, NULL);
	}
	if (!ret && s->dst.kind == FX_SIDE_POSIX) {
		if (missing[0])
			fx_sync_fix_parents(s, dpath, missing);
		ret = fx_sync_posix_attrs(s, dpath, se->marker, &meta, size, mtime_ns, &mode);
	}
	if (!ret && se->marker && s->dst.kind == FX_SIDE_POSIX) {
		se->created = true;
		se->created_mode = mode;
		se->created_mtime_ns = mtime_ns;
	}
	if (!ret)
		*bytes = size;
out:
	if (fd >= 0)
		close(fd);
	fx_meta_clear(&meta);
	fx_meta_clear(&stripped);
	return ret;
}

/* Phase 1 job: compare SRC entry todo[@i] with its DST twin, copy if needed. */
static void fx_sync_pair(struct fx_sync *s, size_t i)
{
	size_t si_idx = s->todo[i];
	struct fx_sync_entry *se = &s->src.e[si_idx];
	ssize_t j = s->match[si_idx];
	struct fx_sync_entry *de = j >= 0 ? &s->dst.e[j] : NULL;
	struct fx_object_info si = {0};
	enum fx_sync_stage stage = FX_STAGE_READ;
	const char *reason = NULL;
	bool have_si = false, same = false;
	int64_t sm = 0, dm = 0;
	uint64_t bytes = 0;
	int ret = 0;

	if (!de) {
		reason = "new";
	} else if (se->marker) {
		reason = NULL; /* a directory that exists: nothing to compare */
	} else if (se->size != de->size) {
		reason = "size";
	} else if (s->checksum) {
		ret = fx_sync_same_content(s, se, de, &same, &stage);
		reason = same ? NULL : "checksum";
	} else {
		ret = fx_sync_side_mtime(&s->src, se, &si, &have_si, &sm);
		if (!ret) {
			stage = FX_STAGE_CHECK;
			ret = fx_sync_side_mtime(&s->dst, de, NULL, NULL, &dm);
		}
		reason = fx_sync_mtime_equal(sm, dm) ? NULL : "mtime";
	}
	if (ret < 0) {
		fx_sync_fail(s, stage, se->key, ret);
	} else if (!reason) {
		atomic_fetch_add(&s->skipped, 1);
		atomic_fetch_sub(&s->bytes_total, se->size);
	} else if (s->dry_run) {
		fx_sync_say(s, "copy", se->key, reason);
		atomic_fetch_add(&s->copied, 1);
		atomic_fetch_add(&s->bytes, se->size);
	} else if ((ret = fx_sync_copy(s, se, &si, have_si, &bytes, &stage)) < 0) {
		fx_sync_fail(s, stage, se->key, ret);
		atomic_fetch_sub(&s->bytes_total, se->size);
	} else {
		atomic_fetch_add(&s->copied, 1);
		/* The size may have changed since the listing: count what moved. */
		atomic_fetch_add(&s->bytes_total, bytes);
		atomic_fetch_sub(&s->bytes_total, se->size);
		atomic_fetch_add(&s->bytes, bytes);
		if (s->verbose)
			fx_sync_say(s, "copy", se->key, reason);
	}
	fx_object_info_clear(&si);
	atomic_fetch_add(&s->files_done, 1);
}

/* Phase 2 job: delete batch @i of DST objects SRC does not have. */
static void fx_sync_delete_batch(struct fx_sync *s, size_t i)
{
	size_t first = i * FX_SYNC_BATCH,
	       n = s->n_dels - first < FX_SYNC_BATCH ? s->n_dels - first : FX_SYNC_BATCH;
	const char *keys[FX_SYNC_BATCH] = {0};
	int results[FX_SYNC_BATCH], ret;

	for (size_t k = 0; k < n; k++)
		keys[k] = s->dst.e[s->dels[first + k]].key;
	if (s->dry_run) {
		for (size_t k = 0; k < n; k++) {
			fx_sync_say(s, "delete", keys[k], NULL);
			atomic_fetch_add(&s->deleted, 1);
		}
		atomic_fetch_add(&s->files_done, n);
		return;
	}
	ret = fx_backend_delete_batch(s->dst.b, keys, n, results);
	for (size_t k = 0; k < n; k++) {
		int err = results[k];

		if (ret < 0 && err == -ECANCELED)
			err = ret; /* the request as a whole failed */
		if (err < 0) {
			fx_sync_fail(s, FX_STAGE_DELETE, keys[k], err);
			continue;
		}
		atomic_fetch_add(&s->deleted, 1);
		if (s->verbose)
			fx_sync_say(s, "delete", keys[k], NULL);
	}
	atomic_fetch_add(&s->files_done, n);
}

/* ---------------------------------------------------------------- pool */

typedef void (*fx_sync_job_fn)(struct fx_sync *s, size_t i);

struct fx_sync_pool {
	struct fx_sync *s;
	fx_sync_job_fn fn;
	size_t n;
};

static void *fx_sync_worker(void *arg)
{
	struct fx_sync_pool *p = arg;
	size_t i;

	while (!fx_sync_stop && (i = atomic_fetch_add(&p->s->next, 1)) < p->n)
		p->fn(p->s, i);
	return NULL;
}

/* Run jobs 0..@n-1 of @fn on at most s->concurrency threads. */
static void fx_sync_run(struct fx_sync *s, size_t n, fx_sync_job_fn fn)
{
	struct fx_sync_pool p = {.s = s, .fn = fn, .n = n};
	size_t want = n < s->concurrency ? n : s->concurrency, started = 0;
	pthread_t *t = want ? calloc(want, sizeof(*t)) : NULL;

	atomic_store(&s->next, 0);
	for (size_t i = 0; t && i < want; i++)
		if (pthread_create(&t[started], NULL, fx_sync_worker, &p) == 0)
			started++;
	if (!started)
		fx_sync_worker(&p); /* no thread to be had: do it here */
	for (size_t i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	free(t);
}

/* ---------------------------------------------------------------- plan */

/* Index of the first SRC key >= @key. */
static size_t fx_sync_lower_bound(const struct fx_sync_side *sd, const char *key)
{
	size_t lo = 0, hi = sd->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(sd->e[mid].key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool fx_sync_has_prefix(const char *key, const char *prefix)
{
	return !strncmp(key, prefix, strlen(prefix));
}

/* Pair SRC with DST entries, list the copies to consider and the deletes. */
static int fx_sync_plan(struct fx_sync *s)
{
	struct fx_sync_side *a = &s->src, *b = &s->dst;
	bool *keep = calloc(b->n + 1, sizeof(*keep));
	uint64_t bytes = 0;
	size_t j = 0;

	s->match = calloc(a->n + 1, sizeof(*s->match));
	s->todo = calloc(a->n + 1, sizeof(*s->todo));
	s->dels = calloc(b->n + 1, sizeof(*s->dels));
	s->mdels = calloc(b->n + 1, sizeof(*s->mdels));
	if (!keep || !s->match || !s->todo || !s->dels || !s->mdels) {
		free(keep);
		return -ENOMEM;
	}
	for (size_t i = 0; i < a->n; i++) {
		while (j < b->n && strcmp(b->e[j].key, a->e[i].key) < 0)
			j++;
		s->match[i] = j < b->n && !strcmp(b->e[j].key, a->e[i].key) ? (ssize_t)j : -1;
		if (s->match[i] >= 0)
			keep[j] = true;
		if (a->e[i].excluded)
			continue;
		s->todo[s->n_todo++] = i;
		bytes += a->e[i].size;
	}
	if (s->del && !s->listing_incomplete) {
		/* Children before parents: a marker goes only when nothing stays below it. */
		for (size_t k = b->n; k-- > 0;) {
			const struct fx_sync_entry *e = &b->e[k];
			size_t at;

			if (keep[k] || e->excluded) {
				keep[k] = true;
				continue;
			}
			if (!e->marker)
				continue;
			for (size_t c = k + 1; c < b->n && fx_sync_has_prefix(b->e[c].key, e->key);
			     c++)
				if (keep[c]) {
					keep[k] = true;
					break;
				}
			at = fx_sync_lower_bound(a, e->key);
			if (at < a->n && fx_sync_has_prefix(a->e[at].key, e->key))
				keep[k] = true; /* SRC has keys below it (and no marker) */
			if (!keep[k])
				s->mdels[s->n_mdels++] = k;
		}
		for (size_t k = 0; k < b->n; k++)
			if (!keep[k] && !b->e[k].marker)
				s->dels[s->n_dels++] = k;
		/* One unsafe key would cancel the whole batch it is in. */
		for (size_t k = 0, n = s->n_dels; k < n; k++) {
			if (k == 0)
				s->n_dels = 0;
			if (fx_key_check(b->e[s->dels[k]].key) < 0)
				fx_sync_fail(s, FX_STAGE_DELETE, b->e[s->dels[k]].key, -EINVAL);
			else
				s->dels[s->n_dels++] = s->dels[k];
		}
	}
	free(keep);
	atomic_store(&s->files_total, s->n_todo + s->n_dels + s->n_mdels);
	atomic_store(&s->bytes_total, bytes);
	return 0;
}

/* Markers last, children first (a file backend refuses a non-empty one). */
static void fx_sync_delete_markers(struct fx_sync *s)
{
	for (size_t k = 0; k < s->n_mdels && !fx_sync_stop; k++) {
		const char *key = s->dst.e[s->mdels[k]].key;
		int ret = s->dry_run ? 0 : fx_backend_delete(s->dst.b, key);

		if (ret < 0) {
			fx_sync_fail(s, FX_STAGE_DELETE, key, ret);
		} else {
			atomic_fetch_add(&s->deleted, 1);
			if (s->dry_run || s->verbose)
				fx_sync_say(s, "delete", key, NULL);
		}
		atomic_fetch_add(&s->files_done, 1);
	}
}

/* Directories created at a POSIX DST: their mode (a file put below one may
 * have come first) and mtime, once their entries are in. */
static void fx_sync_dir_attrs(struct fx_sync *s)
{
	for (size_t i = s->src.n; i-- > 0;) {
		const struct fx_sync_entry *e = &s->src.e[i];
		struct timespec ts[2];
		char path[PATH_MAX];

		if (!e->created || fx_sync_path(&s->dst, e->key, path, sizeof(path)) < 0)
			continue;
		fx_sync_times(e->created_mtime_ns, ts);
		if (fchmodat(AT_FDCWD, path, e->created_mode, AT_SYMLINK_NOFOLLOW) ||
		    utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW))
			fx_sync_fail(s, FX_STAGE_WRITE, e->key, -errno);
	}
}

/* --------------------------------------------------------------- report */

static int fx_sync_action_cmp(const void *a, const void *b)
{
	const struct fx_sync_action *x = a, *y = b;

	if (x->del != y->del)
		return x->del ? 1 : -1;
	return strcmp(x->key, y->key);
}

/* A dry run's lines: what would be copied, then what would be deleted. */
static void fx_sync_print_plan(struct fx_sync *s)
{
	if (s->n_plan)
		qsort(s->plan, s->n_plan, sizeof(*s->plan), fx_sync_action_cmp);
	for (size_t i = 0; i < s->n_plan; i++) {
		const struct fx_sync_action *a = &s->plan[i];

		if (a->reason)
			printf("would %s %s (%s)\n", a->del ? "delete" : "copy", a->key, a->reason);
		else
			printf("would %s %s\n", a->del ? "delete" : "copy", a->key);
	}
}

static void fx_sync_summary(struct fx_sync *s, bool interrupted)
{
	unsigned long long c = atomic_load(&s->copied), sk = atomic_load(&s->skipped),
			   de = atomic_load(&s->deleted), f = atomic_load(&s->failed),
			   by = atomic_load(&s->bytes);
	double secs = fx_sync_elapsed(s);

	if (s->json) {
		json_t *o = json_pack("{s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:f, s:b}", "src",
				      s->src.arg, "dst", s->dst.arg, "dry_run", s->dry_run,
				      "copied", (json_int_t)c, "skipped", (json_int_t)sk, "deleted",
				      (json_int_t)de, "failed", (json_int_t)f, "bytes",
				      (json_int_t)by, "seconds", secs, "interrupted", interrupted);

		if (o && s->failures)
			json_object_set(o, "failures", s->failures);
		if (o && s->actions)
			json_object_set(o, "actions", s->actions);
		if (o) {
			json_dumpf(o, stdout,
				   JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
			putchar('\n');
		}
		json_decref(o);
	} else {
		printf("copied %llu, skipped %llu, deleted %llu, failed %llu, %llu bytes, %.2f "
		       "s%s%s\n",
		       c, sk, de, f, by, secs, s->dry_run ? " (dry run: nothing was changed)" : "",
		       interrupted ? " (interrupted: run sync again to finish)" : "");
	}
	fflush(stdout);
}

/* ------------------------------------------------------------- command */

static void fx_sync_side_free(struct fx_sync_side *sd)
{
	for (size_t i = 0; i < sd->n; i++) {
		free(sd->e[i].key);
		free(sd->e[i].etag);
	}
	free(sd->e);
	fx_backend_close(sd->b);
}

static int fx_sync_parse(struct fx_sync *s, int argc, char **argv, bool *help)
{
	enum { O_DELETE = 256, O_CHECKSUM, O_EXCLUDE, O_INCLUDE, O_CONCURRENCY, O_JSON };
	static const struct option longopts[] = {
	    {"delete", no_argument, NULL, O_DELETE},
	    {"dry-run", no_argument, NULL, 'n'},
	    {"checksum", no_argument, NULL, O_CHECKSUM},
	    {"exclude", required_argument, NULL, O_EXCLUDE},
	    {"include", required_argument, NULL, O_INCLUDE},
	    {"concurrency", required_argument, NULL, O_CONCURRENCY},
	    {"json", no_argument, NULL, O_JSON},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct fx_sync_rule *r;
	char *end;
	long n;
	int c;

	optind = 0; /* a fresh scan of a new argv */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "nvh", longopts, NULL)) != -1) {
		switch (c) {
		case O_DELETE:
			s->del = true;
			break;
		case 'n':
			s->dry_run = true;
			break;
		case O_CHECKSUM:
			s->checksum = true;
			break;
		case O_EXCLUDE:
		case O_INCLUDE:
			r = realloc(s->rules, (s->n_rules + 1) * sizeof(*r));
			if (!r)
				return -ENOMEM;
			s->rules = r;
			r[s->n_rules++] = (struct fx_sync_rule){optarg, c == O_INCLUDE};
			break;
		case O_CONCURRENCY:
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || n < 1 || n > 1024)
				return fx_cli_usage("--concurrency takes a number from 1 to 1024",
						    "bad --concurrency '%s'", optarg);
			s->concurrency = (unsigned)n;
			break;
		case O_JSON:
			s->json = true;
			break;
		case 'v':
			s->verbose = true;
			break;
		case 'h':
			*help = true;
			return 0;
		default:
			return fx_cli_usage("see 'rustfx sync --help'",
					    "unknown option '%s' for sync", argv[optind - 1]);
		}
	}
	if (argc - optind != 2)
		return fx_cli_usage("usage: rustfx sync [OPTIONS] SRC DST, e.g. "
				    "rustfx sync ./photos s3://my-bucket/photos",
				    "sync needs a SRC and a DST%s", "");
	return 0;
}

static int fx_sync_go(struct fx_sync *s, const char *src, const char *dst,
		      const struct fx_config *cfg, struct fx_diag *d)
{
	pthread_t bar;
	bool bar_started = false, interrupted;
	struct sigaction sa = {.sa_handler = fx_sync_on_signal, .sa_flags = SA_RESETHAND}, old_int,
			 old_term;
	int ret;

	if ((ret = fx_sync_side_init(&s->src, src, d)) < 0 ||
	    (ret = fx_sync_side_init(&s->dst, dst, d)) < 0 ||
	    (ret = fx_sync_check_overlap(s, d)) < 0)
		return ret;
	if ((ret = fx_sync_open_side(s, &s->src, true, cfg, d)) < 0 ||
	    (ret = fx_sync_open_side(s, &s->dst, false, cfg, d)) < 0)
		return ret;
	if (s->src.kind == FX_SIDE_S3 && s->dst.kind == FX_SIDE_S3 &&
	    !strcmp(s->src.bucket, s->dst.bucket)) {
		char url[sizeof(s->src.bucket) + 8];

		snprintf(url, sizeof(url), "s3://%s", s->src.bucket);
		if ((ret = fx_backend_open_config(url, cfg, &s->same, d)) < 0)
			return ret;
	}
	if ((ret = fx_sync_list(s, &s->src, true, d)) < 0 ||
	    (ret = fx_sync_list(s, &s->dst, false, d)) < 0)
		return ret;
	if ((ret = fx_sync_plan(s)) < 0) {
		fx_diag_set(d, ret, NULL, "out of memory%s", "");
		return ret;
	}
	if (s->del && s->listing_incomplete) {
		pthread_mutex_lock(&s->out_lock);
		fprintf(stderr, "warning: not deleting anything: part of SRC could not be read\n");
		pthread_mutex_unlock(&s->out_lock);
	}

	/* The file backend makes its temp files 0644: in a plain directory a
	 * 0600 file would be readable by others between its rename and chmod.
	 * Under umask 077 whatever a put creates is private until chmod'ed. */
	if (s->dst.kind == FX_SIDE_POSIX && !s->dry_run)
		umask(077);
	fx_sync_stop = 0;
	sigemptyset(&sa.sa_mask);
	/* A signal the caller ignores (nohup, a background job) stays ignored. */
	sigaction(SIGINT, NULL, &old_int);
	sigaction(SIGTERM, NULL, &old_term);
	if (old_int.sa_handler != SIG_IGN)
		sigaction(SIGINT, &sa, NULL);
	if (old_term.sa_handler != SIG_IGN)
		sigaction(SIGTERM, &sa, NULL);
	if (s->tty && pthread_create(&bar, NULL, fx_sync_bar_thread, s) == 0)
		bar_started = true;
	fx_sync_run(s, s->n_todo, fx_sync_pair);
	if (!fx_sync_stop)
		fx_sync_run(s, (s->n_dels + FX_SYNC_BATCH - 1) / FX_SYNC_BATCH,
			    fx_sync_delete_batch);
	if (!fx_sync_stop)
		fx_sync_delete_markers(s);
	/* Also after a signal: what this run created gets its attributes. */
	if (s->dst.kind == FX_SIDE_POSIX && !s->dry_run)
		fx_sync_dir_attrs(s);
	interrupted = fx_sync_stop;
	if (bar_started) {
		pthread_mutex_lock(&s->bar_lock);
		s->bar_stop = true;
		pthread_cond_signal(&s->bar_cond);
		pthread_mutex_unlock(&s->bar_lock);
		pthread_join(bar, NULL);
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	umask(s->umask);
	fx_sync_print_plan(s);
	fx_sync_summary(s, interrupted);
	return atomic_load(&s->failed) || interrupted ? FX_EXIT_RECOVERABLE : FX_EXIT_OK;
}

int fx_cli_sync(int argc, char **argv, bool json, int verbose, fx_sync_config_fn load, void *arg)
{
	struct fx_sync *s = calloc(1, sizeof(*s));
	struct fx_config *cfg = NULL;
	struct fx_diag d = {0};
	enum fx_conf_source src;
	bool help = false;
	int ret;

	if (!s)
		return fx_exit_code(-ENOMEM);
	s->json = json;
	s->verbose = verbose > 0;
	s->devnull = -1;
	pthread_mutex_init(&s->out_lock, NULL);
	pthread_mutex_init(&s->bar_lock, NULL);
	pthread_cond_init(&s->bar_cond, NULL);
	clock_gettime(CLOCK_MONOTONIC, &s->t0);

	ret = fx_sync_parse(s, argc, argv, &help);
	if (ret < 0) {
		ret = fx_exit_code(ret);
		goto out;
	}
	if (ret > 0 || help) {
		if (help)
			fx_cli_sync_help(stdout);
		goto out;
	}
	if ((ret = load(arg, &cfg, &d)) < 0)
		goto fail;
	/* Quiet unless asked: retries and the like would tear the progress bar. */
	src = fx_config_source(cfg, "log.level");
	if ((ret = fx_log_setup(src == FX_SRC_DEFAULT ? "warn" : fx_config_str(cfg, "log.level"),
				false, FX_LOG_STDERR, NULL, &d)) < 0)
		goto fail;
	fx_log_bump(verbose);
	if (!s->concurrency)
		s->concurrency = (unsigned)fx_config_int(cfg, "io.concurrency");
	s->tty = isatty(STDERR_FILENO) == 1;
	s->umask = umask(0);
	umask(s->umask);
	s->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (s->devnull < 0) {
		ret = -errno;
		fx_diag_set(&d, ret, NULL, "cannot open /dev/null (%s)", fx_strerror(ret));
		goto fail;
	}
	if (s->json) {
		s->failures = json_array();
		if (s->dry_run)
			s->actions = json_array();
	}
	ret = fx_sync_go(s, argv[optind], argv[optind + 1], cfg, &d);
	if (ret >= 0)
		goto out;
fail:
	if (!d.err)
		fx_diag_set(&d, ret, NULL, "sync stopped (%s)", fx_strerror(ret));
	ret = fx_cli_fail(&d);
out:
	json_decref(s->failures);
	json_decref(s->actions);
	free(s->plan);
	fx_sync_side_free(&s->src);
	fx_sync_side_free(&s->dst);
	fx_backend_close(s->same);
	if (s->devnull >= 0)
		close(s->devnull);
	free(s->match);
	free(s->todo);
	free(s->dels);
	free(s->mdels);
	free(s->rules);
	pthread_cond_destroy(&s->bar_cond);
	pthread_mutex_destroy(&s->bar_lock);
	pthread_mutex_destroy(&s->out_lock);
	free(s);
	fx_config_free(cfg);
	fx_log_shutdown();
	return ret;
}
