/*
 * fuzz_config.c - libFuzzer harness for the rustfx.toml reader
 * (core/config.c: fx_config_load_file, fx_config_print).
 *
 * Input: the text of a rustfx.toml. The harness appends
 *   [s3]
 *   secret_access_key = "<a sentinel>"
 * so every run also carries a secret (the file may set it before: "set
 * twice"). The schema is the mount's own (core, s3, cache, mount tables)
 * plus a [fuzz] table of unbounded integer, number and size settings, so the
 * number parsers meet their full range.
 * Invariants checked:
 *  - the result is 0, -FX_EBADCONF or -ENOMEM; the diagnostic is set (with a
 *    message) exactly when it failed, with the same code;
 *  - the secret never appears in a diagnostic (message or hint) nor in the
 *    TOML or JSON printout; after success it reads back as the sentinel;
 *  - what `config print` writes reads back: the printout (less the secret's
 *    "(hidden)" line, which is refused by design) loads without error into
 *    a fresh configuration, and every setting then has the same value;
 *  - the JSON printout succeeds, or fails only with -EILSEQ (a string that
 *    is not UTF-8).
 * Does not own: the reader.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>

#include "backends/s3.h"
#include "cache/cache.h"
#include "core/config.h"
#include "fs/options.h"
#include "tests/fuzz/fuzz.h"

#define FX_SENTINEL "Qz7sentinelSECRETvalue41"

static const struct fx_conf_key fx_fuzz_keys[] = {
    {"fuzz", "int", FX_CONF_INT, "0", 1, 0, NULL, NULL, "an unbounded integer"},
    {"fuzz", "num", FX_CONF_FLOAT, "0", 1, 0, NULL, NULL, "an unbounded number"},
    {"fuzz", "size", FX_CONF_SIZE, "0", 1, 0, NULL, NULL, "an unbounded size"},
    {NULL, NULL, 0, NULL, 0, 0, NULL, NULL, NULL},
};

static const struct fx_conf_key *const fx_tables[] = {
    fx_core_conf_keys,
#ifdef RUSTFX_S3
    fx_s3_conf_keys,
#endif
    fx_cache_conf_keys, fx_fs_conf_keys, fx_fuzz_keys, NULL,
};

/* Load @n bytes of @text as a rustfx.toml into @cfg. */
static int fx_load(struct fx_config *cfg, const char *text, size_t n, struct fx_diag *d)
{
	char path[64];
	int fd = fx_fuzz_memfile(text, n, path, sizeof(path)), rc;

	memset(d, 0, sizeof(*d));
	rc = fx_config_load_file(cfg, path, d);
	close(fd);
	return rc;
}

/* The printout of @cfg, as TOML or JSON, into @out. @return print's result. */
static int fx_print(const struct fx_config *cfg, bool json, struct fx_fuzz_buf *out)
{
	char *p = NULL;
	size_t n = 0;
	FILE *f = fx_fuzz_must(open_memstream(&p, &n));
	int rc = fx_config_print(cfg, f, json);

	fclose(f);
	fx_fuzz_put(out, p, n);
	free(p);
	return rc;
}

struct fx_cmp {
	const struct fx_config *a, *b;
};

/* Same value of @k in both configurations (secrets aside). */
static void fx_same(void *arg, const struct fx_conf_key *k)
{
	const struct fx_cmp *c = arg;
	char dotted[128];
	const char *x, *y;

	snprintf(dotted, sizeof(dotted), "%s.%s", k->section, k->name);
	switch (k->type) {
	case FX_CONF_STRING:
	case FX_CONF_ENUM:
		x = fx_config_str(c->a, dotted);
		y = fx_config_str(c->b, dotted);
		FX_FUZZ_CHECK((!x && !y) || (x && y && !strcmp(x, y)),
			      "%s: '%s' printed and read back as '%s'", dotted, x ? x : "(unset)",
			      y ? y : "(unset)");
		break;
	case FX_CONF_INT:
		FX_FUZZ_CHECK(fx_config_int(c->a, dotted) == fx_config_int(c->b, dotted),
			      "%s: %" PRId64 " read back as %" PRId64, dotted,
			      fx_config_int(c->a, dotted), fx_config_int(c->b, dotted));
		break;
	case FX_CONF_FLOAT:
		FX_FUZZ_CHECK(fx_config_float(c->a, dotted) == fx_config_float(c->b, dotted),
			      "%s: %.17g read back as %.17g", dotted, fx_config_float(c->a, dotted),
			      fx_config_float(c->b, dotted));
		break;
	case FX_CONF_BOOL:
		FX_FUZZ_CHECK(fx_config_bool(c->a, dotted) == fx_config_bool(c->b, dotted),
			      "%s: bool read back different", dotted);
		break;
	case FX_CONF_SIZE:
		FX_FUZZ_CHECK(fx_config_size(c->a, dotted) == fx_config_size(c->b, dotted),
			      "%s: %" PRIu64 " read back as %" PRIu64, dotted,
			      fx_config_size(c->a, dotted), fx_config_size(c->b, dotted));
		break;
	case FX_CONF_SECRET:
		break;
	}
}

/* Names of the secret settings, to drop their "(hidden)" lines. */
static void fx_secret_name(void *arg, const struct fx_conf_key *k)
{
	struct fx_fuzz_buf *names = arg;

	if (k->type == FX_CONF_SECRET)
		fx_fuzz_printf(names, "%s = \n", k->name);
}

/* @text without the lines that start with a secret's "NAME = ". */
static void fx_drop_secrets(const struct fx_config *cfg, const char *text, struct fx_fuzz_buf *out)
{
	struct fx_fuzz_buf names = {0};
	const char *line, *nl, *n, *e;

	fx_config_each_key(cfg, fx_secret_name, &names);
	for (line = text; *line; line = nl) {
		bool secret = false;

		nl = strchrnul(line, '\n');
		if (*nl)
			nl++;
		for (n = names.p; n && *n; n = e + 1) {
			e = strchr(n, '\n');
			if (!strncmp(line, n, (size_t)(e - n)))
				secret = true;
		}
		if (!secret)
			fx_fuzz_put(out, line, (size_t)(nl - line));
	}
	fx_fuzz_buf_free(&names);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char tail[] = "\n[s3]\nsecret_access_key = \"" FX_SENTINEL "\"\n";
	struct fx_fuzz_buf text = {0}, toml = {0}, json = {0}, again = {0};
	struct fx_config *cfg, *cfg2;
	struct fx_diag d, d2;
	bool has_s3 = false;
	int rc;

	/* The file may name the sentinel itself; then a leak cannot be told. */
	if (memmem(data, size, FX_SENTINEL, sizeof(FX_SENTINEL) - 1))
		return 0;
	cfg = fx_fuzz_must(fx_config_new(fx_tables));
	fx_fuzz_put(&text, data, size);
#ifdef RUSTFX_S3
	has_s3 = true;
	fx_fuzz_put(&text, tail, sizeof(tail) - 1);
#endif
	rc = fx_load(cfg, text.p, text.len, &d);
	FX_FUZZ_CHECK(rc == 0 || rc == -FX_EBADCONF || rc == -ENOMEM, "load returned %d", rc);
	if (rc) {
		FX_FUZZ_CHECK(d.err == rc && d.msg[0], "failed (%d) with diagnostic %d '%s'", rc,
			      d.err, d.msg);
	} else {
		FX_FUZZ_CHECK(d.err == 0, "succeeded with a diagnostic: %s", d.msg);
	}
	FX_FUZZ_CHECK(!strstr(d.msg, FX_SENTINEL) && !strstr(d.hint, FX_SENTINEL),
		      "the secret is in a diagnostic: %s / %s", d.msg, d.hint);
	if (rc)
		goto out;
#ifdef RUSTFX_S3
	{
		const char *s = fx_config_secret(cfg, "s3.secret_access_key");

		FX_FUZZ_CHECK(s && !strcmp(s, FX_SENTINEL), "the secret read back wrong");
	}
#endif
	(void)has_s3;

	rc = fx_print(cfg, false, &toml);
	FX_FUZZ_CHECK(rc == 0, "print: %d", rc);
	FX_FUZZ_CHECK(!strstr(toml.p, FX_SENTINEL), "the secret is in the printout:\n%s", toml.p);
	rc = fx_print(cfg, true, &json);
	FX_FUZZ_CHECK(rc == 0 || rc == -EILSEQ, "JSON print: %d", rc);
	FX_FUZZ_CHECK(!json.p || !strstr(json.p, FX_SENTINEL), "the secret is in the JSON");

	/* What print wrote reads back to the same settings. */
	fx_drop_secrets(cfg, toml.p, &again);
	cfg2 = fx_fuzz_must(fx_config_new(fx_tables));
	rc = fx_load(cfg2, again.p ? again.p : "", again.len, &d2);
	FX_FUZZ_CHECK(rc == 0, "the printout does not load back: %s (%s)\n--- printout\n%s", d2.msg,
		      d2.hint, again.p);
	{
		struct fx_cmp c = {cfg, cfg2};

		fx_config_each_key(cfg, fx_same, &c);
	}
	fx_config_free(cfg2);
out:
	fx_config_free(cfg);
	fx_fuzz_buf_free(&text);
	fx_fuzz_buf_free(&toml);
	fx_fuzz_buf_free(&json);
	fx_fuzz_buf_free(&again);
	return 0;
}
