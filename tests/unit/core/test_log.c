/* Logging: RUST_LOG-style filters, per-module levels, JSON records, log-once. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FX_LOG_MODULE "fs"
#include "core/log.h"

static char logpath[64];

static void setup(void)
{
	int fd;

	strcpy(logpath, "/tmp/fx-log-XXXXXX");
	fd = mkstemp(logpath);
	cr_assert_geq(fd, 0);
	close(fd);
}

static void teardown(void)
{
	fx_log_shutdown();
	unlink(logpath);
}

static char *slurp(void)
{
	static char buf[8192];
	FILE *f = fopen(logpath, "r");
	size_t n;

	cr_assert_not_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

TestSuite(log, .init = setup, .fini = teardown);

Test(log, filter_syntax)
{
	struct fx_diag d = { 0 };

	cr_assert_eq(fx_log_check_filter("info", NULL), 0);
	cr_assert_eq(fx_log_check_filter("fs=debug,cache=trace", NULL), 0);
	cr_assert_eq(fx_log_check_filter("warn,backend=off", NULL), 0);
	cr_assert_eq(fx_log_check_filter("", NULL), 0);
	cr_assert_eq(fx_log_check_filter("loud", &d), -FX_EBADCONF);
	cr_assert_not_null(strstr(d.msg, "loud"), "%s", d.msg);
	cr_assert_not_null(strstr(d.hint, "trace"), "%s", d.hint);
	cr_assert_eq(fx_log_check_filter("=debug", NULL), -FX_EBADCONF);
	cr_assert_eq(fx_log_check_filter("fs=verbose", NULL), -FX_EBADCONF);
}

Test(log, module_levels)
{
	cr_assert_eq(fx_log_setup("warn,fs=debug", false, FX_LOG_FILE, logpath, NULL), 0);
	cr_assert(fx_log_enabled("fs", FX_LOG_DEBUG));
	cr_assert_not(fx_log_enabled("fs", FX_LOG_TRACE));
	cr_assert(fx_log_enabled("cache", FX_LOG_WARN));
	cr_assert_not(fx_log_enabled("cache", FX_LOG_INFO));
	fx_log_bump(2); /* -vv raises the default, not explicit module rules */
	cr_assert(fx_log_enabled("cache", FX_LOG_DEBUG));
	cr_assert_not(fx_log_enabled("fs", FX_LOG_TRACE));
}

Test(log, text_record_has_level_module_and_request)
{
	cr_assert_eq(fx_log_setup("info", false, FX_LOG_FILE, logpath, NULL), 0);
	fx_log_set_request(42);
	fx_info("hello %d", 7);
	fx_debug("not shown");
	fx_log_set_request(0);
	char *text = slurp();
	cr_assert_not_null(strstr(text, "info  fs req=42: hello 7\n"), "%s", text);
	cr_assert_null(strstr(text, "not shown"));
}

Test(log, json_records_parse)
{
	json_error_t err;
	json_t *rec;

	cr_assert_eq(fx_log_setup("info", true, FX_LOG_FILE, logpath, NULL), 0);
	fx_log_set_request(9);
	fx_warn("quote \" and newline \n inside");
	fx_log_set_request(0);
	rec = json_loads(slurp(), JSON_DISABLE_EOF_CHECK, &err);
	cr_assert_not_null(rec, "%s", err.text);
	cr_assert_str_eq(json_string_value(json_object_get(rec, "level")), "warn");
	cr_assert_str_eq(json_string_value(json_object_get(rec, "module")), "fs");
	cr_assert_str_eq(json_string_value(json_object_get(rec, "msg")), "quote \" and newline \n inside");
	cr_assert_eq(json_integer_value(json_object_get(rec, "req")), 9);
	json_decref(rec);
}

Test(log, bad_logfile_is_a_diagnostic)
{
	struct fx_diag d = { 0 };

	cr_assert_lt(fx_log_setup("info", false, FX_LOG_FILE, "/nonexistent/dir/log", &d), 0);
	cr_assert_not_null(strstr(d.msg, "/nonexistent/dir/log"), "%s", d.msg);
	cr_assert_neq(d.hint[0], '\0');
}

Test(log, first_time_once_per_tag)
{
	cr_assert(fx_log_first_time("key a/../b"));
	cr_assert_not(fx_log_first_time("key a/../b"));
	cr_assert(fx_log_first_time("key a//b"));
}

Test(log, request_ids_unique)
{
	uint64_t a = fx_log_next_request(), b = fx_log_next_request();

	cr_assert_neq(a, 0);
	cr_assert_gt(b, a);
}

Test(log, control_characters_cannot_forge_lines)
{
	char *text;

	cr_assert_eq(fx_log_setup("info", false, FX_LOG_FILE, logpath, NULL), 0);
	fx_log_write("fs", FX_LOG_WARN, "hiding key '%s'", "x\nINJECTED\tline\x7f");
	fx_log_shutdown();
	text = slurp();
	cr_assert_not_null(strstr(text, "hiding key 'x\\x0aINJECTED\\x09line\\x7f'"), "got: %s", text);
	cr_assert_null(strstr(text, "\nINJECTED"), "a key's newline began a line of its own");
	cr_assert_eq(strchr(text, '\n'), text + strlen(text) - 1, "one line");
}
