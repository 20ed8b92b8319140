/*
 * store.h - the persistent block store: block files plus an LMDB index.
 *
 * Owns: one cache directory per backend URL holding fixed-size blocks of
 * object versions, each in its own file, and an LMDB index of them (size,
 * checksum, access time and count, flags); verifying every read, sealing
 * blocks when a key is given, the hard size cap and free-space floor on the
 * insert path, the object -> version records that drop stale blocks, and
 * repairing the directory at open (orphans adopted or removed, entries
 * without files dropped, a broken index rebuilt).
 * Does not own: fetching (cache/reader.c), which block goes when space is
 * needed (cache/policy.c), or staged writes (cache/staging.c; never evicted
 * because they are not blocks).
 *
 * Formats (all little-endian; each begins with a magic, a version and the
 * cache's hash seed):
 *   <dir>/index.mdb   LMDB; "meta" holds the format record, "blocks" maps a
 *                     16-byte block id to struct fx_store_rec, "objects" maps
 *                     an object key to the version its blocks belong to.
 *   <dir>/blocks/XX/<id hex>  a block file: an 80-byte header, a table of
 *                     XXH3-64 checksums, one per chunk of the stored bytes
 *                     (cipher text when sealed, so the table leaks nothing),
 *                     zeros up to the next multiple of 4096 bytes, then the
 *                     chunks; sealed chunks are XChaCha20-Poly1305 with the
 *                     header and chunk number as associated data.
 *   <dir>/lock        flock'd while a daemon or `rustfx cache` uses the store.
 * Block files are written in place; one counts only once its index entry
 * exists, made after the file is whole, so a killed writer's partial file has
 * none and is checked at the next open: adopted if whole, else removed.
 *
 * Threading: every function is thread-safe. One mutex guards the in-memory
 * table, the policy and the counters; file I/O happens outside it. Index
 * writes are batched and committed by a flusher thread about once a second
 * and at close: after a crash the index may miss recent blocks (adopted at
 * the next open) or name evicted ones (dropped at the next open).
 */
#ifndef FX_CACHE_STORE_H
#define FX_CACHE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "backends/backend.h"
#include "cache/policy.h"
#include "core/error.h"

#define FX_STORE_KEY_LEN 32             /* cache_key_file: 32 random bytes */
#define FX_STORE_CHUNK (16u * 1024)     /* bytes per checksummed chunk: what a small read costs */
#define FX_STORE_BLOCK_MIN (64u * 1024)
#define FX_STORE_BLOCK_MAX (64u * 1024 * 1024)

struct fx_store_opts {
	const char *dir;       /* the backend's cache directory; created if absent */
	uint64_t capacity;     /* bytes of block files at most (cache_size) */
	uint64_t min_free;     /* bytes to leave free on the cache filesystem */
	/* 0: tool mode (`rustfx cache`): take the existing store's block size
	 * and sealing as they are instead of rebuilding on a mismatch. */
	uint32_t block_size;
	const struct fx_policy_ops *policy; /* NULL: "lru" */
	/* What the policy may use besides capacity (copied; NULL: nothing). */
	const struct fx_policy_env *policy_env;
	const unsigned char *key; /* FX_STORE_KEY_LEN bytes, copied; NULL: not sealed */
};

struct fx_store_stats {
	uint64_t blocks, bytes, capacity, min_free;
	uint64_t hits, misses, inserts, evictions, corrupt;
	uint64_t hit_bytes; /* bytes read from cached blocks */
	uint64_t peek_bytes; /* bytes fx_store_peek() copied out (page-cache fills) */
	uint64_t skipped;  /* inserts refused: no room even after evicting */
	uint64_t adopted;  /* orphan block files taken back at open */
	uint64_t dropped;  /* index entries or files removed at open */
	uint64_t stale;    /* blocks dropped because their object changed */
	uint64_t prefetch_used;   /* prefetched blocks later read */
	uint64_t prefetch_wasted; /* prefetched blocks evicted unread */
	uint64_t predicted_used, predicted_wasted; /* the same for learned prefetch alone */
};

struct fx_store;

/**
 * Open (creating or repairing) the store in @o->dir. A store whose format,
 * block size or key differs from @o, or whose index cannot be opened, is
 * emptied and rebuilt with a warning; blocks are only a cache.
 * @return 0 and *@out, -EBUSY if another process holds the store, or
 *         -errno, with @d filled (what and hint).
 */
int fx_store_open(const struct fx_store_opts *o, struct fx_store **out, struct fx_diag *d);

/**
 * Start the thread that commits index updates about once a second. Without
 * it they are committed at close. Call after fork(2) (daemonizing): threads
 * do not survive it. @return 0 or -errno.
 */
int fx_store_start(struct fx_store *s);

/** Commit pending index updates and close. NULL is a no-op. */
void fx_store_close(struct fx_store *s);

uint32_t fx_store_block_size(const struct fx_store *s);

/**
 * The id of block @index of @key at @version (an ETag, or any string that
 * changes whenever the object's bytes do) in backend @url: XXH3-128 with the
 * store's seed.
 */
void fx_store_block_id(const struct fx_store *s, const char *url, const char *key,
		       const char *version, uint64_t index, uint8_t id[FX_BLOCK_ID_LEN]);

/** True if block @id is cached (no I/O; for skipping prefetches). */
bool fx_store_has(struct fx_store *s, const uint8_t id[FX_BLOCK_ID_LEN]);

/**
 * Copy up to @len bytes from offset @off of block @id into @buf, verifying
 * every chunk read. A block that fails its checksum or authentication is
 * counted, logged and dropped, and -EBADMSG returned: the caller fetches it
 * again. @return bytes copied, -ENOENT on a miss, -EBADMSG, or -errno; after
 * an error @buf holds nothing to use (whole chunks are verified in it).
 */
ssize_t fx_store_read(struct fx_store *s, const uint8_t id[FX_BLOCK_ID_LEN], uint32_t off, void *buf,
		      size_t len);
/** fx_store_read() for filling the kernel's page cache (fs/pagefill.h): not
 * a hit or a miss and no use for the eviction policy; its bytes are counted
 * as peek_bytes. */
ssize_t fx_store_peek(struct fx_store *s, const uint8_t id[FX_BLOCK_ID_LEN], uint32_t off, void *buf,
		      size_t len);
/**
 * Count a read of @len bytes of block @id that the caller answered from
 * the bytes it fetched, as fx_store_read (@use) or fx_store_peek would
 * have: a hit if the block is stored (else a miss), or peek_bytes.
 */
void fx_store_note_read(struct fx_store *s, const uint8_t id[FX_BLOCK_ID_LEN], size_t len, bool use);

/** Insert flag, not kept with the block: write it around the page cache. */
#define FX_STORE_DIRECT 0x80000000u

/**
 * Insert block @id holding @len bytes (at most the block size) with flags
 * FX_CB_*. Space is made first (evicting per the policy) so that the cap
 * and free-space floor hold; when no room can be made the block is not
 * stored. With FX_STORE_DIRECT, @data aligned to 4096 bytes with @len a
 * multiple of 4096 is written with O_DIRECT where the filesystem allows:
 * for a block the kernel keeps in its page cache as part of the mounted
 * file anyway (a sequential reader's), not one likely read again from its
 * file soon. @return 0 (also when already present), -ENOSPC, or -errno.
 */
int fx_store_insert(struct fx_store *s, const uint8_t id[FX_BLOCK_ID_LEN], const void *data, size_t len,
		    uint32_t flags);

/**
 * fx_store_insert for a block the caller can name: block @index of the
 * object whose id (hash of its key) is @obj. The policy sees both.
 */
int fx_store_insert_from(struct fx_store *s, const uint8_t id[FX_BLOCK_ID_LEN], const void *data,
			 size_t len, uint32_t flags, uint64_t obj, uint64_t index);

/** Drop block @id if present. */
void fx_store_drop(struct fx_store *s, const uint8_t id[FX_BLOCK_ID_LEN]);

/**
 * Record that @key of backend @url is at @version with @size bytes. If the
 * store held blocks of another version of @key, they are dropped (the
 * object changed in the bucket). @return 0 or -errno.
 */
int fx_store_object_version(struct fx_store *s, const char *url, const char *key,
			    const char *version, uint64_t size);

/** Object metadata as a listing can vouch for it: valid while the object's
 *  ETag, size and last-modified second stay the same. Strings borrowed. */
struct fx_store_attrs {
	const char *key;
	const char *etag;
	uint64_t size;
	int64_t mtime_ns; /* the object's last-modified time, or FX_STORE_MTIME_ANY */
	const struct fx_meta *meta;
};

/* The last-modified time a PUT did not report: the record then matches any
 * listing of that ETag and size (the same bytes put again by another client
 * with other metadata would show ours until the object is looked up). */
#define FX_STORE_MTIME_ANY INT64_MIN

/**
 * Remember the user metadata (mode, uid, mtime, ...) of @n objects, in one
 * transaction, so that a later listing naming the same versions needs no
 * HEAD per object, also after a remount. Records too large for the index
 * are skipped. @return 0 or -errno.
 */
int fx_store_attrs_put(struct fx_store *s, const struct fx_store_attrs *recs, size_t n);

/** Forget what fx_store_attrs_put() remembered of @key: this mount is about
 *  to change its metadata or bytes (a change within the same second might
 *  keep the ETag and last-modified second the record is checked against). */
void fx_store_attrs_forget(struct fx_store *s, const char *key);
/** @from's record, if any, becomes @to's (replacing @to's): for an object
 *  moved by a copy that keeps its bytes and metadata. It holds only while
 *  the listing shows the same version (ETag, size, mtime rule). */
void fx_store_attrs_move(struct fx_store *s, const char *from, const char *to);

/**
 * The metadata remembered for @key if it was recorded for exactly this
 * @etag, @size and last-modified second (S3 reports last-modified to the
 * second in HEAD, to the millisecond in listings). @out is replaced.
 * @return 0, -ENOENT (unknown or another version), or -errno.
 */
int fx_store_attrs_get(struct fx_store *s, const char *key, const char *etag, uint64_t size,
		       int64_t mtime_ns, struct fx_meta *out);

void fx_store_stats(struct fx_store *s, struct fx_store_stats *out);

/** Result of fx_store_verify(). */
struct fx_store_report {
	uint64_t blocks, bytes; /* in the store after verifying */
	uint64_t corrupt;       /* blocks that failed their checksums: dropped */
	uint64_t adopted;       /* block files the index did not know: taken back */
	uint64_t dropped;       /* index entries without files, bad files: removed */
};

/**
 * Open the store in @dir (repairing it as fx_store_open does; the counts go
 * to @r), read every block in full and check it against its checksums and
 * the index, dropping bad blocks: the store is a cache, so verifying it
 * repairs it. Works without the key of a sealed store (checksums cover the
 * stored bytes). Takes the store's lock, so a mounted store is -EBUSY.
 * @return 0 (see @r for findings) or -errno with @d.
 */
int fx_store_verify(const char *dir, struct fx_store_report *r, struct fx_diag *d);

/** What fx_store_inspect() counted. */
struct fx_store_census {
	uint64_t blocks;  /* block records in the index */
	uint64_t objects; /* object version records */
};

/**
 * Look at the index of the store in @dir read-only, without opening the
 * store, so also while a mount holds it (rustfx health): LMDB opens it, its
 * tables and format record are there, and every block record is walked
 * (damaged pages fail the walk). An index whose lock file may not be
 * written is read without LMDB's reader table.
 * @return 0 with @out, or -FX_ECORRUPT / -errno with @d saying what failed.
 */
int fx_store_inspect(const char *dir, struct fx_store_census *out, struct fx_diag *d);

/**
 * Take the lock of the store in @dir (<dir>/lock, flock'd exclusively) the
 * way a mount and `rustfx cache` do, without opening the store: for tools
 * that change files a mounted store owns (`rustfx brain reset`).
 * @return 0 and *@fd_out (give it to fx_store_unlock), -EBUSY while a mount
 *         or another tool holds it, or -errno; @d filled on error.
 */
int fx_store_lock(const char *dir, int *fd_out, struct fx_diag *d);
/** Release a lock fx_store_lock took. A negative @fd is a no-op. */
void fx_store_unlock(int fd);

/**
 * Remove every block and the index of the store in @dir (staged writes
 * under <dir>/staging are left alone). @return 0, -EBUSY while mounted, or
 * -errno with @d.
 */
int fx_store_clear(const char *dir, struct fx_diag *d);

#endif
