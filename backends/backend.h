/*
 * backend.h - the object-store interface every backend implements.
 *
 * Owns: object-store semantics (head, paginated list, ranged get, put from a
 * file, delete; optional batch delete, server-side copy, rename, multipart),
 * the capability bitmask, user metadata, the registry chosen by URL scheme,
 * and the fx_backend_*() wrappers that check contracts and inject faults.
 * Does not own: paths, inodes or POSIX; the filesystem maps those onto keys.
 *
 * Keys are UTF-8 strings without a leading '/'; "a/b/" (trailing '/') is a
 * directory marker object. Every wrapper rejects unsafe keys (fx_key_check)
 * before a backend sees them. All functions return 0 or -errno unless noted.
 * Backends are thread-safe: one struct fx_backend is shared by all workers.
 */
#ifndef FX_BACKENDS_BACKEND_H
#define FX_BACKENDS_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "core/config.h"
#include "core/error.h"

#define FX_KEY_MAX 1024      /* bytes in a key, as S3 */
#define FX_NAME_MAX 255      /* bytes in one '/'-separated segment */
#define FX_ETAG_MAX 128
#define FX_META_NAME_MAX 128 /* bytes in a metadata name */
#define FX_META_VALUE_MAX 2048

/* ---------------------------------------------------------------- metadata */

/** One user metadata pair; names are lower-case ASCII without "x-amz-meta-". */
struct fx_meta_kv {
	char *name;
	char *value;
};

/** User metadata of an object (s3fs names: "mode", "uid", "gid", "mtime"). */
struct fx_meta {
	size_t n;
	struct fx_meta_kv *kv; /* owned; n entries */
};

/** @return the value of @name or NULL; valid until @m changes. */
const char *fx_meta_get(const struct fx_meta *m, const char *name);
/** Set (copying both strings) or replace @name. @return 0 or -ENOMEM/-EINVAL. */
int fx_meta_set(struct fx_meta *m, const char *name, const char *value);
/** Remove @name if present. */
void fx_meta_unset(struct fx_meta *m, const char *name);
/** Deep copy @src into @dst (which is first cleared). */
int fx_meta_copy(struct fx_meta *dst, const struct fx_meta *src);
/** Free the pairs; @m itself stays usable (empty). */
void fx_meta_clear(struct fx_meta *m);

/* ------------------------------------------------------------ object info */

struct fx_object_info {
	uint64_t size;
	int64_t mtime_ns; /* last-modified of the object itself (upload time) */
	char etag[FX_ETAG_MAX];
	struct fx_meta meta; /* owned by the caller once returned */
};

/** Free what @info owns (its metadata). */
void fx_object_info_clear(struct fx_object_info *info);

/** One listing entry. Pointers are valid only during the callback. */
struct fx_list_entry {
	const char *key;  /* full key; for a common prefix it ends with '/' */
	bool is_prefix;   /* a common prefix ("directory"), not an object */
	uint64_t size;    /* objects only */
	int64_t mtime_ns; /* objects only */
	const char *etag; /* objects only; may be "" */
	/* Metadata when the backend gets it for free with the listing (file://,
	 * mem://); NULL when it would cost a request per entry (S3). */
	const struct fx_meta *meta;
};

/** Listing callback: return 0 to go on, non-zero to stop (returned by list). */
typedef int (*fx_list_fn)(void *arg, const struct fx_list_entry *e);

/* ------------------------------------------------------------ the backend */

enum fx_backend_caps {
	FX_CAP_COPY = 1u << 0,         /* server-side copy (and metadata replace) */
	FX_CAP_RENAME = 1u << 1,       /* atomic rename of one object */
	FX_CAP_RENAME_PREFIX = 1u << 2, /* atomic rename of a whole "a/" prefix */
	FX_CAP_DELETE_BATCH = 1u << 3,
	FX_CAP_MULTIPART = 1u << 4,
	FX_CAP_STATFS = 1u << 5,       /* real capacity figures */
	FX_CAP_LIST_META = 1u << 6,    /* list entries carry metadata */
};

struct fx_backend; /* opaque; created by fx_backend_open() */
struct fx_multipart; /* opaque upload handle of one backend */

#define FX_BACKEND_ABI 1

/**
 * A backend implementation. New methods are appended; NULL means "not
 * supported" and the wrappers fall back or return -ENOTSUP.
 * Every method receives the backend's own state from open().
 */
struct fx_backend_ops {
	uint32_t abi;       /* FX_BACKEND_ABI */
	size_t size;        /* sizeof(struct fx_backend_ops) when compiled */
	const char *name;   /* "file", "mem", "s3" */
	const char *scheme; /* URL scheme: "file" for file://... */

	/** Open @url (whole URL) with settings from @cfg (NULL: defaults).
	 *  @state out. Fill @d on error. */
	int (*open)(const char *url, const struct fx_config *cfg, void **state, struct fx_diag *d);
	void (*close)(void *state);
	/** Capability bits of this instance (enum fx_backend_caps). */
	uint32_t (*caps)(void *state);

	/** Size, mtime, etag and metadata of @key; -ENOENT if absent. */
	int (*head)(void *state, const char *key, struct fx_object_info *out);
	/**
	 * List keys starting with @prefix, in byte order. With @delimiter ("/")
	 * keys with a further delimiter after the prefix roll up into one
	 * common-prefix entry. At most @max_keys entries (objects and prefixes)
	 * per call, starting after @token (NULL or "" for the first page).
	 * @next_token out: malloc'd token of the next page, or NULL at the end.
	 */
	int (*list)(void *state, const char *prefix, const char *delimiter, const char *token,
		    size_t max_keys, fx_list_fn fn, void *arg, char **next_token);
	/**
	 * Read up to @len bytes of @key from @offset into @buf.
	 * @return bytes read (short only at end of object) or -errno.
	 */
	ssize_t (*get)(void *state, const char *key, uint64_t offset, void *buf, size_t len);
	/**
	 * Store @size bytes read from @fd at offset 0 as @key, replacing it, with
	 * exactly the metadata @meta (NULL: none). Atomic: readers see the old or
	 * the new object. @out (may be NULL) receives the new object's info.
	 */
	int (*put)(void *state, const char *key, int fd, uint64_t size, const struct fx_meta *meta,
		   struct fx_object_info *out);
	/** Delete @key; deleting an absent key succeeds (as S3). */
	int (*del)(void *state, const char *key);

	/* Optional. */
	/** Delete @n keys; @results[i] receives 0 or -errno per key. */
	int (*del_batch)(void *state, const char *const *keys, size_t n, int *results);
	/** Server-side copy @src to @dst. @meta non-NULL replaces the metadata
	 *  (S3 "REPLACE"); NULL keeps it. @src == @dst with @meta updates metadata. */
	int (*copy)(void *state, const char *src, const char *dst, const struct fx_meta *meta);
	/** Rename one object (FX_CAP_RENAME), or a whole prefix "a/" to "b/"
	 *  (FX_CAP_RENAME_PREFIX). Fails with -EEXIST if @dst exists. */
	int (*rename)(void *state, const char *src, const char *dst);
	/** Multipart upload: begin, upload part @part_no (1-based) from @fd at
	 *  @offset, complete in part order, or abort (always safe to call). */
	int (*mpu_begin)(void *state, const char *key, const struct fx_meta *meta,
			 struct fx_multipart **out);
	int (*mpu_part)(void *state, struct fx_multipart *mp, unsigned part_no, int fd,
			uint64_t offset, uint64_t len);
	int (*mpu_complete)(void *state, struct fx_multipart *mp, struct fx_object_info *out);
	void (*mpu_abort)(void *state, struct fx_multipart *mp);
	/** Capacity of the store, for statfs(2). */
	int (*statfs)(void *state, struct statvfs *out);
	/** Make @key durable (fsync(2) on the mount). NULL: every put already is. */
	int (*sync)(void *state, const char *key);
	/** Move object @src over the existing object @dst atomically: readers of
	 *  @dst see the old or the new bytes, never no object. */
	int (*replace)(void *state, const char *src, const char *dst);
	/** Like get, but only from the version of @key whose ETag is @etag
	 *  (NULL: any): -ESTALE once the object changed (S3 "If-Match"). The
	 *  bytes are scattered across @iov in order, as readv(2). */
	ssize_t (*get_if)(void *state, const char *key, const char *etag, uint64_t offset,
			  const struct iovec *iov, int iovcnt);
	/** The first page of the root's listing (delimiter "/") that open()
	 *  fetched to check the store, replayed once as list() would give it;
	 *  -ENOENT when there is none or it was taken. */
	int (*opening_list)(void *state, fx_list_fn fn, void *arg, char **next_token);
};

/** Register a backend (static ops); built-ins are registered at first use. */
int fx_backend_register(const struct fx_backend_ops *ops);

/**
 * Open the backend for @url by its scheme ("file:///srv/bucket", "mem://name").
 * @return 0 and *@out, or -FX_EBADURL / -errno with @d filled (what and hint).
 */
int fx_backend_open(const char *url, struct fx_backend **out, struct fx_diag *d);
/** The same with settings (retry, io, [s3] ...) from @cfg, which must outlive the backend. */
int fx_backend_open_config(const char *url, const struct fx_config *cfg, struct fx_backend **out,
			   struct fx_diag *d);
/** Close; NULL is a no-op. */
void fx_backend_close(struct fx_backend *b);

const char *fx_backend_name(const struct fx_backend *b);
const char *fx_backend_url(const struct fx_backend *b);
uint32_t fx_backend_caps(const struct fx_backend *b);

/* Wrappers: validate keys and arguments, count calls, inject faults, fall
 * back where an optional method is missing (del_batch -> del; copy -> get+put;
 * rename -> copy+del for one object; statfs -> large fixed figures).
 * Contracts they check: a delimiter is NULL, "" or "/"; max_keys 0 means
 * 1000; a list prefix may end in a partial segment; a batch delete holding an
 * unsafe key deletes nothing (others get -ECANCELED); copy or rename between a
 * marker and an object key is -EINVAL, and a marker is renamed by copy+delete;
 * a marker is put with size 0. */
int fx_backend_head(struct fx_backend *b, const char *key, struct fx_object_info *out);
int fx_backend_list(struct fx_backend *b, const char *prefix, const char *delimiter,
		    const char *token, size_t max_keys, fx_list_fn fn, void *arg,
		    char **next_token);
/** The root listing page the backend fetched when it was opened (see
 *  fx_backend_ops.opening_list), taken once, without a request; -ENOENT
 *  when it has none. */
int fx_backend_opening_list(struct fx_backend *b, fx_list_fn fn, void *arg, char **next_token);
/** List every page (follows continuation tokens). */
int fx_backend_list_all(struct fx_backend *b, const char *prefix, const char *delimiter,
			fx_list_fn fn, void *arg);
ssize_t fx_backend_get(struct fx_backend *b, const char *key, uint64_t offset, void *buf,
		       size_t len);
/**
 * Read like fx_backend_get() from the version of @key whose ETag is @etag,
 * so blocks of one version never mix with another's: -ESTALE once the
 * object changed. An empty @etag, or a backend without get_if, reads
 * whatever is current.
 */
ssize_t fx_backend_get_version(struct fx_backend *b, const char *key, const char *etag,
			       uint64_t offset, void *buf, size_t len);
/** The same, scattered across @iovcnt buffers in order (one request for
 *  all of them where the backend can). */
ssize_t fx_backend_getv_version(struct fx_backend *b, const char *key, const char *etag,
				uint64_t offset, const struct iovec *iov, int iovcnt);
int fx_backend_put(struct fx_backend *b, const char *key, int fd, uint64_t size,
		   const struct fx_meta *meta, struct fx_object_info *out);
int fx_backend_delete(struct fx_backend *b, const char *key);
int fx_backend_delete_batch(struct fx_backend *b, const char *const *keys, size_t n,
			    int *results);
int fx_backend_copy(struct fx_backend *b, const char *src, const char *dst,
		    const struct fx_meta *meta);
/** Rename one object; needs FX_CAP_RENAME or falls back to copy + delete. */
int fx_backend_rename(struct fx_backend *b, const char *src, const char *dst);
/**
 * Move object @src over the existing object @dst (rename(2) over a file):
 * @dst never disappears. Falls back to copy (which replaces @dst atomically)
 * then delete of @src.
 */
int fx_backend_replace(struct fx_backend *b, const char *src, const char *dst);
/** Rename prefix "a/" to "b/" atomically; -ENOTSUP without FX_CAP_RENAME_PREFIX. */
int fx_backend_rename_prefix(struct fx_backend *b, const char *src, const char *dst);
int fx_backend_statfs(struct fx_backend *b, struct statvfs *out);
/** Make @key durable; 0 where puts are durable already (no sync method). */
int fx_backend_sync(struct fx_backend *b, const char *key);

/**
 * Multipart upload (FX_CAP_MULTIPART, else -ENOTSUP): parts numbered 1..10000
 * from @fd at @offset; a marker key is -EINVAL. complete() takes ownership of
 * @mp on success; on failure @mp stays valid and must be aborted.
 */
int fx_backend_mpu_begin(struct fx_backend *b, const char *key, const struct fx_meta *meta,
			 struct fx_multipart **out);
int fx_backend_mpu_part(struct fx_backend *b, struct fx_multipart *mp, unsigned part_no, int fd,
			uint64_t offset, uint64_t len);
int fx_backend_mpu_complete(struct fx_backend *b, struct fx_multipart *mp,
			    struct fx_object_info *out);
void fx_backend_mpu_abort(struct fx_backend *b, struct fx_multipart *mp);

/* ---------------------------------------------------------- test support */

enum fx_backend_op {
	FX_OP_HEAD, FX_OP_LIST, FX_OP_GET, FX_OP_PUT, FX_OP_DELETE, FX_OP_COPY,
	FX_OP_RENAME, FX_OP_MULTIPART, FX_OP_COUNT
};

/** Make the next @count calls of @op fail with @err (negative errno). */
void fx_backend_inject_fault(struct fx_backend *b, enum fx_backend_op op, int err,
			     unsigned count);
#define FX_LATENCY_BUCKETS 24 /* bucket i: under 2^(i+1) microseconds; the last: longer */

struct fx_backend_op_stats {
	uint64_t calls;  /* including failed and injected ones */
	uint64_t errors; /* calls that reached the backend and failed (ENOENT is an answer) */
	uint64_t bytes;  /* GET: bytes read; PUT: bytes stored */
	uint64_t hist[FX_LATENCY_BUCKETS]; /* latency of calls that reached the backend */
	uint64_t latency_us_sum;           /* their latencies added up, microseconds */
};

/** Counters and latency histogram of @op since open (head, list pages, get,
 *  put, delete; other ops count calls only). */
void fx_backend_op_stats(const struct fx_backend *b, enum fx_backend_op op,
			 struct fx_backend_op_stats *out);
/** "head", "get", ... */
const char *fx_backend_op_name(enum fx_backend_op op);

/** Calls made of @op since open (including failed and injected ones). */
uint64_t fx_backend_calls(const struct fx_backend *b, enum fx_backend_op op);

/* ---------------------------------------------------------------- keys */

/**
 * Check that @key is safe to store and map to a path: not empty, no leading
 * '/', no "." or ".." segment, no empty segment except one trailing '/' of a
 * directory marker, segments <= FX_NAME_MAX and the whole <= FX_KEY_MAX bytes.
 * @return 0, -EINVAL (hostile) or -ENAMETOOLONG.
 */
int fx_key_check(const char *key);

#endif
