/*
 * inode.c - inode table (see inode.h): two chained hash maps under one lock,
 * keyed by inode id and by (parent id, name) hashed with XXH3.
 */
#include "fs/inode.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#define FX_ITABLE_BUCKETS_MIN 1024

struct fx_itable {
	pthread_mutex_t lock;
	struct fx_inode **by_ino, **by_name; /* n_buckets each */
	size_t n_buckets, count;
	uint64_t next_ino;
	struct fx_inode *root;
};

static size_t fx_name_hash(const struct fx_itable *t, uint64_t parent, const char *name)
{
	return (size_t)(XXH3_64bits_withSeed(name, strlen(name), parent) & (t->n_buckets - 1));
}

static size_t fx_ino_hash(const struct fx_itable *t, uint64_t ino)
{
	return (size_t)(XXH3_64bits(&ino, sizeof(ino)) & (t->n_buckets - 1));
}

static struct fx_inode *fx_inode_alloc(uint64_t ino, mode_t mode)
{
	struct fx_inode *in = calloc(1, sizeof(*in));

	if (!in)
		return NULL;
	in->ino = ino;
	in->stage_fd = -1;
	in->st.st_ino = ino;
	in->st.st_mode = mode;
	in->st.st_nlink = S_ISDIR(mode) ? 2 : 1;
	pthread_mutex_init(&in->lock, NULL);
	pthread_cond_init(&in->cond, NULL);
	return in;
}

static void fx_inode_destroy(struct fx_inode *in)
{
	/* A staging file whose publish never succeeded stays on disk: the next
	 * mount reports it, and nothing written is lost. */
	if (in->stage_fd >= 0) {
		close(in->stage_fd);
		if (in->dirty_seq == in->clean_seq && in->stage_path)
			unlink(in->stage_path);
	}
	pthread_mutex_destroy(&in->lock);
	pthread_cond_destroy(&in->cond);
	fx_meta_clear(&in->meta);
	free(in->stage_path);
	free(in->name);
	free(in);
}

/* Rehash into twice the buckets when the load passes 1; on ENOMEM keep going
 * with longer chains. Table lock held. */
static void fx_itable_grow(struct fx_itable *t)
{
	size_t n = t->n_buckets * 2;
	struct fx_inode **by_ino = calloc(n, sizeof(*by_ino));
	struct fx_inode **by_name = calloc(n, sizeof(*by_name));
	struct fx_inode **old_ino = t->by_ino, **old_name = t->by_name;
	size_t old_n = t->n_buckets;

	if (!by_ino || !by_name) {
		free(by_ino);
		free(by_name);
		return;
	}
	t->by_ino = by_ino;
	t->by_name = by_name;
	t->n_buckets = n;
	for (size_t i = 0; i < old_n; i++) {
		struct fx_inode *in, *next;

		for (in = old_ino[i]; in; in = next) {
			size_t h = fx_ino_hash(t, in->ino);

			next = in->ino_next;
			in->ino_next = by_ino[h];
			by_ino[h] = in;
		}
		for (in = old_name[i]; in; in = next) {
			size_t h = fx_name_hash(t, in->parent->ino, in->name);

			next = in->name_next;
			in->name_next = by_name[h];
			by_name[h] = in;
		}
	}
	free(old_ino);
	free(old_name);
}

struct fx_itable *fx_itable_new(void)
{
	struct fx_itable *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->n_buckets = FX_ITABLE_BUCKETS_MIN;
	t->by_ino = calloc(t->n_buckets, sizeof(*t->by_ino));
	t->by_name = calloc(t->n_buckets, sizeof(*t->by_name));
	t->root = fx_inode_alloc(FX_ROOT_INO, S_IFDIR | 0755);
	if (!t->by_ino || !t->by_name || !t->root) {
		free(t->root);
		free(t->by_ino);
		free(t->by_name);
		free(t);
		return NULL;
	}
	pthread_mutex_init(&t->lock, NULL);
	t->root->nlookup = 1; /* the kernel holds the root from mount to unmount */
	t->root->remote = true;
	t->by_ino[fx_ino_hash(t, FX_ROOT_INO)] = t->root;
	t->next_ino = FX_ROOT_INO + 1;
	t->count = 1;
	return t;
}

void fx_itable_free(struct fx_itable *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_buckets; i++) {
		struct fx_inode *in, *next;

		for (in = t->by_ino[i]; in; in = next) {
			next = in->ino_next;
			fx_inode_destroy(in);
		}
	}
	free(t->by_ino);
	free(t->by_name);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static struct fx_inode *fx_find_ino(struct fx_itable *t, uint64_t ino)
{
	struct fx_inode *in = t->by_ino[fx_ino_hash(t, ino)];

	while (in && in->ino != ino)
		in = in->ino_next;
	return in;
}

static struct fx_inode *fx_find_name(struct fx_itable *t, const struct fx_inode *parent,
				     const char *name)
{
	struct fx_inode *in = t->by_name[fx_name_hash(t, parent->ino, name)];

	while (in && (in->parent != parent || strcmp(in->name, name) != 0))
		in = in->name_next;
	return in;
}

static void fx_unhash_name(struct fx_itable *t, struct fx_inode *in)
{
	struct fx_inode **pp;

	if (!in->hashed_name)
		return;
	pp = &t->by_name[fx_name_hash(t, in->parent->ino, in->name)];
	while (*pp != in)
		pp = &(*pp)->name_next;
	*pp = in->name_next;
	in->name_next = NULL;
	in->hashed_name = false;
}

static void fx_hash_name(struct fx_itable *t, struct fx_inode *in)
{
	size_t h = fx_name_hash(t, in->parent->ino, in->name);

	in->name_next = t->by_name[h];
	t->by_name[h] = in;
	in->hashed_name = true;
}

/* Free @in if nothing holds it, then walk up: its parent loses a child ref.
 * Table lock held. */
static void fx_maybe_free(struct fx_itable *t, struct fx_inode *in)
{
	while (in && in != t->root && in->nlookup == 0 && in->refs == 0) {
		struct fx_inode *parent = in->parent, **pp;

		fx_unhash_name(t, in);
		pp = &t->by_ino[fx_ino_hash(t, in->ino)];
		while (*pp != in)
			pp = &(*pp)->ino_next;
		*pp = in->ino_next;
		t->count--;
		fx_inode_destroy(in);
		if (!parent)
			break;
		parent->refs--;
		in = parent;
	}
}

struct fx_inode *fx_itable_get(struct fx_itable *t, uint64_t ino)
{
	struct fx_inode *in;

	pthread_mutex_lock(&t->lock);
	in = fx_find_ino(t, ino);
	if (in)
		in->refs++;
	pthread_mutex_unlock(&t->lock);
	return in;
}

void fx_itable_ref(struct fx_itable *t, struct fx_inode *in)
{
	pthread_mutex_lock(&t->lock);
	in->refs++;
	pthread_mutex_unlock(&t->lock);
}

void fx_itable_put(struct fx_itable *t, struct fx_inode *in)
{
	if (!in)
		return;
	pthread_mutex_lock(&t->lock);
	in->refs--;
	fx_maybe_free(t, in);
	pthread_mutex_unlock(&t->lock);
}

struct fx_inode *fx_itable_child(struct fx_itable *t, struct fx_inode *parent, const char *name)
{
	struct fx_inode *in;

	pthread_mutex_lock(&t->lock);
	in = fx_find_name(t, parent, name);
	if (in)
		in->refs++;
	pthread_mutex_unlock(&t->lock);
	return in;
}

struct fx_inode *fx_itable_child_make(struct fx_itable *t, struct fx_inode *parent, const char *name,
				      mode_t mode, bool *created)
{
	struct fx_inode *in;

	*created = false;
	pthread_mutex_lock(&t->lock);
	in = fx_find_name(t, parent, name);
	if (!in) {
		char *copy = strdup(name);

		in = copy ? fx_inode_alloc(t->next_ino, mode) : NULL;
		if (!in) {
			free(copy);
			pthread_mutex_unlock(&t->lock);
			return NULL;
		}
		t->next_ino++;
		in->name = copy;
		in->parent = parent;
		parent->refs++;
		fx_hash_name(t, in);
		in->ino_next = t->by_ino[fx_ino_hash(t, in->ino)];
		t->by_ino[fx_ino_hash(t, in->ino)] = in;
		if (++t->count > t->n_buckets)
			fx_itable_grow(t);
		*created = true;
	}
	in->refs++;
	pthread_mutex_unlock(&t->lock);
	return in;
}

void fx_itable_lookup(struct fx_itable *t, struct fx_inode *in)
{
	pthread_mutex_lock(&t->lock);
	in->nlookup++;
	pthread_mutex_unlock(&t->lock);
}

void fx_itable_forget(struct fx_itable *t, uint64_t ino, uint64_t n)
{
	struct fx_inode *in;

	pthread_mutex_lock(&t->lock);
	in = fx_find_ino(t, ino);
	if (in && in != t->root) {
		in->nlookup = n > in->nlookup ? 0 : in->nlookup - n;
		fx_maybe_free(t, in);
	}
	pthread_mutex_unlock(&t->lock);
}

int fx_itable_key(struct fx_itable *t, struct fx_inode *in, char *buf, size_t n)
{
	size_t len = 0, pos;
	struct fx_inode *p;

	pthread_mutex_lock(&t->lock);
	for (p = in; p != t->root; p = p->parent) {
		if (!p->name) {
			pthread_mutex_unlock(&t->lock);
			return -ENOENT;
		}
		len += strlen(p->name) + (len ? 1 : 0);
	}
	if (len + 1 > n) {
		pthread_mutex_unlock(&t->lock);
		return -ENAMETOOLONG;
	}
	buf[len] = '\0';
	pos = len;
	for (p = in; p != t->root; p = p->parent) {
		size_t l = strlen(p->name);

		if (pos != len)
			buf[--pos] = '/';
		pos -= l;
		memcpy(buf + pos, p->name, l);
	}
	pthread_mutex_unlock(&t->lock);
	return (int)len;
}

int fx_itable_move(struct fx_itable *t, struct fx_inode *in, struct fx_inode *parent, const char *name)
{
	char *copy = strdup(name);
	struct fx_inode *old_parent, *victim;

	if (!copy)
		return -ENOMEM;
	pthread_mutex_lock(&t->lock);
	if (in != t->root && !in->name) { /* unlinked meanwhile: nothing to move */
		pthread_mutex_unlock(&t->lock);
		free(copy);
		return -ENOENT;
	}
	victim = fx_find_name(t, parent, name);
	if (victim && victim != in) {
		fx_unhash_name(t, victim);
		free(victim->name);
		victim->name = NULL;
	}
	fx_unhash_name(t, in);
	free(in->name);
	in->name = copy;
	old_parent = in->parent;
	in->parent = parent;
	parent->refs++;
	fx_hash_name(t, in);
	if (old_parent) {
		old_parent->refs--;
		fx_maybe_free(t, old_parent);
	}
	pthread_mutex_unlock(&t->lock);
	return 0;
}

void fx_itable_detach(struct fx_itable *t, struct fx_inode *in)
{
	pthread_mutex_lock(&t->lock);
	fx_unhash_name(t, in);
	free(in->name);
	in->name = NULL;
	pthread_mutex_unlock(&t->lock);
}

bool fx_itable_detached(struct fx_itable *t, struct fx_inode *in)
{
	bool detached;

	pthread_mutex_lock(&t->lock);
	detached = in != t->root && !in->name;
	pthread_mutex_unlock(&t->lock);
	return detached;
}

struct fx_inode *fx_itable_parent(struct fx_itable *t, struct fx_inode *in)
{
	struct fx_inode *parent;

	pthread_mutex_lock(&t->lock);
	if ((parent = in->parent))
		parent->refs++;
	pthread_mutex_unlock(&t->lock);
	return parent;
}

size_t fx_itable_count(struct fx_itable *t)
{
	size_t n;

	pthread_mutex_lock(&t->lock);
	n = t->count;
	pthread_mutex_unlock(&t->lock);
	return n;
}
