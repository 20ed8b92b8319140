/*
 * config.c - layered, typed configuration (see config.h).
 *
 * Owns: core's schema (fx_core_conf_keys), reading rustfx.toml, RUSTFX_* env
 * variables and flag values into typed settings, the error messages with
 * "did you mean" hints, where each value came from, and printing; keeping
 * secret values in guarded memory and out of every message and printout.
 * Does not own: other modules' tables (fs/ contributes [mount]), splitting a
 * mount option string, or acting on the values.
 *
 * libinih splits the file into lines, tables and keys. Values are re-read from
 * the raw line because inih's INI rules are not TOML's: ';' starts an inline
 * comment, an indented line continues the previous value, and lines are cut
 * at 200 bytes. The line reader therefore keeps the raw line, hands inih a
 * left-trimmed copy (no continuations) and follows the [table] headers.
 * A file may hold a secret: the stdio buffer lives in guarded memory, and the
 * line buffers are zeroed once read.
 */
#include "core/config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ini.h>
#include <jansson.h>
#include <sodium.h>

#include "core/log.h"
#include "core/secret.h"

#define FX_SIZE_1M ((double)(1ULL << 20))
#define FX_SIZE_1P ((double)(1ULL << 50))

const struct fx_conf_key fx_core_conf_keys[] = {
	{ "log", "level", FX_CONF_STRING, "info", 1, 0, NULL, "log_level",
	  "log filter as in RUST_LOG, e.g. \"warn\" or \"info,fs=debug\"" },
	{ "log", "json", FX_CONF_BOOL, "false", 1, 0, NULL, "log_json",
	  "write log records as JSON lines" },
	{ "log", "file", FX_CONF_STRING, NULL, 1, 0, NULL, "logfile",
	  "append log records to this file instead of stderr" },
	{ "log", "syslog", FX_CONF_BOOL, "false", 1, 0, NULL, "syslog",
	  "log to syslog when daemonized and no log file is set" },
	{ "retry", "max_attempts", FX_CONF_INT, "5", 1, 100, NULL, "retries",
	  "attempts per backend request before giving up" },
	{ "retry", "base_delay_ms", FX_CONF_INT, "50", 1, 60000, NULL, "retry_base_ms",
	  "backoff before the first retry, in milliseconds" },
	{ "retry", "max_delay_ms", FX_CONF_INT, "2000", 1, 600000, NULL, "retry_max_ms",
	  "upper bound on one backoff delay, in milliseconds" },
	{ "io", "concurrency", FX_CONF_INT, "32", 1, 1024, NULL, "concurrency",
	  "backend requests in flight at once" },
	{ "io", "timeout_s", FX_CONF_FLOAT, "30", 0.1, 3600, NULL, "timeout",
	  "seconds before one backend request times out" },
	{ "cache", "dir", FX_CONF_STRING, NULL, 1, 0, NULL, "cache_dir",
	  "directory for cached blocks and metadata" },
	{ "cache", "size", FX_CONF_SIZE, "10G", FX_SIZE_1M, FX_SIZE_1P, NULL, "cache_size",
	  "upper bound on the disk cache, e.g. \"512M\" or \"10G\"" },
	{ NULL },
};

static const char *const fx_conf_source_names[] = { "default", "file", "env", "flag" };
static const char *const fx_conf_type_names[] = {
	[FX_CONF_STRING] = "a string", [FX_CONF_INT] = "an integer",
	[FX_CONF_FLOAT] = "a number",  [FX_CONF_BOOL] = "a boolean",
	[FX_CONF_SIZE] = "a size",     [FX_CONF_ENUM] = "an accepted value",
	[FX_CONF_SECRET] = "a secret",
};

union fx_conf_value {
	char *str;	    /* STRING: owned; NULL when unset */
	char *secret;	    /* SECRET: owned, from fx_secret_dup; NULL when unset */
	const char *choice; /* ENUM: points into key->choices */
	int64_t i;
	double f;
	bool b;
	uint64_t size;
};

/* One setting: its schema entry, current value and where that came from. */
struct fx_conf_setting {
	const struct fx_conf_key *key;
	enum fx_conf_source src;
	char *origin; /* "./rustfx.toml:7", "RUSTFX_IO_CONCURRENCY", "-o cache_dir"; NULL: default */
	union fx_conf_value v;
};

struct fx_config {
	size_t n;
	struct fx_conf_setting *settings; /* schema order */
};

/* ---- lookup and "did you mean" ---- */

static size_t fx_conf_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[128], i, j;

	if (lb >= sizeof(row) / sizeof(row[0]))
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* The closest candidate to a misspelt word, within max(2, len/3) edits. */
struct fx_conf_near {
	const char *word;
	size_t dist;	/* best so far; starts one past the acceptable distance */
	char best[128]; /* "" while nothing is close enough */
};

static void fx_conf_near_init(struct fx_conf_near *n, const char *word)
{
	size_t len = strlen(word);

	n->word = word;
	n->dist = (len / 3 > 2 ? len / 3 : 2) + 1;
	n->best[0] = '\0';
}

/* @return true when @candidate is the closest so far. */
static bool fx_conf_near_try(struct fx_conf_near *n, const char *candidate)
{
	size_t d = fx_conf_edit_distance(n->word, candidate);

	if (d >= n->dist)
		return false;
	n->dist = d;
	snprintf(n->best, sizeof(n->best), "%s", candidate);
	return true;
}

static bool fx_conf_first_of_section(const struct fx_config *cfg, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (!strcmp(cfg->settings[j].key->section, cfg->settings[i].key->section))
			return false;
	return true;
}

static struct fx_conf_setting *fx_conf_find(const struct fx_config *cfg, const char *section,
					    size_t section_len, const char *name)
{
	for (size_t i = 0; i < cfg->n; i++) {
		const struct fx_conf_key *k = cfg->settings[i].key;

		if (strlen(k->section) == section_len &&
		    !strncmp(k->section, section, section_len) && !strcmp(k->name, name))
			return &cfg->settings[i];
	}
	return NULL;
}

static struct fx_conf_setting *fx_conf_find_dotted(const struct fx_config *cfg, const char *dotted)
{
	const char *dot = strchr(dotted, '.');

	return dot ? fx_conf_find(cfg, dotted, (size_t)(dot - dotted), dot + 1) : NULL;
}

/* "a, b, c": the table names, or the keys of table @section. */
static void fx_conf_list(const struct fx_config *cfg, const char *section, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < cfg->n && used < size; i++) {
		const struct fx_conf_key *k = cfg->settings[i].key;

		if (section ? strcmp(k->section, section) != 0 : !fx_conf_first_of_section(cfg, i))
			continue;
		used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? ", " : "",
					 section ? k->name : k->section);
	}
}

static void fx_conf_env_name(const struct fx_conf_key *k, char *buf, size_t size)
{
	snprintf(buf, size, "RUSTFX_%s_%s", k->section, k->name);
	for (char *p = buf; *p; p++)
		*p = isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
}

/* ---- values ---- */

int fx_parse_size(const char *text, uint64_t *out)
{
	static const char units[] = "KMGTPE";
	const char *p = text, *unit;
	uint64_t v = 0;
	int shift = 0;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (*p && (unit = strchr(units, toupper((unsigned char)*p)))) {
		shift = 10 * (int)(unit - units + 1);
		p++;
		if (*p == 'i' && (p[1] == 'B' || p[1] == 'b'))
			p++;
	}
	if (*p == 'B' || *p == 'b')
		p++;
	if (*p)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

/* Decimal integer, optional sign, '_' allowed between digits (TOML). */
static int fx_conf_parse_int(const char *text, int64_t *out)
{
	const char *p = text;
	bool neg = false;
	uint64_t v = 0, limit;

	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; *p; p++) {
		if (*p == '_' && isdigit((unsigned char)p[-1]) && isdigit((unsigned char)p[1]))
			continue;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		if (v > (limit - (uint64_t)(*p - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = neg ? (v ? -(int64_t)(v - 1) - 1 : 0) : (int64_t)v;
	return 0;
}

static int fx_conf_parse_float(const char *text, double *out)
{
	char *end;
	double v;

	if (!*text || isspace((unsigned char)*text))
		return -EINVAL;
	errno = 0;
	v = strtod(text, &end);
	if (*end || !isfinite(v))
		return -EINVAL;
	if (errno == ERANGE)
		return -ERANGE;
	*out = v;
	return 0;
}

/* TOML booleans are lowercase true/false; env and -o also take 1/0, yes/no, on/off. */
static int fx_conf_parse_bool(const char *text, bool toml, bool *out)
{
	static const char *const yes[] = { "true", "1", "yes", "on" };
	static const char *const no[] = { "false", "0", "no", "off" };

	for (size_t i = 0; i < (toml ? 1 : 4); i++) {
		if (toml ? !strcmp(text, yes[i]) : !strcasecmp(text, yes[i])) {
			*out = true;
			return 0;
		}
		if (toml ? !strcmp(text, no[i]) : !strcasecmp(text, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* Unquote a TOML basic ("...") or literal ('...') string that is all of
 * @text. On -EINVAL @why says what is wrong. */
static int fx_conf_toml_string(const char *text, char **out, const char **why)
{
	static const char escapes[] = "\"\"\\\\n\nt\t"; /* pairs: escape letter, byte */
	char quote = text[0], *s = malloc(strlen(text)), *w = s;
	const char *p, *esc;

	if (!s)
		return -ENOMEM;
	for (p = text + 1; *p && *p != quote; p++) {
		if (quote == '\'' || *p != '\\') {
			*w++ = *p;
			continue;
		}
		esc = *++p ? strchr(escapes, *p) : NULL;
		if (!esc || (esc - escapes) % 2) {
			*why = "has an unsupported escape (use \\\" \\\\ \\n or \\t)";
			goto out_bad;
		}
		*w++ = esc[1];
	}
	if (*p != quote) {
		*why = "has no closing quote";
		goto out_bad;
	}
	if (p[1]) {
		*why = "has text after the closing quote";
		goto out_bad;
	}
	*w = '\0';
	*out = s;
	return 0;
out_bad:
	sodium_memzero(s, strlen(text)); /* the text may be a secret */
	free(s);
	return -EINVAL;
}

/* Cut a '# comment' outside quotes and the blanks around the value, in place. */
static char *fx_conf_toml_trim(char *s)
{
	char quote = 0, *p, *end;

	while (isspace((unsigned char)*s))
		s++;
	for (p = s; *p; p++) {
		if (quote == '"' && *p == '\\' && p[1])
			p++;
		else if (quote && *p == quote)
			quote = 0;
		else if (!quote && (*p == '"' || *p == '\''))
			quote = *p;
		else if (!quote && *p == '#')
			break;
	}
	*p = '\0';
	for (end = p; end > s && isspace((unsigned char)end[-1]);)
		*--end = '\0';
	return s;
}

static void fx_conf_format_size(uint64_t v, char *buf, size_t size)
{
	static const char units[] = "KMGTPE";
	int unit = 0;

	while (v && unit < 6 && v % 1024 == 0) {
		v /= 1024;
		unit++;
	}
	if (unit)
		snprintf(buf, size, "%" PRIu64 "%c", v, units[unit - 1]);
	else
		snprintf(buf, size, "%" PRIu64, v);
}

/* Shortest text that reads back as @v, always with a '.' or exponent (TOML float). */
static void fx_conf_format_float(double v, char *buf, size_t size)
{
	size_t len;

	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, size, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	len = strlen(buf);
	if (!strpbrk(buf, ".e") && len + 2 < size)
		memcpy(buf + len, ".0", 3);
}

/* The hint listing what @k accepts. */
static void fx_conf_accepted(const struct fx_conf_key *k, bool toml, char *buf, size_t size)
{
	bool bounded = k->min <= k->max;
	char lo[32], hi[32];
	const char *q = toml ? "\"" : "";
	size_t used;

	switch (k->type) {
	case FX_CONF_INT:
		snprintf(buf, size, bounded ? "use an integer from %.0f to %.0f" : "use an integer",
			 k->min, k->max);
		break;
	case FX_CONF_FLOAT:
		snprintf(buf, size, bounded ? "use a number from %g to %g" : "use a number", k->min,
			 k->max);
		break;
	case FX_CONF_SIZE:
		fx_conf_format_size((uint64_t)k->min, lo, sizeof(lo));
		fx_conf_format_size((uint64_t)k->max, hi, sizeof(hi));
		snprintf(buf, size, "use a size%s%s%s%s, e.g. %s512M%s or %s10G%s",
			 bounded ? " from " : "", bounded ? lo : "", bounded ? " to " : "",
			 bounded ? hi : "", q, q, q, q);
		break;
	case FX_CONF_BOOL:
		snprintf(buf, size, "%s",
			 toml ? "use true or false (lowercase, no quotes)"
			      : "use true/false, yes/no, on/off or 1/0");
		break;
	case FX_CONF_ENUM:
		used = (size_t)snprintf(buf, size, "use one of:");
		for (const char *const *c = k->choices; *c && used < size; c++)
			used += (size_t)snprintf(buf + used, size - used, "%s %s",
						 c == k->choices ? "" : ",", *c);
		break;
	case FX_CONF_STRING:
	case FX_CONF_SECRET:
		snprintf(buf, size, "%s", toml ? "use a quoted string" : "use any text");
		break;
	}
}

/* The one place a bad value is put into words: a secret's text never is. */
static int fx_conf_bad_value(struct fx_diag *d, const char *where, const struct fx_conf_key *k,
			     const char *text, const char *what, const char *hint)
{
	fx_diag_set(d, -FX_EBADCONF, hint, "%s: [%s] %s = %s %s", where, k->section, k->name,
		    k->type == FX_CONF_SECRET ? FX_CONF_HIDDEN : text, what);
	return -FX_EBADCONF;
}

/* [log] level is checked by the logger's own filter parser. */
static int fx_conf_check_log_filter(const struct fx_conf_key *k, const char *where,
				    const char *text, const char *filter, struct fx_diag *d)
{
	struct fx_diag sub = { 0 };
	char what[sizeof(sub.msg) + 64];

	if (strcmp(k->section, "log") || strcmp(k->name, "level") ||
	    !fx_log_check_filter(filter, &sub))
		return 0;
	snprintf(what, sizeof(what), "is not valid: %s", sub.msg);
	return fx_conf_bad_value(d, where, k, text, what,
				 sub.hint[0] ? sub.hint : "use e.g. \"info\" or \"warn,fs=debug\"");
}

/*
 * Parse @text for @k: TOML syntax when @toml (files), else raw text (env, -o).
 * Errors name @where. @out is written only on success.
 */
static int fx_conf_parse_value(const struct fx_conf_key *k, const char *text, bool toml,
			       const char *where, union fx_conf_value *out, struct fx_diag *d)
{
	bool quoted = toml && (text[0] == '"' || text[0] == '\'');
	bool bounded = k->min <= k->max;
	union fx_conf_value v = { 0 };
	const char *body = text, *why = NULL;
	char hint[256], fix[448], what[64], *unquoted = NULL;
	int rc = 0;

	fx_conf_accepted(k, toml, hint, sizeof(hint));
	if (toml && !*text)
		return fx_conf_bad_value(d, where, k, "", "has no value", hint);
	if (quoted) {
		rc = fx_conf_toml_string(text, &unquoted, &why);
		if (rc)
			return rc == -EINVAL ? fx_conf_bad_value(d, where, k, text, why, hint) : rc;
		body = unquoted;
	}
	if (toml && !quoted &&
	    (k->type == FX_CONF_STRING || k->type == FX_CONF_ENUM || k->type == FX_CONF_SECRET)) {
		snprintf(fix, sizeof(fix), "TOML strings are quoted: write %s = \"%s\"", k->name,
			 k->type == FX_CONF_SECRET ? "..." : text);
		return fx_conf_bad_value(d, where, k, text, "is not a quoted string", fix);
	}
	if (quoted &&
	    (k->type == FX_CONF_INT || k->type == FX_CONF_FLOAT || k->type == FX_CONF_BOOL)) {
		snprintf(fix, sizeof(fix), "%s, without quotes", hint);
		snprintf(what, sizeof(what), "is a string, not %s", fx_conf_type_names[k->type]);
		rc = fx_conf_bad_value(d, where, k, text, what, fix);
		goto out;
	}

	switch (k->type) {
	case FX_CONF_STRING:
		if (!unquoted && !(unquoted = strdup(body)))
			return -ENOMEM;
		v.str = unquoted;
		unquoted = NULL;
		rc = fx_conf_check_log_filter(k, where, text, v.str, d);
		if (rc)
			free(v.str);
		goto out;
	case FX_CONF_SECRET:
		/* What `config print` shows, pasted back into rustfx.toml. */
		if (!strcmp(body, FX_CONF_HIDDEN)) {
			rc = fx_conf_bad_value(d, where, k, text,
					       "is the placeholder that config print shows",
					       "put the secret itself here");
			goto out;
		}
		if (!(v.secret = fx_secret_dup(body)))
			rc = -ENOMEM;
		goto out;
	case FX_CONF_ENUM: {
		struct fx_conf_near near;

		fx_conf_near_init(&near, body);
		for (const char *const *c = k->choices; *c; c++) {
			if (!strcmp(*c, body))
				v.choice = *c;
			fx_conf_near_try(&near, *c);
		}
		if (v.choice)
			goto out;
		snprintf(fix, sizeof(fix), "%s%s%s%s", near.best[0] ? "did you mean '" : "",
			 near.best, near.best[0] ? "'? " : "", hint);
		rc = fx_conf_bad_value(d, where, k, text, "is not an accepted value", fix);
		goto out;
	}
	case FX_CONF_INT:
		rc = fx_conf_parse_int(body, &v.i);
		if (!rc && bounded && (v.i < k->min || v.i > k->max))
			rc = -ERANGE;
		break;
	case FX_CONF_FLOAT:
		rc = fx_conf_parse_float(body, &v.f);
		if (!rc && bounded && (v.f < k->min || v.f > k->max))
			rc = -ERANGE;
		break;
	case FX_CONF_BOOL:
		rc = fx_conf_parse_bool(body, toml, &v.b);
		break;
	case FX_CONF_SIZE:
		if (quoted || !toml) {
			rc = fx_parse_size(body, &v.size);
		} else {
			int64_t i = -1;

			rc = fx_conf_parse_int(body, &i);
			if (!rc && i < 0)
				rc = -EINVAL;
			v.size = (uint64_t)i;
		}
		if (!rc && bounded && ((double)v.size < k->min || (double)v.size > k->max))
			rc = -ERANGE;
		break;
	}
	if (rc == -ERANGE) {
		rc = fx_conf_bad_value(d, where, k, text, "is out of range", hint);
	} else if (rc) {
		snprintf(what, sizeof(what), "is not %s", fx_conf_type_names[k->type]);
		rc = fx_conf_bad_value(d, where, k, text, what, hint);
	}
out:
	if (unquoted) { /* the text may be a secret */
		sodium_memzero(unquoted, strlen(unquoted));
		free(unquoted);
	}
	if (!rc)
		*out = v;
	return rc;
}

/* Release what @v owns for a setting of type @type. */
static void fx_conf_value_free(enum fx_conf_type type, union fx_conf_value *v)
{
	if (type == FX_CONF_STRING)
		free(v->str);
	else if (type == FX_CONF_SECRET)
		fx_secret_free(v->secret);
}

static void fx_conf_replace(struct fx_conf_setting *s, union fx_conf_value v,
			    enum fx_conf_source src, char *origin)
{
	fx_conf_value_free(s->key->type, &s->v);
	free(s->origin);
	s->v = v;
	s->src = src;
	s->origin = origin;
}

static int fx_conf_assign(struct fx_conf_setting *s, const char *text, bool toml,
			  enum fx_conf_source src, const char *origin, struct fx_diag *d)
{
	union fx_conf_value v;
	char *o = NULL;
	int rc = fx_conf_parse_value(s->key, text, toml, origin, &v, d);

	if (rc)
		return rc;
	if (src != FX_SRC_DEFAULT && !(o = strdup(origin))) {
		fx_conf_value_free(s->key->type, &v);
		return -ENOMEM;
	}
	fx_conf_replace(s, v, src, o);
	return 0;
}

/* ---- lifecycle and layers ---- */

struct fx_config *fx_config_new(const struct fx_conf_key *const *tables)
{
	struct fx_config *cfg = calloc(1, sizeof(*cfg));
	size_t n = 0;

	if (!cfg)
		return NULL;
	for (size_t t = 0; tables[t]; t++)
		for (const struct fx_conf_key *k = tables[t]; k->name; k++)
			n++;
	cfg->settings = calloc(n ? n : 1, sizeof(*cfg->settings));
	if (!cfg->settings)
		goto out_free_cfg;
	for (size_t t = 0; tables[t]; t++) {
		for (const struct fx_conf_key *k = tables[t]; k->name; k++) {
			struct fx_conf_setting *s = &cfg->settings[cfg->n++];
			int rc = 0;

			s->key = k;
			if (k->def)
				rc = fx_conf_parse_value(k, k->def, false, "default", &s->v, NULL);
			assert(rc != -FX_EBADCONF && "schema default does not parse");
			if (rc == -ENOMEM)
				goto out_free_cfg;
		}
	}
	return cfg;
out_free_cfg:
	fx_config_free(cfg);
	return NULL;
}

void fx_config_free(struct fx_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n; i++)
		fx_conf_replace(&cfg->settings[i], (union fx_conf_value){ 0 }, FX_SRC_DEFAULT,
				NULL);
	free(cfg->settings);
	free(cfg);
}

static bool fx_conf_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static int fx_conf_found(const char *path, char *buf, size_t bufsz, struct fx_diag *d)
{
	if ((size_t)snprintf(buf, bufsz, "%s", path) < bufsz)
		return 1;
	fx_diag_set(d, -FX_EBADCONF, "move the file to a shorter path",
		    "configuration file path is too long (%s)", path);
	return -FX_EBADCONF;
}

int fx_config_find_file(const char *explicit_path, char *buf, size_t bufsz, struct fx_diag *d)
{
	const char *env = getenv("RUSTFX_CONFIG"), *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	char path[PATH_MAX] = "";

	if (explicit_path || (env && *env)) {
		const char *p = explicit_path ? explicit_path : env;

		if (fx_conf_exists(p))
			return fx_conf_found(p, buf, bufsz, d);
		fx_diag_set(d, -FX_EBADCONF,
			    explicit_path
				    ? "check the path given with -c"
				    : "check RUSTFX_CONFIG, or unset it to use the default places",
			    "cannot open configuration file %s (%s)", p, strerror(errno));
		return -FX_EBADCONF;
	}
	if (fx_conf_exists("./rustfx.toml"))
		return fx_conf_found("./rustfx.toml", buf, bufsz, d);
	if (xdg && xdg[0] == '/') /* the XDG spec ignores relative paths */
		snprintf(path, sizeof(path), "%s/rustfx/rustfx.toml", xdg);
	else if (home && *home)
		snprintf(path, sizeof(path), "%s/.config/rustfx/rustfx.toml", home);
	if (path[0] && fx_conf_exists(path))
		return fx_conf_found(path, buf, bufsz, d);
	if (fx_conf_exists("/etc/rustfx/rustfx.toml"))
		return fx_conf_found("/etc/rustfx/rustfx.toml", buf, bufsz, d);
	return 0;
}

/* State of one rustfx.toml being read by inih. */
struct fx_conf_file {
	struct fx_config *cfg;
	const char *path;
	FILE *fp;
	char *line; /* the current line as read, before inih trims it */
	size_t line_size;
	int lineno;
	const char *table; /* current [table], schema-owned; NULL before the first */
	int *set_at;	   /* line where each setting was set in this file, 0 if not */
	int err;	   /* first error, and the line it is on */
	int err_line;
	struct fx_diag diag;
};

static void fx_conf_file_fail(struct fx_conf_file *cf, int err)
{
	cf->err = err;
	cf->err_line = cf->lineno;
}

static void fx_conf_file_table(struct fx_conf_file *cf, const char *header)
{
	const char *name = header + 1, *end = strchr(header, ']');
	char list[256], hint[512], word[128];
	struct fx_conf_near near;

	if (!end)
		return; /* inih reports the syntax error */
	while (name < end && isspace((unsigned char)*name))
		name++;
	while (end > name && isspace((unsigned char)end[-1]))
		end--;
	snprintf(word, sizeof(word), "%.*s", (int)(end - name), name);
	fx_conf_near_init(&near, word);
	for (size_t i = 0; i < cf->cfg->n; i++) {
		if (!strcmp(cf->cfg->settings[i].key->section, word)) {
			cf->table = cf->cfg->settings[i].key->section;
			return;
		}
		fx_conf_near_try(&near, cf->cfg->settings[i].key->section);
	}
	fx_conf_list(cf->cfg, NULL, list, sizeof(list));
	snprintf(hint, sizeof(hint), "%s%s%stables: %s", near.best[0] ? "did you mean [" : "",
		 near.best, near.best[0] ? "]? " : "", list);
	fx_diag_set(&cf->diag, -FX_EBADCONF, hint, "%s:%d: unknown table [%s]", cf->path,
		    cf->lineno, word);
	fx_conf_file_fail(cf, -FX_EBADCONF);
}

/* inih's fgets-style reader: counts lines and keeps the raw text. */
static char *fx_conf_file_read(char *buf, int size, void *stream)
{
	struct fx_conf_file *cf = stream;
	const char *p;

	/* inih's copy of the last line goes once it is parsed; the final call
	 * (end, error) leaves nothing of the file in inih's buffer. */
	sodium_memzero(buf, (size_t)size);
	if (cf->err) /* stop at the first error */
		return NULL;
	errno = 0;
	if (getline(&cf->line, &cf->line_size, cf->fp) < 0) {
		if (ferror(cf->fp)) {
			int err = errno ? errno : EIO;

			fx_diag_set(&cf->diag, -err, NULL, "cannot read %s (%s)", cf->path,
				    strerror(err));
			fx_conf_file_fail(cf, -err);
		}
		return NULL;
	}
	cf->lineno++;
	for (p = cf->line; isspace((unsigned char)*p);)
		p++;
	if (*p == '[')
		fx_conf_file_table(cf, p);
	snprintf(buf, (size_t)size, "%s", p); /* may cut: values are re-read from cf->line */
	return buf;
}

static int fx_conf_file_key(void *user, const char *section, const char *name, const char *value)
{
	struct fx_conf_file *cf = user;
	struct fx_conf_setting *s;
	char where[PATH_MAX + 16], list[256], hint[512];
	char *key = cf->line, *eq = strchr(cf->line, '='), *end = eq;
	size_t idx;
	int rc;

	(void)section; /* cf->table, which the reader checked */
	(void)value;   /* re-read from the raw line */
	if (cf->err)
		return 0;
	snprintf(where, sizeof(where), "%s:%d", cf->path, cf->lineno);
	while (isspace((unsigned char)*key))
		key++;
	while (end && end > key && isspace((unsigned char)end[-1]))
		end--;
	if (!eq || (size_t)(end - key) != strlen(name) || strncmp(key, name, (size_t)(end - key))) {
		fx_diag_set(&cf->diag, -FX_EBADCONF, "write key = value",
			    "%s: cannot parse this line", where);
		fx_conf_file_fail(cf, -FX_EBADCONF);
		return 0;
	}
	if (!cf->table) {
		s = NULL;
		for (size_t i = 0; i < cf->cfg->n && !s; i++)
			if (!strcmp(cf->cfg->settings[i].key->name, name))
				s = &cf->cfg->settings[i];
		snprintf(hint, sizeof(hint), "put it under its table, e.g. [%s]",
			 s ? s->key->section : "log");
		fx_diag_set(&cf->diag, -FX_EBADCONF, hint, "%s: key '%s' is outside any table",
			    where, name);
		fx_conf_file_fail(cf, -FX_EBADCONF);
		return 0;
	}
	s = fx_conf_find(cf->cfg, cf->table, strlen(cf->table), name);
	if (!s) {
		struct fx_conf_near near;

		fx_conf_near_init(&near, name);
		for (size_t i = 0; i < cf->cfg->n; i++)
			if (!strcmp(cf->cfg->settings[i].key->section, cf->table))
				fx_conf_near_try(&near, cf->cfg->settings[i].key->name);
		fx_conf_list(cf->cfg, cf->table, list, sizeof(list));
		snprintf(hint, sizeof(hint), "%s%s%saccepted keys in [%s]: %s",
			 near.best[0] ? "did you mean '" : "", near.best, near.best[0] ? "'? " : "",
			 cf->table, list);
		fx_diag_set(&cf->diag, -FX_EBADCONF, hint, "%s: unknown key '%s' in [%s]", where,
			    name, cf->table);
		fx_conf_file_fail(cf, -FX_EBADCONF);
		return 0;
	}
	idx = (size_t)(s - cf->cfg->settings);
	if (cf->set_at[idx]) {
		fx_diag_set(&cf->diag, -FX_EBADCONF, "keep one of the two lines",
			    "%s: [%s] %s is set twice (first on line %d)", where, cf->table, name,
			    cf->set_at[idx]);
		fx_conf_file_fail(cf, -FX_EBADCONF);
		return 0;
	}
	rc = fx_conf_assign(s, fx_conf_toml_trim(eq + 1), true, FX_SRC_FILE, where, &cf->diag);
	if (rc) {
		fx_conf_file_fail(cf, rc);
		return 0;
	}
	cf->set_at[idx] = cf->lineno;
	return 1;
}

/* Room for a line holding a long session token without a realloc, which
 * would leave the line's first part behind in freed memory. */
#define FX_CONF_LINE_SIZE 8192

int fx_config_load_file(struct fx_config *cfg, const char *path, struct fx_diag *d)
{
	struct fx_conf_file cf = { .cfg = cfg, .path = path };
	char *stdio_buf = NULL;
	int rc;

	cf.fp = fopen(path, "r");
	if (!cf.fp) {
		rc = -errno;
		fx_diag_set(d, rc, "check the path and its permissions", "cannot read %s (%s)",
			    path, strerror(-rc));
		return rc;
	}
	rc = -ENOMEM;
	if (sodium_init() < 0 || !(stdio_buf = sodium_malloc(BUFSIZ)) ||
	    setvbuf(cf.fp, stdio_buf, _IOFBF, BUFSIZ) != 0)
		goto out_close;
	cf.line_size = FX_CONF_LINE_SIZE;
	cf.line = malloc(cf.line_size);
	cf.set_at = calloc(cfg->n ? cfg->n : 1, sizeof(*cf.set_at));
	if (!cf.line || !cf.set_at)
		goto out_free;
	rc = ini_parse_stream(fx_conf_file_read, &cf, fx_conf_file_key, &cf);
	if (rc > 0 && (!cf.err || rc < cf.err_line)) { /* inih's syntax error comes first */
		memset(&cf.diag, 0, sizeof(cf.diag));
		fx_diag_set(&cf.diag, -FX_EBADCONF, "write [table] or key = value, one per line",
			    "%s:%d: cannot parse this line", path, rc);
		cf.err = -FX_EBADCONF;
	} else if (rc < 0 && !cf.err) {
		cf.err = -ENOMEM;
	}
	rc = cf.err;
	if (rc && cf.diag.err && d && !d->err)
		*d = cf.diag;
out_free:
	if (cf.line)
		sodium_memzero(cf.line, cf.line_size);
	free(cf.line);
	free(cf.set_at);
out_close:
	fclose(cf.fp);
	if (stdio_buf) { /* fclose is done with it */
		sodium_memzero(stdio_buf, BUFSIZ);
		sodium_free(stdio_buf);
	}
	return rc;
}

static const char fx_conf_env_hint[] =
	"settings are RUSTFX_<TABLE>_<KEY>, e.g. RUSTFX_IO_CONCURRENCY;"
	" unset variables not meant for rustfx";

int fx_config_load_env(struct fx_config *cfg, char *const *envp, struct fx_diag *d)
{
	char name[128], env[128], hint[384];

	for (; *envp; envp++) {
		const char *eq = strchr(*envp, '=');
		struct fx_conf_setting *s = NULL;
		struct fx_conf_near near;
		int rc;

		if (strncmp(*envp, "RUSTFX_", 7) || !eq)
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(eq - *envp), *envp);
		if (!strcmp(name, "RUSTFX_CONFIG") || !strcmp(name, "RUSTFX_LOG"))
			continue;
		fx_conf_near_init(&near, name + 7);
		for (size_t i = 0; i < cfg->n && !s; i++) {
			fx_conf_env_name(cfg->settings[i].key, env, sizeof(env));
			if (!strcmp(env, name))
				s = &cfg->settings[i];
			fx_conf_near_try(&near, env + 7);
		}
		if (!s) {
			snprintf(hint, sizeof(hint), "did you mean RUSTFX_%s?", near.best);
			fx_diag_set(d, -FX_EBADCONF, near.best[0] ? hint : fx_conf_env_hint,
				    "%s: unknown setting", name);
			return -FX_EBADCONF;
		}
		rc = fx_conf_assign(s, eq + 1, false, FX_SRC_ENV, name, d);
		if (rc)
			return rc;
	}
	return 0;
}

int fx_config_set(struct fx_config *cfg, const char *dotted, const char *value,
		  enum fx_conf_source src, const char *origin, struct fx_diag *d)
{
	struct fx_conf_setting *s = fx_conf_find_dotted(cfg, dotted);
	const char *where = origin ? origin : dotted;
	char full[128], hint[384];
	struct fx_conf_near near;

	if (s)
		return fx_conf_assign(s, value, src == FX_SRC_FILE, src, where, d);
	fx_conf_near_init(&near, dotted);
	for (size_t i = 0; i < cfg->n; i++) {
		snprintf(full, sizeof(full), "%s.%s", cfg->settings[i].key->section,
			 cfg->settings[i].key->name);
		fx_conf_near_try(&near, full);
	}
	if (near.best[0])
		snprintf(hint, sizeof(hint), "did you mean '%s'?", near.best);
	else
		snprintf(hint, sizeof(hint), "see --help for the settings");
	fx_diag_set(d, -FX_EBADCONF, hint, "%s: unknown setting '%s'", where, dotted);
	return -FX_EBADCONF;
}

int fx_config_set_default(struct fx_config *cfg, const char *dotted, const char *value)
{
	struct fx_conf_setting *s = fx_conf_find_dotted(cfg, dotted);
	union fx_conf_value v = { 0 };
	int rc;

	if (!s)
		return -ENOENT;
	if (!value && s->key->type != FX_CONF_STRING && s->key->type != FX_CONF_SECRET)
		return -EINVAL;
	if (value) {
		rc = fx_conf_parse_value(s->key, value, false, dotted, &v, NULL);
		if (rc)
			return rc == -FX_EBADCONF ? -EINVAL : rc;
	}
	if (s->src == FX_SRC_DEFAULT) /* a layer already set it: that value wins */
		fx_conf_replace(s, v, FX_SRC_DEFAULT, NULL);
	else
		fx_conf_value_free(s->key->type, &v);
	return 0;
}

/* ---- queries ---- */

const struct fx_conf_key *fx_config_mount_opt(const struct fx_config *cfg, const char *opt)
{
	for (size_t i = 0; i < cfg->n; i++) {
		const struct fx_conf_key *k = cfg->settings[i].key;

		if (k->mount_opt && !strcmp(k->mount_opt, opt))
			return k;
	}
	return NULL;
}

const char *fx_config_suggest_mount_opt(const struct fx_config *cfg, const char *opt)
{
	const char *best = NULL;
	struct fx_conf_near near;

	fx_conf_near_init(&near, opt);
	for (size_t i = 0; i < cfg->n; i++) {
		const struct fx_conf_key *k = cfg->settings[i].key;

		if (k->mount_opt && fx_conf_near_try(&near, k->mount_opt))
			best = k->mount_opt;
	}
	return best;
}

/* The setting behind a getter; an unknown key or wrong type is a caller bug. */
static const struct fx_conf_setting *fx_conf_get(const struct fx_config *cfg, const char *dotted,
						 enum fx_conf_type type)
{
	const struct fx_conf_setting *s = fx_conf_find_dotted(cfg, dotted);
	bool ok = s && (s->key->type == type ||
			(type == FX_CONF_STRING && s->key->type == FX_CONF_ENUM));

	assert(ok && "unknown setting or wrong type");
	return ok ? s : NULL;
}

const char *fx_config_str(const struct fx_config *cfg, const char *dotted)
{
	const struct fx_conf_setting *s = fx_conf_get(cfg, dotted, FX_CONF_STRING);

	if (!s)
		return NULL;
	return s->key->type == FX_CONF_ENUM ? s->v.choice : s->v.str;
}

int64_t fx_config_int(const struct fx_config *cfg, const char *dotted)
{
	const struct fx_conf_setting *s = fx_conf_get(cfg, dotted, FX_CONF_INT);

	return s ? s->v.i : 0;
}

double fx_config_float(const struct fx_config *cfg, const char *dotted)
{
	const struct fx_conf_setting *s = fx_conf_get(cfg, dotted, FX_CONF_FLOAT);

	return s ? s->v.f : 0;
}

bool fx_config_bool(const struct fx_config *cfg, const char *dotted)
{
	const struct fx_conf_setting *s = fx_conf_get(cfg, dotted, FX_CONF_BOOL);

	return s ? s->v.b : false;
}

uint64_t fx_config_size(const struct fx_config *cfg, const char *dotted)
{
	const struct fx_conf_setting *s = fx_conf_get(cfg, dotted, FX_CONF_SIZE);

	return s ? s->v.size : 0;
}

const char *fx_config_secret(const struct fx_config *cfg, const char *dotted)
{
	const struct fx_conf_setting *s = fx_conf_get(cfg, dotted, FX_CONF_SECRET);

	return s ? s->v.secret : NULL;
}

enum fx_conf_source fx_config_source(const struct fx_config *cfg, const char *dotted)
{
	const struct fx_conf_setting *s = fx_conf_find_dotted(cfg, dotted);

	assert(s && "unknown setting");
	return s ? s->src : FX_SRC_DEFAULT;
}

void fx_config_each_key(const struct fx_config *cfg, fx_conf_key_fn fn, void *arg)
{
	for (size_t i = 0; i < cfg->n; i++)
		fn(arg, cfg->settings[i].key);
}

/* ---- printing ---- */

static void fx_conf_print_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n' || *s == '\t')
			fputs(*s == '\n' ? "\\n" : "\\t", f);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void fx_conf_print_setting(FILE *f, const struct fx_conf_setting *s)
{
	const struct fx_conf_key *k = s->key;
	char buf[64];

	if ((k->type == FX_CONF_STRING && !s->v.str) ||
	    (k->type == FX_CONF_SECRET && !s->v.secret)) {
		fprintf(f, "# %s is unset  # default\n", k->name);
		return;
	}
	fprintf(f, "%s = ", k->name);
	switch (k->type) {
	case FX_CONF_STRING:
	case FX_CONF_ENUM:
		fx_conf_print_string(f, k->type == FX_CONF_ENUM ? s->v.choice : s->v.str);
		break;
	case FX_CONF_SECRET:
		fx_conf_print_string(f, FX_CONF_HIDDEN);
		break;
	case FX_CONF_INT:
		fprintf(f, "%" PRId64, s->v.i);
		break;
	case FX_CONF_FLOAT:
		fx_conf_format_float(s->v.f, buf, sizeof(buf));
		fputs(buf, f);
		break;
	case FX_CONF_BOOL:
		fputs(s->v.b ? "true" : "false", f);
		break;
	case FX_CONF_SIZE: /* "10G" when whole units, else bytes */
		fx_conf_format_size(s->v.size, buf, sizeof(buf));
		fprintf(f, isdigit((unsigned char)buf[strlen(buf) - 1]) ? "%s" : "\"%s\"", buf);
		break;
	}
	fprintf(f, "  # %s%s%s\n", fx_conf_source_names[s->src], s->origin ? " " : "",
		s->origin ? s->origin : "");
}

static json_t *fx_conf_json_value(const struct fx_conf_setting *s)
{
	switch (s->key->type) {
	case FX_CONF_STRING:
		return s->v.str ? json_string(s->v.str) : json_null();
	case FX_CONF_ENUM:
		return json_string(s->v.choice);
	case FX_CONF_SECRET:
		return s->v.secret ? json_string(FX_CONF_HIDDEN) : json_null();
	case FX_CONF_INT:
		return json_integer(s->v.i);
	case FX_CONF_FLOAT:
		return json_real(s->v.f);
	case FX_CONF_BOOL:
		return json_boolean(s->v.b);
	case FX_CONF_SIZE:
		return s->v.size <= INT64_MAX ? json_integer((json_int_t)s->v.size)
					      : json_real((double)s->v.size);
	}
	return NULL;
}

static int fx_conf_print_json(const struct fx_config *cfg, FILE *f)
{
	json_t *root = json_object(), *table, *entry, *value;
	int rc = -ENOMEM;

	if (!root)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n; i++) {
		const struct fx_conf_setting *s = &cfg->settings[i];

		table = json_object_get(root, s->key->section);
		if (!table && json_object_set_new(root, s->key->section, table = json_object()))
			goto out_decref;
		if (json_object_set_new(table, s->key->name, entry = json_object()))
			goto out_decref;
		/* json_string() refuses bytes that are not UTF-8 (a path may hold them) */
		if (!(value = fx_conf_json_value(s))) {
			rc = s->key->type == FX_CONF_STRING ? -EILSEQ : -ENOMEM;
			goto out_decref;
		}
		if (json_object_set_new(entry, "value", value) ||
		    json_object_set_new(entry, "source",
					json_string(fx_conf_source_names[s->src])) ||
		    (s->origin && json_object_set_new(entry, "origin", json_string(s->origin))))
			goto out_decref;
	}
	rc = json_dumpf(root, f, JSON_INDENT(2)) || fputc('\n', f) == EOF ? -EIO : 0;
out_decref:
	json_decref(root);
	return rc;
}

int fx_config_print(const struct fx_config *cfg, FILE *f, bool json)
{
	if (json)
		return fx_conf_print_json(cfg, f);
	for (size_t i = 0; i < cfg->n; i++) {
		if (!fx_conf_first_of_section(cfg, i))
			continue;
		fprintf(f, "%s[%s]\n", i ? "\n" : "", cfg->settings[i].key->section);
		for (size_t j = i; j < cfg->n; j++)
			if (!strcmp(cfg->settings[j].key->section, cfg->settings[i].key->section))
				fx_conf_print_setting(f, &cfg->settings[j]);
	}
	return ferror(f) ? -EIO : 0;
}
