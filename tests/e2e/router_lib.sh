# shellcheck shell=bash
# Shared by the router/firewall end-to-end tests (test_router_*.sh, test_firewall_nft_diff.sh): a traffic probe
# (servers and clients that classify each attempt as accept / drop / reject), bulk TCP checks on chosen ports,
# `cloudlet firewall` as JSON, and a udhcpc script. Source after lib.sh.

# The interpreter itself, not a version manager's shim (which costs ~0.4 s per start).
PYTHON=$(python3 -c 'import sys; print(sys.executable)')

# probe_install: writes $E2E_TMP/probe.py.
#   probe.py serve --tcp P,P.. --udp P,P.. [--family 4|6] [--hold]   TCP listeners that accept and close (--hold:
#                                    keep connections open and echo what they receive), UDP echo; prints "ready" once
#                                    bound, then runs until killed.
#   probe.py run CASEFILE [--timeout S]   one line per case "ID PROTO SRC DST PORT" (PROTO tcp|udp|icmp; PORT ignored
#                                         for icmp), all at once in threads; prints "ID VERDICT DETAIL" per case, with
#                                         VERDICT accept (connected / echoed / ping answered), reject (refused or an
#                                         ICMP error) or drop (timed out).
probe_install() {
  cat >"$E2E_TMP/probe.py" <<'PY'
import errno, selectors, socket, subprocess, sys, threading

IP_PKTINFO = 8  # linux/in.h; not exported by every Python build

def pktinfo_reply(level, data):
    if level == socket.IPPROTO_IP:  # struct in_pktinfo {ifindex, spec_dst, addr}: send from addr
        return b"\0\0\0\0" + data[8:12] + b"\0\0\0\0"
    return data[:16] + b"\0\0\0\0"  # struct in6_pktinfo {addr, ifindex}

def parse_ports(s):
    return [int(p) for p in s.split(",") if p]

def serve(args):
    tcp, udp, fam, hold, held = [], [], socket.AF_INET, False, []
    i = 0
    while i < len(args):
        if args[i] == "--hold": hold = True; i -= 1  # keep accepted connections open (until the peer closes)
        elif args[i] == "--tcp": tcp = parse_ports(args[i + 1])
        elif args[i] == "--udp": udp = parse_ports(args[i + 1])
        elif args[i] == "--family": fam = socket.AF_INET6 if args[i + 1] == "6" else socket.AF_INET
        i += 2
    any_addr = "::" if fam == socket.AF_INET6 else "0.0.0.0"
    sel = selectors.DefaultSelector()
    for p in tcp:
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((any_addr, p)); s.listen(256); s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, "tcp")
    for p in udp:
        s = socket.socket(fam, socket.SOCK_DGRAM)
        # Replies leave from the address the request was sent to (IP_PKTINFO), not the interface's first one.
        if fam == socket.AF_INET6: s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        else: s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        s.bind((any_addr, p)); s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, "udp")
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            s = key.fileobj
            try:
                if key.data == "tcp":
                    c, _ = s.accept()
                    if hold: c.setblocking(False); sel.register(c, selectors.EVENT_READ, "conn")
                    else: c.close()
                elif key.data == "conn":
                    data = s.recv(65536)
                    if data: s.send(data)  # echo, so a long-lived connection can exchange lines
                    else: sel.unregister(s); s.close()
                else:
                    data, anc, _, addr = s.recvmsg(2048, 256)
                    s.sendmsg([data], [(lvl, typ, pktinfo_reply(lvl, d)) for lvl, typ, d in anc
                                       if typ in (IP_PKTINFO, socket.IPV6_PKTINFO)], 0, addr)
            except OSError:
                pass

def errname(e):
    return errno.errorcode.get(e.errno, str(e.errno)) if e.errno else type(e).__name__

def one(case, timeout, out, lock):
    cid, proto, src, dst, port = case
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    verdict, detail = "drop", "timeout"
    try:
        if proto == "icmp":
            p = subprocess.run(["ping", "-n", "-c1", "-W", str(max(1, int(timeout))), "-I", src, dst],
                               capture_output=True, text=True, timeout=timeout + 5)
            txt = p.stdout + p.stderr
            if p.returncode == 0: verdict, detail = "accept", "echo-reply"
            elif any(w in txt for w in ("nreachable", "rohibited", "filtered", "exceeded")):
                verdict, detail = "reject", txt.strip().splitlines()[1].split(":", 1)[-1].strip().replace(" ", "_") \
                    if len(txt.strip().splitlines()) > 1 else "icmp-error"
        else:
            s = socket.socket(fam, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
            s.settimeout(timeout)
            try:
                s.bind((src, 0))
                if proto == "tcp":
                    s.connect((dst, int(port))); verdict, detail = "accept", "connected"
                else:
                    s.connect((dst, int(port))); msg = ("probe %s" % cid).encode(); s.send(msg)
                    data = s.recv(2048)
                    verdict, detail = ("accept", "echoed") if data == msg else ("accept", "odd-reply")
            finally:
                s.close()
    except (socket.timeout, subprocess.TimeoutExpired):
        verdict, detail = "drop", "timeout"
    except ConnectionRefusedError:
        verdict, detail = "reject", "ECONNREFUSED"
    except OSError as e:
        verdict, detail = "reject", errname(e)
    with lock:
        out.append((cid, verdict, detail))

def run(args):
    casefile, timeout = args[0], 1.0
    if len(args) > 2 and args[1] == "--timeout": timeout = float(args[2])
    cases = [l.split() for l in open(casefile) if l.strip()]
    out, lock, threads = [], threading.Lock(), []
    for c in cases:
        t = threading.Thread(target=one, args=(c, timeout, out, lock)); t.start(); threads.append(t)
    for t in threads: t.join(timeout + 10)
    for cid, v, d in sorted(out, key=lambda x: x[0]):
        print(cid, v, d)

if __name__ == "__main__":
    {"serve": serve, "run": run}[sys.argv[1]](sys.argv[2:])
PY
}

# udhcpc_script_install: writes $E2E_TMP/udhcpc.sh, the script busybox udhcpc runs (-s): it applies the lease with
# `ip` (address, default route) and appends "EVENT ip/mask router ..." to $UDHCPC_LOG (default
# $E2E_TMP/udhcpc.<interface>.log).
udhcpc_script_install() {
  cat >"$E2E_TMP/udhcpc.sh" <<EOF
#!/bin/sh
log="\${UDHCPC_LOG:-$E2E_TMP/udhcpc.\$interface.log}"
case "\$1" in
  deconfig) ip addr flush dev "\$interface" scope global 2>/dev/null; echo "deconfig" >>"\$log" ;;
  bound|renew)
    ip addr flush dev "\$interface" scope global 2>/dev/null
    ip addr add "\$ip/\${mask:-\${subnet:-32}}" dev "\$interface"  # busybox 1.35 exports only the dotted \$subnet
    for r in \$router; do ip route replace default via "\$r" dev "\$interface"; break; done
    echo "\$1 \$ip/\${mask:-\${subnet:-32}} \$router lease=\$lease serverid=\$serverid dns=\$dns" >>"\$log" ;;
  *) echo "\$1" >>"\$log" ;;
esac
exit 0
EOF
  chmod 755 "$E2E_TMP/udhcpc.sh"
}

# probe_one NS PROTO SRC DST PORT [TIMEOUT]: one probe.py case from NS; prints "VERDICT DETAIL".
probe_one() {
  local ns=$1 proto=$2 src=$3 dst=$4 port=$5 t=${6:-1}
  echo "x $proto $src $dst $port" >"$E2E_TMP/one.case"
  timeout $((${t%.*} + 15)) ip netns exec "$ns" "$PYTHON" "$E2E_TMP/probe.py" run "$E2E_TMP/one.case" --timeout "$t" |
    awk '{print $2, $3}'
}

# tcp_check_port NS_SRV LISTEN_PORT NS_CLI DST DST_PORT [BYTES]: like ns_tcp_check, on chosen ports, and the client may
# dial another address than the one the server listens on (a port forward): BYTES (default 1 MiB) of random data
# from NS_CLI to DST:DST_PORT must arrive intact at a listener on LISTEN_PORT in NS_SRV. Bounded to ~15 s.
tcp_check_port() {
  local ns_srv=$1 lport=$2 ns_cli=$3 dst=$4 dport=$5 bytes=${6:-1048576} srv_pid rc=0 f
  f="$E2E_TMP/tcpc.$lport.$RANDOM"
  head -c "$bytes" /dev/urandom >"$f.send"
  timeout 15 ip netns exec "$ns_srv" nc -l -n -w 10 "$lport" >"$f.recv" 2>/dev/null &
  srv_pid=$!
  if ! wait_for "ip netns exec '$ns_srv' ss -Htln 'sport = :$lport' | grep -q ." 5; then
    e2e_kill_pid "$srv_pid" 1
    e2e_log "tcp_check_port: listener on port $lport in $ns_srv did not start"
    return 1
  fi
  timeout 12 ip netns exec "$ns_cli" nc -n -N -w 10 "$dst" "$dport" <"$f.send" >/dev/null 2>&1 || rc=1
  wait_for "! kill -0 $srv_pid" 5 || true
  e2e_kill_pid "$srv_pid" 1
  if [[ $rc -ne 0 ]] || ! cmp -s "$f.send" "$f.recv"; then
    e2e_log "tcp_check_port: $ns_cli -> $dst:$dport (listener :$lport in $ns_srv): sent $bytes bytes, received $(stat -c %s "$f.recv" 2>/dev/null || echo 0)"
    rc=1
  fi
  rm -f "$f.send" "$f.recv"
  return $rc
}

# fw_json SUBCOMMAND ARGS...: `cloudlet firewall SUBCOMMAND ... --format json` against this run's daemon.
fw_json() {
  local sub=$1
  shift
  cl firewall "$sub" "$@" --format json
}
