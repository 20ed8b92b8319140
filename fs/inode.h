/*
 * inode.h - the inode table: 64-bit inode ids <-> (parent, name) <-> object keys.
 *
 * Owns: inode identity and lifetime (kernel lookup counts and internal
 * references), the name tree used to compute object keys, and moving or
 * detaching names for rename and unlink.
 * Does not own: attributes, staging or I/O; struct fx_inode carries those for
 * fs/ops.c, guarded by the inode's own lock.
 *
 * Locks: the table lock guards the maps, parent/name links, nlookup and refs.
 * inode->lock guards everything listed under it in struct fx_inode. Order:
 * never take the table lock while holding an inode lock.
 * Inode ids are never reused, so the generation is always 1.
 */
#ifndef FX_FS_INODE_H
#define FX_FS_INODE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "backends/backend.h"

#define FX_ROOT_INO 1

struct fx_inode {
	uint64_t ino; /* immutable */

	/* Table lock. */
	struct fx_inode *parent; /* holds a ref on it; NULL for root and detached */
	char *name;              /* NULL for root and detached inodes */
	uint64_t nlookup;        /* kernel's lookup count */
	unsigned refs;           /* internal references (handles, children, callers) */
	struct fx_inode *ino_next, *name_next; /* hash chains */
	bool hashed_name;

	/* inode->lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond;     /* signalled when a publish or a replace ends */
	struct stat st;          /* what getattr answers */
	struct fx_meta meta;     /* object metadata as stored (mode, uid, xattr, ...) */
	char etag[FX_ETAG_MAX];  /* of the stored object; "" when unknown (refresh first) */
	uint64_t page_version;   /* hash of the ETag whose pages the kernel may keep; 0: none */
	double attr_expiry;      /* monotonic seconds; attrs re-read from the backend after */
	bool remote;             /* an object (or marker) exists for it in the backend */
	bool meta_lazy;          /* attrs from a listing: user metadata not fetched yet */
	double listed_at;        /* monotonic seconds: a directory's last listing */
	int stage_fd;            /* local staging copy, or -1 */
	char *stage_path;
	uint64_t dirty_seq;      /* bumped by every change to staged data or metadata */
	uint64_t clean_seq;      /* dirty_seq at the last successful publish; a staging
	                          * file freed while dirty is kept on disk */
	bool publishing;         /* a publish is in flight; others wait on cond */
	bool stage_published;    /* the staging file is marked published (fx_staging_mark) */
	unsigned open_count;     /* open file handles */
	bool replacing;          /* its object is being removed or renamed over: opens
	                          * wait on cond, staging stays (fx_keep_open) */
	uint64_t successor;      /* the file renamed over this one, for opens that waited */
	unsigned filling;        /* fills of its blocks into the kernel's page cache in
	                          * progress (fs/pagefill.h): staging waits on cond */
	uint64_t small_reads;    /* reads that could fill its blocks (atomic; fs/ops.c) */
};

struct fx_itable;

/** A table holding only the root inode (a directory). NULL on ENOMEM. */
struct fx_itable *fx_itable_new(void);
/** Free every inode; only at unmount. NULL is a no-op. */
void fx_itable_free(struct fx_itable *t);

/** The inode @ino with a reference taken, or NULL. Release with fx_itable_put(). */
struct fx_inode *fx_itable_get(struct fx_itable *t, uint64_t ino);
/** Take another reference on @in (which the caller already holds). */
void fx_itable_ref(struct fx_itable *t, struct fx_inode *in);
/** Drop a reference; frees the inode when nothing refers to it any more. */
void fx_itable_put(struct fx_itable *t, struct fx_inode *in);

/** The child @name of @parent with a reference taken, or NULL. */
struct fx_inode *fx_itable_child(struct fx_itable *t, struct fx_inode *parent, const char *name);
/**
 * The child @name of @parent, created (with st.st_mode = @mode) if absent.
 * @return it with a reference taken, or NULL on ENOMEM. *@created tells which.
 */
struct fx_inode *fx_itable_child_make(struct fx_itable *t, struct fx_inode *parent, const char *name,
				      mode_t mode, bool *created);

/** The kernel learned of @in once more (reply_entry/create/readdirplus). */
void fx_itable_lookup(struct fx_itable *t, struct fx_inode *in);
/** The kernel forgot @n lookups of @ino. */
void fx_itable_forget(struct fx_itable *t, uint64_t ino, uint64_t n);

/**
 * Object key of @in: "" for the root, "a/b" below it (no trailing '/').
 * @return length, -ENOENT if detached, -ENAMETOOLONG if it does not fit @n.
 */
int fx_itable_key(struct fx_itable *t, struct fx_inode *in, char *buf, size_t n);

/**
 * Give @in the name @name under @parent, detaching whatever inode held that
 * name before. @return 0, -ENOENT if @in was detached meanwhile, or -ENOMEM.
 */
int fx_itable_move(struct fx_itable *t, struct fx_inode *in, struct fx_inode *parent, const char *name);
/** Remove @in from the name tree (unlink, rmdir); it lives on until forgotten. */
void fx_itable_detach(struct fx_itable *t, struct fx_inode *in);
/** True once @in was unlinked (its own name removed; not its ancestors'). */
bool fx_itable_detached(struct fx_itable *t, struct fx_inode *in);
/** @in's parent with a reference taken; NULL for the root and detached inodes. */
struct fx_inode *fx_itable_parent(struct fx_itable *t, struct fx_inode *in);
/** Number of live inodes (for tests and stats). */
size_t fx_itable_count(struct fx_itable *t);

#endif
