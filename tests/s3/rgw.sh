#!/usr/bin/env bash
# rgw.sh - start and stop a real Ceph RADOS Gateway (S3) on 127.0.0.1 for the
# tests: a throw-away cluster of one monitor, one memstore OSD and one
# radosgw, all under DIR, from Debian's packages (Ceph 16, Pacific).
#
#   rgw.sh start DIR   install Ceph if needed (apt-get), build a new cluster
#                      in DIR, start it, create the user and the bucket, wait
#                      until a signed request succeeds, write DIR/env
#   rgw.sh stop DIR    stop radosgw, the OSD and the monitor, wait until all
#                      have exited (DIR and its logs are kept)
#   rgw.sh env DIR     print DIR/env
#
# DIR/env holds shell assignments, one a line:
#   S3_ENDPOINT=http://127.0.0.1:PORT  S3_REGION=us-east-1  S3_BUCKET=rustfx-test
#   S3_ACCESS_KEY=...  S3_SECRET_KEY=...  S3_KIND=rgw  S3_PID=<radosgw pid>
# Layout: DIR/ceph.conf, DIR/mon/mon.a, DIR/osd/osd.0, DIR/rgw,
# DIR/run/{mon,osd,rgw}.pid and admin sockets, DIR/log/*.log (Ceph's own
# logs) and DIR/log/*.out (the daemons' stdout and stderr), DIR/env.
# Nothing is read from or written to /etc/ceph or /var/lib/ceph.
#
# Owns: the three daemons and the cluster state in DIR. Does not own: DIR.
#
# Unlike s3rver, radosgw checks signatures (a wrong secret gets 403
# SignatureDoesNotMatch; no signature, 403 AccessDenied), computes multipart
# ETags as S3 does, and implements suffix ranges, delimiter listings and long
# key segments correctly: it is the reference server. Its own quirk (Ceph
# 16.2.15): the CompleteMultipartUpload answer has an empty <ETag></ETag>;
# HEAD or LIST the object for its "MD5-of-MD5s-N" ETag.
#
# Start takes ~2 s: "paxos propose interval" below is what brings it down
# from ~16 s (each pool that rgw creates waits for a monitor commit).
#
# Resources: ~135 MiB RSS for the three daemons when idle. The OSD keeps
# every object in RAM (memstore), up to FX_RGW_MEMSTORE_BYTES (default
# 4 GiB); past that the OSD drops writes and requests HANG until the client
# times out (they do not fail), so keep test data small. Data does not
# survive a stop: each start builds a new, empty cluster. Stop it when done.

# Each step of a start is "A && B || fail": fail runs when either fails.
# shellcheck disable=SC2015
set -u
# shellcheck disable=SC2034 # read by lib.sh
FX_S3_NAME=rgw
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FX_RGW_BUCKET=rustfx-test
FX_RGW_UID=rustfx
# Fixed test credentials: the cluster lives only on 127.0.0.1 for one test run.
FX_RGW_ACCESS_KEY=RUSTFXTESTACCESSKEY0
FX_RGW_SECRET_KEY=rustfxTestSecretKey0000000000000000000000
FX_RGW_REGION=us-east-1
# Each wait (monitor, OSD, gateway, bucket) is bounded by this many seconds.
FX_RGW_TIMEOUT=${FX_S3_START_TIMEOUT:-60}
FX_RGW_MEMSTORE_BYTES=${FX_RGW_MEMSTORE_BYTES:-4294967296}
# A ceph CLI call waits for the monitor forever unless bounded.
FX_RGW_CLI_TIMEOUT=30

# Settings from the caller's environment would point the tools elsewhere.
unset CEPH_ARGS CEPH_CONF

FX_RGW_DIR=""

fx_ceph() { timeout "$FX_RGW_CLI_TIMEOUT" ceph -c "$FX_RGW_DIR/ceph.conf" "$@"; }
fx_rgw_admin() { timeout "$FX_RGW_CLI_TIMEOUT" radosgw-admin -c "$FX_RGW_DIR/ceph.conf" "$@"; }

fx_rgw_fail() {
	local what=$1 why=$2
	shift 2
	fx_rgw_stop "$FX_RGW_DIR"
	fx_die "$FX_EX_UNAVAILABLE" "$what" "$why" \
		"read the logs in $FX_RGW_DIR/log; FX_S3_START_TIMEOUT=SECONDS allows a slower start" "$@"
}

fx_rgw_write_conf() {
	local d=$1 fsid=$2 mon_port=$3 rgw_port=$4
	cat >"$d/ceph.conf" <<EOF
# Written by tests/s3/rgw.sh for a throw-away test cluster; rewritten by each start.
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
mon initial members = a
public addr = 127.0.0.1
# Test cluster on the loopback only: no cephx.
auth cluster required = none
auth service required = none
auth client required = none
# Without it radosgw loops on an authentication error with the monitor.
ms mon client mode = crc secure
run dir = $d/run
admin socket = $d/run/\$name.asok
log file = $d/log/\$name.log
crash dir = $d/crash
keyring = $d/keyring
# One OSD: pools of one replica, few placement groups, no warnings about it.
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
# A nearly full disk must not stop the monitor: the data is in RAM.
mon data avail warn = 1
mon data avail crit = 1
# Commit map changes at once rather than once a second: rgw creates pools
# on its first bucket and its first object, and each waits for a commit.
paxos propose interval = 0.01
paxos min wait = 0.001

[mon]
mon data = $d/mon/\$name

[osd]
osd data = $d/osd/\$name
osd objectstore = memstore
memstore device bytes = $FX_RGW_MEMSTORE_BYTES

[client.rgw.a]
# tcp_nodelay: without it small responses wait ~40 ms for delayed ACKs.
rgw frontends = beast endpoint=127.0.0.1:$rgw_port tcp_nodelay=1
rgw data = $d/rgw
rgw thread pool size = 32
# Deleted large objects leave tail objects for the garbage collector, which
# by default waits 2 h; memstore would hold them in RAM all that time.
rgw gc obj min wait = 60
rgw gc processor period = 60
# Lifecycle workers run from 00:00 to 06:00 UTC and sleep in 5 s steps that
# delay every stop; the tests set no lifecycle rules.
rgw enable lc threads = false
EOF
}

fx_rgw_mon_ready() {
	fx_alive "$FX_RGW_DIR/run/mon.pid" || return "$FX_HOPELESS"
	fx_ceph mon stat >/dev/null 2>&1
}

fx_rgw_osd_ready() {
	fx_alive "$FX_RGW_DIR/run/osd.pid" || return "$FX_HOPELESS"
	fx_ceph osd stat 2>/dev/null | grep -q ' 1 up'
}

fx_rgw_http_ready() {
	fx_alive "$FX_RGW_DIR/run/rgw.pid" || return "$FX_HOPELESS"
	# Any HTTP answer (an anonymous listing gets 200 or 403) will do.
	curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$1/"
}

fx_rgw_s3() {
	S3_ACCESS_KEY=$FX_RGW_ACCESS_KEY S3_SECRET_KEY=$FX_RGW_SECRET_KEY S3_REGION=$FX_RGW_REGION \
		python3 "$FX_S3_REQ" -t 10 "$@"
}

fx_rgw_bucket_ready() {
	fx_alive "$FX_RGW_DIR/run/rgw.pid" || return "$FX_HOPELESS"
	fx_rgw_s3 PUT "http://127.0.0.1:$1/$FX_RGW_BUCKET" -o /dev/null 2>>"$FX_RGW_DIR/log/start.err" &&
		fx_rgw_s3 GET "http://127.0.0.1:$1/$FX_RGW_BUCKET?list-type=2&max-keys=1" \
			-o /dev/null 2>>"$FX_RGW_DIR/log/start.err"
}

fx_rgw_start() {
	local d=$1 fsid osd_uuid mon_port rgw_port
	mkdir -p "$d" || fx_die 1 "cannot create $d" "mkdir failed" "pass a writable directory"
	d=$(cd "$d" && pwd)
	FX_RGW_DIR=$d
	local n
	for n in mon osd rgw; do
		fx_alive "$d/run/$n.pid" &&
			fx_die "$FX_EX_TEMPFAIL" "Ceph already running in $d" "$n pid $(cat "$d/run/$n.pid")" \
				"stop it first: $0 stop $d"
	done
	fx_install_debs radosgw ceph-mon ceph-osd ceph-common curl python3

	# Every start is a new cluster: memstore lost the old one's data anyway.
	rm -rf "$d/mon" "$d/osd" "$d/rgw" "$d/run" "$d/crash" "$d/log" \
		"$d/ceph.conf" "$d/monmap" "$d/env"
	mkdir -p "$d/mon/mon.a" "$d/osd/osd.0" "$d/rgw" "$d/run" "$d/crash" "$d/log" ||
		fx_die 1 "cannot create the cluster in $d" "mkdir failed" "pass a writable directory"

	fsid=$(cat /proc/sys/kernel/random/uuid)
	osd_uuid=$(cat /proc/sys/kernel/random/uuid)
	mon_port=$(fx_free_port) && rgw_port=$(fx_free_port) ||
		fx_die "$FX_EX_UNAVAILABLE" "no free port on 127.0.0.1" "python3 could not bind one" \
			"check that python3 runs and the loopback interface is up"
	fx_rgw_write_conf "$d" "$fsid" "$mon_port" "$rgw_port"

	# Monitor.
	monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" \
		"$d/monmap" >"$d/log/mkfs.out" 2>&1 &&
		ceph-mon -c "$d/ceph.conf" -i a --mkfs --monmap "$d/monmap" >>"$d/log/mkfs.out" 2>&1 ||
		fx_rgw_fail "could not create the monitor" "monmaptool or ceph-mon --mkfs failed" \
			"$d/log/mkfs.out"
	fx_spawn "$d/run/mon.pid" "$d/log/mon.out" ceph-mon -f -c "$d/ceph.conf" -i a
	fx_wait_until "$FX_RGW_TIMEOUT" fx_rgw_mon_ready ||
		fx_rgw_fail "the Ceph monitor did not start" "no answer on 127.0.0.1:$mon_port" \
			"$d/log/mon.out" "$d/log/mon.a.log"

	# OSD: memstore keeps objects in RAM, so there is no disk to prepare.
	fx_ceph osd create "$osd_uuid" >>"$d/log/mkfs.out" 2>&1 &&
		ceph-osd -c "$d/ceph.conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$d/log/mkfs.out" 2>&1 ||
		fx_rgw_fail "could not create the OSD" "ceph osd create or ceph-osd --mkfs failed" \
			"$d/log/mkfs.out" "$d/log/osd.0.log"
	fx_spawn "$d/run/osd.pid" "$d/log/osd.out" ceph-osd -f -c "$d/ceph.conf" -i 0
	fx_wait_until "$FX_RGW_TIMEOUT" fx_rgw_osd_ready ||
		fx_rgw_fail "the Ceph OSD did not come up" "the monitor does not list osd.0 as up" \
			"$d/log/osd.out" "$d/log/osd.0.log"

	# Gateway.
	fx_spawn "$d/run/rgw.pid" "$d/log/rgw.out" radosgw -f -c "$d/ceph.conf" -n client.rgw.a
	fx_wait_until "$FX_RGW_TIMEOUT" fx_rgw_http_ready "$rgw_port" ||
		fx_rgw_fail "radosgw did not start" "no HTTP answer on 127.0.0.1:$rgw_port" \
			"$d/log/rgw.out" "$d/log/client.rgw.a.log"
	fx_rgw_admin user create --uid="$FX_RGW_UID" --display-name="$FX_RGW_UID" \
		--access-key="$FX_RGW_ACCESS_KEY" --secret-key="$FX_RGW_SECRET_KEY" \
		>"$d/log/user.out" 2>&1 ||
		fx_rgw_fail "could not create the radosgw user" "radosgw-admin user create failed" \
			"$d/log/user.out"
	fx_wait_until "$FX_RGW_TIMEOUT" fx_rgw_bucket_ready "$rgw_port" ||
		fx_rgw_fail "radosgw does not serve bucket $FX_RGW_BUCKET" \
			"a signed PUT or GET of the bucket keeps failing" \
			"$d/log/start.err" "$d/log/client.rgw.a.log"

	fx_write_env "$d" \
		"S3_ENDPOINT=http://127.0.0.1:$rgw_port" \
		"S3_REGION=$FX_RGW_REGION" \
		"S3_BUCKET=$FX_RGW_BUCKET" \
		"S3_ACCESS_KEY=$FX_RGW_ACCESS_KEY" \
		"S3_SECRET_KEY=$FX_RGW_SECRET_KEY" \
		"S3_KIND=rgw" \
		"S3_PID=$(cat "$d/run/rgw.pid")"
	fx_note "listening on http://127.0.0.1:$rgw_port (env in $d/env)"
}

# In order, each while the ones below it still answer: radosgw unregisters
# its watches from the OSD when it stops (and hangs if the OSD is gone), and
# the OSD waits up to 5 s for the monitor to acknowledge its stop.
fx_rgw_stop() {
	local d=$1
	rm -f "$d/env"
	fx_stop_pidfile "$d/run/rgw.pid" radosgw
	fx_stop_pidfile "$d/run/osd.pid" ceph-osd
	fx_stop_pidfile "$d/run/mon.pid" ceph-mon
}

[ $# -eq 2 ] || fx_usage
case $1 in
start) fx_rgw_start "$2" ;;
stop) fx_rgw_stop "$2" ;;
env) fx_print_env "$2" ;;
*) fx_usage ;;
esac
