/*
 * key.c - object key safety check (fx_key_check, see backend.h).
 *
 * Owns: deciding whether a key can be stored and mapped onto a path without
 * escaping a backend root. Does not own: percent-encoding or any other
 * transformation of keys; a key is stored byte for byte or rejected.
 */
#include "backends/backend.h"

#include <errno.h>
#include <string.h>

int fx_key_check(const char *key)
{
	size_t total, seg;
	const char *p, *slash;

	if (!key || !*key || *key == '/')
		return -EINVAL;
	total = strlen(key);
	if (total > FX_KEY_MAX)
		return -ENAMETOOLONG;
	for (p = key; *p; p = slash + 1) {
		slash = strchr(p, '/');
		seg = slash ? (size_t)(slash - p) : strlen(p);
		/* An empty segment is only allowed as the end of "dir/". */
		if (seg == 0)
			return -EINVAL;
		if ((seg == 1 && p[0] == '.') || (seg == 2 && p[0] == '.' && p[1] == '.'))
			return -EINVAL;
		if (seg > FX_NAME_MAX)
			return -ENAMETOOLONG;
		if (!slash || !slash[1])
			break;
	}
	return 0;
}
