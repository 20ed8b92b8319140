/*
 * model.c - the model's on-disk format: saving and checked loading (see
 * model.h for the format and why saves are atomic).
 *
 * Owns: the LMDB environment of the model file (opened per save or load,
 * never kept open), the record encodings, the mapping of MDB_* errors to
 * errno for this file, every check a load makes, and reading a model's
 * meta, MLP and counters records alone (fx_model_info).
 * Does not own: the predictor, network or MLP (read and restored through
 * their interfaces, and predict_i.h for the region slots and clock), when
 * to save, locking.
 */
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */

#include "core/mdb.h"
#include "neural/model.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "neural/predict_i.h"
#include "neural/snn.h"

#define FX_MODEL_TMP	   FX_MODEL_FILE ".tmp"
#define FX_MODEL_MAP_SIZE  ((size_t)256 << 20)
#define FX_MODEL_HASH_XXH3 1u /* meta "hash algorithm": predict.h's mapping */
#define FX_MODEL_FLAG_MLP  1u
#define FX_MODEL_SUM_LEN   8u

/* Record sizes: meta payload (before its checksum); synapse (pre, post,
 * weight); region slot (neuron, slot, obj, first_block, nblocks); object
 * record head (obj, len); counters; bytes of object records per value. */
#define FX_MODEL_META_LEN     80u
#define FX_MODEL_SYN_LEN      12u
#define FX_MODEL_SLOT_LEN     28u
#define FX_MODEL_OBJ_HEAD     12u
#define FX_MODEL_COUNTERS_LEN (9u * 8u)
#define FX_MODEL_OBJ_BATCH    (256u << 10)

/* After LMDB's pages: magic, bytes covered (u64), XXH3-64 of those bytes (u64). */
#define FX_MODEL_TRAILER_MAGIC "RFXMSUM1"
#define FX_MODEL_TRAILER_LEN   24u

static const char *const fx_model_hint_save = "check the cache directory's free space and "
					      "permissions";
static const char *const fx_model_hint_load = "the cache starts a fresh model; `rustfx brain "
					      "reset` removes the old one";

/* ------------------------------------------------------------ encoding */

static void fx_put_u32(unsigned char *b, uint32_t x)
{
	for (int i = 0; i < 4; i++)
		b[i] = (unsigned char)(x >> (8 * i));
}

static void fx_put_u64(unsigned char *b, uint64_t x)
{
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(x >> (8 * i));
}

static void fx_put_f32(unsigned char *b, float x)
{
	uint32_t u;

	memcpy(&u, &x, sizeof(u));
	fx_put_u32(b, u);
}

static void fx_put_f64(unsigned char *b, double x)
{
	uint64_t u;

	memcpy(&u, &x, sizeof(u));
	fx_put_u64(b, u);
}

static uint32_t fx_get_u32(const unsigned char *b)
{
	uint32_t x = 0;

	for (int i = 3; i >= 0; i--)
		x = x << 8 | b[i];
	return x;
}

static uint64_t fx_get_u64(const unsigned char *b)
{
	uint64_t x = 0;

	for (int i = 7; i >= 0; i--)
		x = x << 8 | b[i];
	return x;
}

static float fx_get_f32(const unsigned char *b)
{
	uint32_t u = fx_get_u32(b);
	float x;

	memcpy(&x, &u, sizeof(x));
	return x;
}

static double fx_get_f64(const unsigned char *b)
{
	uint64_t u = fx_get_u64(b);
	double x;

	memcpy(&x, &u, sizeof(x));
	return x;
}

/* Keys of chunked records: big-endian so LMDB's byte order is numeric order. */
static void fx_put_key(unsigned char *b, uint32_t x)
{
	b[0] = (unsigned char)(x >> 24);
	b[1] = (unsigned char)(x >> 16);
	b[2] = (unsigned char)(x >> 8);
	b[3] = (unsigned char)x;
}

static uint32_t fx_get_key(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* A value being built: payload, then its checksum by fx_buf_seal. */
struct fx_buf {
	unsigned char *p;
	size_t len, cap;
};

/* Make room for @n more bytes. @return where they go, or NULL (ENOMEM). */
static unsigned char *fx_buf_grow(struct fx_buf *b, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		unsigned char *p;

		while (cap < b->len + n)
			cap *= 2;
		if (!(p = realloc(b->p, cap)))
			return NULL;
		b->p = p;
		b->cap = cap;
	}
	b->len += n;
	return b->p + b->len - n;
}

static int fx_buf_seal(struct fx_buf *b)
{
	uint64_t sum = XXH3_64bits(b->p, b->len);
	unsigned char *at = fx_buf_grow(b, FX_MODEL_SUM_LEN);

	if (!at)
		return -ENOMEM;
	fx_put_u64(at, sum);
	return 0;
}

/*
 * Check a stored value's checksum. @return the payload length, or -1 if the
 * value is too short or its checksum does not match.
 */
static ssize_t fx_unseal(const MDB_val *v)
{
	const unsigned char *p = v->mv_data;
	size_t n;

	if (v->mv_size < FX_MODEL_SUM_LEN)
		return -1;
	n = v->mv_size - FX_MODEL_SUM_LEN;
	if (XXH3_64bits(p, n) != fx_get_u64(p + n))
		return -1;
	return (ssize_t)n;
}

/* ------------------------------------------------------------ LMDB */


enum {
	FX_DB_META,
	FX_DB_SYNAPSES,
	FX_DB_REGIONS,
	FX_DB_OBJECTS,
	FX_DB_MLP,
	FX_DB_COUNTERS,
	FX_DB_COUNT
};

static const char *const fx_db_names[FX_DB_COUNT] = {
    "meta", "synapses", "regions", "objects", "mlp", "counters",
};

struct fx_model_env {
	MDB_env *env;
	MDB_dbi dbi[FX_DB_COUNT];
};

/*
 * LMDB maps the file and trusts its own page numbers: a file cut short
 * would fault (SIGBUS) on the first page past its end. Right after
 * mdb_env_open (which reads only the meta pages, with read(2)), before any
 * page is touched, check that the file holds every page the meta claims.
 */
static int fx_model_check_size(MDB_env *env, const char *path)
{
	MDB_envinfo info;
	MDB_stat st;
	struct stat sb;

	if (stat(path, &sb) < 0)
		return -errno;
	if (mdb_env_info(env, &info) || mdb_env_stat(env, &st))
		return -FX_ECORRUPT;
	if ((uint64_t)sb.st_size < ((uint64_t)info.me_last_pgno + 1) * st.ms_psize)
		return -FX_ECORRUPT;
	return 0;
}

/* Open @path (creating it when !@rdonly) and its databases. */
static int fx_model_env_open(struct fx_model_env *m, const char *path, bool rdonly, size_t map_size)
{
	unsigned flags = MDB_NOSUBDIR | MDB_NOLOCK | (rdonly ? MDB_RDONLY : MDB_NOSYNC);
	MDB_txn *txn;
	int rc;

	if ((rc = mdb_env_create(&m->env)))
		return fx_mdb_errno(rc);
	mdb_env_set_maxdbs(m->env, FX_DB_COUNT);
	mdb_env_set_mapsize(m->env, map_size);
	rc = mdb_env_open(m->env, path, flags, 0600);
	if (rc)
		goto out_close;
	if (rdonly && (rc = fx_model_check_size(m->env, path)) < 0)
		goto out_close_err;
	rc = mdb_txn_begin(m->env, NULL, rdonly ? MDB_RDONLY : 0, &txn);
	if (!rc) {
		for (int i = 0; i < FX_DB_COUNT && !rc; i++)
			rc = mdb_dbi_open(txn, fx_db_names[i], rdonly ? 0 : MDB_CREATE, &m->dbi[i]);
		rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
	}
	if (!rc)
		return 0;
out_close:
	/* a database missing from an existing file: not a model we wrote */
	rc = rc == MDB_NOTFOUND ? -FX_ECORRUPT : fx_mdb_errno(rc);
out_close_err:
	mdb_env_close(m->env);
	m->env = NULL;
	return rc;
}

static int fx_model_put(struct fx_model_env *m, MDB_txn *txn, int db, const void *key, size_t klen,
			const struct fx_buf *b)
{
	MDB_val k = {klen, (void *)key}, v = {b->len, b->p};

	return fx_mdb_errno(mdb_put(txn, m->dbi[db], &k, &v, 0));
}

static int fx_model_commit(MDB_txn *txn, int rc)
{
	if (rc) {
		mdb_txn_abort(txn);
		return rc;
	}
	return fx_mdb_errno(mdb_txn_commit(txn));
}

/* ------------------------------------------------------------ file checksum */

/* XXH3-64 of the first @len bytes of @fd. */
static int fx_file_hash(int fd, uint64_t len, uint64_t *out)
{
	XXH3_state_t st;
	unsigned char *buf = malloc(1u << 20);
	uint64_t off = 0;
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	XXH3_64bits_reset(&st);
	while (off < len) {
		size_t want = len - off < (1u << 20) ? (size_t)(len - off) : (1u << 20);
		ssize_t n = pread(fd, buf, want, (off_t)off);

		if (n <= 0) {
			rc = n < 0 ? -errno : -FX_ECORRUPT;
			break;
		}
		XXH3_64bits_update(&st, buf, (size_t)n);
		off += (uint64_t)n;
	}
	free(buf);
	if (!rc)
		*out = XXH3_64bits_digest(&st);
	return rc;
}

/* Append the trailer to the file LMDB just wrote, and sync it. */
static int fx_file_seal(const char *path)
{
	unsigned char t[FX_MODEL_TRAILER_LEN];
	int fd = open(path, O_RDWR | O_CLOEXEC), rc;
	struct stat sb;
	uint64_t sum;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0) {
		rc = -errno;
		goto out_close;
	}
	if ((rc = fx_file_hash(fd, (uint64_t)sb.st_size, &sum)) < 0)
		goto out_close;
	memcpy(t, FX_MODEL_TRAILER_MAGIC, 8);
	fx_put_u64(t + 8, (uint64_t)sb.st_size);
	fx_put_u64(t + 16, sum);
	if (pwrite(fd, t, sizeof(t), sb.st_size) != (ssize_t)sizeof(t))
		rc = errno ? -errno : -EIO;
	else if (fsync(fd) < 0)
		rc = -errno;
out_close:
	close(fd);
	return rc;
}

/*
 * Check the trailer: the whole file is what the save wrote. Done with
 * read(2) before LMDB maps the file, so no damage reaches LMDB, which has
 * no checksums of its own and could fault or misread on a damaged page.
 * @return 0, -FX_ECORRUPT or -errno.
 */
static int fx_file_verify(const char *path)
{
	unsigned char t[FX_MODEL_TRAILER_LEN];
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;
	struct stat sb;
	uint64_t sum;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0) {
		rc = -errno;
		goto out_close;
	}
	rc = -FX_ECORRUPT;
	if (!S_ISREG(sb.st_mode) || sb.st_size < (off_t)FX_MODEL_TRAILER_LEN ||
	    pread(fd, t, sizeof(t), sb.st_size - (off_t)sizeof(t)) != (ssize_t)sizeof(t) ||
	    memcmp(t, FX_MODEL_TRAILER_MAGIC, 8) != 0 ||
	    fx_get_u64(t + 8) != (uint64_t)sb.st_size - sizeof(t))
		goto out_close;
	if ((rc = fx_file_hash(fd, fx_get_u64(t + 8), &sum)) < 0)
		goto out_close;
	rc = sum == fx_get_u64(t + 16) ? 0 : -FX_ECORRUPT;
out_close:
	close(fd);
	return rc;
}

/* ------------------------------------------------------------ save */

struct fx_save {
	struct fx_model_env m;
	struct fx_predictor *pred;
	struct fx_snn *snn;
	struct fx_buf a, b;
	uint64_t n_synapses, n_slots, n_objects;
	uint32_t n_batches;
	int err;
};

/* Synapses and region slots of neurons [first, first + FX_MODEL_CHUNK), one transaction. */
static int fx_save_chunk(struct fx_save *s, uint32_t chunk, uint32_t neurons)
{
	struct fx_snn_synapse syn[FX_SNN_MAX_FANOUT];
	uint32_t first = chunk * FX_MODEL_CHUNK;
	uint32_t end = neurons - first < FX_MODEL_CHUNK ? neurons : first + FX_MODEL_CHUNK;
	float min_abs = fx_snn_params(s->snn)->w_max / 1000;
	double clock = fx_snn_clock(s->snn);
	unsigned char key[4];
	MDB_txn *txn;
	int rc;

	s->a.len = s->b.len = 0;
	for (uint32_t i = first; i < end; i++) {
		int n = fx_snn_synapses_of(s->snn, i, clock, min_abs, syn, FX_SNN_MAX_FANOUT);

		for (int k = 0; k < n; k++) {
			unsigned char *at = fx_buf_grow(&s->a, FX_MODEL_SYN_LEN);

			if (!at)
				return -ENOMEM;
			fx_put_u32(at, syn[k].pre);
			fx_put_u32(at + 4, syn[k].post);
			fx_put_f32(at + 8, syn[k].weight);
		}
		s->n_synapses += (uint64_t)(n > 0 ? n : 0);
		for (unsigned slot = 0; slot < FX_PREDICT_SLOTS; slot++) {
			struct fx_prediction r;
			unsigned char *at;

			if (!fx_predict_slot(s->pred, i, slot, &r))
				continue;
			if (!(at = fx_buf_grow(&s->b, FX_MODEL_SLOT_LEN)))
				return -ENOMEM;
			fx_put_u32(at, i);
			fx_put_u32(at + 4, slot);
			fx_put_u64(at + 8, r.obj);
			fx_put_u64(at + 16, r.first_block);
			fx_put_u32(at + 24, r.nblocks);
			s->n_slots++;
		}
	}
	if ((rc = fx_buf_seal(&s->a)) < 0 || (rc = fx_buf_seal(&s->b)) < 0)
		return rc;
	fx_put_key(key, chunk);
	if ((rc = fx_mdb_errno(mdb_txn_begin(s->m.env, NULL, 0, &txn))))
		return rc;
	rc = fx_model_put(&s->m, txn, FX_DB_SYNAPSES, key, sizeof(key), &s->a);
	if (!rc)
		rc = fx_model_put(&s->m, txn, FX_DB_REGIONS, key, sizeof(key), &s->b);
	return fx_model_commit(txn, rc);
}

/* Write the object records gathered in s->a as one value, one transaction. */
static int fx_save_objects_flush(struct fx_save *s)
{
	unsigned char key[4];
	MDB_txn *txn;
	int rc;

	if (!s->a.len)
		return 0;
	if ((rc = fx_buf_seal(&s->a)) < 0)
		return rc;
	fx_put_key(key, s->n_batches++);
	if ((rc = fx_mdb_errno(mdb_txn_begin(s->m.env, NULL, 0, &txn))))
		return rc;
	rc = fx_model_commit(txn, fx_model_put(&s->m, txn, FX_DB_OBJECTS, key, sizeof(key), &s->a));
	s->a.len = 0;
	return rc;
}

static int fx_save_object(void *arg, uint64_t obj, const void *rec, size_t len)
{
	struct fx_save *s = arg;
	unsigned char *at;

	if (s->a.len + FX_MODEL_OBJ_HEAD + len > FX_MODEL_OBJ_BATCH &&
	    (s->err = fx_save_objects_flush(s)) < 0)
		return 1;
	if (!(at = fx_buf_grow(&s->a, FX_MODEL_OBJ_HEAD + len))) {
		s->err = -ENOMEM;
		return 1;
	}
	fx_put_u64(at, obj);
	fx_put_u32(at + 8, (uint32_t)len);
	memcpy(at + FX_MODEL_OBJ_HEAD, rec, len);
	s->n_objects++;
	return 0;
}

/* MLP, counters and, last, the meta record: one transaction. */
static int fx_save_tail(struct fx_save *s, struct fx_mlp *mlp, const struct fx_model_counters *c)
{
	const struct fx_predict_opts *o = fx_predict_opts(s->pred);
	struct fx_predict_counters pc;
	unsigned char *at;
	MDB_txn *txn;
	int rc;

	s->a.len = s->b.len = 0;
	if (mlp) {
		unsigned sizes[FX_MLP_MAX_LAYERS];
		size_t n_layers = fx_mlp_shape(mlp, sizes, FX_MLP_MAX_LAYERS);
		size_t n_params = fx_mlp_param_count(mlp);
		const float *params = fx_mlp_params(mlp);

		if (!(at = fx_buf_grow(&s->b, 4 + 4 * n_layers + 4 + 4 * n_params)))
			return -ENOMEM;
		fx_put_u32(at, (uint32_t)n_layers);
		at += 4;
		for (size_t l = 0; l < n_layers; l++, at += 4)
			fx_put_u32(at, sizes[l]);
		fx_put_u32(at, (uint32_t)n_params);
		at += 4;
		for (size_t i = 0; i < n_params; i++, at += 4)
			fx_put_f32(at, params[i]);
		if ((rc = fx_buf_seal(&s->b)) < 0)
			return rc;
	}

	fx_predict_counters(s->pred, &pc);
	if (!(at = fx_buf_grow(&s->a, FX_MODEL_COUNTERS_LEN)))
		return -ENOMEM;
	fx_put_u64(at, c->predicted);
	fx_put_u64(at + 8, c->prefetched);
	fx_put_u64(at + 16, c->used);
	fx_put_u64(at + 24, c->wasted);
	fx_put_u64(at + 32, c->trained);
	fx_put_u64(at + 40, c->saves);
	fx_put_u64(at + 48, pc.accesses);
	fx_put_u64(at + 56, pc.fired);
	fx_put_u64(at + 64, pc.predictions);
	if ((rc = fx_buf_seal(&s->a)) < 0)
		return rc;

	if ((rc = fx_mdb_errno(mdb_txn_begin(s->m.env, NULL, 0, &txn))))
		return rc;
	if (mlp)
		rc = fx_model_put(&s->m, txn, FX_DB_MLP, "mlp", 3, &s->b);
	if (!rc)
		rc = fx_model_put(&s->m, txn, FX_DB_COUNTERS, "counters", 8, &s->a);
	if (!rc) {
		s->a.len = 0;
		if (!(at = fx_buf_grow(&s->a, FX_MODEL_META_LEN))) {
			rc = -ENOMEM;
		} else {
			memset(at, 0, FX_MODEL_META_LEN);
			memcpy(at, FX_MODEL_MAGIC, 4);
			fx_put_u32(at + 4, FX_MODEL_VERSION);
			fx_put_u32(at + 8, FX_MODEL_HASH_XXH3);
			fx_put_u32(at + 12, FX_MODEL_CHUNK);
			fx_put_u64(at + 16, o->seed);
			fx_put_u32(at + 24, o->neurons);
			fx_put_u32(at + 28, o->region_blocks);
			fx_put_u32(at + 32, fx_snn_params(s->snn)->fanout);
			fx_put_u32(at + 36, mlp ? FX_MODEL_FLAG_MLP : 0);
			fx_put_f64(at + 40, fx_predict_clock(s->pred));
			fx_put_u64(at + 48, s->n_synapses);
			fx_put_u64(at + 56, s->n_slots);
			fx_put_u64(at + 64, s->n_objects);
			rc = fx_buf_seal(&s->a);
		}
		if (!rc)
			rc = fx_model_put(&s->m, txn, FX_DB_META, "meta", 4, &s->a);
	}
	return fx_model_commit(txn, rc);
}

/* Make a rename in @dir durable. */
static int fx_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int fx_model_paths(const char *dir, char *file, char *tmp)
{
	if (!dir || (size_t)snprintf(file, PATH_MAX, "%s/%s", dir, FX_MODEL_FILE) >= PATH_MAX ||
	    (tmp && (size_t)snprintf(tmp, PATH_MAX, "%s/%s", dir, FX_MODEL_TMP) >= PATH_MAX))
		return dir ? -ENAMETOOLONG : -EINVAL;
	return 0;
}

int fx_model_save(const char *dir, struct fx_predictor *pred, struct fx_mlp *mlp,
		  const struct fx_model_counters *c, struct fx_diag *d)
{
	struct fx_save s = {.pred = pred};
	char file[PATH_MAX], tmp[PATH_MAX];
	uint32_t neurons, chunks;
	size_t map_size = FX_MODEL_MAP_SIZE, need;
	int rc;

	if (!pred || !c) {
		fx_diag_set(d, -EINVAL, NULL, "cannot save the model (no predictor or counters)");
		return -EINVAL;
	}
	if ((rc = fx_model_paths(dir, file, tmp)) < 0) {
		fx_diag_set(d, rc, NULL, "cannot save the model in %s (%s)", dir ? dir : "(null)",
			    fx_strerror(rc));
		return rc;
	}
	s.snn = fx_predict_snn(pred);
	neurons = fx_predict_opts(pred)->neurons;
	chunks = (neurons + FX_MODEL_CHUNK - 1) / FX_MODEL_CHUNK;
	/* the default shape needs ~15 MiB; a huge configured one gets room to match */
	need = 2 * (neurons * ((size_t)fx_snn_params(s.snn)->fanout * FX_MODEL_SYN_LEN +
			       FX_PREDICT_SLOTS * FX_MODEL_SLOT_LEN) +
		    fx_predict_memory(pred));
	if (need > map_size)
		map_size = need;

	if (unlink(tmp) < 0 && errno != ENOENT) {
		rc = -errno;
		goto out_diag;
	}
	if ((rc = fx_model_env_open(&s.m, tmp, false, map_size)) < 0)
		goto out_diag;
	for (uint32_t k = 0; k < chunks && !rc; k++)
		rc = fx_save_chunk(&s, k, neurons);
	if (!rc) {
		s.a.len = 0;
		rc = fx_predict_each_object(pred, fx_save_object, &s);
		rc = rc ? s.err : fx_save_objects_flush(&s);
	}
	if (!rc)
		rc = fx_save_tail(&s, mlp, c);
	mdb_env_close(s.m.env); /* LMDB's pages are written (not synced: fx_file_seal does) */
	if (!rc)
		rc = fx_file_seal(tmp);
	if (!rc && rename(tmp, file) < 0)
		rc = -errno;
	if (!rc)
		rc = fx_sync_dir(dir);
	if (rc)
		unlink(tmp);
out_diag:
	free(s.a.p);
	free(s.b.p);
	if (rc)
		fx_diag_set(d, rc, fx_model_hint_save, "cannot save the model in %s (%s)", dir,
			    fx_strerror(rc));
	return rc;
}

/* ------------------------------------------------------------ load */

struct fx_load {
	struct fx_model_env m;
	MDB_txn *txn;
	const char *dir;
	struct fx_diag *d;
	uint64_t file_bytes;
	/* from the meta record */
	uint64_t seed;
	uint32_t neurons, region_blocks, fanout, flags;
	double clock;
	uint64_t n_synapses, n_slots, n_objects;
	/* from the MLP record (0 layers: none saved) */
	uint32_t mlp_layers;
	unsigned mlp_shape[FX_MLP_MAX_LAYERS];
};

/* Report a corrupt or mismatched model. @return -FX_ECORRUPT. */
static int fx_load_bad(struct fx_load *l, const char *what)
{
	fx_diag_set(l->d, -FX_ECORRUPT, fx_model_hint_load, "the model in %s is unusable (%s)",
		    l->dir, what);
	return -FX_ECORRUPT;
}

static int fx_load_get(struct fx_load *l, int db, const char *key, MDB_val *v, const char *what)
{
	MDB_val k = {strlen(key), (void *)key};
	int rc = mdb_get(l->txn, l->m.dbi[db], &k, v);

	if (rc == MDB_NOTFOUND)
		return fx_load_bad(l, what);
	return fx_mdb_errno(rc);
}

/*
 * Open the model file of @l->dir for reading once its trailer checks out:
 * l->m, l->txn and l->file_bytes. @return 0, -ENOENT when there is no model
 * (@l->d untouched), -FX_ECORRUPT or -errno with @l->d filled; nothing is
 * left open on error.
 */
static int fx_load_open(struct fx_load *l)
{
	char file[PATH_MAX];
	struct stat sb;
	int rc;

	if ((rc = fx_model_paths(l->dir, file, NULL)) < 0) {
		fx_diag_set(l->d, rc, NULL, "cannot load the model in %s (%s)",
			    l->dir ? l->dir : "(null)", fx_strerror(rc));
		return rc;
	}
	if (stat(file, &sb) < 0) {
		rc = -errno;
		if (rc != -ENOENT)
			fx_diag_set(l->d, rc, fx_model_hint_load,
				    "cannot read the model in %s (%s)", l->dir, fx_strerror(rc));
		return rc;
	}
	if ((rc = fx_file_verify(file)) < 0) {
		if (rc == -FX_ECORRUPT)
			return fx_load_bad(l,
					   "file checksum missing or wrong: damaged or truncated");
		fx_diag_set(l->d, rc, fx_model_hint_load, "cannot read the model in %s (%s)",
			    l->dir, fx_strerror(rc));
		return rc;
	}
	if ((rc = fx_model_env_open(&l->m, file, true, FX_MODEL_MAP_SIZE)) < 0) {
		if (rc == -FX_ECORRUPT || rc == -ENOENT)
			return fx_load_bad(l, "not an LMDB file, truncated, or databases missing");
		fx_diag_set(l->d, rc, fx_model_hint_load, "cannot load the model in %s (%s)",
			    l->dir, fx_strerror(rc));
		return rc;
	}
	if ((rc = fx_mdb_errno(mdb_txn_begin(l->m.env, NULL, MDB_RDONLY, &l->txn)))) {
		mdb_env_close(l->m.env);
		fx_diag_set(l->d, rc, fx_model_hint_load, "cannot load the model in %s (%s)",
			    l->dir, fx_strerror(rc));
		return rc;
	}
	l->file_bytes = (uint64_t)sb.st_size;
	return 0;
}

static void fx_load_close(struct fx_load *l)
{
	mdb_txn_abort(l->txn);
	mdb_env_close(l->m.env);
}

/* Read and check the meta record on its own (format, not this mount's shape). */
static int fx_load_meta(struct fx_load *l)
{
	const unsigned char *p;
	char why[160];
	MDB_val v;
	int rc;

	if ((rc = fx_load_get(l, FX_DB_META, "meta", &v, "no meta record")) < 0)
		return rc;
	p = v.mv_data;
	if (v.mv_size < 8 || memcmp(p, FX_MODEL_MAGIC, 4) != 0)
		return fx_load_bad(l, "not a rustfx model: bad magic");
	if (fx_get_u32(p + 4) != FX_MODEL_VERSION) {
		snprintf(why, sizeof(why), "format version %u, this rustfx reads %u",
			 fx_get_u32(p + 4), FX_MODEL_VERSION);
		return fx_load_bad(l, why);
	}
	if (v.mv_size != FX_MODEL_META_LEN + FX_MODEL_SUM_LEN || fx_unseal(&v) < 0)
		return fx_load_bad(l, "meta record fails its checksum");
	if (fx_get_u32(p + 8) != FX_MODEL_HASH_XXH3 || fx_get_u32(p + 12) != FX_MODEL_CHUNK)
		return fx_load_bad(l, "unknown hash algorithm or chunk size");
	l->neurons = fx_get_u32(p + 24);
	l->region_blocks = fx_get_u32(p + 28);
	l->fanout = fx_get_u32(p + 32);
	l->flags = fx_get_u32(p + 36);
	l->clock = fx_get_f64(p + 40);
	l->n_synapses = fx_get_u64(p + 48);
	l->n_slots = fx_get_u64(p + 56);
	l->n_objects = fx_get_u64(p + 64);
	l->seed = fx_get_u64(p + 16);
	if (!isfinite(l->clock) || l->clock < 0 || (l->flags & ~FX_MODEL_FLAG_MLP))
		return fx_load_bad(l, "bad clock or flags in the meta record");
	if (l->neurons == 0 || l->neurons > FX_SNN_MAX_NEURONS || l->region_blocks == 0 ||
	    l->fanout == 0 || l->fanout > FX_SNN_MAX_FANOUT)
		return fx_load_bad(l, "network shape out of range in the meta record");
	if (l->n_synapses > (uint64_t)l->neurons * l->fanout ||
	    l->n_slots > (uint64_t)l->neurons * FX_PREDICT_SLOTS)
		return fx_load_bad(l, "more synapses or regions than the network holds");
	return 0;
}

/* The meta record read by fx_load_meta against the predictor to load into. */
static int fx_load_match(struct fx_load *l, const struct fx_predict_opts *o, uint32_t fanout)
{
	char why[160];

	if (l->seed != o->seed) {
		snprintf(why, sizeof(why), "saved with hash seed %#llx, this mount uses %#llx",
			 (unsigned long long)l->seed, (unsigned long long)o->seed);
		return fx_load_bad(l, why);
	}
	if (l->neurons != o->neurons || l->region_blocks != o->region_blocks ||
	    l->fanout != fanout) {
		snprintf(why, sizeof(why),
			 "saved shape %u neurons x %u blocks/region x fanout %u, this mount's "
			 "%u x %u x %u",
			 l->neurons, l->region_blocks, l->fanout, o->neurons, o->region_blocks,
			 fanout);
		return fx_load_bad(l, why);
	}
	return 0;
}

/*
 * Walk the chunked database @db, checking keys and checksums, and hand
 * every record of @rec_len bytes of chunk k to @fn.
 */
static int fx_load_chunks(struct fx_load *l, int db, size_t rec_len,
			  int (*fn)(struct fx_load *l, uint32_t chunk, const unsigned char *rec,
				    void *arg),
			  void *arg)
{
	uint32_t chunks = (l->neurons + FX_MODEL_CHUNK - 1) / FX_MODEL_CHUNK;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = 0, mrc, op = MDB_FIRST;

	if ((rc = fx_mdb_errno(mdb_cursor_open(l->txn, l->m.dbi[db], &cur))))
		return rc;
	while (!rc && !(mrc = mdb_cursor_get(cur, &k, &v, op))) {
		ssize_t n = fx_unseal(&v);
		uint32_t chunk;

		op = MDB_NEXT;
		if (k.mv_size != 4 || (chunk = fx_get_key(k.mv_data)) >= chunks)
			rc = fx_load_bad(l, "record of a chunk out of range");
		else if (n < 0 || (size_t)n % rec_len)
			rc = fx_load_bad(l, "chunk record truncated or failing its checksum");
		for (size_t off = 0; !rc && off < (size_t)n; off += rec_len)
			rc = fn(l, chunk, (const unsigned char *)v.mv_data + off, arg);
	}
	mdb_cursor_close(cur);
	if (!rc && mrc != MDB_NOTFOUND)
		rc = fx_mdb_errno(mrc);
	return rc;
}

static bool fx_in_chunk(uint32_t neuron, uint32_t chunk)
{
	return neuron / FX_MODEL_CHUNK == chunk;
}

static int fx_load_synapse(struct fx_load *l, uint32_t chunk, const unsigned char *rec, void *arg)
{
	struct fx_predictor *pred = arg;
	struct fx_snn *snn = fx_predict_snn(pred);
	const struct fx_snn_params *sp = fx_snn_params(snn);
	uint32_t pre = fx_get_u32(rec), post = fx_get_u32(rec + 4);
	float w = fx_get_f32(rec + 8);

	if (pre >= l->neurons || post >= l->neurons || pre == post || !fx_in_chunk(pre, chunk))
		return fx_load_bad(l, "synapse between neurons out of range");
	if (!isfinite(w) || w < sp->w_min || w > sp->w_max)
		return fx_load_bad(l, "synapse weight not finite or out of bounds");
	if (fx_snn_weight(snn, pre, post, l->clock) != 0.0f)
		return fx_load_bad(l, "synapse saved twice");
	if (fx_snn_connect(snn, pre, post, w) < 0)
		return fx_load_bad(l, "synapse rejected");
	return 0;
}

static int fx_load_slot(struct fx_load *l, uint32_t chunk, const unsigned char *rec, void *arg)
{
	struct fx_predictor *pred = arg;
	struct fx_prediction old;
	uint32_t neuron = fx_get_u32(rec), slot = fx_get_u32(rec + 4);

	if (neuron >= l->neurons || !fx_in_chunk(neuron, chunk) || slot >= FX_PREDICT_SLOTS)
		return fx_load_bad(l, "region slot out of range");
	if (fx_predict_slot(pred, neuron, slot, &old))
		return fx_load_bad(l, "region slot saved twice");
	if (fx_predict_set_slot(pred, neuron, slot, fx_get_u64(rec + 8), fx_get_u64(rec + 16),
				fx_get_u32(rec + 24)) < 0)
		return fx_load_bad(l, "region does not map to its neuron (or is malformed)");
	return 0;
}

static int fx_load_objects(struct fx_load *l, struct fx_predictor *pred)
{
	uint64_t n_objects = 0;
	uint32_t expect = 0;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = 0, mrc, op = MDB_FIRST;

	if ((rc = fx_mdb_errno(mdb_cursor_open(l->txn, l->m.dbi[FX_DB_OBJECTS], &cur))))
		return rc;
	while (!rc && !(mrc = mdb_cursor_get(cur, &k, &v, op))) {
		const unsigned char *p = v.mv_data;
		ssize_t n = fx_unseal(&v);
		size_t off = 0;

		op = MDB_NEXT;
		if (k.mv_size != 4 || fx_get_key(k.mv_data) != expect++)
			rc = fx_load_bad(l, "object batches out of sequence");
		else if (n < 0)
			rc = fx_load_bad(l, "object batch truncated or failing its checksum");
		while (!rc && off < (size_t)n) {
			uint64_t obj;
			uint32_t len;

			if ((size_t)n - off < FX_MODEL_OBJ_HEAD) {
				rc = fx_load_bad(l, "object record truncated");
				break;
			}
			obj = fx_get_u64(p + off);
			len = fx_get_u32(p + off + 8);
			off += FX_MODEL_OBJ_HEAD;
			if (!obj || len > FX_PREDICT_OBJECT_MAX || len > (size_t)n - off)
				rc = fx_load_bad(l, "object record malformed");
			else
				rc = fx_predict_object_put(pred, obj, p + off, len);
			off += len;
			n_objects++;
		}
	}
	mdb_cursor_close(cur);
	if (!rc && mrc != MDB_NOTFOUND)
		rc = fx_mdb_errno(mrc);
	if (!rc && n_objects != l->n_objects)
		rc = fx_load_bad(l, "object count does not match the meta record");
	return rc;
}

/*
 * Check the saved MLP; when it fits @mlp, copy its parameters to @params
 * (malloc'd, caller frees) for the caller to apply once all of the load has
 * succeeded. A missing or different MLP sets @note.
 */
static int fx_load_mlp(struct fx_load *l, struct fx_mlp *mlp, float **params, char *note,
		       size_t note_len)
{
	unsigned have[FX_MLP_MAX_LAYERS], saved[FX_MLP_MAX_LAYERS];
	size_t have_layers, n_params, off;
	const unsigned char *p;
	uint32_t n_layers;
	ssize_t n;
	MDB_val v;
	int rc;

	if (!(l->flags & FX_MODEL_FLAG_MLP)) {
		if (mlp)
			snprintf(note, note_len, "the model has no MLP: the MLP starts fresh");
		return 0;
	}
	if ((rc = fx_load_get(l, FX_DB_MLP, "mlp", &v, "MLP record missing")) < 0)
		return rc;
	p = v.mv_data;
	if ((n = fx_unseal(&v)) < 8)
		return fx_load_bad(l, "MLP record truncated or failing its checksum");
	n_layers = fx_get_u32(p);
	if (n_layers < 2 || n_layers > FX_MLP_MAX_LAYERS || (size_t)n < 8 + 4 * (size_t)n_layers)
		return fx_load_bad(l, "MLP record malformed");
	n_params = 0;
	for (uint32_t i = 0; i < n_layers; i++) {
		saved[i] = fx_get_u32(p + 4 + 4 * i);
		if (saved[i] == 0 || saved[i] > FX_MLP_MAX_WIDTH)
			return fx_load_bad(l, "MLP layer width out of range");
		if (i > 0)
			n_params += (size_t)saved[i] * (saved[i - 1] + 1);
	}
	off = 4 + 4 * (size_t)n_layers;
	if (fx_get_u32(p + off) != n_params || (size_t)n != off + 4 + 4 * n_params)
		return fx_load_bad(l, "MLP parameter count does not match its shape");
	off += 4;
	for (size_t i = 0; i < n_params; i++)
		if (!isfinite(fx_get_f32(p + off + 4 * i)))
			return fx_load_bad(l, "MLP parameter not finite");
	l->mlp_layers = n_layers;
	memcpy(l->mlp_shape, saved, n_layers * sizeof(*saved));
	if (!mlp)
		return 0;
	have_layers = fx_mlp_shape(mlp, have, FX_MLP_MAX_LAYERS);
	if (have_layers != n_layers || memcmp(have, saved, n_layers * sizeof(*have)) != 0) {
		int len = snprintf(note, note_len, "the saved MLP has shape ");

		for (uint32_t i = 0; i < n_layers && len > 0 && (size_t)len < note_len; i++)
			len += snprintf(note + len, note_len - len, "%s%u", i ? "-" : "", saved[i]);
		if (len > 0 && (size_t)len < note_len)
			snprintf(note + len, note_len - len,
				 ", not this one's: the MLP starts fresh");
		return 0;
	}
	if (!(*params = malloc(n_params * sizeof(**params))))
		return -ENOMEM;
	for (size_t i = 0; i < n_params; i++)
		(*params)[i] = fx_get_f32(p + off + 4 * i);
	return 0;
}

/* The counters record into @c (the cache's) and @pc (the predictor's). */
static int fx_load_counters(struct fx_load *l, struct fx_model_counters *c,
			    struct fx_predict_counters *pc)
{
	const unsigned char *p;
	MDB_val v;
	int rc;

	if ((rc = fx_load_get(l, FX_DB_COUNTERS, "counters", &v, "counters missing")) < 0)
		return rc;
	if (fx_unseal(&v) != FX_MODEL_COUNTERS_LEN)
		return fx_load_bad(l, "counters truncated or failing their checksum");
	p = v.mv_data;
	*c = (struct fx_model_counters){
	    .predicted = fx_get_u64(p),
	    .prefetched = fx_get_u64(p + 8),
	    .used = fx_get_u64(p + 16),
	    .wasted = fx_get_u64(p + 24),
	    .trained = fx_get_u64(p + 32),
	    .saves = fx_get_u64(p + 40),
	};
	*pc = (struct fx_predict_counters){
	    .accesses = fx_get_u64(p + 48),
	    .fired = fx_get_u64(p + 56),
	    .predictions = fx_get_u64(p + 64),
	};
	return 0;
}

/* Slots in use; slot 1 never without slot 0 (a save never writes that). */
static int fx_load_check_slots(struct fx_load *l, struct fx_predictor *pred)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < l->neurons; i++) {
		struct fx_prediction r;
		int s0 = fx_predict_slot(pred, i, 0, &r), s1 = fx_predict_slot(pred, i, 1, &r);

		if (s1 && !s0)
			return fx_load_bad(l, "region slot 1 without slot 0");
		n += (uint64_t)(s0 + s1);
	}
	if (n != l->n_slots)
		return fx_load_bad(l, "region slot count does not match the meta record");
	return 0;
}

int fx_model_load(const char *dir, const struct fx_predict_opts *o, struct fx_mlp *mlp,
		  struct fx_predictor **pred_out, struct fx_model_counters *c, struct fx_diag *d)
{
	struct fx_load l = {.dir = dir, .d = d};
	struct fx_predictor *pred = NULL;
	struct fx_model_counters counters;
	struct fx_predict_counters pc;
	char note[256] = "";
	float *params = NULL;
	int rc;

	if (!o || !pred_out || !c) {
		fx_diag_set(d, -EINVAL, NULL, "cannot load the model (missing arguments)");
		return -EINVAL;
	}
	if ((rc = fx_load_open(&l)) < 0)
		return rc;
	if (!(pred = fx_predict_new(o))) {
		rc = -errno;
		fx_load_close(&l);
		fx_diag_set(d, rc, NULL, "cannot make a predictor to load the model into (%s)",
			    fx_strerror(rc));
		return rc;
	}
	rc = fx_load_meta(&l);
	if (!rc)
		rc = fx_load_match(&l, o, fx_snn_params(fx_predict_snn(pred))->fanout);
	if (!rc) {
		fx_predict_set_clock(pred, l.clock);
		rc = fx_load_chunks(&l, FX_DB_SYNAPSES, FX_MODEL_SYN_LEN, fx_load_synapse, pred);
	}
	if (!rc && fx_snn_synapse_count(fx_predict_snn(pred)) != l.n_synapses)
		rc = fx_load_bad(&l, "synapse count does not match the meta record");
	if (!rc)
		rc = fx_load_chunks(&l, FX_DB_REGIONS, FX_MODEL_SLOT_LEN, fx_load_slot, pred);
	if (!rc)
		rc = fx_load_check_slots(&l, pred);
	if (!rc)
		rc = fx_load_objects(&l, pred);
	if (!rc)
		rc = fx_load_mlp(&l, mlp, &params, note, sizeof(note));
	if (!rc)
		rc = fx_load_counters(&l, &counters, &pc);
	fx_load_close(&l);
	if (rc)
		goto out_free;

	fx_predict_set_counters(pred, &pc);
	if (params)
		memcpy(fx_mlp_params(mlp), params, fx_mlp_param_count(mlp) * sizeof(*params));
	free(params);
	if (note[0] && d && !d->err && !d->msg[0])
		snprintf(d->msg, sizeof(d->msg), "%s", note);
	*pred_out = pred;
	*c = counters;
	return 0;

out_free:
	free(params);
	fx_predict_free(pred);
	/* a no-op when fx_load_bad already said what was wrong */
	fx_diag_set(d, rc, fx_model_hint_load, "cannot load the model in %s (%s)", dir,
		    fx_strerror(rc));
	return rc;
}

int fx_model_info(const char *dir, struct fx_predict_opts *saved, struct fx_model_info *info,
		  struct fx_diag *d)
{
	struct fx_load l = {.dir = dir, .d = d};
	struct fx_model_info mi;
	float *params = NULL;
	char note[8];
	int rc;

	if ((rc = fx_load_open(&l)) < 0)
		return rc;
	memset(&mi, 0, sizeof(mi));
	rc = fx_load_meta(&l);
	if (!rc) /* checked in full: what a show prints is what a load would take */
		rc = fx_load_mlp(&l, NULL, &params, note, sizeof(note));
	if (!rc)
		rc = fx_load_counters(&l, &mi.counters, &mi.predict);
	fx_load_close(&l);
	free(params); /* never allocated without an MLP to load into */
	if (rc) {
		fx_diag_set(d, rc, fx_model_hint_load, "cannot read the model in %s (%s)", dir,
			    fx_strerror(rc));
		return rc;
	}
	mi.version = FX_MODEL_VERSION;
	mi.file_bytes = l.file_bytes;
	mi.seed = l.seed;
	mi.neurons = l.neurons;
	mi.region_blocks = l.region_blocks;
	mi.fanout = l.fanout;
	mi.clock_ms = l.clock;
	mi.synapses = l.n_synapses;
	mi.region_slots = l.n_slots;
	mi.objects = l.n_objects;
	mi.mlp_layers = l.mlp_layers;
	memcpy(mi.mlp_shape, l.mlp_shape, sizeof(mi.mlp_shape));
	if (saved) {
		fx_predict_opts_default(saved);
		saved->neurons = l.neurons;
		saved->region_blocks = l.region_blocks;
		saved->seed = l.seed;
	}
	if (info)
		*info = mi;
	return 0;
}

int fx_model_remove(const char *dir)
{
	char file[PATH_MAX], tmp[PATH_MAX];
	int rc;

	if ((rc = fx_model_paths(dir, file, tmp)) < 0)
		return rc;
	unlink(tmp); /* a save killed midway: not a model, nothing to report */
	return unlink(file) < 0 ? -errno : 0;
}
