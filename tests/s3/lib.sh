# shellcheck shell=bash
# Variables set here for the scripts that source it (FX_EX_*, FX_S3_REQ):
# shellcheck disable=SC2034
#
# lib.sh - helpers shared by s3rver.sh and rgw.sh (sourced, never run).
#
# Owns: the error/hint convention of these scripts, bounded waits, picking a
# free 127.0.0.1 port, starting a daemon in the background with a pid file,
# stopping one by its pid file, and writing/reading DIR/env.
# Does not own: what a server is or how it is configured; each script says that.

set -u

FX_S3_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FX_S3_REQ="$FX_S3_DIR/s3req.py"

# sysexits.h codes used by these scripts.
FX_EX_USAGE=2         # bad arguments (house style: 2 = invalid input)
FX_EX_UNAVAILABLE=69  # a server did not come up or did not answer
FX_EX_SOFTWARE=70     # an install step failed
FX_EX_TEMPFAIL=75     # something is already running in DIR

# fx_die CODE WHAT WHY HINT [LOG...]: the tail of each log that explains the
# failure, then the one-line error and its hint, last, where a reader looks.
fx_die() {
	local code=$1 what=$2 why=$3 hint=$4 log shown=""
	shift 4
	for log in "$@"; do
		[ -s "$log" ] || continue
		echo "--- last lines of $log:" >&2
		tail -n 20 "$log" >&2
		shown=1
	done
	[ -n "$shown" ] && echo "---" >&2
	echo "error: $what ($why)" >&2
	echo "hint: $hint" >&2
	exit "$code"
}

fx_note() { echo "${FX_S3_NAME:-s3}: $*" >&2; }

# fx_install_debs PKG...: apt-get install the Debian packages that are missing;
# nothing (not even apt-get update) when all are there.
fx_install_debs() {
	local missing="" p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	local sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	fx_note "installing Debian packages:$missing"
	# Serialised: two test scripts starting at once would fight over the dpkg lock.
	(
		flock -w 600 9 || exit 1
		# shellcheck disable=SC2086 # $missing is a list of package names
		$sudo apt-get update -qq &&
			DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
				--no-install-recommends $missing >/dev/null
	) 9>/tmp/rustfx-s3-apt.lock ||
		fx_die "$FX_EX_SOFTWARE" "could not install$missing" "apt-get failed" \
			"run: apt-get update && apt-get install -y --no-install-recommends$missing"
}

# A readiness probe returns this when waiting longer is pointless (the
# daemon has died), so that a failure is reported at once, not at the timeout.
FX_HOPELESS=125

# fx_wait_until SECONDS COMMAND...: run COMMAND every 0.2 s until it succeeds,
# returns FX_HOPELESS, or SECONDS have passed; returns 0 on success.
fx_wait_until() {
	local limit=$1 rc
	shift
	local deadline=$((SECONDS + limit))
	while :; do
		"$@"
		rc=$?
		[ "$rc" -eq 0 ] && return 0
		[ "$rc" -eq "$FX_HOPELESS" ] && return 1
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.2
	done
}

# fx_free_port: print a TCP port on 127.0.0.1 that was free a moment ago.
# The kernel picks it from the ephemeral range, so two scripts running at
# once do not pick the same one; another program could still take it before
# the daemon binds, which then fails loudly (see the log) rather than silently.
fx_free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# fx_alive PIDFILE: true when PIDFILE names a live (not zombie) process.
fx_alive() {
	local pid
	[ -s "$1" ] || return 1
	pid=$(cat "$1") || return 1
	! fx_gone "$pid"
}

# fx_spawn PIDFILE LOG COMMAND...: start COMMAND in the background, detached
# from our stdin/stdout/stderr (a caller reading our output through a pipe,
# like ctest, must not wait for the daemon), and record its pid.
fx_spawn() {
	local pidfile=$1 log=$2
	shift 2
	"$@" </dev/null >>"$log" 2>&1 &
	echo $! >"$pidfile"
}

# fx_stop_pidfile PIDFILE NAME [SECONDS]: SIGTERM the process, wait for it to
# exit (SIGKILL after SECONDS, default 10), remove the pid file. Does nothing
# when the process is already gone. The pid is only signalled while its
# command line still contains NAME, so a recycled pid is left alone.
fx_stop_pidfile() {
	local pidfile=$1 name=$2 limit=${3:-10} pid
	[ -s "$pidfile" ] || { rm -f "$pidfile"; return 0; }
	pid=$(cat "$pidfile")
	if ! fx_gone "$pid" &&
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$name"; then
		kill -TERM "$pid" 2>/dev/null
		if ! fx_wait_until "$limit" fx_gone "$pid"; then
			fx_note "$name (pid $pid) ignored SIGTERM for ${limit}s; SIGKILL"
			kill -KILL "$pid" 2>/dev/null
			fx_wait_until 5 fx_gone "$pid"
		fi
	fi
	# The daemon may be our child (started by this same shell): reap it.
	wait "$pid" 2>/dev/null
	rm -f "$pidfile"
}

# fx_gone PID: true once PID has exited (a zombie counts as exited).
fx_gone() {
	local state
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 0
	[ -z "$state" ] || [ "$state" = Z ]
}

# fx_write_env DIR NAME=VALUE...: write DIR/env atomically, one assignment a
# line, so that readers never see half a file.
fx_write_env() {
	local dir=$1
	shift
	printf '%s\n' "$@" >"$dir/env.tmp" && mv -f "$dir/env.tmp" "$dir/env"
}

# fx_print_env DIR: the `env` command of both scripts.
fx_print_env() {
	[ -s "$1/env" ] ||
		fx_die 1 "no server environment in $1" "$1/env does not exist" \
			"start the server first: $0 start $1"
	cat "$1/env"
}

fx_usage() {
	echo "usage: $0 start|stop|env DIR" >&2
	exit "$FX_EX_USAGE"
}
