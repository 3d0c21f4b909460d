#!/usr/bin/env bash
# Hooks of a cloudlet runtime container run at their spec'd points with the state on stdin (prestart, createRuntime,
# createContainer, startContainer inside the container, poststart, poststop), a hook that outlives its timeout fails
# the create; process.terminal hands the pty master over --console-socket (SCM_RIGHTS), as runc does.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/runtime_lib.sh"
rt_setup "${1:-}"

B="$E2E_TMP/bundle"
H="$E2E_TMP/hooks"
mkdir -p "$H"
rt_bundle "$B" sh -c 'cat /started'
printf '#!/bin/sh\ncat > "%s/$1.json"\n' "$H" >"$H/hook.sh"
chmod +x "$H/hook.sh"
printf '#!/bin/sh\necho started-in-container > /started\n' >"$B/rootfs/start-hook.sh"
chmod +x "$B/rootfs/start-hook.sh"
rt_config "$B" "
c['root']['readonly'] = False
hk = lambda n: [{'path': '$H/hook.sh', 'args': ['hook.sh', n], 'timeout': 5}]
c['hooks'] = {'prestart': hk('prestart'), 'createRuntime': hk('createRuntime'), 'createContainer': hk('createContainer'),
              'startContainer': [{'path': '/start-hook.sh'}], 'poststart': hk('poststart'), 'poststop': hk('poststop')}"
id="hooks$E2E_ID"
out=$(rt run --bundle "$B" "$id") || fail "run with hooks failed: $out"
assert_eq started-in-container "$out" "output (startContainer hook writes the file the process reads)"
for h in prestart createRuntime createContainer poststart poststop; do
  [[ -s "$H/$h.json" ]] || fail "hook $h did not run"
  python3 -c "import json,sys; s=json.load(open(sys.argv[1])); assert s['id']==sys.argv[2] and s['bundle'] and s['ociVersion'], s" \
    "$H/$h.json" "$id" || fail "hook $h state: $(cat "$H/$h.json")"
done
grep -q '"status":"stopped"' "$H/poststop.json" || fail "poststop state: $(cat "$H/poststop.json")"

# A hook past its timeout fails create, and nothing is left behind.
printf '#!/bin/sh\nsleep 30\n' >"$H/slow.sh"
chmod +x "$H/slow.sh"
rt_config "$B" "c['hooks'] = {'createRuntime': [{'path': '$H/slow.sh', 'timeout': 1}]}"
start=$SECONDS
rt create --bundle "$B" "slow$E2E_ID" 2>"$E2E_TMP/err" && fail "create with a timed-out hook succeeded"
grep -q "timed out" "$E2E_TMP/err" || fail "error: $(cat "$E2E_TMP/err")"
((SECONDS - start < 10)) || fail "the hook timeout was not enforced"
rt state "slow$E2E_ID" 2>/dev/null && fail "a failed create left its container behind"

# Console socket: a small receiver takes the master and records what the container writes on its terminal.
cat >"$E2E_TMP/recv.py" <<'PY'
import array, os, socket, sys
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(1)
s.settimeout(20)
c, _ = s.accept()
fds = array.array("i")
msg, anc, flags, addr = c.recvmsg(4096, socket.CMSG_SPACE(fds.itemsize))
for level, typ, data in anc:
    if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
        fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
with open(out, "wb") as f:
    f.write(b"name=" + msg + b"\n")
    f.flush()
    while True:
        try:
            d = os.read(fds[0], 4096)
        except OSError:
            break
        if not d:
            break
        f.write(d)
        f.flush()
PY
rt_config "$B" "c['hooks'] = {}; c['process']['terminal'] = True; c['process']['args'] = ['sh', '-c', 'tty; echo hello-tty']"
timeout 30 python3 "$E2E_TMP/recv.py" "$E2E_TMP/console.sock" "$E2E_TMP/console.out" &
recv=$!
e2e_defer "e2e_kill_pid $recv 1"
wait_for "[[ -S '$E2E_TMP/console.sock' ]]" 5 || fail "receiver did not start"
rt create --bundle "$B" --console-socket "$E2E_TMP/console.sock" "tty$E2E_ID" || fail "create with a console socket failed"
rt start "tty$E2E_ID" || fail "start failed"
wait_for "grep -q hello-tty '$E2E_TMP/console.out'" 10 || fail "terminal output: $(cat "$E2E_TMP/console.out" 2>/dev/null)"
grep -q "^/dev/pts/0" "$E2E_TMP/console.out" || fail "the process's stdin is not the container's pty: $(cat "$E2E_TMP/console.out")"
rt delete --force "tty$E2E_ID"
pass "runtime hooks and console socket"
