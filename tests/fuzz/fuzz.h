/*
 * fuzz.h - what the libFuzzer harnesses in tests/fuzz share.
 *
 * Owns: the libFuzzer entry point declarations, FX_FUZZ_CHECK (an invariant
 * that aborts with a message, so libFuzzer saves the input as a crash), a
 * growable byte buffer for recording what a parser produced, and in-memory
 * files (memfd) for parsers that only read paths.
 * Does not own: any invariant; each fuzz_*.c states its own at the top.
 *
 * Header-only (static inline): each harness is one executable.
 */
#ifndef FX_TESTS_FUZZ_H
#define FX_TESTS_FUZZ_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* An invariant of the code under test: on failure, say which and abort(). */
#define FX_FUZZ_CHECK(cond, ...)                                                                   \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "\nfuzz invariant broken at %s:%d: %s\n  ", __FILE__,      \
				__LINE__, #cond);                                                  \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* A harness's own allocation failed: not a finding, but not a pass either. */
static inline void *fx_fuzz_must(void *p)
{
	if (!p) {
		fprintf(stderr, "fuzz harness: out of memory\n");
		abort();
	}
	return p;
}

/* Growable bytes; always NUL-terminated. */
struct fx_fuzz_buf {
	char *p;
	size_t len, cap;
};

static inline void fx_fuzz_put(struct fx_fuzz_buf *b, const void *data, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = fx_fuzz_must(realloc(b->p, cap));
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

__attribute__((format(printf, 2, 3))) static inline void fx_fuzz_printf(struct fx_fuzz_buf *b,
									const char *fmt, ...)
{
	char small[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	if ((size_t)n < sizeof(small)) {
		fx_fuzz_put(b, small, (size_t)n);
		return;
	}
	{
		char *big = fx_fuzz_must(malloc((size_t)n + 1));

		va_start(ap, fmt);
		vsnprintf(big, (size_t)n + 1, fmt, ap);
		va_end(ap);
		fx_fuzz_put(b, big, (size_t)n);
		free(big);
	}
}

/* Same bytes in @a and @b (either may be empty, with a NULL pointer). */
static inline bool fx_fuzz_buf_eq(const struct fx_fuzz_buf *a, const struct fx_fuzz_buf *b)
{
	return a->len == b->len && (!a->len || !memcmp(a->p, b->p, a->len));
}

/* @a starts with all of @b. */
static inline bool fx_fuzz_buf_starts(const struct fx_fuzz_buf *a, const struct fx_fuzz_buf *b)
{
	return a->len >= b->len && (!b->len || !memcmp(a->p, b->p, b->len));
}

static inline void fx_fuzz_buf_free(struct fx_fuzz_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* A NUL-terminated copy of @n bytes (bytes after an embedded NUL are lost). */
static inline char *fx_fuzz_str(const uint8_t *data, size_t n)
{
	char *s = fx_fuzz_must(malloc(n + 1));

	memcpy(s, data, n);
	s[n] = '\0';
	return s;
}

/*
 * An in-memory file holding @n bytes of @data, rewound; its path
 * ("/proc/self/fd/N") goes to @path. Nothing touches the disk, and nothing
 * is left behind if the harness dies. @return the fd (close it when done).
 */
static inline int fx_fuzz_memfile(const void *data, size_t n, char *path, size_t pathsz)
{
	int fd = memfd_create("fx-fuzz", MFD_CLOEXEC);
	const char *p = data;
	size_t done = 0;

	if (fd < 0) {
		perror("fuzz harness: memfd_create");
		abort();
	}
	while (done < n) {
		ssize_t w = write(fd, p + done, n - done);

		if (w <= 0) {
			perror("fuzz harness: write to memfd");
			abort();
		}
		done += (size_t)w;
	}
	lseek(fd, 0, SEEK_SET);
	snprintf(path, pathsz, "/proc/self/fd/%d", fd);
	return fd;
}

#endif
