/*
 * test_config.c - unit tests of core/config.c: defaults, rustfx.toml parsing,
 * env and flag layers, error messages with hints, file discovery, sizes and
 * printing; secrets kept out of every printout and message. Each test works
 * in its own temporary directory under /tmp.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"

static char tmp_dir[] = "/tmp/fx_config_XXXXXX";
static char old_cwd[PATH_MAX];
static struct fx_config *cfg;
static struct fx_diag diag;

/* An extra table with an enum, an unbounded integer and a secret, as another module would add. */
static const char *const test_modes[] = { "fast", "safe", "paranoid", NULL };
static const struct fx_conf_key test_keys[] = {
	{ "test", "mode", FX_CONF_ENUM, "safe", 1, 0, test_modes, "mode", "how careful to be" },
	{ "test", "offset", FX_CONF_INT, "0", 1, 0, NULL, NULL, "any integer" },
	{ "test", "token", FX_CONF_SECRET, NULL, 1, 0, NULL, "token", "a secret" },
	{ NULL },
};
static const struct fx_conf_key *const tables[] = { fx_core_conf_keys, test_keys, NULL };

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void setup(void)
{
	cr_assert_not_null(getcwd(old_cwd, sizeof(old_cwd)));
	cr_assert_not_null(mkdtemp(tmp_dir));
	cfg = fx_config_new(tables);
	cr_assert_not_null(cfg);
	memset(&diag, 0, sizeof(diag));
}

static void teardown(void)
{
	fx_config_free(cfg);
	if (chdir(old_cwd) != 0)
		perror("chdir");
	nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(config, .init = setup, .fini = teardown);

/* Write @text to @name in the temp dir; the path stays valid until the next call. */
static const char *write_file(const char *name, const char *text)
{
	static char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmp_dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static int load(const char *text)
{
	return fx_config_load_file(cfg, write_file("rustfx.toml", text), &diag);
}

/* Print into a string; the caller frees it. */
static char *print(bool json)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	cr_assert_not_null(f);
	cr_assert_eq(fx_config_print(cfg, f, json), 0);
	fclose(f);
	return buf;
}

Test(config, defaults)
{
	cr_expect_str_eq(fx_config_str(cfg, "log.level"), "info");
	cr_expect_not(fx_config_bool(cfg, "log.json"));
	cr_expect_null(fx_config_str(cfg, "log.file"));
	cr_expect_not(fx_config_bool(cfg, "log.syslog"));
	cr_expect_eq(fx_config_int(cfg, "retry.max_attempts"), 5);
	cr_expect_eq(fx_config_int(cfg, "retry.base_delay_ms"), 50);
	cr_expect_eq(fx_config_int(cfg, "retry.max_delay_ms"), 2000);
	cr_expect_eq(fx_config_int(cfg, "io.concurrency"), 32);
	cr_expect_float_eq(fx_config_float(cfg, "io.timeout_s"), 30.0, 1e-9);
	cr_expect_null(fx_config_str(cfg, "cache.dir"));
	cr_expect_eq(fx_config_size(cfg, "cache.size"), 10ULL << 30);
	cr_expect_str_eq(fx_config_str(cfg, "test.mode"), "safe");
	cr_expect_eq(fx_config_source(cfg, "io.concurrency"), FX_SRC_DEFAULT);
}

Test(config, every_core_key_has_help_and_mount_opt)
{
	for (const struct fx_conf_key *k = fx_core_conf_keys; k->name; k++) {
		cr_expect(k->help && *k->help, "[%s] %s has no help", k->section, k->name);
		cr_expect_not_null(k->mount_opt, "[%s] %s has no mount option", k->section,
				   k->name);
	}
}

Test(config, file_parses_every_type)
{
	int rc = load("# rustfx configuration\n"
		      "[log]\n"
		      "level = \"warn,fs=debug\"   # inline comment\n"
		      "json = true\n"
		      "file = \"/var/log/a \\\"b\\\" \\\\ c#d;e\\tf\"\n"
		      "\n"
		      "  [retry]  # indented table with a comment\n"
		      "  max_attempts = +1_0\n"
		      "base_delay_ms=250\n"
		      "[io]\n"
		      "concurrency = 64 # more\n"
		      "timeout_s = 2.5\n"
		      "[cache]\n"
		      "dir = '/srv/cache\\raw # not a comment'\n"
		      "size = \"512M\"\n"
		      "[test]\n"
		      "mode = \"paranoid\"\n"
		      "offset = -42\n");

	cr_assert_eq(rc, 0, "%s / %s", diag.msg, diag.hint);
	cr_expect_str_eq(fx_config_str(cfg, "log.level"), "warn,fs=debug");
	cr_expect(fx_config_bool(cfg, "log.json"));
	cr_expect_str_eq(fx_config_str(cfg, "log.file"), "/var/log/a \"b\" \\ c#d;e\tf");
	cr_expect_eq(fx_config_int(cfg, "retry.max_attempts"), 10);
	cr_expect_eq(fx_config_int(cfg, "retry.base_delay_ms"), 250);
	cr_expect_eq(fx_config_int(cfg, "retry.max_delay_ms"), 2000);
	cr_expect_eq(fx_config_int(cfg, "io.concurrency"), 64);
	cr_expect_float_eq(fx_config_float(cfg, "io.timeout_s"), 2.5, 1e-9);
	cr_expect_str_eq(fx_config_str(cfg, "cache.dir"), "/srv/cache\\raw # not a comment");
	cr_expect_eq(fx_config_size(cfg, "cache.size"), 512ULL << 20);
	cr_expect_str_eq(fx_config_str(cfg, "test.mode"), "paranoid");
	cr_expect_eq(fx_config_int(cfg, "test.offset"), -42);
	cr_expect_eq(fx_config_source(cfg, "io.concurrency"), FX_SRC_FILE);
	cr_expect_eq(fx_config_source(cfg, "retry.max_delay_ms"), FX_SRC_DEFAULT);
}

Test(config, file_size_as_integer_and_float_as_integer)
{
	cr_assert_eq(load("[cache]\nsize = 2_147_483_648\n[io]\ntimeout_s = 7\n"), 0, "%s",
		     diag.msg);
	cr_expect_eq(fx_config_size(cfg, "cache.size"), 2ULL << 30);
	cr_expect_float_eq(fx_config_float(cfg, "io.timeout_s"), 7.0, 1e-9);
}

Test(config, long_value_beyond_inih_line_limit)
{
	char text[1024], dir[700];

	memset(dir, 'd', sizeof(dir) - 1);
	dir[0] = '/';
	dir[sizeof(dir) - 1] = '\0';
	snprintf(text, sizeof(text), "[cache]\ndir = \"%s\"\n[io]\nconcurrency = 3\n", dir);
	cr_assert_eq(load(text), 0, "%s", diag.msg);
	cr_expect_str_eq(fx_config_str(cfg, "cache.dir"), dir);
	cr_expect_eq(fx_config_int(cfg, "io.concurrency"), 3);
}

Test(config, layers_file_env_flag)
{
	char *const envp[] = { "HOME=/root", "RUSTFX_IO_CONCURRENCY=16",
			       "RUSTFX_RETRY_MAX_ATTEMPTS=7", "RUSTFX_LOG_JSON=yes", NULL };

	cr_assert_eq(load("[io]\nconcurrency = 8\ntimeout_s = 5.0\n"), 0, "%s", diag.msg);
	cr_assert_eq(fx_config_load_env(cfg, envp, &diag), 0, "%s", diag.msg);
	cr_assert_eq(
		fx_config_set(cfg, "io.concurrency", "64", FX_SRC_FLAG, "-o concurrency", &diag), 0,
		"%s", diag.msg);

	cr_expect_eq(fx_config_int(cfg, "io.concurrency"), 64);
	cr_expect_eq(fx_config_source(cfg, "io.concurrency"), FX_SRC_FLAG);
	cr_expect_eq(fx_config_int(cfg, "retry.max_attempts"), 7);
	cr_expect_eq(fx_config_source(cfg, "retry.max_attempts"), FX_SRC_ENV);
	cr_expect(fx_config_bool(cfg, "log.json"));
	cr_expect_float_eq(fx_config_float(cfg, "io.timeout_s"), 5.0, 1e-9);
	cr_expect_eq(fx_config_source(cfg, "io.timeout_s"), FX_SRC_FILE);
	cr_expect_eq(fx_config_source(cfg, "cache.size"), FX_SRC_DEFAULT);
}

Test(config, env_and_flag_values_are_raw_text)
{
	char *const envp[] = { "RUSTFX_CACHE_DIR=/var/cache/rustfx", "RUSTFX_CACHE_SIZE=64G",
			       "RUSTFX_LOG_SYSLOG=On", NULL };

	cr_assert_eq(fx_config_load_env(cfg, envp, &diag), 0, "%s", diag.msg);
	cr_expect_str_eq(fx_config_str(cfg, "cache.dir"), "/var/cache/rustfx");
	cr_expect_eq(fx_config_size(cfg, "cache.size"), 64ULL << 30);
	cr_expect(fx_config_bool(cfg, "log.syslog"));
	cr_assert_eq(fx_config_set(cfg, "log.syslog", "0", FX_SRC_FLAG, "-o syslog", &diag), 0);
	cr_expect_not(fx_config_bool(cfg, "log.syslog"));
	cr_expect_eq(fx_config_set(cfg, "log.json", "maybe", FX_SRC_FLAG, "-o log_json", &diag),
		     -FX_EBADCONF);
	cr_expect(strstr(diag.msg, "-o log_json") && strstr(diag.msg, "not a boolean"), "%s",
		  diag.msg);
	cr_expect(strstr(diag.hint, "yes/no"), "%s", diag.hint);
}

Test(config, unknown_key_names_file_line_and_suggestion)
{
	const char *path = write_file("rustfx.toml", "# comment\n[log]\nlevel = \"info\"\n\n"
						     "[io]\n# typo below\nconcurency = 4\n");

	cr_assert_eq(fx_config_load_file(cfg, path, &diag), -FX_EBADCONF);
	cr_expect(strstr(diag.msg, path), "%s", diag.msg);
	cr_expect(strstr(diag.msg, ":7: unknown key 'concurency' in [io]"), "%s", diag.msg);
	cr_expect(strstr(diag.hint, "did you mean 'concurrency'?"), "%s", diag.hint);
	cr_expect(strstr(diag.hint, "accepted keys in [io]: concurrency, timeout_s"), "%s",
		  diag.hint);
	cr_expect_eq(diag.err, -FX_EBADCONF);
}

Test(config, unknown_key_far_from_any_lists_keys_only)
{
	cr_assert_eq(load("[cache]\nzzzzzzzz = 1\n"), -FX_EBADCONF);
	cr_expect_null(strstr(diag.hint, "did you mean"), "%s", diag.hint);
	cr_expect(strstr(diag.hint, "accepted keys in [cache]: dir, size"), "%s", diag.hint);
}

Test(config, unknown_table)
{
	cr_assert_eq(load("[log]\njson = false\n[ioo]\nconcurrency = 4\n"), -FX_EBADCONF);
	cr_expect(strstr(diag.msg, ":3: unknown table [ioo]"), "%s", diag.msg);
	cr_expect(strstr(diag.hint, "did you mean [io]?"), "%s", diag.hint);
	cr_expect(strstr(diag.hint, "log, retry, io, cache, test"), "%s", diag.hint);
}

Test(config, empty_unknown_table_is_still_an_error)
{
	cr_expect_eq(load("[nonsense]\n"), -FX_EBADCONF);
	cr_expect(strstr(diag.msg, "unknown table [nonsense]"), "%s", diag.msg);
}

Test(config, key_outside_table)
{
	cr_assert_eq(load("concurrency = 4\n"), -FX_EBADCONF);
	cr_expect(strstr(diag.msg, ":1: key 'concurrency' is outside any table"), "%s", diag.msg);
	cr_expect(strstr(diag.hint, "[io]"), "%s", diag.hint);
}

Test(config, wrong_types)
{
	cr_assert_eq(load("[io]\nconcurrency = \"32\"\n"), -FX_EBADCONF);
	cr_expect(strstr(diag.msg, ":2: [io] concurrency = \"32\" is a string, not an integer"),
		  "%s", diag.msg);
	cr_expect(strstr(diag.hint, "without quotes"), "%s", diag.hint);

	memset(&diag, 0, sizeof(diag));
	cr_assert_eq(load("[log]\njson = True\n"), -FX_EBADCONF);
	cr_expect(strstr(diag.msg, "[log] json = True is not a boolean"), "%s", diag.msg);
	cr_expect(strstr(diag.hint, "true or false"), "%s", diag.hint);

	memset(&diag, 0, sizeof(diag));
	cr_assert_eq(load("[io]\ntimeout_s = fast\n"), -FX_EBADCONF);
	cr_expect(strstr(diag.msg, "is not a number"), "%s", diag.msg);

	memset(&diag, 0, sizeof(diag));
	cr_assert_eq(load("[cache]\nsize = \"10Q\"\n"), -FX_EBADCONF);
	cr_expect(strstr(diag.msg, "[cache] size = \"10Q\" is not a size"), "%s", diag.msg);
}

Test(config, out_of_range)
{
	cr_assert_eq(load("[log]\n\n[io]\nconcurrency = 0\n"), -FX_EBADCONF);
	cr_expect(strstr(diag.msg, ":4: [io] concurrency = 0 is out of range"), "%s", diag.msg);
	cr_expect_str_eq(diag.hint, "use an integer from 1 to 1024");

	memset(&diag, 0, sizeof(diag));
	cr_assert_eq(load("[cache]\nsize = \"512K\"\n"), -FX_EBADCONF);
	cr_expect(strstr(diag.msg, "out of range"), "%s", diag.msg);
	cr_expect(strstr(diag.hint, "from 1M to 1P"), "%s", diag.hint);

	memset(&diag, 0, sizeof(diag));
	cr_assert_eq(load("[io]\ntimeout_s = 0.01\n"), -FX_EBADCONF);
	cr_expect(strstr(diag.hint, "from 0.1 to 3600"), "%s", diag.hint);

	memset(&diag, 0, sizeof(diag));
	cr_assert_eq(load("[retry]\nmax_attempts = 99999999999999999999\n"), -FX_EBADCONF);
	cr_expect(strstr(diag.msg, "out of range"), "%s", diag.msg);
}

Test(config, unquoted_string_is_a_type_error)
{
	cr_assert_eq(load("[cache]\ndir = /var/cache/rustfx  # oops\n"), -FX_EBADCONF);
	cr_expect(strstr(diag.msg, ":2: [cache] dir = /var/cache/rustfx is not a quoted string"),
		  "%s", diag.msg);
	cr_expect(strstr(diag.hint, "dir = \"/var/cache/rustfx\""), "%s", diag.hint);
}

Test(config, bad_strings)
{
	cr_assert_eq(load("[cache]\ndir = \"/a\\qb\"\n"), -FX_EBADCONF);
	cr_expect(strstr(diag.msg, "unsupported escape"), "%s", diag.msg);
	memset(&diag, 0, sizeof(diag));
	cr_assert_eq(load("[cache]\ndir = \"/abc\n"), -FX_EBADCONF);
	cr_expect(strstr(diag.msg, "no closing quote"), "%s", diag.msg);
	memset(&diag, 0, sizeof(diag));
	cr_assert_eq(load("[cache]\ndir = \"/a\" \"/b\"\n"), -FX_EBADCONF);
	cr_expect(strstr(diag.msg, "text after the closing quote"), "%s", diag.msg);
}

Test(config, bad_log_filter)
{
	cr_assert_eq(load("[log]\nlevel = \"fs=loud\"\n"), -FX_EBADCONF);
	cr_expect(strstr(diag.msg, ":2: [log] level = \"fs=loud\""), "%s", diag.msg);
	cr_expect_str_eq(fx_config_str(cfg, "log.level"), "info");
}

Test(config, enum_value_and_suggestion)
{
	cr_assert_eq(fx_config_set(cfg, "test.mode", "fast", FX_SRC_FLAG, "-o mode", &diag), 0);
	cr_expect_str_eq(fx_config_str(cfg, "test.mode"), "fast");
	cr_assert_eq(load("[test]\nmode = \"paranoia\"\n"), -FX_EBADCONF);
	cr_expect(strstr(diag.msg, "is not an accepted value"), "%s", diag.msg);
	cr_expect(strstr(diag.hint, "did you mean 'paranoid'?"), "%s", diag.hint);
	cr_expect(strstr(diag.hint, "fast, safe, paranoid"), "%s", diag.hint);
	cr_expect_str_eq(fx_config_str(cfg, "test.mode"), "fast");
}

Test(config, duplicate_key_and_syntax_error)
{
	cr_assert_eq(load("[io]\nconcurrency = 4\nconcurrency = 5\n"), -FX_EBADCONF);
	cr_expect(strstr(diag.msg, ":3: [io] concurrency is set twice (first on line 2)"), "%s",
		  diag.msg);

	memset(&diag, 0, sizeof(diag));
	cr_assert_eq(load("[io]\nconcurrency = 4\nthis is not toml\n[cache]\nbogus = 1\n"),
		     -FX_EBADCONF);
	cr_expect(strstr(diag.msg, ":3: cannot parse this line"), "%s", diag.msg);

	memset(&diag, 0, sizeof(diag));
	cr_assert_eq(load("[io]\nconcurrency: 4\n"), -FX_EBADCONF);
	cr_expect(strstr(diag.msg, ":2: cannot parse this line"), "%s", diag.msg);
}

Test(config, missing_file_is_errno)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/absent.toml", tmp_dir);
	cr_expect_eq(fx_config_load_file(cfg, path, &diag), -ENOENT);
	cr_expect(strstr(diag.msg, "absent.toml"), "%s", diag.msg);
}

Test(config, env_unknown_variable_with_suggestion)
{
	char *const envp[] = { "RUSTFX_IO_CONCURENCY=4", NULL };

	cr_assert_eq(fx_config_load_env(cfg, envp, &diag), -FX_EBADCONF);
	cr_expect_str_eq(diag.msg, "RUSTFX_IO_CONCURENCY: unknown setting");
	cr_expect_str_eq(diag.hint, "did you mean RUSTFX_IO_CONCURRENCY?");
}

Test(config, env_bad_value_names_variable)
{
	char *const envp[] = { "RUSTFX_RETRY_MAX_ATTEMPTS=0", NULL };

	cr_assert_eq(fx_config_load_env(cfg, envp, &diag), -FX_EBADCONF);
	cr_expect(strstr(diag.msg,
			 "RUSTFX_RETRY_MAX_ATTEMPTS: [retry] max_attempts = 0 is out of range"),
		  "%s", diag.msg);
	cr_expect_eq(fx_config_int(cfg, "retry.max_attempts"), 5);
}

Test(config, env_skips_config_and_log)
{
	char *const envp[] = { "RUSTFX_CONFIG=/nonexistent.toml",
			       "RUSTFX_LOG=trace",
			       "PATH=/bin",
			       "NOT_RUSTFX_X=1",
			       "RUSTFX_IO_TIMEOUT_S=1.5",
			       NULL };

	cr_assert_eq(fx_config_load_env(cfg, envp, &diag), 0, "%s", diag.msg);
	cr_expect_float_eq(fx_config_float(cfg, "io.timeout_s"), 1.5, 1e-9);
	cr_expect_str_eq(fx_config_str(cfg, "log.level"), "info");
	cr_expect_eq(diag.err, 0);
}

Test(config, flag_unknown_setting_suggests)
{
	cr_assert_eq(
		fx_config_set(cfg, "io.concurency", "4", FX_SRC_FLAG, "--io.concurency", &diag),
		-FX_EBADCONF);
	cr_expect(strstr(diag.msg, "unknown setting 'io.concurency'"), "%s", diag.msg);
	cr_expect_str_eq(diag.hint, "did you mean 'io.concurrency'?");
}

Test(config, set_default_keeps_default_source)
{
	cr_assert_eq(fx_config_set_default(cfg, "cache.dir", "/home/u/.cache/rustfx"), 0);
	cr_expect_str_eq(fx_config_str(cfg, "cache.dir"), "/home/u/.cache/rustfx");
	cr_expect_eq(fx_config_source(cfg, "cache.dir"), FX_SRC_DEFAULT);
	cr_expect_eq(fx_config_set_default(cfg, "cache.nope", "x"), -ENOENT);
	cr_expect_eq(fx_config_set_default(cfg, "io.concurrency", "lots"), -EINVAL);
	cr_assert_eq(load("[cache]\ndir = \"/srv\"\n"), 0, "%s", diag.msg);
	cr_expect_str_eq(fx_config_str(cfg, "cache.dir"), "/srv");
	cr_expect_eq(fx_config_source(cfg, "cache.dir"), FX_SRC_FILE);
}

Test(config, find_file_order)
{
	char buf[PATH_MAX], xdg[256], expect[PATH_MAX];

	cr_assert_eq(chdir(tmp_dir), 0);
	unsetenv("RUSTFX_CONFIG");
	snprintf(xdg, sizeof(xdg), "%s/xdg", tmp_dir);
	setenv("XDG_CONFIG_HOME", xdg, 1);

	if (access("/etc/rustfx/rustfx.toml", F_OK) != 0)
		cr_expect_eq(fx_config_find_file(NULL, buf, sizeof(buf), &diag), 0);

	cr_assert_eq(mkdir(xdg, 0700), 0);
	snprintf(expect, sizeof(expect), "%s/rustfx", xdg);
	cr_assert_eq(mkdir(expect, 0700), 0);
	write_file("xdg/rustfx/rustfx.toml", "");
	snprintf(expect, sizeof(expect), "%s/rustfx/rustfx.toml", xdg);
	cr_assert_eq(fx_config_find_file(NULL, buf, sizeof(buf), &diag), 1);
	cr_expect_str_eq(buf, expect);

	write_file("rustfx.toml", "");
	cr_assert_eq(fx_config_find_file(NULL, buf, sizeof(buf), &diag), 1);
	cr_expect_str_eq(buf, "./rustfx.toml");

	setenv("RUSTFX_CONFIG", write_file("from_env.toml", ""), 1);
	cr_assert_eq(fx_config_find_file(NULL, buf, sizeof(buf), &diag), 1);
	cr_expect(strstr(buf, "from_env.toml"), "%s", buf);

	cr_assert_eq(fx_config_find_file(write_file("explicit.toml", ""), buf, sizeof(buf), &diag),
		     1);
	cr_expect(strstr(buf, "explicit.toml"), "%s", buf);
	cr_expect_eq(diag.err, 0);
}

Test(config, find_file_explicit_missing_is_error)
{
	char buf[PATH_MAX];

	cr_expect_eq(fx_config_find_file("/nonexistent/rustfx.toml", buf, sizeof(buf), &diag),
		     -FX_EBADCONF);
	cr_expect(strstr(diag.msg, "/nonexistent/rustfx.toml"), "%s", diag.msg);
	cr_expect(strstr(diag.hint, "-c"), "%s", diag.hint);

	memset(&diag, 0, sizeof(diag));
	setenv("RUSTFX_CONFIG", "/nonexistent/env.toml", 1);
	cr_expect_eq(fx_config_find_file(NULL, buf, sizeof(buf), &diag), -FX_EBADCONF);
	cr_expect(strstr(diag.hint, "RUSTFX_CONFIG"), "%s", diag.hint);
}

Test(config, parse_size)
{
	uint64_t v = 0;

	cr_expect_eq(fx_parse_size("512M", &v), 0);
	cr_expect_eq(v, 512ULL << 20);
	cr_expect_eq(fx_parse_size("10G", &v), 0);
	cr_expect_eq(v, 10ULL << 30);
	cr_expect_eq(fx_parse_size("1T", &v), 0);
	cr_expect_eq(v, 1ULL << 40);
	cr_expect_eq(fx_parse_size("4096", &v), 0);
	cr_expect_eq(v, 4096);
	cr_expect_eq(fx_parse_size("64k", &v), 0);
	cr_expect_eq(v, 64ULL << 10);
	cr_expect_eq(fx_parse_size("2GiB", &v), 0);
	cr_expect_eq(v, 2ULL << 30);
	cr_expect_eq(fx_parse_size("15E", &v), 0);
	cr_expect_eq(v, 15ULL << 60);

	v = 7;
	cr_expect_eq(fx_parse_size("", &v), -EINVAL);
	cr_expect_eq(fx_parse_size("G", &v), -EINVAL);
	cr_expect_eq(fx_parse_size("-1", &v), -EINVAL);
	cr_expect_eq(fx_parse_size(" 10G", &v), -EINVAL);
	cr_expect_eq(fx_parse_size("10X", &v), -EINVAL);
	cr_expect_eq(fx_parse_size("10GG", &v), -EINVAL);
	cr_expect_eq(fx_parse_size("1.5G", &v), -EINVAL);
	cr_expect_eq(fx_parse_size("16E", &v), -ERANGE);
	cr_expect_eq(fx_parse_size("18446744073709551616", &v), -ERANGE);
	cr_expect_eq(v, 7, "output written on failure");
}

Test(config, print_text_has_sources)
{
	char *const envp[] = { "RUSTFX_IO_CONCURRENCY=16", NULL };
	const char *path =
		write_file("rustfx.toml", "[log]\nlevel = \"debug\"\n[cache]\nsize = 1048577\n");
	char line[PATH_MAX + 64], *out;

	cr_assert_eq(fx_config_load_file(cfg, path, &diag), 0, "%s", diag.msg);
	cr_assert_eq(fx_config_load_env(cfg, envp, &diag), 0, "%s", diag.msg);
	cr_assert_eq(
		fx_config_set(cfg, "cache.dir", "/c \"q\"", FX_SRC_FLAG, "-o cache_dir", &diag), 0);
	out = print(false);

	snprintf(line, sizeof(line), "level = \"debug\"  # file %s:2\n", path);
	cr_expect(strstr(out, line), "%s", out);
	cr_expect(strstr(out, "[io]\nconcurrency = 16  # env RUSTFX_IO_CONCURRENCY\n"), "%s", out);
	cr_expect(strstr(out, "timeout_s = 30.0  # default\n"), "%s", out);
	cr_expect(strstr(out, "dir = \"/c \\\"q\\\"\"  # flag -o cache_dir\n"), "%s", out);
	cr_expect(strstr(out, "size = 1048577  # file"), "%s", out);
	cr_expect(strstr(out, "# file is unset  # default\n"), "%s", out);
	cr_expect(strstr(out, "json = false  # default\n"), "%s", out);
	cr_expect(strstr(out, "mode = \"safe\"  # default\n"), "%s", out);
	free(out);
}

Test(config, print_text_reads_back)
{
	struct fx_config *again = fx_config_new(tables);
	char *out;

	cr_assert_not_null(again);
	cr_assert_eq(
		fx_config_set(cfg, "log.file", "/l\t\"x\"\\y", FX_SRC_FLAG, "-o logfile", &diag),
		0);
	cr_assert_eq(fx_config_set(cfg, "io.timeout_s", "0.1", FX_SRC_FLAG, "-o timeout", &diag),
		     0);
	cr_assert_eq(fx_config_set(cfg, "cache.size", "3G", FX_SRC_FLAG, "-o cache_size", &diag),
		     0);
	out = print(false);
	cr_assert_eq(fx_config_load_file(again, write_file("printed.toml", out), &diag), 0,
		     "%s\n%s", diag.msg, out);
	cr_expect_str_eq(fx_config_str(again, "log.file"), "/l\t\"x\"\\y");
	cr_expect(fx_config_float(again, "io.timeout_s") == 0.1);
	cr_expect_eq(fx_config_size(again, "cache.size"), 3ULL << 30);
	cr_expect_null(fx_config_str(again, "cache.dir"));
	free(out);
	fx_config_free(again);
}

Test(config, print_json_is_typed)
{
	char *const envp[] = { "RUSTFX_IO_CONCURRENCY=16", NULL };
	json_error_t err;
	json_t *root, *conc;
	char *out;

	cr_assert_eq(fx_config_load_env(cfg, envp, &diag), 0);
	out = print(true);
	root = json_loads(out, 0, &err);
	cr_assert_not_null(root, "%s: %s", err.text, out);

	cr_expect_str_eq(json_string_value(json_object_get(
				 json_object_get(json_object_get(root, "log"), "level"), "value")),
			 "info");
	conc = json_object_get(json_object_get(root, "io"), "concurrency");
	cr_expect(json_is_integer(json_object_get(conc, "value")));
	cr_expect_eq(json_integer_value(json_object_get(conc, "value")), 16);
	cr_expect_str_eq(json_string_value(json_object_get(conc, "source")), "env");
	cr_expect_str_eq(json_string_value(json_object_get(conc, "origin")),
			 "RUSTFX_IO_CONCURRENCY");

	json_t *size = json_object_get(json_object_get(root, "cache"), "size");
	cr_expect(json_is_integer(json_object_get(size, "value")));
	cr_expect_eq(json_integer_value(json_object_get(size, "value")), 10LL << 30);
	cr_expect_null(json_object_get(size, "origin"));
	cr_expect_str_eq(json_string_value(json_object_get(size, "source")), "default");
	cr_expect(json_is_null(
		json_object_get(json_object_get(json_object_get(root, "cache"), "dir"), "value")));
	cr_expect(json_is_false(
		json_object_get(json_object_get(json_object_get(root, "log"), "json"), "value")));
	cr_expect(json_is_real(json_object_get(
		json_object_get(json_object_get(root, "io"), "timeout_s"), "value")));
	json_decref(root);
	free(out);
}

static void count_key(void *arg, const struct fx_conf_key *k)
{
	int *n = arg;

	cr_expect_not_null(k->name);
	(*n)++;
}

Test(config, each_key_walks_schema)
{
	int n = 0;

	fx_config_each_key(cfg, count_key, &n);
	cr_expect_eq(n, 11 + 3);
}

Test(config, mount_opt_lookup_and_suggestion)
{
	const struct fx_conf_key *k = fx_config_mount_opt(cfg, "cache_size");

	cr_assert_not_null(k);
	cr_expect_str_eq(k->section, "cache");
	cr_expect_str_eq(k->name, "size");
	cr_expect_null(fx_config_mount_opt(cfg, "cache_sise"));
	cr_expect_null(fx_config_mount_opt(cfg, "offset"));
	cr_expect_str_eq(fx_config_suggest_mount_opt(cfg, "cache_sise"), "cache_size");
	cr_expect_str_eq(fx_config_suggest_mount_opt(cfg, "concurency"), "concurrency");
	cr_expect_str_eq(fx_config_suggest_mount_opt(cfg, "retires"), "retries");
	cr_expect_null(fx_config_suggest_mount_opt(cfg, "allow_other"));
}

/* ---------------------------------------------------------------- secrets */

#define SECRET_FILE "fIlEsEcReT0000"
#define SECRET_ENV  "eNvSeCrEt1111"
#define SECRET_FLAG "fLaGsEcReT2222"

/* Neither @text nor the diagnostic holds any of the test secrets. */
static void expect_no_secret(const char *what, const char *text)
{
	static const char *const secrets[] = { SECRET_FILE, SECRET_ENV, SECRET_FLAG, "bArEsEcReT" };

	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
		cr_expect_null(strstr(text, secrets[i]), "%s shows %s:\n%s", what, secrets[i], text);
		cr_expect_null(strstr(diag.msg, secrets[i]), "error shows it: %s", diag.msg);
		cr_expect_null(strstr(diag.hint, secrets[i]), "hint shows it: %s", diag.hint);
	}
}

/* Print as text and JSON: the secret is "(hidden)" with source @src and
 * origin @origin (NULL: none), and its value is nowhere. */
static void expect_hidden(const char *src, const char *origin)
{
	char *text = print(false), *json = print(true), line[PATH_MAX + 64];
	json_t *root, *token;
	json_error_t err;

	snprintf(line, sizeof(line), "token = \"(hidden)\"  # %s%s%s\n", src, origin ? " " : "",
		 origin ? origin : "");
	cr_expect(strstr(text, line), "want '%s' in:\n%s", line, text);
	expect_no_secret("config print", text);
	expect_no_secret("config print --json", json);
	root = json_loads(json, 0, &err);
	cr_assert_not_null(root, "%s: %s", err.text, json);
	token = json_object_get(json_object_get(root, "test"), "token");
	cr_expect_str_eq(json_string_value(json_object_get(token, "value")), "(hidden)");
	cr_expect_str_eq(json_string_value(json_object_get(token, "source")), src);
	if (origin)
		cr_expect_str_eq(json_string_value(json_object_get(token, "origin")), origin);
	json_decref(root);
	free(text);
	free(json);
}

Test(config, secret_unset_by_default)
{
	char *text = print(false), *json = print(true);
	json_t *root = json_loads(json, 0, NULL);

	cr_expect_null(fx_config_secret(cfg, "test.token"));
	cr_expect(strstr(text, "# token is unset  # default\n"), "%s", text);
	cr_assert_not_null(root);
	cr_expect(json_is_null(json_object_get(
		json_object_get(json_object_get(root, "test"), "token"), "value")));
	json_decref(root);
	free(text);
	free(json);
}

Test(config, secret_from_file_env_flag_and_hidden_in_print)
{
	char *const envp[] = { "RUSTFX_TEST_TOKEN=" SECRET_ENV, NULL };
	const char *path = write_file("rustfx.toml", "[test]\ntoken = \"" SECRET_FILE "\"\n");
	char origin[PATH_MAX + 16];

	cr_assert_eq(fx_config_load_file(cfg, path, &diag), 0, "%s", diag.msg);
	cr_expect_str_eq(fx_config_secret(cfg, "test.token"), SECRET_FILE);
	cr_expect_eq(fx_config_source(cfg, "test.token"), FX_SRC_FILE);
	snprintf(origin, sizeof(origin), "%s:2", path);
	expect_hidden("file", origin);

	cr_assert_eq(fx_config_load_env(cfg, envp, &diag), 0, "%s", diag.msg);
	cr_expect_str_eq(fx_config_secret(cfg, "test.token"), SECRET_ENV);
	cr_expect_eq(fx_config_source(cfg, "test.token"), FX_SRC_ENV);
	expect_hidden("env", "RUSTFX_TEST_TOKEN");

	cr_assert_eq(fx_config_set(cfg, "test.token", SECRET_FLAG, FX_SRC_FLAG, "-o token", &diag),
		     0, "%s", diag.msg);
	cr_expect_str_eq(fx_config_secret(cfg, "test.token"), SECRET_FLAG);
	expect_hidden("flag", "-o token");
}

Test(config, secret_errors_do_not_echo_the_value)
{
	static const char *const bad[] = {
		"[test]\ntoken = bArEsEcReT\n",			/* not quoted */
		"[test]\ntoken = \"bArEsEcReT\\q\"\n",	/* bad escape */
		"[test]\ntoken = \"bArEsEcReT\n",		/* no closing quote */
		"[test]\ntoken = \"bArEsEcReT\" x\n",	/* text after the quote */
		NULL,
	};

	for (const char *const *text = bad; *text; text++) {
		memset(&diag, 0, sizeof(diag));
		cr_expect_eq(load(*text), -FX_EBADCONF, "%s", *text);
		cr_expect(strstr(diag.msg, "[test] token = (hidden)"), "%s", diag.msg);
		expect_no_secret("error", "");
	}
	cr_expect_null(fx_config_secret(cfg, "test.token"), "nothing set by a bad line");
}

Test(config, secret_placeholder_is_refused)
{
	cr_expect_eq(load("[test]\ntoken = \"(hidden)\"\n"), -FX_EBADCONF);
	cr_expect(strstr(diag.msg, "placeholder"), "%s", diag.msg);
	memset(&diag, 0, sizeof(diag));
	cr_expect_eq(fx_config_set(cfg, "test.token", "(hidden)", FX_SRC_FLAG, "-o token", &diag),
		     -FX_EBADCONF);
	cr_expect_null(fx_config_secret(cfg, "test.token"));
}

Test(config, secret_never_in_suggestions)
{
	char *const envp[] = { "RUSTFX_TEST_TOKN=" SECRET_ENV, NULL };

	cr_expect_eq(fx_config_load_env(cfg, envp, &diag), -FX_EBADCONF);
	cr_expect_str_eq(diag.hint, "did you mean RUSTFX_TEST_TOKEN?");
	expect_no_secret("env error", "");
	memset(&diag, 0, sizeof(diag));
	cr_expect_eq(fx_config_set(cfg, "test.tokn", SECRET_FLAG, FX_SRC_FLAG, "-o tokn", &diag),
		     -FX_EBADCONF);
	cr_expect_str_eq(diag.hint, "did you mean 'test.token'?");
	expect_no_secret("flag error", "");
	cr_expect_str_eq(fx_config_suggest_mount_opt(cfg, "tokne"), "token");
}

/* Replacing a secret frees the old copy and freeing the configuration frees
 * the last; under RUSTFX_SANITIZE (ASan) a leak or double free fails here. */
Test(config, secret_replace_and_free)
{
	struct fx_config *other = fx_config_new(tables);
	char long_secret[4096];

	cr_assert_not_null(other);
	memset(long_secret, 's', sizeof(long_secret) - 1);
	long_secret[sizeof(long_secret) - 1] = '\0';
	for (int i = 0; i < 50; i++)
		cr_assert_eq(fx_config_set(other, "test.token", i % 2 ? long_secret : SECRET_FLAG,
					   FX_SRC_FLAG, "-o token", &diag),
			     0);
	cr_expect_str_eq(fx_config_secret(other, "test.token"), long_secret);
	cr_assert_eq(fx_config_set(other, "test.token", "", FX_SRC_ENV, "RUSTFX_TEST_TOKEN", &diag),
		     0);
	cr_expect_str_eq(fx_config_secret(other, "test.token"), "");
	cr_expect_eq(fx_config_set_default(other, "test.token", NULL), 0,
		     "a layer set it: the default is kept aside and freed");
	cr_expect_eq(fx_config_source(other, "test.token"), FX_SRC_ENV);
	fx_config_free(other);

	cr_assert_eq(fx_config_set_default(cfg, "test.token", SECRET_FILE), 0);
	cr_expect_str_eq(fx_config_secret(cfg, "test.token"), SECRET_FILE);
	cr_expect_eq(fx_config_source(cfg, "test.token"), FX_SRC_DEFAULT);
	/* teardown frees cfg with the secret set */
}
