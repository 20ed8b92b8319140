/*
 * health.c - `rustfx health [URL|MOUNTPOINT] [--json]` (see health.h).
 *
 * Owns: choosing what to check (a URL, a fuse.rustfx mount point found in
 * /proc/self/mountinfo, or [health] url), bounding how long checking may
 * take (requests tried at most twice, short connect timeouts, the daemon
 * read in a child process that is killed at the deadline), the cache
 * directory checks and the report.
 * Does not own: the backend checks (fx_client_check in backends/client.c),
 * the store's or the model's formats (cache/store.c, neural/model.c).
 *
 * Nothing here touches a mount point in the process itself: stat(2) of a
 * mount whose daemon hangs would hang with it. The path is resolved through
 * its parent, the mount found in mountinfo, and only a child process,
 * killed at the deadline, opens MOUNTPOINT/.rustfx/stats.
 *
 * Everything is read-only: no object is written, the cache index is opened
 * read-only (a mounted store is fine), the model is loaded and dropped.
 */
#define FX_LOG_MODULE "health"
#include "tools/health.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "backends/client.h"
#include "cache/policy.h"
#include "cache/store.h"
#include "core/log.h"
#include "neural/model.h"
#include "neural/predict.h"
#include "tools/cli_i.h"
#ifdef RUSTFX_S3
#include "backends/s3.h"
#endif

#define FX_HEALTH_TIMEOUT_S 5.0 /* default deadline of the daemon's answer */
#define FX_STATS_MAX (4u << 20)  /* a stats file is a few KiB */
#define FX_HEALTH_SEE_HELP "see 'rustfx health --help'"

const struct fx_conf_key fx_health_conf_keys[] = {
	{ "health", "url", FX_CONF_STRING, NULL, 1, 0, NULL, NULL,
	  "URL or mount point 'rustfx health' checks when given none" },
	{ "health", "samples", FX_CONF_INT, "5", 1, 1000, NULL, NULL,
	  "requests 'rustfx health' times for the latency percentiles" },
	{ NULL, NULL, 0, NULL, 0, 0, NULL, NULL, NULL },
};

static const char fx_health_usage[] =
	"usage: rustfx health [-o OPTIONS] [--json] [--samples N] [--timeout SECONDS]\n"
	"                     [URL|MOUNTPOINT]";

static void fx_health_help(void)
{
	printf("%s\n\n"
	       "Check a bucket URL, or a rustfx mount point and its bucket. One line per check:\n"
	       "  reachable    the endpoint answers (s3://; file:// and mem:// are local)\n"
	       "  credentials  requests are accepted (s3://)\n"
	       "  bucket       the bucket, or file:// directory, exists\n"
	       "  latency      p50/p99 of N one-key listings (--samples, [health] samples,\n"
	       "               default 5); warns when p50 reaches 1 s\n"
	       "  clock        skew against the server's Date header (s3://); warns beyond\n"
	       "               30 s, fails beyond 15 min, where S3 refuses signatures\n"
	       "  cache_dir    free space on the cache's filesystem (warns under\n"
	       "               cache_min_free, below which a mount caches nothing)\n"
	       "  cache_index  the URL's store in cache_dir: its index reads (read-only;\n"
	       "               'rustfx cache verify' checks every block and repairs)\n"
	       "  model        the learned model (model.mdb), when there is one, loads\n"
	       "  daemon       MOUNTPOINT only: the daemon answers MOUNTPOINT/.rustfx/stats\n"
	       "               within --timeout seconds (default 5)\n"
	       "  stats        MOUNTPOINT only: its hits, misses, bytes and errors\n\n"
	       "Without an argument the URL or mount point of [health] url in rustfx.toml\n"
	       "(or RUSTFX_HEALTH_URL) is checked. -o takes the options of 'rustfx mount'\n"
	       "(endpoint=, use_path_request_style, cache_dir=, ...). Requests are tried at\n"
	       "most twice and connect within 3 s, unless retries= or connect_timeout= say\n"
	       "otherwise. Nothing is written to the bucket or the cache.\n\n"
	       "  --json   one JSON object: target, url, status, checks[] and figures\n\n"
	       "Exit 0 healthy, 1 degraded or unreachable, 2 bad input.\n",
	       fx_health_usage);
}

/* ------------------------------------------------------------ checks */

enum { FX_MAX_CHECKS = 16 };

struct fx_report {
	const char *target; /* as named */
	const char *url;
	const char *mountpoint; /* NULL for a URL */
	struct {
		const char *name;
		struct fx_health_check c;
	} checks[FX_MAX_CHECKS];
	int n;
	bool unreachable; /* the bucket or the daemon does not answer */
	struct fx_health backend;
	json_t *figures; /* cache and mount numbers for --json */
};

static void fx_add(struct fx_report *r, const char *name, enum fx_health_state state, int err,
		   const char *hint, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void fx_add(struct fx_report *r, const char *name, enum fx_health_state state, int err,
		   const char *hint, const char *fmt, ...)
{
	struct fx_health_check *c;
	va_list ap;

	if (r->n == FX_MAX_CHECKS)
		return;
	r->checks[r->n].name = name;
	c = &r->checks[r->n++].c;
	c->state = state;
	c->err = state >= FX_HEALTH_WARN ? err : 0;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
	snprintf(c->hint, sizeof(c->hint), "%s", state >= FX_HEALTH_WARN && hint ? hint : "");
}

static void fx_add_check(struct fx_report *r, const char *name, const struct fx_health_check *c)
{
	fx_add(r, name, c->state, c->err, c->hint, "%s", c->detail);
}

static void fx_figure(struct fx_report *r, const char *group, const char *name, json_t *v)
{
	json_t *g = json_object_get(r->figures, group);

	if (!g) {
		g = json_object();
		json_object_set_new(r->figures, group, g);
	}
	json_object_set_new(g, name, v);
}

static void fx_bytes_text(uint64_t n, char *buf, size_t cap)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)n;
	int u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

/* ------------------------------------------------------------ cache */

/* The store of @url under @base: "<base>/<XXH3-64 of the URL>", as a mount makes it. */
static int fx_store_dir(const char *base, const char *url, char *out, size_t n)
{
	char cwd[PATH_MAX];
	int len;

	if (base[0] == '/')
		len = snprintf(out, n, "%s/%016llx", base,
			       (unsigned long long)XXH3_64bits(url, strlen(url)));
	else if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	else
		len = snprintf(out, n, "%s/%s/%016llx", cwd, base,
			       (unsigned long long)XXH3_64bits(url, strlen(url)));
	return len < 0 || (size_t)len >= n ? -ENAMETOOLONG : 0;
}

/* Free space where the cache lives: the store, else the nearest existing
 * directory above it (what a first mount would create it in). */
static void fx_check_cache_dir(struct fx_report *r, const struct fx_config *cfg, const char *store)
{
	uint64_t min_free = fx_config_size(cfg, "cache.min_free"), free_bytes;
	char dir[PATH_MAX], have[32], want[32];
	struct statvfs sv;
	char *slash;

	snprintf(dir, sizeof(dir), "%s", store);
	while (statvfs(dir, &sv) != 0) {
		if (errno != ENOENT || !(slash = strrchr(dir, '/')) || slash == dir) {
			if (errno == ENOENT)
				snprintf(dir, sizeof(dir), "/");
			else {
				fx_add(r, "cache_dir", FX_HEALTH_FAIL, -errno,
				       "check the permissions of cache_dir", "cannot look at %s (%s)", dir,
				       strerror(errno));
				return;
			}
			if (statvfs(dir, &sv) == 0)
				break;
			fx_add(r, "cache_dir", FX_HEALTH_FAIL, -errno, NULL, "cannot statvfs / (%s)",
			       strerror(errno));
			return;
		}
		*slash = '\0';
	}
	free_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
	fx_figure(r, "cache", "dir", json_string(store));
	fx_figure(r, "cache", "free_bytes", json_integer((json_int_t)free_bytes));
	fx_figure(r, "cache", "min_free", json_integer((json_int_t)min_free));
	fx_bytes_text(free_bytes, have, sizeof(have));
	fx_bytes_text(min_free, want, sizeof(want));
	if (access(dir, W_OK | X_OK) != 0)
		fx_add(r, "cache_dir", FX_HEALTH_FAIL, -errno,
		       "make it writable for the mounting user, or set cache_dir= elsewhere",
		       "%s is not writable (%s): a mount could not cache", dir, strerror(errno));
	else if (free_bytes < min_free)
		fx_add(r, "cache_dir", FX_HEALTH_WARN, -ENOSPC,
		       "free space there, or point cache_dir= at a bigger filesystem, or lower "
		       "cache_min_free=",
		       "%s free on the filesystem of %s, under cache_min_free (%s): a mount caches "
		       "nothing new",
		       have, dir, want);
	else
		fx_add(r, "cache_dir", FX_HEALTH_OK, 0, NULL, "%s free on the filesystem of %s", have,
		       dir);
}

/* Block files under <@store>/blocks/XX/. */
static uint64_t fx_block_files(const char *store)
{
	char path[PATH_MAX + 16];
	uint64_t n = 0;

	for (int sub = 0; sub < 256; sub++) {
		struct dirent *de;
		DIR *d;

		snprintf(path, sizeof(path), "%s/blocks/%02x", store, sub);
		if (!(d = opendir(path)))
			continue;
		while ((de = readdir(d)))
			if (de->d_name[0] != '.')
				n++;
		closedir(d);
	}
	return n;
}

static void fx_check_index(struct fx_report *r, const char *store, bool have_store)
{
	struct fx_store_census cs = { 0 };
	struct fx_diag d = { 0 };
	uint64_t files;
	char hint[2 * PATH_MAX + 160];
	int rc;

	if (!have_store) {
		fx_add(r, "cache_index", FX_HEALTH_SKIP, 0, NULL,
		       "no store for this URL yet at %s (never mounted with this cache_dir; "
		       "a mount with another one: -o cache_dir=DIR)",
		       store);
		return;
	}
	rc = fx_store_inspect(store, &cs, &d);
	files = fx_block_files(store);
	fx_figure(r, "cache", "block_files", json_integer((json_int_t)files));
	if (rc) {
		snprintf(hint, sizeof(hint),
			 "unmount, then 'rustfx cache verify %s' (rebuilds a broken index from the "
			 "block files) or 'rustfx cache clear %s'",
			 store, store);
		fx_add(r, "cache_index", FX_HEALTH_FAIL, -EIO, hint, "%s", d.msg);
		return;
	}
	fx_figure(r, "cache", "blocks_indexed", json_integer((json_int_t)cs.blocks));
	fx_figure(r, "cache", "objects", json_integer((json_int_t)cs.objects));
	/* A mount commits the index about once a second and a store reconciles
	 * files and index at open, so a difference is not damage. */
	fx_add(r, "cache_index", FX_HEALTH_OK, 0, NULL,
	       "readable: %llu blocks indexed (%llu block files), %llu object versions",
	       (unsigned long long)cs.blocks, (unsigned long long)files,
	       (unsigned long long)cs.objects);
}

static void fx_check_model(struct fx_report *r, const char *store, bool have_store)
{
	struct fx_predict_opts o;
	struct fx_model_info info;
	struct fx_model_counters counters;
	struct fx_predictor *pred = NULL;
	struct fx_diag d = { 0 };
	int rc;

	if (!have_store) {
		fx_add(r, "model", FX_HEALTH_SKIP, 0, NULL, "no store, so no learned model");
		fx_figure(r, "cache", "model", json_false());
		return;
	}
	rc = fx_model_info(store, &o, &info, &d);
	if (rc == -ENOENT) {
		fx_add(r, "model", FX_HEALTH_SKIP, 0, NULL,
		       "none saved (prefetch=snn or cache_policy=snn learn one)");
		fx_figure(r, "cache", "model", json_false());
		return;
	}
	if (rc == 0)
		rc = fx_model_load(store, &o, NULL, &pred, &counters, &d);
	fx_figure(r, "cache", "model", json_boolean(rc == 0));
	if (rc < 0) {
		fx_add(r, "model", FX_HEALTH_WARN, rc,
		       d.hint[0] ? d.hint
				 : "a mount starts a fresh model; 'rustfx brain reset' removes this one",
		       "%s/%s does not load: %s", store, FX_MODEL_FILE,
		       d.msg[0] ? d.msg : fx_strerror(rc));
		return;
	}
	fx_predict_free(pred);
	fx_add(r, "model", FX_HEALTH_OK, 0, NULL,
	       "%s loads: %u neurons, %llu synapses, saved %llu times", FX_MODEL_FILE,
	       info.neurons, (unsigned long long)info.synapses,
	       (unsigned long long)counters.saves);
}

static void fx_check_cache(struct fx_report *r, const struct fx_config *cfg)
{
	const char *base = fx_config_str(cfg, "cache.dir");
	char store[PATH_MAX], index[PATH_MAX + 16];
	struct stat st;
	bool have;

	if (!base || fx_store_dir(base, r->url, store, sizeof(store)) < 0) {
		fx_add(r, "cache_dir", FX_HEALTH_FAIL, -ENAMETOOLONG, "set cache_dir= to a short path",
		       "no usable cache_dir (%s)", base ? "too long" : "unset");
		return;
	}
	fx_check_cache_dir(r, cfg, store);
	snprintf(index, sizeof(index), "%s/index.mdb", store);
	have = stat(index, &st) == 0 && S_ISREG(st.st_mode);
	fx_check_index(r, store, have);
	fx_check_model(r, store, have);
}

/* ------------------------------------------------------------ mounts */

struct fx_mount_entry {
	char point[PATH_MAX];
	char fstype[64];
	char source[PATH_MAX];
};

/* Undo mountinfo's octal escapes (\040 for ' ', ...) in place. */
static void fx_unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* The (topmost) mount at @path. @return 1 found, 0 not a mount point, -errno. */
static int fx_mount_lookup(const char *path, struct fx_mount_entry *out)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int found = 0;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char *tok[40], *save = NULL, *t;
		int n = 0, sep;

		for (t = strtok_r(line, " \n", &save); t && n < 40; t = strtok_r(NULL, " \n", &save))
			tok[n++] = t;
		/* id parent major:minor root point options [optional...] - type source super */
		for (sep = 6; sep < n && strcmp(tok[sep], "-"); sep++)
			;
		if (n < 10 || sep + 2 >= n)
			continue;
		fx_unescape(tok[4]);
		if (strcmp(tok[4], path))
			continue;
		fx_unescape(tok[sep + 2]);
		snprintf(out->point, sizeof(out->point), "%s", tok[4]);
		snprintf(out->fstype, sizeof(out->fstype), "%s", tok[sep + 1]);
		snprintf(out->source, sizeof(out->source), "%s", tok[sep + 2]);
		found = 1;
	}
	free(line);
	fclose(f);
	return found;
}

/*
 * @arg as an absolute path, with its parent resolved (symlinks and all)
 * but not its last component: that may be a mount point whose daemon
 * hangs, which stat(2) would wait for.
 */
static int fx_abs_path(const char *arg, char *out, size_t n)
{
	char buf[PATH_MAX], parent[PATH_MAX];
	const char *dir, *base;
	size_t len = strlen(arg);
	char *slash;

	if (len == 0)
		return -ENOENT;
	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, arg, len + 1);
	while (len > 1 && buf[len - 1] == '/')
		buf[--len] = '\0';
	slash = strrchr(buf, '/');
	if (!slash) {
		dir = ".";
		base = buf;
	} else if (slash == buf) {
		dir = "/";
		base = slash[1] ? slash + 1 : "";
	} else {
		*slash = '\0';
		dir = buf;
		base = slash + 1;
	}
	if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) {
		if (!realpath(arg, parent))
			return -errno;
		return (size_t)snprintf(out, n, "%s", parent) < n ? 0 : -ENAMETOOLONG;
	}
	if (!realpath(dir, parent))
		return -errno;
	return (size_t)snprintf(out, n, "%s%s%s", parent, strcmp(parent, "/") ? "/" : "", base) < n
		       ? 0
		       : -ENAMETOOLONG;
}

static double fx_mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fx_write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Read @path in a child process, so that a daemon that never answers
 * cannot hang us: at @timeout_s the child is killed (a FUSE request waits
 * killably) and -ETIMEDOUT returned. The child sends what open(2) said (an
 * int: 0 or errno), then the bytes. @return 0 with *@out (malloc'd,
 * NUL-terminated), -ETIMEDOUT, the -errno of the open, or -EIO.
 */
static int fx_read_bounded(const char *path, double timeout_s, char **out)
{
	double deadline = fx_mono_s() + timeout_s;
	size_t len = 0, cap = 4096;
	int p[2], status, err, ret = 0;
	char *buf;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL); /* nothing buffered twice */
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		close(p[0]);
		close(p[1]);
		return ret;
	}
	if (pid == 0) { /* only async-signal-safe calls from here */
		char chunk[4096];
		ssize_t n = 0;
		int fd;

		close(p[0]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		err = fd < 0 ? errno : 0;
		if (fx_write_all(p[1], (const char *)&err, sizeof(err)) < 0)
			_exit(1);
		while (fd >= 0 && (n = read(fd, chunk, sizeof(chunk))) > 0)
			if (fx_write_all(p[1], chunk, (size_t)n) < 0)
				_exit(1);
		_exit(n < 0 ? 1 : 0);
	}
	close(p[1]);
	if (!(buf = malloc(cap))) {
		ret = -ENOMEM;
		goto out_kill;
	}
	for (;;) {
		struct pollfd pfd = { p[0], POLLIN, 0 };
		double left = deadline - fx_mono_s();
		ssize_t n;
		int pr;

		if (left <= 0) {
			ret = -ETIMEDOUT;
			break;
		}
		pr = poll(&pfd, 1, (int)(left * 1000) + 1);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			ret = pr < 0 ? -errno : -ETIMEDOUT;
			break;
		}
		if (len + 4096 + 1 > cap) {
			char *grown = cap * 2 <= FX_STATS_MAX ? realloc(buf, cap * 2) : NULL;

			if (!grown) {
				ret = -EFBIG;
				break;
			}
			buf = grown;
			cap *= 2;
		}
		n = read(p[0], buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : 0;
			break;
		}
		len += (size_t)n;
	}
	if (ret < 0)
		goto out_kill;
	close(p[0]);
	if (waitpid(pid, &status, 0) < 0) {
		ret = -errno;
		goto out_buf;
	}
	if (len < sizeof(err)) {
		ret = -EIO; /* the child died before saying anything */
		goto out_buf;
	}
	memcpy(&err, buf, sizeof(err));
	if (err) {
		ret = -err;
		goto out_buf;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		ret = -EIO; /* the read failed midway */
		goto out_buf;
	}
	len -= sizeof(err);
	memmove(buf, buf + sizeof(err), len);
	buf[len] = '\0';
	*out = buf;
	return 0;

out_kill:
	/* Killed, it is reaped when it leaves the kernel; wait a little for
	 * that, never unboundedly (a zombie goes when we exit). */
	close(p[0]);
	kill(pid, SIGKILL);
	for (int i = 0; i < 50 && waitpid(pid, &status, WNOHANG) == 0; i++)
		usleep(10000);
out_buf:
	free(buf);
	return ret;
}

static long long fx_jint(json_t *o, const char *group, const char *key)
{
	return (long long)json_integer_value(json_object_get(json_object_get(o, group), key));
}

/* The daemon behind @mp answers its stats file within @timeout_s; its counters. */
static void fx_check_daemon(struct fx_report *r, const struct fx_config *cfg, const char *mp,
			    double timeout_s)
{
	const char *ctl = fx_config_str(cfg, "mount.control_dir");
	char path[PATH_MAX + 64], hint[PATH_MAX + 128], cached[32], fetched[32];
	long long errors = 0, hits, misses;
	double t0 = fx_mono_s(), ms;
	char *text = NULL;
	json_t *root, *req, *op;
	const char *name;
	int rc;

	snprintf(path, sizeof(path), "%s/%s/stats", mp, ctl ? ctl : ".rustfx");
	rc = fx_read_bounded(path, timeout_s, &text);
	ms = (fx_mono_s() - t0) * 1000.0;
	fx_figure(r, "mount", "mountpoint", json_string(mp));
	fx_figure(r, "mount", "answers", json_boolean(rc == 0 || rc == -ENOENT));
	if (rc == -ENOTCONN || rc == -ECONNABORTED) {
		snprintf(hint, sizeof(hint),
			 "unmount it (fusermount3 -u %s, or umount -l as root) and mount again", mp);
		fx_add(r, "daemon", FX_HEALTH_FAIL, rc, hint,
		       "the daemon is gone: a stale mount (%s)", fx_strerror(rc));
		r->unreachable = true;
		return;
	}
	if (rc == -ETIMEDOUT) {
		snprintf(hint, sizeof(hint),
			 "look at its log (-o logfile=) or kill -USR2 it for more; if it stays stuck, "
			 "umount -l %s", mp);
		fx_add(r, "daemon", FX_HEALTH_FAIL, rc, hint,
		       "no answer from the daemon within %.1f s (hung or overloaded)", timeout_s);
		r->unreachable = true;
		return;
	}
	if (rc == -ENOENT) { /* the daemon answered: there is no such file */
		fx_add(r, "daemon", FX_HEALTH_OK, 0, NULL, "answers in %.1f ms", ms);
		fx_add(r, "stats", FX_HEALTH_SKIP, 0, NULL,
		       "%s does not exist (mounted with nostats or another control_dir=)", path);
		return;
	}
	if (rc < 0) {
		fx_add(r, "daemon", FX_HEALTH_FAIL, rc, "look at the daemon's log",
		       "cannot read %s (%s)", path, fx_strerror(rc));
		r->unreachable = true;
		return;
	}
	fx_add(r, "daemon", FX_HEALTH_OK, 0, NULL, "answers in %.1f ms", ms);
	root = json_loads(text, 0, NULL);
	free(text);
	if (!root) {
		fx_add(r, "stats", FX_HEALTH_WARN, -EPROTO, "is this a rustfx of the same version?",
		       "%s is not JSON", path);
		return;
	}
	req = json_object_get(root, "requests");
	json_object_foreach(req, name, op)
		errors += (long long)json_integer_value(json_object_get(op, "errors"));
	errors += fx_jint(root, "fetch", "errors");
	hits = fx_jint(root, "cache", "hits");
	misses = fx_jint(root, "cache", "misses");
	fx_bytes_text((uint64_t)fx_jint(root, "cache", "bytes"), cached, sizeof(cached));
	fx_bytes_text((uint64_t)fx_jint(root, "fetch", "bytes_from_backend"), fetched, sizeof(fetched));
	fx_figure(r, "mount", "uptime_s", json_integer(json_integer_value(json_object_get(root, "uptime_s"))));
	fx_figure(r, "mount", "hits", json_integer(hits));
	fx_figure(r, "mount", "misses", json_integer(misses));
	fx_figure(r, "mount", "bytes_cached", json_integer(fx_jint(root, "cache", "bytes")));
	fx_figure(r, "mount", "bytes_from_backend",
		  json_integer(fx_jint(root, "fetch", "bytes_from_backend")));
	fx_figure(r, "mount", "errors", json_integer(errors));
	/* Counters since the mount: errors include lookups of absent names, so
	 * they inform and do not judge. */
	fx_add(r, "stats", FX_HEALTH_OK, 0, NULL,
	       "%lld hits, %lld misses, %s cached, %s fetched, %lld backend errors, up %llds", hits,
	       misses, cached, fetched, errors,
	       (long long)json_integer_value(json_object_get(root, "uptime_s")));
	json_decref(root);
}

/* ------------------------------------------------------------ report */

static enum fx_health_status fx_status(const struct fx_report *r)
{
	enum fx_health_status s = FX_HEALTHY;

	for (int i = 0; i < r->n; i++)
		if (r->checks[i].c.state >= FX_HEALTH_WARN)
			s = FX_DEGRADED;
	if (r->unreachable || r->backend.status == FX_UNREACHABLE)
		s = FX_UNREACHABLE;
	return s;
}

static void fx_print_text(const struct fx_report *r, enum fx_health_status s)
{
	if (r->mountpoint)
		printf("health of %s (mounted from %s)\n", r->mountpoint, r->url);
	else
		printf("health of %s\n", r->url);
	for (int i = 0; i < r->n; i++) {
		const struct fx_health_check *c = &r->checks[i].c;

		printf("%-4s  %-11s  %s\n", fx_health_state_name(c->state), r->checks[i].name,
		       c->detail);
		if (c->hint[0])
			printf("      %-11s  hint: %s\n", "", c->hint);
	}
	printf("status: %s\n", fx_health_status_name(s));
}

static int fx_print_json(struct fx_report *r, enum fx_health_status s)
{
	json_t *root = json_object(), *checks = json_array();
	const struct fx_health *b = &r->backend;
	int ret;

	if (!root || !checks) {
		json_decref(root);
		json_decref(checks);
		return -ENOMEM;
	}
	for (int i = 0; i < r->n; i++) {
		const struct fx_health_check *c = &r->checks[i].c;
		json_t *o = json_pack("{s:s, s:s, s:s}", "name", r->checks[i].name, "state",
				      fx_health_state_name(c->state), "detail", c->detail);

		if (o && c->hint[0])
			json_object_set_new(o, "hint", json_string(c->hint));
		if (o && c->err)
			json_object_set_new(o, "error", json_string(fx_strerror(c->err)));
		json_array_append_new(checks, o);
	}
	json_object_set_new(root, "target", json_string(r->target));
	json_object_set_new(root, "url", json_string(r->url));
	json_object_set_new(root, "mountpoint", r->mountpoint ? json_string(r->mountpoint) : json_null());
	json_object_set_new(root, "status", json_string(fx_health_status_name(s)));
	json_object_set_new(root, "checks", checks);
	fx_figure(r, "backend", "samples", json_integer(b->samples));
	fx_figure(r, "backend", "latency_p50_ms", b->samples ? json_real(b->p50_ms) : json_null());
	fx_figure(r, "backend", "latency_p99_ms", b->samples ? json_real(b->p99_ms) : json_null());
	fx_figure(r, "backend", "clock_skew_s", b->skew_known ? json_real(b->skew_s) : json_null());
	json_object_update(root, r->figures);
	ret = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 ? -EIO : 0;
	putchar('\n');
	json_decref(root);
	return ret;
}

/* ------------------------------------------------------------ command */

/* Settings health bounds itself with unless the user chose them: a dead
 * endpoint should cost seconds, not the minutes a mount's patience allows. */
static void fx_health_quick(struct fx_config *cfg)
{
	static const struct {
		const char *key, *value;
	} quick[] = {
		{ "retry.max_attempts", "2" },
		{ "retry.max_delay_ms", "500" },
		{ "io.timeout_s", "10" },
#ifdef RUSTFX_S3
		{ "s3.connect_timeout_s", "3" },
		{ "s3.stall_timeout_s", "10" },
#endif
	};

	for (size_t i = 0; i < sizeof(quick) / sizeof(quick[0]); i++)
		if (fx_config_source(cfg, quick[i].key) == FX_SRC_DEFAULT)
			fx_config_set(cfg, quick[i].key, quick[i].value, FX_SRC_FLAG, "rustfx health",
				      NULL);
}

struct fx_health_args {
	const char *target;
	char *opts;
	bool json;
	unsigned samples; /* 0: [health] samples */
	double timeout_s;
};

/* @return -1 to go on, else the exit code (help printed, or a usage error). */
static int fx_health_parse(int argc, char **argv, struct fx_health_args *a)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		char *end;

		if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
			fx_health_help();
			return 0;
		} else if (!strcmp(arg, "--json")) {
			a->json = true;
		} else if (!strcmp(arg, "-o") || !strcmp(arg, "--options")) {
			if (i + 1 >= argc)
				return fx_cli_usage(FX_HEALTH_SEE_HELP, "%s needs mount options", arg);
			if (fx_cli_take_opts(&a->opts, argv[++i]) < 0)
				return fx_exit_code(-ENOMEM);
		} else if (!strncmp(arg, "-o", 2)) {
			if (fx_cli_take_opts(&a->opts, argv[i] + 2) < 0)
				return fx_exit_code(-ENOMEM);
		} else if (!strcmp(arg, "--samples") || !strcmp(arg, "--timeout")) {
			if (i + 1 >= argc)
				return fx_cli_usage(FX_HEALTH_SEE_HELP, "%s needs a number", arg);
			errno = 0;
			if (arg[2] == 's') {
				unsigned long n = strtoul(argv[++i], &end, 10);

				if (errno || *end || n < 1 || n > 1000)
					return fx_cli_usage("give --samples a whole number from 1 to 1000",
							    "bad --samples '%s'", argv[i]);
				a->samples = (unsigned)n;
			} else {
				double s = strtod(argv[++i], &end);

				if (errno || *end || !(s >= 0.1 && s <= 600))
					return fx_cli_usage("give --timeout seconds from 0.1 to 600",
							    "bad --timeout '%s'", argv[i]);
				a->timeout_s = s;
			}
		} else if (arg[0] == '-' && arg[1]) {
			return fx_cli_usage(FX_HEALTH_SEE_HELP, "unknown option '%s' for health", arg);
		} else if (a->target) {
			return fx_cli_usage(FX_HEALTH_SEE_HELP, "health checks one target; extra '%s'", arg);
		} else {
			a->target = arg;
		}
	}
	return -1;
}

/* What @target names: a URL, or a rustfx mount point (*@mp filled).
 * @return 0, or an exit code after a usage error. */
static int fx_health_target(const char *target, const char **url, char *mp, size_t mp_len,
			    struct fx_mount_entry *m)
{
	struct fx_diag d = { 0 };
	int rc;

	if (strstr(target, "://")) {
		*url = target;
		return 0;
	}
	if ((rc = fx_abs_path(target, mp, mp_len)) < 0) {
		fx_diag_set(&d, -FX_EUSAGE, "name a URL (file:///dir, s3://bucket) or a mount point",
			    "cannot resolve %s (%s)", target, fx_strerror(rc));
		return fx_cli_fail(&d);
	}
	/* A symlink to a mount point: follow it by hand. lstat(2) of a path that
	 * is no mount point does not reach any daemon. */
	for (int hops = 0; (rc = fx_mount_lookup(mp, m)) == 0 && hops < 8; hops++) {
		char link[PATH_MAX], next[2 * PATH_MAX + 2];
		struct stat st;
		ssize_t n;

		if (lstat(mp, &st) != 0 || !S_ISLNK(st.st_mode) ||
		    (n = readlink(mp, link, sizeof(link) - 1)) < 0)
			break;
		link[n] = '\0';
		if (link[0] == '/')
			snprintf(next, sizeof(next), "%s", link);
		else
			snprintf(next, sizeof(next), "%.*s/%s", (int)(strrchr(mp, '/') - mp), mp, link);
		if (fx_abs_path(next, mp, mp_len) < 0)
			break;
	}
	if (rc < 0) {
		fx_diag_set(&d, rc, "is /proc mounted?", "cannot read /proc/self/mountinfo (%s)",
			    fx_strerror(rc));
		return fx_cli_fail(&d);
	}
	if (rc == 0) {
		fx_diag_set(&d, -FX_EUSAGE,
			    "name a URL (file:///dir, s3://bucket) or a rustfx mount point "
			    "('mount -t fuse.rustfx' lists them)",
			    "%s is not a mount point", mp);
		return fx_cli_fail(&d);
	}
	if (strcmp(m->fstype, "fuse.rustfx") != 0) {
		fx_diag_set(&d, -FX_EUSAGE, "name a rustfx mount point, or the bucket's URL",
			    "%s is a %s mount, not a rustfx one", mp, m->fstype);
		return fx_cli_fail(&d);
	}
	*url = m->source;
	return 0;
}

int fx_cli_health(int argc, char **argv, bool json, int verbose, fx_health_load_fn load,
		  void *load_arg)
{
	struct fx_health_args a = { .json = json, .timeout_s = FX_HEALTH_TIMEOUT_S };
	struct fx_report r = { 0 };
	struct fx_mount_entry m;
	struct fx_config *cfg = NULL;
	struct fx_diag d = { 0 };
	char mp[PATH_MAX];
	enum fx_health_status status;
	int ret;

	if ((ret = fx_health_parse(argc, argv, &a)) >= 0)
		goto out;
	if ((ret = load(load_arg, a.opts, &cfg, &d)) < 0) {
		ret = fx_cli_fail(&d);
		goto out;
	}
	if ((ret = fx_log_setup("error", false, FX_LOG_STDERR, NULL, &d)) < 0) {
		ret = fx_cli_fail(&d);
		goto out;
	}
	fx_log_bump(verbose);
	if (!a.target && !(a.target = fx_config_str(cfg, "health.url"))) {
		ret = fx_cli_usage("e.g. rustfx health s3://bucket, rustfx health /mnt/bucket, or set "
				   "[health] url in rustfx.toml",
				   "health needs a URL or a mount point%s", "");
		goto out_log;
	}
	r.target = a.target;
	if ((ret = fx_health_target(a.target, &r.url, mp, sizeof(mp), &m)) != 0)
		goto out_log;
	r.mountpoint = r.url == a.target ? NULL : mp;
	if (!a.samples)
		a.samples = (unsigned)fx_config_int(cfg, "health.samples");
	fx_health_quick(cfg);
	if (!(r.figures = json_object())) {
		ret = fx_exit_code(-ENOMEM);
		goto out_log;
	}

	/* The daemon first, before this process has made any thread: the
	 * stats are read by a forked child. */
	struct fx_report dr = { .figures = r.figures }; /* the daemon's checks, listed last */

	if (r.mountpoint)
		fx_check_daemon(&dr, cfg, mp, a.timeout_s);
	ret = fx_client_check(cfg, r.url, a.samples, &r.backend, &d);
	if (ret == 0) {
		for (int i = 0; i < FX_HEALTH_ITEMS; i++)
			fx_add_check(&r, fx_health_item_name((enum fx_health_item)i),
				     &r.backend.check[i]);
		fx_check_cache(&r, cfg);
		for (int i = 0; i < dr.n; i++)
			fx_add_check(&r, dr.checks[i].name, &dr.checks[i].c);
		r.unreachable |= dr.unreachable;
	}
	if (ret < 0) { /* bad input: a URL or setting the backend refused */
		ret = fx_cli_fail(&d);
		goto out_json;
	}
	status = fx_status(&r);
	if (a.json)
		ret = fx_print_json(&r, status);
	else
		fx_print_text(&r, status);
	fflush(stdout);
	ret = ret < 0 ? fx_exit_code(ret) : status == FX_HEALTHY ? FX_EXIT_OK : FX_EXIT_RECOVERABLE;
out_json:
	json_decref(r.figures);
out_log:
	fx_log_shutdown();
out:
	fx_config_free(cfg);
	fx_cli_free_opts(a.opts);
	return ret;
}
