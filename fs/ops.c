/*
 * ops.c - FUSE low-level operations of rustfx (see fs.h).
 *
 * Owns: turning FUSE requests into backend calls over the inode table:
 * lookups and attributes, directory snapshots for readdir(plus), staged
 * writes published on flush/fsync/release, metadata updates (chmod, chown,
 * utimens, user xattrs), rename of files and directories, symlinks.
 * Does not own: key safety (backends/), staging files (cache/staging.c),
 * names <-> keys and metadata encoding (fs/namespace.c).
 *
 * Each handler computes with a do_*() helper returning 0 or -errno and sends
 * exactly one reply. No lock is held across backend I/O or a fuse_reply_*.
 */
#define FX_LOG_MODULE "fs"
#include "fs/fs.h"

#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <xxhash.h>
#include <jansson.h>
#include <limits.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "cache/cache.h"
#include "cache/staging.h"
#include "core/fsutil.h"
#include "fs/control.h"
#include "fs/headahead.h"
#include "core/log.h"
#include "fs/inode.h"
#include "fs/metrics.h"
#include "fs/namespace.h"
#include "fs/pagefill.h"
#include "fs/signals.h"

#define FX_KEY_BUF (FX_KEY_MAX + 2)
#define FX_PAGEFILL_READ (64u << 10) /* reads up to this size fill their block */
#define FX_PAGEFILL_DENSITY 16u      /* once a file had this many per block of it */
#define FX_LISTINGS 64 /* directory listings kept for dir_ttl */
#define FX_WALKED 256  /* directories listed ahead by a walk, kept for dir_ttl */
#define FX_WALKED_ENTRIES 8192 /* ... holding at most this many entries in all */
#define FX_WALK_AHEAD 8	       /* next sibling directories a walk lists ahead */
#define FX_WALK_AHEAD_THREADS 4 /* ... so many at a time */
#define FX_WALK_AHEAD_HEADS 8   /* ... each HEADing its markers on so many threads */
#define FX_WALK_AHEAD_PAGES 4   /* ... and walking at most so many pages of it */
#define FX_PROBE_DIR_FIRST 1u /* fx_probe: an inode known as a directory */
#define FX_PROBE_PAGE 2u      /* ... a lookup: probe a directory with a page */
#define FX_NEGATIVES 1024 /* names known absent, kept for negative_ttl */
#define FX_XATTR_META "xattr" /* metadata holding user xattrs as JSON, as s3fs */
/* All user xattrs of a file share one metadata value (S3 caps user metadata
 * at 2 KiB); one value's base64 must fit in it. */
#define FX_XATTR_MAX FX_META_VALUE_MAX
#define FX_XATTR_VALUE_MAX ((FX_META_VALUE_MAX - 64) / 4 * 3)

struct fx_fs {
	struct fx_backend *backend;
	struct fx_cache *cache;
	struct fx_headahead *ha; /* predicted lookups; NULL unless prefetch=snn */
	struct fx_ctl ctl; /* the virtual control directory */
	struct fuse_session *se; /* for invalidation notices; set while mounted */
	struct fx_pagefill *pagefill; /* set while mounted, unless it cannot start */
	/* Directory listings reused for dir_ttl seconds while nothing changed
	 * through this mount (any change bumps the generation). */
	pthread_mutex_t listings_lock;
	struct fx_listing {
		uint64_t ino, gen;
		double expiry;
		struct fx_dir *dir; /* holds a reference */
	} listings[FX_LISTINGS];
	/* Directories below one being walked, listed with it (fx_walk). */
	struct fx_walked {
		char *prefix; /* "a/b/" */
		uint64_t gen;
		double expiry;
		struct fx_dir *dir; /* as listed: not sorted; HEADed if by a walk-ahead */
		bool pending;	    /* reserved: a walk-ahead is listing it */
	} walked[FX_WALKED];   /* listings_lock */
	size_t walked_entries; /* listings_lock */
	pthread_cond_t walked_cond; /* a pending walked slot was filled or dropped */
	atomic_uint walkers;	    /* walk-ahead threads running */
	atomic_uint_fast64_t gen;
	/* Names a lookup found absent: (parent, name) hash, generation, expiry. */
	struct fx_negative {
		uint64_t hash, gen;
		double expiry;
	} negatives[FX_NEGATIVES]; /* listings_lock */
	struct fx_itable *inodes;
	struct fx_fs_options opt;
	struct fx_ns_defaults defaults;
	char staging_dir[PATH_MAX];
	int devnull; /* source of zero-byte uploads (markers) */
	char mountpoint[PATH_MAX];
	atomic_bool readahead_set; /* fx_set_readahead() ran (after INIT) */
	pthread_mutex_t readahead_lock;
};

static void fx_set_readahead(const char *mountpoint, uint64_t bytes);

struct fx_file {
	struct fx_inode *in; /* holds a reference */
	int flags;           /* open(2) flags */
	bool direct;         /* opened with direct_io: no page cache */
	struct fx_readahead ra;
};

struct fx_dirent {
	char *name;
	struct stat st;
	struct fx_meta meta;
	char etag[FX_ETAG_MAX];
	uint64_t obj_size;    /* the object's size and last-modified, as listed */
	int64_t obj_mtime_ns;
	bool is_dir;
	bool need_head; /* the listing carried no metadata */
	bool headed;    /* metadata fetched by HEAD: worth remembering */
	bool no_attr;   /* metadata could not be fetched: readdirplus gives none */
};

struct fx_dir {
	atomic_uint refs; /* open handles, and the listing cache */
	struct fx_dirent *e;
	size_t n, cap;
	const char *prefix;
	struct fx_fs *fs;
	char *more; /* token of the pages not listed yet (a lookup's first page) */
};

static int fx_dir_collect(void *arg, const struct fx_list_entry *le);
static void fx_dir_free(struct fx_dir *d);
static void fx_walked_put(struct fx_fs *fs, char *prefix, struct fx_dir *d, uint64_t gen);
static int fx_walked_find(struct fx_fs *fs, const char *prefix, const char *name,
			  struct fx_dirent *out);

static double fx_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct timespec fx_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

static struct fx_fs *fx_fs_of(fuse_req_t req)
{
	struct fx_fs *fs = fuse_req_userdata(req);

	fx_log_set_request(fx_log_next_request());
	/* INIT resets the kernel's readahead window; the first request after it
	 * is the earliest moment to widen it. Requests that race with that one
	 * wait for it: none is answered before the window is set. */
	if (!atomic_load_explicit(&fs->readahead_set, memory_order_acquire)) {
		pthread_mutex_lock(&fs->readahead_lock);
		if (!atomic_load_explicit(&fs->readahead_set, memory_order_relaxed)) {
			fx_set_readahead(fs->mountpoint, fs->opt.kernel_readahead);
			atomic_store_explicit(&fs->readahead_set, true, memory_order_release);
		}
		pthread_mutex_unlock(&fs->readahead_lock);
	}
	return fs;
}

static int fx_key(struct fx_fs *fs, struct fx_inode *in, char *key)
{
	int ret = fx_itable_key(fs->inodes, in, key, FX_KEY_BUF - 1);

	return ret < 0 ? ret : 0;
}

static int fx_child_key(struct fx_fs *fs, struct fx_inode *parent, const char *name, char *key)
{
	char dir[FX_KEY_BUF];
	int ret = fx_key(fs, parent, dir);

	if (ret < 0)
		return ret;
	ret = fx_ns_child_key(dir, name, key, FX_KEY_BUF);
	return ret < 0 ? ret : 0;
}

/* This mount changed something: cached listings may be wrong now. */
static void fx_changed(struct fx_fs *fs)
{
	atomic_fetch_add(&fs->gen, 1);
}

static uint64_t fx_negative_hash(fuse_ino_t parent, const char *name)
{
	return XXH3_64bits_withSeed(name, strlen(name), parent) | 1;
}

/* True if a lookup of @name in @parent found nothing within negative_ttl
 * and nothing changed through this mount since. */
static bool fx_negative_get(struct fx_fs *fs, fuse_ino_t parent, const char *name)
{
	uint64_t h = fx_negative_hash(parent, name);
	struct fx_negative *n = &fs->negatives[h % FX_NEGATIVES];
	bool hit;

	pthread_mutex_lock(&fs->listings_lock);
	hit = n->hash == h && n->gen == atomic_load(&fs->gen) && fx_now() < n->expiry;
	pthread_mutex_unlock(&fs->listings_lock);
	return hit;
}

static void fx_negative_put(struct fx_fs *fs, fuse_ino_t parent, const char *name, uint64_t gen)
{
	uint64_t h = fx_negative_hash(parent, name);

	if (fs->opt.negative_ttl <= 0)
		return;
	pthread_mutex_lock(&fs->listings_lock);
	fs->negatives[h % FX_NEGATIVES] =
		(struct fx_negative){ .hash = h, .gen = gen, .expiry = fx_now() + fs->opt.negative_ttl };
	pthread_mutex_unlock(&fs->listings_lock);
}

static bool fx_staged(const struct fx_inode *in)
{
	return in->stage_fd >= 0;
}

/* The staged bytes of @in are about to change (inode lock held): no longer
 * the published ones. @return 0, or -errno and they must not change. */
static int fx_stage_changing(struct fx_inode *in)
{
	int ret = 0;

	if (in->stage_published && (ret = fx_staging_mark(in->stage_fd, false)) == 0)
		in->stage_published = false;
	return ret;
}

/* Wait until no bytes of @in are being put into the kernel's page cache
 * (inode lock held): they could land over newer ones. */
static void fx_wait_fill(struct fx_inode *in)
{
	while (in->filling)
		pthread_cond_wait(&in->cond, &in->lock);
}

/* ------------------------------------------------------------ attributes */

/* Listing callback of fx_probe: is the first key the marker itself? */
static int fx_found(void *arg, const struct fx_list_entry *e)
{
	const char *marker = *(const char **)arg;

	*(const char **)arg = strcmp(e->key, marker) == 0 ? "marker" : "prefix";
	return 1; /* one entry is enough: stop */
}

/* Remember @key's user metadata for the version @etag, so that listings
 * naming that version need no HEAD, also after a remount. Stores whose
 * listings carry metadata need no memory of it. */
static void fx_remember(struct fx_fs *fs, const char *key, const char *etag, uint64_t size,
			int64_t mtime_ns, const struct fx_meta *meta)
{
	struct fx_store_attrs rec = { .key = key, .etag = etag, .size = size,
				      .mtime_ns = mtime_ns, .meta = meta };

	if (etag && etag[0] && !(fx_backend_caps(fs->backend) & FX_CAP_LIST_META))
		fx_store_attrs_put(fs->cache->store, &rec, 1);
}

/* Listings fetched ahead (a lookup's page, a walk) are kept for dir_ttl:
 * only where a listing lacks metadata (S3), as file:// lists for free. */
static bool fx_keeps_pages(const struct fx_fs *fs)
{
	return fs->opt.dir_ttl > 0 && !(fx_backend_caps(fs->backend) & FX_CAP_LIST_META);
}

struct fx_probe_page {
	struct fx_dir *d;
	const char *marker;
	size_t seen;	 /* keys and prefixes the page held */
	bool has_marker; /* the marker itself was one of them */
};

static int fx_probe_collect(void *arg, const struct fx_list_entry *le)
{
	struct fx_probe_page *p = arg;

	p->seen++;
	if (!le->is_prefix && strcmp(le->key, p->marker) == 0)
		p->has_marker = true;
	return fx_dir_collect(p->d, le);
}

/*
 * Directory @marker probed with the first page of its listing rather than
 * one key: the `ls` or `cd` that usually follows a directory's lookup takes
 * that page (and the token of the rest) from the walked table instead of
 * asking for it again. The page holds the directory's own entries, not its
 * subtree, so it is as large as a listing of it would be.
 * With @opening, the page is the root's that the backend listed when it was
 * opened (fx_backend_opening_list), kept even when empty.
 * @return 1 when a key lies below @marker (*@has_marker: @marker itself is
 * one), 0 when none does, or -errno.
 */
static int fx_probe_page(struct fx_fs *fs, const char *marker, bool opening, bool *has_marker)
{
	struct fx_probe_page p = { .marker = marker };
	uint64_t gen = atomic_load(&fs->gen);
	char *prefix;
	int ret;

	if (!(p.d = calloc(1, sizeof(*p.d))))
		return -ENOMEM;
	atomic_init(&p.d->refs, 1);
	p.d->prefix = marker;
	p.d->fs = fs;
	if (opening)
		ret = fx_backend_opening_list(fs->backend, fx_probe_collect, &p, &p.d->more);
	else
		ret = fx_backend_list(fs->backend, marker, "/", NULL, 0, fx_probe_collect, &p,
				      &p.d->more);
	p.d->prefix = NULL;
	*has_marker = p.has_marker;
	if (ret == 0 && (p.seen || opening) && (prefix = strdup(marker)))
		fx_walked_put(fs, prefix, p.d, gen);
	else
		fx_dir_free(p.d);
	return ret < 0 ? ret : p.seen > 0;
}

/* The directory @key as the backend holds it: a common prefix, its marker
 * (the first key below it, if present) holding its metadata. -ENOENT when
 * no key has it as a prefix. One request answers for most: one key, or
 * with @page (a lookup of a name not known as a directory, on a store whose
 * listings carry no metadata) the first page of its listing. */
static int fx_probe_dir(struct fx_fs *fs, const char *key, struct stat *st,
			struct fx_object_info *info, bool page)
{
	char marker[FX_KEY_BUF];
	bool has_marker = false;
	int ret;

	fx_ns_dir_marker(key, marker, sizeof(marker));
	if (page && fx_keeps_pages(fs)) {
		ret = fx_probe_page(fs, marker, false, &has_marker);
	} else {
		const char *first = marker;

		ret = fx_backend_list(fs->backend, marker, NULL, NULL, 1, fx_found, &first, NULL);
		has_marker = strcmp(first, "marker") == 0;
	}
	if (ret < 0)
		return ret;
	if (ret == 0)
		return -ENOENT;
	if (has_marker) {
		ret = fx_backend_head(fs->backend, marker, info);
		if (ret == 0) {
			fx_ns_stat(st, &info->meta, true, 0, info->mtime_ns, &fs->defaults);
			return 0;
		}
		if (ret != -ENOENT)
			return ret;
	}
	fx_ns_stat(st, NULL, true, 0, 0, &fs->defaults);
	return 0;
}

/*
 * What the backend holds for @key: an object, a directory (marker or common
 * prefix), or -ENOENT. Fills @st and @meta. Where both exist, a listing shows
 * the directory (README "Hostile names"); an inode already known as a
 * directory (@dir_first) is probed as one first, so it stays one. A name
 * seen nowhere else is HEADed first: files are looked up far more often.
 */
static int fx_probe(struct fx_fs *fs, const char *key, struct stat *st, struct fx_meta *meta,
		    char *etag, unsigned how)
{
	bool dir_first = how & FX_PROBE_DIR_FIRST;
	struct fx_object_info info = { 0 };
	int ret = -ENOENT;

	if (etag)
		etag[0] = '\0';
	if (key[0] == '\0') { /* the root */
		fx_ns_stat(st, NULL, true, 0, 0, &fs->defaults);
		return 0;
	}
	if (dir_first && (ret = fx_probe_dir(fs, key, st, &info, how & FX_PROBE_PAGE)) != -ENOENT)
		goto found;
	/* A file the learning cache predicted may have been HEADed already. */
	if (fx_headahead_take(fs->ha, key, atomic_load(&fs->gen), &info) == 0)
		ret = 0;
	else
		ret = fx_backend_head(fs->backend, key, &info);
	if (ret == 0) {
		fx_remember(fs, key, info.etag, info.size, info.mtime_ns, &info.meta);
		fx_ns_stat(st, &info.meta, false, info.size, info.mtime_ns, &fs->defaults);
		if (etag)
			snprintf(etag, FX_ETAG_MAX, "%s", info.etag);
		goto found;
	}
	if (ret == -ENOENT && !dir_first)
		ret = fx_probe_dir(fs, key, st, &info, how & FX_PROBE_PAGE);
found:
	if (ret == 0) {
		fx_meta_clear(meta);
		*meta = info.meta; /* take ownership */
		info.meta.n = 0;
		info.meta.kv = NULL;
	}
	fx_object_info_clear(&info);
	return ret;
}

/* An inode whose local state is the truth until it is published or closed:
 * backend answers must not overwrite or replace it. inode lock held. */
static bool fx_busy(const struct fx_inode *in)
{
	return fx_staged(in) || in->open_count > 0 || !in->remote;
}

/* How fx_inode_set_attr() takes attributes. */
enum {
	FX_ATTR_FORCE = 1, /* we just stored them: newer than any local state */
	FX_ATTR_LAZY = 2,  /* from a listing, without the object's user metadata */
};

/*
 * Record backend attributes on @in. Unless FX_ATTR_FORCE, they are dropped
 * when local state is newer: the inode is busy, or its attributes were
 * refreshed after the caller's answer was fetched (a probe or a directory
 * snapshot taken before a publish must not undo it). Listing attributes
 * (FX_ATTR_LAZY) of the version whose metadata the inode already holds only
 * extend their life.
 */
static void fx_inode_set_attr(struct fx_fs *fs, struct fx_inode *in, const struct stat *st,
			      struct fx_meta *meta, const char *etag, unsigned how)
{
	pthread_mutex_lock(&in->lock);
	if ((how & FX_ATTR_LAZY) && !in->meta_lazy && in->remote && etag && etag[0] &&
	    strcmp(etag, in->etag) == 0 && !fx_busy(in)) {
		in->attr_expiry = fx_now() + fs->opt.stat_ttl;
	} else if ((how & FX_ATTR_FORCE) || (!fx_busy(in) && fx_now() >= in->attr_expiry)) {
		ino_t ino = in->st.st_ino;

		in->st = *st;
		in->st.st_ino = ino;
		fx_meta_clear(&in->meta);
		in->meta = *meta;
		meta->n = 0;
		meta->kv = NULL;
		in->remote = true;
		in->meta_lazy = how & FX_ATTR_LAZY;
		in->attr_expiry = fx_now() + fs->opt.stat_ttl;
		snprintf(in->etag, sizeof(in->etag), "%s", etag ? etag : "");
	}
	pthread_mutex_unlock(&in->lock);
}

/*
 * The inode for @name under @parent with attributes @st, made if needed.
 * An idle inode of another type under that name (changed behind our back)
 * is replaced; a busy one is kept as it is and *@conflict set, since local
 * state is newer than any listing. Returns it referenced, or NULL (ENOMEM).
 */
static struct fx_inode *fx_child_install(struct fx_fs *fs, struct fx_inode *parent, const char *name,
					 const struct stat *st, struct fx_meta *meta, const char *etag,
					 unsigned how, bool *conflict)
{
	bool created, busy;
	struct fx_inode *in = fx_itable_child_make(fs->inodes, parent, name, st->st_mode, &created);

	*conflict = false;
	if (in && !created) {
		pthread_mutex_lock(&in->lock);
		busy = fx_busy(in);
		*conflict = (in->st.st_mode & S_IFMT) != (st->st_mode & S_IFMT);
		pthread_mutex_unlock(&in->lock);
		if (*conflict && busy)
			return in;
		if (*conflict) {
			*conflict = false;
			fx_itable_detach(fs->inodes, in);
			fx_itable_put(fs->inodes, in);
			in = fx_itable_child_make(fs->inodes, parent, name, st->st_mode, &created);
		}
	}
	if (in)
		fx_inode_set_attr(fs, in, st, meta, etag, how | (created ? FX_ATTR_FORCE : 0));
	return in;
}

static void fx_entry_of(struct fx_fs *fs, struct fx_inode *in, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = in->ino;
	e->generation = 1;
	pthread_mutex_lock(&in->lock);
	e->attr = in->st;
	pthread_mutex_unlock(&in->lock);
	e->attr_timeout = fs->opt.attr_timeout;
	e->entry_timeout = fs->opt.entry_timeout;
}

/* How fx_refresh() refreshes. */
enum {
	FX_REFRESH_NOW = 1,  /* whatever their age, even while the file is open */
	FX_REFRESH_META = 2, /* also when only a listing's attributes are known */
};

/*
 * Refresh @in's attributes from the backend when they are stale, or with
 * FX_REFRESH_NOW whatever their age (a reader that met -ESTALE must learn
 * the new ETag). Callers that store metadata back or act on the file's type
 * ask for FX_REFRESH_META: attributes from a listing lack the object's user
 * metadata (dir_meta=listing). A staged inode keeps its own.
 * @return 0, -ENOENT if the object is gone or changed type, -ESTALE if a
 * listing showed it as another type than it is (the kernel looks it up
 * again), or -errno.
 */
static int fx_refresh(struct fx_fs *fs, struct fx_inode *in, unsigned how)
{
	char key[FX_KEY_BUF], etag[FX_ETAG_MAX];
	struct fx_meta meta = { 0 };
	struct stat st;
	bool skip, changed, lazy, shown, dir;
	bool now = how & FX_REFRESH_NOW;
	int ret;

	/* A removed inode (an open directory after rmdir) has no object left:
	 * what it was is all there is to say. */
	if (in->ino == FX_ROOT_INO || fx_itable_detached(fs->inodes, in))
		return 0;
	pthread_mutex_lock(&in->lock);
	lazy = in->meta_lazy && (how & FX_REFRESH_META);
	skip = fx_staged(in) || !in->remote || (!now && !lazy && fx_now() < in->attr_expiry);
	dir = S_ISDIR(in->st.st_mode);
	pthread_mutex_unlock(&in->lock);
	if (skip)
		return 0;
	if ((ret = fx_key(fs, in, key)) < 0)
		return ret;
	ret = fx_probe(fs, key, &st, &meta, etag, dir ? FX_PROBE_DIR_FIRST : 0);
	pthread_mutex_lock(&in->lock);
	if (ret == 0 && (st.st_mode & S_IFMT) != (in->st.st_mode & S_IFMT)) {
		/* Replaced by another type, or listed as a file while it is a
		 * symlink: the kernel must look it up again. */
		ret = in->meta_lazy ? -ESTALE : -ENOENT;
		in->attr_expiry = 0;
	}
	pthread_mutex_unlock(&in->lock);
	if (ret == 0) {
		pthread_mutex_lock(&in->lock);
		changed = in->etag[0] && strcmp(in->etag, etag);
		/* The kernel holds the listing's mode, owner and mtime. */
		shown = lazy && (in->st.st_mode != st.st_mode || in->st.st_uid != st.st_uid ||
				 in->st.st_gid != st.st_gid ||
				 in->st.st_mtim.tv_sec != st.st_mtim.tv_sec ||
				 in->st.st_mtim.tv_nsec != st.st_mtim.tv_nsec);
		pthread_mutex_unlock(&in->lock);
		fx_inode_set_attr(fs, in, &st, &meta, etag, now || lazy ? FX_ATTR_FORCE : 0);
		/* The kernel may hold pages of the old bytes for open files. Not
		 * from a read (@now): invalidating waits for the pages it locks. */
		if (changed && !now && S_ISREG(st.st_mode) && fs->se) {
			pthread_mutex_lock(&in->lock);
			fx_wait_fill(in); /* a fill of the old version ends first */
			pthread_mutex_unlock(&in->lock);
			fuse_lowlevel_notify_inval_inode(fs->se, in->ino, 0, 0);
		} else if (shown && fs->se) {
			fuse_lowlevel_notify_inval_inode(fs->se, in->ino, -1, 0); /* attributes only */
		}
	}
	fx_meta_clear(&meta);
	return ret;
}

/* The version of @in's object blocks are cached under (inode lock held):
 * its ETag, or its size and mtime for a store that has none. */
static void fx_version_of(const struct fx_inode *in, char *buf, size_t n)
{
	if (in->etag[0])
		snprintf(buf, n, "%s", in->etag);
	else
		snprintf(buf, n, "%lld:%lld.%09ld", (long long)in->st.st_size,
			 (long long)in->st.st_mtim.tv_sec, in->st.st_mtim.tv_nsec);
}

/* Tell the cache which version of @in readers will see now, so blocks of
 * an older one are dropped. */
static void fx_cache_note_version(struct fx_fs *fs, struct fx_inode *in)
{
	char key[FX_KEY_BUF], version[FX_ETAG_MAX + 64];
	uint64_t size;

	pthread_mutex_lock(&in->lock);
	fx_version_of(in, version, sizeof(version));
	size = (uint64_t)in->st.st_size;
	pthread_mutex_unlock(&in->lock);
	if (fx_key(fs, in, key) == 0)
		fx_store_object_version(fs->cache->store, fx_backend_url(fs->backend), key, version,
					size);
}

/* ------------------------------------------------------------ publishing */

/*
 * Upload @in's staged data and metadata if they changed since the last
 * publish. Concurrent publishes of one inode are serialised on in->cond.
 * The key is computed without holding anything against rename or unlink, so
 * it is checked again after the upload: an object put under a name the file
 * lost meanwhile is deleted, and the upload goes to the new name.
 */
static int fx_publish(struct fx_fs *fs, struct fx_inode *in)
{
	char key[FX_KEY_BUF], now_key[FX_KEY_BUF];
	struct fx_object_info info = { 0 };
	struct fx_meta meta = { 0 };
	uint64_t seq;
	struct stat st;
	int ret, fd, tries = 0;

	pthread_mutex_lock(&in->lock);
	while (in->publishing)
		pthread_cond_wait(&in->cond, &in->lock);
	if (!fx_staged(in) || in->dirty_seq == in->clean_seq) {
		pthread_mutex_unlock(&in->lock);
		return 0;
	}
	in->publishing = true;
	seq = in->dirty_seq;
	st = in->st;
	fd = in->stage_fd;
	ret = fx_meta_copy(&meta, &in->meta);
	pthread_mutex_unlock(&in->lock);
	if (ret == 0)
		ret = fx_ns_meta_from_stat(&meta, &st);
again:
	fx_object_info_clear(&info);
	if (ret == 0 && fx_itable_detached(fs->inodes, in))
		goto out; /* unlinked while open: nothing to publish */
	if (ret == 0)
		ret = fx_key(fs, in, key);
	if (ret == 0) {
		fx_store_attrs_forget(fs->cache->store, key);
		ret = fx_backend_put(fs->backend, key, fd, (uint64_t)st.st_size, &meta, &info);
	}
	if (ret == 0 && (fx_key(fs, in, now_key) < 0 || strcmp(key, now_key) != 0)) {
		/* renamed or unlinked during the upload: that name is no longer ours */
		fx_backend_delete(fs->backend, key);
		if (++tries < 3)
			goto again;
		ret = fx_itable_detached(fs->inodes, in) ? 0 : -EAGAIN;
	}
	if (ret < 0)
		fx_error("publishing %s failed: %s; the data stays in %s and is retried at the next "
			 "flush or close", key, fx_strerror(ret), in->stage_path);
	else
		fx_debug("published %s (%lld bytes)", key, (long long)st.st_size);
	if (ret == 0 && !fx_itable_detached(fs->inodes, in))
		fx_remember(fs, key, info.etag, (uint64_t)st.st_size, FX_STORE_MTIME_ANY, &meta);
out:
	pthread_mutex_lock(&in->lock);
	in->publishing = false;
	if (ret == 0) {
		in->clean_seq = seq;
		in->remote = true;
		/* Its bytes are the object's: a kill before the file is dropped
		 * leaves nothing to report. */
		if (in->dirty_seq == seq && fx_staged(in) && !in->stage_published)
			in->stage_published = fx_staging_mark(in->stage_fd, true) == 0;
		snprintf(in->etag, sizeof(in->etag), "%s", info.etag);
	}
	pthread_cond_broadcast(&in->cond);
	pthread_mutex_unlock(&in->lock);
	fx_object_info_clear(&info);
	fx_meta_clear(&meta);
	fx_changed(fs);
	return ret;
}

/* Drop the staging copy once nothing needs it: no open handle, and published
 * or unlinked. Its attributes stay fresh: they are exactly what was stored. */
static void fx_unstage_if_idle(struct fx_fs *fs, struct fx_inode *in)
{
	bool detached = fx_itable_detached(fs->inodes, in);
	char *path = NULL;
	int fd = -1;

	pthread_mutex_lock(&in->lock);
	if (fx_staged(in) && in->open_count == 0 && !in->publishing && !in->replacing &&
	    (in->dirty_seq == in->clean_seq || detached)) {
		fd = in->stage_fd;
		path = in->stage_path;
		in->stage_fd = -1;
		in->stage_published = false;
		in->stage_path = NULL;
		in->attr_expiry = fx_now() + fs->opt.stat_ttl;
	}
	pthread_mutex_unlock(&in->lock);
	fx_staging_drop(fd, path);
}

/*
 * Store @in's metadata (chmod, utimens, xattrs, ...). A file staged for open
 * handles carries it at their next publish; otherwise it is stored now.
 * The bucket root has no object to hold metadata: changes to it stay local.
 */
static int fx_publish_meta(struct fx_fs *fs, struct fx_inode *in)
{
	char key[FX_KEY_BUF], marker[FX_KEY_BUF];
	struct fx_object_info info = { 0 };
	struct fx_meta meta = { 0 };
	bool staged, open;
	struct stat st;
	int ret;

	if (in->ino == FX_ROOT_INO)
		return 0;
	pthread_mutex_lock(&in->lock);
	staged = fx_staged(in);
	open = in->open_count > 0;
	if (staged)
		in->dirty_seq++;
	st = in->st;
	ret = staged ? 0 : fx_meta_copy(&meta, &in->meta);
	pthread_mutex_unlock(&in->lock);
	if (staged) {
		if (open)
			return 0; /* the last release publishes it */
		ret = fx_publish(fs, in);
		fx_unstage_if_idle(fs, in);
		return ret;
	}
	if (ret < 0)
		return ret;
	if ((ret = fx_key(fs, in, key)) < 0 || (ret = fx_ns_meta_from_stat(&meta, &st)) < 0)
		goto out;
	if (S_ISDIR(st.st_mode)) {
		fx_ns_dir_marker(key, marker, sizeof(marker));
		fx_store_attrs_forget(fs->cache->store, marker);
		ret = fx_backend_put(fs->backend, marker, fs->devnull, 0, &meta, NULL);
	} else {
		fx_store_attrs_forget(fs->cache->store, key);
		ret = fx_backend_copy(fs->backend, key, key, &meta);
		/* Some stores give the copy a new ETag: learn it (and remember the
		 * new metadata for listings) before reading. */
		if (ret == 0 && fx_backend_head(fs->backend, key, &info) == 0)
			fx_remember(fs, key, info.etag, info.size, info.mtime_ns, &meta);
		pthread_mutex_lock(&in->lock);
		snprintf(in->etag, sizeof(in->etag), "%s", info.etag);
		pthread_mutex_unlock(&in->lock);
		fx_object_info_clear(&info);
	}
out:
	fx_meta_clear(&meta);
	fx_changed(fs);
	return ret;
}

/* Give @in a staging copy; with @load, of the object's current bytes. */
static int fx_stage(struct fx_fs *fs, struct fx_inode *in, bool load)
{
	char key[FX_KEY_BUF], *path = NULL;
	uint64_t size;
	bool remote, named;
	int fd, ret;

	pthread_mutex_lock(&in->lock);
	if (fx_staged(in)) {
		pthread_mutex_unlock(&in->lock);
		return 0;
	}
	size = (uint64_t)in->st.st_size;
	remote = in->remote;
	pthread_mutex_unlock(&in->lock);

	named = fx_key(fs, in, key) == 0; /* not when unlinked meanwhile */
	fd = fx_staging_create(fs->staging_dir, named ? key : NULL, &path);
	if (fd < 0)
		return fd;
	if (load && remote && size > 0) {
		ret = named ? fx_staging_fill(fs->backend, key, size, fd) : -ENOENT;
		if (ret < 0) {
			fx_staging_drop(fd, path);
			return ret;
		}
	}
	pthread_mutex_lock(&in->lock);
	if (fx_staged(in)) { /* another opener won the race */
		pthread_mutex_unlock(&in->lock);
		fx_staging_drop(fd, path);
		return 0;
	}
	in->stage_fd = fd;
	in->stage_published = false;
	in->stage_path = path;
	if (!load)
		in->st.st_size = 0;
	fx_wait_fill(in); /* then no fill starts: writes may begin */
	pthread_mutex_unlock(&in->lock);
	return 0;
}

/*
 * Before @in's object goes (unlink, rename over it): open handles keep its
 * bytes, copied to staging first as POSIX wants. Until fx_replaced(), opens
 * wait and the copy stays: a handle opened meanwhile without it would read
 * the object that replaces it, with the kernel holding the old one's size.
 */
static int fx_keep_open(struct fx_fs *fs, struct fx_inode *in)
{
	bool needed;

	pthread_mutex_lock(&in->lock);
	needed = in->open_count > 0 && !fx_staged(in) && S_ISREG(in->st.st_mode);
	in->replacing = true;
	pthread_mutex_unlock(&in->lock);
	return needed ? fx_stage(fs, in, true) : 0;
}

/* The change fx_keep_open() prepared for is done (or failed): let opens go,
 * and drop the copy if its handles closed meanwhile. */
static void fx_replaced(struct fx_fs *fs, struct fx_inode *in)
{
	pthread_mutex_lock(&in->lock);
	if (in->replacing) {
		in->replacing = false;
		pthread_cond_broadcast(&in->cond);
	}
	pthread_mutex_unlock(&in->lock);
	fx_unstage_if_idle(fs, in);
}

/* Wait while @in's object is being replaced (inode lock held). */
static void fx_wait_replace(struct fx_inode *in)
{
	while (in->replacing)
		pthread_cond_wait(&in->cond, &in->lock);
}

/* ------------------------------------------------------------ lookup */

static void fx_op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO; /* always plus: attrs are free */
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	/* O_TRUNC reaches open() instead of a separate truncating setattr, which
	 * would publish an empty object first. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* Locks stay kernel-local (we implement no getlk/setlk/flock). */
	conn->want &= ~(unsigned)(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
	conn->max_write = 1u << 20;
}

/*
 * A name never looked up in @parent, answered from the listing its parent's
 * lookup, a walk or the mount just fetched (fx_walked_find) with no request:
 * 1 and a file's @st, @meta, @etag, 0 when absent there, 2 when listed as a
 * directory (probed as one, with no HEAD), -1 when that takes a probe.
 * A listing lacks a file's own metadata (mode, owner, mtime, symlink):
 * - the cache may remember it for the version listed: exact, no request;
 * - else an object larger than any link target (FX_LINK_MAX) cannot be a
 *   symlink: its listed attributes are given (*@lazy), for the kernel to ask
 *   again at once (attr_timeout 0), so `stat` HEADs it (getattr) while an
 *   `open` HEADs it and fetches its first block together (fx_open_ahead);
 * - else (-1) it is HEADed now, as it may be a link, and its bytes, at most
 *   FX_LINK_MAX, are fetched meanwhile: `cat` waits one round trip.
 */
#define FX_LINK_MAX 4096 /* the longest symlink target an object holds (PATH_MAX) */
static int fx_lookup_listed(struct fx_fs *fs, struct fx_inode *parent, const char *key,
			    const char *name, struct stat *st, struct fx_meta *meta, char *etag,
			    unsigned *lazy)
{
	char pkey[FX_KEY_BUF], prefix[FX_KEY_BUF];
	struct fx_dirent de = { 0 };
	int ret;

	if (!fx_keeps_pages(fs) || fx_key(fs, parent, pkey) < 0)
		return -1;
	fx_ns_dir_marker(pkey, prefix, sizeof(prefix));
	if ((ret = fx_walked_find(fs, prefix, name, &de)) != 1)
		return ret;
	*lazy = 0;
	/* Metadata the cache remembers for the version listed, as ls -l shows. */
	if (de.need_head && de.etag[0] &&
	    fx_store_attrs_get(fs->cache->store, key, de.etag, de.obj_size, de.obj_mtime_ns,
			       &de.meta) == 0)
		de.need_head = false;
	if (de.need_head && de.obj_size <= FX_LINK_MAX) {
		struct fx_object_ref obj = { .key = key, .version = de.etag, .size = de.obj_size };

		fx_meta_clear(&de.meta);
		if (de.etag[0] && de.obj_size && fs->cache->opt.prefetch != FX_PREFETCH_OFF)
			fx_reader_prefetch(fs->cache->reader, &obj, 0, 1, FX_FETCH_READAHEAD);
		return -1;
	}
	fx_ns_stat(&de.st, &de.meta, false, de.obj_size, de.obj_mtime_ns, &fs->defaults);
	*st = de.st;
	fx_meta_clear(meta);
	*meta = de.meta;
	snprintf(etag, FX_ETAG_MAX, "%s", de.etag);
	*lazy = de.need_head ? FX_ATTR_LAZY : 0;
	return 1;
}

static int do_lookup(struct fx_fs *fs, fuse_ino_t parent_ino, const char *name,
		     struct fuse_entry_param *e)
{
	struct fx_inode *parent = fx_itable_get(fs->inodes, parent_ino), *in;
	struct fx_meta meta = { 0 };
	char key[FX_KEY_BUF], etag[FX_ETAG_MAX];
	struct stat st;
	bool known, conflict, seen, was_dir = false;
	uint64_t gen = atomic_load(&fs->gen);
	unsigned lazy = 0;
	int ret;

	if (!parent)
		return -ESTALE;
	ret = fx_child_key(fs, parent, name, key);
	if (ret < 0)
		goto out;
	in = fx_itable_child(fs->inodes, parent, name);
	if (!in && fx_negative_get(fs, parent_ino, name)) {
		ret = -ENOENT;
		goto out;
	}
	seen = in != NULL;
	if (in) {
		pthread_mutex_lock(&in->lock);
		known = fx_staged(in) || !in->remote || fx_now() < in->attr_expiry;
		was_dir = S_ISDIR(in->st.st_mode);
		pthread_mutex_unlock(&in->lock);
		if (known)
			goto reply;
		fx_itable_put(fs->inodes, in);
	}
	/* A name seen before is probed: its attributes expired. */
	ret = seen ? -1 : fx_lookup_listed(fs, parent, key, name, &st, &meta, etag, &lazy);
	if (ret == 0)
		ret = -ENOENT;
	else if (ret == 1)
		ret = 0;
	else
		ret = fx_probe(fs, key, &st, &meta, etag,
			       was_dir	  ? FX_PROBE_DIR_FIRST
			       : ret == 2 ? FX_PROBE_DIR_FIRST | FX_PROBE_PAGE
					  : FX_PROBE_PAGE);
	if (ret == -ENOENT)
		fx_negative_put(fs, parent_ino, name, gen);
	if (ret < 0)
		goto out;
	/* On a type conflict with a busy local inode, the local one answers. */
	in = fx_child_install(fs, parent, name, &st, &meta, etag, lazy, &conflict);
	if (!in) {
		ret = -ENOMEM;
		goto out;
	}
reply:
	fx_entry_of(fs, in, e);
	/* Attributes from a listing: a stat asks (getattr) for what it lacked. */
	pthread_mutex_lock(&in->lock);
	if (in->meta_lazy)
		e->attr_timeout = 0;
	pthread_mutex_unlock(&in->lock);
	fx_itable_lookup(fs->inodes, in);
	fx_itable_put(fs->inodes, in);
out:
	fx_meta_clear(&meta);
	fx_itable_put(fs->inodes, parent);
	return ret;
}

static void fx_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fx_fs *fs = fx_fs_of(req);
	struct fuse_entry_param e;
	int ret;

	if (fx_ctl_lookup(&fs->ctl, req, parent, name))
		return;
	ret = do_lookup(fs, parent, name, &e);

	if (ret == -ENOENT && fs->opt.negative_timeout > 0) {
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs->opt.negative_timeout;
		fuse_reply_entry(req, &e);
	} else if (ret < 0) {
		fuse_reply_err(req, -ret);
	} else {
		fuse_reply_entry(req, &e);
	}
}

static void fx_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fx_fs *fs = fuse_req_userdata(req);

	if (!fx_ctl_ino(ino))
		fx_itable_forget(fs->inodes, ino, nlookup);
	fuse_reply_none(req);
}

static void fx_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct fx_fs *fs = fuse_req_userdata(req);

	for (size_t i = 0; i < count; i++)
		fx_itable_forget(fs->inodes, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void fx_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fx_fs *fs = fx_fs_of(req);
	struct fx_inode *in;
	struct stat st;
	int ret;

	(void)fi;
	if (fx_ctl_ino(ino)) {
		fx_ctl_getattr(&fs->ctl, req, ino);
		return;
	}
	in = fx_itable_get(fs->inodes, ino);
	if (!in) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	/* Asked only when the kernel's copy expired, or to check exec rights:
	 * worth the metadata a listing lacked. */
	ret = fx_refresh(fs, in, FX_REFRESH_META);
	pthread_mutex_lock(&in->lock);
	st = in->st;
	pthread_mutex_unlock(&in->lock);
	fx_itable_put(fs->inodes, in);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, fs->opt.attr_timeout);
}

/* ------------------------------------------------------------ setattr */

static void fx_set_time(struct timespec *dst, const struct timespec *src, bool now)
{
	*dst = now ? fx_wall() : *src;
}

static int do_setattr(struct fx_fs *fs, struct fx_inode *in, const struct stat *attr, int to_set,
		      struct stat *out)
{
	bool meta_change = to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID |
				     FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW);
	struct stat old;
	int ret = 0;

	if (fs->opt.ro)
		return -EROFS;
	if ((ret = fx_refresh(fs, in, FX_REFRESH_META)) < 0)
		return ret;
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (S_ISDIR(in->st.st_mode))
			return -EISDIR;
		/* Pinned like a handle, so a concurrent release cannot unstage
		 * between staging and truncating. */
		pthread_mutex_lock(&in->lock);
		in->open_count++;
		pthread_mutex_unlock(&in->lock);
		ret = fx_stage(fs, in, attr->st_size > 0);
		pthread_mutex_lock(&in->lock);
		if (ret == 0)
			ret = fx_stage_changing(in);
		if (ret == 0 && ftruncate(in->stage_fd, attr->st_size) < 0)
			ret = -errno;
		if (ret == 0) {
			in->st.st_size = attr->st_size;
			in->st.st_blocks = (in->st.st_size + 511) / 512;
			in->st.st_mtim = in->st.st_ctim = fx_wall();
			in->dirty_seq++;
		}
		in->open_count--;
		pthread_mutex_unlock(&in->lock);
		if (ret < 0) {
			fx_unstage_if_idle(fs, in);
			return ret;
		}
	}
	pthread_mutex_lock(&in->lock);
	old = in->st;
	if (to_set & FUSE_SET_ATTR_MODE)
		in->st.st_mode = (in->st.st_mode & S_IFMT) | (attr->st_mode & 07777);
	if (to_set & FUSE_SET_ATTR_UID)
		in->st.st_uid = attr->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		in->st.st_gid = attr->st_gid;
	if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW))
		fx_set_time(&in->st.st_mtim, &attr->st_mtim, to_set & FUSE_SET_ATTR_MTIME_NOW);
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW))
		fx_set_time(&in->st.st_atim, &attr->st_atim, to_set & FUSE_SET_ATTR_ATIME_NOW);
	if (meta_change)
		in->st.st_ctim = fx_wall();
	pthread_mutex_unlock(&in->lock);

	/* Truncation without a handle (truncate(1)) is published now; with one,
	 * at its flush or release. */
	if (meta_change || (to_set & FUSE_SET_ATTR_SIZE))
		ret = fx_publish_meta(fs, in);
	pthread_mutex_lock(&in->lock);
	if (ret < 0 && !fx_staged(in))
		in->st = old; /* not stored: do not pretend it was */
	*out = in->st;
	pthread_mutex_unlock(&in->lock);
	return ret;
}

static void fx_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			  struct fuse_file_info *fi)
{
	if (fx_ctl_ino(ino)) {
		fuse_reply_err(req, EPERM); /* the control files are read-only */
		return;
	}
	struct fx_fs *fs = fx_fs_of(req);
	struct fx_inode *in = fx_itable_get(fs->inodes, ino);
	struct stat st;
	int ret;

	if (!in) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	(void)fi; /* a handle changes nothing: the inode's staging is shared */
	ret = do_setattr(fs, in, attr, to_set, &st);
	fx_itable_put(fs->inodes, in);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, fs->opt.attr_timeout);
}

/* ------------------------------------------------------------ directories */

static void fx_dir_free(struct fx_dir *d)
{
	if (!d || atomic_fetch_sub(&d->refs, 1) > 1)
		return;
	for (size_t i = 0; i < d->n; i++) {
		free(d->e[i].name);
		fx_meta_clear(&d->e[i].meta);
	}
	free(d->e);
	free(d->more);
	free(d);
}

/* A cached listing of @ino still valid, referenced, or NULL. */
static struct fx_dir *fx_listing_get(struct fx_fs *fs, uint64_t ino)
{
	struct fx_dir *d = NULL;
	double now = fx_now();

	pthread_mutex_lock(&fs->listings_lock);
	for (int i = 0; i < FX_LISTINGS; i++) {
		struct fx_listing *l = &fs->listings[i];

		if (l->dir && l->ino == ino && l->gen == atomic_load(&fs->gen) && now < l->expiry) {
			d = l->dir;
			atomic_fetch_add(&d->refs, 1);
			break;
		}
	}
	pthread_mutex_unlock(&fs->listings_lock);
	return d;
}

/* Keep @d (fetched when the generation was @gen) as @ino's listing,
 * replacing the oldest or a stale one. */
static void fx_listing_put(struct fx_fs *fs, uint64_t ino, struct fx_dir *d, uint64_t gen)
{
	struct fx_listing *slot = NULL;
	struct fx_dir *old;

	if (fs->opt.dir_ttl <= 0 || gen != atomic_load(&fs->gen))
		return;
	pthread_mutex_lock(&fs->listings_lock);
	for (int i = 0; i < FX_LISTINGS; i++) {
		struct fx_listing *l = &fs->listings[i];

		if (l->ino == ino || !l->dir) {
			slot = l;
			break;
		}
		if (!slot || l->expiry < slot->expiry)
			slot = l;
	}
	old = slot->dir;
	atomic_fetch_add(&d->refs, 1);
	*slot = (struct fx_listing){ .ino = ino, .gen = gen, .expiry = fx_now() + fs->opt.dir_ttl,
				     .dir = d };
	pthread_mutex_unlock(&fs->listings_lock);
	fx_dir_free(old);
}

static int fx_dir_collect(void *arg, const struct fx_list_entry *le)
{
	struct fx_dir *d = arg;
	struct fx_dirent *de;
	char name[FX_NAME_MAX + 1];
	int ret = fx_ns_entry_name(d->prefix, le->key, name, sizeof(name));

	if (ret == 1)
		return 0;
	if (ret < 0) {
		if (fx_log_first_time(le->key))
			fx_warn("hiding key '%s': it cannot be shown safely as a file name", le->key);
		return 0;
	}
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		struct fx_dirent *e = realloc(d->e, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		d->e = e;
		d->cap = cap;
	}
	de = &d->e[d->n];
	memset(de, 0, sizeof(*de));
	if (!(de->name = strdup(name)))
		return -ENOMEM;
	d->n++;
	de->is_dir = le->is_prefix || le->key[strlen(le->key) - 1] == '/';
	if (le->meta && fx_meta_copy(&de->meta, le->meta) < 0)
		return -ENOMEM;
	fx_ns_stat(&de->st, le->meta, de->is_dir, le->size, le->mtime_ns, &d->fs->defaults);
	snprintf(de->etag, sizeof(de->etag), "%s", le->etag ? le->etag : "");
	de->obj_size = le->size;
	de->obj_mtime_ns = le->mtime_ns;
	de->need_head = !le->meta;
	return 0;
}

/* ------------------------------------------------------------ walks */

/*
 * A walk (find, ls -R, du, cp -r, grep -r) lists a directory, then each of
 * its subdirectories, one round trip after another. When a directory whose
 * parent's listing is cached is opened, its whole subtree is asked for in
 * one page without a delimiter instead. If the page holds all of it, every
 * directory below is answered from it with no request of its own, and a
 * subdirectory without a marker key needs no HEAD. A subtree larger than a
 * page costs that one request more than a plain listing; the directories the
 * page holds whole are kept all the same.
 */
#define FX_WALK_DEPTH 64
#define FX_WALK_KEYS 1000 /* one page: S3's largest */

struct fx_walk_dir {
	char *prefix;   /* "a/b/" */
	struct fx_dir *d;
	char *last_sub; /* prefix of the last subdirectory entered in d */
};

struct fx_walk {
	struct fx_fs *fs;
	uint64_t gen;
	struct fx_walk_dir stack[FX_WALK_DEPTH]; /* the key's ancestors, outermost first */
	int depth;
	struct fx_dir *top; /* the walked directory, when the page held all of it */
};

/* Keep @d (listed under @gen) for a later opendir of @prefix, in the slot a
 * walk-ahead reserved for it if there is one, waking whoever waits for it;
 * @d NULL only drops that reservation. Takes both. */
static void fx_walked_put(struct fx_fs *fs, char *prefix, struct fx_dir *d, uint64_t gen)
{
	struct fx_walked *slot = NULL;
	double now = fx_now();
	bool woken = false;

	pthread_mutex_lock(&fs->listings_lock);
	for (int i = 0; i < FX_WALKED; i++) { /* drop what is stale */
		struct fx_walked *w = &fs->walked[i];
		bool same = w->prefix && strcmp(w->prefix, prefix) == 0;

		if (w->pending && !same)
			continue;
		if (w->pending || (w->dir && (now >= w->expiry ||
					       w->gen != atomic_load(&fs->gen) || same))) {
			if (w->dir)
				fs->walked_entries -= w->dir->n;
			woken |= w->pending;
			fx_dir_free(w->dir);
			free(w->prefix);
			*w = (struct fx_walked){ 0 };
			if (same)
				slot = w;
		}
		if (!w->dir && !w->pending && !slot)
			slot = w;
	}
	if (woken)
		pthread_cond_broadcast(&fs->walked_cond);
	if (d && slot && gen == atomic_load(&fs->gen) &&
	    fs->walked_entries + d->n <= FX_WALKED_ENTRIES) {
		*slot = (struct fx_walked){ .prefix = prefix, .gen = gen,
					    .expiry = now + fs->opt.dir_ttl, .dir = d };
		fs->walked_entries += d->n;
		prefix = NULL;
		d = NULL;
	}
	pthread_mutex_unlock(&fs->listings_lock);
	free(prefix);
	fx_dir_free(d);
}

/* The listing of @prefix a walk fetched, taken out, or NULL. Waits for a
 * walk-ahead that is listing it. */
static struct fx_dir *fx_walked_take(struct fx_fs *fs, const char *prefix)
{
	struct fx_dir *d = NULL;
	double now = fx_now();

	pthread_mutex_lock(&fs->listings_lock);
	for (int i = 0; i < FX_WALKED; i++) {
		struct fx_walked *w = &fs->walked[i];

		if (w->pending && strcmp(w->prefix, prefix) == 0) {
			pthread_cond_wait(&fs->walked_cond, &fs->listings_lock);
			i = -1; /* look again: slots may have moved */
			now = fx_now();
			continue;
		}
		if (w->dir && strcmp(w->prefix, prefix) == 0) {
			fs->walked_entries -= w->dir->n;
			if (now < w->expiry && w->gen == atomic_load(&fs->gen))
				d = w->dir;
			else
				fx_dir_free(w->dir);
			free(w->prefix);
			*w = (struct fx_walked){ 0 };
			break;
		}
	}
	pthread_mutex_unlock(&fs->listings_lock);
	return d;
}

/*
 * File @name in the complete listing of @prefix a lookup's probe or a walk
 * left (not yet taken by an opendir), so that a lookup in a directory just
 * probed costs no HEAD: @return 1 and *@out (name not set; its meta a copy
 * to clear) for a file, 2 for a directory (the caller probes it as one), 0
 * when that listing has no such name, -1 when there is no such listing.
 */
static int fx_walked_find(struct fx_fs *fs, const char *prefix, const char *name,
			  struct fx_dirent *out)
{
	const struct fx_dir *d = NULL;
	const struct fx_dirent *file = NULL;
	double now = fx_now();
	int ret = -1;

	pthread_mutex_lock(&fs->listings_lock);
	for (int i = 0; i < FX_WALKED && !d; i++) {
		const struct fx_walked *w = &fs->walked[i];

		if (w->dir && !w->dir->more && now < w->expiry &&
		    w->gen == atomic_load(&fs->gen) && strcmp(w->prefix, prefix) == 0)
			d = w->dir;
	}
	if (d) {
		ret = 0;
		for (size_t j = 0; j < d->n; j++) {
			if (strcmp(d->e[j].name, name))
				continue;
			if (d->e[j].is_dir) { /* a directory wins over a file of its name */
				file = NULL;
				ret = 2;
				break;
			}
			file = &d->e[j];
		}
	}
	if (file) {
		*out = *file;
		out->name = NULL;
		out->meta = (struct fx_meta){ 0 };
		ret = fx_meta_copy(&out->meta, &file->meta) < 0 ? -1 : 1;
		if (ret < 0)
			fx_meta_clear(&out->meta);
	}
	pthread_mutex_unlock(&fs->listings_lock);
	return ret;
}

/* Enter directory @prefix (taken) below the current one. */
static int fx_walk_push(struct fx_walk *w, char *prefix)
{
	struct fx_walk_dir *wd = &w->stack[w->depth];

	*wd = (struct fx_walk_dir){ .prefix = prefix, .d = calloc(1, sizeof(*wd->d)) };
	if (!wd->d) {
		free(prefix);
		return -ENOMEM;
	}
	atomic_init(&wd->d->refs, 1);
	wd->d->fs = w->fs;
	wd->d->prefix = prefix;
	w->depth++;
	return 0;
}

/* Leave the innermost directory; keep its listing if @whole. */
static void fx_walk_pop(struct fx_walk *w, bool whole)
{
	struct fx_walk_dir *wd = &w->stack[--w->depth];

	wd->d->prefix = NULL;
	free(wd->last_sub);
	if (!whole) {
		fx_dir_free(wd->d);
		free(wd->prefix);
	} else if (w->depth == 0) {
		w->top = wd->d;
		free(wd->prefix);
	} else {
		fx_walked_put(w->fs, wd->prefix, wd->d, w->gen);
	}
}

/* Listing callback: file @le's key in the directories it lies below. */
static int fx_walk_collect(void *arg, const struct fx_list_entry *le)
{
	struct fx_walk *w = arg;
	const char *key = le->key;
	int ret;

	/* Keys come sorted, so the keys below a prefix come together: one not
	 * below it ends that directory. */
	while (w->depth > 1 &&
	       strncmp(key, w->stack[w->depth - 1].prefix, strlen(w->stack[w->depth - 1].prefix)))
		fx_walk_pop(w, true);
	for (;;) {
		struct fx_walk_dir *wd = &w->stack[w->depth - 1];
		const char *slash = strchr(key + strlen(wd->prefix), '/');
		size_t sl, n = wd->d->n;
		char *sub;

		if (!slash)
			return fx_dir_collect(wd->d, le);
		sl = (size_t)(slash - key) + 1;
		if (wd->last_sub && strlen(wd->last_sub) == sl && !strncmp(wd->last_sub, key, sl))
			return 0; /* entered already, but too deep to follow */
		if (!(sub = strndup(key, sl)))
			return -ENOMEM;
		ret = fx_dir_collect(wd->d, &(struct fx_list_entry){ .key = sub, .is_prefix = true });
		/* A marker, if any, is the first key below its prefix: its
		 * listed version names the metadata the cache may remember. */
		if (ret == 0 && wd->d->n > n && key[sl] == '\0') {
			struct fx_dirent *de = &wd->d->e[n];

			snprintf(de->etag, sizeof(de->etag), "%s", le->etag ? le->etag : "");
			de->obj_size = le->size;
			de->obj_mtime_ns = le->mtime_ns;
		} else if (ret == 0 && wd->d->n > n) {
			wd->d->e[n].need_head = false;
		}
		free(wd->last_sub);
		wd->last_sub = sub;
		if (ret < 0)
			return ret;
		if (w->depth == FX_WALK_DEPTH)
			return 0;
		if (!(sub = strdup(sub)) || (ret = fx_walk_push(w, sub)) < 0)
			return sub ? ret : -ENOMEM;
	}
}

/* True when @in's parent was listed within dir_ttl: @in is being walked. */
static bool fx_walking(struct fx_fs *fs, struct fx_inode *in)
{
	struct fx_inode *parent = fx_itable_parent(fs->inodes, in);
	bool walking = false;

	if (parent) {
		pthread_mutex_lock(&parent->lock);
		walking = parent->listed_at && fx_now() < parent->listed_at + fs->opt.dir_ttl;
		pthread_mutex_unlock(&parent->lock);
		fx_itable_put(fs->inodes, parent);
	}
	return walking;
}

/*
 * Up to @pages pages of @prefix's subtree (see above): the listing of
 * @prefix as fx_dir_collect makes it, or NULL when they did not hold all of
 * it (or on error: the caller lists as usual). Keeps the directories below.
 */
static struct fx_dir *fx_walk(struct fx_fs *fs, const char *prefix, uint64_t gen, unsigned pages)
{
	struct fx_walk w = { .fs = fs, .gen = gen };
	char *token = NULL, *next = NULL, *p = strdup(prefix);
	int ret;

	if (!p || fx_walk_push(&w, p) < 0)
		return NULL;
	/* Keys come in order across pages too: the walk goes on where it was. */
	for (;;) {
		ret = fx_backend_list(fs->backend, prefix, NULL, token, FX_WALK_KEYS,
				      fx_walk_collect, &w, &next);
		if (ret < 0 || !next || --pages == 0 || (token && strcmp(next, token) == 0))
			break;
		free(token);
		token = next;
		next = NULL;
	}
	while (w.depth > 0) /* the last key's ancestors: whole if no page follows */
		fx_walk_pop(&w, ret >= 0 && !next);
	free(token);
	free(next);
	return w.top;
}

/*
 * Listings of stores like S3 carry no user metadata, and without it modes,
 * owners, mtimes and symlinks would show wrong (and a later chmod would store
 * the wrong values back). Fetch it for every such entry with HEADs run in
 * parallel on up to [io] concurrency threads: one round trip's latency for
 * the directory, not one per entry.
 */
struct fx_head_job {
	struct fx_fs *fs;
	struct fx_dir *d;
	const char *prefix;
	bool dirs_only; /* dir_meta=listing: only directory markers */
	atomic_size_t next;
};

static void *fx_head_worker(void *arg)
{
	struct fx_head_job *j = arg;
	char key[FX_KEY_BUF + FX_NAME_MAX + 2];
	size_t i;

	while ((i = atomic_fetch_add(&j->next, 1)) < j->d->n) {
		struct fx_dirent *de = &j->d->e[i];
		struct fx_object_info info = { 0 };
		int ret;

		if (!de->need_head || (j->dirs_only && !de->is_dir))
			continue;
		snprintf(key, sizeof(key), "%s%s%s", j->prefix, de->name, de->is_dir ? "/" : "");
		ret = fx_backend_head(j->fs->backend, key, &info);
		if (ret == 0) {
			fx_ns_stat(&de->st, &info.meta, de->is_dir, info.size, info.mtime_ns,
				   &j->fs->defaults);
			fx_meta_clear(&de->meta);
			de->meta = info.meta;
			info.meta = (struct fx_meta){ 0 };
			snprintf(de->etag, sizeof(de->etag), "%s", info.etag);
			de->headed = true;
			de->need_head = false;
			de->obj_size = info.size;
			de->obj_mtime_ns = info.mtime_ns;
		} else if (de->is_dir && ret == -ENOENT) {
			de->need_head = false; /* a directory without a marker is fine */
		} else {
			de->no_attr = true;
		}
		fx_object_info_clear(&info);
	}
	return NULL;
}

/* Entries whose inode has fresh attributes need no HEAD: a second ls -l
 * within attr_timeout costs only the listing. Nor do objects whose metadata
 * the cache remembers for the very version listed, also from an earlier
 * mount. @dir NULL: only the latter. */
static void fx_dir_reuse_attrs(struct fx_fs *fs, struct fx_inode *dir, struct fx_dir *d,
			       const char *prefix)
{
	char key[FX_KEY_BUF + FX_NAME_MAX + 2];
	double now = fx_now();

	for (size_t i = 0; i < d->n; i++) {
		struct fx_dirent *de = &d->e[i];
		struct fx_inode *child;

		if (!dir || !de->need_head || !(child = fx_itable_child(fs->inodes, dir, de->name)))
			continue;
		pthread_mutex_lock(&child->lock);
		if (child->remote && now < child->attr_expiry &&
		    S_ISDIR(child->st.st_mode) == de->is_dir &&
		    fx_meta_copy(&de->meta, &child->meta) == 0) {
			de->st = child->st;
			snprintf(de->etag, sizeof(de->etag), "%s", child->etag);
			de->need_head = false;
		}
		pthread_mutex_unlock(&child->lock);
		fx_itable_put(fs->inodes, child);
	}
	/* A directory's etag is its marker's, known when a walk's page showed
	 * the marker key (a delimiter listing shows only the prefix). */
	for (size_t i = 0; i < d->n; i++) {
		struct fx_dirent *de = &d->e[i];

		if (!de->need_head || !de->etag[0])
			continue;
		snprintf(key, sizeof(key), "%s%s%s", prefix, de->name, de->is_dir ? "/" : "");
		if (fx_store_attrs_get(fs->cache->store, key, de->etag, de->obj_size,
				       de->obj_mtime_ns, &de->meta) == 0) {
			fx_ns_stat(&de->st, &de->meta, de->is_dir, de->obj_size, de->obj_mtime_ns,
				   &fs->defaults);
			de->need_head = false;
		}
	}
}

/* Remember what the HEADs of fx_dir_fetch_meta learned, in one transaction. */
static void fx_dir_remember_attrs(struct fx_fs *fs, struct fx_dir *d, const char *prefix)
{
	struct fx_store_attrs *recs = calloc(d->n ? d->n : 1, sizeof(*recs));
	char **keys = calloc(d->n ? d->n : 1, sizeof(*keys));
	size_t n = 0;

	for (size_t i = 0; recs && keys && i < d->n; i++) {
		struct fx_dirent *de = &d->e[i];

		if (!de->headed || !de->etag[0] ||
		    asprintf(&keys[n], "%s%s%s", prefix, de->name, de->is_dir ? "/" : "") < 0)
			continue;
		recs[n] = (struct fx_store_attrs){ .key = keys[n], .etag = de->etag,
						   .size = de->obj_size,
						   .mtime_ns = de->obj_mtime_ns, .meta = &de->meta };
		n++;
	}
	if (n)
		fx_store_attrs_put(fs->cache->store, recs, n);
	for (size_t i = 0; keys && i < n; i++)
		free(keys[i]);
	free(keys);
	free(recs);
}

/*
 * With dir_meta=listing only directories are HEADed (their markers hold
 * their mode and owner): a tree has far fewer of them than files. On up to
 * @threads threads (0: [io] concurrency).
 */
static void fx_dir_fetch_meta(struct fx_fs *fs, struct fx_dir *d, const char *prefix,
			      unsigned threads)
{
	struct fx_head_job j = { .fs = fs, .d = d, .prefix = prefix,
				 .dirs_only = !fs->opt.dir_meta_head };
	size_t want = 0;
	unsigned n_threads, started = 0;
	pthread_t tids[64];

	for (size_t i = 0; i < d->n; i++)
		want += d->e[i].need_head && (d->e[i].is_dir || !j.dirs_only);
	if (want == 0)
		return;
	n_threads = threads ? threads : fs->opt.concurrency;
	if (n_threads > sizeof(tids) / sizeof(tids[0]))
		n_threads = sizeof(tids) / sizeof(tids[0]);
	if (n_threads > want)
		n_threads = (unsigned)want;
	for (unsigned t = 1; t < n_threads; t++)
		if (pthread_create(&tids[started], NULL, fx_head_worker, &j) == 0)
			started++;
	fx_head_worker(&j); /* this thread works too */
	for (unsigned t = 0; t < started; t++)
		pthread_join(tids[t], NULL);
}

static int fx_dirent_cmp(const void *a, const void *b)
{
	const struct fx_dirent *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : (int)y->is_dir - (int)x->is_dir; /* directories first */
}

/* List the pages of @d (@prefix) after the first, which a lookup listed. */
static int fx_dir_list_rest(struct fx_fs *fs, struct fx_dir *d, const char *prefix)
{
	int ret = 0;

	d->prefix = prefix;
	while (ret == 0 && d->more) {
		char *token = d->more;

		ret = fx_backend_list(fs->backend, prefix, "/", token, 0, fx_dir_collect, d,
				      &d->more);
		if (ret == 0 && d->more && strcmp(d->more, token) == 0)
			ret = -EIO; /* a token that does not move would loop forever */
		free(token);
	}
	d->prefix = NULL;
	return ret;
}

/* The whole listing of @prefix, page after page. */
static int fx_dir_list(struct fx_fs *fs, const char *prefix, struct fx_dir **out)
{
	struct fx_dir *d = calloc(1, sizeof(*d));
	int ret;

	*out = NULL;
	if (!d)
		return -ENOMEM;
	atomic_init(&d->refs, 1);
	d->prefix = prefix;
	d->fs = fs;
	ret = fx_backend_list_all(fs->backend, prefix, "/", fx_dir_collect, d);
	d->prefix = NULL;
	if (ret < 0) {
		fx_dir_free(d);
		return ret;
	}
	*out = d;
	return 0;
}

/*
 * Walk-ahead. A walk opens a directory's subdirectories one after another,
 * each costing a round trip or two (its subtree page, the HEADs of the
 * markers in it). When one of them is opened as part of a walk, the next
 * FX_WALK_AHEAD siblings in its parent's listing that no walk listed yet are
 * listed in the background, FX_WALK_AHEAD_THREADS at a time, each as the
 * walk would but with up to FX_WALK_AHEAD_PAGES pages of its subtree (else
 * its listing), with its markers HEADed.
 * Their slots in the walked table are reserved first, so an opendir that
 * comes before its listing is done waits for it instead of asking again.
 */
struct fx_walk_ahead {
	struct fx_fs *fs;
	uint64_t gen;
	char *prefix[FX_WALK_AHEAD];
	unsigned n;
	atomic_uint next; /* prefixes taken by the threads */
	atomic_uint left; /* threads still running */
};

static void *fx_walk_ahead_worker(void *arg)
{
	struct fx_walk_ahead *a = arg;
	struct fx_fs *fs = a->fs;
	unsigned i;

	while ((i = atomic_fetch_add(&a->next, 1)) < a->n) {
		char *prefix = a->prefix[i];
		struct fx_dir *d = fx_walk(fs, prefix, a->gen, FX_WALK_AHEAD_PAGES);

		if (!d) /* the pages did not hold it all */
			fx_dir_list(fs, prefix, &d);
		if (d) {
			fx_dir_reuse_attrs(fs, NULL, d, prefix);
			fx_dir_fetch_meta(fs, d, prefix, FX_WALK_AHEAD_HEADS);
		}
		a->prefix[i] = NULL;
		fx_walked_put(fs, prefix, d, a->gen); /* NULL: drops the reservation */
	}
	if (atomic_fetch_sub(&a->left, 1) == 1)
		free(a);
	pthread_mutex_lock(&fs->listings_lock);
	atomic_fetch_sub(&fs->walkers, 1);
	pthread_cond_broadcast(&fs->walked_cond);
	pthread_mutex_unlock(&fs->listings_lock);
	return NULL;
}

/* Reserve @prefix's slot for a walk-ahead: false when it is listed or being
 * listed already, or no slot is free. */
static bool fx_walked_reserve(struct fx_fs *fs, const char *prefix)
{
	struct fx_walked *slot = NULL;
	bool reserved = false;

	pthread_mutex_lock(&fs->listings_lock);
	for (int i = 0; i < FX_WALKED; i++) {
		struct fx_walked *w = &fs->walked[i];

		if (w->prefix && strcmp(w->prefix, prefix) == 0) {
			slot = NULL;
			break;
		}
		if (!w->prefix && !slot)
			slot = w;
	}
	if (slot && (slot->prefix = strdup(prefix)))
		reserved = slot->pending = true;
	pthread_mutex_unlock(&fs->listings_lock);
	return reserved;
}

static int fx_dirent_name_cmp(const void *name, const void *e)
{
	return strcmp(name, ((const struct fx_dirent *)e)->name);
}

/* @in (@key) is being walked: list its next siblings ahead (see above). */
static void fx_walk_ahead(struct fx_fs *fs, struct fx_inode *in, const char *key, uint64_t gen)
{
	struct fx_inode *parent = fx_itable_parent(fs->inodes, in);
	const char *slash = strrchr(key, '/'), *name = slash ? slash + 1 : key;
	int plen = (int)(name - key);
	struct fx_walk_ahead *a = NULL;
	const struct fx_dirent *me;
	struct fx_dir *pd = NULL;
	unsigned threads;

	if (!parent || !(pd = fx_listing_get(fs, parent->ino)) ||
	    !(me = bsearch(name, pd->e, pd->n, sizeof(*pd->e), fx_dirent_name_cmp)) ||
	    !(a = calloc(1, sizeof(*a))))
		goto out;
	a->fs = fs;
	a->gen = gen;
	for (size_t i = (size_t)(me - pd->e) + 1, seen = 0; i < pd->n && seen < FX_WALK_AHEAD; i++) {
		const struct fx_dirent *de = &pd->e[i];
		struct fx_inode *sib;
		bool listed = false;
		char *prefix;

		if (!de->is_dir)
			continue;
		seen++;
		/* One the walk opened already (out of order) is not listed again. */
		if ((sib = fx_itable_child(fs->inodes, parent, de->name))) {
			pthread_mutex_lock(&sib->lock);
			listed = sib->listed_at && fx_now() < sib->listed_at + fs->opt.dir_ttl;
			pthread_mutex_unlock(&sib->lock);
			fx_itable_put(fs->inodes, sib);
		}
		if (listed || asprintf(&prefix, "%.*s%s/", plen, key, de->name) < 0)
			continue;
		if (fx_walked_reserve(fs, prefix))
			a->prefix[a->n++] = prefix;
		else
			free(prefix);
	}
	if (a->n == 0)
		goto out;
	threads = a->n < FX_WALK_AHEAD_THREADS ? a->n : FX_WALK_AHEAD_THREADS;
	atomic_init(&a->left, threads);
	atomic_fetch_add(&fs->walkers, threads);
	for (unsigned t = 0; t < threads; t++) {
		pthread_attr_t attr;
		pthread_t tid;
		int err;

		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		err = pthread_create(&tid, &attr, fx_walk_ahead_worker, a);
		pthread_attr_destroy(&attr);
		if (err) {
			/* This thread does the work of those not started; it
			 * counts for them all. */
			atomic_fetch_sub(&a->left, threads - t - 1);
			atomic_fetch_sub(&fs->walkers, threads - t - 1);
			fx_walk_ahead_worker(a);
			break;
		}
	}
	a = NULL;
out:
	free(a);
	fx_dir_free(pd);
	fx_itable_put(fs->inodes, parent);
}

static int do_opendir(struct fx_fs *fs, fuse_ino_t ino, struct fx_dir **out)
{
	struct fx_inode *in = fx_itable_get(fs->inodes, ino);
	char key[FX_KEY_BUF], prefix[FX_KEY_BUF];
	struct fx_dir *d;
	bool walking;
	uint64_t gen;
	size_t w = 0;
	int ret;

	if (!in)
		return -ESTALE;
	if ((d = fx_listing_get(fs, ino))) {
		fx_itable_put(fs->inodes, in);
		*out = d;
		return 0;
	}
	gen = atomic_load(&fs->gen);
	if ((ret = fx_key(fs, in, key)) < 0) {
		fx_itable_put(fs->inodes, in);
		return ret;
	}
	fx_ns_dir_marker(key, prefix, sizeof(prefix));
	walking = key[0] && fx_keeps_pages(fs) && fx_walking(fs, in);
	if (walking)
		fx_walk_ahead(fs, in, key, gen);
	d = fx_walked_take(fs, prefix);
	if (d && d->more && fx_dir_list_rest(fs, d, prefix) < 0) {
		fx_dir_free(d); /* its token failed: list afresh */
		d = NULL;
	}
	if (!d && walking)
		d = fx_walk(fs, prefix, gen, 1);
	ret = d ? 0 : fx_dir_list(fs, prefix, &d);
	if (ret < 0) {
		fx_itable_put(fs->inodes, in);
		return ret;
	}
	pthread_mutex_lock(&in->lock);
	in->listed_at = fx_now();
	pthread_mutex_unlock(&in->lock);
	fx_dir_reuse_attrs(fs, in, d, prefix);
	fx_itable_put(fs->inodes, in);
	fx_dir_fetch_meta(fs, d, prefix, 0);
	fx_dir_remember_attrs(fs, d, prefix);
	/* A key that is both an object and a prefix shows as the directory. */
	if (d->n) /* qsort(NULL, 0) is undefined */
		qsort(d->e, d->n, sizeof(*d->e), fx_dirent_cmp);
	for (size_t r = 0; r < d->n; r++) {
		if (w > 0 && strcmp(d->e[w - 1].name, d->e[r].name) == 0) {
			if (fx_log_first_time(d->e[r].name))
				fx_warn("'%s%s' is both an object and a directory; showing the directory",
					key, d->e[r].name);
			free(d->e[r].name);
			fx_meta_clear(&d->e[r].meta);
			continue;
		}
		d->e[w++] = d->e[r];
	}
	d->n = w;
	fx_listing_put(fs, ino, d, gen);
	*out = d;
	return 0;
}

static void fx_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fx_fs *fs = fx_fs_of(req);
	struct fx_dir *d = NULL;
	int ret;

	if (fx_ctl_ino(ino)) {
		fx_ctl_opendir(req, ino, fi);
		return;
	}
	ret = do_opendir(fs, ino, &d);

	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	fi->fh = (uintptr_t)d;
	fi->cache_readdir = 0;
	if (fuse_reply_open(req, fi) == -ENOENT)
		fx_dir_free(d);
}

static void fx_readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			      struct fuse_file_info *fi, bool plus)
{
	struct fx_fs *fs = fx_fs_of(req);
	struct fx_dir *d = (struct fx_dir *)(uintptr_t)fi->fh;
	struct fx_inode *dir = NULL;
	char *buf;
	size_t used = 0;

	if (fx_ctl_ino(ino)) {
		fx_ctl_readdir(&fs->ctl, req, size, off, plus);
		return;
	}
	if (!(buf = malloc(size ? size : 1))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (plus && !(dir = fx_itable_get(fs->inodes, ino))) {
		free(buf);
		fuse_reply_err(req, ESTALE);
		return;
	}
	for (off_t i = off; i < (off_t)d->n + 2; i++) {
		struct fuse_entry_param e;
		struct fx_inode *in = NULL;
		const char *name;
		struct stat st = { 0 };
		size_t len;

		if (i < 2) { /* "." and ".." carry no attributes: no lookup count */
			name = i == 0 ? "." : "..";
			st.st_mode = S_IFDIR;
			st.st_ino = i == 0 ? ino : FUSE_ROOT_ID;
			memset(&e, 0, sizeof(e));
			e.attr = st;
		} else {
			struct fx_dirent *de = &d->e[i - 2];

			name = de->name;
			st = de->st;
			if (plus && de->no_attr) {
				memset(&e, 0, sizeof(e)); /* the kernel looks it up itself */
				e.attr.st_mode = de->st.st_mode;
			} else if (plus) {
				bool conflict;

				struct fx_meta meta = { 0 };

				/* The snapshot may be shared: install a copy. */
				if (fx_meta_copy(&meta, &de->meta) < 0)
					break;
				in = fx_child_install(fs, dir, name, &de->st, &meta, de->etag,
						      de->need_head ? FX_ATTR_LAZY : 0,
						      &conflict);
				fx_meta_clear(&meta);
				if (!in)
					break;
				if (conflict) {
					/* The snapshot is older than local state: no
					 * attributes, and the kernel looks it up. */
					fx_itable_put(fs->inodes, in);
					in = NULL;
					memset(&e, 0, sizeof(e));
					e.attr.st_mode = de->st.st_mode;
				} else {
					fx_entry_of(fs, in, &e);
					st = e.attr;
				}
			}
		}
		if (plus) {
			len = fuse_add_direntry_plus(req, buf + used, size - used, name, &e, i + 1);
		} else {
			st.st_ino = st.st_ino ? st.st_ino : UINT32_MAX; /* "unknown"; 0 is skipped by some readers */
			len = fuse_add_direntry(req, buf + used, size - used, name, &st, i + 1);
		}
		if (len > size - used) {
			if (in)
				fx_itable_put(fs->inodes, in);
			break;
		}
		if (in) {
			fx_itable_lookup(fs->inodes, in);
			fx_itable_put(fs->inodes, in);
		}
		used += len;
	}
	if (dir)
		fx_itable_put(fs->inodes, dir);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void fx_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			  struct fuse_file_info *fi)
{
	fx_readdir_common(req, ino, size, off, fi, false);
}

static void fx_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			      struct fuse_file_info *fi)
{
	fx_readdir_common(req, ino, size, off, fi, true);
}

static void fx_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (!fx_ctl_ino(ino))
		fx_dir_free((struct fx_dir *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* The inode for an object just stored under @name (mkdir, symlink, create),
 * referenced; NULL if a busy inode of another type holds the name. */
static struct fx_inode *fx_new_child(struct fx_fs *fs, struct fx_inode *parent, const char *name,
				     const struct stat *st, struct fx_meta *meta)
{
	bool conflict;
	struct fx_inode *in = fx_child_install(fs, parent, name, st, meta, NULL, FX_ATTR_FORCE,
					       &conflict);

	if (in && conflict) {
		fx_itable_put(fs->inodes, in);
		return NULL;
	}
	return in;
}

static void fx_new_stat(struct fx_fs *fs, fuse_req_t req, mode_t mode, struct stat *st)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct timespec now = fx_wall();

	fx_ns_stat(st, NULL, S_ISDIR(mode), 0, 0, &fs->defaults);
	st->st_mode = mode;
	st->st_uid = ctx->uid;
	st->st_gid = ctx->gid;
	st->st_mtim = st->st_ctim = st->st_atim = now;
}

static int do_mkdir(struct fx_fs *fs, fuse_req_t req, fuse_ino_t parent_ino, const char *name,
		    mode_t mode, struct fuse_entry_param *e)
{
	struct fx_inode *parent = fx_itable_get(fs->inodes, parent_ino), *in;
	char key[FX_KEY_BUF], marker[FX_KEY_BUF];
	struct fx_meta meta = { 0 };
	struct stat st;
	int ret;

	if (!parent)
		return -ESTALE;
	if (fs->opt.ro) {
		ret = -EROFS;
		goto out;
	}
	if ((ret = fx_child_key(fs, parent, name, key)) < 0)
		goto out;
	fx_new_stat(fs, req, S_IFDIR | (mode & 07777), &st);
	fx_ns_dir_marker(key, marker, sizeof(marker));
	fx_store_attrs_forget(fs->cache->store, marker);
	if ((ret = fx_ns_meta_from_stat(&meta, &st)) < 0 ||
	    (ret = fx_backend_put(fs->backend, marker, fs->devnull, 0, &meta, NULL)) < 0)
		goto out;
	in = fx_new_child(fs, parent, name, &st, &meta);
	if (!in) {
		ret = -ENOMEM;
		goto out;
	}
	fx_entry_of(fs, in, e);
	fx_itable_lookup(fs->inodes, in);
	fx_itable_put(fs->inodes, in);
out:
	fx_meta_clear(&meta);
	fx_itable_put(fs->inodes, parent);
	return ret;
}

static void fx_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fuse_entry_param e;
	struct fx_fs *fs = fx_fs_of(req);
	int ret = do_mkdir(fs, req, parent, name, mode, &e);

	fx_changed(fs);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_entry(req, &e);
}

static int fx_count_one(void *arg, const struct fx_list_entry *e)
{
	const char *marker = ((const char **)arg)[0];

	if (strcmp(e->key, marker) != 0)
		(*(size_t *)((void **)arg)[1])++;
	return 0;
}

/* -ENOTEMPTY if the directory with marker @marker has any entry. */
static int fx_dir_empty(struct fx_fs *fs, const char *marker)
{
	size_t n = 0;
	const void *arg[2] = { marker, &n };
	int ret = fx_backend_list(fs->backend, marker, "/", NULL, 2, fx_count_one, arg, NULL);

	if (ret < 0)
		return ret;
	return n ? -ENOTEMPTY : 0;
}

static int do_remove(struct fx_fs *fs, fuse_ino_t parent_ino, const char *name, bool dir)
{
	struct fx_inode *parent = fx_itable_get(fs->inodes, parent_ino), *in;
	char key[FX_KEY_BUF], marker[FX_KEY_BUF];
	int ret;

	if (!parent)
		return -ESTALE;
	if (fs->opt.ro) {
		ret = -EROFS;
		goto out;
	}
	if ((ret = fx_child_key(fs, parent, name, key)) < 0)
		goto out;
	in = fx_itable_child(fs->inodes, parent, name);
	if (dir) {
		fx_ns_dir_marker(key, marker, sizeof(marker));
		ret = fx_dir_empty(fs, marker);
		if (ret == 0) {
			fx_store_attrs_forget(fs->cache->store, marker);
			ret = fx_backend_delete(fs->backend, marker);
		}
	} else {
		bool remote = true;

		if (in) {
			pthread_mutex_lock(&in->lock);
			remote = in->remote;
			pthread_mutex_unlock(&in->lock);
			ret = fx_keep_open(fs, in);
		}
		if (ret == 0 && remote) {
			fx_store_attrs_forget(fs->cache->store, key);
			ret = fx_backend_delete(fs->backend, key);
		}
	}
	if (in) {
		if (ret == 0)
			fx_itable_detach(fs->inodes, in);
		fx_replaced(fs, in);
		fx_itable_put(fs->inodes, in);
	}
out:
	fx_itable_put(fs->inodes, parent);
	return ret;
}

static void fx_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fx_fs *fs = fx_fs_of(req);
	int ret = do_remove(fs, parent, name, false);

	fx_changed(fs);
	fuse_reply_err(req, -ret);
}

static void fx_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fx_fs *fs = fx_fs_of(req);
	int ret = do_remove(fs, parent, name, true);

	fx_changed(fs);
	fuse_reply_err(req, -ret);
}

/* ------------------------------------------------------------ rename */

/* The keys below a directory, collected for a rename. */
struct fx_tree {
	char **keys;
	size_t n, cap, longest;
};

static int fx_tree_add(void *arg, const struct fx_list_entry *e)
{
	struct fx_tree *t = arg;
	size_t len = strlen(e->key);

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char **keys = realloc(t->keys, cap * sizeof(*keys));

		if (!keys)
			return -ENOMEM;
		t->keys = keys;
		t->cap = cap;
	}
	if (!(t->keys[t->n] = strdup(e->key)))
		return -ENOMEM;
	t->n++;
	if (len > t->longest)
		t->longest = len;
	return 0;
}

/*
 * Move every key under directory marker @src to @dst: one call where the
 * backend renames prefixes, else copy every object, then delete the sources
 * in batches. A failure midway leaves both trees partly filled; no key is
 * lost, since nothing is deleted before every copy succeeded.
 */
static int fx_rename_tree(struct fx_fs *fs, const char *src, const char *dst)
{
	struct fx_tree t = { 0 };
	size_t src_len = strlen(src), dst_len = strlen(dst);
	char to[FX_KEY_BUF * 2];
	bool prefix_rename = fx_backend_caps(fs->backend) & FX_CAP_RENAME_PREFIX;
	int *results = NULL, ret;

	if (prefix_rename && dst_len <= src_len) /* no key can grow too long */
		return fx_backend_rename_prefix(fs->backend, src, dst);
	ret = fx_backend_list_all(fs->backend, src, NULL, fx_tree_add, &t);
	/* A longer name may push keys below it past the limit: refuse before
	 * moving anything rather than strand objects no path can reach. */
	if (ret == 0 && t.longest - src_len + dst_len > FX_KEY_MAX)
		ret = -ENAMETOOLONG;
	if (ret == 0 && prefix_rename) {
		ret = fx_backend_rename_prefix(fs->backend, src, dst);
		goto out;
	}
	for (size_t i = 0; ret == 0 && i < t.n; i++) {
		snprintf(to, sizeof(to), "%s%s", dst, t.keys[i] + src_len);
		ret = fx_backend_copy(fs->backend, t.keys[i], to, NULL);
		/* The copy keeps the metadata: what is remembered of it too, or a
		 * listing would show the copy without it. */
		if (ret == 0)
			fx_store_attrs_move(fs->cache->store, t.keys[i], to);
	}
	if (ret == 0 && t.n) {
		results = calloc(t.n, sizeof(*results));
		ret = results ? fx_backend_delete_batch(fs->backend, (const char *const *)t.keys, t.n,
							 results)
			      : -ENOMEM;
		for (size_t i = 0; ret == 0 && i < t.n; i++)
			ret = results[i] == -ENOENT ? 0 : results[i];
	}
out:
	for (size_t i = 0; i < t.n; i++)
		free(t.keys[i]);
	free(t.keys);
	free(results);
	return ret;
}

static int do_rename(struct fx_fs *fs, fuse_ino_t oldp, const char *oldname, fuse_ino_t newp,
		     const char *newname, unsigned flags)
{
	struct fx_inode *op = fx_itable_get(fs->inodes, oldp), *np = fx_itable_get(fs->inodes, newp);
	struct fx_inode *in = NULL, *victim = NULL;
	char src[FX_KEY_BUF], dst[FX_KEY_BUF], sm[FX_KEY_BUF], dm[FX_KEY_BUF];
	struct fx_meta meta = { 0 };
	struct stat sst, dst_st;
	bool remote = true;
	int ret, dret;

	if (!op || !np) {
		ret = -ESTALE;
		goto out;
	}
	if (fs->opt.ro) {
		ret = -EROFS;
		goto out;
	}
	if (flags & ~(unsigned)RENAME_NOREPLACE) {
		ret = -EINVAL; /* RENAME_EXCHANGE cannot be done atomically on objects */
		goto out;
	}
	if ((ret = fx_child_key(fs, op, oldname, src)) < 0 ||
	    (ret = fx_child_key(fs, np, newname, dst)) < 0)
		goto out;
	in = fx_itable_child(fs->inodes, op, oldname);
	if (in) {
		pthread_mutex_lock(&in->lock);
		sst = in->st;
		remote = in->remote;
		pthread_mutex_unlock(&in->lock);
	} else if ((ret = fx_probe(fs, src, &sst, &meta, NULL, 0)) < 0) {
		goto out;
	}
	dret = fx_probe(fs, dst, &dst_st, &meta, NULL, 0);
	if (dret < 0 && dret != -ENOENT) {
		ret = dret;
		goto out;
	}
	fx_ns_dir_marker(src, sm, sizeof(sm));
	fx_ns_dir_marker(dst, dm, sizeof(dm));
	if (S_ISDIR(sst.st_mode) && strncmp(dm, sm, strlen(sm)) == 0) {
		ret = -EINVAL; /* into its own subtree */
		goto out;
	}
	if (dret == 0) {
		if (flags & RENAME_NOREPLACE) {
			ret = -EEXIST;
			goto out;
		}
		if (S_ISDIR(dst_st.st_mode) && !S_ISDIR(sst.st_mode)) {
			ret = -EISDIR;
			goto out;
		}
		if (!S_ISDIR(dst_st.st_mode) && S_ISDIR(sst.st_mode)) {
			ret = -ENOTDIR;
			goto out;
		}
	}
	if (S_ISDIR(sst.st_mode)) {
		/* An empty directory in the way goes first (it holds no data). */
		if (dret == 0 && (ret = fx_dir_empty(fs, dm)) == 0)
			ret = fx_backend_delete(fs->backend, dm);
		if (ret == 0)
			ret = fx_rename_tree(fs, sm, dm);
	} else if (dret == 0) {
		/* Over an existing file: atomically, so the target never vanishes
		 * (the "write a temporary, rename it over" way editors save). */
		if ((victim = fx_itable_child(fs->inodes, np, newname)))
			ret = fx_keep_open(fs, victim);
		if (ret == 0 && remote) {
			fx_store_attrs_forget(fs->cache->store, dst);
			ret = fx_backend_replace(fs->backend, src, dst);
			if (ret == 0)
				fx_store_attrs_move(fs->cache->store, src, dst);
		}
	} else if (remote) {
		fx_store_attrs_forget(fs->cache->store, dst);
		ret = fx_backend_rename(fs->backend, src, dst);
		if (ret == 0)
			fx_store_attrs_move(fs->cache->store, src, dst);
	}
	if (ret == 0 && in) {
		ret = fx_itable_move(fs->inodes, in, np, newname); /* detaches the victim */
		/* A server-side copy may carry another ETag: learn it before reading. */
		pthread_mutex_lock(&in->lock);
		in->etag[0] = '\0';
		pthread_mutex_unlock(&in->lock);
		if (ret == 0 && victim) {
			pthread_mutex_lock(&victim->lock);
			victim->successor = in->ino;
			pthread_mutex_unlock(&victim->lock);
		}
	} else if (ret == 0) {
		struct fx_inode *gone = fx_itable_child(fs->inodes, np, newname);

		if (gone) {
			fx_itable_detach(fs->inodes, gone);
			fx_itable_put(fs->inodes, gone);
		}
	}
	if (victim) {
		fx_replaced(fs, victim);
		fx_itable_put(fs->inodes, victim);
	}
out:
	fx_meta_clear(&meta);
	fx_itable_put(fs->inodes, in);
	fx_itable_put(fs->inodes, op);
	fx_itable_put(fs->inodes, np);
	return ret;
}

static void fx_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
			 const char *newname, unsigned int flags)
{
	struct fx_fs *fs = fx_fs_of(req);
	int ret = do_rename(fs, parent, name, newparent, newname, flags);

	fx_changed(fs);
	fuse_reply_err(req, -ret);
}

static void fx_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino;
	(void)newparent;
	(void)newname;
	fx_fs_of(req);
	fuse_reply_err(req, ENOTSUP); /* objects have one name each */
}

/* FIFOs, sockets and device files: an object holds none of them. Regular
 * files come through create(), which the kernel prefers to mknod(). */
static void fx_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			dev_t rdev)
{
	(void)parent;
	(void)name;
	(void)mode;
	(void)rdev;
	fx_fs_of(req);
	fuse_reply_err(req, ENOTSUP);
}

/* ------------------------------------------------------------ symlinks */

static int do_symlink(struct fx_fs *fs, fuse_req_t req, const char *target, fuse_ino_t parent_ino,
		      const char *name, struct fuse_entry_param *e)
{
	struct fx_inode *parent = fx_itable_get(fs->inodes, parent_ino), *in;
	char key[FX_KEY_BUF], *path = NULL;
	struct fx_object_info info = { 0 };
	struct fx_meta meta = { 0 };
	size_t len = strlen(target);
	struct stat st;
	int ret, fd = -1;

	if (!parent)
		return -ESTALE;
	if (fs->opt.ro) {
		ret = -EROFS;
		goto out;
	}
	if ((ret = fx_child_key(fs, parent, name, key)) < 0)
		goto out;
	/* The target is the object's body, as s3fs stores it, so either reads
	 * the other's links. */
	if ((fd = fx_staging_create(fs->staging_dir, key, &path)) < 0) {
		ret = fd;
		goto out;
	}
	if (pwrite(fd, target, len, 0) != (ssize_t)len) {
		ret = -EIO;
		goto out;
	}
	fx_new_stat(fs, req, S_IFLNK | 0777, &st);
	st.st_size = (off_t)len;
	if ((ret = fx_ns_meta_from_stat(&meta, &st)) < 0 ||
	    (ret = fx_backend_put(fs->backend, key, fd, len, &meta, &info)) < 0)
		goto out;
	fx_remember(fs, key, info.etag, len, FX_STORE_MTIME_ANY, &meta);
	in = fx_new_child(fs, parent, name, &st, &meta);
	if (!in) {
		ret = -ENOMEM;
		goto out;
	}
	fx_entry_of(fs, in, e);
	fx_itable_lookup(fs->inodes, in);
	fx_itable_put(fs->inodes, in);
out:
	fx_staging_drop(fd, path);
	fx_object_info_clear(&info);
	fx_meta_clear(&meta);
	fx_itable_put(fs->inodes, parent);
	return ret;
}

static void fx_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	struct fx_fs *fs = fx_fs_of(req);
	int ret = do_symlink(fs, req, link, parent, name, &e);

	fx_changed(fs);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_entry(req, &e);
}

static void fx_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fx_fs *fs = fx_fs_of(req);
	struct fx_inode *in = fx_itable_get(fs->inodes, ino);
	char key[FX_KEY_BUF], target[PATH_MAX + 1];
	ssize_t n = -ESTALE;
	off_t size = 0;

	if (in && (n = fx_refresh(fs, in, FX_REFRESH_META)) == 0) {
		pthread_mutex_lock(&in->lock);
		size = in->st.st_size;
		pthread_mutex_unlock(&in->lock);
		/* Read exactly the object: a range past the end of an empty object
		 * is an error on some servers. */
		if (size <= 0 || size > PATH_MAX)
			n = -EINVAL;
		else if ((n = fx_key(fs, in, key)) == 0)
			n = fx_backend_get(fs->backend, key, 0, target, (size_t)size);
	}
	fx_itable_put(fs->inodes, in);
	if (n < 0) {
		fuse_reply_err(req, (int)-n);
		return;
	}
	target[n] = '\0';
	fuse_reply_readlink(req, target);
}

/* ------------------------------------------------------------ files */

/* Count a handle on @in before staging, so a concurrent release of another
 * handle cannot unstage under it. */
static bool fx_staged_locked(struct fx_inode *in)
{
	bool staged;

	pthread_mutex_lock(&in->lock);
	staged = fx_staged(in);
	pthread_mutex_unlock(&in->lock);
	return staged;
}

static void fx_pin(struct fx_inode *in)
{
	pthread_mutex_lock(&in->lock);
	fx_wait_replace(in);
	in->open_count++;
	pthread_mutex_unlock(&in->lock);
}

/* Close one handle of @in: publish what is staged, drop staging once idle. */
static int fx_handle_close(struct fx_fs *fs, struct fx_inode *in)
{
	int ret;

	pthread_mutex_lock(&in->lock);
	in->open_count--;
	pthread_mutex_unlock(&in->lock);
	ret = fx_publish(fs, in);
	fx_unstage_if_idle(fs, in);
	return ret;
}

/* Reply to open/create with a handle on the pinned @in (@e: a create). */
static void fx_file_reply_open(fuse_req_t req, struct fx_fs *fs, struct fx_inode *in,
			       struct fuse_file_info *fi, struct fuse_entry_param *e)
{
	struct fx_file *f = malloc(sizeof(*f));
	int ret;

	if (!f) {
		fx_handle_close(fs, in);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fx_itable_ref(fs->inodes, in);
	f->in = in;
	f->flags = fi->flags;
	f->direct = fi->direct_io;
	fx_readahead_init(&f->ra);
	fi->fh = (uintptr_t)f;
	if (e) {
		fx_itable_lookup(fs->inodes, in);
		ret = fuse_reply_create(req, e, fi);
		if (ret < 0)
			fx_itable_forget(fs->inodes, in->ino, 1);
	} else {
		ret = fuse_reply_open(req, fi);
	}
	if (ret < 0) { /* interrupted: no release will come for this handle */
		fx_handle_close(fs, in);
		fx_itable_put(fs->inodes, in);
		fx_readahead_destroy(&f->ra);
		free(f);
	}
}

/*
 * Open *@inp. A read-only open that waited while a rename replaced the file
 * opens the file that replaced it instead (*@inp is swapped, *@direct set):
 * the open and the rename overlapped, so either version is right, but the
 * old one's bytes are gone. The handle bypasses the page cache, since the
 * kernel holds the old file's size for that inode.
 */
/*
 * A file known from a listing gets its own metadata (one HEAD) when first
 * opened. Its first block is asked for at the same time, under the listed
 * ETag, so a cold read of it waits one round trip, not two. If the HEAD
 * finds another version, that block is never read (its id names the listed
 * one). Not with prefetch=off.
 */
static void fx_open_ahead(struct fx_fs *fs, struct fx_inode *in)
{
	char key[FX_KEY_BUF], version[FX_ETAG_MAX + 64];
	struct fx_object_ref obj = { .key = key, .version = version };
	bool go;

	if (fs->cache->opt.prefetch == FX_PREFETCH_OFF)
		return;
	pthread_mutex_lock(&in->lock);
	go = in->meta_lazy && in->remote && !fx_staged(in) && in->etag[0] &&
	     S_ISREG(in->st.st_mode) && in->st.st_size > 0;
	fx_version_of(in, version, sizeof(version));
	obj.size = (uint64_t)in->st.st_size;
	pthread_mutex_unlock(&in->lock);
	if (go && fx_key(fs, in, key) == 0)
		fx_reader_prefetch(fs->cache->reader, &obj, 0, 1, FX_FETCH_READAHEAD);
}

static int do_open(struct fx_fs *fs, struct fx_inode **inp, int flags, bool *keep_cache,
		   bool *direct)
{
	struct fx_inode *in = *inp;
	bool writing = (flags & O_ACCMODE) != O_RDONLY;
	int ret;

	if (writing && fs->opt.ro)
		return -EROFS;
	pthread_mutex_lock(&in->lock);
	fx_wait_replace(in); /* then the detached check below tells */
	pthread_mutex_unlock(&in->lock);
	if (!writing && !(flags & O_TRUNC))
		fx_open_ahead(fs, in);
	if ((ret = fx_refresh(fs, in, FX_REFRESH_META)) < 0)
		return ret;
	pthread_mutex_lock(&in->lock);
	bool cached_read = !fx_staged(in) && in->remote && !(flags & O_TRUNC);
	bool know_version = in->etag[0] != '\0';
	pthread_mutex_unlock(&in->lock);
	if (cached_read && !know_version &&
	    (ret = fx_refresh(fs, in, FX_REFRESH_NOW | FX_REFRESH_META)) < 0)
		return ret;
	if (cached_read)
		fx_cache_note_version(fs, in);
	if (cached_read && fs->cache->learn) { /* traces record opens */
		char key[FX_KEY_BUF];
		struct fx_object_ref obj = { .key = key, .version = "" };

		if (fx_key(fs, in, key) >= 0) {
			pthread_mutex_lock(&in->lock);
			obj.size = (uint64_t)in->st.st_size;
			pthread_mutex_unlock(&in->lock);
			fx_learn_note_open(fs->cache->learn, &obj);
		}
	}
	/* The kernel keeps the pages of an object read before when its ETag is
	 * the same as then. */
	pthread_mutex_lock(&in->lock);
	uint64_t version = cached_read && in->etag[0] ? XXH3_64bits(in->etag, strlen(in->etag)) : 0;

	*keep_cache = version && version == in->page_version;
	in->page_version = version;
	pthread_mutex_unlock(&in->lock);
	fx_pin(in);
	/* Replaced or removed since the kernel looked it up, before the pin
	 * could keep its bytes (fx_keep_open): a read-only open follows the
	 * file renamed over it; otherwise ESTALE, and the kernel looks the
	 * name up again. */
	if (fx_itable_detached(fs->inodes, in) && !fx_staged_locked(in)) {
		struct fx_inode *next;

		pthread_mutex_lock(&in->lock);
		next = in->successor && !writing && !(flags & O_TRUNC)
			       ? fx_itable_get(fs->inodes, in->successor)
			       : NULL;
		pthread_mutex_unlock(&in->lock);
		fx_handle_close(fs, in);
		if (!next)
			return -ESTALE;
		if ((ret = do_open(fs, &next, flags, keep_cache, direct)) < 0) {
			fx_itable_put(fs->inodes, next);
			return ret;
		}
		fx_itable_put(fs->inodes, in);
		*inp = next;
		*keep_cache = false;
		*direct = true;
		return 0;
	}
	if (writing || (flags & O_TRUNC))
		ret = fx_stage(fs, in, !(flags & O_TRUNC));
	if (ret == 0 && (flags & O_TRUNC)) {
		pthread_mutex_lock(&in->lock);
		if (in->st.st_size != 0 && (ret = fx_stage_changing(in)) == 0 &&
		    ftruncate(in->stage_fd, 0) < 0)
			ret = -errno;
		if (ret == 0) {
			in->st.st_size = 0;
			in->st.st_blocks = 0;
			in->st.st_mtim = in->st.st_ctim = fx_wall();
			in->dirty_seq++;
		}
		pthread_mutex_unlock(&in->lock);
	}
	if (ret < 0)
		fx_handle_close(fs, in);
	return ret;
}

static void fx_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fx_fs *fs = fx_fs_of(req);
	struct fx_inode *in;
	int ret;

	if (fx_ctl_ino(ino)) {
		fx_ctl_open(&fs->ctl, req, ino, fi);
		return;
	}
	bool keep_cache = false, direct = false;

	in = fx_itable_get(fs->inodes, ino);
	ret = in ? do_open(fs, &in, fi->flags, &keep_cache, &direct) : -ESTALE;
	fi->keep_cache = keep_cache;
	fi->direct_io = direct;
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fx_file_reply_open(req, fs, in, fi, NULL);
	fx_itable_put(fs->inodes, in);
}

/* Create stores an empty object at once, as s3fs does: listings, rmdir's
 * emptiness check and other clients see the file while it is being written. */
static void fx_op_create(fuse_req_t req, fuse_ino_t parent_ino, const char *name, mode_t mode,
			 struct fuse_file_info *fi)
{
	struct fx_fs *fs = fx_fs_of(req);
	struct fx_inode *parent = fx_itable_get(fs->inodes, parent_ino), *in = NULL;
	struct fuse_entry_param e;
	struct fx_meta meta = { 0 };
	char key[FX_KEY_BUF];
	struct stat st;
	int ret;

	if (!parent) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	ret = fs->opt.ro ? -EROFS : fx_child_key(fs, parent, name, key);
	if (ret == 0) {
		fx_new_stat(fs, req, S_IFREG | (mode & 07777), &st);
		ret = fx_ns_meta_from_stat(&meta, &st);
	}
	if (ret == 0)
		ret = fx_backend_put(fs->backend, key, fs->devnull, 0, &meta, NULL);
	if (ret == 0) {
		in = fx_new_child(fs, parent, name, &st, &meta);
		ret = in ? 0 : -EEXIST;
	}
	if (ret == 0) {
		fx_pin(in);
		ret = fx_stage(fs, in, false);
		if (ret < 0)
			fx_handle_close(fs, in);
	}
	/* Before the reply: the creator's next listing must not be a cached
	 * one from before the create (found by tests/model). */
	fx_changed(fs);
	if (ret == 0) {
		fx_entry_of(fs, in, &e);
		fx_file_reply_open(req, fs, in, fi, &e);
	} else {
		fuse_reply_err(req, -ret);
	}
	fx_meta_clear(&meta);
	fx_itable_put(fs->inodes, in);
	fx_itable_put(fs->inodes, parent);
}

/* The object version a read of an open file reads, as it stands now. */
struct fx_read_ref {
	char key[FX_KEY_BUF], version[FX_ETAG_MAX + 64];
	struct fx_object_ref obj;
	bool staged; /* the file is staged: the object is not what it reads */
};

static int fx_read_ref(struct fx_fs *fs, struct fx_inode *in, struct fx_read_ref *ref)
{
	ref->obj = (struct fx_object_ref){ .key = ref->key, .version = ref->version };
	pthread_mutex_lock(&in->lock);
	ref->staged = fx_staged(in);
	fx_version_of(in, ref->version, sizeof(ref->version));
	ref->obj.size = (uint64_t)in->st.st_size;
	pthread_mutex_unlock(&in->lock);
	return fx_key(fs, in, ref->key);
}

/* @n bytes at @off of @obj were read through @f: readahead and learning
 * hear of it. Before the reply, after which a release may free @f. */
static void fx_read_noted(struct fx_fs *fs, struct fx_file *f, const struct fx_object_ref *obj,
			  uint64_t off, size_t n)
{
	fx_readahead_note(fs->cache->reader, &f->ra, obj, off, n);
	fx_learn_note_read(fs->cache->learn, obj, off, n);
}

/* Read through the block cache the object @ref names. An object replaced in
 * the bucket while open (-ESTALE) is read again at its new version (@ref is
 * refreshed), as other S3 file systems show it; bytes of two versions never
 * mix within one block. */
static ssize_t do_read_cached(struct fx_fs *fs, struct fx_file *f, struct fx_read_ref *ref,
			      uint64_t off, char *buf, size_t size)
{
	struct fx_inode *in = f->in;
	ssize_t n = -EIO;

	for (int attempt = 0; attempt < 2; attempt++) {
		if (attempt > 0 && (n = fx_read_ref(fs, in, ref)) < 0)
			return n;
		n = fx_reader_read(fs->cache->reader, &ref->obj, off, buf, size);
		if (n != -ESTALE || fx_staged_locked(in)) /* staged: kept for us by a rename */
			break;
		fx_info("%s changed in the bucket while open: reading its new version", ref->key);
		if ((n = fx_refresh(fs, in, FX_REFRESH_NOW)) < 0)
			return n == -ENOENT ? -ESTALE : n;
		fx_cache_note_version(fs, in);
		n = -EIO;
	}
	if (n > 0)
		fx_read_noted(fs, f, &ref->obj, off, (size_t)n);
	return n;
}

/* A read answered with bytes the reader lends (do_read_lent). */
struct fx_lent_read {
	fuse_req_t req;
	struct fx_fs *fs;
	struct fx_file *f;
	const struct fx_object_ref *obj;
	uint64_t off;
};

static void fx_reply_lent(void *arg, const void *bytes, size_t len)
{
	struct fx_lent_read *l = arg;

	fx_read_noted(l->fs, l->f, l->obj, l->off, len);
	fuse_reply_buf(l->req, bytes, len);
}

/* Reply to a read of an unstaged file from the block a fetch holds in
 * memory (a sequential reader's next block, usually) without copying it
 * out first. @return whether it did; else the read is do_read_cached's. */
static bool do_read_lent(struct fx_fs *fs, struct fx_file *f, const struct fx_read_ref *ref,
			 fuse_req_t req, uint64_t off, size_t size)
{
	struct fx_lent_read l = { .req = req, .fs = fs, .f = f, .obj = &ref->obj, .off = off };

	return !ref->staged &&
	       fx_reader_lend(fs->cache->reader, &ref->obj, off, size, fx_reply_lent, &l) > 0;
}

/*
 * A small read of @in reached the daemon: whether to fill the rest of its
 * block into the page cache. A fill costs about as much as 8 such reads
 * (more while reads of the block race with it), and only later reads of
 * the same block gain from it. A random reader's later reads per block are
 * about as many as its past ones, so a file is filled once its readers
 * made FX_PAGEFILL_DENSITY small reads per block of it: a sparse random
 * reader is answered read by read, a dense one gets whole blocks.
 */
static bool fx_fill_due(struct fx_fs *fs, struct fx_inode *in, uint64_t size)
{
	uint64_t bs = fx_store_block_size(fs->cache->store);
	uint64_t blocks = size ? (size + bs - 1) / bs : 1;

	return __atomic_add_fetch(&in->small_reads, 1, __ATOMIC_RELAXED) >=
	       FX_PAGEFILL_DENSITY * blocks;
}

static void fx_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fx_fs *fs = fx_fs_of(req);
	struct fx_file *f = (struct fx_file *)(uintptr_t)fi->fh;
	struct fx_read_ref ref;
	struct fx_inode *in;
	char *buf;
	ssize_t n;
	bool fill;
	int fd, ref_err;

	if (fx_ctl_ino(ino)) {
		fx_ctl_read(req, size, off, fi);
		return;
	}
	in = f->in;
	ref_err = fx_read_ref(fs, in, &ref);
	/* Decided before the reply, after which a release may free @f. */
	fill = size <= FX_PAGEFILL_READ && !f->direct && !(f->flags & O_DIRECT) && fs->pagefill &&
	       !ref_err && !ref.staged && fx_fill_due(fs, in, ref.obj.size);
	if (!ref_err && do_read_lent(fs, f, &ref, req, (uint64_t)off, size)) {
		if (fill)
			fx_pagefill_want(fs->pagefill, ino,
					 (uint64_t)off / fx_store_block_size(fs->cache->store));
		return;
	}
	if (!(buf = malloc(size ? size : 1))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* A rename over the file or its unlink stages it for its open handles
	 * before the object goes: a cached read that met that change reads
	 * the staged copy. */
	for (int tries = 0; tries < 2; tries++) {
		pthread_mutex_lock(&in->lock);
		fd = fx_staged(in) ? dup(in->stage_fd) : -1; /* valid if unstaged meanwhile */
		pthread_mutex_unlock(&in->lock);
		if (fd >= 0) {
			n = pread(fd, buf, size, off);
			n = n < 0 ? -errno : n;
			close(fd);
			break;
		}
		if (tries > 0) /* it changed under the first try */
			ref_err = fx_read_ref(fs, in, &ref);
		n = ref_err ? ref_err : do_read_cached(fs, f, &ref, (uint64_t)off, buf, size);
		if ((n != -ESTALE && n != -ENOENT) || !fx_staged_locked(in))
			break;
	}
	/* A small read from the cache (random access: sequential reads come
	 * in readahead-sized requests): the kernel gets the rest of its block.
	 * Not for O_DIRECT readers, who bypass the page cache. */
	fill = fill && n > 0 && fd < 0;
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
	if (fill)
		fx_pagefill_want(fs->pagefill, ino,
				 (uint64_t)off / fx_store_block_size(fs->cache->store));
}

static void fx_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	struct fx_fs *fs = fx_fs_of(req);
	struct fx_file *f = (struct fx_file *)(uintptr_t)fi->fh;
	struct fx_inode *in = f->in;
	ssize_t n;

	(void)ino;
	(void)fs;
	pthread_mutex_lock(&in->lock);
	if (!fx_staged(in)) {
		n = -EBADF; /* opened read-only */
	} else {
		if (f->flags & O_APPEND)
			off = in->st.st_size;
		n = fx_stage_changing(in);
		if (n == 0 && (n = pwrite(in->stage_fd, buf, size, off)) < 0)
			n = -errno;
		if (n < 0) {
			if (fx_log_first_time("staging-write"))
				fx_warn("a write to the staging file %s failed: %s; writes fail "
					"until there is room in cache_dir (see cache_min_free)",
					in->stage_path, fx_strerror((int)n));
			else
				fx_debug("a write to %s failed: %s", in->stage_path,
					 fx_strerror((int)n));
		} else {
			if (off + n > in->st.st_size) {
				in->st.st_size = off + n;
				in->st.st_blocks = (in->st.st_size + 511) / 512;
			}
			in->st.st_mtim = in->st.st_ctim = fx_wall();
			in->dirty_seq++;
		}
	}
	pthread_mutex_unlock(&in->lock);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

static void fx_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fx_fs *fs = fx_fs_of(req);

	if (fx_ctl_ino(ino))
		fuse_reply_err(req, 0);
	else
		fuse_reply_err(req, -fx_publish(fs, ((struct fx_file *)(uintptr_t)fi->fh)->in));
}

static void fx_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fx_fs *fs = fx_fs_of(req);
	struct fx_inode *in;
	char key[FX_KEY_BUF];
	int ret;

	(void)datasync;
	if (fx_ctl_ino(ino)) {
		fuse_reply_err(req, 0);
		return;
	}
	in = ((struct fx_file *)(uintptr_t)fi->fh)->in;
	ret = fx_publish(fs, in);
	if (ret == 0 && fx_key(fs, in, key) == 0)
		ret = fx_backend_sync(fs->backend, key);
	fuse_reply_err(req, -ret);
}

static void fx_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fx_fs *fs = fx_fs_of(req);
	struct fx_file *f = (struct fx_file *)(uintptr_t)fi->fh;

	if (fx_ctl_ino(ino)) {
		fx_ctl_release(req, fi);
		return;
	}
	fx_handle_close(fs, f->in); /* a failed publish was reported at flush; data stays staged */
	fx_itable_put(fs->inodes, f->in);
	fx_readahead_destroy(&f->ra);
	free(f);
	fuse_reply_err(req, 0);
}

static void fx_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fx_fs *fs = fx_fs_of(req);
	struct statvfs sv;
	int ret = fx_backend_statfs(fs->backend, &sv);

	(void)ino;
	if (ret < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	sv.f_namemax = FX_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

/* ------------------------------------------------------------ xattrs */

/* User xattrs live in metadata "xattr" as a JSON object of base64 values. */
static json_t *fx_xattrs_load(const struct fx_inode *in)
{
	const char *text = fx_meta_get(&in->meta, FX_XATTR_META);
	json_t *obj = text ? json_loads(text, 0, NULL) : NULL;

	if (obj && !json_is_object(obj)) {
		json_decref(obj);
		obj = NULL;
	}
	return obj ? obj : json_object();
}

static int fx_xattrs_store(struct fx_inode *in, json_t *obj)
{
	char *text;
	int ret;

	if (json_object_size(obj) == 0) {
		fx_meta_unset(&in->meta, FX_XATTR_META);
		return 0;
	}
	text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		return -ENOMEM;
	ret = strlen(text) > FX_XATTR_MAX ? -ENOSPC : fx_meta_set(&in->meta, FX_XATTR_META, text);
	free(text);
	return ret;
}

/* Store changed xattrs, or put the old ones back if they could not be stored. */
static int fx_xattrs_commit(struct fx_fs *fs, struct fx_inode *in, struct fx_meta *old)
{
	int ret = fx_publish_meta(fs, in);

	pthread_mutex_lock(&in->lock);
	if (ret < 0 && !fx_staged(in)) {
		fx_meta_clear(&in->meta);
		in->meta = *old;
		*old = (struct fx_meta){ 0 };
	}
	pthread_mutex_unlock(&in->lock);
	fx_meta_clear(old);
	return ret;
}

static bool fx_xattr_user(const char *name)
{
	return strncmp(name, "user.", 5) == 0 && name[5];
}

static void fx_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			   size_t size, int flags)
{
	if (fx_ctl_ino(ino)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	struct fx_fs *fs = fx_fs_of(req);
	struct fx_inode *in = fx_itable_get(fs->inodes, ino);
	struct fx_meta old = { 0 };
	char *b64 = NULL;
	json_t *obj = NULL;
	int ret = 0;

	if (!in) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (fs->opt.ro)
		ret = -EROFS;
	else if (!fx_xattr_user(name))
		ret = -ENOTSUP;
	else if (size > FX_XATTR_VALUE_MAX)
		ret = -E2BIG;
	else
		ret = fx_refresh(fs, in, FX_REFRESH_META);
	if (ret == 0) {
		size_t b64_len = sodium_base64_ENCODED_LEN(size, sodium_base64_VARIANT_ORIGINAL);

		b64 = malloc(b64_len);
		ret = b64 ? 0 : -ENOMEM;
		if (b64)
			sodium_bin2base64(b64, b64_len, (const unsigned char *)value, size,
					  sodium_base64_VARIANT_ORIGINAL);
	}
	if (ret == 0) {
		pthread_mutex_lock(&in->lock);
		obj = fx_xattrs_load(in);
		if ((flags & XATTR_CREATE) && json_object_get(obj, name))
			ret = -EEXIST;
		else if ((flags & XATTR_REPLACE) && !json_object_get(obj, name))
			ret = -ENODATA;
		else if (json_object_set_new(obj, name, json_string(b64)) < 0 ||
			 fx_meta_copy(&old, &in->meta) < 0)
			ret = -ENOMEM;
		else
			ret = fx_xattrs_store(in, obj);
		pthread_mutex_unlock(&in->lock);
	}
	if (ret == 0)
		ret = fx_xattrs_commit(fs, in, &old);
	fx_meta_clear(&old);
	json_decref(obj);
	free(b64);
	fx_itable_put(fs->inodes, in);
	fuse_reply_err(req, -ret);
}

static void fx_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	if (fx_ctl_ino(ino)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	struct fx_fs *fs = fx_fs_of(req);
	struct fx_inode *in = fx_itable_get(fs->inodes, ino);
	unsigned char *value = NULL;
	size_t len = 0;
	json_t *obj;
	int ret = 0;

	if (!in) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	/* Only user.* is stored; ENOTSUP for the rest (security.selinux,
	 * system.posix_acl_*) lets ls -l remember the mount cannot have them
	 * instead of asking again for every file. */
	if (!fx_xattr_user(name) || (ret = fx_refresh(fs, in, FX_REFRESH_META)) < 0) {
		fx_itable_put(fs->inodes, in);
		fuse_reply_err(req, ret < 0 ? -ret : ENOTSUP);
		return;
	}
	pthread_mutex_lock(&in->lock);
	obj = fx_xattrs_load(in);
	pthread_mutex_unlock(&in->lock);
	{
		const char *b64 = json_string_value(json_object_get(obj, name));
		size_t cap = b64 ? strlen(b64) : 0;

		if (!b64)
			ret = -ENODATA;
		else if (!(value = malloc(cap + 1)))
			ret = -ENOMEM;
		else if (sodium_base642bin(value, cap + 1, b64, cap, NULL, &len, NULL,
					   sodium_base64_VARIANT_ORIGINAL) < 0)
			ret = -EIO;
	}
	json_decref(obj);
	fx_itable_put(fs->inodes, in);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, (const char *)value, len);
	free(value);
}

static void fx_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	if (fx_ctl_ino(ino)) {
		if (size == 0)
			fuse_reply_xattr(req, 0);
		else
			fuse_reply_buf(req, NULL, 0);
		return;
	}
	struct fx_fs *fs = fx_fs_of(req);
	struct fx_inode *in = fx_itable_get(fs->inodes, ino);
	const char *name;
	json_t *obj, *v;
	char *buf;
	size_t len = 0;
	int ret;

	if (!in) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	ret = fx_refresh(fs, in, FX_REFRESH_META);
	pthread_mutex_lock(&in->lock);
	obj = fx_xattrs_load(in);
	pthread_mutex_unlock(&in->lock);
	fx_itable_put(fs->inodes, in);
	json_object_foreach(obj, name, v)
		len += strlen(name) + 1;
	buf = malloc(len + 1);
	if (ret == 0 && !buf)
		ret = -ENOMEM;
	if (ret == 0) {
		size_t pos = 0;

		json_object_foreach(obj, name, v) {
			memcpy(buf + pos, name, strlen(name) + 1);
			pos += strlen(name) + 1;
		}
	}
	json_decref(obj);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, buf, len);
	free(buf);
}

static void fx_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	if (fx_ctl_ino(ino)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	struct fx_fs *fs = fx_fs_of(req);
	struct fx_inode *in = fx_itable_get(fs->inodes, ino);
	struct fx_meta old = { 0 };
	json_t *obj;
	int ret = 0;

	if (!in) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (fs->opt.ro)
		ret = -EROFS;
	else if (!fx_xattr_user(name))
		ret = -ENODATA;
	else
		ret = fx_refresh(fs, in, FX_REFRESH_META);
	if (ret == 0) {
		pthread_mutex_lock(&in->lock);
		obj = fx_xattrs_load(in);
		if (json_object_del(obj, name) < 0)
			ret = -ENODATA;
		else if (fx_meta_copy(&old, &in->meta) < 0)
			ret = -ENOMEM;
		else
			ret = fx_xattrs_store(in, obj);
		pthread_mutex_unlock(&in->lock);
		json_decref(obj);
	}
	if (ret == 0)
		ret = fx_xattrs_commit(fs, in, &old);
	fx_meta_clear(&old);
	fx_itable_put(fs->inodes, in);
	fuse_reply_err(req, -ret);
}

/* ------------------------------------------------------------ session */

/*
 * A pagefill thread's work: put block @block of @ino, if it is in the
 * cache, into the kernel's page cache. Never for a staged inode (its bytes
 * are the staging file's; staging waits for a fill in progress, so none
 * lands over a write) or a version the cache does not hold.
 */
static void fx_fill_block(void *arg, uint64_t ino, uint64_t block)
{
	struct fx_fs *fs = arg;
	struct fx_inode *in = fx_itable_get(fs->inodes, ino);
	char key[FX_KEY_BUF], version[FX_ETAG_MAX + 64];
	uint32_t bs = fx_store_block_size(fs->cache->store);
	uint8_t id[FX_BLOCK_ID_LEN];
	uint64_t size, off = block * bs;
	bool skip;

	if (!in)
		return;
	pthread_mutex_lock(&in->lock);
	skip = fx_staged(in) || !in->remote || !in->etag[0] || (uint64_t)in->st.st_size <= off;
	size = (uint64_t)in->st.st_size;
	fx_version_of(in, version, sizeof(version));
	in->filling += !skip;
	pthread_mutex_unlock(&in->lock);
	if (!skip && fx_key(fs, in, key) == 0) {
		size_t len = size - off < bs ? (size_t)(size - off) : bs;
		char *buf = malloc(len);

		fx_store_block_id(fs->cache->store, fx_backend_url(fs->backend), key, version, block,
				  id);
		if (buf && (fx_reader_peek(fs->cache->reader, id, buf, len) ||
			    fx_store_peek(fs->cache->store, id, 0, buf, len) == (ssize_t)len)) {
			struct fuse_bufvec bv = FUSE_BUFVEC_INIT(len);

			bv.buf[0].mem = buf;
			fuse_lowlevel_notify_store(fs->se, ino, (off_t)off, &bv, 0);
		}
		free(buf);
	}
	if (!skip) {
		pthread_mutex_lock(&in->lock);
		if (--in->filling == 0)
			pthread_cond_broadcast(&in->cond);
		pthread_mutex_unlock(&in->lock);
	}
	fx_itable_put(fs->inodes, in);
}

static const struct fuse_lowlevel_ops fx_ops = {
	.init = fx_op_init,
	.lookup = fx_op_lookup,
	.forget = fx_op_forget,
	.forget_multi = fx_op_forget_multi,
	.getattr = fx_op_getattr,
	.setattr = fx_op_setattr,
	.readlink = fx_op_readlink,
	.mkdir = fx_op_mkdir,
	.unlink = fx_op_unlink,
	.rmdir = fx_op_rmdir,
	.symlink = fx_op_symlink,
	.rename = fx_op_rename,
	.link = fx_op_link,
	.mknod = fx_op_mknod,
	.open = fx_op_open,
	.read = fx_op_read,
	.write = fx_op_write,
	.flush = fx_op_flush,
	.release = fx_op_release,
	.fsync = fx_op_fsync,
	.opendir = fx_op_opendir,
	.readdir = fx_op_readdir,
	.readdirplus = fx_op_readdirplus,
	.releasedir = fx_op_releasedir,
	.statfs = fx_op_statfs,
	.setxattr = fx_op_setxattr,
	.getxattr = fx_op_getxattr,
	.listxattr = fx_op_listxattr,
	.removexattr = fx_op_removexattr,
	.create = fx_op_create,
};

/* The learning cache predicts @key will be read: have its attributes ready. */
static void fx_predicted(void *arg, const char *key)
{
	struct fx_fs *fs = arg;

	fx_headahead_want(fs->ha, key, atomic_load(&fs->gen));
}

int fx_fs_new(struct fx_backend *b, const struct fx_fs_options *opt,
	      const struct fx_cache_opts *copt, const char *cache_dir, struct fx_fs **out,
	      struct fx_diag *d)
{
	struct fx_fs *fs = calloc(1, sizeof(*fs));
	struct timespec now = fx_wall();
	int ret;

	if (!fs)
		return -ENOMEM;
	pthread_mutex_init(&fs->listings_lock, NULL);
	pthread_mutex_init(&fs->readahead_lock, NULL);
	pthread_cond_init(&fs->walked_cond, NULL);
	fs->backend = b;
	fs->opt = *opt;
	fs->defaults.uid = opt->uid;
	fs->defaults.gid = opt->gid;
	fs->defaults.umask = opt->umask;
	fs->defaults.dir_mtime_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	fs->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fs->inodes = fx_itable_new();
	if (fs->devnull < 0 || !fs->inodes) {
		ret = fs->devnull < 0 ? -errno : -ENOMEM;
		fx_diag_set(d, ret, NULL, "cannot set up the filesystem (%s)", fx_strerror(ret));
		goto fail;
	}
	ret = fx_staging_init(cache_dir, fs->staging_dir, sizeof(fs->staging_dir), d);
	if (ret < 0)
		goto fail;
	if ((ret = fx_cache_open(b, cache_dir, copt, &fs->cache, d)) < 0)
		goto fail;
	/* prefetch=off turns read-ahead off: ours, and the wider kernel window
	 * we would set (the kernel keeps its own small default). */
	if (copt->prefetch == FX_PREFETCH_OFF && !opt->kernel_readahead_given)
		fs->opt.kernel_readahead = 0;
	if (fs->cache->learn && copt->prefetch == FX_PREFETCH_SNN && opt->stat_ttl > 0) {
		if ((ret = fx_headahead_new(b, opt->stat_ttl, &fs->ha)) < 0) {
			fx_diag_set(d, ret, NULL, "cannot set up the filesystem (%s)", fx_strerror(ret));
			goto fail;
		}
		fx_learn_set_hook(fs->cache->learn, fx_predicted, fs);
	}
	/* The root page the backend listed to check the store serves the
	 * mount's first ls and the lookups in the root. */
	if (fx_keeps_pages(fs)) {
		bool has_marker;

		fx_probe_page(fs, "", true, &has_marker);
	}
	fs->ctl = (struct fx_ctl){ .enabled = opt->stats, .backend = b, .cache = fs->cache, .ha = fs->ha,
				   .uid = opt->uid, .gid = opt->gid, .timeout = opt->attr_timeout,
				   .started = now };
	snprintf(fs->ctl.name, sizeof(fs->ctl.name), "%s", opt->control_dir);
	/* The bucket root has no marker of its own: mount-time defaults. */
	{
		struct fx_inode *root = fx_itable_get(fs->inodes, FX_ROOT_INO);

		fx_ns_stat(&root->st, NULL, true, 0, 0, &fs->defaults);
		root->st.st_ino = FX_ROOT_INO;
		fx_itable_put(fs->inodes, root);
	}
	*out = fs;
	return 0;
fail:
	fx_fs_free(fs);
	return ret;
}

void fx_fs_free(struct fx_fs *fs)
{
	if (!fs)
		return;
	/* Walk-aheads use the backend: wait for them, under the lock their
	 * last step holds. */
	pthread_mutex_lock(&fs->listings_lock);
	while (atomic_load(&fs->walkers))
		pthread_cond_wait(&fs->walked_cond, &fs->listings_lock);
	pthread_mutex_unlock(&fs->listings_lock);
	for (int i = 0; i < FX_LISTINGS; i++)
		fx_dir_free(fs->listings[i].dir);
	for (int i = 0; i < FX_WALKED; i++) {
		free(fs->walked[i].prefix);
		fx_dir_free(fs->walked[i].dir);
	}
	fx_headahead_free(fs->ha); /* before the cache: its hook feeds it */
	fx_cache_close(fs->cache);
	fx_itable_free(fs->inodes);
	if (fs->devnull >= 0)
		close(fs->devnull);
	free(fs);
}

/* Append "-o NAME=VALUE" to @args with commas in VALUE escaped. */
static int fx_add_opt(struct fuse_args *args, const char *name, const char *value)
{
	char buf[PATH_MAX * 2 + 64], *w = buf;
	const char *end = buf + sizeof(buf) - 3;

	w += snprintf(buf, sizeof(buf), "-o%s%s", name, value ? "=" : "");
	for (; value && *value && w < end; value++) {
		if (*value == ',' || *value == '\\')
			*w++ = '\\';
		*w++ = *value;
	}
	*w = '\0';
	return fuse_opt_add_arg(args, buf);
}

/* FUSE's default readahead (128 KiB) leaves one small request in flight and
 * costs most of sequential throughput; the window is a property of the mount's bdi,
 * named by its device numbers in /proc/self/mountinfo. Root only; best effort. */
static void fx_set_readahead(const char *mountpoint, uint64_t bytes)
{
	unsigned major, minor;
	char path[128];
	FILE *f;
	int err;

	if (bytes == 0)
		return;
	err = fx_mount_dev("/proc/self/mountinfo", mountpoint, "fuse.rustfx", &major, &minor);
	if (err) {
		fx_debug("kernel readahead left at its default (mountinfo: %s)", fx_strerror(err));
		return;
	}
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", major, minor);
	if (!(f = fopen(path, "w"))) {
		fx_debug("kernel readahead left at its default (%s)", strerror(errno));
		return;
	}
	fprintf(f, "%llu\n", (unsigned long long)(bytes / 1024));
	if (fclose(f) != 0)
		fx_debug("cannot set kernel readahead: %s", strerror(errno));
}

int fx_fs_run(struct fx_fs *fs, const char *fsname, const char *mountpoint, bool foreground,
	      struct fx_diag *d)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config *loop = NULL;
	struct fuse_session *se = NULL;
	struct fx_signals *sigs = NULL;
	struct fx_metrics *metrics = NULL;
	int ret = -ENOMEM;

	if (fuse_opt_add_arg(&args, "rustfx") || fx_add_opt(&args, "fsname", fsname) ||
	    fx_add_opt(&args, "subtype", "rustfx") ||
	    (fs->opt.ro && fx_add_opt(&args, "ro", NULL)) ||
	    (fs->opt.allow_other && fx_add_opt(&args, "allow_other", NULL)) ||
	    (fs->opt.default_permissions && fx_add_opt(&args, "default_permissions", NULL)))
		goto out;
	snprintf(fs->mountpoint, sizeof(fs->mountpoint), "%s", mountpoint);
	se = fuse_session_new(&args, &fx_ops, sizeof(fx_ops), fs);
	fs->se = se;
	if (!se) {
		fx_diag_set(d, -EINVAL, "run with -v for details", "cannot create the FUSE session");
		ret = -EINVAL;
		goto out;
	}
	if (fuse_set_signal_handlers(se) != 0) {
		ret = -errno;
		goto out_session;
	}
	/* Bound before mounting: a taken port fails the mount; served once up. */
	if ((ret = fx_metrics_new(fs->opt.metrics, &fs->ctl, &metrics, d)) < 0)
		goto out_signals;
	if (fuse_session_mount(se, mountpoint) != 0) {
		ret = -EIO;
		fx_diag_set(d, -FX_EMOUNTPOINT,
			    "check that /dev/fuse exists, fuse3 is installed, and the mount point is an empty directory not already mounted",
			    "cannot mount at %s", mountpoint);
		goto out_signals;
	}
	if (fuse_daemonize(foreground) != 0) {
		ret = -errno ? -errno : -EIO;
		fx_diag_set(d, ret, NULL, "cannot detach into the background");
		goto out_unmount;
	}
	fx_info("mounted %s at %s", fsname, mountpoint);
	if (fs->opt.allow_other && !fs->opt.default_permissions)
		fx_warn("allow_other without default_permissions: every user may do what the "
			"mounting user can (rustfx checks no permissions itself); add "
			"default_permissions to enforce modes");
	/* After fuse_daemonize: its fork would leave the signal thread behind. */
	if ((ret = fx_signals_new(&sigs)) < 0)
		fx_warn("cannot handle SIGUSR2 and SIGHUP (%s): SIGHUP unmounts, SIGUSR2 kills",
			fx_strerror(ret));
	if (fx_metrics_start(metrics) < 0)
		fx_error("cannot start the metrics server: %s/metrics is not served", fs->opt.metrics);
	if (fs->ha && fx_headahead_start(fs->ha) < 0)
		fx_warn("cannot start the threads of predicted lookups: files are looked up on demand");
	/* Fetch buffers (1-8 MiB) come back from the heap instead of as fresh
	 * mmap'd pages the kernel must fault in and clear for every block;
	 * free memory past 32 MiB an arena still goes back to the system. */
	mallopt(M_ARENA_MAX, 4);
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 32 << 20);
	if ((ret = fx_cache_start(fs->cache)) < 0)
		fx_error("cannot start the cache's threads (%s): reads fetch one block at a time",
			 fx_strerror(ret));
	loop = fuse_loop_cfg_create();
	if (!loop) {
		ret = -ENOMEM;
		goto out_unmount;
	}
	if (fx_pagefill_start(fx_fill_block, fs, &fs->pagefill) < 0)
		fx_warn("cannot start the page-fill threads: small reads do not fill the page cache");
	fuse_loop_cfg_set_clone_fd(loop, 0);
	fuse_loop_cfg_set_max_threads(loop, 16);
	ret = fuse_session_loop_mt(se, loop);
	ret = ret < 0 ? ret : 0;
	fx_info("unmounting %s", mountpoint);
	fx_pagefill_free(fs->pagefill);
	fs->pagefill = NULL;
	fuse_loop_cfg_destroy(loop);
out_unmount:
	fx_signals_free(sigs);
	fuse_session_unmount(se);
out_signals:
	fx_metrics_free(metrics);
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out:
	fuse_opt_free_args(&args);
	return ret;
}
