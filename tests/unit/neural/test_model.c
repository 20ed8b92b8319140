/*
 * test_model.c - the model file: a round trip of a learned default-size
 * model, the checked-in golden file (format version 1) loading to exactly
 * the content its generator put in, every mismatch and corruption giving
 * -FX_ECORRUPT without touching the outputs, the MLP shape note, removal,
 * kill -9 during saves never leaving a model that does not load, and
 * fx_model_info: what it reads of the golden file and of a model of another
 * shape (enough to load either without knowing how it was made), and that
 * it refuses what a load refuses.
 * Does not test learning (test_snn.c, test_predict.c).
 *
 * The golden file tests/unit/neural/golden/model-v1.mdb is made by
 * golden_build() below. To regenerate it (only when the format version
 * changes, as a new file beside the old ones):
 *     FX_REGEN_GOLDEN=1 build/tests/neural_test_model --filter 'model/golden*'
 */
#include "neural/model.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include "neural/predict_i.h"

/* ------------------------------------------------------------ scratch dirs */

static char *tmp_dirs[16];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void cleanup(void)
{
	for (int i = 0; i < 16; i++) {
		if (tmp_dirs[i])
			nftw(tmp_dirs[i], rm_entry, 8, FTW_DEPTH | FTW_PHYS);
		free(tmp_dirs[i]);
		tmp_dirs[i] = NULL;
	}
}

TestSuite(model, .fini = cleanup);

static const char *tmpdir(void)
{
	char *dir = strdup("/tmp/rustfx-model-test.XXXXXX");
	int i = 0;

	cr_assert_not_null(mkdtemp(dir));
	while (tmp_dirs[i])
		i++;
	cr_assert_lt(i, 16);
	tmp_dirs[i] = dir;
	return dir;
}

static void path_in(char *out, const char *dir, const char *name)
{
	cr_assert_lt(snprintf(out, PATH_MAX, "%s/%s", dir, name), PATH_MAX);
}

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	size_t n;

	cr_assert_not_null(in, "cannot open %s", from);
	cr_assert_not_null(out, "cannot create %s", to);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		cr_assert_eq(fwrite(buf, 1, n, out), n);
	fclose(in);
	cr_assert_eq(fclose(out), 0);
}

/* ------------------------------------------------------------ comparing */

struct syn_list {
	struct fx_snn_synapse s[4096];
	size_t n;
};

static int syn_collect(void *arg, const struct fx_snn_synapse *s)
{
	struct syn_list *l = arg;

	cr_assert_lt(l->n, 4096);
	l->s[l->n++] = *s;
	return 0;
}

static void syn_list(struct fx_predictor *p, struct syn_list *l, float min_abs)
{
	struct fx_snn *snn = fx_predict_snn(p);

	l->n = 0;
	cr_assert_eq(fx_snn_each_synapse(snn, fx_snn_clock(snn), min_abs, syn_collect, l), 0);
}

struct obj_list {
	uint64_t obj[64];
	unsigned char rec[64][FX_PREDICT_OBJECT_MAX];
	size_t len[64], n;
};

static int obj_collect(void *arg, uint64_t obj, const void *rec, size_t len)
{
	struct obj_list *l = arg;

	cr_assert_lt(l->n, 64);
	l->obj[l->n] = obj;
	memcpy(l->rec[l->n], rec, len);
	l->len[l->n++] = len;
	return 0;
}

static void assert_same_model(struct fx_predictor *a, struct fx_predictor *b)
{
	static struct syn_list sa, sb;
	static struct obj_list oa, ob;
	struct fx_predict_counters ca, cb;
	uint32_t neurons = fx_predict_opts(a)->neurons;
	float min_abs = fx_snn_params(fx_predict_snn(a))->w_max / 1000;

	cr_assert_eq(fx_predict_clock(a), fx_predict_clock(b));
	syn_list(a, &sa, min_abs);
	syn_list(b, &sb, min_abs);
	cr_assert_eq(sa.n, sb.n);
	for (size_t i = 0; i < sa.n; i++) {
		cr_assert_eq(sa.s[i].pre, sb.s[i].pre);
		cr_assert_eq(fx_snn_weight(fx_predict_snn(b), sa.s[i].pre, sa.s[i].post,
					   fx_predict_clock(b)),
			     sa.s[i].weight, "synapse %u -> %u", sa.s[i].pre, sa.s[i].post);
	}
	for (uint32_t i = 0; i < neurons; i++)
		for (unsigned k = 0; k < FX_PREDICT_SLOTS; k++) {
			struct fx_prediction ra, rb;
			int ha = fx_predict_slot(a, i, k, &ra), hb = fx_predict_slot(b, i, k, &rb);

			cr_assert_eq(ha, hb, "neuron %u slot %u", i, k);
			if (ha)
				cr_assert(ra.obj == rb.obj && ra.first_block == rb.first_block &&
					  ra.nblocks == rb.nblocks);
		}
	oa.n = ob.n = 0;
	fx_predict_each_object(a, obj_collect, &oa);
	fx_predict_each_object(b, obj_collect, &ob);
	cr_assert_eq(oa.n, ob.n);
	for (size_t i = 0; i < oa.n; i++) {
		cr_assert_eq(oa.obj[i], ob.obj[i], "LRU order differs at %zu", i);
		cr_assert_eq(oa.len[i], ob.len[i]);
		cr_assert_eq(memcmp(oa.rec[i], ob.rec[i], oa.len[i]), 0);
	}
	fx_predict_counters(a, &ca);
	fx_predict_counters(b, &cb);
	cr_assert(ca.accesses == cb.accesses && ca.fired == cb.fired &&
		  ca.predictions == cb.predictions);
}

/* ------------------------------------------------------------ round trip */

/* A learned default-size model: 120 files in order, twice, plus records. */
static struct fx_predictor *learned(uint64_t *now)
{
	struct fx_predict_opts o;
	struct fx_predictor *p;
	struct fx_prediction out[4];

	fx_predict_opts_default(&o);
	p = fx_predict_new(&o);
	cr_assert_not_null(p);
	for (int pass = 0; pass < 2; pass++)
		for (uint64_t f = 1; f <= 120; f++)
			for (uint64_t b = 0; b < 1 + f % 9; b++, *now += 1)
				cr_assert_geq(fx_predict_access(p, f, b, *now, out, 4), 0);
	for (uint64_t f = 1; f <= 40; f++) {
		char rec[64];
		int len = snprintf(rec, sizeof(rec), "bucket/key-%03lu etag-%lu", (unsigned long)f,
				   (unsigned long)(f * 7));

		cr_assert_eq(fx_predict_object_put(p, f, rec, (size_t)len), 0);
	}
	return p;
}

Test(model, a_learned_model_round_trips)
{
	const char *dir = tmpdir();
	const unsigned sizes[] = {6, 8, 1};
	struct fx_mlp *mlp = fx_mlp_new(sizes, 3, 1), *mlp2 = fx_mlp_new(sizes, 3, 2);
	struct fx_model_counters c = {1, 2, 3, 4, 5, 6}, c2;
	struct fx_predict_opts o;
	struct fx_predictor *p, *q = NULL;
	struct fx_prediction pa[4], pb[4];
	struct fx_diag d = {0};
	uint64_t now = 5000;
	int na, nb;

	p = learned(&now);
	cr_assert_gt(fx_snn_synapse_count(fx_predict_snn(p)), 200);
	cr_assert_eq(fx_model_save(dir, p, mlp, &c, &d), 0, "%s", d.msg);
	fx_predict_opts_default(&o);
	cr_assert_eq(fx_model_load(dir, &o, mlp2, &q, &c2, &d), 0, "%s", d.msg);
	cr_assert_eq(d.err, 0);
	cr_assert_str_empty(d.msg);
	cr_assert_eq(memcmp(&c, &c2, sizeof(c)), 0);
	cr_assert_eq(memcmp(fx_mlp_params(mlp), fx_mlp_params(mlp2),
			    fx_mlp_param_count(mlp) * sizeof(float)),
		     0);
	assert_same_model(p, q);
	/* and it predicts as the original does */
	fx_predict_resume(q, now);
	na = fx_predict_access(p, 30, 0, now + 1000, pa, 4);
	nb = fx_predict_access(q, 30, 0, now + 1000, pb, 4);
	cr_assert_eq(na, nb);
	cr_assert_gt(na, 0);
	for (int i = 0; i < na; i++)
		cr_assert(pa[i].obj == pb[i].obj && pa[i].confidence == pb[i].confidence);
	fx_predict_free(p);
	fx_predict_free(q);
	fx_mlp_free(mlp);
	fx_mlp_free(mlp2);
}

/* ------------------------------------------------------------ golden file */

#define GOLDEN_SEED    0x676f6c64656e3031ull /* "golden01" */
#define GOLDEN_NEURONS 1024u

static const struct {
	uint64_t obj, block, now;
} golden_reads[] = {
    {101, 0, 1000}, {101, 1, 1001}, {101, 2, 1002}, {202, 8, 3000},
    {202, 9, 3001}, {303, 0, 5000}, {404, 4, 7000}, {404, 12, 9000},
};

/* The regions those reads leave (one slot each; no two share a neuron). */
static const struct {
	uint64_t obj, first;
	uint32_t nblocks;
} golden_regions[] = {
    {101, 0, 3}, {202, 8, 2}, {303, 0, 1}, {404, 4, 1}, {404, 12, 1},
};

/* Synapses by neuron number, then two between the regions' neurons. */
static const struct {
	uint32_t pre, post;
	float w;
} golden_fixed[] = {
    {1, 2, 1.25f}, {1, 700, 0.5f}, {2, 3, 3.0f}, {512, 511, 2.0f}, {1023, 0, 0.125f},
};

static const char golden_rec_a[] = "s3://bucket/alpha.bin etag=\"1\" size=4096";
static const char golden_rec_b[] = "s3://bucket/dir/beta etag=\"2\" size=10";

static void golden_opts(struct fx_predict_opts *o)
{
	fx_predict_opts_default(o);
	o->neurons = GOLDEN_NEURONS;
	o->seed = GOLDEN_SEED;
}

static float golden_param(size_t i)
{
	return (float)((int)i - 32) / 64.0f; /* exact in binary */
}

static void golden_rec_c(unsigned char *c)
{
	for (int i = 0; i < 200; i++)
		c[i] = (unsigned char)(i * 7);
}

static void golden_build(struct fx_predictor **pred, struct fx_mlp **mlp)
{
	const unsigned sizes[] = {6, 8, 1};
	struct fx_predict_opts o;
	struct fx_predictor *p;
	struct fx_snn *snn;
	unsigned char rec_c[200];
	char buf[64];
	float *params;

	golden_opts(&o);
	p = fx_predict_new(&o);
	cr_assert_not_null(p);
	/* reads far apart: no learning, so the synapses are exactly the ones below */
	for (size_t i = 0; i < sizeof(golden_reads) / sizeof(golden_reads[0]); i++)
		cr_assert_eq(fx_predict_access(p, golden_reads[i].obj, golden_reads[i].block,
					       golden_reads[i].now, NULL, 0),
			     0);
	snn = fx_predict_snn(p);
	for (size_t i = 0; i < sizeof(golden_fixed) / sizeof(golden_fixed[0]); i++)
		cr_assert_eq(fx_snn_connect(snn, golden_fixed[i].pre, golden_fixed[i].post,
					    golden_fixed[i].w),
			     0);
	cr_assert_eq(
	    fx_snn_connect(snn, fx_predict_neuron(p, 101, 0), fx_predict_neuron(p, 202, 8), 1.5f),
	    0);
	cr_assert_eq(
	    fx_snn_connect(snn, fx_predict_neuron(p, 202, 8), fx_predict_neuron(p, 303, 0), 0.75f),
	    0);
	golden_rec_c(rec_c);
	cr_assert_eq(fx_predict_object_put(p, 101, golden_rec_a, sizeof(golden_rec_a) - 1), 0);
	cr_assert_eq(fx_predict_object_put(p, 202, golden_rec_b, sizeof(golden_rec_b) - 1), 0);
	cr_assert_eq(fx_predict_object_put(p, 303, rec_c, sizeof(rec_c)), 0);
	cr_assert_eq(fx_predict_object_put(p, 404, NULL, 0), 0);
	cr_assert_eq(fx_predict_object_get(p, 101, buf, sizeof(buf)), sizeof(golden_rec_a) - 1);
	*mlp = fx_mlp_new(sizes, 3, 7);
	params = fx_mlp_params(*mlp);
	for (size_t i = 0; i < fx_mlp_param_count(*mlp); i++)
		params[i] = golden_param(i);
	*pred = p;
}

static const struct fx_model_counters golden_counters = {11, 22, 33, 44, 55, 66};

static void golden_path(char *out)
{
	char src[PATH_MAX];
	char *slash;

	snprintf(src, sizeof(src), "%s", __FILE__);
	slash = strrchr(src, '/');
	cr_assert_not_null(slash, "__FILE__ is not a path: %s", __FILE__);
	*slash = '\0';
	cr_assert_lt(snprintf(out, PATH_MAX, "%s/golden/model-v1.mdb", src), PATH_MAX);
}

Test(model, golden_v1_loads_to_exactly_its_content)
{
	const char *dir = tmpdir();
	const unsigned sizes[] = {6, 8, 1};
	char golden[PATH_MAX], file[PATH_MAX];
	struct fx_predictor *p = NULL;
	struct fx_mlp *mlp = fx_mlp_new(sizes, 3, 99);
	struct fx_model_counters c;
	struct fx_predict_counters pc;
	struct fx_predict_opts o;
	struct fx_prediction r, out[4];
	struct fx_diag d = {0};
	static struct syn_list syn;
	static struct obj_list objs;
	unsigned char rec_c[200];
	const float *params;
	int slots = 0, n;

	golden_path(golden);
	if (getenv("FX_REGEN_GOLDEN")) {
		struct fx_predictor *gp;
		struct fx_mlp *gm;
		const char *gen = tmpdir();

		golden_build(&gp, &gm);
		cr_assert_eq(fx_model_save(gen, gp, gm, &golden_counters, &d), 0, "%s", d.msg);
		path_in(file, gen, FX_MODEL_FILE);
		copy_file(file, golden);
		fprintf(stderr, "regenerated %s\n", golden);
		fx_predict_free(gp);
		fx_mlp_free(gm);
	}
	path_in(file, dir, FX_MODEL_FILE);
	copy_file(golden, file);
	golden_opts(&o);
	cr_assert_eq(fx_model_load(dir, &o, mlp, &p, &c, &d), 0, "%s", d.msg);
	cr_assert_str_empty(d.msg);

	cr_assert_eq(fx_predict_clock(p), 8000.0, "the model clock: 9000 - 1000");
	fx_predict_counters(p, &pc);
	cr_assert_eq(pc.accesses, 8);
	cr_assert_eq(pc.fired, 5);
	cr_assert_eq(pc.predictions, 0);
	cr_assert_eq(memcmp(&c, &golden_counters, sizeof(c)), 0);

	for (size_t i = 0; i < sizeof(golden_regions) / sizeof(golden_regions[0]); i++) {
		uint32_t n_i = fx_predict_neuron(p, golden_regions[i].obj, golden_regions[i].first);

		cr_assert_eq(fx_predict_region(p, n_i, &r), 1, "region %zu", i);
		cr_assert_eq(r.obj, golden_regions[i].obj);
		cr_assert_eq(r.first_block, golden_regions[i].first);
		cr_assert_eq(r.nblocks, golden_regions[i].nblocks);
	}
	for (uint32_t i = 0; i < GOLDEN_NEURONS; i++)
		for (unsigned k = 0; k < FX_PREDICT_SLOTS; k++)
			slots += fx_predict_slot(p, i, k, &r);
	cr_assert_eq(slots, 5);

	syn_list(p, &syn, 0.0f);
	cr_assert_eq(syn.n, 7);
	for (size_t i = 0; i < sizeof(golden_fixed) / sizeof(golden_fixed[0]); i++)
		cr_assert_eq(fx_snn_weight(fx_predict_snn(p), golden_fixed[i].pre,
					   golden_fixed[i].post, 8000),
			     golden_fixed[i].w, "synapse %zu", i);
	cr_assert_eq(fx_snn_weight(fx_predict_snn(p), fx_predict_neuron(p, 101, 0),
				   fx_predict_neuron(p, 202, 8), 8000),
		     1.5f);

	objs.n = 0;
	fx_predict_each_object(p, obj_collect, &objs);
	golden_rec_c(rec_c);
	cr_assert_eq(objs.n, 4);
	cr_assert(objs.obj[0] == 202 && objs.obj[1] == 303 && objs.obj[2] == 404 &&
		  objs.obj[3] == 101);
	cr_assert(objs.len[0] == sizeof(golden_rec_b) - 1 &&
		  !memcmp(objs.rec[0], golden_rec_b, objs.len[0]));
	cr_assert(objs.len[1] == 200 && !memcmp(objs.rec[1], rec_c, 200));
	cr_assert_eq(objs.len[2], 0);
	cr_assert(objs.len[3] == sizeof(golden_rec_a) - 1 &&
		  !memcmp(objs.rec[3], golden_rec_a, objs.len[3]));

	params = fx_mlp_params(mlp);
	cr_assert_eq(fx_mlp_param_count(mlp), 6 * 8 + 8 + 8 + 1);
	for (size_t i = 0; i < fx_mlp_param_count(mlp); i++)
		cr_assert_eq(params[i], golden_param(i), "MLP parameter %zu", i);

	/* the restored network works: 101 predicts 202's blocks 8-9 at depth 1 */
	fx_predict_resume(p, 100000);
	n = fx_predict_access(p, 101, 0, 100000, out, 4);
	cr_assert_eq(n, 1);
	cr_assert(out[0].obj == 202 && out[0].first_block == 8 && out[0].nblocks == 2 &&
		  out[0].depth == 1);
	cr_assert_float_eq(out[0].confidence, 1.5f / fx_snn_params(fx_predict_snn(p))->w_max, 1e-6);
	fx_predict_free(p);
	fx_mlp_free(mlp);
}

/* ------------------------------------------------------------ bad models */

/* Save the golden model into @dir. */
static void save_golden(const char *dir)
{
	struct fx_predictor *p;
	struct fx_mlp *m;
	struct fx_diag d = {0};

	golden_build(&p, &m);
	cr_assert_eq(fx_model_save(dir, p, m, &golden_counters, &d), 0, "%s", d.msg);
	fx_predict_free(p);
	fx_mlp_free(m);
}

/* Load @dir expecting @want; the outputs and the MLP must stay untouched. */
static void expect_load(const char *dir, const struct fx_predict_opts *o, int want,
			const char *msg_part)
{
	const unsigned sizes[] = {6, 8, 1};
	struct fx_mlp *mlp = fx_mlp_new(sizes, 3, 99), *ref = fx_mlp_new(sizes, 3, 99);
	struct fx_predictor *sentinel = (struct fx_predictor *)0x1, *p = sentinel;
	struct fx_model_counters c, c0;
	struct fx_diag d = {0};

	memset(&c, 0xa5, sizeof(c));
	c0 = c;
	cr_assert_eq(fx_model_load(dir, o, mlp, &p, &c, &d), want, "%s", d.msg);
	cr_assert_eq(p, sentinel, "output written on error");
	cr_assert_eq(memcmp(&c, &c0, sizeof(c)), 0);
	cr_assert_eq(memcmp(fx_mlp_params(mlp), fx_mlp_params(ref), 65 * sizeof(float)), 0,
		     "MLP changed by a failed load");
	if (want != -ENOENT) {
		cr_assert_eq(d.err, want);
		cr_assert_not_null(strstr(d.msg, msg_part), "diag '%s' lacks '%s'", d.msg,
				   msg_part);
	} else {
		cr_assert_eq(d.err, 0, "no model is not an error to report");
	}
	fx_mlp_free(mlp);
	fx_mlp_free(ref);
}

/*
 * Give @file a fresh trailer over its first @used bytes (what a save does
 * after LMDB has written), so a deliberate edit reaches the record checks.
 */
static void reseal_file(const char *file, off_t used)
{
	unsigned char *buf = malloc((size_t)used), t[24];
	FILE *f;
	uint64_t sum;

	cr_assert_not_null(buf);
	cr_assert_eq(truncate(file, used), 0);
	f = fopen(file, "r+b");
	cr_assert_not_null(f);
	cr_assert_eq(fread(buf, 1, (size_t)used, f), (size_t)used);
	sum = XXH3_64bits(buf, (size_t)used);
	memcpy(t, "RFXMSUM1", 8);
	for (int i = 0; i < 8; i++) {
		t[8 + i] = (unsigned char)((uint64_t)used >> (8 * i));
		t[16 + i] = (unsigned char)(sum >> (8 * i));
	}
	cr_assert_eq(fseek(f, used, SEEK_SET), 0);
	cr_assert_eq(fwrite(t, 1, sizeof(t), f), sizeof(t));
	cr_assert_eq(fclose(f), 0);
	free(buf);
}

/* Open @dir's model with LMDB directly, put @val under @key in @db (delete
 * the key when @val is NULL), and reseal the file. */
static void tamper(const char *dir, const char *db, const void *key, size_t klen, const void *val,
		   size_t vlen)
{
	char file[PATH_MAX];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_envinfo info;
	MDB_stat st;
	MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};

	path_in(file, dir, FX_MODEL_FILE);
	cr_assert_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 8);
	mdb_env_set_mapsize(env, (size_t)256 << 20);
	cr_assert_eq(mdb_env_open(env, file, MDB_NOSUBDIR | MDB_NOLOCK, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, db, 0, &dbi), 0);
	if (val)
		cr_assert_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
	else
		cr_assert_eq(mdb_del(txn, dbi, &k, NULL), 0);
	cr_assert_eq(mdb_txn_commit(txn), 0);
	cr_assert_eq(mdb_env_info(env, &info), 0);
	cr_assert_eq(mdb_env_stat(env, &st), 0);
	mdb_env_close(env);
	reseal_file(file, (off_t)(info.me_last_pgno + 1) * st.ms_psize);
}

/* Read @key of @db into @buf. @return its length. */
static size_t peek(const char *dir, const char *db, const void *key, size_t klen,
		   unsigned char *buf, size_t cap)
{
	char file[PATH_MAX];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = {klen, (void *)key}, v;

	path_in(file, dir, FX_MODEL_FILE);
	cr_assert_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 8);
	cr_assert_eq(mdb_env_open(env, file, MDB_NOSUBDIR | MDB_NOLOCK | MDB_RDONLY, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, db, 0, &dbi), 0);
	cr_assert_eq(mdb_get(txn, dbi, &k, &v), 0);
	cr_assert_leq(v.mv_size, cap);
	memcpy(buf, v.mv_data, v.mv_size);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return v.mv_size;
}

/* Recompute the trailing checksum of a value after editing it. */
static void reseal(unsigned char *val, size_t len)
{
	uint64_t sum = XXH3_64bits(val, len - 8);

	for (int i = 0; i < 8; i++)
		val[len - 8 + i] = (unsigned char)(sum >> (8 * i));
}

static void put_le32(unsigned char *b, uint32_t x)
{
	for (int i = 0; i < 4; i++)
		b[i] = (unsigned char)(x >> (8 * i));
}

Test(model, no_model_is_enoent_and_remove_removes)
{
	const char *dir = tmpdir();
	struct fx_predict_opts o;

	golden_opts(&o);
	expect_load(dir, &o, -ENOENT, "");
	cr_assert_eq(fx_model_remove(dir), -ENOENT);
	save_golden(dir);
	cr_assert_eq(fx_model_remove(dir), 0);
	expect_load(dir, &o, -ENOENT, "");
}

Test(model, another_seed_or_shape_is_refused)
{
	const char *dir = tmpdir();
	struct fx_predict_opts o;

	save_golden(dir);
	golden_opts(&o);
	o.seed++;
	expect_load(dir, &o, -FX_ECORRUPT, "seed");
	golden_opts(&o);
	o.neurons = 2048;
	expect_load(dir, &o, -FX_ECORRUPT, "shape");
	golden_opts(&o);
	o.region_blocks = 8;
	expect_load(dir, &o, -FX_ECORRUPT, "shape");
	golden_opts(&o);
	o.window_ms = 100; /* not part of the model: loads */
	struct fx_predictor *p;
	struct fx_model_counters c;

	cr_assert_eq(fx_model_load(dir, &o, NULL, &p, &c, NULL), 0);
	fx_predict_free(p);
}

Test(model, an_unknown_version_is_refused)
{
	const char *dir = tmpdir();
	unsigned char meta[256];
	struct fx_predict_opts o;
	size_t n;

	save_golden(dir);
	golden_opts(&o);
	n = peek(dir, "meta", "meta", 4, meta, sizeof(meta));
	cr_assert_eq(memcmp(meta, FX_MODEL_MAGIC, 4), 0);
	put_le32(meta + 4, FX_MODEL_VERSION + 1);
	reseal(meta, n);
	tamper(dir, "meta", "meta", 4, meta, n);
	expect_load(dir, &o, -FX_ECORRUPT, "version 2");
	memcpy(meta, "XXXX", 4);
	tamper(dir, "meta", "meta", 4, meta, n);
	expect_load(dir, &o, -FX_ECORRUPT, "magic");
}

Test(model, corrupt_or_truncated_records_are_refused)
{
	const char *dir = tmpdir();
	unsigned char val[8192], key0[4] = {0, 0, 0, 0};
	struct fx_predict_opts o;
	size_t n;

	golden_opts(&o);

	/* a flipped bit: the checksum */
	save_golden(dir);
	n = peek(dir, "synapses", key0, 4, val, sizeof(val));
	val[5] ^= 0x10;
	tamper(dir, "synapses", key0, 4, val, n);
	expect_load(dir, &o, -FX_ECORRUPT, "checksum");

	/* a record cut short, resealed: the size */
	save_golden(dir);
	n = peek(dir, "synapses", key0, 4, val, sizeof(val));
	n -= 4;
	reseal(val, n);
	tamper(dir, "synapses", key0, 4, val, n);
	expect_load(dir, &o, -FX_ECORRUPT, "truncated");

	/* a well-formed record naming a neuron out of range */
	save_golden(dir);
	n = peek(dir, "synapses", key0, 4, val, sizeof(val));
	put_le32(val + 4, GOLDEN_NEURONS + 5);
	reseal(val, n);
	tamper(dir, "synapses", key0, 4, val, n);
	expect_load(dir, &o, -FX_ECORRUPT, "out of range");

	/* a weight that is not finite */
	save_golden(dir);
	n = peek(dir, "synapses", key0, 4, val, sizeof(val));
	put_le32(val + 8, 0x7fc00000u);
	reseal(val, n);
	tamper(dir, "synapses", key0, 4, val, n);
	expect_load(dir, &o, -FX_ECORRUPT, "finite");

	/* a region that does not hash to its neuron */
	save_golden(dir);
	n = peek(dir, "regions", key0, 4, val, sizeof(val));
	val[8] ^= 1; /* obj of the first region */
	reseal(val, n);
	tamper(dir, "regions", key0, 4, val, n);
	expect_load(dir, &o, -FX_ECORRUPT, "map");

	/* a record gone: the counts in the meta record */
	save_golden(dir);
	tamper(dir, "objects", key0, 4, NULL, 0);
	expect_load(dir, &o, -FX_ECORRUPT, "object count");
	save_golden(dir);
	tamper(dir, "counters", "counters", 8, NULL, 0);
	expect_load(dir, &o, -FX_ECORRUPT, "counters");
}

Test(model, damaged_files_are_refused_without_crashing)
{
	const char *dir = tmpdir();
	char file[PATH_MAX], saved[PATH_MAX];
	struct fx_predict_opts o;
	struct stat st;
	int fd, tried = 0;

	golden_opts(&o);
	path_in(file, dir, FX_MODEL_FILE);
	path_in(saved, dir, "saved.mdb");
	save_golden(dir);
	copy_file(file, saved);
	cr_assert_eq(stat(file, &st), 0);

	/* cut anywhere: every 512 bytes, and one byte short */
	for (off_t size = 0; size < st.st_size; size += size + 512 < st.st_size ? 512 : 511) {
		copy_file(saved, file);
		cr_assert_eq(truncate(file, size), 0);
		expect_load(dir, &o, -FX_ECORRUPT, "unusable");
		tried++;
	}
	cr_assert_gt(tried, 50);
	/* one byte changed anywhere (every 509th, so every page and the trailer) */
	for (off_t at = 0; at < st.st_size; at += at + 509 < st.st_size ? 509 : 1) {
		unsigned char b;

		copy_file(saved, file);
		fd = open(file, O_RDWR);
		cr_assert_geq(fd, 0);
		cr_assert_eq(pread(fd, &b, 1, at), 1);
		b ^= 0x5a;
		cr_assert_eq(pwrite(fd, &b, 1, at), 1);
		close(fd);
		expect_load(dir, &o, -FX_ECORRUPT, "checksum");
	}
	/* not an LMDB file at all */
	fd = open(file, O_WRONLY | O_TRUNC);
	cr_assert_geq(fd, 0);
	for (int i = 0; i < 64; i++)
		cr_assert_eq(
		    write(fd, "this is not an LMDB file at all, nope, not even close.\n", 56), 56);
	close(fd);
	expect_load(dir, &o, -FX_ECORRUPT, "unusable");
	/* ... even with a valid trailer */
	reseal_file(file, 64 * 56);
	expect_load(dir, &o, -FX_ECORRUPT, "not an LMDB file");
	/* a leftover of a killed save is ignored */
	copy_file(saved, file);
	path_in(file, dir, FX_MODEL_FILE ".tmp");
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "half", 4), 4);
	close(fd);
	struct fx_predictor *p;
	struct fx_model_counters c;

	cr_assert_eq(fx_model_load(dir, &o, NULL, &p, &c, NULL), 0);
	fx_predict_free(p);
}

Test(model, an_mlp_of_another_shape_is_left_alone_with_a_note)
{
	const char *dir = tmpdir();
	const unsigned other[] = {7, 8, 1};
	struct fx_mlp *mlp = fx_mlp_new(other, 3, 5), *ref = fx_mlp_new(other, 3, 5);
	struct fx_predictor *p;
	struct fx_model_counters c;
	struct fx_predict_opts o;
	struct fx_diag d = {0};

	save_golden(dir);
	golden_opts(&o);
	cr_assert_eq(fx_model_load(dir, &o, mlp, &p, &c, &d), 0, "%s", d.msg);
	cr_assert_eq(d.err, 0);
	cr_assert_not_null(strstr(d.msg, "6-8-1"), "note: '%s'", d.msg);
	cr_assert_eq(
	    memcmp(fx_mlp_params(mlp), fx_mlp_params(ref), fx_mlp_param_count(mlp) * sizeof(float)),
	    0);
	fx_predict_free(p);

	/* saved without an MLP: loading into one says so too */
	struct fx_diag d2 = {0};

	struct fx_mlp *unused;

	golden_build(&p, &unused);
	fx_mlp_free(unused);
	cr_assert_eq(fx_model_save(dir, p, NULL, &golden_counters, NULL), 0);
	fx_predict_free(p);
	cr_assert_eq(fx_model_load(dir, &o, mlp, &p, &c, &d2), 0);
	cr_assert_not_null(strstr(d2.msg, "no MLP"), "note: '%s'", d2.msg);
	fx_predict_free(p);
	fx_mlp_free(mlp);
	fx_mlp_free(ref);
}

Test(model, save_reports_errors)
{
	struct fx_predictor *p;
	struct fx_mlp *m;
	struct fx_diag d = {0};

	golden_build(&p, &m);
	cr_assert_eq(fx_model_save("/nonexistent/rustfx/dir", p, m, &golden_counters, &d), -ENOENT);
	cr_assert_eq(d.err, -ENOENT);
	cr_assert_not_null(strstr(d.msg, "cannot save"));
	cr_assert_eq(fx_model_save("/tmp", NULL, m, &golden_counters, NULL), -EINVAL);
	cr_assert_eq(fx_model_save("/tmp", p, m, NULL, NULL), -EINVAL);
	fx_predict_free(p);
	fx_mlp_free(m);
}

/*
 * kill -9 a process that saves over and over (each save a different
 * counters.saves) at varied moments: every time, what is left loads, and
 * is one of the saves that completed (or the one made before).
 */
Test(model, kill_9_during_saves_leaves_a_model_that_loads)
{
	const char *dir = tmpdir();
	struct fx_predict_opts o;
	uint64_t now = 5000;

	struct fx_predictor *model = learned(&now);
	struct fx_model_counters first = {.saves = 1000};

	fx_predict_opts_default(&o);
	cr_assert_eq(fx_model_save(dir, model, NULL, &first, NULL), 0);
	for (int round = 0; round < 6; round++) {
		int pipefd[2], status;
		char ready;
		pid_t pid;

		cr_assert_eq(pipe(pipefd), 0);
		pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) { /* no assertions here: this process is not the test */
			struct fx_model_counters c = {0};

			close(pipefd[0]);
			if (write(pipefd[1], "r", 1) != 1)
				_exit(2);
			for (c.saves = 1; c.saves < 1000; c.saves++)
				if (fx_model_save(dir, model, NULL, &c, NULL) < 0)
					_exit(3);
			_exit(0);
		}
		close(pipefd[1]);
		cr_assert_eq(read(pipefd[0], &ready, 1), 1);
		close(pipefd[0]);
		usleep((useconds_t)(2000 + round * 7919 % 40000));
		kill(pid, SIGKILL);
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert(WIFSIGNALED(status), "the saver ended by itself (status %d)", status);

		struct fx_predictor *q = NULL;
		struct fx_model_counters c;
		struct fx_diag d = {0};

		cr_assert_eq(fx_model_load(dir, &o, NULL, &q, &c, &d), 0, "round %d: %s", round,
			     d.msg);
		cr_assert(c.saves == 1000 || (c.saves >= 1 && c.saves < 1000));
		assert_same_model(model, q);
		fx_predict_free(q);
	}
	fx_predict_free(model);
}

/* ------------------------------------------------------------ fx_model_info */

/* fx_model_info on @dir expecting @want; the outputs stay untouched on error. */
static void expect_info(const char *dir, int want, const char *msg_part)
{
	struct fx_predict_opts saved, saved0;
	struct fx_model_info info, info0;
	struct fx_diag d = {0};

	memset(&saved, 0xa5, sizeof(saved));
	memset(&info, 0xa5, sizeof(info));
	saved0 = saved;
	info0 = info;
	cr_assert_eq(fx_model_info(dir, &saved, &info, &d), want, "%s", d.msg);
	cr_assert_eq(memcmp(&saved, &saved0, sizeof(saved)), 0, "opts written on error");
	cr_assert_eq(memcmp(&info, &info0, sizeof(info)), 0, "info written on error");
	if (want == -ENOENT) {
		cr_assert_eq(d.err, 0, "no model is not an error to report");
		return;
	}
	cr_assert_eq(d.err, want);
	cr_assert_not_null(strstr(d.msg, msg_part), "diag '%s' lacks '%s'", d.msg, msg_part);
	cr_assert_str_not_empty(d.hint);
}

Test(model, info_reads_the_golden_file_and_its_opts_load_it)
{
	const char *dir = tmpdir();
	char golden[PATH_MAX], file[PATH_MAX];
	struct fx_predict_opts saved, defaults;
	struct fx_model_info info;
	struct fx_predictor *p = NULL;
	struct fx_model_counters c;
	struct fx_diag d = {0};
	struct stat st;

	golden_path(golden);
	path_in(file, dir, FX_MODEL_FILE);
	copy_file(golden, file);
	cr_assert_eq(stat(file, &st), 0);
	cr_assert_eq(fx_model_info(dir, &saved, &info, &d), 0, "%s", d.msg);
	cr_assert_eq(d.err, 0);
	cr_assert_eq(info.version, FX_MODEL_VERSION);
	cr_assert_eq(info.file_bytes, (uint64_t)st.st_size);
	cr_assert_eq(info.seed, GOLDEN_SEED);
	cr_assert_eq(info.neurons, GOLDEN_NEURONS);
	fx_predict_opts_default(&defaults);
	cr_assert_eq(info.region_blocks, defaults.region_blocks);
	cr_assert_eq(info.fanout, 16);
	cr_assert_eq(info.clock_ms, 8000.0);
	cr_assert_eq(info.synapses, 7);
	cr_assert_eq(info.region_slots, 5);
	cr_assert_eq(info.objects, 4);
	cr_assert_eq(info.mlp_layers, 3);
	cr_assert(info.mlp_shape[0] == 6 && info.mlp_shape[1] == 8 && info.mlp_shape[2] == 1);
	cr_assert_eq(memcmp(&info.counters, &golden_counters, sizeof(info.counters)), 0);
	cr_assert(info.predict.accesses == 8 && info.predict.fired == 5 &&
		  info.predict.predictions == 0);

	/* the opts are the defaults but for what the file fixes */
	cr_assert_eq(saved.neurons, GOLDEN_NEURONS);
	cr_assert_eq(saved.seed, GOLDEN_SEED);
	cr_assert_eq(saved.region_blocks, defaults.region_blocks);
	cr_assert_eq(saved.window_ms, defaults.window_ms);
	cr_assert_eq(saved.depth, defaults.depth);
	cr_assert_eq(saved.max_objects, defaults.max_objects);

	/* ... and load it without knowing how it was made */
	cr_assert_eq(fx_model_load(dir, &saved, NULL, &p, &c, &d), 0, "%s", d.msg);
	cr_assert_eq(fx_snn_synapse_count(fx_predict_snn(p)), info.synapses);
	cr_assert_eq(memcmp(&c, &info.counters, sizeof(c)), 0);
	fx_predict_free(p);

	/* either output may be left out */
	cr_assert_eq(fx_model_info(dir, NULL, &info, NULL), 0);
	cr_assert_eq(fx_model_info(dir, &saved, NULL, NULL), 0);
}

Test(model, info_gives_the_shape_a_model_was_saved_with)
{
	const char *dir = tmpdir();
	struct fx_predict_opts o, saved;
	struct fx_model_info info;
	struct fx_predictor *p, *q = NULL;
	struct fx_model_counters c = {.saves = 3, .trained = 77}, c2;
	struct fx_diag d = {0};

	fx_predict_opts_default(&o);
	o.neurons = 3000; /* not a multiple of the chunk: two chunks */
	o.region_blocks = 8;
	o.seed = 0x1234abcdull;
	p = fx_predict_new(&o);
	cr_assert_not_null(p);
	for (uint64_t f = 1; f <= 30; f++)
		cr_assert_geq(fx_predict_access(p, f, 0, 1000 + f, NULL, 0), 0);
	cr_assert_eq(fx_model_save(dir, p, NULL, &c, &d), 0, "%s", d.msg);

	cr_assert_eq(fx_model_info(dir, &saved, &info, &d), 0, "%s", d.msg);
	cr_assert(info.neurons == 3000 && info.region_blocks == 8 && info.seed == 0x1234abcdull);
	cr_assert_eq(info.mlp_layers, 0, "saved without an MLP");
	cr_assert_eq(info.synapses, fx_snn_synapse_count(fx_predict_snn(p)));
	cr_assert_gt(info.synapses, 0);
	cr_assert(info.counters.saves == 3 && info.counters.trained == 77);
	cr_assert_eq(info.predict.accesses, 30);
	cr_assert_eq(fx_model_load(dir, &saved, NULL, &q, &c2, &d), 0, "%s", d.msg);
	assert_same_model(p, q);
	fx_predict_free(p);
	fx_predict_free(q);
}

Test(model, info_refuses_what_load_refuses)
{
	const char *dir = tmpdir();
	char file[PATH_MAX];
	unsigned char meta[256], val[8192];
	struct fx_predict_opts o;
	struct stat st;
	size_t n;
	int fd;

	golden_opts(&o);
	expect_info(dir, -ENOENT, "");

	/* a byte changed in the middle of the file: its checksum */
	save_golden(dir);
	path_in(file, dir, FX_MODEL_FILE);
	cr_assert_eq(stat(file, &st), 0);
	fd = open(file, O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, "\xff\x00\xff", 3, st.st_size / 2), 3);
	close(fd);
	expect_info(dir, -FX_ECORRUPT, "checksum");

	/* garbage */
	fd = open(file, O_WRONLY | O_TRUNC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "garbage", 7), 7);
	close(fd);
	expect_info(dir, -FX_ECORRUPT, "unusable");

	/* an unknown version */
	save_golden(dir);
	n = peek(dir, "meta", "meta", 4, meta, sizeof(meta));
	put_le32(meta + 4, FX_MODEL_VERSION + 1);
	reseal(meta, n);
	tamper(dir, "meta", "meta", 4, meta, n);
	expect_info(dir, -FX_ECORRUPT, "version 2");

	/* a well-formed meta record no predictor can have: info and load refuse it */
	save_golden(dir);
	n = peek(dir, "meta", "meta", 4, meta, sizeof(meta));
	put_le32(meta + 24, 0); /* neurons */
	reseal(meta, n);
	tamper(dir, "meta", "meta", 4, meta, n);
	expect_info(dir, -FX_ECORRUPT, "out of range");
	expect_load(dir, &o, -FX_ECORRUPT, "out of range");
	save_golden(dir);
	n = peek(dir, "meta", "meta", 4, meta, sizeof(meta));
	put_le32(meta + 32, FX_SNN_MAX_FANOUT + 1); /* fanout */
	reseal(meta, n);
	tamper(dir, "meta", "meta", 4, meta, n);
	expect_info(dir, -FX_ECORRUPT, "out of range");
	save_golden(dir);
	n = peek(dir, "meta", "meta", 4, meta, sizeof(meta));
	meta[48] = 0xff; /* synapses: more than 1024 neurons x 16 */
	meta[49] = 0xff;
	reseal(meta, n);
	tamper(dir, "meta", "meta", 4, meta, n);
	expect_info(dir, -FX_ECORRUPT, "more synapses");
	expect_load(dir, &o, -FX_ECORRUPT, "more synapses");

	/* the counters or the MLP: missing, or failing their checksums */
	save_golden(dir);
	tamper(dir, "counters", "counters", 8, NULL, 0);
	expect_info(dir, -FX_ECORRUPT, "counters");
	save_golden(dir);
	n = peek(dir, "counters", "counters", 8, val, sizeof(val));
	val[3] ^= 1;
	tamper(dir, "counters", "counters", 8, val, n);
	expect_info(dir, -FX_ECORRUPT, "checksum");
	save_golden(dir);
	tamper(dir, "mlp", "mlp", 3, NULL, 0);
	expect_info(dir, -FX_ECORRUPT, "MLP record missing");
	save_golden(dir);
	n = peek(dir, "mlp", "mlp", 3, val, sizeof(val));
	put_le32(val + 4, FX_MLP_MAX_WIDTH + 1); /* first layer's width */
	reseal(val, n);
	tamper(dir, "mlp", "mlp", 3, val, n);
	expect_info(dir, -FX_ECORRUPT, "width");
	expect_load(dir, &o, -FX_ECORRUPT, "width");
}
