/*
 * cli.c - the rustfx command line (see cli.h).
 *
 * Exit codes: 0 ok, 1 recoverable, 2 invalid input, >=64 system (sysexits.h),
 * chosen by fx_exit_code() from the error that stopped the command.
 *
 * The value of a secret mount option (secret_access_key=, session_token=) is
 * overwritten with 'x' in argv as soon as it is copied, so `ps` and
 * /proc/PID/cmdline of a running mount do not show it; in the moment between
 * exec and that, they do (as with s3fs): rustfx.toml or the environment keep
 * a secret off the command line altogether.
 */
#define FX_LOG_MODULE "cli"
#include "tools/cli.h"
#include "tools/cli_i.h"

#include <errno.h>
#include <dirent.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>
#include <xxhash.h>

#include "backends/backend.h"
#include "backends/s3.h"
#include "cache/store.h"
#include "core/config.h"
#include "core/log.h"
#include "fs/fs.h"
#include "fs/options.h"
#include "tools/brain.h"
#include "tools/completion.h"
#include "tools/health.h"
#include "tools/sim.h"
#include "tools/sync.h"

extern char **environ;

struct fx_cli {
	const char *config_path; /* -c */
	int verbose;             /* -v count */
	bool json;               /* --json */
};

static const struct fx_conf_key *const fx_cli_tables[] = {
	fx_core_conf_keys,
#ifdef RUSTFX_S3
	fx_s3_conf_keys,
#endif
	fx_cache_conf_keys,
	fx_fs_conf_keys,
	fx_health_conf_keys,
	NULL,
};

int fx_cli_fail(const struct fx_diag *d)
{
	fx_diag_print(d, stderr);
	return fx_exit_code(d->err);
}

int fx_cli_usage(const char *hint, const char *fmt, const char *arg)
{
	struct fx_diag d = { 0 };

	fx_diag_set(&d, -FX_EUSAGE, hint, fmt, arg);
	return fx_cli_fail(&d);
}

static void fx_print_help(FILE *f)
{
	fprintf(f,
		"rustfx - mount object-storage buckets as a directory\n\n"
		"usage: rustfx [GLOBAL OPTIONS] COMMAND [ARGS]\n\n"
		"commands:\n"
		"  mount       mount URL at MOUNTPOINT (rustfx mount --help)\n"
		"  umount      unmount MOUNTPOINT\n"
		"  health      check a bucket, its cache and a mount: health [URL|MOUNTPOINT]\n"
		"  sync        copy between local paths and buckets: sync [OPTIONS] SRC DST\n"
		"  config      print the resolved configuration: config print [--json]\n"
		"  cache       check or empty a cache directory: cache verify|clear DIR\n"
		"  stats       a mount's cache and request counters: stats [--json] MOUNTPOINT\n"
		"  sim         replay a cache trace through the policies (rustfx sim --help)\n"
		"  brain       the learned model of a cache directory: brain show|export --dot|reset\n"
		"              (rustfx brain --help)\n"
		"  completion  print a shell completion script: completion bash|zsh|fish\n\n"
		"global options:\n"
		"  -c, --config PATH  configuration file (default: $RUSTFX_CONFIG, ./rustfx.toml,\n"
		"                     $XDG_CONFIG_HOME/rustfx/rustfx.toml, /etc/rustfx/rustfx.toml)\n"
		"  -v, --verbose      more log output; repeat for more (-vv)\n"
		"      --json         machine-readable output where a command has it\n"
		"  -h, --help         this help\n"
		"      --version      print the version\n\n"
		"URLs: file:///abs/dir (a local directory as a bucket), s3://BUCKET[/PREFIX],\n"
		"      mem://NAME (tests)\n"
		"environment: RUSTFX_<TABLE>_<KEY> overrides rustfx.toml; RUSTFX_LOG or RUST_LOG\n"
		"             set the log filter, e.g. RUST_LOG=info,fs=debug\n");
}

static void fx_print_opt_help(void *arg, const struct fx_conf_key *k)
{
	FILE *f = arg;
	char left[64];

	if (!k->mount_opt)
		return;
	snprintf(left, sizeof(left), "%s%s", k->mount_opt, k->type == FX_CONF_BOOL ? "" : "=VALUE");
	fprintf(f, "  %-24s %s", left, k->help);
	if (k->def && k->type != FX_CONF_BOOL)
		fprintf(f, " (default %s)", k->def);
	fprintf(f, "\n");
}

static void fx_print_mount_help(FILE *f)
{
	struct fx_config *cfg = fx_config_new(fx_cli_tables);

	fprintf(f,
		"usage: rustfx mount [-f] [-o OPTIONS] URL MOUNTPOINT\n\n"
		"  -f            stay in the foreground (logs to stderr); default: daemonize\n"
		"  -o OPTIONS    comma-separated mount options; boolean X also as no_X\n\n"
		"mount options:\n");
	if (cfg)
		fx_config_each_key(cfg, fx_print_opt_help, f);
	fprintf(f, "\nfstab words such as defaults,_netdev,nofail,noauto,user are accepted and ignored.\n"
		   "fstab: URL MOUNTPOINT fuse.rustfx defaults,_netdev,OPTIONS 0 0\n");
	fx_config_free(cfg);
}

/* Default cache directory: $XDG_CACHE_HOME/rustfx or ~/.cache/rustfx. */
static void fx_default_cache_dir(char *buf, size_t n)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");

	if (xdg && xdg[0] == '/')
		snprintf(buf, n, "%s/rustfx", xdg);
	else if (home && home[0] == '/')
		snprintf(buf, n, "%s/.cache/rustfx", home);
	else
		snprintf(buf, n, "/var/cache/rustfx");
}

/* Build the configuration: defaults, file, env, then -v and -o flags. */
static int fx_load_config(const struct fx_cli *cli, const char *mount_opts, struct fx_config **out,
			  struct fx_diag *d)
{
	struct fx_config *cfg = fx_config_new(fx_cli_tables);
	const char *filter = getenv("RUSTFX_LOG");
	char path[PATH_MAX], cache_dir[PATH_MAX];
	int ret;

	if (!cfg) {
		fx_diag_set(d, -ENOMEM, NULL, "out of memory");
		return -ENOMEM;
	}
	fx_default_cache_dir(cache_dir, sizeof(cache_dir));
	if ((ret = fx_config_set_default(cfg, "cache.dir", cache_dir)) < 0)
		goto fail;
	ret = fx_config_find_file(cli->config_path, path, sizeof(path), d);
	if (ret < 0 || (ret == 1 && (ret = fx_config_load_file(cfg, path, d)) < 0))
		goto fail;
	if ((ret = fx_config_load_env(cfg, environ, d)) < 0)
		goto fail;
	if (!filter)
		filter = getenv("RUST_LOG");
	if (filter && (ret = fx_config_set(cfg, "log.level", filter, FX_SRC_ENV,
					   getenv("RUSTFX_LOG") ? "RUSTFX_LOG" : "RUST_LOG", d)) < 0)
		goto fail;
	if (mount_opts && (ret = fx_options_apply(cfg, mount_opts, d)) < 0)
		goto fail;
	*out = cfg;
	return 0;
fail:
	fx_config_free(cfg);
	if (ret == -ENOMEM)
		fx_diag_set(d, ret, NULL, "out of memory");
	return ret;
}

/* ------------------------------------------------------------ mount */

struct fx_mount_args {
	bool foreground;
	char *opts; /* all -o joined with ',' (malloc'd; may hold secrets: fx_cli_free_opts) */
	const char *url, *mountpoint;
};

/* True when the -o name @name (@len bytes) is that of a secret setting. */
static bool fx_secret_opt(const char *name, size_t len)
{
	for (size_t t = 0; fx_cli_tables[t]; t++)
		for (const struct fx_conf_key *k = fx_cli_tables[t]; k->name; k++)
			if (k->type == FX_CONF_SECRET && k->mount_opt &&
			    strlen(k->mount_opt) == len && !strncmp(k->mount_opt, name, len))
				return true;
	return false;
}

/* Overwrite, in place, the values of secret options in the -o argument
 * @arg (an argv string) with 'x'. Splits as fx_options_apply does. */
static void fx_hide_secret_opts(char *arg)
{
	char *opt = arg, *p, *eq;

	for (p = arg;; p++) {
		if (*p == '\\' && (p[1] == ',' || p[1] == '\\')) {
			p++;
			continue;
		}
		if (*p != ',' && *p != '\0')
			continue;
		eq = memchr(opt, '=', (size_t)(p - opt));
		if (eq && fx_secret_opt(opt, (size_t)(eq - opt)))
			memset(eq + 1, 'x', (size_t)(p - eq - 1));
		if (*p == '\0')
			return;
		opt = p + 1;
	}
}

int fx_cli_take_opts(char **opts, char *arg)
{
	size_t old = *opts ? strlen(*opts) : 0;
	char *p = malloc(old + strlen(arg) + 2);

	if (!p)
		return -ENOMEM;
	if (old) { /* a copy, not realloc: the old buffer is wiped, not left behind */
		memcpy(p, *opts, old);
		p[old++] = ',';
		sodium_memzero(*opts, old - 1);
		free(*opts);
	}
	strcpy(p + old, arg);
	*opts = p;
	fx_hide_secret_opts(arg);
	return 0;
}

void fx_cli_free_opts(char *opts)
{
	if (!opts)
		return;
	sodium_memzero(opts, strlen(opts));
	free(opts);
}

static int fx_check_mountpoint(const char *mp, struct fx_diag *d)
{
	struct stat st;

	if (stat(mp, &st) < 0) {
		int err = errno;

		fx_diag_set(d, -FX_EMOUNTPOINT, err == ENOENT ? "create it first: mkdir -p MOUNTPOINT" : NULL,
			    "mount point %s is not usable (%s)", mp, strerror(err));
		return -FX_EMOUNTPOINT;
	}
	if (!S_ISDIR(st.st_mode)) {
		fx_diag_set(d, -FX_EMOUNTPOINT, "mount on a directory", "mount point %s is not a directory",
			    mp);
		return -FX_EMOUNTPOINT;
	}
	return 0;
}

static int fx_absolute(const char *path, char *out, size_t n)
{
	char cwd[PATH_MAX];

	if (path[0] == '/')
		return (size_t)snprintf(out, n, "%s", path) < n ? 0 : -ENAMETOOLONG;
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	return (size_t)snprintf(out, n, "%s/%s", cwd, path) < n ? 0 : -ENAMETOOLONG;
}

static int fx_do_mount(const struct fx_cli *cli, const struct fx_mount_args *ma)
{
	struct fx_diag d = { 0 };
	struct fx_config *cfg = NULL;
	struct fx_backend *backend = NULL;
	struct fx_fs *fs = NULL;
	struct fx_fs_options opt;
	struct fx_cache_opts copt;
	char mountpoint[PATH_MAX], cache_dir[PATH_MAX], base[PATH_MAX];
	const char *logfile;
	enum fx_log_sink sink;
	int ret;

	if ((ret = fx_load_config(cli, ma->opts, &cfg, &d)) < 0)
		goto out;
	if ((ret = fx_options_resolve(cfg, &opt, &d)) < 0 ||
	    (ret = fx_cache_opts_resolve(cfg, &copt, &d)) < 0)
		goto out;
	if ((ret = fx_check_mountpoint(ma->mountpoint, &d)) < 0)
		goto out;
	if ((ret = fx_absolute(ma->mountpoint, mountpoint, sizeof(mountpoint))) < 0 ||
	    (ret = fx_absolute(fx_config_str(cfg, "cache.dir"), base, sizeof(base))) < 0) {
		fx_diag_set(&d, ret, NULL, "cannot resolve paths (%s)", fx_strerror(ret));
		goto out;
	}
	/* One cache subdirectory per backend URL. */
	if ((size_t)snprintf(cache_dir, sizeof(cache_dir), "%.*s/%016llx", PATH_MAX - 32, base,
			     (unsigned long long)XXH3_64bits(ma->url, strlen(ma->url))) >= sizeof(cache_dir)) {
		ret = -ENAMETOOLONG;
		fx_diag_set(&d, ret, "choose a shorter cache_dir", "cache_dir %s is too long", base);
		goto out;
	}

	logfile = fx_config_str(cfg, "log.file");
	/* A daemon's stderr goes to /dev/null: it logs to a file or syslog. */
	if (logfile)
		sink = FX_LOG_FILE;
	else if (!ma->foreground || fx_config_bool(cfg, "log.syslog"))
		sink = FX_LOG_SYSLOG;
	else
		sink = FX_LOG_STDERR;
	ret = fx_log_setup(fx_config_str(cfg, "log.level"), fx_config_bool(cfg, "log.json"), sink,
			   logfile, &d);
	if (ret < 0)
		goto out;
	fx_log_bump(cli->verbose);

	ret = fx_backend_open_config(ma->url, cfg, &backend, &d);
	if (ret < 0) {
		/* A URL that names nothing is bad input, not a system failure. */
		if (ret == -ENOENT || ret == -ENOTDIR)
			d.err = -FX_EBADURL;
		goto out;
	}
	if ((ret = fx_fs_new(backend, &opt, &copt, cache_dir, &fs, &d)) < 0)
		goto out;
	ret = fx_fs_run(fs, ma->url, mountpoint, ma->foreground, &d);
out:
	fx_fs_free(fs);
	fx_backend_close(backend);
	fx_config_free(cfg);
	fx_log_shutdown();
	return ret < 0 ? fx_cli_fail(&d) : 0;
}

static int fx_cmd_mount(const struct fx_cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "options", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fx_mount_args ma = { 0 };
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+fo:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			ma.foreground = true;
			break;
		case 'o':
			if (fx_cli_take_opts(&ma.opts, optarg) < 0)
				return EX_OSERR;
			break;
		case 'h':
			fx_print_mount_help(stdout);
			fx_cli_free_opts(ma.opts);
			return 0;
		default:
			fx_cli_free_opts(ma.opts);
			return fx_cli_usage("see 'rustfx mount --help'", "bad option for mount%s", "");
		}
	}
	if (argc - optind != 2) {
		fx_cli_free_opts(ma.opts);
		return fx_cli_usage("usage: rustfx mount [-f] [-o OPTIONS] URL MOUNTPOINT, e.g. "
				      "rustfx mount file:///srv/bucket /mnt/bucket",
				      "mount needs a URL and a mount point%s", "");
	}
	ma.url = argv[optind];
	ma.mountpoint = argv[optind + 1];
	ret = fx_do_mount(cli, &ma);
	fx_cli_free_opts(ma.opts);
	return ret;
}

int fx_cli_mount_helper(int argc, char **argv)
{
	struct fx_cli cli = { 0 };
	struct fx_mount_args ma = { 0 };
	int ret = 0;

	/* mount(8) calls: mount.rustfx SOURCE DIR [-sfnv] [-o OPTS] [-t TYPE] */
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-o") == 0 && i + 1 < argc) {
			if (fx_cli_take_opts(&ma.opts, argv[++i]) < 0)
				ret = -ENOMEM;
		} else if (strncmp(a, "-o", 2) == 0 && a[2]) {
			if (fx_cli_take_opts(&ma.opts, argv[i] + 2) < 0)
				ret = -ENOMEM;
		} else if (strcmp(a, "-t") == 0 && i + 1 < argc) {
			i++; /* the type is ours by definition */
		} else if (strcmp(a, "-f") == 0) {
			ma.foreground = true;
		} else if (strcmp(a, "-v") == 0) {
			cli.verbose++;
		} else if (strcmp(a, "-n") == 0 || strcmp(a, "-s") == 0) {
			/* no mtab to skip; sloppy options are accepted anyway */
		} else if (a[0] == '-') {
			fx_cli_free_opts(ma.opts);
			return fx_cli_usage("usage: mount.rustfx URL MOUNTPOINT [-o OPTIONS]",
					      "unknown option '%s'", a);
		} else if (!ma.url) {
			ma.url = a;
		} else if (!ma.mountpoint) {
			ma.mountpoint = a;
		} else {
			fx_cli_free_opts(ma.opts);
			return fx_cli_usage("usage: mount.rustfx URL MOUNTPOINT [-o OPTIONS]",
					      "unexpected argument '%s'", a);
		}
	}
	if (ret == 0 && (!ma.url || !ma.mountpoint)) {
		fx_cli_free_opts(ma.opts);
		return fx_cli_usage("usage: mount.rustfx URL MOUNTPOINT [-o OPTIONS]",
				      "missing URL or mount point%s", "");
	}
	ret = ret < 0 ? EX_OSERR : fx_do_mount(&cli, &ma);
	fx_cli_free_opts(ma.opts);
	return ret;
}

/* ------------------------------------------------------------ umount */

/* "-h" or "--help" among the arguments: print @usage (and @more) and succeed. */
static bool fx_help_asked(int argc, char **argv, const char *usage, const char *more)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("%s\n%s", usage, more);
			return true;
		}
	return false;
}

static int fx_cmd_umount(int argc, char **argv)
{
	struct fx_diag d = { 0 };
	char mp[PATH_MAX];

	if (fx_help_asked(argc, argv, "usage: rustfx umount MOUNTPOINT",
			  "Unmount a rustfx mount; the daemon saves its cache index and model,\n"
			  "then exits.\n"))
		return 0;
	if (argc != 2)
		return fx_cli_usage("usage: rustfx umount MOUNTPOINT", "umount needs a mount point%s", "");
	if (!realpath(argv[1], mp)) {
		fx_diag_set(&d, -FX_EMOUNTPOINT, "check the path", "cannot resolve %s (%s)", argv[1],
			    strerror(errno));
		return fx_cli_fail(&d);
	}
	if (geteuid() == 0) {
		if (umount2(mp, 0) == 0)
			return 0;
		if (errno == EINVAL) {
			fx_diag_set(&d, -FX_EMOUNTPOINT, "'mount | grep rustfx' lists rustfx mounts",
				    "%s is not mounted", mp);
			return fx_cli_fail(&d);
		}
		fx_diag_set(&d, -errno,
			    errno == EBUSY ? "close files and leave directories under it, or use umount -l"
					   : NULL,
			    "cannot unmount %s (%s)", mp, strerror(errno));
		return fx_cli_fail(&d);
	}
	execlp("fusermount3", "fusermount3", "-u", mp, (char *)NULL);
	fx_diag_set(&d, -errno, "install fuse3", "cannot run fusermount3 (%s)", strerror(errno));
	return fx_cli_fail(&d);
}

/* ------------------------------------------------------------ cache */

static void fx_print_cache_help(FILE *f)
{
	fprintf(f,
		"usage: rustfx cache verify|clear [--json] CACHE_DIR\n\n"
		"CACHE_DIR is the cache_dir of a mount (every store below it is taken) or\n"
		"one backend's store in it (the directory holding index.mdb).\n\n"
		"  verify   read every cached block and check it against its checksums;\n"
		"           bad blocks are dropped (they are fetched again when read).\n"
		"           One line per store: blocks, bytes, corrupt blocks dropped,\n"
		"           block files adopted into the index, stale entries dropped.\n"
		"           Exit 0: nothing corrupt; 1: corrupt blocks found (and dropped).\n"
		"  clear    remove every cached block and the index. Writes not yet\n"
		"           uploaded (staging/) are never touched, nor is the learned\n"
		"           model (model.mdb): 'rustfx brain reset' removes that.\n\n"
		"Both need the store unmounted: a store in use is refused (exit 1).\n"
		"  --json   one JSON object per store, in an array\n");
}

void fx_cli_stores_free(char **list, int n)
{
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

/* Does @dir[/@sub]/@marker exist (as a regular file unless @any_type)? */
static bool fx_has_marker(const char *dir, const char *sub, const char *marker, bool any_type)
{
	char path[PATH_MAX];
	struct stat st;
	int n = sub ? snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, marker)
		    : snprintf(path, sizeof(path), "%s/%s", dir, marker);

	if (n < 0 || (size_t)n >= sizeof(path) || lstat(path, &st) != 0)
		return false;
	return any_type || S_ISREG(st.st_mode);
}

int fx_cli_stores(const char *dir, const char *marker, bool any_type, char ***out)
{
	struct dirent **names = NULL;
	char **list;
	int n, count = 0, rc = 0;

	*out = NULL;
	if (fx_has_marker(dir, NULL, marker, any_type)) {
		if (!(list = calloc(1, sizeof(*list))) || !(list[0] = strdup(dir))) {
			free(list);
			return -ENOMEM;
		}
		*out = list;
		return 1;
	}
	if ((n = scandir(dir, &names, NULL, alphasort)) < 0)
		return -errno;
	list = calloc((size_t)n + 1, sizeof(*list));
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX];

		if (!list || rc) {
			rc = -ENOMEM;
		} else if (names[i]->d_name[0] != '.' &&
			   fx_has_marker(dir, names[i]->d_name, marker, any_type)) {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
			if (!(list[count] = strdup(path)))
				rc = -ENOMEM;
			else
				count++;
		}
		free(names[i]);
	}
	free(names);
	if (rc) {
		if (list)
			fx_cli_stores_free(list, count);
		return rc;
	}
	*out = list;
	return count;
}

/* Files under <@store>/staging: writes not yet uploaded. */
static unsigned fx_staged_files(const char *store)
{
	char path[PATH_MAX];
	struct dirent *de;
	unsigned n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/staging", store);
	if (!(d = opendir(path)))
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Add @store's result to @arr, or print its line. */
static void fx_cache_report(const char *store, bool verify, const struct fx_store_report *r,
			    json_t *arr)
{
	unsigned staged = fx_staged_files(store);
	json_t *o;

	if (arr) {
		o = json_pack("{s:s, s:s, s:i}", "dir", store, "command",
			      verify ? "verify" : "clear", "staged", (int)staged);
		if (o && verify) {
			json_object_set_new(o, "blocks", json_integer((json_int_t)r->blocks));
			json_object_set_new(o, "bytes", json_integer((json_int_t)r->bytes));
			json_object_set_new(o, "corrupt", json_integer((json_int_t)r->corrupt));
			json_object_set_new(o, "adopted", json_integer((json_int_t)r->adopted));
			json_object_set_new(o, "dropped", json_integer((json_int_t)r->dropped));
		}
		json_array_append_new(arr, o);
	} else if (verify) {
		printf("%s: %llu blocks, %llu bytes, %llu corrupt dropped, %llu adopted, "
		       "%llu dropped entries\n",
		       store, (unsigned long long)r->blocks, (unsigned long long)r->bytes,
		       (unsigned long long)r->corrupt, (unsigned long long)r->adopted,
		       (unsigned long long)r->dropped);
	} else {
		printf("%s: cleared (staging/ kept: %u unuploaded file%s)\n", store, staged,
		       staged == 1 ? "" : "s");
	}
}

/* Verify or clear one store and report it (to @arr when not NULL).
 * @return 0, 1 if corrupt blocks were found, or -errno. */
static int fx_cache_one(const char *store, bool verify, json_t *arr)
{
	struct fx_store_report r = { 0 };
	struct fx_diag d = { 0 };
	int ret = verify ? fx_store_verify(store, &r, &d) : fx_store_clear(store, &d);

	if (ret == -EBUSY)
		snprintf(d.hint, sizeof(d.hint), "unmount first (rustfx umount MOUNTPOINT), "
						 "then run 'rustfx cache %s' again",
			 verify ? "verify" : "clear");
	if (ret < 0 && arr)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "dir", store, "error", d.msg,
						     "hint", d.hint));
	else if (ret < 0)
		fx_diag_print(&d, stderr);
	else
		fx_cache_report(store, verify, &r, arr);
	return ret < 0 ? ret : verify && r.corrupt ? 1 : 0;
}

/* The latency below which @q of the calls in @hist (FX_LATENCY_BUCKETS
 * buckets named "<N") finished, in microseconds; 0 without calls. */
static unsigned long long fx_quantile_us(json_t *hist, double q)
{
	unsigned long long total = 0, seen = 0, bound = 0;
	const char *name;
	json_t *n;

	json_object_foreach(hist, name, n)
		total += (unsigned long long)json_integer_value(n);
	json_object_foreach(hist, name, n) {
		seen += (unsigned long long)json_integer_value(n);
		bound = strtoull(name + (name[0] == '<' ? 1 : 2), NULL, 10);
		if (seen >= q * (double)total)
			break;
	}
	return total ? bound : 0;
}

/* rustfx stats MOUNTPOINT: MOUNTPOINT/<control_dir>/stats, as it is
 * (--json) or summed up for people. */
static int fx_cmd_stats(const struct fx_cli *cli, int argc, char **argv)
{
	static const char usage[] = "usage: rustfx stats [--json] MOUNTPOINT";
	const char *mnt = NULL, *name;
	struct fx_config *cfg = NULL;
	struct fx_diag d = { 0 };
	bool json = cli->json;
	char path[PATH_MAX];
	json_error_t jerr;
	json_t *root, *c, *p, *f, *req, *op;
	int ret;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("%s\n\nReads MOUNTPOINT/CONTROL_DIR/stats of a running mount; control_dir\n"
			       "comes from the configuration ([mount] control_dir, default .rustfx).\n",
			       usage);
			return 0;
		} else if (!mnt && argv[i][0] != '-')
			mnt = argv[i];
		else
			return fx_cli_usage(usage, "unexpected argument '%s'", argv[i]);
	}
	if (!mnt)
		return fx_cli_usage(usage, "stats needs a mount point%s", "");
	if ((ret = fx_load_config(cli, NULL, &cfg, &d)) < 0)
		return fx_cli_fail(&d);
	snprintf(path, sizeof(path), "%s/%s/stats", mnt, fx_config_str(cfg, "mount.control_dir"));
	fx_config_free(cfg);
	root = json_load_file(path, 0, &jerr);
	if (!root) {
		fx_diag_set(&d, -FX_EMOUNTPOINT,
			    "is it a rustfx mount point, mounted without nostats?",
			    "cannot read %s (%s)", path, jerr.text);
		return fx_cli_fail(&d);
	}
	if (json) {
		json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(root);
		return 0;
	}
	c = json_object_get(root, "cache");
	p = json_object_get(root, "prefetch");
	f = json_object_get(root, "fetch");
	req = json_object_get(root, "requests");
#define I(o, k) ((long long)json_integer_value(json_object_get(o, k)))
	printf("%s, up %llds\n", json_string_value(json_object_get(root, "backend")),
	       I(root, "uptime_s"));
	printf("cache     %lld blocks, %.1f of %.1f MiB; hit ratio %.2f (%lld hits, %lld misses)\n",
	       I(c, "blocks"), I(c, "bytes") / 1048576.0, I(c, "capacity") / 1048576.0,
	       json_real_value(json_object_get(c, "hit_ratio")), I(c, "hits"), I(c, "misses"));
	printf("bytes     %.1f MiB from the cache, %.1f MiB from the backend\n",
	       I(c, "bytes_from_cache") / 1048576.0, I(f, "bytes_from_backend") / 1048576.0);
	printf("prefetch  %lld issued, %lld used, %lld wasted, accuracy %.2f\n", I(p, "issued"),
	       I(p, "used"), I(p, "wasted"), json_real_value(json_object_get(p, "accuracy")));
	printf("evictions %lld; checksum failures %lld; fetch memory peak %.1f of %.1f MiB\n",
	       I(c, "evictions"), I(c, "checksum_failures"), I(f, "memory_peak") / 1048576.0,
	       I(f, "memory_limit") / 1048576.0);
	printf("%-10s %10s %8s %10s %10s\n", "request", "calls", "errors", "p50 us", "p99 us");
	json_object_foreach(req, name, op) {
		json_t *hist = json_object_get(op, "latency_us");

		if (!I(op, "calls"))
			continue;
		printf("%-10s %10lld %8lld %10llu %10llu\n", name, I(op, "calls"), I(op, "errors"),
		       fx_quantile_us(hist, 0.5), fx_quantile_us(hist, 0.99));
	}
#undef I
	json_decref(root);
	return 0;
}

static int fx_cmd_cache(const struct fx_cli *cli, int argc, char **argv)
{
	static const char usage[] = "usage: rustfx cache verify|clear [--json] CACHE_DIR";
	struct fx_diag d = { 0 };
	const char *dir = NULL;
	bool json = cli->json, verify, corrupt = false;
	json_t *arr = NULL;
	char **stores;
	int n, ret, fail = 0;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fx_print_cache_help(stdout);
			return 0;
		}
	if (argc < 2 || (strcmp(argv[1], "verify") && strcmp(argv[1], "clear")))
		return fx_cli_usage(usage, "unknown cache command '%s'", argc < 2 ? "" : argv[1]);
	verify = strcmp(argv[1], "verify") == 0;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (argv[i][0] == '-' || dir)
			return fx_cli_usage(usage, "unexpected argument '%s'", argv[i]);
		else
			dir = argv[i];
	}
	if (!dir)
		return fx_cli_usage(usage, "cache %s needs a cache directory", argv[1]);
	if ((ret = fx_log_setup("warn", false, FX_LOG_STDERR, NULL, &d)) < 0)
		return fx_cli_fail(&d);
	fx_log_bump(cli->verbose);

	n = fx_cli_stores(dir, "index.mdb", false, &stores);
	if (n <= 0) {
		fx_diag_set(&d, -FX_EUSAGE,
			    "name a mount's cache_dir (default ~/.cache/rustfx) or a store in it",
			    "%s is not a rustfx cache directory (%s)", dir,
			    n < 0 ? fx_strerror(n) : "no index.mdb in it or its subdirectories");
		ret = -FX_EUSAGE;
		fx_diag_print(&d, stderr);
		goto out_stores;
	}
	if (json && !(arr = json_array())) {
		ret = -ENOMEM;
		goto out_stores;
	}
	for (int i = 0; i < n; i++) {
		ret = fx_cache_one(stores[i], verify, arr);
		if (ret < 0 && !fail)
			fail = ret;
		corrupt |= ret == 1;
	}
	if (arr) {
		json_dumpf(arr, stdout, JSON_INDENT(2));
		putchar('\n');
	}
	ret = fail ? fail : 0;
out_stores:
	json_decref(arr);
	fx_cli_stores_free(stores, n > 0 ? n : 0);
	fx_log_shutdown();
	if (ret < 0)
		return fx_exit_code(ret);
	return corrupt ? FX_EXIT_RECOVERABLE : FX_EXIT_OK;
}

/* ------------------------------------------------------------ the rest */

/* rustfx health (tools/health.c) builds its configuration through this. */
static int fx_health_load(void *arg, const char *opts, struct fx_config **out, struct fx_diag *d)
{
	return fx_load_config(arg, opts, out, d);
}

/* rustfx sync (tools/sync.c) gets the configuration a mount would, without -o. */
static int fx_sync_load(void *arg, struct fx_config **out, struct fx_diag *d)
{
	return fx_load_config(arg, NULL, out, d);
}

static int fx_cmd_config(const struct fx_cli *cli, int argc, char **argv)
{
	struct fx_diag d = { 0 };
	struct fx_config *cfg;
	bool json = cli->json;
	int ret;

	if (fx_help_asked(argc, argv, "usage: rustfx config print [--json]",
			  "Print every setting as resolved from defaults, rustfx.toml, RUSTFX_*\n"
			  "variables and flags, each with its source.\n"))
		return 0;
	if (argc < 2 || strcmp(argv[1], "print") != 0)
		return fx_cli_usage("usage: rustfx config print [--json]", "unknown config command '%s'",
				      argc < 2 ? "" : argv[1]);
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else
			return fx_cli_usage("usage: rustfx config print [--json]",
					      "unknown argument '%s'", argv[i]);
	}
	if ((ret = fx_load_config(cli, NULL, &cfg, &d)) < 0)
		return fx_cli_fail(&d);
	ret = fx_config_print(cfg, stdout, json);
	fx_config_free(cfg);
	return fx_exit_code(ret);
}

static int fx_cmd_completion(int argc, char **argv)
{
	struct fx_config *cfg;
	int ret;

	if (fx_help_asked(argc, argv, "usage: rustfx completion bash|zsh|fish",
			  "Print a completion script for the shell, e.g.\n"
			  "  rustfx completion bash >/etc/bash_completion.d/rustfx\n"))
		return 0;
	if (argc != 2)
		return fx_cli_usage("usage: rustfx completion bash|zsh|fish",
				      "completion needs a shell name%s", "");
	cfg = fx_config_new(fx_cli_tables);
	if (!cfg)
		return EX_OSERR;
	ret = fx_completion_print(cfg, argv[1], stdout);
	fx_config_free(cfg);
	if (ret < 0)
		return fx_cli_usage("supported shells: bash, zsh, fish", "unknown shell '%s'", argv[1]);
	return 0;
}

int fx_cli_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct fx_cli cli = { 0 };
	const char *cmd;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+c:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cli.config_path = optarg;
			break;
		case 'v':
			cli.verbose++;
			break;
		case 'J':
			cli.json = true;
			break;
		case 'h':
			fx_print_help(stdout);
			return 0;
		case 'V':
			printf("rustfx %s\n", FX_VERSION);
			return 0;
		default:
			return fx_cli_usage("see 'rustfx --help'", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc) {
		fx_print_help(stderr);
		return fx_cli_usage("name a command, e.g. 'rustfx mount --help'", "no command given%s", "");
	}
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	if (strcmp(cmd, "mount") == 0)
		return fx_cmd_mount(&cli, argc, argv);
	if (strcmp(cmd, "umount") == 0 || strcmp(cmd, "unmount") == 0)
		return fx_cmd_umount(argc, argv);
	if (strcmp(cmd, "health") == 0)
		return fx_cli_health(argc, argv, cli.json, cli.verbose, fx_health_load, &cli);
	if (strcmp(cmd, "sync") == 0)
		return fx_cli_sync(argc, argv, cli.json, cli.verbose, fx_sync_load, &cli);
	if (strcmp(cmd, "config") == 0)
		return fx_cmd_config(&cli, argc, argv);
	if (strcmp(cmd, "completion") == 0)
		return fx_cmd_completion(argc, argv);
	if (strcmp(cmd, "cache") == 0)
		return fx_cmd_cache(&cli, argc, argv);
	if (strcmp(cmd, "stats") == 0)
		return fx_cmd_stats(&cli, argc, argv);
	if (strcmp(cmd, "sim") == 0)
		return fx_cli_sim(argc, argv, cli.json);
	if (strcmp(cmd, "brain") == 0)
		return fx_cli_brain(argc, argv, cli.json);
	if (strcmp(cmd, "help") == 0) {
		fx_print_help(stdout);
		return 0;
	}
	return fx_cli_usage("commands: mount umount health sync config cache stats sim "
			      "brain completion; see 'rustfx --help'",
			      "unknown command '%s'", cmd);
}
