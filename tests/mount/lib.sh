# shellcheck shell=bash
# Variables set here for the tests to read (FX_DAEMON_RC, ...):
# shellcheck disable=SC2034
#
# lib.sh - helpers shared by the real-mount tests (sourced, never run).
#
# Owns: finding the rustfx binaries, the one skip rule (no /dev/fuse), scratch
# directories under /tmp, mounting and unmounting a file:// bucket with a trap
# that always cleans up, and assertions that count passes and failures.
# Does not own: what a test checks; each test_*.sh says that itself.
#
# A test script sources this file, calls fx_setup (and fx_require_fuse when it
# needs a mount), runs its checks, and ends with fx_finish, which prints the
# plain closing line "N passed, N failed" and exits non-zero on any failure.
# No `set -e`: a failed check is counted and the script goes on.

set -u

FX_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FX_REPO_ROOT=$(cd "$FX_LIB_DIR/../.." && pwd)

# ctest sets FX_TEST_*; by hand the build tree of this checkout is used.
# (Not RUSTFX_*: those are settings to rustfx, and an unknown one is an error.)
RUSTFX_BIN=${FX_TEST_RUSTFX:-$FX_REPO_ROOT/build/tools/rustfx}
MOUNT_RUSTFX_BIN=${FX_TEST_MOUNT_RUSTFX:-$FX_REPO_ROOT/build/tools/mount.rustfx}
export -n RUSTFX_BIN MOUNT_RUSTFX_BIN
# Settings from the caller's environment would make results depend on who
# runs the test; each test sets what it means to set.
for _fx_var in $(compgen -e); do
	case $_fx_var in RUSTFX_* | RUST_LOG) unset "$_fx_var" ;; esac
done
unset _fx_var

FX_SIGDFL=()
# shellcheck disable=SC2054 # the comma is part of one argument
if env --default-signal=INT true 2>/dev/null; then FX_SIGDFL=(env --default-signal=INT,QUIT); fi

FX_PASSED=0
FX_FAILED=0
FX_TMP=""        # scratch root of this test run
FX_MOUNTS=()     # mount points to unmount on exit
FX_DAEMONS=()    # pids of foreground (-f) mounts started in the background
FX_MOUNT_SEQ=0   # numbers the log file of each mount
FX_LAST_PID=""   # pid of the last fx_mount
FX_LAST_LOG=""   # log file of the last fx_mount
FX_LAST_STDERR="" # stderr of the last fx_mount process

# ------------------------------------------------------------------ output

fx_log() { printf '# %s\n' "$*"; }

fx_pass() {
	FX_PASSED=$((FX_PASSED + 1))
	printf 'ok   %s\n' "$1"
}

# fx_fail DESCRIPTION [CONTEXT...]: every context line is indented under it.
fx_fail() {
	FX_FAILED=$((FX_FAILED + 1))
	printf 'FAIL %s\n' "$1"
	shift
	local line
	for line in "$@"; do
		printf '%s\n' "$line" | sed 's/^/       | /'
	done
}

# Print the closing line and leave; the EXIT trap cleans up.
fx_finish() {
	printf '%d passed, %d failed\n' "$FX_PASSED" "$FX_FAILED"
	if [ "$FX_FAILED" -gt 0 ]; then exit 1; fi
	exit 0
}

# A failure that makes the rest of the script meaningless (e.g. no mount).
fx_abort() {
	fx_fail "$@"
	fx_finish
}

# ------------------------------------------------------------ running things

# fx_run CMD...: run a command, keeping stdout, stderr and status in
# FX_OUT, FX_ERR and FX_RC for the assertions that follow.
fx_run() {
	local o e
	o=$(mktemp "$FX_TMP/out.XXXXXX")
	e=$(mktemp "$FX_TMP/err.XXXXXX")
	"$@" >"$o" 2>"$e"
	FX_RC=$?
	FX_OUT=$(cat "$o")
	FX_ERR=$(cat "$e")
	rm -f "$o" "$e"
	return 0
}

# Context lines describing the last fx_run, for failure messages; long
# output is cut to its first 20 lines.
fx_ctx() {
	printf 'exit: %s\n' "$FX_RC"
	[ -n "$FX_OUT" ] && printf 'stdout: %s\n' "$FX_OUT" | fx_head
	[ -n "$FX_ERR" ] && printf 'stderr: %s\n' "$FX_ERR" | fx_head
	return 0
}
fx_head() { awk 'NR <= 20 { print } END { if (NR > 20) print "... (" NR - 20 " more lines)" }'; }

# -------------------------------------------------------------- assertions

# fx_ok DESC CMD...: the command succeeds.
fx_ok() {
	local desc=$1
	shift
	fx_run "$@"
	if [ "$FX_RC" -eq 0 ]; then
		fx_pass "$desc"
	else
		fx_fail "$desc" "command: $*" "$(fx_ctx)"
	fi
}

# fx_not DESC CMD...: the command fails (any non-zero status).
fx_not() {
	local desc=$1
	shift
	fx_run "$@"
	if [ "$FX_RC" -ne 0 ]; then
		fx_pass "$desc"
	else
		fx_fail "$desc" "command: $* (expected failure)" "$(fx_ctx)"
	fi
}

# fx_eq DESC EXPECTED GOT
fx_eq() {
	if [ "$2" == "$3" ]; then
		fx_pass "$1"
	else
		fx_fail "$1" "expected: $2" "got:      $3"
	fi
}

# fx_match DESC TEXT EXTENDED-REGEX: some line of TEXT matches.
fx_match() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then
		fx_pass "$1"
	else
		fx_fail "$1" "expected a line matching: $3" "in: $2"
	fi
}

# fx_nomatch DESC TEXT EXTENDED-REGEX: no line of TEXT matches.
fx_nomatch() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then
		fx_fail "$1" "expected no line matching: $3" "in: $2"
	else
		fx_pass "$1"
	fi
}

# fx_status DESC EXPECTED-RC CMD...: the command exits with exactly that code.
fx_status() {
	local desc=$1 want=$2
	shift 2
	fx_run "$@"
	if [ "$FX_RC" -eq "$want" ]; then
		fx_pass "$desc"
	else
		fx_fail "$desc" "command: $* (expected exit $want)" "$(fx_ctx)"
	fi
}

# fx_same_file DESC A B: byte-identical files (cmp names the first difference).
fx_same_file() {
	local why
	if why=$(cmp -- "$2" "$3" 2>&1); then
		fx_pass "$1"
	else
		fx_fail "$1" "$why" "sizes: $(stat -c %s -- "$2" 2>&1) vs $(stat -c %s -- "$3" 2>&1)"
	fi
}

# fx_same_text DESC EXPECTED GOT: like fx_eq, with a diff for long text.
fx_same_text() {
	if [ "$2" == "$3" ]; then
		fx_pass "$1"
	else
		fx_fail "$1" "$(diff <(printf '%s\n' "$2") <(printf '%s\n' "$3") |
			sed 's/^</expected/; s/^>/got     /')"
	fi
}

# -------------------------------------------------------------- environment

# Scratch root for the whole run; everything a test makes lives under it.
fx_setup() {
	FX_TMP=$(mktemp -d /tmp/rustfx-test.XXXXXX) || {
		echo "error: cannot create a scratch directory under /tmp" >&2
		exit 1
	}
	trap fx_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	# A rustfx.toml in the caller's working directory or home would change
	# the configuration under test.
	export HOME="$FX_TMP/home" XDG_CONFIG_HOME="$FX_TMP/home/.config"
	mkdir -p "$HOME"
	cd "$FX_TMP" || exit 1
	if [ ! -x "$RUSTFX_BIN" ]; then
		# Not a skip: a missing binary is a broken build.
		fx_abort "rustfx binary not found" "looked at $RUSTFX_BIN (set FX_TEST_RUSTFX)"
	fi
}

# The only reason to skip: the kernel interface is not there at all.
fx_require_fuse() {
	if [ ! -e /dev/fuse ]; then
		echo "SKIP: /dev/fuse is absent"
		exit 77
	fi
}

fx_is_mounted() { mountpoint -q -- "$1"; }

# Wait up to $2 seconds (default 10) for $1 to be or stop being a mount point
# ($3 = "up" or "down").
fx_wait_mount() {
	local mnt=$1 secs=${2:-10} want=${3:-up} i
	for ((i = 0; i < secs * 10; i++)); do
		if fx_is_mounted "$mnt"; then
			[ "$want" = up ] && return 0
		else
			[ "$want" = down ] && return 0
		fi
		sleep 0.1
	done
	return 1
}

# fx_mount BUCKET MNT [EXTRA_OPTS [CACHE_DIR]]: mount file://BUCKET at MNT in
# the foreground (-f) as a background job, so the test owns the pid, and wait
# until the kernel shows the mount. On failure: print the log, count a failure,
# return 1.
fx_mount() {
	local bucket=$1 mnt=$2 extra=${3:-} cache=${4:-$FX_TMP/cache} opts
	FX_MOUNT_SEQ=$((FX_MOUNT_SEQ + 1))
	FX_LAST_LOG="$FX_TMP/log.$FX_MOUNT_SEQ"
	FX_LAST_STDERR="$FX_TMP/stderr.$FX_MOUNT_SEQ"
	opts="cache_dir=$cache,log_level=debug,logfile=$FX_LAST_LOG${extra:+,$extra}"
	mkdir -p "$mnt"
	# A non-interactive shell starts background jobs with SIGINT ignored,
	# and a daemon keeps an ignored signal ignored: give it back its default
	# so tests can check that SIGINT unmounts.
	"${FX_SIGDFL[@]}" "$RUSTFX_BIN" mount -f -o "$opts" "file://$bucket" "$mnt" \
		</dev/null >"$FX_LAST_STDERR" 2>&1 &
	FX_LAST_PID=$!
	FX_DAEMONS+=("$FX_LAST_PID")
	FX_MOUNTS+=("$mnt")
	local i
	for ((i = 0; i < 100; i++)); do
		fx_is_mounted "$mnt" && return 0
		# A process that died will never mount; don't wait out the clock.
		kill -0 "$FX_LAST_PID" 2>/dev/null || break
		sleep 0.1
	done
	fx_is_mounted "$mnt" && return 0
	fx_fail "mount file://$bucket at $mnt (-o $opts)" \
		"not a mount point after 10 s; process $(kill -0 "$FX_LAST_PID" 2>/dev/null &&
			echo 'still running' || echo 'exited')" \
		"--- output of rustfx mount:" "$(tail -n 40 "$FX_LAST_STDERR" 2>/dev/null)" \
		"--- log $FX_LAST_LOG:" "$(tail -n 60 "$FX_LAST_LOG" 2>/dev/null)"
	return 1
}

# fx_umount MNT [PID]: "rustfx umount", falling back to fusermount3 -u; then
# wait for the foreground process (PID, default the last mount) to exit and
# leave its exit status in FX_DAEMON_RC (or "timeout"). Returns 0 when the
# mount point is no longer mounted.
fx_umount() {
	local mnt=$1 pid=${2:-$FX_LAST_PID} i
	FX_UMOUNT_OUT=$("$RUSTFX_BIN" umount "$mnt" 2>&1)
	FX_UMOUNT_RC=$?
	if fx_is_mounted "$mnt"; then
		fusermount3 -u "$mnt" 2>/dev/null
	fi
	FX_DAEMON_RC=none
	if [ -n "$pid" ]; then
		FX_DAEMON_RC=timeout
		for ((i = 0; i < 100; i++)); do
			if ! kill -0 "$pid" 2>/dev/null; then
				wait "$pid" 2>/dev/null
				FX_DAEMON_RC=$?
				break
			fi
			sleep 0.1
		done
	fi
	! fx_is_mounted "$mnt"
}

# EXIT trap: unmount everything this run mounted, stop what it started (by
# pid), then remove the scratch root — but never through a live mount, which
# would delete the bucket's contents via the filesystem under test.
fx_cleanup() {
	local rc=$? mnt pid
	set +u
	for mnt in "${FX_MOUNTS[@]}"; do
		if fx_is_mounted "$mnt"; then
			"$RUSTFX_BIN" umount "$mnt" >/dev/null 2>&1
			fx_is_mounted "$mnt" && fusermount3 -u "$mnt" 2>/dev/null
			fx_is_mounted "$mnt" && fusermount3 -uz "$mnt" 2>/dev/null
		fi
	done
	for pid in "${FX_DAEMONS[@]}"; do
		kill -0 "$pid" 2>/dev/null || continue
		kill -TERM "$pid" 2>/dev/null
		sleep 0.5
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	done
	# Daemonized mounts (mount.rustfx, rustfx mount without -f) were started
	# by this run with its own scratch path on their command line.
	if [ -n "$FX_TMP" ]; then
		for pid in $(pgrep -f -- "$FX_TMP/" 2>/dev/null); do
			[ "$pid" = $$ ] && continue
			kill -TERM "$pid" 2>/dev/null
		done
	fi
	if [ -n "$FX_TMP" ] && [ -d "$FX_TMP" ]; then
		if grep -q " $FX_TMP" /proc/mounts; then
			echo "warning: mounts remain under $FX_TMP; leaving it in place" >&2
		elif [ -n "${FX_KEEP:-}" ]; then
			echo "FX_KEEP set: scratch kept at $FX_TMP" >&2
		else
			rm -rf --one-file-system "$FX_TMP"
		fi
	fi
	exit "$rc"
}
