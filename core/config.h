/*
 * config.h - layered, typed configuration.
 *
 * Owns: the schema of every setting (each module contributes a table), the
 * layers default -> rustfx.toml -> RUSTFX_<TABLE>_<KEY> env -> flags and -o,
 * typed validation with "did you mean" hints, where each value came from,
 * and printing the resolved configuration as text or JSON. Secret settings
 * (FX_CONF_SECRET) live in sodium_malloc'd memory and are never printed or
 * echoed in a message.
 * Does not own: splitting a mount option string (fs/options.c does, then
 * calls fx_config_set()), or acting on the values.
 *
 * Not thread-safe while being loaded; read-only (and so shareable) after.
 */
#ifndef FX_CORE_CONFIG_H
#define FX_CORE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error.h"

enum fx_conf_type {
	FX_CONF_STRING,
	FX_CONF_INT,   /* signed 64-bit integer, bounded by min/max */
	FX_CONF_FLOAT, /* double, bounded by min/max */
	FX_CONF_BOOL,  /* true/false (also 1/0, yes/no, on/off in env and -o) */
	FX_CONF_SIZE,  /* bytes: integer or "512K", "64M", "10G", "1T" (powers of 1024) */
	FX_CONF_ENUM,  /* one of choices[] */
	FX_CONF_SECRET, /* text like STRING, but held in sodium_malloc'd memory, zeroed when
			 * replaced or freed; printed as "(hidden)" and never echoed in a
			 * message; read with fx_config_secret() only. Default: unset. */
};

/* What fx_config_print shows instead of a secret's value. */
#define FX_CONF_HIDDEN "(hidden)"

enum fx_conf_source {
	FX_SRC_DEFAULT = 0,
	FX_SRC_FILE,
	FX_SRC_ENV,
	FX_SRC_FLAG, /* command-line flag or -o mount option */
};

/** One setting. Tables of these are static const and end with a NULL name. */
struct fx_conf_key {
	const char *section;  /* TOML table: "log", "io", "cache", "mount" */
	const char *name;     /* key within the table: "concurrency" */
	enum fx_conf_type type;
	const char *def;      /* default as text, NULL for "unset" (strings only) */
	double min, max;      /* INT, FLOAT, SIZE bounds; ignored when min > max */
	const char *const *choices; /* ENUM: NULL-terminated */
	const char *mount_opt; /* -o name, or NULL when not a mount option */
	const char *help;     /* one line for --help and completion */
};

struct fx_config;

/**
 * A configuration over the schema tables @tables (NULL-terminated array of
 * NULL-name-terminated tables), every key at its default.
 * @return NULL only on allocation failure.
 */
struct fx_config *fx_config_new(const struct fx_conf_key *const *tables);
/** NULL is a no-op. */
void fx_config_free(struct fx_config *cfg);

/**
 * Find the configuration file: @explicit_path (from -c) if non-NULL, else
 * $RUSTFX_CONFIG, ./rustfx.toml, $XDG_CONFIG_HOME/rustfx/rustfx.toml (or
 * ~/.config/...), /etc/rustfx/rustfx.toml; the first that exists.
 * An explicit path (-c or $RUSTFX_CONFIG) that does not exist is an error.
 * @return 1 and the path in @buf, 0 when none exists, or -FX_EBADCONF with @d.
 */
int fx_config_find_file(const char *explicit_path, char *buf, size_t bufsz, struct fx_diag *d);

/**
 * Load a rustfx.toml: tables, `key = "string" | integer | float | true|false`,
 * '#' comments (also after values). Parsed with libinih.
 * Unknown tables/keys, wrong types and out-of-range values are errors naming
 * the file, line, key and accepted values, with a "did you mean" hint.
 * @return 0 or -FX_EBADCONF (first error in @d), -errno if unreadable.
 */
int fx_config_load_file(struct fx_config *cfg, const char *path, struct fx_diag *d);

/**
 * Apply RUSTFX_<TABLE>_<KEY> variables from @envp (NULL-terminated
 * "NAME=value" strings, e.g. environ). RUSTFX_CONFIG and RUSTFX_LOG are not
 * settings and are skipped; any other unknown RUSTFX_* is an error.
 * @return 0 or -FX_EBADCONF with @d.
 */
int fx_config_load_env(struct fx_config *cfg, char *const *envp, struct fx_diag *d);

/**
 * Set "section.name" to the text @value from @src; @origin describes where
 * (e.g. "-o cache_dir", "--verbose"), used in messages and print.
 * @return 0, -FX_EBADCONF for an unknown key or a bad value (with @d).
 */
int fx_config_set(struct fx_config *cfg, const char *dotted, const char *value,
		  enum fx_conf_source src, const char *origin, struct fx_diag *d);

/** Replace the default of "section.name" (e.g. a computed path); keeps the
 *  source FX_SRC_DEFAULT. Call before loading layers. @return 0 or -errno. */
int fx_config_set_default(struct fx_config *cfg, const char *dotted, const char *value);

/** The schema entry whose mount_opt is @opt, or NULL. */
const struct fx_conf_key *fx_config_mount_opt(const struct fx_config *cfg, const char *opt);
/** The closest mount option name to @opt (for "did you mean"), or NULL. */
const char *fx_config_suggest_mount_opt(const struct fx_config *cfg, const char *opt);

/* Typed getters of "section.name". Asking for an unknown key or the wrong
 * type is a programming error (assert); fx_config_str() of a secret is one.
 * Strings stay valid until cfg_free; an unset string returns NULL. */
const char *fx_config_str(const struct fx_config *cfg, const char *dotted);
int64_t fx_config_int(const struct fx_config *cfg, const char *dotted);
double fx_config_float(const struct fx_config *cfg, const char *dotted);
bool fx_config_bool(const struct fx_config *cfg, const char *dotted);
uint64_t fx_config_size(const struct fx_config *cfg, const char *dotted);
/**
 * The value of the FX_CONF_SECRET setting "section.name", or NULL when unset.
 * @note The text lives in guarded memory owned by @cfg: valid until the
 * setting is set again or fx_config_free(), which zero it. Copy it into
 * memory of the same kind (fx_secret_dup) if it must live longer; never log it.
 */
const char *fx_config_secret(const struct fx_config *cfg, const char *dotted);
/** Where the current value of "section.name" came from. */
enum fx_conf_source fx_config_source(const struct fx_config *cfg, const char *dotted);

/** Walk every key in schema order (for --help and completion). */
typedef void (*fx_conf_key_fn)(void *arg, const struct fx_conf_key *k);
void fx_config_each_key(const struct fx_config *cfg, fx_conf_key_fn fn, void *arg);

/**
 * Print the resolved configuration: TOML with a trailing comment per value
 * saying where it came from ("# default", "# file /etc/rustfx/rustfx.toml:4",
 * "# env RUSTFX_IO_CONCURRENCY", "# flag -o cache_dir"), or with @json one
 * JSON object {"section": {"key": {"value": V, "source": "...", "origin": "..."}}}.
 * A secret that is set shows as "(hidden)" (FX_CONF_HIDDEN) in both forms,
 * with its source; that placeholder is refused as a secret's value.
 * @return 0 or -errno.
 */
int fx_config_print(const struct fx_config *cfg, FILE *f, bool json);

/** Parse "10G"/"512M"/"4096" to bytes. @return 0 or -EINVAL/-ERANGE. */
int fx_parse_size(const char *text, uint64_t *out);

/** The schema of core's own sections: [log], [retry], [io], [cache]. */
extern const struct fx_conf_key fx_core_conf_keys[];

#endif
