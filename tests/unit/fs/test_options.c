/*
 * test_options.c - unit tests of fs/options.c: applying "-o" strings onto a
 * configuration (bools and no_ pairs, fstab noise, other modules' options,
 * escaped commas, errors with hints) and resolving the typed mount options.
 * Does not test the configuration layers themselves (tests/unit/core/test_config.c).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "fs/options.h"

static const struct fx_conf_key *const tables[] = { fx_core_conf_keys, fx_fs_conf_keys, NULL };
static struct fx_config *cfg;
static struct fx_diag diag;

static void setup(void)
{
	cfg = fx_config_new(tables);
	cr_assert_not_null(cfg);
	memset(&diag, 0, sizeof(diag));
}

static void teardown(void)
{
	fx_config_free(cfg);
}

TestSuite(options, .init = setup, .fini = teardown);

/* Apply @opts expecting success. */
static void apply_ok(const char *opts)
{
	int rc;

	memset(&diag, 0, sizeof(diag));
	rc = fx_options_apply(cfg, opts, &diag);

	cr_assert_eq(rc, 0, "'%s' gave %d: %s / %s", opts, rc, diag.msg, diag.hint);
	cr_assert_eq(diag.err, 0, "no diagnostic on success for '%s'", opts);
}

/* Apply @opts expecting -FX_EBADOPT with a diagnostic. */
static void apply_bad(const char *opts)
{
	int rc;

	memset(&diag, 0, sizeof(diag));
	rc = fx_options_apply(cfg, opts, &diag);
	cr_assert_eq(rc, -FX_EBADOPT, "'%s' gave %d, want -FX_EBADOPT", opts, rc);
	cr_assert_eq(diag.err, -FX_EBADOPT, "'%s': diag.err %d", opts, diag.err);
	cr_assert_neq(diag.msg[0], '\0', "'%s': empty message", opts);
}

static void str_is(const char *dotted, const char *want)
{
	const char *got = fx_config_str(cfg, dotted);

	cr_assert_not_null(got, "%s unset", dotted);
	cr_assert_str_eq(got, want, "%s", dotted);
	cr_assert_eq(fx_config_source(cfg, dotted), FX_SRC_FLAG, "%s source", dotted);
}

static void resolve_ok(struct fx_fs_options *o)
{
	int rc = fx_options_resolve(cfg, o, &diag);

	cr_assert_eq(rc, 0, "resolve gave %d: %s / %s", rc, diag.msg, diag.hint);
}

/* Resolve expecting -FX_EBADOPT and an untouched output. */
static void resolve_bad(void)
{
	struct fx_fs_options o;
	int rc;

	memset(&o, 0x5A, sizeof(o));
	memset(&diag, 0, sizeof(diag));
	rc = fx_options_resolve(cfg, &o, &diag);
	cr_assert_eq(rc, -FX_EBADOPT, "resolve gave %d", rc);
	cr_assert_eq(diag.err, -FX_EBADOPT);
	cr_assert_neq(diag.hint[0], '\0', "a hint says what to do");
	for (size_t i = 0; i < sizeof(o); i++)
		cr_assert_eq(((unsigned char *)&o)[i], 0x5A, "output written on failure");
}

/* ----------------------------------------------------------------- bools */

Test(options, defaults)
{
	cr_assert_not(fx_config_bool(cfg, "mount.ro"));
	cr_assert_eq(fx_config_source(cfg, "mount.ro"), FX_SRC_DEFAULT);
	cr_assert_null(fx_config_str(cfg, "mount.uid"));
	cr_assert_str_eq(fx_config_str(cfg, "mount.umask"), "022");
	cr_assert_float_eq(fx_config_float(cfg, "mount.attr_timeout"), 10.0, 1e-12);
}

Test(options, ro)
{
	apply_ok("ro");
	cr_assert(fx_config_bool(cfg, "mount.ro"));
	cr_assert_eq(fx_config_source(cfg, "mount.ro"), FX_SRC_FLAG);
}

Test(options, no_ro_and_rw)
{
	apply_ok("ro");
	apply_ok("no_ro");
	cr_assert_not(fx_config_bool(cfg, "mount.ro"));
	cr_assert_eq(fx_config_source(cfg, "mount.ro"), FX_SRC_FLAG, "an explicit false is a flag");

	apply_ok("ro");
	cr_assert(fx_config_bool(cfg, "mount.ro"));
	apply_ok("rw");
	cr_assert_not(fx_config_bool(cfg, "mount.ro"));
	cr_assert_eq(fx_config_source(cfg, "mount.ro"), FX_SRC_FLAG);

	apply_ok("ro,rw");
	cr_assert_not(fx_config_bool(cfg, "mount.ro"), "the last one wins");
	apply_ok("rw,ro");
	cr_assert(fx_config_bool(cfg, "mount.ro"));
}

Test(options, bool_values)
{
	apply_ok("ro=yes,allow_other=on,default_permissions=1");
	cr_assert(fx_config_bool(cfg, "mount.ro"));
	cr_assert(fx_config_bool(cfg, "mount.allow_other"));
	cr_assert(fx_config_bool(cfg, "mount.default_permissions"));
	apply_ok("ro=false,allow_other=off,no_default_permissions");
	cr_assert_not(fx_config_bool(cfg, "mount.ro"));
	cr_assert_not(fx_config_bool(cfg, "mount.allow_other"));
	cr_assert_not(fx_config_bool(cfg, "mount.default_permissions"));
	apply_bad("ro=maybe");
	cr_assert_not(fx_config_bool(cfg, "mount.ro"), "a bad value changes nothing");
}

Test(options, no_prefix_only_for_bools)
{
	apply_bad("no_cache_dir");
	cr_assert_not_null(strstr(diag.msg, "no_cache_dir"), "%s", diag.msg);
	apply_bad("no_ro=true");
	apply_bad("no_nothing");
}

Test(options, origin_names_the_option)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	apply_ok("ro,cache_dir=/c");
	cr_assert_not_null(f);
	cr_assert_eq(fx_config_print(cfg, f, false), 0);
	fclose(f);
	cr_assert_not_null(strstr(text, "ro = true  # flag -o ro"), "%s", text);
	cr_assert_not_null(strstr(text, "dir = \"/c\"  # flag -o cache_dir"), "%s", text);
	free(text);
}

/* --------------------------------------------------------- typed strings */

Test(options, uid_gid_umask)
{
	apply_ok("uid=1000,gid=1000,umask=027");
	str_is("mount.uid", "1000");
	str_is("mount.gid", "1000");
	str_is("mount.umask", "027");
}

Test(options, fstab_noise_is_ignored)
{
	apply_ok("defaults,_netdev,nofail,noauto,user,x-systemd.automount,comment=foo");
	cr_assert_not(fx_config_bool(cfg, "mount.ro"));
	cr_assert_eq(fx_config_source(cfg, "mount.ro"), FX_SRC_DEFAULT);
	cr_assert_eq(fx_config_source(cfg, "mount.uid"), FX_SRC_DEFAULT);
	cr_assert_eq(fx_config_source(cfg, "mount.umask"), FX_SRC_DEFAULT);
	cr_assert_eq(fx_config_source(cfg, "cache.dir"), FX_SRC_DEFAULT);
	cr_assert_eq(fx_config_source(cfg, "log.level"), FX_SRC_DEFAULT);
	cr_assert_eq(fx_config_source(cfg, "io.concurrency"), FX_SRC_DEFAULT);

	/* Noise mixed with real options: only the real ones act. */
	apply_ok("defaults,ro,noatime,x-systemd.requires=network-online.target,uid=7,nodev,nosuid");
	cr_assert(fx_config_bool(cfg, "mount.ro"));
	str_is("mount.uid", "7");
}

Test(options, empty_and_blank_segments)
{
	apply_ok("");
	apply_ok(",");
	apply_ok("ro,,uid=5,");
	cr_assert(fx_config_bool(cfg, "mount.ro"));
	str_is("mount.uid", "5");
}

Test(options, other_modules_options)
{
	apply_ok("cache_dir=/x,log_level=debug,logfile=/tmp/l,concurrency=8");
	str_is("cache.dir", "/x");
	str_is("log.level", "debug");
	str_is("log.file", "/tmp/l");
	cr_assert_eq(fx_config_int(cfg, "io.concurrency"), 8);
	cr_assert_eq(fx_config_source(cfg, "io.concurrency"), FX_SRC_FLAG);
	apply_ok("cache_size=512M,log_json");
	cr_assert_eq(fx_config_size(cfg, "cache.size"), 512ULL << 20);
	cr_assert(fx_config_bool(cfg, "log.json"));
}

Test(options, escaped_comma)
{
	apply_ok("cache_dir=/a\\,b");
	str_is("cache.dir", "/a,b");
	apply_ok("cache_dir=/p\\,q\\,r,ro");
	str_is("cache.dir", "/p,q,r");
	cr_assert(fx_config_bool(cfg, "mount.ro"), "the option after the escaped value applies");
	apply_ok("cache_dir=/a\\\\b");
	str_is("cache.dir", "/a\\b");
	apply_ok("cache_dir=/t\\\\,ro=false");
	str_is("cache.dir", "/t\\");
	cr_assert_not(fx_config_bool(cfg, "mount.ro"), "an escaped backslash does not eat the comma");
	apply_ok("cache_dir=/a\\b");
	str_is("cache.dir", "/a\\b");
	apply_ok("cache_dir=a=b");
	str_is("cache.dir", "a=b");
}

/* ---------------------------------------------------------------- errors */

Test(options, unknown_option_suggests)
{
	apply_bad("cache_dri=x");
	cr_assert_not_null(strstr(diag.msg, "cache_dri"), "message names the option: %s",
			   diag.msg);
	cr_assert_not_null(strstr(diag.hint, "cache_dir"), "hint: %s", diag.hint);
	cr_assert_eq(fx_config_source(cfg, "cache.dir"), FX_SRC_DEFAULT);
}

Test(options, unknown_option_without_suggestion)
{
	apply_bad("zzzzzzzzzzzz");
	cr_assert_not_null(strstr(diag.msg, "zzzzzzzzzzzz"));
	cr_assert_null(strstr(diag.hint, "did you mean"), "hint: %s", diag.hint);
	cr_assert_not_null(strstr(diag.hint, "--help"));
}

Test(options, value_needed)
{
	apply_bad("cache_dir");
	cr_assert_not_null(strstr(diag.msg, "needs a value"), "%s", diag.msg);
	cr_assert_not_null(strstr(diag.msg, "cache_dir"));
	apply_bad("uid");
	cr_assert_not_null(strstr(diag.msg, "needs a value"), "%s", diag.msg);
	apply_bad("concurrency");
	cr_assert_not_null(strstr(diag.msg, "needs a value"), "%s", diag.msg);
}

Test(options, bad_typed_value)
{
	apply_bad("attr_timeout=abc");
	cr_assert_not_null(strstr(diag.msg, "attr_timeout"), "%s", diag.msg);
	cr_assert_float_eq(fx_config_float(cfg, "mount.attr_timeout"), 10.0, 1e-12);
	apply_bad("concurrency=many");
	apply_bad("cache_size=lots");
}

Test(options, out_of_range)
{
	apply_bad("concurrency=0");
	cr_assert_not_null(strstr(diag.msg, "out of range"), "%s", diag.msg);
	cr_assert_eq(fx_config_int(cfg, "io.concurrency"), 32, "unchanged");
	apply_bad("concurrency=1025");
	apply_bad("attr_timeout=-1");
	apply_bad("attr_timeout=86401");
	apply_ok("attr_timeout=86400,concurrency=1024");
}

Test(options, error_stops_at_first_bad_option)
{
	apply_bad("uid=1,bogus_opt,gid=2");
	cr_assert_not_null(strstr(diag.msg, "bogus_opt"), "%s", diag.msg);
	cr_assert_eq(fx_config_source(cfg, "mount.gid"), FX_SRC_DEFAULT,
		     "options after the bad one are not applied");
}

/* --------------------------------------------------------------- resolve */

Test(options, resolve_defaults)
{
	struct fx_fs_options o;

	resolve_ok(&o);
	cr_assert_not(o.ro);
	cr_assert_not(o.allow_other);
	cr_assert_not(o.default_permissions);
	cr_assert_eq(o.uid, getuid());
	cr_assert_eq(o.gid, getgid());
	cr_assert_eq(o.umask, 022);
	cr_assert_float_eq(o.attr_timeout, 10.0, 1e-12);
	cr_assert_float_eq(o.entry_timeout, 10.0, 1e-12);
	cr_assert_float_eq(o.negative_timeout, 1.0, 1e-12);
}

Test(options, resolve_numeric_ids)
{
	struct fx_fs_options o;

	apply_ok("uid=1000,gid=2000,ro,allow_other,default_permissions");
	resolve_ok(&o);
	cr_assert_eq(o.uid, 1000);
	cr_assert_eq(o.gid, 2000);
	cr_assert(o.ro);
	cr_assert(o.allow_other);
	cr_assert(o.default_permissions);
	apply_ok("uid=0,gid=0");
	resolve_ok(&o);
	cr_assert_eq(o.uid, 0);
	cr_assert_eq(o.gid, 0);
	apply_ok("uid=4294967294");
	resolve_ok(&o);
	cr_assert_eq(o.uid, 4294967294u);
}

Test(options, resolve_names)
{
	struct fx_fs_options o;

	apply_ok("uid=1234,gid=1234");
	resolve_ok(&o);
	apply_ok("uid=root,gid=root");
	resolve_ok(&o);
	cr_assert_eq(o.uid, 0, "root is uid 0");
	cr_assert_eq(o.gid, 0, "root is gid 0");
}

Test(options, resolve_bad_uid)
{
	apply_ok("uid=no_such_user_fx_test");
	resolve_bad();
	cr_assert_not_null(strstr(diag.msg, "no_such_user_fx_test"), "%s", diag.msg);
	apply_ok("uid=-1");
	resolve_bad();
	apply_ok("uid=4294967295"); /* (uid_t)-1 means "no change" to chown */
	resolve_bad();
	apply_ok("uid=");
	resolve_bad();
}

Test(options, resolve_bad_gid)
{
	apply_ok("gid=no_such_group_fx_test");
	resolve_bad();
	cr_assert_not_null(strstr(diag.msg, "no_such_group_fx_test"), "%s", diag.msg);
	apply_ok("gid=12abc");
	resolve_bad();
}

Test(options, resolve_umask)
{
	static const struct {
		const char *text;
		mode_t want;
	} good[] = { { "027", 027 }, { "0", 0 }, { "000", 0 }, { "777", 0777 }, { "0777", 0777 },
		     { "22", 022 }, { "077", 077 } };
	static const char *const bad[] = { "999", "abc", "", "8", "1000", "-1", "0x1f", "27a",
					   NULL };
	char opt[64];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct fx_fs_options o;

		snprintf(opt, sizeof(opt), "umask=%s", good[i].text);
		apply_ok(opt);
		resolve_ok(&o);
		cr_assert_eq(o.umask, good[i].want, "umask '%s' gave %o", good[i].text, o.umask);
	}
	for (const char *const *p = bad; *p; p++) {
		snprintf(opt, sizeof(opt), "umask=%s", *p);
		apply_ok(opt);
		resolve_bad();
		cr_assert_not_null(strstr(diag.msg, "umask"), "'%s': %s", *p, diag.msg);
	}
}

Test(options, resolve_timeouts)
{
	struct fx_fs_options o;

	apply_ok("attr_timeout=2.5,entry_timeout=0,negative_timeout=86400");
	resolve_ok(&o);
	cr_assert_float_eq(o.attr_timeout, 2.5, 1e-12);
	cr_assert_float_eq(o.entry_timeout, 0.0, 1e-12);
	cr_assert_float_eq(o.negative_timeout, 86400.0, 1e-12);
	apply_ok("attr_timeout=0.001");
	resolve_ok(&o);
	cr_assert_float_eq(o.attr_timeout, 0.001, 1e-12);
}

/* ----------------------------------------------------------------- noise */

Test(options, is_noise)
{
	static const char *const noise[] = { "defaults", "_netdev", "nofail", "noauto", "auto",
					      "user", "users", "nouser", "noatime", "relatime",
					      "nodev", "nosuid", "exec", "noexec",
					      "x-systemd.automount", "x-gvfs-show", "x-",
					      "comment=foo", "comment=", NULL };
	static const char *const real[] = { "ro", "rw", "no_ro", "uid=1", "allow_other",
					    "cache_dir=/x", "", "default", "defaultsx", "comment",
					    "x", "xsystemd", "nofail2", "_netdev=1", NULL };

	for (const char *const *p = noise; *p; p++)
		cr_assert(fx_options_is_noise(*p), "'%s' is fstab noise", *p);
	for (const char *const *p = real; *p; p++)
		cr_assert_not(fx_options_is_noise(*p), "'%s' is not noise", *p);
}
