#!/usr/bin/env bash
#
# test_signals.sh - the daemon's runtime-control signals on a real mount:
# SIGUSR2 cycles the default log level (warn, info, debug, trace, warn) and
# the new level filters what follows; module rules (cache=trace) are kept;
# SIGHUP reopens the log file as logrotate needs (mv log log.1; kill -HUP),
# also for a daemonized mount given a relative log file path; with no log
# file (stderr) SIGHUP is a logged no-op; neither signal unmounts or kills.
#
# Does not test syslog (nothing to read back without a syslog daemon): there
# SIGHUP takes the same no-op path as stderr.

# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fx_setup
fx_require_fuse

BUCKET=$FX_TMP/bucket
MNT=$FX_TMP/mnt
mkdir -p "$BUCKET"
echo hello >"$BUCKET/hello.txt"

# fx_wait_line FILE REGEX: wait up to 5 s for a line of FILE to match.
# shellcheck disable=SC2317 # called through fx_ok
fx_wait_line() {
	local i
	for ((i = 0; i < 50; i++)); do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# fx_count FILE REGEX: how many lines of FILE match (0 for no file).
fx_count() { grep -Ec -- "$2" "$1" 2>/dev/null || true; }

# fx_alive DESC PID MNT: the signal neither killed the daemon nor unmounted.
fx_alive() {
	fx_ok "$1: the daemon is still running" kill -0 "$2"
	fx_same_text "$1: the mount still answers" hello "$(cat "$3/hello.txt" 2>&1)"
}

# ------------------------------------------------ SIGUSR2: level cycling

# The last option wins: info by default, cache pinned at trace ("\," is a
# comma inside an option value).
fx_mount "$BUCKET" "$MNT" 'log_level=info\,cache=trace' || fx_finish
PID=$FX_LAST_PID
LOG=$FX_LAST_LOG
fx_log "daemon pid $PID, log $LOG"

kill -USR2 "$PID"
fx_ok "SIGUSR2 at info: one line at debug says the level is now debug" \
	fx_wait_line "$LOG" ' debug log: log level is now debug '
fx_match "the line names the module rules it kept" "$(grep 'level is now debug' "$LOG")" \
	'module rules kept: cache=trace'
kill -USR2 "$PID"
fx_ok "second SIGUSR2: trace" fx_wait_line "$LOG" ' trace log: log level is now trace '
kill -USR2 "$PID"
fx_ok "third SIGUSR2: wraps to warn" fx_wait_line "$LOG" ' warn  log: log level is now warn '
fx_alive "after three SIGUSR2" "$PID" "$MNT"

# At warn, SIGHUP's info lines must be filtered out: the level really changed.
kill -HUP "$PID"
sleep 0.5
fx_eq "at warn, SIGHUP's info lines are filtered out" 0 "$(fx_count "$LOG" 'SIGHUP: reopening')"
fx_alive "SIGHUP (libfuse would unmount)" "$PID" "$MNT"
kill -USR2 "$PID"
fx_ok "fourth SIGUSR2: back to info" fx_wait_line "$LOG" ' info  log: log level is now info '

# -------------------------------------------------- SIGHUP: logrotate

mv "$LOG" "$LOG.1"
kill -HUP "$PID"
fx_ok "after mv log log.1 and SIGHUP, a fresh log file appears" \
	fx_wait_line "$LOG" 'log file reopened on SIGHUP'
fx_eq "the old file's last line announces the reopen" "1" \
	"$(tail -n 1 "$LOG.1" | grep -c 'SIGHUP: reopening the log file')"
fx_eq "the fresh file holds no line from before the rotation" 0 \
	"$(fx_count "$LOG" 'level is now|mounted ')"
fx_alive "after the rotation" "$PID" "$MNT"
fx_umount "$MNT" || fx_fail "unmount the first mount" "$FX_UMOUNT_OUT"
fx_eq "the daemon exits 0 at unmount" 0 "$FX_DAEMON_RC"
fx_eq "the unmount line went to the fresh file" 1 "$(fx_count "$LOG" 'unmounting ')"
fx_eq "and not to the rotated one" 0 "$(fx_count "$LOG.1" 'unmounting ')"

# ------------------------- daemonized, relative log path: reopen after chdir

# fuse_daemonize changes directory to /: a reopen by the relative name given
# would create /rel.log. The file must come back where it was.
MNT2=$FX_TMP/mnt-daemon
mkdir -p "$MNT2"
FX_MOUNTS+=("$MNT2")
fx_ok "daemonized mount with logfile=rel.log" timeout 30 "$RUSTFX_BIN" mount \
	-o "cache_dir=$FX_TMP/cache2,log_level=info,logfile=rel.log" "file://$BUCKET" "$MNT2"
fx_wait_mount "$MNT2" 10 up
DPID=""
for p in $(pgrep -f -- "$MNT2" 2>/dev/null); do
	[ "$p" != $$ ] && DPID=$p
done
if [ -z "$DPID" ]; then
	fx_fail "find the daemonized mount's pid" "$(pgrep -af -- "$MNT2")"
else
	fx_ok "the daemon logs to \$PWD/rel.log" fx_wait_line "$FX_TMP/rel.log" 'mounted '
	mv "$FX_TMP/rel.log" "$FX_TMP/rel.log.1"
	kill -HUP "$DPID"
	fx_ok "SIGHUP to the daemon recreates \$PWD/rel.log (not /rel.log)" \
		fx_wait_line "$FX_TMP/rel.log" 'log file reopened on SIGHUP'
	kill -USR2 "$DPID"
	fx_ok "SIGUSR2 to the daemon: debug" fx_wait_line "$FX_TMP/rel.log" 'log level is now debug'
	fx_alive "the daemonized mount after SIGHUP and SIGUSR2" "$DPID" "$MNT2"
fi
fx_umount "$MNT2" "" || fx_fail "unmount the daemonized mount" "$FX_UMOUNT_OUT"

# ----------------------------------------- SIGHUP without a log file: no-op

MNT3=$FX_TMP/mnt-stderr
mkdir -p "$MNT3"
"${FX_SIGDFL[@]}" "$RUSTFX_BIN" mount -f -o "cache_dir=$FX_TMP/cache3,log_level=info" \
	"file://$BUCKET" "$MNT3" </dev/null >"$FX_TMP/stderr.log" 2>&1 &
PID3=$!
FX_DAEMONS+=("$PID3")
FX_MOUNTS+=("$MNT3")
if fx_wait_mount "$MNT3" 10 up; then
	kill -HUP "$PID3"
	fx_ok "SIGHUP with logs on stderr says there is no file to reopen" \
		fx_wait_line "$FX_TMP/stderr.log" 'no log file to reopen'
	fx_alive "SIGHUP with logs on stderr" "$PID3" "$MNT3"
	fx_umount "$MNT3" "$PID3" || fx_fail "unmount the stderr mount" "$FX_UMOUNT_OUT"
	fx_eq "the stderr mount exits 0" 0 "$FX_DAEMON_RC"
else
	fx_fail "mount with logs on stderr" "$(tail -n 20 "$FX_TMP/stderr.log")"
fi

fx_finish
