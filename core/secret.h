/*
 * secret.h - holding a secret (an S3 secret key, a session token) in memory.
 *
 * Owns: copying a secret string into sodium_malloc'd memory (guard pages,
 * locked against swap, left out of core dumps) and wiping it on free.
 * Does not own: where secrets come from (core/config.c, backends/s3_creds.c)
 * or keeping them out of messages; each caller does that.
 */
#ifndef FX_CORE_SECRET_H
#define FX_CORE_SECRET_H

/**
 * Copy @text into guarded memory.
 * @return the copy, owned by the caller (free with fx_secret_free), or NULL
 * when there is no memory or libsodium cannot be initialised.
 * @note Thread-safe.
 */
char *fx_secret_dup(const char *text);

/** Zero and free a copy from fx_secret_dup; NULL is a no-op. */
void fx_secret_free(char *secret);

#endif
