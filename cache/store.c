/*
 * store.c - the persistent block store: block files plus an LMDB index.
 *
 * Owns: the on-disk formats described in store.h, the in-memory table of
 * blocks (the truth while the store is open), the batched index writer and
 * the repair done at open. Does not own: fetching or eviction order.
 *
 * Locks: s->lock guards the table, the policy, `used`, the pending index
 * updates and the counters. Never held across file I/O or a write
 * transaction; LMDB serialises its own writers.
 */
#define FX_LOG_MODULE "cache"
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/mdb.h"
#include "cache/store.h"
#include "core/fsutil.h"
#include "core/log.h"


#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the cache formats are little-endian; add byte swapping before porting"
#endif

#define FX_INDEX_MAGIC "RUSTFXIX"
#define FX_INDEX_VERSION 2
#define FX_INDEX_DBS 5 /* named tables of the index */
#define FX_BLOCK_MAGIC "RFXB"
#define FX_BLOCK_VERSION 2
#define FX_BLOCK_SEALED 0x1u
#define FX_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES
/* A block file's chunks start at a multiple of this, and the buffers written
 * around the page cache (O_DIRECT) are aligned to it. */
#define FX_ALIGN 4096u
/* LMDB may only resize its map while no transaction of the process is
 * open, which a mount with many readers cannot promise: the map is sized
 * once, generously (the file stays sparse): about ten million blocks, or
 * millions of remembered objects. */
#define FX_MAP_SIZE (4ull << 30)
#define FX_FLUSH_MS 1000

/* "meta"/"format": what every block and record of this store depends on. */
struct fx_index_format {
	char magic[8];
	uint32_t version;
	uint32_t block_size;
	uint64_t seed;
	uint32_t chunk_size;
	uint32_t sealed;
	uint8_t key_check[16]; /* BLAKE2b of the key: a different key empties the store */
};

/* "blocks": one record per block id. */
struct fx_store_rec {
	uint32_t size;
	uint32_t flags;
	uint64_t checksum; /* XXH3-64 of the block file's checksum table */
	uint64_t atime_ms, ctime_ms;
	uint32_t count;
	uint32_t file_size;
};

/* The head of a block file. */
struct fx_block_header {
	char magic[4];
	uint16_t version;
	uint16_t flags;
	uint64_t seed;
	uint8_t id[FX_BLOCK_ID_LEN];
	uint32_t size;       /* plain bytes */
	uint32_t chunk_size;
	uint64_t table_sum;  /* XXH3-64 of the checksum table that follows */
	uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
	uint8_t pad[8];
};
_Static_assert(sizeof(struct fx_block_header) == 80, "block header is 80 bytes on disk");

/* An index update waiting for the flusher. */
struct fx_pending {
	uint8_t id[FX_BLOCK_ID_LEN];
	bool del;
	struct fx_store_rec rec;
};

struct fx_entry {
	struct fx_cblock cb; /* first: the policy hands these back */
	uint32_t file_size;
};

struct fx_store {
	char *dir;
	int lock_fd;
	uint32_t block_size;
	uint64_t seed;
	bool sealed;
	bool direct; /* the filesystem takes O_DIRECT writes; atomic */
	unsigned char *key; /* sodium_malloc'd, or NULL */
	uint64_t capacity, min_free;
	MDB_env *env;
	MDB_dbi dbi_meta, dbi_blocks, dbi_objects, dbi_attrs;

	pthread_mutex_t lock;
	struct fx_entry **table; /* hash chains through cb.hnext */
	size_t buckets, n;
	uint64_t used;     /* bytes of block files, including reservations */
	struct fx_policy *policy;
	struct fx_pending *pending;
	size_t npending, pending_cap;
	struct fx_store_stats st;
	/* Ids being written: a second insert of one returns at once, since two
	 * sealed copies (different nonces) would not match one index entry. */
	uint8_t (*writing)[FX_BLOCK_ID_LEN];
	size_t nwriting, writing_cap;

	pthread_t flusher;
	bool flusher_started, stopping;
	pthread_cond_t wake;
	pthread_mutex_t flush_lock; /* one flush at a time, in order */
};

static uint64_t fx_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}


/* ------------------------------------------------------------ paths */

static void fx_hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static bool fx_unhex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int v = 0;

		for (int j = 0; j < 2; j++) {
			char c = s[2 * i + j];

			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= c - '0';
			else if (c >= 'a' && c <= 'f')
				v |= c - 'a' + 10;
			else
				return false;
		}
		out[i] = (uint8_t)v;
	}
	return s[2 * n] == '\0';
}

static void fx_block_path(const struct fx_store *s, const uint8_t *id, char *out, size_t n)
{
	char hex[2 * FX_BLOCK_ID_LEN + 1];

	fx_hex(id, FX_BLOCK_ID_LEN, hex);
	snprintf(out, n, "%s/blocks/%.2s/%s", s->dir, hex, hex);
}

/* --------------------------------------------------------- block files */

static uint32_t fx_nchunks(uint32_t size)
{
	return (size + FX_STORE_CHUNK - 1) / FX_STORE_CHUNK;
}

static size_t fx_table_len(uint32_t size)
{
	return (size_t)fx_nchunks(size) * sizeof(uint64_t);
}

/* Bytes chunk @i takes on disk. */
static uint32_t fx_chunk_disk_len(uint32_t size, uint32_t i, bool sealed)
{
	uint32_t plain = size - i * FX_STORE_CHUNK;

	if (plain > FX_STORE_CHUNK)
		plain = FX_STORE_CHUNK;
	return plain + (sealed ? FX_TAG : 0);
}

static size_t fx_align_up(size_t n)
{
	return (n + FX_ALIGN - 1) / FX_ALIGN * FX_ALIGN;
}

/* The header and table, padded: where the chunks start. */
static size_t fx_data_off(uint32_t size)
{
	return fx_align_up(sizeof(struct fx_block_header) + fx_table_len(size));
}

static uint64_t fx_chunk_off(uint32_t size, uint32_t i, bool sealed)
{
	return fx_data_off(size) + (uint64_t)i * (FX_STORE_CHUNK + (sealed ? FX_TAG : 0));
}

static uint64_t fx_file_len(uint32_t size, bool sealed)
{
	uint32_t n = fx_nchunks(size);

	return n ? fx_chunk_off(size, n - 1, sealed) + fx_chunk_disk_len(size, n - 1, sealed)
		 : sizeof(struct fx_block_header);
}

static void fx_chunk_nonce(const struct fx_block_header *h, uint32_t i, uint8_t *nonce)
{
	uint64_t tail;

	memcpy(nonce, h->nonce, sizeof(h->nonce));
	memcpy(&tail, nonce + sizeof(h->nonce) - 8, 8);
	tail ^= i;
	memcpy(nonce + sizeof(h->nonce) - 8, &tail, 8);
}

static void fx_chunk_ad(const struct fx_block_header *h, uint32_t i, uint8_t *ad)
{
	memcpy(ad, h, sizeof(*h));
	memcpy(ad + sizeof(*h), &i, 4);
}

/*
 * Build the file image of a block: header, table, padding, and the chunks
 * when they are sealed (the store has a key). Unsealed chunks are @data
 * itself and follow the image in the file. @return an image of *@len
 * bytes, a multiple of FX_ALIGN and aligned to it (zeros past the file's
 * end), to free(); or NULL.
 */
static uint8_t *fx_block_image(const struct fx_store *s, const uint8_t *id, const void *data,
			       uint32_t size, size_t *len, uint64_t *table_sum)
{
	struct fx_block_header h = { .version = FX_BLOCK_VERSION, .seed = s->seed, .size = size,
				     .chunk_size = FX_STORE_CHUNK };
	size_t head = sizeof(h) + fx_table_len(size), flen = fx_file_len(size, s->sealed);
	size_t ilen = fx_align_up(s->sealed ? flen : fx_data_off(size));
	uint8_t *img = aligned_alloc(FX_ALIGN, ilen), ad[sizeof(h) + 4];
	uint64_t *table;
	uint32_t n = fx_nchunks(size);

	if (!img)
		return NULL;
	memset(img + head, 0, fx_data_off(size) - head);
	if (s->sealed)
		memset(img + flen, 0, ilen - flen);
	memcpy(h.magic, FX_BLOCK_MAGIC, 4);
	memcpy(h.id, id, FX_BLOCK_ID_LEN);
	if (s->sealed) {
		h.flags = FX_BLOCK_SEALED;
		randombytes_buf(h.nonce, sizeof(h.nonce));
	}
	table = (uint64_t *)(img + sizeof(h));
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *src = (const uint8_t *)data + (size_t)i * FX_STORE_CHUNK, *disk = src;
		uint32_t dlen = fx_chunk_disk_len(size, i, s->sealed);

		if (s->sealed) {
			uint8_t nonce[sizeof(h.nonce)], *dst = img + fx_chunk_off(size, i, true);

			/* The header's table_sum is not known yet: it is left 0 in
			 * the associated data, which fx_block_check mirrors. */
			fx_chunk_nonce(&h, i, nonce);
			fx_chunk_ad(&h, i, ad);
			crypto_aead_xchacha20poly1305_ietf_encrypt(dst, NULL, src, dlen - FX_TAG, ad,
								   sizeof(ad), NULL, nonce, s->key);
			disk = dst;
		}
		table[i] = XXH3_64bits_withSeed(disk, dlen, s->seed);
	}
	h.table_sum = XXH3_64bits_withSeed(table, fx_table_len(size), s->seed);
	memcpy(img, &h, sizeof(h));
	*len = ilen;
	*table_sum = h.table_sum;
	return img;
}

/* Read and check the header and table of an open block file. @table gets
 * a malloc'd copy. @return 0, -EBADMSG (not a good block of this store). */
static int fx_block_head(const struct fx_store *s, int fd, const uint8_t *id, uint32_t expect,
			 struct fx_block_header *h, uint64_t **table)
{
	/* With the size known from the index, header and table come in one read. */
	size_t tlen = expect ? fx_table_len(expect) : 0;
	struct iovec iov[2];
	ssize_t n;

	*table = NULL;
	if (tlen && !(*table = malloc(tlen)))
		return -ENOMEM;
	iov[0] = (struct iovec){ h, sizeof(*h) };
	iov[1] = (struct iovec){ *table, tlen };
	n = preadv(fd, iov, tlen ? 2 : 1, 0);
	if (n < 0) {
		n = -errno;
		goto fail;
	}
	if ((size_t)n < sizeof(*h) || memcmp(h->magic, FX_BLOCK_MAGIC, 4) ||
	    h->version != FX_BLOCK_VERSION || h->seed != s->seed ||
	    (id && memcmp(h->id, id, FX_BLOCK_ID_LEN)) || h->chunk_size != FX_STORE_CHUNK ||
	    h->size == 0 || h->size > s->block_size || (expect && h->size != expect) ||
	    !!(h->flags & FX_BLOCK_SEALED) != s->sealed) {
		n = -EBADMSG;
		goto fail;
	}
	if (!tlen) {
		tlen = fx_table_len(h->size);
		if (!(*table = malloc(tlen)))
			return -ENOMEM;
		n = pread(fd, *table, tlen, sizeof(*h));
		n = n < 0 ? -errno : n + (ssize_t)sizeof(*h);
		if (n < 0)
			goto fail;
	}
	if ((size_t)n != sizeof(*h) + tlen ||
	    XXH3_64bits_withSeed(*table, tlen, s->seed) != h->table_sum) {
		n = -EBADMSG;
		goto fail;
	}
	return 0;
fail:
	free(*table);
	*table = NULL;
	return (int)n;
}

/*
 * Read chunks [@first, @last] of an open block into @out (plain bytes,
 * chunk @first at @out[0]), checking each. Without a key (tool mode) only
 * the checksums are checked and @out may be NULL. @return 0 or -EBADMSG.
 */
static int fx_block_chunks(const struct fx_store *s, int fd, const struct fx_block_header *h,
			   const uint64_t *table, uint32_t first, uint32_t last, uint8_t *out)
{
	bool sealed = h->flags & FX_BLOCK_SEALED;
	uint64_t off = fx_chunk_off(h->size, first, sealed);
	size_t len = fx_chunk_off(h->size, last, sealed) + fx_chunk_disk_len(h->size, last, sealed) - off;
	/* Plain chunks lie on disk as they go to @out: read them in place. */
	bool direct = out && !sealed;
	uint8_t *disk = direct ? out : malloc(len), ad[sizeof(*h) + 4];
	struct fx_block_header h0 = *h;
	ssize_t n;
	int err = 0;

	if (!disk)
		return -ENOMEM;
	n = pread(fd, disk, len, (off_t)off);
	if (n < 0 || (size_t)n != len) {
		err = n < 0 ? -errno : -EBADMSG;
		goto out;
	}
	h0.table_sum = 0;
	for (uint32_t i = first; i <= last && !err; i++) {
		uint8_t *c = disk + (fx_chunk_off(h->size, i, sealed) - off);
		uint32_t dlen = fx_chunk_disk_len(h->size, i, sealed);
		uint8_t *dst = out ? out + (size_t)(i - first) * FX_STORE_CHUNK : NULL;

		if (XXH3_64bits_withSeed(c, dlen, s->seed) != table[i]) {
			err = -EBADMSG;
		} else if (dst && sealed) {
			uint8_t nonce[sizeof(h->nonce)];

			fx_chunk_nonce(&h0, i, nonce);
			fx_chunk_ad(&h0, i, ad);
			if (!s->key || crypto_aead_xchacha20poly1305_ietf_decrypt(
					       dst, NULL, NULL, c, dlen, ad, sizeof(ad), nonce, s->key))
				err = -EBADMSG;
		} else if (dst && !direct) {
			memcpy(dst, c, dlen);
		}
	}
out:
	if (!direct)
		free(disk);
	return err;
}

/* ------------------------------------------------------------ the table */

static size_t fx_bucket(const struct fx_store *s, const uint8_t *id)
{
	uint64_t h;

	memcpy(&h, id, sizeof(h));
	return (size_t)(h & (s->buckets - 1));
}

static struct fx_entry *fx_find(const struct fx_store *s, const uint8_t *id)
{
	struct fx_cblock *b;

	if (!s->buckets || !s->table[fx_bucket(s, id)])
		return NULL;
	for (b = &s->table[fx_bucket(s, id)]->cb; b; b = b->hnext)
		if (!memcmp(b->id, id, FX_BLOCK_ID_LEN))
			return (struct fx_entry *)b;
	return NULL;
}

static int fx_table_add(struct fx_store *s, struct fx_entry *e)
{
	size_t i;

	if (s->n + 1 > s->buckets) {
		size_t nb = s->buckets ? s->buckets * 2 : 1024;
		struct fx_entry **t = calloc(nb, sizeof(*t));

		if (!t)
			return -ENOMEM;
		for (i = 0; i < s->buckets; i++) {
			struct fx_entry *x = s->table[i], *next;

			for (; x; x = next) {
				uint64_t h;

				next = (struct fx_entry *)x->cb.hnext;
				memcpy(&h, x->cb.id, sizeof(h));
				x->cb.hnext = t[h & (nb - 1)] ? &t[h & (nb - 1)]->cb : NULL;
				t[h & (nb - 1)] = x;
			}
		}
		free(s->table);
		s->table = t;
		s->buckets = nb;
	}
	i = fx_bucket(s, e->cb.id);
	e->cb.hnext = s->table[i] ? &s->table[i]->cb : NULL;
	s->table[i] = e;
	s->n++;
	return 0;
}

static void fx_table_del(struct fx_store *s, struct fx_entry *e)
{
	struct fx_entry **pp = &s->table[fx_bucket(s, e->cb.id)];

	while (*pp && *pp != e)
		pp = (struct fx_entry **)&(*pp)->cb.hnext;
	if (*pp) {
		*pp = (struct fx_entry *)e->cb.hnext;
		s->n--;
	}
}

static struct fx_store_rec fx_rec_of(const struct fx_entry *e)
{
	return (struct fx_store_rec){ .size = e->cb.size, .flags = e->cb.flags,
				      .checksum = e->cb.checksum, .atime_ms = e->cb.atime_ms,
				      .ctime_ms = e->cb.ctime_ms, .count = e->cb.count,
				      .file_size = e->file_size };
}

/* Queue an index update (s->lock held); a put's record is taken afresh
 * when flushed. Failing to queue only costs the entry at the next open,
 * which repairs the index from the files. */
static void fx_pend(struct fx_store *s, const struct fx_entry *e, bool del)
{
	struct fx_pending *p;

	if (s->npending == s->pending_cap) {
		size_t cap = s->pending_cap ? s->pending_cap * 2 : 256;

		p = realloc(s->pending, cap * sizeof(*p));
		if (!p)
			return;
		s->pending = p;
		s->pending_cap = cap;
	}
	p = &s->pending[s->npending++];
	memcpy(p->id, e->cb.id, FX_BLOCK_ID_LEN);
	p->del = del;
	p->rec = fx_rec_of(e);
}

/* Forget @e and delete its file (s->lock held; the unlink is one cheap
 * syscall, and doing it here keeps `used` honest). The policy has already
 * let go of it. */
static void fx_entry_kill(struct fx_store *s, struct fx_entry *e)
{
	char path[PATH_MAX];

	fx_table_del(s, e);
	fx_pend(s, e, true);
	s->used -= e->file_size;
	fx_block_path(s, e->cb.id, path, sizeof(path));
	unlink(path);
	free(e);
}

/* Bytes the free-space floor wants freed on top of @extra (s->lock held). */
static uint64_t fx_floor_deficit(struct fx_store *s, uint64_t extra)
{
	struct statvfs v;
	uint64_t avail;

	if (!s->min_free || statvfs(s->dir, &v))
		return 0;
	avail = (uint64_t)v.f_bavail * v.f_frsize;
	return avail >= s->min_free + extra ? 0 : s->min_free + extra - avail;
}

/* Evict until @need more bytes fit under the cap and the floor (s->lock
 * held). @return true if they fit. */
static bool fx_make_room(struct fx_store *s, uint64_t need)
{
	uint64_t deficit = fx_floor_deficit(s, need), freed = 0;

	while (s->used + need > s->capacity || freed < deficit) {
		struct fx_entry *e = (struct fx_entry *)fx_policy_evict(s->policy);

		if (!e)
			return false;
		freed += e->file_size;
		s->st.evictions++;
		if (e->cb.flags & FX_CB_PREFETCHED)
			s->st.prefetch_wasted++;
		if ((e->cb.flags & FX_CB_PREFETCHED) && (e->cb.flags & FX_CB_PREDICTED))
			s->st.predicted_wasted++;
		fx_entry_kill(s, e);
	}
	return true;
}

/* ------------------------------------------------------------ the index */

static int fx_index_txn(struct fx_store *s, unsigned flags, MDB_txn **txn)
{
	return fx_mdb_errno(mdb_txn_begin(s->env, NULL, flags, txn));
}

/* Commit @txn, or abort it when @rc says a step failed. @return 0 or -errno
 * (-ENOSPC when the map is full). */
static int fx_index_end(MDB_txn *txn, int rc)
{
	if (rc) {
		mdb_txn_abort(txn);
		return fx_mdb_errno(rc);
	}
	return fx_mdb_errno(mdb_txn_commit(txn));
}

/* Apply @n updates in one transaction. */
static int fx_index_apply(struct fx_store *s, const struct fx_pending *p, size_t n)
{
	MDB_txn *txn;
	int rc = fx_index_txn(s, 0, &txn);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n && !rc; i++) {
		MDB_val k = { FX_BLOCK_ID_LEN, (void *)p[i].id };
		MDB_val v = { sizeof(p[i].rec), (void *)&p[i].rec };

		rc = p[i].del ? mdb_del(txn, s->dbi_blocks, &k, NULL)
			      : mdb_put(txn, s->dbi_blocks, &k, &v, 0);
		if (rc == MDB_NOTFOUND)
			rc = 0;
	}
	return fx_index_end(txn, rc);
}

/* Commit what is pending, and atime/count changes of hit blocks. */
static void fx_flush(struct fx_store *s)
{
	struct fx_pending *batch;
	size_t n;
	int err;

	pthread_mutex_lock(&s->flush_lock);
	pthread_mutex_lock(&s->lock);
	batch = s->pending;
	n = s->npending;
	s->pending = NULL;
	s->npending = s->pending_cap = 0;
	for (size_t i = 0; i < n; i++) {
		struct fx_entry *e = batch[i].del ? NULL : fx_find(s, batch[i].id);

		if (e) { /* latest access time and count */
			e->cb.dirty = false;
			batch[i].rec = fx_rec_of(e);
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (n && (err = fx_index_apply(s, batch, n)) < 0 && fx_log_first_time("cache-index-write"))
		fx_warn("cache index update failed (%s); the next mount repairs it", fx_strerror(err));
	free(batch);
	pthread_mutex_unlock(&s->flush_lock);
}

static void *fx_flusher(void *arg)
{
	struct fx_store *s = arg;
	struct timespec ts;

	fx_log_set_request(0);
	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += FX_FLUSH_MS / 1000;
		pthread_cond_timedwait(&s->wake, &s->lock, &ts);
		if (s->stopping)
			break;
		fx_policy_tick(s->policy, fx_now_ms());
		pthread_mutex_unlock(&s->lock);
		fx_flush(s);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* ------------------------------------------------------------- opening */

/* Remove every file in @path (one level; subdirectories emptied too). */
static void fx_empty_dir(const char *path, bool rmdirs)
{
	DIR *dir = opendir(path);
	struct dirent *de;
	char sub[PATH_MAX + NAME_MAX + 2];

	if (!dir)
		return;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (de->d_type == DT_DIR) {
			fx_empty_dir(sub, false);
			if (rmdirs)
				rmdir(sub);
		} else {
			unlink(sub);
		}
	}
	closedir(dir);
}

/* Older versions wrote blocks into @dir/tmp and renamed them into place; a
 * killed one left half-written files there. Blocks are now written in place
 * (fx_write_file): the directory goes. */
static void fx_drop_legacy_tmp(const char *dir)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/tmp", dir);
	fx_empty_dir(path, true);
	rmdir(path);
}

static int fx_lock_dir(const char *dir, int *fd_out, struct fx_diag *d)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		int err = -errno;

		fx_diag_set(d, err, "check that cache_dir is writable by this user",
			    "cannot open the cache in %s (%s)", dir, fx_strerror(err));
		return err;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		int err = errno == EWOULDBLOCK ? -EBUSY : -errno;

		close(fd);
		fx_diag_set(d, err,
			    "unmount the other rustfx using it, or give this one its own cache_dir",
			    "the cache in %s is in use by another rustfx", dir);
		return err;
	}
	*fd_out = fd;
	return 0;
}

static int fx_env_open(struct fx_store *s)
{
	char path[PATH_MAX];
	MDB_txn *txn;
	int rc;

	snprintf(path, sizeof(path), "%s/index.mdb", s->dir);
	if ((rc = mdb_env_create(&s->env)))
		return fx_mdb_errno(rc);
	mdb_env_set_maxdbs(s->env, FX_INDEX_DBS);
	mdb_env_set_mapsize(s->env, FX_MAP_SIZE);
	/* NOSYNC: the index is rebuilt from the block files after a machine
	 * crash, so durability is not worth an fsync per commit. */
	rc = mdb_env_open(s->env, path, MDB_NOSUBDIR | MDB_NOSYNC | MDB_NOTLS, 0600);
	if (!rc)
		rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (!rc) {
		rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->dbi_meta);
		if (!rc)
			rc = mdb_dbi_open(txn, "blocks", MDB_CREATE, &s->dbi_blocks);
		if (!rc)
			rc = mdb_dbi_open(txn, "objects", MDB_CREATE, &s->dbi_objects);
		if (!rc)
			rc = mdb_dbi_open(txn, "attrs", MDB_CREATE, &s->dbi_attrs);
		rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
	}
	if (rc) {
		mdb_env_close(s->env);
		s->env = NULL;
	}
	return fx_mdb_errno(rc);
}

/* The seed of a block file left in the store, if one looks like ours. */
static bool fx_seed_of_blocks(const struct fx_store *s, uint64_t *seed)
{
	char path[PATH_MAX + NAME_MAX + 2];
	bool found = false;

	for (int sub = 0; sub < 256 && !found; sub++) {
		struct dirent *de;
		DIR *dir;

		snprintf(path, sizeof(path), "%s/blocks/%02x", s->dir, sub);
		if (!(dir = opendir(path)))
			continue;
		while (!found && (de = readdir(dir))) {
			struct fx_block_header h;
			char file[2 * PATH_MAX];
			int fd;

			if (de->d_name[0] == '.')
				continue;
			snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
			if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0)
				continue;
			if (pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
			    !memcmp(h.magic, FX_BLOCK_MAGIC, 4) && h.version == FX_BLOCK_VERSION &&
			    h.chunk_size == FX_STORE_CHUNK) {
				*seed = h.seed;
				found = true;
			}
			close(fd);
		}
		closedir(dir);
	}
	return found;
}

/* Check or write the format record. @return 1 if the store must be
 * emptied first (format, block size or key changed), 0, or -errno. */
static int fx_format(struct fx_store *s, bool tool)
{
	struct fx_index_format want = { .version = FX_INDEX_VERSION, .block_size = s->block_size,
					.chunk_size = FX_STORE_CHUNK, .sealed = s->sealed };
	MDB_val k = { 6, "format" }, v;
	MDB_txn *txn;
	int rc, ret = 0;

	memcpy(want.magic, FX_INDEX_MAGIC, 8);
	if (s->key)
		crypto_generichash(want.key_check, sizeof(want.key_check), s->key, FX_STORE_KEY_LEN,
				   (const unsigned char *)"rustfx-cache-key", 16);
	if ((rc = fx_index_txn(s, 0, &txn)) < 0)
		return rc;
	rc = mdb_get(txn, s->dbi_meta, &k, &v);
	if (rc == 0 && v.mv_size == sizeof(want)) {
		struct fx_index_format have;

		memcpy(&have, v.mv_data, sizeof(have));
		if (tool && !memcmp(have.magic, FX_INDEX_MAGIC, 8) && have.version == FX_INDEX_VERSION) {
			s->block_size = have.block_size;
			s->sealed = have.sealed;
			s->seed = have.seed;
			mdb_txn_abort(txn);
			return 0;
		}
		want.seed = have.seed;
		if (!memcmp(&have, &want, sizeof(want))) {
			s->seed = have.seed;
			mdb_txn_abort(txn);
			return 0;
		}
		fx_warn("cache in %s was made with another block size, format or key: emptying it",
			s->dir);
		ret = 1;
	} else if (rc == 0) {
		fx_warn("cache in %s has an unknown format record: emptying it", s->dir);
		ret = 1;
	} else if (rc != MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return fx_mdb_errno(rc);
	} else if (tool) {
		mdb_txn_abort(txn);
		return -ENOENT;
	}
	/* A lost index keeps the blocks' seed, so they can be adopted. */
	if (ret != 0 || !fx_seed_of_blocks(s, &want.seed))
		randombytes_buf(&want.seed, sizeof(want.seed));
	s->seed = want.seed;
	v = (MDB_val){ sizeof(want), &want };
	rc = mdb_drop(txn, s->dbi_blocks, 0);
	if (!rc)
		rc = mdb_drop(txn, s->dbi_objects, 0);
	if (!rc)
		rc = mdb_drop(txn, s->dbi_attrs, 0);
	if (!rc)
		rc = mdb_put(txn, s->dbi_meta, &k, &v, 0);
	rc = fx_index_end(txn, rc);
	return rc < 0 ? rc : ret;
}

/* Read a whole block file and check it; fills @rec. @return 0 or -EBADMSG. */
static int fx_block_check_file(const struct fx_store *s, const char *path, const uint8_t *id,
			       struct fx_store_rec *rec)
{
	struct fx_block_header h;
	uint64_t *table = NULL;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	err = fx_block_head(s, fd, id, 0, &h, &table);
	if (!err && (fstat(fd, &st) || (uint64_t)st.st_size != fx_file_len(h.size, s->sealed)))
		err = -EBADMSG;
	if (!err)
		err = fx_block_chunks(s, fd, &h, table, 0, fx_nchunks(h.size) - 1, NULL);
	if (!err && rec) {
		rec->size = h.size;
		rec->checksum = h.table_sum;
		rec->file_size = (uint32_t)st.st_size;
		rec->ctime_ms = rec->atime_ms = (uint64_t)st.st_mtim.tv_sec * 1000;
	}
	free(table);
	close(fd);
	return err;
}

static int fx_entry_cmp_atime(const void *a, const void *b)
{
	const struct fx_entry *x = *(struct fx_entry *const *)a, *y = *(struct fx_entry *const *)b;

	return x->cb.atime_ms < y->cb.atime_ms ? -1 : x->cb.atime_ms > y->cb.atime_ms;
}

/* Load the index into the table, reconcile it with the files on disk, and
 * hand the blocks to the policy oldest first. */
static int fx_load(struct fx_store *s)
{
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	struct fx_entry **all = NULL, *e;
	size_t nall = 0, cap = 0;
	char path[PATH_MAX];
	int rc;

	if ((rc = fx_index_txn(s, MDB_RDONLY, &txn)) < 0)
		return rc;
	rc = mdb_cursor_open(txn, s->dbi_blocks, &cur);
	for (int op = MDB_FIRST; !rc && !(rc = mdb_cursor_get(cur, &k, &v, op)); op = MDB_NEXT) {
		struct fx_store_rec rec;

		if (k.mv_size != FX_BLOCK_ID_LEN || v.mv_size != sizeof(rec))
			continue; /* dropped below: it is in no file's name */
		memcpy(&rec, v.mv_data, sizeof(rec));
		if (!(e = calloc(1, sizeof(*e)))) {
			rc = ENOMEM;
			break;
		}
		memcpy(e->cb.id, k.mv_data, FX_BLOCK_ID_LEN);
		e->cb.size = rec.size;
		e->cb.flags = rec.flags;
		e->cb.checksum = rec.checksum;
		e->cb.atime_ms = rec.atime_ms;
		e->cb.ctime_ms = rec.ctime_ms;
		e->cb.count = rec.count;
		e->file_size = rec.file_size;
		e->cb.queue = 0; /* not yet seen on disk */
		if (fx_table_add(s, e) < 0) {
			free(e);
			rc = ENOMEM;
		}
	}
	if (cur)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (rc && rc != MDB_NOTFOUND)
		return rc == ENOMEM ? -ENOMEM : fx_mdb_errno(rc);

	/* Every block file: known and intact-looking, or adopted, or removed. */
	for (int sub = 0; sub < 256; sub++) {
		DIR *dir;
		struct dirent *de;

		snprintf(path, sizeof(path), "%s/blocks/%02x", s->dir, sub);
		if (!(dir = opendir(path)))
			continue;
		while ((de = readdir(dir))) {
			uint8_t id[FX_BLOCK_ID_LEN];
			char file[PATH_MAX + NAME_MAX + 2];
			struct stat st;

			if (de->d_name[0] == '.')
				continue;
			snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
			if (!fx_unhex(de->d_name, id, sizeof(id)) || id[0] != sub) {
				unlink(file);
				s->st.dropped++;
				continue;
			}
			e = fx_find(s, id);
			if (e && !stat(file, &st) && (uint64_t)st.st_size == e->file_size) {
				e->cb.queue = 1; /* seen */
				continue;
			}
			if (!e) {
				struct fx_store_rec rec = { 0 };

				if (fx_block_check_file(s, file, id, &rec) == 0 &&
				    (e = calloc(1, sizeof(*e)))) {
					memcpy(e->cb.id, id, sizeof(id));
					e->cb.size = rec.size;
					e->cb.checksum = rec.checksum;
					e->cb.atime_ms = rec.atime_ms;
					e->cb.ctime_ms = rec.ctime_ms;
					e->file_size = rec.file_size;
					e->cb.queue = 1;
					if (fx_table_add(s, e) == 0) {
						s->st.adopted++;
						fx_pend(s, e, false);
						continue;
					}
					free(e);
				}
			}
			unlink(file); /* broken, or its size disagrees with the index */
			s->st.dropped++;
		}
		closedir(dir);
	}
	/* Entries without a (good) file go; the rest enter the policy oldest first. */
	for (size_t b = 0; b < s->buckets; b++) {
		for (e = s->table[b]; e; e = (struct fx_entry *)e->cb.hnext) {
			if (nall == cap) {
				struct fx_entry **a = realloc(all, (cap = cap ? cap * 2 : 1024) * sizeof(*a));

				if (!a) {
					free(all);
					return -ENOMEM;
				}
				all = a;
			}
			all[nall++] = e;
		}
	}
	if (nall) /* qsort(NULL, 0) is undefined */
		qsort(all, nall, sizeof(*all), fx_entry_cmp_atime);
	for (size_t i = 0; i < nall; i++) {
		e = all[i];
		if (!e->cb.queue) {
			fx_table_del(s, e);
			fx_pend(s, e, true);
			s->st.dropped++;
			free(e);
			continue;
		}
		e->cb.queue = 0;
		e->cb.prev = e->cb.next = NULL;
		s->used += e->file_size;
		fx_policy_insert(s->policy, &e->cb);
	}
	free(all);
	/* The cap may have shrunk since the last mount. */
	fx_make_room(s, 0);
	return 0;
}

static void fx_store_free(struct fx_store *s)
{
	if (!s)
		return;
	if (s->policy) {
		for (size_t b = 0; b < s->buckets; b++) {
			struct fx_entry *e = s->table[b], *next;

			for (; e; e = next) {
				next = (struct fx_entry *)e->cb.hnext;
				free(e);
			}
		}
		fx_policy_free(s->policy);
	}
	free(s->table);
	free(s->pending);
	free(s->writing);
	if (s->env)
		mdb_env_close(s->env);
	if (s->key)
		sodium_free(s->key);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->flush_lock);
	pthread_cond_destroy(&s->wake);
	free(s->dir);
	free(s);
}

static int fx_store_open_mode(const struct fx_store_opts *o, bool tool, struct fx_store **out,
			      struct fx_diag *d)
{
	struct fx_store *s = calloc(1, sizeof(*s));
	char path[PATH_MAX];
	int ret;

	if (!s || sodium_init() < 0) {
		free(s);
		return -ENOMEM;
	}
	s->lock_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->flush_lock, NULL);
	pthread_cond_init(&s->wake, NULL);
	s->capacity = o->capacity;
	s->min_free = o->min_free;
	s->block_size = o->block_size;
	s->direct = true;
	if (!(s->dir = strdup(o->dir))) {
		ret = -ENOMEM;
		goto fail;
	}
	if (o->key) {
		if (!(s->key = sodium_malloc(FX_STORE_KEY_LEN))) {
			ret = -ENOMEM;
			goto fail;
		}
		memcpy(s->key, o->key, FX_STORE_KEY_LEN);
		s->sealed = true;
	}
	if ((ret = fx_mkdirs(s->dir, 0700)) < 0) {
		fx_diag_set(d, ret, "check cache_dir and its permissions",
			    "cannot create the cache directory %s (%s)", s->dir, fx_strerror(ret));
		goto fail;
	}
	if ((ret = fx_lock_dir(s->dir, &s->lock_fd, d)) < 0)
		goto fail;
	fx_drop_legacy_tmp(s->dir);
	for (int attempt = 0;; attempt++) {
		ret = fx_env_open(s);
		if (ret == 0)
			ret = fx_format(s, tool);
		if (ret >= 0 || tool || attempt > 0)
			break;
		/* An index LMDB cannot open is rebuilt: blocks are only a cache. */
		fx_warn("cache index in %s is unreadable (%s): rebuilding it", s->dir,
			fx_strerror(ret));
		if (s->env) {
			mdb_env_close(s->env);
			s->env = NULL;
		}
		snprintf(path, sizeof(path), "%s/index.mdb", s->dir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/index.mdb-lock", s->dir);
		unlink(path);
	}
	if (ret < 0) {
		fx_diag_set(d, ret,
			    tool ? "is this a rustfx cache directory? `rustfx cache clear` empties it"
				 : "remove the cache directory and mount again",
			    "cannot open the cache index in %s (%s)", s->dir, fx_strerror(ret));
		goto fail;
	}
	if (ret == 1) {
		snprintf(path, sizeof(path), "%s/blocks", s->dir);
		fx_empty_dir(path, true);
	}
	snprintf(path, sizeof(path), "%s/blocks", s->dir);
	if ((ret = fx_mkdirs(path, 0700)) < 0)
		goto fail_io;
	/* Every subdirectory now, not by the first reads of a new cache. */
	for (int sub = 0; sub < 256; sub++) {
		snprintf(path, sizeof(path), "%s/blocks/%02x", s->dir, sub);
		if (mkdir(path, 0700) && errno != EEXIST) {
			ret = -errno;
			goto fail_io;
		}
	}
	{
		struct fx_policy_env env = {0};

		if (o->policy_env)
			env = *o->policy_env;
		env.capacity = s->capacity;
		s->policy = fx_policy_new(o->policy ? o->policy : fx_policy_find("lru"), &env);
	}
	if (!s->policy) {
		ret = -ENOMEM;
		goto fail_io;
	}
	if ((ret = fx_load(s)) < 0)
		goto fail_io;
	if (s->st.adopted || s->st.dropped)
		fx_warn("cache in %s repaired: %" PRIu64 " block files adopted, %" PRIu64
			" stale entries or files removed",
			s->dir, s->st.adopted, s->st.dropped);
	fx_flush(s);
	*out = s;
	return 0;
fail_io:
	fx_diag_set(d, ret, "check cache_dir, its free space and permissions",
		    "cannot open the cache in %s (%s)", s->dir, fx_strerror(ret));
fail:
	fx_store_free(s);
	return ret;
}

int fx_store_open(const struct fx_store_opts *o, struct fx_store **out, struct fx_diag *d)
{
	struct fx_store *s;
	int ret;

	if (o->block_size && (o->block_size < FX_STORE_BLOCK_MIN || o->block_size > FX_STORE_BLOCK_MAX ||
			      o->block_size % FX_STORE_BLOCK_MIN)) {
		fx_diag_set(d, -FX_EBADOPT, "use a multiple of 64K between 64K and 64M, e.g. 1M",
			    "block_size %u is not usable", o->block_size);
		return -FX_EBADOPT;
	}
	if ((ret = fx_store_open_mode(o, o->block_size == 0, &s, d)) < 0)
		return ret;
	*out = s;
	return 0;
}

int fx_store_start(struct fx_store *s)
{
	int ret;

	if (s->flusher_started)
		return 0;
	if ((ret = pthread_create(&s->flusher, NULL, fx_flusher, s)))
		return -ret;
	s->flusher_started = true;
	return 0;
}

void fx_store_close(struct fx_store *s)
{
	if (!s)
		return;
	if (s->flusher_started) {
		pthread_mutex_lock(&s->lock);
		s->stopping = true;
		pthread_cond_signal(&s->wake);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->flusher, NULL);
	}
	/* Hit counts and times of blocks read since their last record. */
	pthread_mutex_lock(&s->lock);
	for (size_t b = 0; b < s->buckets; b++)
		for (struct fx_entry *e = s->table[b]; e; e = (struct fx_entry *)e->cb.hnext)
			if (e->cb.dirty)
				fx_pend(s, e, false);
	pthread_mutex_unlock(&s->lock);
	fx_flush(s);
	fx_store_free(s);
}

uint32_t fx_store_block_size(const struct fx_store *s)
{
	return s->block_size;
}

/* ------------------------------------------------------------- blocks */

void fx_store_block_id(const struct fx_store *s, const char *url, const char *key,
		       const char *version, uint64_t index, uint8_t id[FX_BLOCK_ID_LEN])
{
	XXH3_state_t st;
	XXH128_hash_t h;
	XXH128_canonical_t c;

	XXH3_INITSTATE(&st); /* reset reads the seed a state held before */
	XXH3_128bits_reset_withSeed(&st, s->seed);
	XXH3_128bits_update(&st, url, strlen(url) + 1);
	XXH3_128bits_update(&st, key, strlen(key) + 1);
	XXH3_128bits_update(&st, version, strlen(version) + 1);
	XXH3_128bits_update(&st, &index, sizeof(index));
	/* Blocks of another block size hold other byte ranges under the same index. */
	XXH3_128bits_update(&st, &s->block_size, sizeof(s->block_size));
	h = XXH3_128bits_digest(&st);
	XXH128_canonicalFromHash(&c, h);
	memcpy(id, c.digest, FX_BLOCK_ID_LEN);
}

bool fx_store_has(struct fx_store *s, const uint8_t id[FX_BLOCK_ID_LEN])
{
	bool has;

	pthread_mutex_lock(&s->lock);
	has = fx_find(s, id) != NULL;
	pthread_mutex_unlock(&s->lock);
	return has;
}

/* The ids of blocks being written (s->lock held). */
static ssize_t fx_writing_find(const struct fx_store *s, const uint8_t *id)
{
	for (size_t i = 0; i < s->nwriting; i++)
		if (!memcmp(s->writing[i], id, FX_BLOCK_ID_LEN))
			return (ssize_t)i;
	return -1;
}

static int fx_writing_add(struct fx_store *s, const uint8_t *id)
{
	if (s->nwriting == s->writing_cap) {
		size_t cap = s->writing_cap ? s->writing_cap * 2 : 64;
		void *w = realloc(s->writing, cap * sizeof(*s->writing));

		if (!w)
			return -ENOMEM;
		s->writing = w;
		s->writing_cap = cap;
	}
	memcpy(s->writing[s->nwriting++], id, FX_BLOCK_ID_LEN);
	return 0;
}

static void fx_writing_del(struct fx_store *s, const uint8_t *id)
{
	ssize_t i = fx_writing_find(s, id);

	if (i >= 0)
		memcpy(s->writing[i], s->writing[--s->nwriting], FX_BLOCK_ID_LEN);
}

/* Drop @id after a failed check (s->lock not held). */
static void fx_drop_corrupt(struct fx_store *s, const uint8_t *id, int err)
{
	char hex[2 * FX_BLOCK_ID_LEN + 1];

	fx_hex(id, FX_BLOCK_ID_LEN, hex);
	fx_warn("cache block %s failed its %s (%s): dropped, fetching it again", hex,
		s->sealed ? "authentication or checksum" : "checksum", fx_strerror(err));
	pthread_mutex_lock(&s->lock);
	s->st.corrupt++;
	pthread_mutex_unlock(&s->lock);
	fx_store_drop(s, id);
}

/* Count a read of @len bytes of block @id (s->lock held): a hit when @use,
 * else bytes copied to the page cache. */
static void fx_note_read(struct fx_store *s, const uint8_t *id, size_t len, bool use)
{
	struct fx_entry *e;

	if (!use) {
		s->st.peek_bytes += len;
		return;
	}
	if ((e = fx_find(s, id))) {
		e->cb.atime_ms = fx_now_ms();
		e->cb.count++;
		if (e->cb.flags & FX_CB_PREFETCHED) {
			s->st.prefetch_used++;
			if (e->cb.flags & FX_CB_PREDICTED)
				s->st.predicted_used++;
		}
		e->cb.flags &= ~(FX_CB_PREFETCHED | FX_CB_PREDICTED);
		fx_policy_hit(s->policy, &e->cb);
		if (!e->cb.dirty) {
			e->cb.dirty = true;
			fx_pend(s, e, false); /* the record is taken when flushed */
		}
	}
	s->st.hits++;
	s->st.hit_bytes += len;
}

/* fx_store_read(), or fx_store_peek() without @use. */
static ssize_t fx_read_block(struct fx_store *s, const uint8_t id[FX_BLOCK_ID_LEN], uint32_t off,
			     void *buf, size_t len, bool use)
{
	struct fx_block_header h;
	uint64_t *table = NULL, checksum;
	struct fx_entry *e;
	char path[PATH_MAX];
	uint32_t size, first, last;
	uint8_t *plain = NULL;
	bool whole, rewriting;
	int fd, err;

	pthread_mutex_lock(&s->lock);
	e = fx_find(s, id);
	if (!e) {
		s->st.misses += use;
		pthread_mutex_unlock(&s->lock);
		return -ENOENT;
	}
	size = e->cb.size;
	checksum = e->cb.checksum;
	pthread_mutex_unlock(&s->lock);
	if (off >= size || !len)
		return 0;
	if (len > size - off)
		len = size - off;

	fx_block_path(s, id, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		if (err != -ENOENT)
			return err;
		/* Evicted meanwhile, or deleted behind our back. */
		pthread_mutex_lock(&s->lock);
		s->st.misses += use;
		pthread_mutex_unlock(&s->lock);
		return -ENOENT;
	}
	err = fx_block_head(s, fd, id, size, &h, &table);
	if (!err && h.table_sum != checksum)
		err = -EBADMSG;
	first = off / FX_STORE_CHUNK;
	last = (uint32_t)((off + len - 1) / FX_STORE_CHUNK);
	/* Whole chunks are verified (and opened) in @buf itself; a part of
	 * one goes through a buffer, so only verified bytes reach @buf. */
	whole = off % FX_STORE_CHUNK == 0 && ((off + len) % FX_STORE_CHUNK == 0 || off + len == size);
	if (!err && !whole && !(plain = malloc((size_t)(last - first + 1) * FX_STORE_CHUNK)))
		err = -ENOMEM;
	if (!err)
		err = fx_block_chunks(s, fd, &h, table, first, last, whole ? buf : plain);
	close(fd);
	free(table);
	if (!err && !whole)
		memcpy(buf, plain + (off - first * FX_STORE_CHUNK), len);
	free(plain);
	if (err == -EBADMSG) {
		/* Evicted and being stored again since we looked: a miss. */
		pthread_mutex_lock(&s->lock);
		rewriting = fx_writing_find(s, id) >= 0;
		if (rewriting)
			s->st.misses += use;
		pthread_mutex_unlock(&s->lock);
		if (rewriting)
			return -ENOENT;
		fx_drop_corrupt(s, id, err);
		return err;
	}
	if (err)
		return err;
	pthread_mutex_lock(&s->lock);
	fx_note_read(s, id, len, use);
	pthread_mutex_unlock(&s->lock);
	return (ssize_t)len;
}

ssize_t fx_store_read(struct fx_store *s, const uint8_t id[FX_BLOCK_ID_LEN], uint32_t off, void *buf,
		      size_t len)
{
	return fx_read_block(s, id, off, buf, len, true);
}

ssize_t fx_store_peek(struct fx_store *s, const uint8_t id[FX_BLOCK_ID_LEN], uint32_t off, void *buf,
		      size_t len)
{
	return fx_read_block(s, id, off, buf, len, false);
}

void fx_store_note_read(struct fx_store *s, const uint8_t id[FX_BLOCK_ID_LEN], size_t len, bool use)
{
	pthread_mutex_lock(&s->lock);
	if (!use || fx_find(s, id))
		fx_note_read(s, id, len, use);
	else
		s->st.misses++;
	pthread_mutex_unlock(&s->lock);
}

/*
 * Create @path with the @n (at most 2) buffers of @iov one after the other,
 * cut to @flen bytes (the last buffer may run past it). No temporary and
 * rename: a block file counts only once its index entry exists, which comes
 * after it is whole; a killed daemon's half-written file has none and fails
 * its check at the next mount (fx_load). A stray file of that name is
 * replaced; a missing subdirectory (`cache clear`) is made again.
 *
 * With @direct, when every buffer is aligned to FX_ALIGN in memory and in
 * length, the file is written with O_DIRECT: around the page cache, whose
 * copy would cost the CPU a pass over the bytes and double the one the
 * kernel keeps of the mounted file they were fetched for. A filesystem that
 * refuses it (tmpfs before Linux 6.6) turns it off for the store.
 */
static int fx_write_file(struct fx_store *s, const char *path, const struct iovec *iov_in, int n,
			 uint64_t flen, bool direct)
{
	struct iovec iov[2];
	uint64_t total = 0;
	int fd = -1, err = 0, nin = n;

	direct = direct && __atomic_load_n(&s->direct, __ATOMIC_RELAXED);
	for (int i = 0; i < n; i++) {
		iov[i] = iov_in[i];
		total += iov[i].iov_len;
		direct = direct && (uintptr_t)iov[i].iov_base % FX_ALIGN == 0 &&
			 iov[i].iov_len % FX_ALIGN == 0;
	}
	for (int attempt = 0; fd < 0 && attempt < 3; attempt++) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | (direct ? O_DIRECT : 0), 0600);
		if (fd >= 0)
			break;
		err = -errno;
		if (err == -EINVAL && direct) {
			__atomic_store_n(&s->direct, false, __ATOMIC_RELAXED);
			direct = false;
			attempt--;
		} else if (err == -EEXIST) {
			unlink(path);
		} else if (err == -ENOENT) {
			char sub[PATH_MAX];

			snprintf(sub, sizeof(sub), "%.*s", (int)(strrchr(path, '/') - path), path);
			if (mkdir(sub, 0700) && errno != EEXIST)
				return -errno;
		} else {
			return err;
		}
	}
	if (fd < 0)
		return err;
	err = 0;
	for (struct iovec *v = iov; n > 0;) {
		ssize_t w = writev(fd, v, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EINVAL && direct) {
			/* The filesystem takes O_DIRECT opens but not these writes. */
			__atomic_store_n(&s->direct, false, __ATOMIC_RELAXED);
			close(fd);
			unlink(path);
			return fx_write_file(s, path, iov_in, nin, flen, false);
		}
		if (w <= 0) {
			err = w < 0 ? -errno : -EIO;
			break;
		}
		for (; n > 0 && (size_t)w >= v->iov_len; v++, n--)
			w -= (ssize_t)v->iov_len;
		if (n > 0) { /* a short write: the rest of this buffer next */
			v->iov_base = (char *)v->iov_base + w;
			v->iov_len -= (size_t)w;
		}
	}
	if (!err && total != flen && ftruncate(fd, (off_t)flen))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (err)
		unlink(path);
	return err;
}

int fx_store_insert(struct fx_store *s, const uint8_t id[FX_BLOCK_ID_LEN], const void *data, size_t len,
		    uint32_t flags)
{
	return fx_store_insert_from(s, id, data, len, flags, 0, 0);
}

int fx_store_insert_from(struct fx_store *s, const uint8_t id[FX_BLOCK_ID_LEN], const void *data,
			 size_t len, uint32_t flags, uint64_t obj, uint64_t index)
{
	char path[PATH_MAX];
	uint64_t table_sum;
	size_t flen, ilen;
	uint8_t *img;
	struct fx_entry *e;
	bool direct = flags & FX_STORE_DIRECT;
	int err;

	flags &= ~FX_STORE_DIRECT;
	if (!len || len > s->block_size)
		return -EINVAL;
	flen = fx_file_len((uint32_t)len, s->sealed);
	pthread_mutex_lock(&s->lock);
	if (fx_find(s, id) || fx_writing_find(s, id) >= 0) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	if (fx_writing_add(s, id) < 0) {
		pthread_mutex_unlock(&s->lock);
		return -ENOMEM;
	}
	if (!fx_make_room(s, flen)) {
		fx_writing_del(s, id);
		s->st.skipped++;
		pthread_mutex_unlock(&s->lock);
		return -ENOSPC;
	}
	s->used += flen; /* reserved: concurrent inserts see it */
	pthread_mutex_unlock(&s->lock);

	img = fx_block_image(s, id, data, (uint32_t)len, &ilen, &table_sum);
	err = img ? 0 : -ENOMEM;
	fx_block_path(s, id, path, sizeof(path));
	if (!err) {
		struct iovec iov[2] = { { img, ilen }, { (void *)data, len } };

		err = fx_write_file(s, path, iov, s->sealed ? 1 : 2, flen, direct);
	}
	free(img);
	e = err ? NULL : calloc(1, sizeof(*e));
	if (!err && !e) {
		unlink(path);
		err = -ENOMEM;
	}
	pthread_mutex_lock(&s->lock);
	fx_writing_del(s, id);
	if (err || fx_find(s, id)) {
		s->used -= flen;
		free(e);
		if (err == -ENOSPC || err == -EDQUOT)
			s->st.skipped++;
		pthread_mutex_unlock(&s->lock);
		return err;
	}
	memcpy(e->cb.id, id, FX_BLOCK_ID_LEN);
	e->cb.size = (uint32_t)len;
	e->cb.flags = flags;
	e->cb.obj = obj;
	e->cb.index = index;
	e->cb.checksum = table_sum;
	e->cb.atime_ms = e->cb.ctime_ms = fx_now_ms();
	e->file_size = (uint32_t)flen;
	if (fx_table_add(s, e) < 0) {
		s->used -= flen;
		unlink(path);
		free(e);
		pthread_mutex_unlock(&s->lock);
		return -ENOMEM;
	}
	fx_policy_insert(s->policy, &e->cb);
	fx_pend(s, e, false);
	s->st.inserts++;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void fx_store_drop(struct fx_store *s, const uint8_t id[FX_BLOCK_ID_LEN])
{
	struct fx_entry *e;

	pthread_mutex_lock(&s->lock);
	if ((e = fx_find(s, id))) {
		fx_policy_remove(s->policy, &e->cb);
		fx_entry_kill(s, e);
	}
	pthread_mutex_unlock(&s->lock);
}

/* ------------------------------------------------------------ objects */

int fx_store_object_version(struct fx_store *s, const char *url, const char *key,
			    const char *version, uint64_t size)
{
	size_t klen = strlen(key), vlen = strlen(version);
	MDB_val k = { klen ? klen : 1, klen ? (void *)key : "/" }, v;
	MDB_txn *txn;
	char *old = NULL;
	uint64_t old_size = 0;
	int rc;

	if ((rc = fx_index_txn(s, MDB_RDONLY, &txn)) < 0)
		return rc;
	rc = mdb_get(txn, s->dbi_objects, &k, &v);
	if (rc == 0 && v.mv_size == sizeof(uint64_t) + vlen &&
	    !memcmp((char *)v.mv_data + sizeof(uint64_t), version, vlen) &&
	    !memcmp(v.mv_data, &size, sizeof(size))) {
		mdb_txn_abort(txn);
		return 0; /* unchanged: the common case costs one read */
	}
	if (rc == 0 && v.mv_size >= sizeof(uint64_t)) {
		memcpy(&old_size, v.mv_data, sizeof(old_size));
		old = strndup((char *)v.mv_data + sizeof(uint64_t), v.mv_size - sizeof(uint64_t));
	}
	mdb_txn_abort(txn);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return fx_mdb_errno(rc);

	if (old) { /* the object changed: its old blocks can never be read again */
		uint64_t n = (old_size + s->block_size - 1) / s->block_size;
		uint8_t id[FX_BLOCK_ID_LEN];
		unsigned dropped = 0;

		for (uint64_t i = 0; i < n; i++) {
			struct fx_entry *e;

			fx_store_block_id(s, url, key, old, i, id);
			pthread_mutex_lock(&s->lock);
			if ((e = fx_find(s, id))) {
				fx_policy_remove(s->policy, &e->cb);
				fx_entry_kill(s, e);
				s->st.stale++;
				dropped++;
			}
			pthread_mutex_unlock(&s->lock);
		}
		if (dropped)
			fx_debug("%s changed in the bucket: %u cached blocks dropped", key, dropped);
		free(old);
	}
	{
		char *rec = malloc(sizeof(uint64_t) + vlen);

		if (!rec)
			return -ENOMEM;
		memcpy(rec, &size, sizeof(size));
		memcpy(rec + sizeof(size), version, vlen);
		v = (MDB_val){ sizeof(uint64_t) + vlen, rec };
		if ((rc = fx_index_txn(s, 0, &txn)) == 0)
			rc = fx_index_end(txn, mdb_put(txn, s->dbi_objects, &k, &v, 0));
		free(rec);
	}
	return rc;
}

/* ---------------------------------------------------- object metadata */

/* "attrs" record: u32 format, i64 seconds of last-modified, u64 size, then
 * the ETag and each metadata name and value, NUL-terminated. */
#define FX_ATTRS_FORMAT 1

static MDB_val fx_attrs_key(const char *key)
{
	return (MDB_val){ strlen(key), (void *)key };
}

/* Serialise one record into a malloc'd buffer; NULL on ENOMEM. */
static char *fx_attrs_encode(const struct fx_store_attrs *a, size_t *len)
{
	size_t n = 4 + 8 + 8 + strlen(a->etag) + 1;
	int64_t secs = a->mtime_ns == FX_STORE_MTIME_ANY ? INT64_MIN : a->mtime_ns / 1000000000;
	uint32_t format = FX_ATTRS_FORMAT;
	char *buf, *w;

	for (size_t i = 0; a->meta && i < a->meta->n; i++)
		n += strlen(a->meta->kv[i].name) + strlen(a->meta->kv[i].value) + 2;
	if (!(buf = malloc(n)))
		return NULL;
	memcpy(buf, &format, 4);
	memcpy(buf + 4, &secs, 8);
	memcpy(buf + 12, &a->size, 8);
	w = stpcpy(buf + 20, a->etag) + 1;
	for (size_t i = 0; a->meta && i < a->meta->n; i++) {
		w = stpcpy(w, a->meta->kv[i].name) + 1;
		w = stpcpy(w, a->meta->kv[i].value) + 1;
	}
	*len = n;
	return buf;
}

int fx_store_attrs_put(struct fx_store *s, const struct fx_store_attrs *recs, size_t n)
{
	MDB_txn *txn;
	int rc;

	if (!n)
		return 0;
	if ((rc = fx_index_txn(s, 0, &txn)) < 0)
		return rc;
	for (size_t i = 0; i < n && !rc; i++) {
		size_t len = 0;
		char *val = recs[i].key[0] ? fx_attrs_encode(&recs[i], &len) : NULL;
		MDB_val k = fx_attrs_key(recs[i].key), v = { len, val };

		if (!val)
			continue; /* the root, or ENOMEM: only a missed cache entry */
		rc = len < 4096 && k.mv_size <= (size_t)mdb_env_get_maxkeysize(s->env)
			     ? mdb_put(txn, s->dbi_attrs, &k, &v, 0)
			     : 0;
		free(val);
	}
	if ((rc = fx_index_end(txn, rc)) != -ENOSPC)
		return rc;
	/* Full: what is remembered is only a shortcut, so start it afresh. */
	fx_warn("cache index full: forgetting the remembered object metadata");
	if ((rc = fx_index_txn(s, 0, &txn)) < 0)
		return rc;
	return fx_index_end(txn, mdb_drop(txn, s->dbi_attrs, 0));
}

void fx_store_attrs_forget(struct fx_store *s, const char *key)
{
	MDB_val k = fx_attrs_key(key);
	MDB_txn *txn;

	if (!key[0] || k.mv_size > (size_t)mdb_env_get_maxkeysize(s->env) ||
	    fx_index_txn(s, 0, &txn) < 0)
		return;
	if (mdb_del(txn, s->dbi_attrs, &k, NULL) == 0)
		mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
}

void fx_store_attrs_move(struct fx_store *s, const char *from, const char *to)
{
	MDB_val k = fx_attrs_key(from), v, kt = fx_attrs_key(to);
	size_t max = (size_t)mdb_env_get_maxkeysize(s->env);
	MDB_txn *txn;
	char *val = NULL;
	int rc;

	if (!from[0] || !to[0] || k.mv_size > max || fx_index_txn(s, 0, &txn) < 0)
		return;
	rc = mdb_get(txn, s->dbi_attrs, &k, &v);
	if (rc == 0 && kt.mv_size <= max && (val = malloc(v.mv_size))) {
		memcpy(val, v.mv_data, v.mv_size); /* valid only until the next write */
		v.mv_data = val;
		rc = mdb_put(txn, s->dbi_attrs, &kt, &v, 0);
	} else if (rc == 0 && kt.mv_size <= max) {
		rc = ENOMEM;
	} else if (rc == MDB_NOTFOUND && kt.mv_size <= max) {
		rc = mdb_del(txn, s->dbi_attrs, &kt, NULL); /* nothing to carry: none stays */
		rc = rc == MDB_NOTFOUND ? 0 : rc;
	}
	if (rc == 0)
		rc = mdb_del(txn, s->dbi_attrs, &k, NULL);
	free(val);
	if (rc == 0 || rc == MDB_NOTFOUND)
		mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
}

int fx_store_attrs_get(struct fx_store *s, const char *key, const char *etag, uint64_t size,
		       int64_t mtime_ns, struct fx_meta *out)
{
	MDB_val k = fx_attrs_key(key), v;
	MDB_txn *txn;
	int64_t secs = mtime_ns / 1000000000, have_secs;
	uint64_t have_size;
	uint32_t format;
	const char *p, *end;
	int rc;

	if (!key[0] || !etag[0] || k.mv_size > (size_t)mdb_env_get_maxkeysize(s->env))
		return -ENOENT;
	if ((rc = fx_index_txn(s, MDB_RDONLY, &txn)) < 0)
		return rc;
	rc = mdb_get(txn, s->dbi_attrs, &k, &v);
	if (rc) {
		mdb_txn_abort(txn);
		return fx_mdb_errno(rc);
	}
	p = v.mv_data;
	end = p + v.mv_size;
	rc = -ENOENT;
	if (v.mv_size < 21 || end[-1] != '\0')
		goto out;
	memcpy(&format, p, 4);
	memcpy(&have_secs, p + 4, 8);
	memcpy(&have_size, p + 12, 8);
	p += 20;
	/* Valid only for the very version the listing names now. */
	if (format != FX_ATTRS_FORMAT || (have_secs != secs && have_secs != INT64_MIN) ||
	    have_size != size || strcmp(p, etag))
		goto out;
	p += strlen(p) + 1;
	fx_meta_clear(out);
	rc = 0;
	while (p < end && rc == 0) {
		const char *name = p, *value = p + strlen(p) + 1;

		if (value >= end) {
			rc = -EBADMSG;
			break;
		}
		rc = fx_meta_set(out, name, value);
		p = value + strlen(value) + 1;
	}
	if (rc)
		fx_meta_clear(out);
out:
	mdb_txn_abort(txn);
	return rc;
}

void fx_store_stats(struct fx_store *s, struct fx_store_stats *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->st;
	out->blocks = s->n;
	out->bytes = s->used;
	out->capacity = s->capacity;
	out->min_free = s->min_free;
	pthread_mutex_unlock(&s->lock);
}

/* -------------------------------------------------------------- tools */

/* Open the index at @path read-only for fx_store_inspect(): a store whose
 * lock file we may not write is read without LMDB's reader table (a
 * daemon's writes may then be seen half-done: reported, not repaired). */
static int fx_index_open_ro(const char *path, MDB_env **env)
{
	int rc;

	for (int attempt = 0; attempt < 2; attempt++) {
		if ((rc = mdb_env_create(env)))
			return rc;
		mdb_env_set_maxdbs(*env, FX_INDEX_DBS);
		rc = mdb_env_open(*env, path,
				  MDB_NOSUBDIR | MDB_RDONLY | (attempt ? MDB_NOLOCK : 0u), 0600);
		if (!rc)
			return 0;
		mdb_env_close(*env);
		*env = NULL;
		if (rc != EACCES && rc != EROFS)
			break;
	}
	return rc;
}

int fx_store_inspect(const char *dir, struct fx_store_census *out, struct fx_diag *d)
{
	char path[PATH_MAX];
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_dbi meta, blocks, objects;
	MDB_val k = { 6, "format" }, v;
	MDB_stat st;
	const char *what = "open";
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "%s/index.mdb", dir);
	if ((rc = fx_index_open_ro(path, &env)))
		goto out;
	what = "read";
	if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)))
		goto out_env;
	what = "find its tables in";
	if ((rc = mdb_dbi_open(txn, "meta", 0, &meta)) ||
	    (rc = mdb_dbi_open(txn, "blocks", 0, &blocks)) ||
	    (rc = mdb_dbi_open(txn, "objects", 0, &objects)))
		goto out_txn;
	what = "find the format record in";
	if ((rc = mdb_get(txn, meta, &k, &v)))
		goto out_txn;
	if (v.mv_size < 8 || memcmp(v.mv_data, FX_INDEX_MAGIC, 8)) {
		rc = MDB_INVALID;
		goto out_txn;
	}
	what = "walk the block records of";
	if ((rc = mdb_cursor_open(txn, blocks, &cur)))
		goto out_txn;
	for (MDB_cursor_op op = MDB_FIRST; !(rc = mdb_cursor_get(cur, &k, &v, op)); op = MDB_NEXT) {
		if (k.mv_size != FX_BLOCK_ID_LEN) {
			rc = MDB_CORRUPTED;
			break;
		}
		out->blocks++;
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	if (!rc && !(rc = mdb_stat(txn, objects, &st)))
		out->objects = st.ms_entries;
out_txn:
	mdb_txn_abort(txn);
out_env:
	mdb_env_close(env);
out:
	if (!rc)
		return 0;
	fx_diag_set(d, fx_mdb_errno(rc), NULL, "cannot %s the index %s (%s)", what,
		    path, mdb_strerror(rc));
	return d->err;
}

int fx_store_verify(const char *dir, struct fx_store_report *r, struct fx_diag *d)
{
	struct fx_store_opts o = { .dir = dir, .capacity = UINT64_MAX };
	struct fx_store *s;
	struct fx_entry **all = NULL;
	size_t n = 0;
	int ret;

	memset(r, 0, sizeof(*r));
	if ((ret = fx_store_open(&o, &s, d)) < 0)
		return ret;
	r->adopted = s->st.adopted;
	r->dropped = s->st.dropped;
	all = malloc((s->n ? s->n : 1) * sizeof(*all));
	if (!all) {
		fx_store_close(s);
		return -ENOMEM;
	}
	for (size_t b = 0; b < s->buckets; b++)
		for (struct fx_entry *e = s->table[b]; e; e = (struct fx_entry *)e->cb.hnext)
			all[n++] = e;
	for (size_t i = 0; i < n; i++) {
		struct fx_store_rec rec;
		char path[PATH_MAX];

		fx_block_path(s, all[i]->cb.id, path, sizeof(path));
		ret = fx_block_check_file(s, path, all[i]->cb.id, &rec);
		if (ret == 0 && (rec.size != all[i]->cb.size || rec.checksum != all[i]->cb.checksum))
			ret = -EBADMSG;
		if (ret < 0) {
			r->corrupt++;
			fx_policy_remove(s->policy, &all[i]->cb);
			fx_entry_kill(s, all[i]);
		}
	}
	free(all);
	r->blocks = s->n;
	r->bytes = s->used;
	fx_store_close(s);
	return 0;
}

int fx_store_lock(const char *dir, int *fd_out, struct fx_diag *d)
{
	return fx_lock_dir(dir, fd_out, d);
}

void fx_store_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

int fx_store_clear(const char *dir, struct fx_diag *d)
{
	char path[PATH_MAX];
	int fd, ret;

	if ((ret = fx_lock_dir(dir, &fd, d)) < 0)
		return ret;
	snprintf(path, sizeof(path), "%s/blocks", dir);
	fx_empty_dir(path, true);
	fx_drop_legacy_tmp(dir);
	snprintf(path, sizeof(path), "%s/index.mdb", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/index.mdb-lock", dir);
	unlink(path);
	close(fd);
	return 0;
}
