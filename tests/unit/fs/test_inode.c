/*
 * test_inode.c - unit tests of fs/inode.c: the root, creating and finding
 * children, object keys, lookup counts and references, freeing up the tree,
 * rename and unlink in the name tree, table growth and a threaded smoke test.
 * Does not test attributes, staging or I/O (fs/ops.c owns those).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "backends/backend.h"
#include "fs/inode.h"

static struct fx_itable *tab;
static struct fx_inode *root;

static void setup(void)
{
	tab = fx_itable_new();
	cr_assert_not_null(tab);
	root = fx_itable_get(tab, FX_ROOT_INO);
	cr_assert_not_null(root);
}

static void teardown(void)
{
	fx_itable_put(tab, root);
	fx_itable_free(tab);
}

TestSuite(inode, .init = setup, .fini = teardown);

/* Create (or find) @name under @parent, asserting it exists afterwards. */
static struct fx_inode *make(struct fx_inode *parent, const char *name, mode_t mode,
			     bool *created)
{
	bool c = false;
	struct fx_inode *in = fx_itable_child_make(tab, parent, name, mode, &c);

	cr_assert_not_null(in, "child_make(%s)", name);
	if (created)
		*created = c;
	return in;
}

/* Key of @in as a string; asserts success. Valid until the next call. */
static const char *key_of(struct fx_inode *in)
{
	static char buf[FX_KEY_MAX + 1];
	int len = fx_itable_key(tab, in, buf, sizeof(buf));

	cr_assert_geq(len, 0, "key failed: %d", len);
	cr_assert_eq((size_t)len, strlen(buf));
	return buf;
}

/* Whether inode @ino is still in the table (takes and drops a reference,
 * so call it only while something else keeps the inode, or expecting NULL). */
static bool alive(uint64_t ino)
{
	struct fx_inode *in = fx_itable_get(tab, ino);

	if (!in)
		return false;
	fx_itable_put(tab, in);
	return true;
}

/* ------------------------------------------------------------------ root */

Test(inode, root_exists)
{
	char buf[8];

	cr_assert_eq(root->ino, FX_ROOT_INO);
	cr_assert_eq(root->ino, 1);
	cr_assert(S_ISDIR(root->st.st_mode));
	cr_assert_null(root->parent);
	cr_assert_null(root->name);
	cr_assert_eq(root->nlookup, 1, "the kernel holds the root from mount on");
	cr_assert_eq(fx_itable_count(tab), 1);
	cr_assert_eq(fx_itable_key(tab, root, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "");
	cr_assert_null(fx_itable_get(tab, 2), "no inode 2 in a fresh table");
	cr_assert_null(fx_itable_get(tab, 0));
}

Test(inode, root_key_needs_room_for_nul)
{
	char buf[1] = { 'x' };

	cr_assert_eq(fx_itable_key(tab, root, buf, 1), 0);
	cr_assert_eq(buf[0], '\0');
	cr_assert_eq(fx_itable_key(tab, root, buf, 0), -ENAMETOOLONG);
}

Test(inode, root_is_never_freed)
{
	struct fx_inode *in;

	fx_itable_forget(tab, FX_ROOT_INO, 1);
	fx_itable_forget(tab, FX_ROOT_INO, 1000);
	cr_assert_eq(root->nlookup, 1, "forget must not touch the root's count");
	/* Take and drop extra references: still alive. */
	in = fx_itable_get(tab, FX_ROOT_INO);
	cr_assert_eq(in, root);
	fx_itable_put(tab, in);
	cr_assert(alive(FX_ROOT_INO));
	/* A child that comes and goes drops its ref on root without freeing it. */
	in = make(root, "c", S_IFREG | 0644, NULL);
	fx_itable_put(tab, in);
	cr_assert_eq(fx_itable_count(tab), 1);
	cr_assert(alive(FX_ROOT_INO));
	cr_assert_eq(fx_itable_get(tab, FX_ROOT_INO), root);
	fx_itable_put(tab, root);
}

/* -------------------------------------------------------------- children */

Test(inode, child_make_creates_once)
{
	bool created = false;
	struct fx_inode *a = make(root, "a", S_IFREG | 0644, &created), *again, *found;

	cr_assert(created);
	cr_assert_neq(a->ino, FX_ROOT_INO);
	cr_assert_eq(a->parent, root);
	cr_assert_str_eq(a->name, "a");
	cr_assert_eq(a->st.st_mode, S_IFREG | 0644);
	cr_assert_eq(a->st.st_ino, a->ino);
	cr_assert_eq(a->stage_fd, -1);
	cr_assert_eq(a->nlookup, 0);
	cr_assert_eq(fx_itable_count(tab), 2);

	again = make(root, "a", S_IFDIR | 0755, &created);
	cr_assert_not(created, "second child_make must find the first");
	cr_assert_eq(again, a);
	cr_assert_eq(a->st.st_mode, S_IFREG | 0644, "an existing inode keeps its mode");
	cr_assert_eq(fx_itable_count(tab), 2);

	found = fx_itable_child(tab, root, "a");
	cr_assert_eq(found, a);
	cr_assert_eq(fx_itable_get(tab, a->ino), a);
	cr_assert_eq(a->refs, 4);
	fx_itable_put(tab, a);
	fx_itable_put(tab, found);
	fx_itable_put(tab, again);
	fx_itable_put(tab, a);
	cr_assert_eq(fx_itable_count(tab), 1, "no lookups and no refs: freed");
	cr_assert_null(fx_itable_child(tab, root, "a"));
}

Test(inode, child_lookup_absent_and_case_sensitive)
{
	struct fx_inode *a = make(root, "Name", S_IFREG | 0644, NULL);

	cr_assert_null(fx_itable_child(tab, root, "name"));
	cr_assert_null(fx_itable_child(tab, root, "Name2"));
	cr_assert_null(fx_itable_child(tab, root, ""));
	cr_assert_null(fx_itable_child(tab, a, "Name"), "name is per parent");
	fx_itable_put(tab, a);
}

Test(inode, same_name_under_different_parents)
{
	struct fx_inode *d1 = make(root, "d1", S_IFDIR | 0755, NULL);
	struct fx_inode *d2 = make(root, "d2", S_IFDIR | 0755, NULL);
	struct fx_inode *x1 = make(d1, "x", S_IFREG | 0644, NULL);
	struct fx_inode *x2 = make(d2, "x", S_IFREG | 0644, NULL);
	struct fx_inode *f;

	cr_assert_neq(x1, x2);
	cr_assert_neq(x1->ino, x2->ino);
	cr_assert_str_eq(key_of(x1), "d1/x");
	cr_assert_str_eq(key_of(x2), "d2/x");
	f = fx_itable_child(tab, d2, "x");
	cr_assert_eq(f, x2);
	fx_itable_put(tab, f);
	fx_itable_put(tab, x1);
	fx_itable_put(tab, x2);
	fx_itable_put(tab, d1);
	fx_itable_put(tab, d2);
	cr_assert_eq(fx_itable_count(tab), 1);
}

Test(inode, ids_unique_and_increasing)
{
	uint64_t prev = FX_ROOT_INO, first;
	struct fx_inode *in;
	char name[16];

	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		in = make(root, name, S_IFREG | 0644, NULL);
		cr_assert_gt(in->ino, prev, "ino %lu after %lu", (unsigned long)in->ino,
			     (unsigned long)prev);
		prev = in->ino;
		fx_itable_put(tab, in); /* freed at once: ids still must not repeat */
	}
	cr_assert_eq(fx_itable_count(tab), 1);
	/* A freed name made again gets a fresh id, never a recycled one. */
	in = make(root, "n0", S_IFREG | 0644, NULL);
	first = in->ino;
	cr_assert_gt(first, prev);
	fx_itable_put(tab, in);
}

/* ------------------------------------------------------------------ keys */

Test(inode, key_of_nested_children)
{
	struct fx_inode *a = make(root, "a", S_IFDIR | 0755, NULL);
	struct fx_inode *b = make(a, "b", S_IFDIR | 0755, NULL);
	struct fx_inode *c = make(b, "c", S_IFREG | 0644, NULL);
	char buf[16];

	cr_assert_str_eq(key_of(a), "a");
	cr_assert_str_eq(key_of(b), "a/b");
	cr_assert_str_eq(key_of(c), "a/b/c");
	cr_assert_eq(fx_itable_key(tab, c, buf, sizeof(buf)), 5);
	cr_assert_str_eq(buf, "a/b/c");
	fx_itable_put(tab, c);
	fx_itable_put(tab, b);
	fx_itable_put(tab, a);
}

Test(inode, key_unicode_and_spaces)
{
	struct fx_inode *a = make(root, "d\xc3\xa9j\xc3\xa0 vu", S_IFDIR | 0755, NULL);
	struct fx_inode *b = make(a, "a+b%20c", S_IFREG | 0644, NULL);

	cr_assert_str_eq(key_of(b), "d\xc3\xa9j\xc3\xa0 vu/a+b%20c");
	fx_itable_put(tab, b);
	fx_itable_put(tab, a);
}

Test(inode, key_short_buffer)
{
	struct fx_inode *a = make(root, "abc", S_IFDIR | 0755, NULL);
	struct fx_inode *b = make(a, "def", S_IFREG | 0644, NULL);
	char buf[16];

	memset(buf, 'Z', sizeof(buf));
	/* "abc/def" is 7 bytes: 8 fit, 7 do not (no room for the NUL). */
	cr_assert_eq(fx_itable_key(tab, b, buf, 7), -ENAMETOOLONG);
	cr_assert_eq(fx_itable_key(tab, b, buf, 1), -ENAMETOOLONG);
	cr_assert_eq(fx_itable_key(tab, b, buf, 0), -ENAMETOOLONG);
	cr_assert_eq(fx_itable_key(tab, b, buf, 8), 7);
	cr_assert_str_eq(buf, "abc/def");
	cr_assert_eq(buf[8], 'Z', "nothing written past the key");
	fx_itable_put(tab, b);
	fx_itable_put(tab, a);
}

Test(inode, key_after_detach)
{
	struct fx_inode *d = make(root, "d", S_IFDIR | 0755, NULL);
	struct fx_inode *f = make(d, "f", S_IFREG | 0644, NULL);
	struct fx_inode *g = make(root, "g", S_IFREG | 0644, NULL);
	char buf[64];

	fx_itable_detach(tab, g);
	cr_assert_eq(fx_itable_key(tab, g, buf, sizeof(buf)), -ENOENT);
	cr_assert_null(fx_itable_child(tab, root, "g"), "a detached name is not found");
	cr_assert_eq(fx_itable_get(tab, g->ino), g, "but the inode lives on by id");
	fx_itable_put(tab, g);

	/* Detaching a directory hides the keys of everything below it. */
	fx_itable_detach(tab, d);
	cr_assert_eq(fx_itable_key(tab, d, buf, sizeof(buf)), -ENOENT);
	cr_assert_eq(fx_itable_key(tab, f, buf, sizeof(buf)), -ENOENT);

	/* The name is free again: a new inode takes it. */
	{
		bool created = false;
		struct fx_inode *g2 = make(root, "g", S_IFREG | 0644, &created);

		cr_assert(created);
		cr_assert_neq(g2, g);
		cr_assert_str_eq(key_of(g2), "g");
		fx_itable_put(tab, g2);
	}
	fx_itable_put(tab, g);
	fx_itable_put(tab, f);
	fx_itable_put(tab, d);
	cr_assert_eq(fx_itable_count(tab), 1);
}

/* ------------------------------------------------ lookup counts and refs */

Test(inode, lookup_keeps_inode_after_last_put)
{
	struct fx_inode *a = make(root, "a", S_IFREG | 0644, NULL);
	uint64_t ino = a->ino;

	fx_itable_lookup(tab, a);
	fx_itable_lookup(tab, a);
	cr_assert_eq(a->nlookup, 2);
	fx_itable_put(tab, a);
	cr_assert_eq(fx_itable_count(tab), 2, "nlookup > 0 keeps the inode");
	cr_assert(alive(ino));

	fx_itable_forget(tab, ino, 1);
	cr_assert_eq(fx_itable_count(tab), 2, "one lookup left");
	a = fx_itable_get(tab, ino);
	cr_assert_not_null(a);
	cr_assert_eq(a->nlookup, 1);
	fx_itable_put(tab, a);

	fx_itable_forget(tab, ino, 1);
	cr_assert_eq(fx_itable_count(tab), 1, "nlookup 0 and no refs: freed");
	cr_assert_null(fx_itable_get(tab, ino));
	cr_assert_null(fx_itable_child(tab, root, "a"));
}

Test(inode, forget_to_zero_waits_for_refs)
{
	struct fx_inode *a = make(root, "a", S_IFREG | 0644, NULL);
	uint64_t ino = a->ino;

	fx_itable_lookup(tab, a);
	fx_itable_ref(tab, a); /* e.g. an open file handle */
	cr_assert_eq(a->refs, 2);
	fx_itable_put(tab, a);
	fx_itable_forget(tab, ino, 1);
	cr_assert_eq(a->nlookup, 0);
	cr_assert_eq(fx_itable_count(tab), 2, "a reference still holds it");
	cr_assert_eq(fx_itable_get(tab, ino), a);
	fx_itable_put(tab, a);
	cr_assert_eq(fx_itable_count(tab), 2);
	fx_itable_put(tab, a); /* the last ref */
	cr_assert_eq(fx_itable_count(tab), 1);
	cr_assert_null(fx_itable_get(tab, ino));
}

Test(inode, forget_clamps)
{
	struct fx_inode *a = make(root, "a", S_IFREG | 0644, NULL);
	uint64_t ino = a->ino;

	fx_itable_lookup(tab, a);
	fx_itable_lookup(tab, a);
	fx_itable_forget(tab, ino, 5);
	cr_assert_eq(a->nlookup, 0, "forget of more than nlookup clamps to 0, got %lu",
		     (unsigned long)a->nlookup);
	fx_itable_forget(tab, ino, UINT64_MAX);
	cr_assert_eq(a->nlookup, 0);
	fx_itable_lookup(tab, a);
	cr_assert_eq(a->nlookup, 1, "no wrap-around hidden in the count");
	fx_itable_put(tab, a);
	cr_assert_eq(fx_itable_count(tab), 2);
	fx_itable_forget(tab, ino, 1);
	cr_assert_eq(fx_itable_count(tab), 1);
	cr_assert_null(fx_itable_get(tab, ino));
}

Test(inode, forget_unknown_is_harmless)
{
	struct fx_inode *a = make(root, "a", S_IFREG | 0644, NULL);
	uint64_t ino = a->ino;

	fx_itable_lookup(tab, a);
	fx_itable_forget(tab, 9999, 1);
	fx_itable_forget(tab, 0, 1);
	fx_itable_forget(tab, UINT64_MAX, UINT64_MAX);
	cr_assert_eq(a->nlookup, 1);
	cr_assert_eq(fx_itable_count(tab), 2);
	fx_itable_put(tab, a);
	fx_itable_forget(tab, ino, 1);
	cr_assert_eq(fx_itable_count(tab), 1);
	/* A second forget of the freed ino: nothing to do, nothing breaks. */
	fx_itable_forget(tab, ino, 1);
	cr_assert_eq(fx_itable_count(tab), 1);
	cr_assert(alive(FX_ROOT_INO));
}

Test(inode, child_keeps_parent_alive)
{
	struct fx_inode *d = make(root, "d", S_IFDIR | 0755, NULL);
	struct fx_inode *e = make(d, "e", S_IFDIR | 0755, NULL);
	struct fx_inode *f = make(e, "f", S_IFREG | 0644, NULL);
	uint64_t dino = d->ino, eino = e->ino, fino = f->ino;

	fx_itable_lookup(tab, d);
	fx_itable_lookup(tab, e);
	fx_itable_lookup(tab, f);
	fx_itable_put(tab, f);
	fx_itable_put(tab, e);
	fx_itable_put(tab, d);
	cr_assert_eq(fx_itable_count(tab), 4);

	/* The kernel forgets the directories first: their child holds them. */
	fx_itable_forget(tab, dino, 1);
	fx_itable_forget(tab, eino, 1);
	cr_assert_eq(fx_itable_count(tab), 4, "f holds e which holds d");
	cr_assert(alive(dino));
	cr_assert(alive(eino));
	f = fx_itable_get(tab, fino);
	cr_assert_not_null(f);
	cr_assert_str_eq(key_of(f), "d/e/f", "the key path is intact");
	fx_itable_put(tab, f);

	/* Forgetting the leaf frees the whole chain. */
	fx_itable_forget(tab, fino, 1);
	cr_assert_eq(fx_itable_count(tab), 1);
	cr_assert_null(fx_itable_get(tab, fino));
	cr_assert_null(fx_itable_get(tab, eino));
	cr_assert_null(fx_itable_get(tab, dino));
	cr_assert_null(fx_itable_child(tab, root, "d"));
}

Test(inode, parent_freed_only_after_last_child)
{
	struct fx_inode *d = make(root, "d", S_IFDIR | 0755, NULL);
	struct fx_inode *x = make(d, "x", S_IFREG | 0644, NULL);
	struct fx_inode *y = make(d, "y", S_IFREG | 0644, NULL);
	uint64_t dino = d->ino;

	fx_itable_put(tab, d);
	cr_assert_eq(fx_itable_count(tab), 4);
	fx_itable_put(tab, x);
	cr_assert_eq(fx_itable_count(tab), 3, "x freed, d held by y");
	cr_assert(alive(dino));
	fx_itable_put(tab, y);
	cr_assert_eq(fx_itable_count(tab), 1, "last child gone: d freed too");
	cr_assert_null(fx_itable_get(tab, dino));
}

/* ------------------------------------------------------------------ move */

Test(inode, move_renames)
{
	struct fx_inode *a = make(root, "a", S_IFREG | 0644, NULL), *f;
	uint64_t ino = a->ino;

	cr_assert_eq(fx_itable_move(tab, a, root, "b"), 0);
	cr_assert_eq(a->ino, ino, "rename keeps the inode id");
	cr_assert_str_eq(key_of(a), "b");
	cr_assert_null(fx_itable_child(tab, root, "a"), "old name gone");
	f = fx_itable_child(tab, root, "b");
	cr_assert_eq(f, a, "new name finds it");
	fx_itable_put(tab, f);
	cr_assert_eq(fx_itable_count(tab), 2);
	fx_itable_put(tab, a);
	cr_assert_eq(fx_itable_count(tab), 1);
}

Test(inode, move_to_same_name_is_noop)
{
	struct fx_inode *a = make(root, "a", S_IFREG | 0644, NULL), *f;
	unsigned root_refs = root->refs;

	cr_assert_eq(fx_itable_move(tab, a, root, "a"), 0);
	cr_assert_str_eq(key_of(a), "a");
	cr_assert_eq(root->refs, root_refs, "parent refs balanced");
	f = fx_itable_child(tab, root, "a");
	cr_assert_eq(f, a);
	fx_itable_put(tab, f);
	fx_itable_put(tab, a);
	cr_assert_eq(fx_itable_count(tab), 1);
}

Test(inode, move_detaches_victim)
{
	struct fx_inode *a = make(root, "a", S_IFREG | 0644, NULL);
	struct fx_inode *b = make(root, "b", S_IFREG | 0644, NULL), *f;
	uint64_t bino = b->ino;
	char buf[64];

	fx_itable_lookup(tab, b); /* the kernel still knows the victim */
	cr_assert_eq(fx_itable_move(tab, a, root, "b"), 0);
	cr_assert_eq(fx_itable_key(tab, b, buf, sizeof(buf)), -ENOENT, "victim detached");
	cr_assert_null(b->name);
	cr_assert_str_eq(key_of(a), "b");
	f = fx_itable_child(tab, root, "b");
	cr_assert_eq(f, a, "the name belongs to the moved inode");
	fx_itable_put(tab, f);
	cr_assert_null(fx_itable_child(tab, root, "a"));
	cr_assert_eq(fx_itable_count(tab), 3, "the victim lives until forgotten");

	fx_itable_put(tab, b);
	cr_assert_eq(fx_itable_count(tab), 3);
	fx_itable_forget(tab, bino, 1);
	cr_assert_eq(fx_itable_count(tab), 2);
	cr_assert_null(fx_itable_get(tab, bino));
	/* The mover is untouched by the victim's end. */
	cr_assert_str_eq(key_of(a), "b");
	fx_itable_put(tab, a);
	cr_assert_eq(fx_itable_count(tab), 1);
}

Test(inode, move_across_directories)
{
	struct fx_inode *d1 = make(root, "d1", S_IFDIR | 0755, NULL);
	struct fx_inode *d2 = make(root, "d2", S_IFDIR | 0755, NULL);
	struct fx_inode *x = make(d1, "x", S_IFREG | 0644, NULL), *f;
	uint64_t d1ino = d1->ino;

	fx_itable_put(tab, d1); /* only x holds d1 now */
	cr_assert_eq(fx_itable_move(tab, x, d2, "y"), 0);
	cr_assert_eq(x->parent, d2);
	cr_assert_str_eq(key_of(x), "d2/y");
	cr_assert_null(fx_itable_get(tab, d1ino), "old parent lost its last ref: freed");
	f = fx_itable_child(tab, d2, "y");
	cr_assert_eq(f, x);
	fx_itable_put(tab, f);
	fx_itable_put(tab, d2);
	cr_assert_eq(fx_itable_count(tab), 3, "x holds d2");
	fx_itable_put(tab, x);
	cr_assert_eq(fx_itable_count(tab), 1);
}

Test(inode, move_directory_changes_descendant_keys)
{
	struct fx_inode *d = make(root, "d", S_IFDIR | 0755, NULL);
	struct fx_inode *s = make(d, "sub", S_IFDIR | 0755, NULL);
	struct fx_inode *f = make(s, "f", S_IFREG | 0644, NULL);
	struct fx_inode *o = make(root, "other", S_IFDIR | 0755, NULL), *g;

	cr_assert_str_eq(key_of(f), "d/sub/f");
	cr_assert_eq(fx_itable_move(tab, d, root, "e"), 0);
	cr_assert_str_eq(key_of(d), "e");
	cr_assert_str_eq(key_of(s), "e/sub");
	cr_assert_str_eq(key_of(f), "e/sub/f");
	/* Children are found under their (unchanged) parent inode. */
	g = fx_itable_child(tab, s, "f");
	cr_assert_eq(g, f);
	fx_itable_put(tab, g);

	/* And one level deeper: move sub under other. */
	cr_assert_eq(fx_itable_move(tab, s, o, "moved"), 0);
	cr_assert_str_eq(key_of(f), "other/moved/f");
	cr_assert_null(fx_itable_child(tab, d, "sub"));
	fx_itable_put(tab, f);
	fx_itable_put(tab, s);
	fx_itable_put(tab, o);
	fx_itable_put(tab, d);
	cr_assert_eq(fx_itable_count(tab), 1);
}

/* A rename racing an unlink must not bring the unlinked inode back. */
Test(inode, move_of_detached_inode_is_refused)
{
	struct fx_inode *a = make(root, "a", S_IFREG | 0644, NULL);

	fx_itable_detach(tab, a);
	cr_assert(fx_itable_detached(tab, a));
	cr_assert_eq(fx_itable_move(tab, a, root, "back"), -ENOENT);
	cr_assert_null(fx_itable_child(tab, root, "back"));
	cr_assert(fx_itable_detached(tab, a));
	fx_itable_put(tab, a);
	cr_assert_eq(fx_itable_count(tab), 1);
}

/* ---------------------------------------------------------------- growth */

#define FX_TEST_MANY 10000

Test(inode, growth_10000_children)
{
	static uint64_t inos[FX_TEST_MANY];
	struct fx_inode *d = make(root, "big", S_IFDIR | 0755, NULL), *in;
	char name[32];

	for (int i = 0; i < FX_TEST_MANY; i++) {
		bool created = false;

		snprintf(name, sizeof(name), "file-%05d", i);
		in = make(d, name, S_IFREG | 0644, &created);
		cr_assert(created);
		inos[i] = in->ino;
		if (i)
			cr_assert_gt(inos[i], inos[i - 1]);
		fx_itable_lookup(tab, in);
		fx_itable_put(tab, in);
	}
	cr_assert_eq(fx_itable_count(tab), FX_TEST_MANY + 2);
	for (int i = 0; i < FX_TEST_MANY; i++) {
		snprintf(name, sizeof(name), "file-%05d", i);
		in = fx_itable_child(tab, d, name);
		cr_assert_not_null(in, "lost %s after growth", name);
		cr_assert_eq(in->ino, inos[i]);
		cr_assert_str_eq(key_of(in) + 4, name);
		fx_itable_put(tab, in);
		in = fx_itable_get(tab, inos[i]);
		cr_assert_not_null(in, "lost ino %lu after growth", (unsigned long)inos[i]);
		cr_assert_str_eq(in->name, name);
		fx_itable_put(tab, in);
	}
	cr_assert_null(fx_itable_child(tab, d, "file-10000"));
	/* Forget them all: every one is freed, then the directory with them. */
	fx_itable_put(tab, d);
	for (int i = 0; i < FX_TEST_MANY; i++)
		fx_itable_forget(tab, inos[i], 1);
	cr_assert_eq(fx_itable_count(tab), 1);
	cr_assert_null(fx_itable_child(tab, root, "big"));
}

/* ----------------------------------------------------------- concurrency */

#define FX_TEST_THREADS 4
#define FX_TEST_ITERS 2000
#define FX_TEST_SHARED 8

struct worker {
	int id;
	unsigned made, failed;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char name[32];

	for (int i = 0; i < FX_TEST_ITERS; i++) {
		bool created;
		struct fx_inode *in, *again;
		uint64_t ino;

		if (i % 2)
			snprintf(name, sizeof(name), "t%d-%d", w->id, i % 64);
		else
			snprintf(name, sizeof(name), "shared-%d", i % FX_TEST_SHARED);
		in = fx_itable_child_make(tab, root, name, S_IFREG | 0644, &created);
		if (!in) {
			w->failed++;
			continue;
		}
		w->made++;
		ino = in->ino;
		fx_itable_lookup(tab, in);
		again = fx_itable_child(tab, root, name);
		if (again != in) /* we hold a ref and nobody renames: must be ours */
			w->failed++;
		fx_itable_put(tab, again);
		fx_itable_put(tab, in);
		fx_itable_forget(tab, ino, 1);
	}
	return NULL;
}

Test(inode, concurrent_make_lookup_forget)
{
	pthread_t th[FX_TEST_THREADS];
	struct worker w[FX_TEST_THREADS];
	unsigned root_refs = root->refs;

	for (int i = 0; i < FX_TEST_THREADS; i++) {
		w[i] = (struct worker){ .id = i };
		cr_assert_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < FX_TEST_THREADS; i++) {
		cr_assert_eq(pthread_join(th[i], NULL), 0);
		cr_assert_eq(w[i].failed, 0, "thread %d: %u failures", i, w[i].failed);
		cr_assert_eq(w[i].made, FX_TEST_ITERS);
	}
	cr_assert_eq(fx_itable_count(tab), 1, "every lookup was forgotten: only root left, got %zu",
		     fx_itable_count(tab));
	cr_assert_eq(root->refs, root_refs, "children gave back their refs on root");
	cr_assert_eq(root->nlookup, 1);
	cr_assert_null(fx_itable_child(tab, root, "shared-0"));
}
