/*
 * log.c - leveled, filtered, structured logging (see log.h).
 *
 * Owns: the parsed filter, the sink (stderr, file, syslog), text and JSON
 * record formatting, the per-thread request id, the log-once table, and the
 * runtime controls (level cycling, log file reopening).
 * Does not own: the signals that trigger those controls (fs/signals.c).
 * Setup happens before threads start; afterwards the module rules and the
 * sink are read-only, the default level is an atomic that fx_log_cycle()
 * changes, and the file descriptor number never changes (fx_log_reopen()
 * swaps the open file under it with dup3), so fx_log_enabled() and
 * fx_log_write() take no lock.
 */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define FX_LOG_MODULES_MAX 16
#define FX_LOG_ONCE_SLOTS 4096

struct fx_log_rule {
	char module[32];
	enum fx_log_level level;
};

static struct {
	atomic_int level; /* enum fx_log_level: default for modules without a rule */
	struct fx_log_rule rules[FX_LOG_MODULES_MAX];
	int n_rules;
	bool json;
	enum fx_log_sink sink;
	int fd;
	char path[PATH_MAX]; /* FX_LOG_FILE: absolute, so a reopen survives chdir("/") */
} fx_log = { .level = FX_LOG_INFO, .fd = STDERR_FILENO };

/* Serialises fx_log_cycle() and fx_log_reopen() against each other. */
static pthread_mutex_t fx_log_ctl_lock = PTHREAD_MUTEX_INITIALIZER;

static _Thread_local uint64_t fx_log_request;
static atomic_uint_fast64_t fx_log_request_seq;

/* Log-once: an open-addressed set of tag hashes; protected by its mutex. */
static pthread_mutex_t fx_log_once_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t fx_log_once_set[FX_LOG_ONCE_SLOTS];
static unsigned fx_log_once_used;

static const char *const fx_level_names[] = { "off", "error", "warn", "info", "debug", "trace" };

static int fx_level_parse(const char *s, size_t n, enum fx_log_level *out)
{
	for (size_t i = 0; i < sizeof(fx_level_names) / sizeof(fx_level_names[0]); i++) {
		if (strlen(fx_level_names[i]) == n && strncasecmp(s, fx_level_names[i], n) == 0) {
			*out = (enum fx_log_level)i;
			return 0;
		}
	}
	if (n == 7 && strncasecmp(s, "warning", 7) == 0) {
		*out = FX_LOG_WARN;
		return 0;
	}
	return -EINVAL;
}

/* Parse @spec into @level and @rules. */
static int fx_filter_parse(const char *spec, struct fx_diag *d, enum fx_log_level *level,
			   struct fx_log_rule *rules, int *n_rules)
{
	const char *p = spec;
	size_t len;

	*n_rules = 0;
	while (*p) {
		const char *end = strchr(p, ',');
		const char *eq;
		enum fx_log_level lv;

		len = end ? (size_t)(end - p) : strlen(p);
		eq = memchr(p, '=', len);
		if (len == 0)
			goto next;
		if (!eq) {
			if (fx_level_parse(p, len, &lv) < 0)
				goto bad_level;
			*level = lv;
		} else {
			size_t mlen = (size_t)(eq - p);

			if (mlen == 0 || mlen >= sizeof(rules[0].module) || *n_rules >= FX_LOG_MODULES_MAX) {
				fx_diag_set(d, -FX_EBADCONF, "write MODULE=LEVEL, e.g. fs=debug",
					    "bad log filter '%s' (module name in '%.*s')", spec, (int)len, p);
				return -FX_EBADCONF;
			}
			if (fx_level_parse(eq + 1, len - mlen - 1, &lv) < 0) {
				p = eq + 1;
				len = len - mlen - 1;
				goto bad_level;
			}
			memcpy(rules[*n_rules].module, p, mlen);
			rules[*n_rules].module[mlen] = '\0';
			rules[*n_rules].level = lv;
			(*n_rules)++;
		}
next:
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;

bad_level:
	fx_diag_set(d, -FX_EBADCONF, "levels are off, error, warn, info, debug, trace; e.g. RUST_LOG=info,fs=debug",
		    "bad log filter '%s' (unknown level '%.*s')", spec, (int)len, p);
	return -FX_EBADCONF;
}

int fx_log_check_filter(const char *spec, struct fx_diag *d)
{
	struct fx_log_rule rules[FX_LOG_MODULES_MAX];
	enum fx_log_level level = FX_LOG_INFO;
	int n;

	return fx_filter_parse(spec, d, &level, rules, &n);
}

int fx_log_setup(const char *filter, bool json, enum fx_log_sink sink, const char *path,
		 struct fx_diag *d)
{
	enum fx_log_level level = FX_LOG_INFO;
	struct fx_log_rule rules[FX_LOG_MODULES_MAX];
	int n = 0, ret;

	if (filter && (ret = fx_filter_parse(filter, d, &level, rules, &n)) < 0)
		return ret;
	if (sink == FX_LOG_FILE) {
		int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		char cwd[PATH_MAX];

		if (fd >= 0 && path[0] != '/' &&
		    (!getcwd(cwd, sizeof(cwd)) ||
		     (size_t)snprintf(fx_log.path, sizeof(fx_log.path), "%s/%s", cwd, path) >=
			     sizeof(fx_log.path))) {
			close(fd);
			fd = -1;
			errno = ENAMETOOLONG;
		} else if (fd >= 0 && path[0] == '/') {
			snprintf(fx_log.path, sizeof(fx_log.path), "%s", path);
		}
		if (fd < 0) {
			ret = -errno;
			fx_diag_set(d, ret, "check the directory exists and is writable, or drop -o logfile",
				    "cannot open log file %s (%s)", path, strerror(-ret));
			return ret;
		}
		if (fx_log.fd > STDERR_FILENO)
			close(fx_log.fd);
		fx_log.fd = fd;
	} else if (sink == FX_LOG_SYSLOG) {
		openlog("rustfx", LOG_PID, LOG_DAEMON);
	}
	atomic_store(&fx_log.level, (int)level);
	memcpy(fx_log.rules, rules, sizeof(rules[0]) * (size_t)n);
	fx_log.n_rules = n;
	fx_log.json = json;
	fx_log.sink = sink;
	return 0;
}

void fx_log_bump(int n)
{
	int lv = atomic_load(&fx_log.level) + n;

	atomic_store(&fx_log.level, lv > FX_LOG_TRACE ? FX_LOG_TRACE : lv);
}

/* The module rules as "fs=debug,cache=trace" for the cycling message. */
static void fx_log_rules_text(char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int i = 0; i < fx_log.n_rules && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s=%s", i ? "," : "",
					fx_log.rules[i].module, fx_level_names[fx_log.rules[i].level]);
}

enum fx_log_level fx_log_cycle(void)
{
	enum fx_log_level next;
	char rules[256];

	pthread_mutex_lock(&fx_log_ctl_lock);
	switch ((enum fx_log_level)atomic_load(&fx_log.level)) {
	case FX_LOG_WARN:
		next = FX_LOG_INFO;
		break;
	case FX_LOG_INFO:
		next = FX_LOG_DEBUG;
		break;
	case FX_LOG_DEBUG:
		next = FX_LOG_TRACE;
		break;
	default: /* trace wraps around; off and error join the cycle at warn */
		next = FX_LOG_WARN;
		break;
	}
	atomic_store(&fx_log.level, (int)next);
	pthread_mutex_unlock(&fx_log_ctl_lock);
	/* At the new level, unfiltered: whoever sent the signal wants to see it. */
	fx_log_rules_text(rules, sizeof(rules));
	fx_log_write("log", next, "log level is now %s (SIGUSR2 cycles warn, info, debug, trace)%s%s",
		     fx_level_names[next], rules[0] ? "; module rules kept: " : "", rules);
	return next;
}

int fx_log_reopen(void)
{
	int fd, ret = 0;

	if (fx_log.sink != FX_LOG_FILE)
		return -ENOTSUP;
	pthread_mutex_lock(&fx_log_ctl_lock);
	fd = open(fx_log.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	/* Writers keep using fx_log.fd: dup3 replaces the file behind it atomically. */
	if (dup3(fd, fx_log.fd, O_CLOEXEC) < 0)
		ret = -errno;
	close(fd);
out:
	pthread_mutex_unlock(&fx_log_ctl_lock);
	return ret;
}

void fx_log_shutdown(void)
{
	if (fx_log.sink == FX_LOG_FILE && fx_log.fd > STDERR_FILENO)
		close(fx_log.fd);
	else if (fx_log.sink == FX_LOG_SYSLOG)
		closelog();
	fx_log.fd = STDERR_FILENO;
	fx_log.sink = FX_LOG_STDERR;
}

bool fx_log_enabled(const char *module, enum fx_log_level level)
{
	for (int i = 0; i < fx_log.n_rules; i++)
		if (strcmp(fx_log.rules[i].module, module) == 0)
			return level <= fx_log.rules[i].level;
	return (int)level <= atomic_load_explicit(&fx_log.level, memory_order_relaxed);
}

void fx_log_set_request(uint64_t id)
{
	fx_log_request = id;
}

uint64_t fx_log_next_request(void)
{
	return atomic_fetch_add(&fx_log_request_seq, 1) + 1;
}

bool fx_log_first_time(const char *tag)
{
	uint64_t h = XXH3_64bits(tag, strlen(tag)) | 1; /* 0 marks a free slot */
	bool first = false;

	pthread_mutex_lock(&fx_log_once_lock);
	if (fx_log_once_used < FX_LOG_ONCE_SLOTS * 3 / 4) {
		unsigned i = (unsigned)(h % FX_LOG_ONCE_SLOTS);

		while (fx_log_once_set[i] && fx_log_once_set[i] != h)
			i = (i + 1) % FX_LOG_ONCE_SLOTS;
		if (!fx_log_once_set[i]) {
			fx_log_once_set[i] = h;
			fx_log_once_used++;
			first = true;
		}
	}
	pthread_mutex_unlock(&fx_log_once_lock);
	return first;
}

static void fx_log_emit(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fx_log.fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* nowhere left to report a logging failure */
		buf += n;
		len -= (size_t)n;
	}
}

/* Copy @in to @out (@size bytes) with control characters as "\xNN": names
 * from a bucket (a key with a newline) cannot forge or split log lines. */
static void fx_log_escape(const char *in, char *out, size_t size)
{
	size_t w = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p && w + 5 < size; p++) {
		if (*p < 0x20 || *p == 0x7f)
			w += (size_t)snprintf(out + w, size - w, "\\x%02x", *p);
		else
			out[w++] = (char)*p;
	}
	out[w] = '\0';
}

void fx_log_write(const char *module, enum fx_log_level level, const char *fmt, ...)
{
	static const int syslog_prio[] = { LOG_INFO, LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG, LOG_DEBUG };
	char raw[1024], msg[1024], line[1600], stamp[40];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	fx_log_escape(raw, msg, sizeof(msg));

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = (int)strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + n, sizeof(stamp) - (size_t)n, ".%06ldZ", ts.tv_nsec / 1000);

	if (fx_log.sink == FX_LOG_SYSLOG && !fx_log.json) {
		if (fx_log_request)
			syslog(syslog_prio[level], "%s req=%llu: %s", module,
			       (unsigned long long)fx_log_request, msg);
		else
			syslog(syslog_prio[level], "%s: %s", module, msg);
		return;
	}
	if (fx_log.json) {
		/* JSON escapes control characters itself: the message stays raw. */
		json_t *rec = json_pack("{s:s, s:s, s:s, s:s}", "ts", stamp, "level",
					fx_level_names[level], "module", module, "msg", raw);
		char *text;

		if (!rec)
			return;
		if (fx_log_request)
			json_object_set_new(rec, "req", json_integer((json_int_t)fx_log_request));
		text = json_dumps(rec, JSON_COMPACT);
		json_decref(rec);
		if (!text)
			return;
		if (fx_log.sink == FX_LOG_SYSLOG) {
			syslog(syslog_prio[level], "%s", text);
		} else {
			n = snprintf(line, sizeof(line), "%s\n", text);
			fx_log_emit(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
		}
		free(text);
		return;
	}
	if (fx_log_request)
		n = snprintf(line, sizeof(line), "%s %-5s %s req=%llu: %s\n", stamp, fx_level_names[level],
			     module, (unsigned long long)fx_log_request, msg);
	else
		n = snprintf(line, sizeof(line), "%s %-5s %s: %s\n", stamp, fx_level_names[level], module,
			     msg);
	fx_log_emit(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}
