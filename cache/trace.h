/*
 * trace.h - cache access traces: the rustfx binary trace a mount records
 * (-o trace=PATH), and one reader for it and the foreign formats the
 * simulator replays.
 *
 * Owns: the rustfx trace format (below), its thread-safe buffered writer,
 * and readers for four formats behind one iterator: rustfx, csv (generic),
 * lirs (the LIRS paper's block traces) and cloudphysics (CloudPhysics'
 * VMware block trace CSV). Input may be gzip-compressed in every format.
 * Does not own: deciding what to record or hashing object keys to ids (the
 * caller, cache/learn.c, passes both), replaying (cache/sim.c), logging.
 *
 * rustfx trace, version 1. All integers little-endian; "uv" is an unsigned
 * LEB128 varint (7 bits a byte, low group first, at most 10 bytes).
 *
 *   header, 32 bytes:
 *     0  8  magic "RFXTRACE"
 *     8  2  version (1)
 *    10  2  flags: bit 0 FX_TRACE_F_NAMES (name records present); a reader
 *             refuses bits it does not know
 *    12  4  hash algorithm of object ids: 1 = XXH3-64 of the key bytes with
 *             the seed below (FX_TRACE_HASH_XXH3)
 *    16  8  hash seed
 *    24  8  start time: wall clock (CLOCK_REALTIME) at open, microseconds
 *             since the epoch
 *   records, each a type byte then varints:
 *     1 open  uv dt, uv obj, uv size
 *     2 read  uv dt, uv obj, uv off, uv len, uv size
 *     3 name  uv obj, uv keylen (<= FX_TRACE_KEY_MAX), keylen bytes of key
 *   dt is microseconds since the previous open/read record (or since the
 *   start), measured with CLOCK_MONOTONIC, so a record's time is the start
 *   time plus the sum of the dts: wall-clock steps during a recording do not
 *   reorder it. A name record precedes the first open/read of its object; a
 *   later name record for the same id replaces the earlier one.
 *
 * Requests the readers produce: obj is never 0 (0 means "unknown" in
 * rustfx); time_us is 0 throughout for formats without time.
 *  - rustfx: open and read records as written.
 *  - csv: header `time,object,offset,size`; time in microseconds, object a
 *    decimal id, or any other string (double quotes allowed, "" inside for
 *    one) taken as a key and hashed with XXH3-64, seed 0; offset and size
 *    (the request's length) in bytes. Every row is a read.
 *  - lirs: one block number per line, each a 4 KiB read of block N of
 *    object 1 (off = N * 4096); blank lines and lines holding only "*" (the
 *    markers some LIRS traces have) are skipped.
 *  - cloudphysics: header `version,time,op,size,lbn`; op is the SCSI opcode
 *    in hex: reads 08/28/88/a8, writes 0a/2a/8a/aa, other opcodes are
 *    skipped and counted (struct fx_trace_info.skipped); size in bytes, lbn
 *    in 512-byte sectors, time in microseconds; one object (1).
 */
#ifndef FX_CACHE_TRACE_H
#define FX_CACHE_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

#define FX_TRACE_MAGIC	    "RFXTRACE"
#define FX_TRACE_VERSION    1
#define FX_TRACE_HEADER_LEN 32
#define FX_TRACE_F_NAMES    0x1u
#define FX_TRACE_HASH_XXH3  1u
#define FX_TRACE_KEY_MAX    65535u	 /* longer keys are recorded without a name */
#define FX_TRACE_FLUSH	    (64u * 1024) /* the writer's buffer */
#define FX_TRACE_LIRS_BLOCK 4096u

enum fx_trace_rec {
	FX_TRACE_REC_OPEN = 1,
	FX_TRACE_REC_READ = 2,
	FX_TRACE_REC_NAME = 3,
};

/* ------------------------------------------------------------ writer */

struct fx_trace_writer;

/**
 * Create (or truncate) @path, mode 0600, and write the header.
 * @seed is the hash seed the caller made object ids with (XXH3-64 of the key).
 * @return 0 and *@out, or -errno (nothing is created on -ENOMEM).
 */
int fx_trace_writer_open(const char *path, uint64_t seed, struct fx_trace_writer **out);

/**
 * Record an open of object @obj (@size bytes). @key (may be NULL: no name)
 * is written in a name record the first time @obj appears.
 * Thread-safe. Records are buffered and written every FX_TRACE_FLUSH bytes
 * under the writer's mutex (a write(2) of a local file, no backend I/O).
 * @return 0, or -errno once: the first write error stops recording and is
 * returned to the caller that met it (to log); every later call returns 0
 * and records nothing.
 */
int fx_trace_note_open(struct fx_trace_writer *w, uint64_t obj, const char *key, uint64_t size);

/** Record a read of @len bytes at @off of @obj (@size bytes); as fx_trace_note_open. */
int fx_trace_note_read(struct fx_trace_writer *w, uint64_t obj, const char *key, uint64_t off,
		       uint64_t len, uint64_t size);

/**
 * Flush, close and free @w. NULL is a no-op.
 * @return 0, or the write error met now (-errno), unless one was already
 * returned by a note call.
 */
int fx_trace_writer_close(struct fx_trace_writer *w);

/**
 * Replace the writer's clocks, for tests and golden files: @start_us
 * becomes the header's start time (rewritten in place), and @now_us(@arg)
 * the monotonic microseconds dts are taken from, starting from its first
 * value. Call before the first note. @return 0 or -errno (the header write).
 */
int fx_trace_writer_set_clock(struct fx_trace_writer *w, uint64_t start_us,
			      uint64_t (*now_us)(void *arg), void *arg);

/* ------------------------------------------------------------ readers */

enum fx_trace_format {
	FX_TRACE_AUTO, /* told by the first bytes: magic, then the CSV headers, else lirs */
	FX_TRACE_RUSTFX,
	FX_TRACE_CSV,
	FX_TRACE_LIRS,
	FX_TRACE_CLOUDPHYSICS,
};

/** "auto", "rustfx", "csv", "lirs", "cloudphysics" to @out. @return 0 or -EINVAL. */
int fx_trace_format_parse(const char *name, enum fx_trace_format *out);
/** The name of @f (static). */
const char *fx_trace_format_name(enum fx_trace_format f);

enum fx_trace_op {
	FX_TRACE_OPEN,
	FX_TRACE_READ,
	FX_TRACE_WRITE,
};

/** One request. */
struct fx_trace_req {
	uint64_t time_us;  /* absolute (rustfx: since the epoch); 0 when untimed */
	uint64_t obj;	   /* never 0 */
	uint64_t off, len; /* bytes; len 0 for opens */
	uint64_t size;	   /* object size in bytes; 0 when the format does not say */
	enum fx_trace_op op;
};

/** What a reader knows about its trace. */
struct fx_trace_info {
	enum fx_trace_format format; /* the real one, after auto-detection */
	bool timed;		     /* the format has times */
	uint64_t seed;		     /* rustfx: hash seed of object ids; else 0 */
	uint32_t hash_alg;	     /* rustfx: FX_TRACE_HASH_*; else 0 */
	uint64_t start_us;	     /* rustfx: start time; else 0 */
	uint64_t skipped;	     /* records passed over (cloudphysics: other opcodes) */
};

struct fx_trace_reader;

/**
 * Open @path ("-" is standard input) as a trace in format @fmt, read and
 * check its header. gzip input is decompressed on the fly.
 * @return 0 and *@out, -errno (the file cannot be opened or read),
 * -FX_ECORRUPT (bad magic, unknown version/flags/hash, bad header, gzip
 * damage) or -EINVAL (auto-detection found no format), with @d (may be
 * NULL) saying what and where.
 */
int fx_trace_reader_open(const char *path, enum fx_trace_format fmt, struct fx_trace_reader **out,
			 struct fx_diag *d);

/**
 * The next request into @out.
 * @return 1 (got one), 0 (end of trace), or -FX_ECORRUPT (malformed: the
 * diagnostic, fx_trace_reader_diag, names the line or byte offset) or
 * -errno (read error). After an error every call returns it again.
 */
int fx_trace_next(struct fx_trace_reader *r, struct fx_trace_req *out);

/**
 * The key of @obj, if the trace named it (rustfx name records; csv string
 * keys), else NULL. @note The string is owned by @r and valid until
 * fx_trace_reader_close.
 */
const char *fx_trace_name(const struct fx_trace_reader *r, uint64_t obj);

/** What the reader knows; valid after open, complete at the end. */
void fx_trace_reader_info(const struct fx_trace_reader *r, struct fx_trace_info *out);

/** The diagnostic of the last failed fx_trace_next (err 0 if none). Owned by @r. */
const struct fx_diag *fx_trace_reader_diag(const struct fx_trace_reader *r);

/** Close and free @r. NULL is a no-op. */
void fx_trace_reader_close(struct fx_trace_reader *r);

#endif
