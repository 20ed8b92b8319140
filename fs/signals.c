/*
 * signals.c - SIGUSR2 cycles the log level, SIGHUP reopens the log file
 * (see signals.h).
 *
 * Owns: the self-pipe, the two handlers that write to it, and the thread that
 * drains it. Does not own: the log itself (core/log.c) nor the session's
 * exit signals (libfuse).
 *
 * Only the handler runs in signal context, and it does nothing but write(2),
 * which is async-signal-safe; formatting, open(2) and locks happen in the
 * thread. The write end is non-blocking: a full pipe drops a signal (the
 * operator sends another) rather than hanging whichever thread was hit.
 */
#define FX_LOG_MODULE "fs"
#include "fs/signals.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

#define FX_SIG_CYCLE 'c' /* SIGUSR2 */
#define FX_SIG_REOPEN 'r' /* SIGHUP */
#define FX_SIG_QUIT 'q' /* fx_signals_free: the thread leaves */

struct fx_signals {
	int pipe[2]; /* [0] read by the thread, [1] written by the handler */
	pthread_t thread;
	struct sigaction old_hup, old_usr2; /* put back on free */
};

/* The write end, for the handler: a handler gets no argument. Set before the
 * handlers are installed and cleared after they are removed. */
static volatile sig_atomic_t fx_sig_fd = -1;

static void fx_sig_handler(int sig)
{
	int saved = errno;
	char c = sig == SIGUSR2 ? FX_SIG_CYCLE : FX_SIG_REOPEN;
	int fd = fx_sig_fd;

	if (fd >= 0 && write(fd, &c, 1) < 0) {
		/* Full pipe or gone: this signal is dropped; nothing safe to say here. */
	}
	errno = saved;
}

static void fx_sig_reopen(void)
{
	int ret;

	/* The last line in the old file says where the next ones go. */
	fx_info("SIGHUP: reopening the log file");
	ret = fx_log_reopen();
	if (ret == -ENOTSUP)
		fx_info("SIGHUP: logging to stderr or syslog, no log file to reopen");
	else if (ret < 0)
		fx_error("SIGHUP: cannot reopen the log file (%s): still logging to the old one",
			 strerror(-ret));
	else
		fx_info("log file reopened on SIGHUP");
}

static void *fx_sig_thread(void *arg)
{
	struct fx_signals *s = arg;
	char c;

	for (;;) {
		ssize_t n = read(s->pipe[0], &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || c == FX_SIG_QUIT)
			break;
		if (c == FX_SIG_CYCLE)
			fx_log_cycle();
		else if (c == FX_SIG_REOPEN)
			fx_sig_reopen();
	}
	return NULL;
}

/* Tell the thread to leave after what is queued and wait for it. Blocking
 * now: the quit byte must not be dropped like a signal on a full pipe. */
static void fx_sig_quit(struct fx_signals *s)
{
	char c = FX_SIG_QUIT;

	fcntl(s->pipe[1], F_SETFL, 0);
	while (write(s->pipe[1], &c, 1) < 0 && errno == EINTR)
		;
	pthread_join(s->thread, NULL);
}

int fx_signals_new(struct fx_signals **out)
{
	struct sigaction sa;
	struct fx_signals *s;
	int ret;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (pipe2(s->pipe, O_CLOEXEC) < 0) {
		ret = -errno;
		goto out_free;
	}
	if (fcntl(s->pipe[1], F_SETFL, O_NONBLOCK) < 0) {
		ret = -errno;
		goto out_pipe;
	}
	ret = -pthread_create(&s->thread, NULL, fx_sig_thread, s);
	if (ret < 0)
		goto out_pipe;

	fx_sig_fd = s->pipe[1];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fx_sig_handler;
	sigemptyset(&sa.sa_mask);
	/* FUSE workers blocked in read(/dev/fuse) resume instead of seeing EINTR. */
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGUSR2, &sa, &s->old_usr2) < 0) {
		ret = -errno;
		goto out_thread;
	}
	if (sigaction(SIGHUP, &sa, &s->old_hup) < 0) {
		ret = -errno;
		goto out_usr2;
	}
	*out = s;
	return 0;

out_usr2:
	sigaction(SIGUSR2, &s->old_usr2, NULL);
out_thread:
	fx_sig_fd = -1;
	fx_sig_quit(s);
out_pipe:
	close(s->pipe[0]);
	close(s->pipe[1]);
out_free:
	free(s);
	return ret;
}

void fx_signals_free(struct fx_signals *s)
{
	if (!s)
		return;
	sigaction(SIGHUP, &s->old_hup, NULL);
	sigaction(SIGUSR2, &s->old_usr2, NULL);
	fx_sig_fd = -1;
	/* Signals already queued in the pipe are still handled, then the thread leaves. */
	fx_sig_quit(s);
	close(s->pipe[0]);
	close(s->pipe[1]);
	free(s);
}
