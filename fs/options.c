/*
 * options.c - the [mount] schema and -o parsing (see options.h).
 */
#include "fs/options.h"
#include "fs/metrics.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FX_TIMEOUT_MAX 86400

static const char *const fx_dir_meta_modes[] = { "listing", "head", NULL };

const struct fx_conf_key fx_fs_conf_keys[] = {
	{ "mount", "ro", FX_CONF_BOOL, "false", 1, 0, NULL, "ro",
	  "mount read-only: writes fail with EROFS" },
	{ "mount", "allow_other", FX_CONF_BOOL, "false", 1, 0, NULL, "allow_other",
	  "let other users access the mount (needs user_allow_other in /etc/fuse.conf for non-root)" },
	{ "mount", "default_permissions", FX_CONF_BOOL, "false", 1, 0, NULL, "default_permissions",
	  "let the kernel check permissions against mode/uid/gid" },
	{ "mount", "uid", FX_CONF_STRING, NULL, 1, 0, NULL, "uid",
	  "owner of objects without uid metadata (number or name; default: the mounting user)" },
	{ "mount", "gid", FX_CONF_STRING, NULL, 1, 0, NULL, "gid",
	  "group of objects without gid metadata (number or name; default: the mounting group)" },
	{ "mount", "umask", FX_CONF_STRING, "022", 1, 0, NULL, "umask",
	  "octal umask applied to objects without mode metadata" },
	{ "mount", "attr_timeout", FX_CONF_FLOAT, "10", 0, FX_TIMEOUT_MAX, NULL, "attr_timeout",
	  "seconds the kernel caches attributes" },
	{ "mount", "entry_timeout", FX_CONF_FLOAT, "10", 0, FX_TIMEOUT_MAX, NULL, "entry_timeout",
	  "seconds the kernel caches names" },
	{ "mount", "negative_timeout", FX_CONF_FLOAT, "1", 0, FX_TIMEOUT_MAX, NULL, "negative_timeout",
	  "seconds the kernel caches a name's absence" },
	{ "mount", "kernel_readahead", FX_CONF_SIZE, "8M", 0, 1024.0 * 1024 * 1024, NULL,
	  "kernel_readahead", "how far the kernel reads ahead of sequential readers (0: its default)" },
	{ "mount", "stat_ttl", FX_CONF_FLOAT, "10", 0, FX_TIMEOUT_MAX, NULL, "stat_ttl",
	  "seconds rustfx trusts an object's attributes (default: attr_timeout)" },
	{ "mount", "dir_ttl", FX_CONF_FLOAT, "10", 0, FX_TIMEOUT_MAX, NULL, "dir_ttl",
	  "seconds a listing is reused while this mount changed nothing (default: attr_timeout)" },
	{ "mount", "negative_ttl", FX_CONF_FLOAT, "1", 0, FX_TIMEOUT_MAX, NULL, "negative_ttl",
	  "seconds rustfx remembers a name is absent (default: negative_timeout)" },
	{ "mount", "stats", FX_CONF_BOOL, "true", 1, 0, NULL, "stats",
	  "serve MOUNTPOINT/CONTROL_DIR/stats (JSON); -o nostats hides it" },
	{ "mount", "control_dir", FX_CONF_STRING, ".rustfx", 1, 0, NULL, "control_dir",
	  "name of the hidden control directory below the mount point" },
	{ "mount", "metrics", FX_CONF_STRING, NULL, 1, 0, NULL, "metrics",
	  "serve the stats as Prometheus metrics at http://[HOST:]PORT/metrics (HOST default 127.0.0.1)" },
	{ "mount", "dir_meta", FX_CONF_ENUM, "listing", 1, 0, fx_dir_meta_modes, "dir_meta",
	  "attributes of listed objects not seen before: listing (size and Last-Modified, no "
	  "request per entry) or head (a HEAD per entry for s3fs modes, owners and mtimes)" },
	{ NULL, NULL, 0, NULL, 0, 0, NULL, NULL, NULL },
};

static const char *const fx_noise[] = {
	"defaults", "_netdev", "nofail", "noauto", "auto", "user", "users", "nouser", "owner",
	"group", "suid", "nosuid", "dev", "nodev", "exec", "noexec", "async", "atime", "noatime",
	"relatime", "norelatime", "strictatime", "nodiratime", "diratime", "lazytime", "nolazytime",
	"silent", "loud", NULL,
};

bool fx_options_is_noise(const char *opt)
{
	for (const char *const *p = fx_noise; *p; p++)
		if (strcmp(*p, opt) == 0)
			return true;
	/* systemd and mount(8) annotations */
	return strncmp(opt, "x-", 2) == 0 || strncmp(opt, "comment=", 8) == 0;
}

/* Apply one "name[=value]" option. */
static int fx_option_one(struct fx_config *cfg, char *opt, struct fx_diag *d)
{
	char *eq = strchr(opt, '=');
	const char *value = NULL, *suggest;
	const struct fx_conf_key *k;
	char origin[300], dotted[128];
	int ret;

	if (*opt == '\0' || fx_options_is_noise(opt))
		return 0;
	if (strcmp(opt, "rw") == 0)
		opt = "no_ro";
	if (eq) {
		*eq = '\0';
		value = eq + 1;
	}
	k = fx_config_mount_opt(cfg, opt);
	if (!k && !value && strncmp(opt, "no", 2) == 0) { /* no_x and nox */
		k = fx_config_mount_opt(cfg, opt + (opt[2] == '_' ? 3 : 2));
		if (k && k->type == FX_CONF_BOOL)
			value = "false";
		else
			k = NULL;
	}
	if (!k) {
		char hint[200];

		suggest = fx_config_suggest_mount_opt(cfg, opt);
		if (suggest)
			snprintf(hint, sizeof(hint), "did you mean '%s'? 'rustfx mount --help' lists every option",
				 suggest);
		else
			snprintf(hint, sizeof(hint), "'rustfx mount --help' lists every option");
		fx_diag_set(d, -FX_EBADOPT, hint, "unknown mount option '%s'", opt);
		return -FX_EBADOPT;
	}
	if (!value) {
		if (k->type != FX_CONF_BOOL) {
			snprintf(origin, sizeof(origin), "write %s=VALUE (%s)", opt, k->help);
			fx_diag_set(d, -FX_EBADOPT, origin, "mount option '%s' needs a value", opt);
			return -FX_EBADOPT;
		}
		value = "true";
	}
	snprintf(origin, sizeof(origin), "-o %s", k->mount_opt);
	snprintf(dotted, sizeof(dotted), "%s.%s", k->section, k->name);
	ret = fx_config_set(cfg, dotted, value, FX_SRC_FLAG, origin, d);
	if (ret < 0 && d)
		d->err = -FX_EBADOPT;
	return ret < 0 ? -FX_EBADOPT : 0;
}

int fx_options_apply(struct fx_config *cfg, const char *opts, struct fx_diag *d)
{
	char *buf = malloc(strlen(opts) + 1), *w;
	const char *r;
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	/* Split on unescaped commas; "\," and "\\" stand for themselves. */
	for (r = opts, w = buf;; r++) {
		if (*r == '\\' && (r[1] == ',' || r[1] == '\\')) {
			*w++ = *++r;
			continue;
		}
		if (*r == ',' || *r == '\0') {
			*w = '\0';
			ret = fx_option_one(cfg, buf, d);
			if (ret < 0 || *r == '\0')
				break;
			w = buf;
			continue;
		}
		*w++ = *r;
	}
	free(buf);
	return ret;
}

static int fx_resolve_id(const char *text, bool group, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(text, &end, 10);
	if (*text && !*end && !errno && v < UINT32_MAX) {
		*out = (unsigned)v;
		return 0;
	}
	if (group) {
		struct group *g = getgrnam(text);

		if (g) {
			*out = g->gr_gid;
			return 0;
		}
	} else {
		struct passwd *p = getpwnam(text);

		if (p) {
			*out = p->pw_uid;
			return 0;
		}
	}
	return -EINVAL;
}

int fx_options_resolve(const struct fx_config *cfg, struct fx_fs_options *out, struct fx_diag *d)
{
	struct fx_fs_options o = { 0 };
	const char *uid = fx_config_str(cfg, "mount.uid");
	const char *gid = fx_config_str(cfg, "mount.gid");
	const char *umask_text = fx_config_str(cfg, "mount.umask");
	unsigned id;
	char *end;
	unsigned long um;

	o.ro = fx_config_bool(cfg, "mount.ro");
	o.allow_other = fx_config_bool(cfg, "mount.allow_other");
	o.default_permissions = fx_config_bool(cfg, "mount.default_permissions");
	/* The kernel checks permissions against what a listing showed: with
	 * default_permissions that must be the stored mode, not a default. */
	o.dir_meta_head = strcmp(fx_config_str(cfg, "mount.dir_meta"), "head") == 0 ||
			  (o.default_permissions &&
			   fx_config_source(cfg, "mount.dir_meta") == FX_SRC_DEFAULT);
	o.attr_timeout = fx_config_float(cfg, "mount.attr_timeout");
	o.entry_timeout = fx_config_float(cfg, "mount.entry_timeout");
	o.negative_timeout = fx_config_float(cfg, "mount.negative_timeout");
	/* Unless set, rustfx's own caches last as long as the kernel's, so one
	 * setting bounds how stale the mount can look. */
	o.stat_ttl = fx_config_source(cfg, "mount.stat_ttl") == FX_SRC_DEFAULT
			     ? o.attr_timeout
			     : fx_config_float(cfg, "mount.stat_ttl");
	o.dir_ttl = fx_config_source(cfg, "mount.dir_ttl") == FX_SRC_DEFAULT
			    ? o.attr_timeout
			    : fx_config_float(cfg, "mount.dir_ttl");
	o.negative_ttl = fx_config_source(cfg, "mount.negative_ttl") == FX_SRC_DEFAULT
				 ? o.negative_timeout
				 : fx_config_float(cfg, "mount.negative_ttl");
	o.kernel_readahead = fx_config_size(cfg, "mount.kernel_readahead");
	o.kernel_readahead_given = fx_config_source(cfg, "mount.kernel_readahead") != FX_SRC_DEFAULT;
	o.concurrency = (unsigned)fx_config_int(cfg, "io.concurrency");
	o.stats = fx_config_bool(cfg, "mount.stats");
	{
		const char *ctl = fx_config_str(cfg, "mount.control_dir");

		if (!ctl || !*ctl || strchr(ctl, '/') || !strcmp(ctl, ".") || !strcmp(ctl, "..") ||
		    strlen(ctl) >= sizeof(o.control_dir)) {
			fx_diag_set(d, -FX_EBADOPT, "give one file name, e.g. control_dir=.rustfx",
				    "control_dir '%s' is not a file name", ctl ? ctl : "");
			return -FX_EBADOPT;
		}
		strcpy(o.control_dir, ctl);
	}
	{
		const char *metrics = fx_config_str(cfg, "mount.metrics");

		if (metrics && *metrics) {
			if (fx_metrics_check(metrics, d) < 0)
				return -FX_EBADOPT;
			snprintf(o.metrics, sizeof(o.metrics), "%s", metrics); /* checked: it fits */
		}
	}
	o.uid = getuid();
	o.gid = getgid();
	if (uid) {
		if (fx_resolve_id(uid, false, &id) < 0) {
			fx_diag_set(d, -FX_EBADOPT, "give a numeric uid or an existing user name",
				    "uid '%s' is neither a number nor a known user", uid);
			return -FX_EBADOPT;
		}
		o.uid = id;
	}
	if (gid) {
		if (fx_resolve_id(gid, true, &id) < 0) {
			fx_diag_set(d, -FX_EBADOPT, "give a numeric gid or an existing group name",
				    "gid '%s' is neither a number nor a known group", gid);
			return -FX_EBADOPT;
		}
		o.gid = id;
	}
	errno = 0;
	um = strtoul(umask_text ? umask_text : "022", &end, 8);
	if (!umask_text || !*umask_text || *end || errno || um > 0777) {
		fx_diag_set(d, -FX_EBADOPT, "write an octal mask from 000 to 777, e.g. umask=027",
			    "umask '%s' is not an octal mask", umask_text ? umask_text : "");
		return -FX_EBADOPT;
	}
	o.umask = (mode_t)um;
	*out = o;
	return 0;
}
