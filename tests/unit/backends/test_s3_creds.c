/*
 * test_s3_creds.c - the credentials chain: precedence of settings, env,
 * ~/.aws/credentials and passwd files, broken sources, and secrets never
 * appearing in a diagnostic or a source string. Each test gets a fake HOME.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/s3_creds.h"

#define SECRET_SET   "sEtTiNgSsEcReT0000000000000000000000000"
#define SECRET_ENV   "eNvSeCrEt11111111111111111111111111111111"
#define SECRET_PROF  "pRoFiLeSeCrEt222222222222222222222222222"
#define SECRET_OTHER "oThErPrOfIlE33333333333333333333333333333"
#define SECRET_PW    "pAsSwDgEnErIc444444444444444444444444444"
#define SECRET_PWB   "pAsSwDbUcKeT5555555555555555555555555555"
#define TOKEN_ENV    "eNvToKeN66666666"
#define TOKEN_PROF   "pRoFiLeToKeN7777"
#define TOKEN_SET    "sEtTiNgSToKeN8888"

static const char *const fx_secrets[] = {SECRET_SET, SECRET_ENV, SECRET_PROF, SECRET_OTHER,
					 SECRET_PW,  SECRET_PWB, TOKEN_ENV,   TOKEN_PROF, TOKEN_SET};

static char fx_home[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void home_setup(void)
{
	strcpy(fx_home, "/tmp/fx_creds.XXXXXX");
	cr_assert_not_null(mkdtemp(fx_home));
}

static void home_teardown(void)
{
	nftw(fx_home, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(s3_creds, .init = home_setup, .fini = home_teardown);

/* Write @text to HOME/@name (directories made) with @mode; return the path. */
static char *put_file(const char *name, const char *text, mode_t mode)
{
	static char path[256];
	char dir[256], *slash;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fx_home, name);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	*slash = '\0';
	mkdir(dir, 0700);
	f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
	cr_assert_eq(chmod(path, mode), 0);
	return path;
}

static void put_profile(void)
{
	put_file(".aws/credentials",
		 "# comment\n"
		 "[default]\n"
		 "aws_access_key_id = AKIAPROFILE\n"
		 "aws_secret_access_key = " SECRET_PROF "\n"
		 "aws_session_token = " TOKEN_PROF "\n"
		 "\n"
		 "[other]\r\n"
		 "aws_access_key_id=AKIAOTHER\r\n"
		 "aws_secret_access_key=" SECRET_OTHER "\r\n",
		 0600);
}

static void put_passwd(void)
{
	put_file(".passwd-s3fs",
		 "# s3fs credentials\n"
		 "\n"
		 "AKIAPWGENERIC:" SECRET_PW "\n"
		 "otherbucket:AKIAPWOTHER:" SECRET_OTHER "\n"
		 "mybucket:AKIAPWBUCKET:" SECRET_PWB "\n",
		 0600);
}

static struct fx_s3_creds_opts opts(char *const *envp)
{
	struct fx_s3_creds_opts o = {.envp = envp, .home = fx_home, .bucket = "mybucket"};

	return o;
}

/* Nothing secret in the diagnostic. */
static void no_leak(const struct fx_diag *d)
{
	size_t i;

	for (i = 0; i < sizeof(fx_secrets) / sizeof(fx_secrets[0]); i++) {
		cr_expect_null(strstr(d->msg, fx_secrets[i]), "msg leaks: %s", d->msg);
		cr_expect_null(strstr(d->hint, fx_secrets[i]), "hint leaks: %s", d->hint);
	}
}

static void no_leak_source(const struct fx_s3_creds *c)
{
	size_t i;

	for (i = 0; i < sizeof(fx_secrets) / sizeof(fx_secrets[0]); i++)
		cr_expect_null(strstr(c->source, fx_secrets[i]));
}

static int resolve(const struct fx_s3_creds_opts *o, struct fx_s3_creds **c, struct fx_diag *d)
{
	int rc;

	memset(d, 0, sizeof(*d));
	*c = NULL;
	rc = fx_s3_creds_resolve(o, c, d);
	if (rc) {
		cr_expect_null(*c);
		cr_expect_eq(d->err, rc);
		cr_expect_neq(d->msg[0], '\0');
		no_leak(d);
	} else {
		cr_assert_not_null(*c);
		no_leak_source(*c);
	}
	return rc;
}

/* ------------------------------------------------------------ precedence */

Test(s3_creds, explicit_beats_everything)
{
	char *env[] = {"AWS_ACCESS_KEY_ID=AKIAENV", "AWS_SECRET_ACCESS_KEY=" SECRET_ENV,
		       "AWS_SESSION_TOKEN=" TOKEN_ENV, NULL};
	struct fx_s3_creds_opts o = opts(env);
	struct fx_s3_creds *c;
	struct fx_diag d;

	put_profile();
	put_passwd();
	o.access_key = "AKIASET";
	o.secret_key = SECRET_SET;
	cr_assert_eq(resolve(&o, &c, &d), 0);
	cr_expect_str_eq(c->access_key, "AKIASET");
	cr_expect_str_eq(c->secret_key, SECRET_SET);
	cr_expect_null(c->session_token, "the env token goes only with env keys");
	cr_expect_not(c->anonymous);
	cr_expect_str_eq(c->source, "settings [s3] access_key_id");
	fx_s3_creds_free(c);

	o.session_token = TOKEN_SET;
	cr_assert_eq(resolve(&o, &c, &d), 0);
	cr_expect_str_eq(c->session_token, TOKEN_SET, "the explicit token goes with explicit keys");
	cr_expect_str_eq(c->source, "settings [s3] access_key_id and session_token");
	fx_s3_creds_free(c);

	/* Empty settings are unset: the environment's keys, with its token. */
	o.access_key = o.secret_key = o.session_token = "";
	cr_assert_eq(resolve(&o, &c, &d), 0);
	cr_expect_str_eq(c->access_key, "AKIAENV");
	cr_expect_str_eq(c->session_token, TOKEN_ENV);
	fx_s3_creds_free(c);
}

Test(s3_creds, explicit_half_set_is_one_error_with_hint)
{
	char *env[] = {"AWS_ACCESS_KEY_ID=AKIAENV", "AWS_SECRET_ACCESS_KEY=" SECRET_ENV, NULL};
	struct fx_s3_creds_opts o = opts(env);
	struct fx_s3_creds *c;
	struct fx_diag d;

	/* Working env keys do not paper over a half-set pair in the settings. */
	o.access_key = "AKIASET";
	cr_expect_eq(resolve(&o, &c, &d), -FX_EBADCONF);
	cr_expect_not_null(strstr(d.msg, "access_key_id is set but secret_access_key is not"), "%s",
			   d.msg);
	cr_expect_null(strchr(d.msg, '\n'), "one line: %s", d.msg);
	cr_expect_not_null(strstr(d.hint, "secret_access_key"), "%s", d.hint);
	cr_expect_not_null(strstr(d.hint, "-o"), "%s", d.hint);

	o.access_key = NULL;
	o.secret_key = SECRET_SET;
	o.session_token = TOKEN_SET;
	cr_expect_eq(resolve(&o, &c, &d), -FX_EBADCONF);
	cr_expect_not_null(strstr(d.msg, "secret_access_key is set but access_key_id is not"), "%s",
			   d.msg);

	/* A token alone would be silently dropped, or sent with keys it does not belong to. */
	o.secret_key = NULL;
	cr_expect_eq(resolve(&o, &c, &d), -FX_EBADCONF);
	cr_expect_not_null(strstr(d.msg, "session_token is set but"), "%s", d.msg);
	cr_expect_not_null(strstr(d.hint, "access_key_id"), "%s", d.hint);
}

Test(s3_creds, env_beats_profile)
{
	char *env[] = {"HOME=/nonexistent", "AWS_ACCESS_KEY_ID=AKIAENV",
		       "AWS_SECRET_ACCESS_KEY=" SECRET_ENV, "AWS_SESSION_TOKEN=" TOKEN_ENV, NULL};
	struct fx_s3_creds_opts o = opts(env);
	struct fx_s3_creds *c;
	struct fx_diag d;

	put_profile();
	put_passwd();
	cr_assert_eq(resolve(&o, &c, &d), 0);
	cr_expect_str_eq(c->access_key, "AKIAENV");
	cr_expect_str_eq(c->secret_key, SECRET_ENV);
	cr_expect_str_eq(c->session_token, TOKEN_ENV);
	cr_expect_str_eq(c->source, "env AWS_ACCESS_KEY_ID");
	fx_s3_creds_free(c);
}

Test(s3_creds, profile_beats_passwd)
{
	char *env[] = {"AWS_SESSION_TOKEN=" TOKEN_ENV, NULL};
	struct fx_s3_creds_opts o = opts(env);
	struct fx_s3_creds *c;
	struct fx_diag d;

	put_profile();
	put_passwd();
	cr_assert_eq(resolve(&o, &c, &d), 0);
	cr_expect_str_eq(c->access_key, "AKIAPROFILE");
	cr_expect_str_eq(c->secret_key, SECRET_PROF);
	cr_expect_str_eq(c->session_token, TOKEN_PROF, "the profile's token, not env's");
	cr_expect_str_eq(c->source, "profile default in ~/.aws/credentials");
	fx_s3_creds_free(c);
}

Test(s3_creds, passwd_last)
{
	char *env[] = {NULL};
	struct fx_s3_creds_opts o = opts(env);
	struct fx_s3_creds *c;
	struct fx_diag d;

	put_passwd();
	cr_assert_eq(resolve(&o, &c, &d), 0);
	cr_expect_str_eq(c->access_key, "AKIAPWBUCKET");
	cr_expect_str_eq(c->secret_key, SECRET_PWB);
	cr_expect_null(c->session_token);
	cr_expect_not_null(strstr(c->source, ".passwd-s3fs line 5"), "%s", c->source);
	fx_s3_creds_free(c);
}

Test(s3_creds, home_from_envp)
{
	char env_home[96];
	char *env[] = {env_home, NULL};
	struct fx_s3_creds_opts o = opts(env);
	struct fx_s3_creds *c;
	struct fx_diag d;

	snprintf(env_home, sizeof(env_home), "HOME=%s", fx_home);
	o.home = NULL;
	put_profile();
	cr_assert_eq(resolve(&o, &c, &d), 0);
	cr_expect_str_eq(c->access_key, "AKIAPROFILE");
	fx_s3_creds_free(c);
}

/* --------------------------------------------------------------- profiles */

Test(s3_creds, aws_profile_env_selects)
{
	char *env[] = {"AWS_PROFILE=other", NULL};
	struct fx_s3_creds_opts o = opts(env);
	struct fx_s3_creds *c;
	struct fx_diag d;

	put_profile();
	cr_assert_eq(resolve(&o, &c, &d), 0);
	cr_expect_str_eq(c->access_key, "AKIAOTHER");
	cr_expect_str_eq(c->secret_key, SECRET_OTHER);
	cr_expect_null(c->session_token);
	cr_expect_str_eq(c->source, "profile other in ~/.aws/credentials");
	fx_s3_creds_free(c);
}

Test(s3_creds, opts_profile_beats_aws_profile)
{
	char *env[] = {"AWS_PROFILE=other", NULL};
	struct fx_s3_creds_opts o = opts(env);
	struct fx_s3_creds *c;
	struct fx_diag d;

	put_profile();
	o.profile = "default";
	cr_assert_eq(resolve(&o, &c, &d), 0);
	cr_expect_str_eq(c->access_key, "AKIAPROFILE");
	fx_s3_creds_free(c);
}

Test(s3_creds, named_profile_missing)
{
	char *env[] = {"AWS_PROFILE=nope", NULL};
	struct fx_s3_creds_opts o = opts(env);
	struct fx_s3_creds *c;
	struct fx_diag d;

	put_passwd(); /* would answer, but the asked-for profile is absent */
	cr_expect_eq(resolve(&o, &c, &d), -ENOENT);
	cr_expect_not_null(strstr(d.msg, "profile nope"), "%s", d.msg);
	put_profile();
	cr_expect_eq(resolve(&o, &c, &d), -ENOENT);
	cr_expect_not_null(strstr(d.hint, "[nope]"), "%s", d.hint);
}

Test(s3_creds, profile_missing_secret)
{
	char *env[] = {NULL};
	struct fx_s3_creds_opts o = opts(env);
	struct fx_s3_creds *c;
	struct fx_diag d;

	put_file(".aws/credentials",
		 "[default]\naws_access_key_id = AKIAHALF\naws_session_token = " TOKEN_PROF "\n"
		 "[other]\naws_secret_access_key = " SECRET_OTHER "\n",
		 0600);
	put_passwd();
	cr_expect_eq(resolve(&o, &c, &d), -FX_EBADCONF);
	cr_expect_not_null(strstr(d.msg, "aws_secret_access_key"), "%s", d.msg);
	o.profile = "other";
	cr_expect_eq(resolve(&o, &c, &d), -FX_EBADCONF);
	cr_expect_not_null(strstr(d.msg, "aws_access_key_id"), "%s", d.msg);
}

Test(s3_creds, default_profile_without_keys_falls_through)
{
	char *env[] = {NULL};
	struct fx_s3_creds_opts o = opts(env);
	struct fx_s3_creds *c;
	struct fx_diag d;

	put_file(".aws/credentials", "[work]\naws_access_key_id = A\naws_secret_access_key = B\n",
		 0600);
	put_passwd();
	cr_assert_eq(resolve(&o, &c, &d), 0);
	cr_expect_str_eq(c->access_key, "AKIAPWBUCKET");
	fx_s3_creds_free(c);
}

/* Debian's libinih cuts lines at 200 bytes; STS tokens are longer. */
Test(s3_creds, long_session_token)
{
	char *env[] = {NULL};
	struct fx_s3_creds_opts o = opts(env);
	struct fx_s3_creds *c;
	struct fx_diag d;
	char text[4096], token[1601];

	memset(token, 'T', 1600);
	token[1600] = '\0';
	snprintf(text, sizeof(text),
		 "[default]\naws_access_key_id=AKIA\naws_secret_access_key=%s\n"
		 "aws_session_token=%s",
		 SECRET_PROF, token);
	put_file(".aws/credentials", text, 0600);
	cr_assert_eq(resolve(&o, &c, &d), 0);
	cr_expect_str_eq(c->session_token, token);
	fx_s3_creds_free(c);
}

/* ------------------------------------------------------------ passwd file */

Test(s3_creds, passwd_bucket_line_beats_generic)
{
	char *env[] = {NULL};
	struct fx_s3_creds_opts o = opts(env);
	struct fx_s3_creds *c;
	struct fx_diag d;

	put_passwd();
	o.bucket = "otherbucket";
	cr_assert_eq(resolve(&o, &c, &d), 0);
	cr_expect_str_eq(c->access_key, "AKIAPWOTHER");
	cr_expect_str_eq(c->secret_key, SECRET_OTHER);
	fx_s3_creds_free(c);

	o.bucket = "unlisted";
	cr_assert_eq(resolve(&o, &c, &d), 0);
	cr_expect_str_eq(c->access_key, "AKIAPWGENERIC");
	cr_expect_str_eq(c->secret_key, SECRET_PW);
	fx_s3_creds_free(c);

	o.bucket = NULL;
	cr_assert_eq(resolve(&o, &c, &d), 0);
	cr_expect_str_eq(c->access_key, "AKIAPWGENERIC");
	fx_s3_creds_free(c);
}

Test(s3_creds, passwd_readable_by_others_refused)
{
	char *env[] = {NULL};
	struct fx_s3_creds_opts o = opts(env);
	struct fx_s3_creds *c;
	struct fx_diag d;
	char want[300];
	const char *path;
	mode_t modes[] = {0644, 0640, 0620, 0604, 0602};
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		put_passwd();
		path = put_file(".passwd-s3fs", "AKIAPWGENERIC:" SECRET_PW "\n", modes[i]);
		cr_expect_eq(resolve(&o, &c, &d), -EACCES, "mode %o", (unsigned)modes[i]);
		snprintf(want, sizeof(want), "passwd file %s is readable by others", path);
		cr_expect_str_eq(d.msg, want);
		snprintf(want, sizeof(want), "chmod 600 %s", path);
		cr_expect_str_eq(d.hint, want);
	}
}

Test(s3_creds, passwd_explicit_missing)
{
	char *env[] = {NULL};
	struct fx_s3_creds_opts o = opts(env);
	struct fx_s3_creds *c;
	struct fx_diag d;

	put_passwd(); /* the default file does not stand in for the named one */
	o.passwd_file = "/nonexistent/passwd-s3fs";
	cr_expect_eq(resolve(&o, &c, &d), -ENOENT);
	cr_expect_not_null(strstr(d.msg, "/nonexistent/passwd-s3fs"), "%s", d.msg);
}

Test(s3_creds, passwd_explicit_file)
{
	char *env[] = {NULL};
	struct fx_s3_creds_opts o = opts(env);
	struct fx_s3_creds *c;
	struct fx_diag d;

	put_passwd();
	o.passwd_file = put_file("elsewhere", "  mybucket:AKIAX:" SECRET_PWB "  \r\n", 0400);
	cr_assert_eq(resolve(&o, &c, &d), 0);
	cr_expect_str_eq(c->access_key, "AKIAX");
	cr_expect_str_eq(c->secret_key, SECRET_PWB);
	fx_s3_creds_free(c);
}

Test(s3_creds, passwd_bad_lines)
{
	static const char *const bad[] = {
	    SECRET_PW "\n",	":" SECRET_PW "\n",	 "AKIA:\n", "mybucket::" SECRET_PW "\n",
	    "mybucket:AKIA:\n", "a:b:c:" SECRET_PW "\n",
	};
	char *env[] = {NULL};
	struct fx_s3_creds_opts o = opts(env);
	struct fx_s3_creds *c;
	struct fx_diag d;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[256];

		snprintf(text, sizeof(text), "# ok\nAKIAPWGENERIC:%s\n%s", SECRET_PWB, bad[i]);
		put_file(".passwd-s3fs", text, 0600);
		cr_expect_eq(resolve(&o, &c, &d), -FX_EBADCONF, "case %zu", i);
		cr_expect_not_null(strstr(d.msg, "line 3"), "%s", d.msg);
	}
}

Test(s3_creds, passwd_only_other_buckets_is_no_source)
{
	char *env[] = {NULL};
	struct fx_s3_creds_opts o = opts(env);
	struct fx_s3_creds *c;
	struct fx_diag d;

	if (access("/etc/passwd-s3fs", F_OK) == 0)
		cr_skip_test("/etc/passwd-s3fs exists on this machine");
	put_file(".passwd-s3fs", "otherbucket:AKIA:" SECRET_OTHER "\n", 0600);
	cr_expect_eq(resolve(&o, &c, &d), -EACCES);
}

/* --------------------------------------------------- anonymous and none */

Test(s3_creds, anonymous)
{
	char *env[] = {"AWS_ACCESS_KEY_ID=AKIAENV", "AWS_SECRET_ACCESS_KEY=" SECRET_ENV, NULL};
	struct fx_s3_creds_opts o = opts(env);
	struct fx_s3_creds *c;
	struct fx_diag d;

	put_profile();
	o.anonymous = true;
	cr_assert_eq(resolve(&o, &c, &d), 0);
	cr_expect(c->anonymous);
	cr_expect_null(c->access_key);
	cr_expect_null(c->secret_key);
	cr_expect_null(c->session_token);
	cr_expect_neq(c->source[0], '\0');
	fx_s3_creds_free(c);
}

Test(s3_creds, no_source)
{
	char *env[] = {"AWS_SESSION_TOKEN=" TOKEN_ENV, NULL};
	struct fx_s3_creds_opts o = opts(env);
	struct fx_s3_creds *c;
	struct fx_diag d;

	if (access("/etc/passwd-s3fs", F_OK) == 0)
		cr_skip_test("/etc/passwd-s3fs exists on this machine");
	cr_expect_eq(resolve(&o, &c, &d), -EACCES);
	cr_expect_not_null(strstr(d.hint, "access_key_id"), "%s", d.hint);
	cr_expect_not_null(strstr(d.hint, "AWS_ACCESS_KEY_ID"), "%s", d.hint);
	cr_expect_not_null(strstr(d.hint, "[default]"), "%s", d.hint);
	cr_expect_not_null(strstr(d.hint, fx_home), "%s", d.hint);
	cr_expect_not_null(strstr(d.hint, ".aws/credentials"), "%s", d.hint);
	cr_expect_not_null(strstr(d.hint, ".passwd-s3fs"), "%s", d.hint);
	cr_expect_not_null(strstr(d.hint, "/etc/passwd-s3fs"), "%s", d.hint);
}

Test(s3_creds, half_pairs_are_errors)
{
	char *env_id[] = {"AWS_ACCESS_KEY_ID=AKIAENV", NULL};
	char *env_secret[] = {"AWS_SECRET_ACCESS_KEY=" SECRET_ENV, NULL};
	char *env_none[] = {NULL};
	struct fx_s3_creds_opts o = opts(env_id);
	struct fx_s3_creds *c;
	struct fx_diag d;

	put_profile(); /* a later source does not paper over a broken one */
	cr_expect_eq(resolve(&o, &c, &d), -FX_EBADCONF);
	cr_expect_not_null(strstr(d.msg, "AWS_SECRET_ACCESS_KEY"), "%s", d.msg);
	o = opts(env_secret);
	cr_expect_eq(resolve(&o, &c, &d), -FX_EBADCONF);
	o = opts(env_none);
	o.secret_key = SECRET_SET;
	cr_expect_eq(resolve(&o, &c, &d), -FX_EBADCONF);
	cr_expect_not_null(strstr(d.msg, "access_key_id"), "%s", d.msg);
}

Test(s3_creds, free_null)
{
	fx_s3_creds_free(NULL);
}
