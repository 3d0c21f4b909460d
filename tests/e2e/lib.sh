# shellcheck shell=bash
# Sourced library for cloudlet's end-to-end tests (tests/e2e/test_*.sh) and bench/switch.sh: skipping rules,
# unique names, registered cleanup of namespaces/interfaces/processes, bounded waits, connectivity checks,
# a private Open vSwitch userspace instance, and tshark captures. See tests/e2e/README.md.
#
# Works under `set -euo pipefail`. Every wait is bounded. Cleanup runs once, from one EXIT/INT/TERM trap, in the
# reverse order of registration (processes started after a namespace are ended before it is deleted).

if [[ -n "${E2E_LIB_LOADED:-}" ]]; then return 0; fi
E2E_LIB_LOADED=1

E2E_ID=$$                      # unique per run: every name we create starts with it
E2E_CLEANUP=()                 # stack of commands (strings), run last-in first-out by e2e_cleanup
E2E_LAST_PID=""                # PID of the most recent e2e_bg / tshark_capture
E2E_TMP=""                     # private temp dir of this run (below)
E2E_VERBOSE=${E2E_VERBOSE:-0}  # 1: print every registered cleanup step

e2e_log() { echo "[e2e $(date +%H:%M:%S)] $*" >&2; }

# ---------------------------------------------------------------------------------------------------------------
# Outcome helpers. Exit codes: 0 pass, 1 fail, 77 skip (ctest's SKIP_RETURN_CODE).

pass() {
  echo "PASS: ${*:-$(basename "$0")}"
  exit 0
}

# fail MSG: prints the message and the context that usually explains it (namespaces, links, OVS state), exits 1.
fail() {
  echo "FAIL: $*" >&2
  e2e_context >&2 || true
  exit 1
}

skip() {
  echo "SKIP: $*"
  exit 77
}

# assert_eq EXPECTED ACTUAL [WHAT]
assert_eq() {
  local expected=$1 actual=$2 what=${3:-value}
  if [[ "$expected" != "$actual" ]]; then
    fail "$what: expected '$expected', got '$actual'"
  fi
}

# Prints what a failing test most likely needs to see. Best effort, never fails.
e2e_context() {
  echo "---- context (run id $E2E_ID) ----"
  echo "namespaces of this run:"
  ip netns list 2>/dev/null | grep -- "$E2E_ID" | sed 's/^/  /' || true
  echo "host links of this run:"
  ip -br link 2>/dev/null | grep -- "$E2E_ID" | sed 's/^/  /' || true
  if [[ -n "${OVS_DIR:-}" && -S "${OVS_DIR}/db.sock" ]]; then
    echo "ovs-vsctl show:"
    ovs_vsctl show 2>&1 | sed 's/^/  /' || true
    echo "ovs-vswitchd.log (last 15 lines):"
    tail -n 15 "${OVS_DIR}/ovs-vswitchd.log" 2>/dev/null | sed 's/^/  /' || true
  fi
  if [[ -n "${CLOUDLET_LOG:-}" && -f "${CLOUDLET_LOG}" ]]; then
    echo "cloudlet daemon log (last 20 lines):"
    tail -n 20 "$CLOUDLET_LOG" 2>/dev/null | sed 's/^/  /' || true
  fi
  echo "----"
}

# ---------------------------------------------------------------------------------------------------------------
# Preconditions.

# require_root: skip (77) when not root — namespaces, veths and OVS all need it.
require_root() {
  if [[ $(id -u) -ne 0 ]]; then
    skip "needs root (network namespaces, veth pairs, Open vSwitch)"
  fi
}

# require_cmd TOOL...: a missing tool skips the test on a developer machine, but fails it in CI (CI=true),
# where scripts/install-deps.sh must have installed everything.
require_cmd() {
  local missing=() tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  if [[ "${CI:-}" == "true" ]]; then
    echo "FAIL: missing tools in CI: ${missing[*]} (scripts/install-deps.sh should install them)" >&2
    exit 1
  fi
  skip "missing tools: ${missing[*]} (run scripts/install-deps.sh)"
}

# ---------------------------------------------------------------------------------------------------------------
# Cleanup registry.

# e2e_defer CMD: registers a command string to run at exit (LIFO).
e2e_defer() {
  E2E_CLEANUP+=("$*")
}

e2e_cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  set +e
  for ((i = ${#E2E_CLEANUP[@]} - 1; i >= 0; i--)); do
    [[ "$E2E_VERBOSE" == 1 ]] && e2e_log "cleanup: ${E2E_CLEANUP[i]}"
    eval "${E2E_CLEANUP[i]}" >/dev/null 2>&1
  done
  E2E_CLEANUP=()
  return $rc
}

# e2e_unwind MARK: runs (LIFO) and forgets the cleanup steps registered since MARK=${#E2E_CLEANUP[@]} was taken,
# to tear down one stage of a test early (e.g. one switch variant of a benchmark) and keep the rest.
e2e_unwind() {
  local mark=$1 i
  for ((i = ${#E2E_CLEANUP[@]} - 1; i >= mark; i--)); do
    [[ "$E2E_VERBOSE" == 1 ]] && e2e_log "unwind: ${E2E_CLEANUP[i]}"
    eval "${E2E_CLEANUP[i]}" >/dev/null 2>&1 || true
    unset 'E2E_CLEANUP[i]'
  done
  return 0
}

e2e_on_exit() {
  local rc=$?
  e2e_cleanup
  exit $rc
}
e2e_on_signal() {
  e2e_log "interrupted; cleaning up"
  e2e_cleanup
  exit 130
}
trap e2e_on_exit EXIT
trap e2e_on_signal INT TERM

# Made here, not lazily, so that no caller can create it inside $(...) where its cleanup would be lost.
E2E_TMP=$(mktemp -d "/tmp/cloudlet-e2e.${E2E_ID}.XXXXXX")
e2e_defer "rm -rf '$E2E_TMP'"

# e2e_kill_pid PID [GRACE_SECONDS]: TERM, wait up to GRACE (default 5 s), then KILL; reaps it if it is our child.
e2e_kill_pid() {
  local pid=$1 grace=${2:-5} deadline
  [[ -z "$pid" ]] && return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + grace))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------------------------
# Names, temp dirs, namespaces, links, processes.

# e2e_name SUFFIX: a name unique to this run, short enough for an interface (<= 15 chars).
e2e_name() {
  local name="t${E2E_ID}${1}"
  if ((${#name} > 15)); then
    echo "e2e_name: '$name' is longer than 15 characters (IFNAMSIZ); use a shorter suffix" >&2
    return 1
  fi
  echo "$name"
}

# e2e_tmpdir: prints this run's private temp dir ($E2E_TMP, made when the library is sourced, removed at exit).
e2e_tmpdir() { echo "$E2E_TMP"; }

# netns_add NAME: creates a namespace with loopback up; deleted at exit.
netns_add() {
  local ns=$1
  ip netns add "$ns"
  e2e_defer "ip netns del '$ns'"
  ip -n "$ns" link set lo up
}

# link_register NAME [NS]: deletes an interface at exit (deleting one end of a veth removes both).
link_register() {
  local ifname=$1 ns=${2:-}
  if [[ -n "$ns" ]]; then
    e2e_defer "ip -n '$ns' link del '$ifname'"
  else
    e2e_defer "ip link del '$ifname'"
  fi
}

# veth_pair A B [NS_A [NS_B]]: creates a veth pair, moves each end into its namespace ("" = host), sets both up
# and turns off IPv6 on them (no router solicitations in captures). Registered for deletion.
veth_pair() {
  local a=$1 b=$2 ns_a=${3:-} ns_b=${4:-} end ns
  ip link add "$a" type veth peer name "$b"
  link_register "$a"
  [[ -n "$ns_a" ]] && ip link set "$a" netns "$ns_a"
  [[ -n "$ns_b" ]] && ip link set "$b" netns "$ns_b"
  for end in "$a:$ns_a" "$b:$ns_b"; do
    ns=${end#*:}
    e2e_in_ns "$ns" sysctl -qw "net.ipv6.conf.${end%%:*}.disable_ipv6=1" >/dev/null 2>&1 || true
    e2e_in_ns "$ns" ip link set "${end%%:*}" up
  done
  # The end moved into a namespace is now deleted with that namespace; the host-side registration is harmless.
}

# e2e_in_ns NS CMD...: runs CMD in NS, or on the host when NS is "".
e2e_in_ns() {
  local ns=$1
  shift
  if [[ -n "$ns" ]]; then ip netns exec "$ns" "$@"; else "$@"; fi
}

# ns_endpoint NS HOST_IF ADDR/PREFIX [--no-tx-offload]: a namespace NS with interface eth0 (peer of HOST_IF on the
# host) carrying ADDR. --no-tx-offload turns off TX checksum offload inside NS — needed behind OVS's userspace
# datapath, which forwards partial checksums as they are and TCP then stalls on bad checksums.
ns_endpoint() {
  local ns=$1 host_if=$2 addr=$3 opt=${4:-} tmp_if
  netns_add "$ns"
  tmp_if="${host_if}p"
  [[ ${#tmp_if} -gt 15 ]] && tmp_if="${host_if:0:14}p"
  veth_pair "$host_if" "$tmp_if" "" "$ns"
  ip -n "$ns" link set "$tmp_if" down
  ip -n "$ns" link set "$tmp_if" name eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" addr add "$addr" dev eth0
  if [[ "$opt" == "--no-tx-offload" ]]; then
    ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null
  fi
}

# e2e_bg LOGFILE CMD...: runs CMD in the background with output to LOGFILE, ended by PID at exit.
# Sets E2E_LAST_PID (don't call it in $(...): the registration would be lost with the subshell). CMD must be a
# program, not a shell function, so that the PID is the program's own.
e2e_bg() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  E2E_LAST_PID=$!
  e2e_defer "e2e_kill_pid $E2E_LAST_PID"
}

# wait_for COND_CMD TIMEOUT_SECONDS: polls COND_CMD (a string, eval'd) every 0.1 s until it succeeds; returns 1
# on timeout.
wait_for() {
  local cond=$1 timeout=${2:-10} deadline
  deadline=$(($(date +%s%N) + timeout * 1000000000))
  while true; do
    if eval "$cond" >/dev/null 2>&1; then return 0; fi
    if (($(date +%s%N) >= deadline)); then return 1; fi
    sleep 0.1
  done
}

# ---------------------------------------------------------------------------------------------------------------
# Connectivity checks (bounded; they return a status rather than failing the test).

# ns_ping NS ADDR: two pings, one second each.
ns_ping() {
  local ns=$1 addr=$2
  timeout 10 ip netns exec "$ns" ping -n -q -c 2 -W 1 "$addr" >/dev/null 2>&1
}

# ns_tcp_check NS_SERVER ADDR NS_CLIENT [BYTES]: sends BYTES (default 1 MiB) of random data over TCP from
# NS_CLIENT to a listener on ADDR in NS_SERVER and checks that every byte arrived intact. Bounded to ~15 s.
ns_tcp_check() {
  local ns_srv=$1 addr=$2 ns_cli=$3 bytes=${4:-1048576} dir port srv_pid rc=0
  dir=$E2E_TMP
  port=$((20000 + RANDOM % 20000))
  head -c "$bytes" /dev/urandom >"$dir/tcp_send.$port"
  timeout 15 ip netns exec "$ns_srv" nc -l -n -w 10 "$addr" "$port" >"$dir/tcp_recv.$port" 2>/dev/null &
  srv_pid=$!
  if ! wait_for "ip netns exec '$ns_srv' ss -Htln 'sport = :$port' | grep -q ." 5; then
    e2e_kill_pid "$srv_pid" 1
    e2e_log "ns_tcp_check: listener on $addr:$port in $ns_srv did not start"
    return 1
  fi
  timeout 12 ip netns exec "$ns_cli" nc -n -N -w 10 "$addr" "$port" <"$dir/tcp_send.$port" >/dev/null 2>&1 || rc=1
  # The listener exits when the client closes; give it a bounded moment.
  wait_for "! kill -0 $srv_pid" 5 || true
  e2e_kill_pid "$srv_pid" 1
  if [[ $rc -ne 0 ]] || ! cmp -s "$dir/tcp_send.$port" "$dir/tcp_recv.$port"; then
    e2e_log "ns_tcp_check: $ns_cli -> $addr:$port in $ns_srv: sent $bytes bytes, received $(stat -c %s "$dir/tcp_recv.$port" 2>/dev/null || echo 0)"
    rc=1
  fi
  rm -f "$dir/tcp_send.$port" "$dir/tcp_recv.$port"
  return $rc
}

# ---------------------------------------------------------------------------------------------------------------
# Open vSwitch, userspace datapath, private instance. Never touches a system instance: the database, sockets,
# pidfiles and logs all live in DIR, and OVS_RUNDIR/OVS_DBDIR/OVS_LOGDIR point there so ovs-vsctl/ovs-appctl do too.

OVS_DIR=""
OVS_DB_PID=""
OVS_SWITCHD_PID=""

ovs_vsctl() { ovs-vsctl --timeout=10 --db="unix:${OVS_DIR}/db.sock" "$@"; }
ovs_appctl() {
  local target=$1
  shift
  timeout 10 ovs-appctl -t "${OVS_DIR}/${target}.ctl" "$@"
}

# ovs_start DIR: starts ovsdb-server and ovs-vswitchd (netdev datapath only; no kernel module needed).
ovs_start() {
  local dir=$1 schema=/usr/share/openvswitch/vswitch.ovsschema
  mkdir -p "$dir"
  OVS_DIR=$(cd "$dir" && pwd)
  export OVS_RUNDIR=$OVS_DIR OVS_DBDIR=$OVS_DIR OVS_LOGDIR=$OVS_DIR OVS_SYSCONFDIR=$OVS_DIR
  [[ -r $schema ]] || fail "ovs_start: OVS schema $schema missing (openvswitch-common)"
  rm -f "$OVS_DIR/conf.db"
  ovsdb-tool create "$OVS_DIR/conf.db" "$schema"
  # Started as our children (no --detach) so they are ended and reaped by PID.
  ovsdb-server "$OVS_DIR/conf.db" --remote="punix:$OVS_DIR/db.sock" --pidfile="$OVS_DIR/ovsdb-server.pid" \
    --unixctl="$OVS_DIR/ovsdb-server.ctl" --log-file="$OVS_DIR/ovsdb-server.log" >/dev/null 2>&1 &
  OVS_DB_PID=$!
  e2e_defer "ovs_stop"
  wait_for "[[ -S '$OVS_DIR/db.sock' ]]" 10 || fail "ovs_start: ovsdb-server did not create $OVS_DIR/db.sock"
  ovs_vsctl --no-wait init
  ovs-vswitchd "unix:$OVS_DIR/db.sock" --pidfile="$OVS_DIR/ovs-vswitchd.pid" \
    --unixctl="$OVS_DIR/ovs-vswitchd.ctl" --log-file="$OVS_DIR/ovs-vswitchd.log" >/dev/null 2>&1 &
  OVS_SWITCHD_PID=$!
  wait_for "ovs_appctl ovs-vswitchd version" 10 || fail "ovs_start: ovs-vswitchd did not answer on its control socket"
  # Without --no-wait, ovs-vsctl returns only once ovs-vswitchd has applied the change (cur_cfg = next_cfg).
  ovs_vsctl set open_vswitch . external_ids:e2e-run="$E2E_ID" >/dev/null ||
    fail "ovs_start: ovs-vswitchd did not catch up with the database"
}

# ovs_add_bridge NAME: a bridge on the userspace datapath.
ovs_add_bridge() {
  ovs_vsctl add-br "$1" -- set bridge "$1" datapath_type=netdev
}

# ovs_stop: deletes our bridges (so their tap devices go away), then ends both daemons by PID.
ovs_stop() {
  [[ -z "$OVS_DIR" ]] && return 0
  local br
  if [[ -n "$OVS_SWITCHD_PID" ]] && kill -0 "$OVS_SWITCHD_PID" 2>/dev/null; then
    for br in $(ovs_vsctl list-br 2>/dev/null); do ovs_vsctl del-br "$br" >/dev/null 2>&1 || true; done
    ovs_appctl ovs-vswitchd exit >/dev/null 2>&1 || true
  fi
  e2e_kill_pid "$OVS_SWITCHD_PID" 5
  if [[ -n "$OVS_DB_PID" ]] && kill -0 "$OVS_DB_PID" 2>/dev/null; then
    ovs_appctl ovsdb-server exit >/dev/null 2>&1 || true
  fi
  e2e_kill_pid "$OVS_DB_PID" 5
  OVS_SWITCHD_PID=""
  OVS_DB_PID=""
  unset OVS_RUNDIR OVS_DBDIR OVS_LOGDIR OVS_SYSCONFDIR
}

# ---------------------------------------------------------------------------------------------------------------
# tshark.

# tshark_capture IFACE FILE [NS]: captures on IFACE (in NS, if given) into FILE in the background until
# tshark_stop (or at most E2E_CAPTURE_MAX seconds, default 120). Returns once the capture is running.
# Sets E2E_LAST_PID and TSHARK_PID.
TSHARK_PID=""
tshark_capture() {
  local iface=$1 file=$2 ns=${3:-} log prefix=()
  log="${file}.log"
  # `ip netns exec` execs tshark, so the PID we keep is tshark's own.
  [[ -n "$ns" ]] && prefix=(ip netns exec "$ns")
  e2e_bg "$log" "${prefix[@]}" tshark -n -i "$iface" -w "$file" -q -a "duration:${E2E_CAPTURE_MAX:-120}"
  TSHARK_PID=$E2E_LAST_PID
  # dumpcap has opened the interface once tshark says so.
  if ! wait_for "grep -q 'Capturing on' '$log'" 10; then
    cat "$log" >&2 || true
    fail "tshark_capture: capture on $iface did not start"
  fi
  sleep 0.3  # the message comes just before the socket is bound; don't lose the first frames
}

# tshark_stop [PID]: ends a capture cleanly (the file is complete when this returns).
tshark_stop() {
  local pid=${1:-$TSHARK_PID}
  [[ -z "$pid" ]] && return 0
  sleep 0.3  # let frames in flight reach the capture
  kill -INT "$pid" 2>/dev/null || true
  e2e_kill_pid "$pid" 5
}

# ---------------------------------------------------------------------------------------------------------------
# cloudlet itself: a private daemon per test (own socket and state dir in $E2E_TMP), the CLI pointed at it,
# status JSON queries, the names of the interfaces cloudlet derives, and host snapshots. The test sets CLOUDLET
# (the binary, usually "$1") before calling these.

CLOUDLET_SOCKET=""
CLOUDLET_STATE_DIR=""
CLOUDLET_PID=""
CLOUDLET_LOG=""

# cl ARGS...: the cloudlet CLI talking to this run's daemon.
cl() { "$CLOUDLET" --socket "$CLOUDLET_SOCKET" "$@"; }

# cloudlet_daemon_start [SOCKET [STATE_DIR [LOG]]]: starts `cloudlet daemon` in the foreground as a registered
# background process (ended by PID at exit) and waits until it answers on its socket. Defaults live in $E2E_TMP.
# Sets CLOUDLET_PID. Call it directly, never in $(...).
cloudlet_daemon_start() {
  : "${CLOUDLET:?set CLOUDLET to the cloudlet binary before cloudlet_daemon_start}"
  CLOUDLET_SOCKET=${1:-$E2E_TMP/cloudlet.sock}
  CLOUDLET_STATE_DIR=${2:-$E2E_TMP/state}
  CLOUDLET_LOG=${3:-$E2E_TMP/daemon.log}
  e2e_bg "$CLOUDLET_LOG" "$CLOUDLET" --socket "$CLOUDLET_SOCKET" daemon --state-dir "$CLOUDLET_STATE_DIR"
  CLOUDLET_PID=$E2E_LAST_PID
  if ! wait_for "[[ -S '$CLOUDLET_SOCKET' ]] && cl status >/dev/null 2>&1" 15; then
    kill -0 "$CLOUDLET_PID" 2>/dev/null || e2e_log "cloudlet daemon (pid $CLOUDLET_PID) exited"
    fail "cloudlet daemon did not answer on $CLOUDLET_SOCKET within 15 s"
  fi
}

# cloudlet_daemon_stop [SIGNAL]: ends this run's daemon (TERM with a 10 s grace by default, or KILL) and reaps it.
cloudlet_daemon_stop() {
  local sig=${1:-TERM}
  [[ -z "$CLOUDLET_PID" ]] && return 0
  if [[ "$sig" == KILL ]]; then
    kill -KILL "$CLOUDLET_PID" 2>/dev/null || true
    wait "$CLOUDLET_PID" 2>/dev/null || true
  else
    e2e_kill_pid "$CLOUDLET_PID" 10
  fi
}

# cloudlet_down_at_exit FILE: registers a best-effort `cloudlet down FILE` (runs before the daemon is ended, since
# cleanup is last-in first-out and the daemon was registered earlier).
cloudlet_down_at_exit() {
  e2e_defer "timeout 30 '$CLOUDLET' --socket '$CLOUDLET_SOCKET' down '$1'"
}

# status_json: this run's daemon's status as JSON on stdout.
status_json() { cl status --format json; }

# json_eval EXPR: evaluates a Python expression with `s` bound to the JSON read from stdin; prints the result
# (lists/dicts as JSON, strings as they are). Helpers available in EXPR: sw(name), port(sw, name), vlan(sw, id).
json_eval() {
  python3 -c '
import json, sys
s = json.load(sys.stdin)
def sw(name):
    return next(x for x in s.get("switches", []) if x.get("name") == name)
def port(swname, name):
    return next(p for p in sw(swname).get("ports", []) if p.get("name") == name)
def vlan(swname, vid):
    return next(v for v in sw(swname).get("vlans", []) if v.get("id") == vid)
r = eval("(" + sys.argv[1] + "\n)")
print(r if isinstance(r, str) else json.dumps(r))
' "$1"
}

# cloudlet_ifname endpoint|link PROJECT NAME [SIDE]: the host interface name cloudlet derives for an endpoint's veth
# ("clp-" + 8 hex) or one end of a link ("cll-" + 8 hex + a|b); PROJECT is the YAML file's absolute path. Mirrors
# src/control/naming.cc (FNV-1a over kind NUL project NUL name), so a test can clean up even after a failed `up`.
cloudlet_ifname() {
  python3 - "$@" <<'PY'
import sys
kind, project, name = sys.argv[1:4]
side = sys.argv[4] if len(sys.argv) > 4 else ""
h = 2166136261
for c in (kind + "\0" + project + "\0" + name).encode():
    h = ((h ^ c) * 16777619) & 0xFFFFFFFF
print(("clp-" if kind == "endpoint" else "cll-") + "%08x" % h + side)
PY
}

# cloudlet_own PROJECT [endpoint:NAME[:NETNS] | link:NAME]...: registers deletion at exit of what cloudlet would
# create for these declarations (host veth ends; an endpoint's namespace when NETNS is given), in case the test
# fails before `down` or `down` itself is broken. Harmless when they are already gone.
cloudlet_own() {
  local project=$1 item kind rest name netns
  shift
  for item in "$@"; do
    kind=${item%%:*} rest=${item#*:}
    name=${rest%%:*} netns=""
    [[ "$rest" == *:* ]] && netns=${rest#*:}
    if [[ "$kind" == endpoint ]]; then
      link_register "$(cloudlet_ifname endpoint "$project" "$name")"
      [[ -n "$netns" ]] && e2e_defer "ip netns del '$netns'"
    else
      link_register "$(cloudlet_ifname link "$project" "$name" a)"
      link_register "$(cloudlet_ifname link "$project" "$name" b)"
    fi
  done
}

# host_snapshot REGEX: a stable text picture of the host parts matching REGEX (link names, e.g. this run's id and
# the names cloudlet derives for this run): host links as "ifindex name", namespaces whose names match, and every
# link and address inside them. Two equal snapshots mean nothing that matters to the test changed.
host_snapshot() {
  local re=$1 ns
  echo "# host links"
  ip -o link show | awk -F': ' '{split($2, n, "@"); print $1, n[1]}' | grep -E -- "$re" | sort -k2 || true
  echo "# namespaces"
  ip netns list | awk '{print $1}' | grep -E -- "$re" | sort || true
  for ns in $(ip netns list | awk '{print $1}' | grep -E -- "$re" | sort); do
    echo "# netns $ns links"
    ip -n "$ns" -o link show | awk -F': ' '{split($2, n, "@"); print $1, n[1]}' | sort -k2 || true
    echo "# netns $ns addresses"
    ip -n "$ns" -o addr show | awk '{print $2, $3, $4}' | sort || true
  done
}
