#!/usr/bin/env bash
#
# test_cli.sh - the rustfx command-line contract: help, exit codes, the
# "error: / hint:" diagnostics, configuration layering (default, file, env),
# completion scripts, and commands that are announced but not yet there.
#
# Only the mount refusals touch FUSE, and they must fail before mounting, so
# this test never needs /dev/fuse and does not skip without it.

# Snippets in single quotes are expanded by the shell that runs them.
# shellcheck disable=SC2016
# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fx_setup

BUCKET=$FX_TMP/bucket
MNT=$FX_TMP/mnt
mkdir -p "$BUCKET" "$MNT"
# Anything that does mount by mistake is unmounted by the EXIT trap.
FX_MOUNTS+=("$MNT")

# fx_diag DESC: the last fx_run printed a diagnostic: a line starting
# "error:" and one starting "hint:" on stderr.
fx_diag() {
	if printf '%s\n' "$FX_ERR" | grep -q '^error:' &&
		printf '%s\n' "$FX_ERR" | grep -q '^hint:'; then
		fx_pass "$1: error: and hint: lines on stderr"
	else
		fx_fail "$1: error: and hint: lines on stderr" "$(fx_ctx)"
	fi
}

# fx_nothing_mounted DESC: no mount anywhere under this run's scratch root.
fx_nothing_mounted() {
	if grep -q " $FX_TMP" /proc/mounts; then
		fx_fail "$1: nothing is mounted" "$(grep " $FX_TMP" /proc/mounts)"
	else
		fx_pass "$1: nothing is mounted"
	fi
}

# A bounded run: a command that should refuse at once must not hang a test.
rfx() { timeout 30 "$RUSTFX_BIN" "$@"; }

# ---------------------------------------------------------------- help

fx_status "rustfx --help exits 0" 0 rfx --help
help=$FX_OUT$FX_ERR
for cmd in mount umount health sync config completion; do
	fx_match "--help lists the '$cmd' command" "$help" "^ +$cmd\\b"
done
fx_match "--help lists -c, --config" "$help" '-c, --config'
fx_match "--help lists -v, --verbose" "$help" '-v, --verbose'
fx_match "--help lists --json" "$help" '--json'

for cmd in umount config completion stats cache sim brain; do
	fx_status "rustfx $cmd --help exits 0" 0 rfx "$cmd" --help
	fx_match "... and prints its usage" "$FX_OUT" "usage: rustfx $cmd"
done

fx_status "rustfx mount --help exits 0" 0 rfx mount --help
mhelp=$FX_OUT$FX_ERR
for opt in ro allow_other default_permissions uid gid umask attr_timeout entry_timeout \
	negative_timeout cache_dir log_level logfile; do
	fx_match "mount --help lists -o $opt" "$mhelp" "\\b$opt\\b"
done

fx_status "rustfx with no command exits 2" 2 rfx
fx_diag "no command"

# ---------------------------------------------------- invalid input → 2

fx_status "unknown command exits 2" 2 rfx frobnicate
fx_diag "unknown command"
fx_status "unknown global flag exits 2" 2 rfx --no-such-flag config print
fx_diag "unknown global flag"

missing=$FX_TMP/no-such-dir
fx_status "mount with a missing mount point exits 2" 2 rfx mount "file://$BUCKET" "$missing"
fx_diag "missing mount point"
fx_ok "missing mount point was not created" test ! -e "$missing"
fx_nothing_mounted "missing mount point"

fx_status "mount of ftp://x exits 2" 2 rfx mount ftp://x "$MNT"
fx_diag "bad URL scheme"
fx_nothing_mounted "bad URL scheme"

fx_status "mount with a missing bucket dir exits 2" 2 rfx mount "file://$FX_TMP/no-bucket" "$MNT"
fx_diag "missing bucket dir"
fx_nothing_mounted "missing bucket dir"

fx_status "mount with -o cache_dri=x exits 2" 2 rfx mount -o cache_dri=x "file://$BUCKET" "$MNT"
fx_diag "misspelt -o option"
fx_match "the hint suggests cache_dir" "$(printf '%s\n' "$FX_ERR" | grep '^hint:')" 'cache_dir'
fx_nothing_mounted "misspelt -o option"

fx_status "mount with -o umask=99z exits 2" 2 rfx mount -o umask=99z "file://$BUCKET" "$MNT"
fx_diag "bad -o value"
fx_nothing_mounted "bad -o value"

fx_status "mount with one argument exits 2" 2 rfx mount "file://$BUCKET"
fx_diag "mount with one argument"

fx_run rfx umount "$MNT"
fx_eq "umount of a directory that is not mounted fails" yes "$([ "$FX_RC" -ne 0 ] && echo yes || echo no)"
fx_match "umount of a non-mount says error:" "$FX_ERR" '^error:'

# --------------------------------------------------------- configuration

fx_status "config print exits 0" 0 rfx config print
fx_match "config print: concurrency = 32 from the default" "$FX_OUT" \
	'^concurrency = 32 +# default'
fx_match "config print is grouped in TOML tables" "$FX_OUT" '^\[io\]'

fx_status "config print with RUSTFX_IO_CONCURRENCY=8 exits 0" 0 \
	env RUSTFX_IO_CONCURRENCY=8 timeout 30 "$RUSTFX_BIN" config print
fx_match "env layer: concurrency = 8, source env" "$FX_OUT" '^concurrency = 8 +# env'
fx_match "env layer names the variable" "$FX_OUT" 'RUSTFX_IO_CONCURRENCY'

conf=$FX_TMP/good.toml
printf '[io]\nconcurrency = 4\n' >"$conf"
fx_status "config print -c file exits 0" 0 rfx -c "$conf" config print
fx_match "file layer: concurrency = 4, source file" "$FX_OUT" '^concurrency = 4 +# file'
fx_match "file layer names the file" "$FX_OUT" "$conf"
fx_status "config print with --config file exits 0" 0 rfx --config "$conf" config print
fx_match "--config works like -c" "$FX_OUT" '^concurrency = 4 +# file'

fx_status "env beats file" 0 env RUSTFX_IO_CONCURRENCY=8 timeout 30 "$RUSTFX_BIN" -c "$conf" config print
fx_match "env beats file: concurrency = 8" "$FX_OUT" '^concurrency = 8 +# env'

fx_status "RUSTFX_CONFIG=file works like -c" 0 env RUSTFX_CONFIG="$conf" timeout 30 "$RUSTFX_BIN" config print
fx_match "RUSTFX_CONFIG: concurrency = 4 from the file" "$FX_OUT" '^concurrency = 4 +# file'

(cd "$FX_TMP" && cp "$conf" rustfx.toml)
fx_status "./rustfx.toml is found" 0 rfx config print
fx_match "./rustfx.toml: concurrency = 4 from the file" "$FX_OUT" '^concurrency = 4 +# file'
rm -f "$FX_TMP/rustfx.toml"

bad=$FX_TMP/bad.toml
printf '# a comment\n[io]\nconcurrency = 4\nconcurency = 5\n' >"$bad"
fx_status "a bad TOML key exits 2" 2 rfx -c "$bad" config print
fx_diag "bad TOML key"
fx_match "the error names the file" "$FX_ERR" "$bad"
fx_match "the error names line 4" "$FX_ERR" "$bad:4|line 4"
fx_match "the hint suggests concurrency" "$FX_ERR" '^hint:.*concurrency'

printf '[io]\nconcurrency = "many"\n' >"$bad"
fx_status "a badly typed TOML value exits 2" 2 rfx -c "$bad" config print
fx_diag "badly typed TOML value"
fx_match "the error names the file and line 2" "$FX_ERR" "$bad:2|$bad.*line 2"

fx_status "a missing -c file exits 2" 2 rfx -c "$FX_TMP/absent.toml" config print
fx_diag "missing -c file"

fx_status "an unknown RUSTFX_ variable exits 2" 2 env RUSTFX_IO_CONCURENCY=8 timeout 30 "$RUSTFX_BIN" config print
fx_diag "unknown RUSTFX_ variable"
fx_status "an out-of-range env value exits 2" 2 env RUSTFX_IO_CONCURRENCY=-5 timeout 30 "$RUSTFX_BIN" config print
fx_diag "out-of-range env value"

fx_status "RUST_LOG=bogus=nope exits 2" 2 env RUST_LOG=bogus=nope timeout 30 "$RUSTFX_BIN" config print
fx_status "RUST_LOG=fs=debug is accepted" 0 env RUST_LOG=fs=debug timeout 30 "$RUSTFX_BIN" config print
fx_status "-v and -vv are accepted" 0 rfx -vv config print

json_check='import json,sys; d=json.load(sys.stdin); c=d["io"]["concurrency"]; assert c["value"]==32 and c["source"]=="default", c'
fx_status "config print --json exits 0" 0 rfx config print --json
json=$FX_OUT # each fx_ok below replaces FX_OUT
fx_ok "config print --json parses with python3 -m json.tool" \
	bash -c 'printf "%s" "$1" | python3 -m json.tool >/dev/null' _ "$json"
fx_ok "config print --json: io.concurrency is 32 from default" \
	bash -c 'printf "%s" "$1" | python3 -c "$2"' _ "$json" "$json_check"
fx_status "rustfx --json config print exits 0" 0 rfx --json config print
json=$FX_OUT
fx_ok "global --json works before the command" \
	bash -c 'printf "%s" "$1" | python3 -c "$2"' _ "$json" "$json_check"

# ------------------------------------------------------------ completion

fx_status "completion bash exits 0" 0 rfx completion bash
printf '%s\n' "$FX_OUT" >"$FX_TMP/rustfx.bash"
fx_ok "bash completion passes bash -n" bash -n "$FX_TMP/rustfx.bash"
fx_ok "bash completion can be sourced and registers for rustfx" \
	bash -c 'source "$1" && complete -p rustfx' _ "$FX_TMP/rustfx.bash"
for sh in zsh fish; do
	fx_status "completion $sh exits 0" 0 rfx completion "$sh"
	fx_match "completion $sh is non-empty and mentions mount" "$FX_OUT" 'mount'
done
fx_status "completion for an unknown shell exits 2" 2 rfx completion tcsh
fx_diag "unknown shell"

# ------------------------------------------ health and sync: bad input is 2

fx_status "rustfx sync with no arguments exits 2" 2 rfx sync
fx_diag "rustfx sync with no arguments"
fx_status "rustfx health with a bad URL exits 2" 2 rfx health 'nosuch://x'
fx_diag "rustfx health with a bad URL"

fx_nothing_mounted "after all CLI checks"
fx_finish
