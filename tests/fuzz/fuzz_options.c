/*
 * fuzz_options.c - libFuzzer harness for the mount-option parser
 * (fs/options.c: fx_options_apply and fx_options_resolve, over the mount's
 * whole schema as `rustfx mount -o` sees it).
 *
 * Input: one mode byte, then text (cut at the first NUL).
 *   mode % 3 == 0: the text is the -o string itself.
 *   mode % 3 == 1: the text is a value: it is escaped ("\," and "\\") and
 *                  given as cache_dir=VALUE between two other options.
 *   mode % 3 == 2: the text is the -o string, and a secret option with a
 *                  sentinel value is put before it.
 * Invariants checked:
 *  - apply returns 0, -FX_EBADOPT or -ENOMEM; the diagnostic is set (same
 *    code, a message) exactly when it fails; resolve likewise;
 *  - escaping round-trips: cache_dir reads back as exactly the text, and
 *    the options around it still apply (ro set, concurrency=7);
 *  - a secret option's value never appears in a diagnostic;
 *  - applying is deterministic: the same string on a fresh configuration
 *    gives the same result and the same `config print`.
 * Does not own: the parser.
 */
#include <errno.h>
#include <stdbool.h>

#include "backends/s3.h"
#include "cache/cache.h"
#include "core/config.h"
#include "fs/options.h"
#include "tests/fuzz/fuzz.h"

#define FX_SENTINEL "Qz7sentinelSECRETvalue41"

static const struct fx_conf_key *const fx_tables[] = {
    fx_core_conf_keys,
#ifdef RUSTFX_S3
    fx_s3_conf_keys,
#endif
    fx_cache_conf_keys, fx_fs_conf_keys, NULL,
};

static void fx_check_diag(int rc, const struct fx_diag *d, const char *what, const char *opts)
{
	FX_FUZZ_CHECK(rc == 0 || rc == -FX_EBADOPT || rc == -ENOMEM, "%s of '%s': %d", what, opts,
		      rc);
	if (rc == -FX_EBADOPT)
		FX_FUZZ_CHECK(d->err == rc && d->msg[0], "%s of '%s' failed, diagnostic %d '%s'",
			      what, opts, d->err, d->msg);
	if (rc == 0)
		FX_FUZZ_CHECK(d->err == 0, "%s of '%s' succeeded with '%s'", what, opts, d->msg);
}

/* Apply @opts to a fresh configuration; its printout goes to @print. */
static int fx_apply(const char *opts, struct fx_diag *d, struct fx_fuzz_buf *print,
		    struct fx_config **keep)
{
	struct fx_config *cfg = fx_fuzz_must(fx_config_new(fx_tables));
	struct fx_fs_options o;
	struct fx_diag rd = {0};
	char *p = NULL;
	size_t n = 0;
	FILE *f;
	int rc;

	memset(d, 0, sizeof(*d));
	rc = fx_options_apply(cfg, opts, d);
	fx_check_diag(rc, d, "apply", opts);
	if (rc == 0) {
		int rr = fx_options_resolve(cfg, &o, &rd);

		fx_check_diag(rr, &rd, "resolve", opts);
		if (rr == 0)
			FX_FUZZ_CHECK(o.umask <= 0777 && o.control_dir[0] &&
					  !strchr(o.control_dir, '/'),
				      "resolved options out of range for '%s'", opts);
	}
	f = fx_fuzz_must(open_memstream(&p, &n));
	FX_FUZZ_CHECK(fx_config_print(cfg, f, false) == 0, "print after '%s'", opts);
	fclose(f);
	fx_fuzz_put(print, p, n);
	free(p);
	if (keep)
		*keep = cfg;
	else
		fx_config_free(cfg);
	return rc;
}

/* @s with ',' and '\' escaped as the -o syntax wants. */
static void fx_escape(const char *s, struct fx_fuzz_buf *out)
{
	for (; *s; s++) {
		if (*s == ',' || *s == '\\')
			fx_fuzz_put(out, "\\", 1);
		fx_fuzz_put(out, s, 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fx_fuzz_buf opts = {0}, p1 = {0}, p2 = {0};
	struct fx_config *cfg = NULL;
	struct fx_diag d1, d2;
	char *text;
	int mode, rc1, rc2;

	if (size < 1)
		return 0;
	mode = data[0] % 3;
	text = fx_fuzz_str(data + 1, size - 1);
	if (strstr(text, FX_SENTINEL))
		goto out; /* a leak could not be told from the text itself */
	switch (mode) {
	case 0:
		fx_fuzz_put(&opts, text, strlen(text));
		break;
	case 1:
		fx_fuzz_printf(&opts, "ro,cache_dir=");
		fx_escape(text, &opts);
		fx_fuzz_printf(&opts, ",concurrency=7");
		break;
	case 2:
#ifdef RUSTFX_S3
		fx_fuzz_printf(&opts, "secret_access_key=%s,", FX_SENTINEL);
#endif
		fx_fuzz_put(&opts, text, strlen(text));
		break;
	}

	rc1 = fx_apply(opts.p, &d1, &p1, mode == 1 ? &cfg : NULL);
	FX_FUZZ_CHECK(!strstr(d1.msg, FX_SENTINEL) && !strstr(d1.hint, FX_SENTINEL),
		      "a secret is in the diagnostic: %s / %s", d1.msg, d1.hint);
	FX_FUZZ_CHECK(!strstr(p1.p, FX_SENTINEL), "a secret is in config print");
	if (mode == 1) {
		const char *dir;

		FX_FUZZ_CHECK(rc1 == 0, "'%s' (escaped '%s') refused: %s", opts.p, text, d1.msg);
		dir = fx_config_str(cfg, "cache.dir");
		FX_FUZZ_CHECK(dir && !strcmp(dir, text), "cache_dir '%s' read back as '%s'", text,
			      dir ? dir : "(unset)");
		FX_FUZZ_CHECK(fx_config_bool(cfg, "mount.ro") &&
				  fx_config_int(cfg, "io.concurrency") == 7,
			      "the options around cache_dir='%s' were lost", text);
		fx_config_free(cfg);
	}

	rc2 = fx_apply(opts.p, &d2, &p2, NULL);
	FX_FUZZ_CHECK(rc1 == rc2 && !strcmp(d1.msg, d2.msg) && fx_fuzz_buf_eq(&p1, &p2),
		      "'%s' applied twice differs", opts.p);
out:
	free(text);
	fx_fuzz_buf_free(&opts);
	fx_fuzz_buf_free(&p1);
	fx_fuzz_buf_free(&p2);
	return 0;
}
