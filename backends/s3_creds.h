/*
 * s3_creds.h - where S3 credentials come from, and keeping them secret.
 *
 * Owns: the credentials chain (explicit settings [s3] access_key_id/
 * secret_access_key/session_token -> AWS_ACCESS_KEY_ID/
 * AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN -> ~/.aws/credentials profile ->
 * s3fs-style passwd file -> anonymous only when asked), validation of each
 * source with a one-line error and hint, and holding secrets in
 * sodium_malloc'd memory that is zeroed when freed.
 * Does not own: signing (s3_sign.c) or the settings' schema (s3.c).
 * Secrets never reach a log line or a diagnostic: messages name the source
 * (file, variable, profile), never the value.
 */
#ifndef FX_BACKENDS_S3_CREDS_H
#define FX_BACKENDS_S3_CREDS_H

#include <stdbool.h>

#include "core/error.h"

/** Where to look; every field may be NULL/false. Strings are borrowed. */
struct fx_s3_creds_opts {
	const char *access_key;    /* explicit: [s3] access_key_id (file, env or -o) */
	const char *secret_key;    /* explicit: [s3] secret_access_key; both or neither */
	const char *session_token; /* explicit: [s3] session_token; only with the two above */
	const char *profile;     /* ~/.aws/credentials section; else $AWS_PROFILE, "default" */
	const char *passwd_file; /* s3fs format; else ~/.passwd-s3fs, /etc/passwd-s3fs if present */
	bool anonymous;          /* public_bucket: sign nothing */
	const char *bucket;      /* to pick BUCKET:ACCESS:SECRET lines */
	char *const *envp;       /* environment to read (environ in production) */
	const char *home;        /* $HOME, for ~/.aws and ~/.passwd-s3fs */
};

/** Resolved credentials; all strings live in sodium_malloc memory. */
struct fx_s3_creds {
	char *access_key;    /* NULL when anonymous */
	char *secret_key;    /* NULL when anonymous */
	char *session_token; /* NULL when none */
	bool anonymous;
	char source[96];     /* e.g. "env AWS_ACCESS_KEY_ID", "profile default in ~/.aws/credentials" */
};

/**
 * Resolve credentials through the chain. The first source that has a key
 * wins; a source that exists but is broken (a passwd file readable by
 * group/other, a profile missing its secret, a line with no ':', an explicit
 * access key without its secret or the other way round, an explicit session
 * token without explicit keys) is an error, not a fall-through. An empty
 * string counts as unset. With no source and not anonymous: -EACCES with a
 * hint naming every place looked at.
 * @return 0 and *@out (free with fx_s3_creds_free), or -errno with @d filled.
 */
int fx_s3_creds_resolve(const struct fx_s3_creds_opts *o, struct fx_s3_creds **out,
			struct fx_diag *d);

/** Zero and free; NULL is a no-op. */
void fx_s3_creds_free(struct fx_s3_creds *c);

#endif
