/*
 * secret.c - secrets in sodium_malloc'd memory (see secret.h).
 */
#include "core/secret.h"

#include <sodium.h>
#include <string.h>

char *fx_secret_dup(const char *text)
{
	size_t n = strlen(text) + 1;
	char *copy;

	/* sodium_malloc needs the page size that sodium_init() records;
	 * sodium_init() is idempotent and thread-safe. */
	if (sodium_init() < 0)
		return NULL;
	copy = sodium_malloc(n);
	if (copy)
		memcpy(copy, text, n);
	return copy;
}

void fx_secret_free(char *secret)
{
	if (!secret)
		return;
	sodium_memzero(secret, strlen(secret));
	sodium_free(secret);
}
