/*
 * meta.c - user metadata pairs and object info (see backend.h).
 *
 * Owns: the fx_meta set, kept sorted by name so two sets compare and list
 * the same whatever order a backend delivers them in. Does not own: how a
 * backend stores metadata (S3 headers, xattrs, memory).
 */
#include "backends/backend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Names travel as HTTP header suffixes and xattr names: keep them tokens. */
static bool fx_meta_name_ok(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > FX_META_NAME_MAX)
		return false;
	for (; *name; name++) {
		char c = *name;

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.'))
			return false;
	}
	return true;
}

/* Values travel as HTTP header values: no line breaks. */
static bool fx_meta_value_ok(const char *value)
{
	return strlen(value) <= FX_META_VALUE_MAX && !strpbrk(value, "\r\n");
}

/* Index of @name, or of where it would be inserted (*found false). */
static size_t fx_meta_find(const struct fx_meta *m, const char *name, bool *found)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(m->kv[mid].name, name);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

const char *fx_meta_get(const struct fx_meta *m, const char *name)
{
	bool found;
	size_t i;

	if (!m || !name || !m->n)
		return NULL;
	i = fx_meta_find(m, name, &found);
	return found ? m->kv[i].value : NULL;
}

int fx_meta_set(struct fx_meta *m, const char *name, const char *value)
{
	struct fx_meta_kv *kv;
	char *v;
	bool found;
	size_t i;

	if (!m || !name || !value || !fx_meta_name_ok(name) || !fx_meta_value_ok(value))
		return -EINVAL;
	v = strdup(value);
	if (!v)
		return -ENOMEM;
	i = fx_meta_find(m, name, &found);
	if (found) {
		free(m->kv[i].value);
		m->kv[i].value = v;
		return 0;
	}
	kv = realloc(m->kv, (m->n + 1) * sizeof(*kv));
	if (!kv)
		goto out_value;
	m->kv = kv;
	memmove(&kv[i + 1], &kv[i], (m->n - i) * sizeof(*kv));
	kv[i].value = v;
	kv[i].name = strdup(name);
	if (!kv[i].name) {
		memmove(&kv[i], &kv[i + 1], (m->n - i) * sizeof(*kv));
		goto out_value;
	}
	m->n++;
	return 0;

out_value:
	free(v);
	return -ENOMEM;
}

void fx_meta_unset(struct fx_meta *m, const char *name)
{
	bool found;
	size_t i;

	if (!m || !name || !m->n)
		return;
	i = fx_meta_find(m, name, &found);
	if (!found)
		return;
	free(m->kv[i].name);
	free(m->kv[i].value);
	memmove(&m->kv[i], &m->kv[i + 1], (m->n - i - 1) * sizeof(*m->kv));
	m->n--;
}

int fx_meta_copy(struct fx_meta *dst, const struct fx_meta *src)
{
	size_t i;
	int err;

	if (dst == src)
		return 0;
	fx_meta_clear(dst);
	if (!src)
		return 0;
	for (i = 0; i < src->n; i++) {
		err = fx_meta_set(dst, src->kv[i].name, src->kv[i].value);
		if (err) {
			fx_meta_clear(dst);
			return err;
		}
	}
	return 0;
}

void fx_meta_clear(struct fx_meta *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->n; i++) {
		free(m->kv[i].name);
		free(m->kv[i].value);
	}
	free(m->kv);
	m->kv = NULL;
	m->n = 0;
}

void fx_object_info_clear(struct fx_object_info *info)
{
	if (info)
		fx_meta_clear(&info->meta);
}
