#!/usr/bin/env bash
# Containers declared in the YAML run under the daemon. A busybox image in a private store (`image import
# --busybox`); web1 and web2 serve HTTP on VLAN 10, probe sits on VLAN 20 (the router is both VLANs' gateway and its
# firewall drops new connections between zones), flap exits 3 at once (restart: on-failure), once exits 0 (restart:
# on-failure), bg prints 12 MB. Proves: `up` starts them; web1 fetches a page from web2 (container exec + busybox nc)
# and probe cannot; `container ls` and `status` show them running; `logs` shows what web1 printed; `stop` stops web2
# for good (no restart) and `start` brings it back; kill -9 of web1's process -> restarted by its policy; flap is
# restarted with a backoff (a few restarts in 3 s, not hundreds), once stays stopped with exit code 0; bg's log is
# capped below 8 MiB (older output in log.1, still shown by `logs`); a second `up` changes nothing (same pids);
# changing web2's memory limit restarts web2 alone; kill -9 of the daemon: a new daemon adopts the running containers
# (same pids, no duplicates in the runtime) and keeps probe, stopped by the user, stopped; `down` stops and deletes
# every container, unmounts their rootfs and removes their directories.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CLOUDLET=${1:?path to the cloudlet binary}

require_root
require_cmd ip python3 busybox

sw=$(e2e_name sw)
w1=$(e2e_name w1) w2=$(e2e_name w2) pr=$(e2e_name pr) fl=$(e2e_name fl) on=$(e2e_name on) bg=$(e2e_name bg)
oct=$((E2E_ID % 250))
N10="10.98.$oct" N20="10.99.$oct"
RT_ROOT_CONTAINERS=/run/cloudlet/containers

store=$E2E_TMP/images
"$CLOUDLET" image import --busybox busybox:latest --store "$store" >/dev/null || fail "image import --busybox failed"
export CLOUDLET_IMAGE_STORE=$store

cfg=$E2E_TMP/containers.yaml
write_cfg() { # $1: web2's memory limit
  cat >"$cfg" <<EOF
version: 1
vlans:
  - {id: 10, name: web, ipv4: $N10.1/24}
  - {id: 20, name: probe, ipv4: $N20.1/24}
switches:
  - name: $sw
endpoints:
  - name: $w1
    switch: $sw
    vlan: 10
    addresses: [$N10.11/24]
    gateway: $N10.1
    container:
      image: busybox:latest
      command: [sh, -c, 'echo "web1 says hello"; trap "kill \$\$!; exit 0" TERM; httpd -f -p 8080 -h /etc & wait']
      restart: always
  - name: $w2
    switch: $sw
    vlan: 10
    addresses: [$N10.12/24]
    gateway: $N10.1
    container:
      image: busybox:latest
      command: [httpd, -f, -p, "8080", -h, /etc]
      memory: $1
      pids: 64
      restart: always
  - name: $pr
    switch: $sw
    vlan: 20
    addresses: [$N20.11/24]
    gateway: $N20.1
    container:
      image: busybox:latest
      command: [sleep, "3600"]
  - name: $fl
    switch: $sw
    vlan: 20
    addresses: [$N20.12/24]
    container:
      image: busybox:latest
      command: [sh, -c, 'echo flap; exit 3']
      restart: on-failure
  - name: $on
    switch: $sw
    vlan: 20
    addresses: [$N20.13/24]
    container:
      image: busybox:latest
      command: [sh, -c, 'echo once; exit 0']
      restart: on-failure
  - name: $bg
    switch: $sw
    vlan: 20
    container:
      image: busybox:latest
      command: [sh, -c, 'yes 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef | head -c 12000000; echo; echo last-line; exec sleep 3600']
router:
  switch: $sw
EOF
}
write_cfg 64Mi

cloudlet_own "$cfg" "endpoint:$w1:$w1" "endpoint:$w2:$w2" "endpoint:$pr:$pr" "endpoint:$fl:$fl" "endpoint:$on:$on" \
  "endpoint:$bg:$bg"
cloudlet_daemon_start "$E2E_TMP/cloudlet.sock" "$E2E_TMP/state" "$E2E_TMP/daemon1.log"

# Fallback cleanup if `down` fails: the runtime's containers of this project (by id), their mounts.
ids=()
for n in "$w1" "$w2" "$pr" "$fl" "$on" "$bg"; do
  ids+=("$(python3 - "$cfg" "$n" <<'PY'
import os, sys
project, name = sys.argv[1], sys.argv[2]
base = os.path.basename(project)
stem = base[: base.rfind(".")] if base.rfind(".") > 0 else base
out = ""
for c in stem:
    c = c.lower() if "A" <= c <= "Z" else c
    out += c if (c.isascii() and (c.isalnum() or c in "_.-")) else "_"
    if len(out) == 24:
        break
if not out or out[0] == ".":
    out = "p" + out
h = 2166136261
for b in ("containers\n" + project).encode():
    h = ((h ^ b) * 16777619) & 0xFFFFFFFF
print("%s-%08x-%s" % (out, h, name))
PY
  )")
done
for id in "${ids[@]}"; do
  e2e_defer "'$CLOUDLET' runtime --root $RT_ROOT_CONTAINERS delete --force '$id'"
done
e2e_defer "for m in \$(awk '{print \$2}' /proc/mounts | grep '^$E2E_TMP/state/containers/'); do umount -l \"\$m\"; done"
cloudlet_down_at_exit "$cfg"

cl up "$cfg" >"$E2E_TMP/up1.out" 2>&1 || { cat "$E2E_TMP/up1.out" "$CLOUDLET_LOG" >&2; fail "cloudlet up failed"; }
echo "--- first up:"
cat "$E2E_TMP/up1.out"
for n in "$w1" "$w2" "$pr" "$fl" "$on" "$bg"; do
  grep -q "started container $n" "$E2E_TMP/up1.out" || fail "up did not report starting container $n"
done

# ls_field NAME FIELD: a field of container NAME from `container ls --format json`.
ls_field() { cl container ls --format json | python3 -c 'import json,sys; print(next(c for c in json.load(sys.stdin) if c["name"]==sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
# shellcheck disable=SC2317 # called through wait_for's eval
running() { [[ "$(ls_field "$1" state)" == running ]]; }

for n in "$w1" "$w2" "$pr"; do
  wait_for "running $n" 10 || fail "container $n is not running: $(cl container ls)"
done
cl container ls
pid1=$(ls_field "$w1" pid) pid2=$(ls_field "$w2" pid) pidp=$(ls_field "$pr" pid)
[[ "$pid1" -gt 0 && "$pid2" -gt 0 && "$pidp" -gt 0 ]] || fail "running containers without pids: $pid1 $pid2 $pidp"
[[ "$(ls_field "$w1" image_digest)" == sha256:* ]] || fail "container ls shows no image digest"
status_json | python3 -c 'import json,sys; s=json.load(sys.stdin); assert len(s["containers"]) == 6' ||
  fail "status --format json does not list the 6 containers"
cl status | grep -q "$w1" || fail "status (table) does not show container $w1"

# The network: web1 -> web2 in VLAN 10 works; probe (VLAN 20) -> web2 is dropped by the router's firewall.
fetch() { # NAME ADDR: fetches /hostname from ADDR:8080 from inside container NAME
  timeout 15 "$CLOUDLET" --socket "$CLOUDLET_SOCKET" container exec "$1" -- \
    sh -c "printf 'GET /hostname HTTP/1.0\r\n\r\n' | nc -w 2 $2 8080"
}
wait_for "fetch $w1 $N10.12 | grep -q '200 OK'" 15 || fail "web1 cannot fetch a page from web2 ($N10.12:8080)"
echo "web1 -> web2: $(fetch "$w1" "$N10.12" | head -1)"
if fetch "$pr" "$N10.12" | grep -q "200 OK"; then fail "probe (VLAN 20) reached web2 (VLAN 10) through the router"; fi
echo "probe -> web2: blocked, as it should be"
[[ "$(timeout 15 "$CLOUDLET" --socket "$CLOUDLET_SOCKET" container exec "$w1" -- hostname)" == "$w1" ]] ||
  fail "web1's hostname is not its endpoint's name"

# Logs.
wait_for "cl container logs $w1 | grep -q 'web1 says hello'" 10 || fail "logs of $w1 lack the line it printed"
cl container logs "$w1" --tail 1 | grep -q "web1 says hello" || fail "logs --tail 1 lost the line"

# stop / start: stopped for good (restart: always does not bring it back), then started again.
cl container stop "$w2" --timeout 1 || fail "container stop failed"
[[ "$(ls_field "$w2" state)" == stopped ]] || fail "web2 is not stopped after stop"
kill -0 "$pid2" 2>/dev/null && fail "web2's process $pid2 survived stop"
sleep 1
[[ "$(ls_field "$w2" state)" == stopped ]] || fail "a stopped container was restarted by its policy"
cl container start "$w2" || fail "container start failed"
wait_for "running $w2" 10 || fail "web2 is not running after start"
pid2=$(ls_field "$w2" pid)

# The restart policy: kill -9 of web1's process brings it back with a new pid.
kill -KILL "$pid1"
wait_for "running $w1 && [[ \$(ls_field $w1 pid) != $pid1 ]]" 15 || fail "web1 was not restarted after kill -9"
[[ "$(ls_field "$w1" restarts)" -ge 1 ]] || fail "web1's restart count did not go up"
pid1=$(ls_field "$w1" pid)
wait_for "fetch $w1 $N10.12 | grep -q '200 OK'" 15 || fail "restarted web1 cannot reach web2"

# Backoff: flap exits at once; in 3 s it restarts a few times (100 ms doubling), never hundreds. once stays down.
sleep 3
flaps=$(ls_field "$fl" restarts)
echo "flap restarted $flaps times in about 3 s; state $(ls_field "$fl" state), exit code $(ls_field "$fl" exit_code)"
[[ "$flaps" -ge 2 && "$flaps" -le 12 ]] || fail "flap restarted $flaps times in 3 s (backoff should allow ~4-6)"
[[ "$(ls_field "$fl" exit_code)" == 3 ]] || fail "flap's exit code is not 3"
[[ "$(ls_field "$on" state)" == stopped && "$(ls_field "$on" exit_code)" == 0 && "$(ls_field "$on" restarts)" == 0 ]] ||
  fail "once (exit 0, on-failure) should be stopped with exit code 0 and no restarts: $(cl container ls)"
cl container logs "$on" | grep -q once || fail "once's log lacks its line"

# The log is capped: bg wrote 12 MB; the daemon keeps log below 8 MiB (older output in log.1), new lines still land.
bglog=$(ls_field "$bg" log)
wait_for "[[ -s '$bglog.1' ]] && (( \$(stat -c %s '$bglog') < 8388608 ))" 15 ||
  fail "bg's log was not capped: $(ls -l "$(dirname "$bglog")")"
wait_for "cl container logs $bg --tail 1 | grep -q last-line" 10 || fail "bg's last line is not in its capped log"

# A second up changes nothing.
cl up "$cfg" >"$E2E_TMP/up2.out" 2>&1 || { cat "$E2E_TMP/up2.out" >&2; fail "second up failed"; }
grep -qi "nothing changed" "$E2E_TMP/up2.out" || fail "second up changed something: $(cat "$E2E_TMP/up2.out")"
[[ "$(ls_field "$w1" pid)" == "$pid1" && "$(ls_field "$w2" pid)" == "$pid2" ]] || fail "second up restarted containers"

# A changed setting restarts that container only.
write_cfg 32Mi
cl up "$cfg" >"$E2E_TMP/up3.out" 2>&1 || { cat "$E2E_TMP/up3.out" >&2; fail "up with web2's new memory limit failed"; }
grep -q "restarted container $w2" "$E2E_TMP/up3.out" || fail "changing web2's memory did not restart it: $(cat "$E2E_TMP/up3.out")"
grep -q "container $w1" "$E2E_TMP/up3.out" && fail "changing web2 touched web1: $(cat "$E2E_TMP/up3.out")"
wait_for "running $w2" 10 || fail "web2 is not running after its change"
pid2=$(ls_field "$w2" pid)

# Daemon killed and restarted: the running containers are adopted, not started twice; probe, stopped by the user
# before, stays stopped.
cl container stop "$pr" --timeout 0 >/dev/null || fail "container stop $pr failed"
cloudlet_daemon_stop KILL
kill -0 "$pid1" 2>/dev/null || fail "web1 died with the daemon"
cloudlet_daemon_start "$E2E_TMP/cloudlet.sock" "$E2E_TMP/state" "$E2E_TMP/daemon2.log"
cloudlet_down_at_exit "$cfg"
wait_for "running $w1 && running $w2" 15 || fail "containers not running after the daemon restart: $(cl container ls)"
[[ "$(ls_field "$w1" pid)" == "$pid1" && "$(ls_field "$w2" pid)" == "$pid2" ]] ||
  fail "the restarted daemon did not adopt the running containers: $(cl container ls)"
[[ "$(ls_field "$pr" state)" == stopped ]] || fail "probe, stopped before the daemon restart, was started again"
cl container start "$pr" >/dev/null || fail "container start $pr after the daemon restart failed"
wait_for "running $pr" 10 || fail "probe did not start"
pidp=$(ls_field "$pr" pid)
grep -q "adopted running container $w1" "$E2E_TMP/daemon2.log" || fail "daemon log does not say web1 was adopted"
n_rt=$("$CLOUDLET" runtime --root $RT_ROOT_CONTAINERS list -q | grep -c -- "t${E2E_ID}" || true)
[[ "$n_rt" -le 6 ]] || fail "the runtime holds $n_rt containers of this run (duplicates?)"
wait_for "fetch $w1 $N10.12 | grep -q '200 OK'" 15 || fail "web1 cannot reach web2 after the daemon restart"
# An adopted container (not the new daemon's child) is still supervised.
kill -KILL "$pid1"
wait_for "running $w1 && [[ \$(ls_field $w1 pid) != $pid1 ]]" 15 || fail "adopted web1 was not restarted after kill -9"
pid1=$(ls_field "$w1" pid)

# down: containers stopped and deleted, mounts and directories gone.
cl down "$cfg" >"$E2E_TMP/down.out" 2>&1 || { cat "$E2E_TMP/down.out" >&2; fail "cloudlet down failed"; }
grep -q "removed container $w1" "$E2E_TMP/down.out" || fail "down did not report removing web1"
for p in "$pid1" "$pid2" "$pidp"; do
  wait_for "! kill -0 $p" 5 || fail "container process $p survived down"
done
for id in "${ids[@]}"; do
  [[ ! -e "$RT_ROOT_CONTAINERS/$id" ]] || fail "runtime state of $id survived down"
done
grep -q "$E2E_TMP/state/containers" /proc/mounts && fail "a container rootfs is still mounted after down"
[[ -z "$(ls -A "$E2E_TMP/state/containers")" ]] || fail "container directories left after down: $(ls -R "$E2E_TMP/state/containers")"
[[ "$(cl container ls --format json)" == "[]" ]] || fail "container ls is not empty after down"

pass "containers: up, VLAN isolation, logs (capped), stop/start, restart policy with backoff, idempotent up, change, adoption after daemon kill -9 (a user stop kept), down"
