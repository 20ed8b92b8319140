/*
 * namespace.h - mapping between file names in the mount and object keys.
 *
 * Owns: composing a child key from a directory key and a name, deriving the
 * visible name of a listing entry, and deciding which keys are hidden because
 * they cannot be shown safely as a path ("..", ".", empty segments, names over
 * 255 bytes), and the metadata encoding of mode/uid/gid/mtime (s3fs names).
 * Does not own: key safety inside a backend (fx_key_check guards that too).
 */
#ifndef FX_FS_NAMESPACE_H
#define FX_FS_NAMESPACE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "backends/backend.h"

/**
 * Key of entry @name in the directory whose key is @dir_key ("" for the root).
 * @return length written to @out, -EINVAL for a name that is not a single
 * safe segment ("", ".", "..", containing '/'), -ENAMETOOLONG if too long.
 */
int fx_ns_child_key(const char *dir_key, const char *name, char *out, size_t n);

/**
 * Key of the directory marker of @dir_key: "a/b" -> "a/b/", "" -> "".
 * @return length or -ENAMETOOLONG.
 */
int fx_ns_dir_marker(const char *dir_key, char *out, size_t n);

/**
 * The name to show for listing entry @key found under @prefix (a directory
 * marker key such as "a/b/" or "" for the root): "a/b/c" -> "c",
 * "a/b/d/" -> "d". Writes it to @out.
 * @return 0; 1 when the entry is the directory's own marker (skip it);
 * -EINVAL when the entry cannot be shown safely (hide it and log once).
 */
int fx_ns_entry_name(const char *prefix, const char *key, char *out, size_t n);

/** Defaults for objects without metadata. */
struct fx_ns_defaults {
	uid_t uid;
	gid_t gid;
	mode_t umask;
	int64_t dir_mtime_ns; /* for directories without a marker: the mount time */
};

/**
 * Fill @st (mode, uid, gid, size, times, nlink, blocks) of an object from its
 * metadata and listing figures. Type comes from "mode" when present, else
 * from @is_dir; modes without a type bit are taken as regular files.
 */
void fx_ns_stat(struct stat *st, const struct fx_meta *meta, bool is_dir, uint64_t size,
		int64_t obj_mtime_ns, const struct fx_ns_defaults *def);

/** Store mode, uid, gid and mtime of @st in @meta under s3fs's names. */
int fx_ns_meta_from_stat(struct fx_meta *meta, const struct stat *st);

/** Parse "1600000000" or "1600000000.5" (s3fs, rclone) to ns. @return 0 or -EINVAL. */
int fx_ns_parse_mtime(const char *text, int64_t *out_ns);

#endif
