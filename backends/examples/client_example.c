/*
 * client_example.c - rustfx's C API (backends/client.h) in one program:
 * open a bucket without mounting it, print its health, write two test
 * objects (from memory and from a file), list them, read them back and
 * delete them.
 *
 * Owns: nothing but the demonstration; built as rustfx-client-example.
 *
 *   rustfx-client-example URL
 *
 * Settings come from RUSTFX_* variables of the [retry], [io] and [s3]
 * tables, credentials from the usual chain (AWS_ACCESS_KEY_ID, ...), e.g.
 *
 *   RUSTFX_S3_ENDPOINT=http://127.0.0.1:9000 RUSTFX_S3_PATH_STYLE=true \
 *   AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \
 *   rustfx-client-example s3://my-bucket
 *
 * Exit 0 when every step worked, 1 when one failed (each failure printed),
 * 2 for a bad URL or setting.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backends/client.h"
#include "core/config.h"

extern char **environ;

#define PREFIX "rustfx-client-example/"

static int failures;

static void step(const char *what, int err)
{
	if (err < 0) {
		printf("FAIL %s: %s\n", what, fx_strerror(err));
		failures++;
	} else {
		printf("ok   %s\n", what);
	}
}

static int print_entry(void *arg, const struct fx_client_entry *e)
{
	unsigned *n = arg;

	if (e->is_prefix)
		printf("       %s (prefix)\n", e->key);
	else
		printf("       %s %" PRIu64 " bytes %s\n", e->key, e->size, e->etag);
	++*n;
	return 0;
}

/* Read @key back whole and compare it with @want. */
static int read_back(struct fx_client *c, const char *key, const char *want)
{
	char buf[256];
	ssize_t n = fx_client_get(c, key, 0, buf, sizeof(buf));

	if (n < 0)
		return (int)n;
	return (size_t)n == strlen(want) && !memcmp(buf, want, (size_t)n) ? 0 : -EBADMSG;
}

int main(int argc, char **argv)
{
	struct fx_diag d = { 0 };
	struct fx_config *cfg;
	struct fx_client *c = NULL;
	struct fx_health h;
	struct fx_client_object obj;
	char key_mem[128], key_fd[128], text[128];
	unsigned listed = 0;
	FILE *f;
	int ret;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: %s URL   (e.g. file:///tmp/bucket, s3://bucket)\n", argv[0]);
		return 2;
	}
	if (!(cfg = fx_client_config_new()))
		return 71;
	if ((ret = fx_config_load_env(cfg, environ, &d)) < 0 ||
	    (ret = fx_client_open(cfg, argv[1], &c, &d)) < 0) {
		fx_diag_print(&d, stderr);
		fx_config_free(cfg);
		return fx_exit_code(ret);
	}

	/* Health: five timed listings and the server's clock. */
	if ((ret = fx_client_health(c, 0, &h)) < 0) {
		step("health check", ret);
	} else {
		printf("health of %s: %s\n", fx_client_url(c), fx_health_status_name(h.status));
		for (int i = 0; i < FX_HEALTH_ITEMS; i++)
			printf("  %-11s %-4s %s\n", fx_health_item_name((enum fx_health_item)i),
			       fx_health_state_name(h.check[i].state), h.check[i].detail);
	}

	snprintf(key_mem, sizeof(key_mem), PREFIX "%ld-%ld-mem.txt", (long)getpid(), (long)time(NULL));
	snprintf(key_fd, sizeof(key_fd), PREFIX "%ld-%ld-fd.txt", (long)getpid(), (long)time(NULL));
	snprintf(text, sizeof(text), "hello from rustfx-client-example %ld\n", (long)getpid());

	step("put from memory", fx_client_put(c, key_mem, text, strlen(text)));
	/* From a file: its bytes from offset 0, whatever its file offset. */
	if (!(f = tmpfile()) || fputs(text, f) < 0 || fflush(f) != 0) {
		step("write a temporary file", -errno);
	} else {
		step("put from a file", fx_client_put_fd(c, key_fd, fileno(f), strlen(text)));
	}
	if (f)
		fclose(f);

	ret = fx_client_head(c, key_mem, &obj);
	step("head", ret);
	if (ret == 0)
		printf("       %s: %" PRIu64 " bytes, etag %s\n", key_mem, obj.size, obj.etag);
	step("get back (memory)", read_back(c, key_mem, text));
	step("get back (file)", read_back(c, key_fd, text));
	ret = fx_client_list(c, PREFIX, "/", print_entry, &listed);
	step("list " PREFIX, ret < 0 ? ret : listed >= 2 ? 0 : -ENOENT);

	step("delete (memory)", fx_client_delete(c, key_mem));
	step("delete (file)", fx_client_delete(c, key_fd));
	ret = fx_client_head(c, key_mem, &obj);
	step("gone after delete", ret == -ENOENT ? 0 : ret < 0 ? ret : -EEXIST);

	fx_client_close(c);
	fx_config_free(cfg);
	printf("%s\n", failures ? "some steps failed" : "all steps passed");
	return failures ? 1 : 0;
}
