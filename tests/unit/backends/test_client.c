/*
 * test_client.c - the public C API (backends/client.h) against file:// in a
 * temporary directory and mem://: put from memory and from a file, ranged
 * get, head, list with prefix, delimiter and an early stop, delete, refused
 * keys; health of a good bucket and verdicts of bad ones (missing root,
 * bad URL); for s3:// a refused connection, missing credentials, and the
 * clock check against a one-thread fake server on 127.0.0.1 whose Date
 * header is an hour behind (refusing us) or two minutes ahead (answering).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backends/client.h"
#include "core/config.h"

static char fx_dir[64];
static char fx_url[96];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void dir_setup(void)
{
	strcpy(fx_dir, "/tmp/fx_client.XXXXXX");
	cr_assert_not_null(mkdtemp(fx_dir));
	snprintf(fx_url, sizeof(fx_url), "file://%s", fx_dir);
}

static void dir_teardown(void)
{
	nftw(fx_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(client, .init = dir_setup, .fini = dir_teardown);

static struct fx_client *open_ok(const char *url)
{
	struct fx_client *c = NULL;
	struct fx_diag d = { 0 };

	cr_assert_eq(fx_client_open(NULL, url, &c, &d), 0, "open %s: %s", url, d.msg);
	cr_assert_not_null(c);
	cr_assert_str_eq(fx_client_url(c), url);
	return c;
}

/* Collects listing entries as "key" or "key/ (prefix)" lines. */
struct listing {
	char text[1024];
	unsigned n, stop_after;
};

static int collect(void *arg, const struct fx_client_entry *e)
{
	struct listing *l = arg;
	size_t used = strlen(l->text);

	snprintf(l->text + used, sizeof(l->text) - used, "%s%s:%llu\n", e->key,
		 e->is_prefix ? "(p)" : "", (unsigned long long)e->size);
	l->n++;
	return l->stop_after && l->n == l->stop_after ? 42 : 0;
}

/* The same object round trip on any backend. */
static void round_trip(struct fx_client *c)
{
	struct fx_client_object o = { 0 }, o2 = { 0 };
	struct listing l = { 0 };
	char buf[64];
	FILE *f;

	cr_assert_eq(fx_client_put(c, "docs/a.txt", "hello, world", 12), 0);
	cr_assert_eq(fx_client_put(c, "docs/deep/b.txt", "bb", 2), 0);
	cr_assert_eq(fx_client_put(c, "top.txt", "", 0), 0, "an empty object");

	/* From a file: from offset 0 whatever the file offset, only @size bytes. */
	f = tmpfile();
	cr_assert_not_null(f);
	cr_assert_geq(fputs("0123456789", f), 0);
	cr_assert_eq(fflush(f), 0);
	cr_assert_eq(fx_client_put_fd(c, "docs/c.bin", fileno(f), 6), 0);
	fclose(f);

	cr_assert_eq(fx_client_head(c, "docs/a.txt", &o), 0);
	cr_assert_eq(o.size, 12);
	cr_assert_neq(o.etag[0], '\0', "an ETag");
	cr_assert_gt(o.mtime_ns, 0);
	cr_assert_eq(fx_client_head(c, "docs/c.bin", &o2), 0);
	cr_assert_eq(o2.size, 6);

	/* Ranged reads: inside, short at the end, at the end. */
	cr_assert_eq(fx_client_get(c, "docs/a.txt", 7, buf, 5), 5);
	cr_assert_eq(memcmp(buf, "world", 5), 0);
	cr_assert_eq(fx_client_get(c, "docs/a.txt", 10, buf, sizeof(buf)), 2);
	cr_assert_eq(memcmp(buf, "ld", 2), 0);
	cr_assert_eq(fx_client_get(c, "docs/a.txt", 12, buf, sizeof(buf)), 0);
	cr_assert_eq(fx_client_get(c, "docs/c.bin", 0, buf, sizeof(buf)), 6);
	cr_assert_eq(memcmp(buf, "012345", 6), 0);

	/* Replacing an object replaces its bytes. */
	cr_assert_eq(fx_client_put(c, "docs/a.txt", "bye", 3), 0);
	cr_assert_eq(fx_client_get(c, "docs/a.txt", 0, buf, sizeof(buf)), 3);
	cr_assert_eq(memcmp(buf, "bye", 3), 0);

	/* Listings: rolled up with "/", flat without, an early stop returned. */
	cr_assert_eq(fx_client_list(c, "docs/", "/", collect, &l), 0);
	cr_assert(strstr(l.text, "docs/a.txt:3\n"), "%s", l.text);
	cr_assert(strstr(l.text, "docs/c.bin:6\n"), "%s", l.text);
	cr_assert(strstr(l.text, "docs/deep/(p)"), "%s", l.text);
	cr_assert_null(strstr(l.text, "docs/deep/b.txt"), "%s", l.text);
	cr_assert_null(strstr(l.text, "top.txt"), "%s", l.text);
	memset(&l, 0, sizeof(l));
	cr_assert_eq(fx_client_list(c, "docs/", NULL, collect, &l), 0);
	cr_assert(strstr(l.text, "docs/deep/b.txt:2\n"), "%s", l.text);
	memset(&l, 0, sizeof(l));
	cr_assert_eq(fx_client_list(c, NULL, NULL, collect, &l), 0);
	cr_assert(strstr(l.text, "top.txt:0\n"), "%s", l.text);
	memset(&l, 0, sizeof(l));
	l.stop_after = 1;
	cr_assert_eq(fx_client_list(c, "", NULL, collect, &l), 42, "the callback's stop value");
	cr_assert_eq(l.n, 1);
	cr_assert_eq(fx_client_list(c, "", "|", collect, &l), -EINVAL, "only '/' delimits");

	/* Absent and refused keys. */
	cr_assert_eq(fx_client_head(c, "docs/nope", &o), -ENOENT);
	cr_assert_eq(fx_client_get(c, "docs/nope", 0, buf, sizeof(buf)), -ENOENT);
	cr_assert_eq(fx_client_put(c, "../escape", "x", 1), -EINVAL);
	cr_assert_eq(fx_client_put(c, "/abs", "x", 1), -EINVAL);
	cr_assert_eq(fx_client_get(c, "a//b", 0, buf, 1), -EINVAL);

	/* Delete, twice (absent is fine, as S3). */
	cr_assert_eq(fx_client_delete(c, "docs/a.txt"), 0);
	cr_assert_eq(fx_client_delete(c, "docs/a.txt"), 0);
	cr_assert_eq(fx_client_head(c, "docs/a.txt", &o), -ENOENT);
	cr_assert_eq(fx_client_get(c, "docs/deep/b.txt", 0, buf, sizeof(buf)), 2,
		     "other objects stay");
}

Test(client, file_round_trip)
{
	struct fx_client *c = open_ok(fx_url);
	struct stat st;
	char path[128];

	round_trip(c);
	/* file:// keeps objects as files under the root: another tool sees them. */
	snprintf(path, sizeof(path), "%s/docs/c.bin", fx_dir);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_size, 6);
	fx_client_close(c);
	fx_client_close(NULL);
}

Test(client, mem_round_trip)
{
	struct fx_client *c = open_ok("mem://client-test"), *again;
	char buf[8];

	round_trip(c);
	fx_client_close(c);
	/* A named mem:// bucket outlives its client within the process. */
	again = open_ok("mem://client-test");
	cr_assert_eq(fx_client_get(again, "docs/deep/b.txt", 0, buf, sizeof(buf)), 2);
	fx_client_close(again);
}

Test(client, open_refuses_bad_urls)
{
	struct fx_client *c = NULL;
	struct fx_diag d = { 0 };
	char url[128];

	cr_assert_eq(fx_client_open(NULL, "no-scheme", &c, &d), -FX_EBADURL);
	cr_assert_null(c);
	cr_assert(d.msg[0] && d.hint[0], "error and hint: '%s' '%s'", d.msg, d.hint);
	memset(&d, 0, sizeof(d));
	cr_assert_eq(fx_client_open(NULL, "gopher://x", &c, &d), -FX_EBADURL);
	memset(&d, 0, sizeof(d));
	snprintf(url, sizeof(url), "file://%s/missing", fx_dir);
	cr_assert_eq(fx_client_open(NULL, url, &c, &d), -ENOENT);
	cr_assert(strstr(d.msg, "does not exist"), "%s", d.msg);
	cr_assert_null(c);
}

Test(client, health_of_a_good_bucket)
{
	struct fx_client *c = open_ok(fx_url);
	struct fx_health h;

	cr_assert_eq(fx_client_health(c, 7, &h), 0);
	cr_assert_eq(h.status, FX_HEALTHY);
	cr_assert_eq(h.samples, 7);
	cr_assert_geq(h.p99_ms, h.p50_ms);
	cr_assert_geq(h.p50_ms, 0.0);
	cr_assert_eq(h.check[FX_HEALTH_REACHABLE].state, FX_HEALTH_OK);
	cr_assert_eq(h.check[FX_HEALTH_BUCKET].state, FX_HEALTH_OK);
	cr_assert_eq(h.check[FX_HEALTH_LATENCY].state, FX_HEALTH_OK);
	cr_assert_eq(h.check[FX_HEALTH_CREDENTIALS].state, FX_HEALTH_SKIP, "local: none needed");
	cr_assert_eq(h.check[FX_HEALTH_CLOCK].state, FX_HEALTH_SKIP, "local: no server clock");
	cr_assert_not(h.skew_known);
	for (int i = 0; i < FX_HEALTH_ITEMS; i++) {
		cr_assert_neq(h.check[i].detail[0], '\0', "%s has a detail",
			      fx_health_item_name((enum fx_health_item)i));
		cr_assert_eq(h.check[i].hint[0], '\0', "no hint without a problem");
	}
	cr_assert_eq(fx_client_health(c, 0, &h), 0);
	cr_assert_eq(h.samples, FX_HEALTH_SAMPLES, "0 samples: the default");
	cr_assert_eq(fx_client_health(c, 5000, &h), -EINVAL);
	fx_client_close(c);

	/* fx_client_check opens, checks and closes. */
	cr_assert_eq(fx_client_check(NULL, "mem://health", 3, &h, NULL), 0);
	cr_assert_eq(h.status, FX_HEALTHY);
	cr_assert_eq(h.samples, 3);
}

Test(client, health_of_a_missing_root)
{
	struct fx_diag d = { 0 };
	struct fx_health h;
	char url[128];

	snprintf(url, sizeof(url), "file://%s/gone", fx_dir);
	cr_assert_eq(fx_client_check(NULL, url, 3, &h, &d), 0, "a verdict, not an error");
	cr_assert_eq(h.status, FX_DEGRADED);
	cr_assert_eq(h.check[FX_HEALTH_REACHABLE].state, FX_HEALTH_OK);
	cr_assert_eq(h.check[FX_HEALTH_BUCKET].state, FX_HEALTH_FAIL);
	cr_assert_eq(h.check[FX_HEALTH_BUCKET].err, -ENOENT);
	cr_assert(strstr(h.check[FX_HEALTH_BUCKET].detail, "does not exist"), "%s",
		  h.check[FX_HEALTH_BUCKET].detail);
	cr_assert(strstr(h.check[FX_HEALTH_BUCKET].hint, "mkdir"), "%s",
		  h.check[FX_HEALTH_BUCKET].hint);
	cr_assert_eq(h.check[FX_HEALTH_LATENCY].state, FX_HEALTH_SKIP);
	cr_assert_eq(h.samples, 0);
}

Test(client, check_refuses_bad_input)
{
	struct fx_diag d = { 0 };
	struct fx_health h;

	cr_assert_eq(fx_client_check(NULL, "file://relative/dir", 1, &h, &d), -FX_EBADURL);
	cr_assert(d.msg[0] && d.hint[0]);
	memset(&d, 0, sizeof(d));
	cr_assert_eq(fx_client_check(NULL, "nothing", 1, &h, &d), -FX_EBADURL);
	cr_assert_eq(d.err, -FX_EBADURL);
}

Test(client, names)
{
	cr_assert_str_eq(fx_health_item_name(FX_HEALTH_CLOCK), "clock");
	cr_assert_str_eq(fx_health_item_name(FX_HEALTH_REACHABLE), "reachable");
	cr_assert_str_eq(fx_health_state_name(FX_HEALTH_WARN), "warn");
	cr_assert_str_eq(fx_health_status_name(FX_UNREACHABLE), "unreachable");
	cr_assert_str_eq(fx_health_status_name(FX_DEGRADED), "degraded");
}

#ifdef RUSTFX_S3
/* ------------------------------------------------------------------ s3 */

/* A fake S3 endpoint: answers every request with one canned response. */
struct fake_s3 {
	int fd, port, status;
	char date[64];
	const char *body;
	pthread_t thread;
	unsigned served;
};

static void *fake_serve(void *arg)
{
	struct fake_s3 *s = arg;
	int c;

	while ((c = accept(s->fd, NULL, NULL)) >= 0) {
		char req[8192];
		size_t n = 0;
		ssize_t r;

		while (n < sizeof(req) - 1 && (r = read(c, req + n, sizeof(req) - 1 - n)) > 0) {
			n += (size_t)r;
			req[n] = '\0';
			if (strstr(req, "\r\n\r\n"))
				break;
		}
		dprintf(c,
			"HTTP/1.1 %d Canned\r\nDate: %s\r\nContent-Type: application/xml\r\n"
			"Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
			s->status, s->date, strlen(s->body), s->body);
		s->served++;
		close(c);
	}
	return NULL;
}

/* Start a fake server whose Date is @offset_s from our clock. */
static void fake_start(struct fake_s3 *s, int status, long offset_s, const char *body)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	time_t t = time(NULL) + offset_s;
	struct tm tm;

	memset(s, 0, sizeof(*s));
	s->status = status;
	s->body = body;
	strftime(s->date, sizeof(s->date), "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&t, &tm));
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(s->fd, 0);
	cr_assert_eq(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(s->fd, 16), 0);
	cr_assert_eq(getsockname(s->fd, (struct sockaddr *)&a, &len), 0);
	s->port = ntohs(a.sin_port);
	cr_assert_eq(pthread_create(&s->thread, NULL, fake_serve, s), 0);
}

static void fake_stop(struct fake_s3 *s)
{
	shutdown(s->fd, SHUT_RDWR); /* wakes accept() */
	pthread_join(s->thread, NULL);
	close(s->fd);
}

static void set(struct fx_config *cfg, const char *key, const char *value)
{
	struct fx_diag d = { 0 };

	cr_assert_eq(fx_config_set(cfg, key, value, FX_SRC_FLAG, "test", &d), 0, "%s: %s", key, d.msg);
}

/* A configuration pointing at 127.0.0.1:@port with explicit keys. */
static struct fx_config *s3_config(int port, bool keys)
{
	struct fx_config *cfg = fx_client_config_new();
	char endpoint[64];

	cr_assert_not_null(cfg);
	snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", port);
	set(cfg, "s3.endpoint", endpoint);
	set(cfg, "s3.path_style", "true");
	set(cfg, "retry.max_attempts", "1");
	set(cfg, "s3.connect_timeout_s", "2");
	if (keys) {
		set(cfg, "s3.access_key_id", "AKIACLIENTTEST");
		set(cfg, "s3.secret_access_key", "clientTestSecret000000000000000000000000");
	}
	return cfg;
}

static void no_ambient_credentials(void)
{
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_PROFILE");
	setenv("HOME", fx_dir, 1); /* no ~/.aws, no ~/.passwd-s3fs */
}

Test(client, s3_refused_connection_is_unreachable)
{
	struct fake_s3 s;
	struct fx_config *cfg;
	struct fx_health h;
	int port;

	/* A port that was just free and is closed again: connections are refused. */
	fake_start(&s, 200, 0, "");
	port = s.port;
	fake_stop(&s);
	cfg = s3_config(port, true);
	cr_assert_eq(fx_client_check(cfg, "s3://client-test", 3, &h, NULL), 0);
	cr_assert_eq(h.status, FX_UNREACHABLE);
	cr_assert_eq(h.check[FX_HEALTH_REACHABLE].state, FX_HEALTH_FAIL);
	cr_assert_eq(h.check[FX_HEALTH_REACHABLE].err, -ECONNREFUSED);
	cr_assert_neq(h.check[FX_HEALTH_REACHABLE].hint[0], '\0');
	cr_assert_eq(h.check[FX_HEALTH_BUCKET].state, FX_HEALTH_SKIP);
	cr_assert_eq(h.check[FX_HEALTH_CLOCK].state, FX_HEALTH_SKIP, "no answer, no Date");
	fx_config_free(cfg);
}

Test(client, s3_without_credentials)
{
	struct fx_config *cfg;
	struct fx_health h;

	no_ambient_credentials();
	cfg = s3_config(1, false);
	cr_assert_eq(fx_client_check(cfg, "s3://client-test", 1, &h, NULL), 0);
	cr_assert_eq(h.check[FX_HEALTH_CREDENTIALS].state, FX_HEALTH_FAIL);
	cr_assert_eq(h.check[FX_HEALTH_REACHABLE].state, FX_HEALTH_SKIP, "not tried");
	cr_assert(strstr(h.check[FX_HEALTH_CREDENTIALS].detail, "credentials"), "%s",
		  h.check[FX_HEALTH_CREDENTIALS].detail);
	cr_assert_neq(h.status, FX_HEALTHY);
	fx_config_free(cfg);
}

Test(client, s3_bad_bucket_name_is_bad_input)
{
	struct fx_config *cfg = s3_config(1, true);
	struct fx_diag d = { 0 };
	struct fx_health h;

	cr_assert_eq(fx_client_check(cfg, "s3://Bad_Bucket", 1, &h, &d), -FX_EBADURL);
	cr_assert(strstr(d.msg, "invalid bucket name"), "%s", d.msg);
	fx_config_free(cfg);
}

Test(client, s3_refusal_from_a_skewed_server)
{
	struct fake_s3 s;
	struct fx_config *cfg;
	struct fx_health h;

	fake_start(&s, 403, -3600,
		   "<?xml version=\"1.0\"?><Error><Code>RequestTimeTooSkewed</Code>"
		   "<Message>skewed</Message></Error>");
	cfg = s3_config(s.port, true);
	cr_assert_eq(fx_client_check(cfg, "s3://client-test", 3, &h, NULL), 0);
	fake_stop(&s);
	cr_assert_geq(s.served, 1);
	cr_assert_eq(h.status, FX_DEGRADED);
	cr_assert_eq(h.check[FX_HEALTH_REACHABLE].state, FX_HEALTH_OK);
	cr_assert_eq(h.check[FX_HEALTH_CREDENTIALS].state, FX_HEALTH_FAIL);
	cr_assert_eq(h.check[FX_HEALTH_CREDENTIALS].err, -EACCES);
	/* The refusal's Date still tells the clock: ours is an hour ahead. */
	cr_assert(h.skew_known);
	cr_assert(h.skew_s < -3598 && h.skew_s > -3602, "skew %f", h.skew_s);
	cr_assert_eq(h.check[FX_HEALTH_CLOCK].state, FX_HEALTH_FAIL);
	cr_assert(strstr(h.check[FX_HEALTH_CLOCK].detail, "ahead"), "%s",
		  h.check[FX_HEALTH_CLOCK].detail);
	cr_assert(strstr(h.check[FX_HEALTH_CLOCK].hint, "clock"), "%s", h.check[FX_HEALTH_CLOCK].hint);
	fx_config_free(cfg);
}

Test(client, s3_answering_server_two_minutes_ahead)
{
	struct fake_s3 s;
	struct fx_config *cfg;
	struct fx_client *c = NULL;
	struct fx_diag d = { 0 };
	struct fx_health h;
	struct listing l = { 0 };

	fake_start(&s, 200, 120,
		   "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult>"
		   "<Name>client-test</Name><Prefix></Prefix><KeyCount>1</KeyCount>"
		   "<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated><Contents>"
		   "<Key>k</Key><LastModified>2024-05-01T12:00:00.000Z</LastModified>"
		   "<ETag>\"e\"</ETag><Size>3</Size></Contents></ListBucketResult>");
	cfg = s3_config(s.port, true);
	cr_assert_eq(fx_client_open(cfg, "s3://client-test", &c, &d), 0, "%s", d.msg);
	cr_assert_eq(fx_client_health(c, 4, &h), 0);
	cr_assert_eq(fx_client_list(c, "", "/", collect, &l), 0);
	fx_client_close(c);
	fake_stop(&s);
	cr_assert_eq(s.served, 1 + 4 + 1, "the open's probe, the samples, the listing");
	cr_assert_str_eq(l.text, "k:3\n");
	cr_assert_eq(h.samples, 4);
	cr_assert_eq(h.check[FX_HEALTH_CREDENTIALS].state, FX_HEALTH_OK);
	cr_assert(strstr(h.check[FX_HEALTH_CREDENTIALS].detail, "access_key_id"), "source named: %s",
		  h.check[FX_HEALTH_CREDENTIALS].detail);
	cr_assert(h.skew_known);
	cr_assert(h.skew_s > 118 && h.skew_s < 122, "skew %f", h.skew_s);
	cr_assert_eq(h.check[FX_HEALTH_CLOCK].state, FX_HEALTH_WARN);
	cr_assert(strstr(h.check[FX_HEALTH_CLOCK].detail, "behind"), "%s",
		  h.check[FX_HEALTH_CLOCK].detail);
	cr_assert_eq(h.status, FX_DEGRADED);
	fx_config_free(cfg);
}
#endif
