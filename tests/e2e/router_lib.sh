# shellcheck shell=bash
# Shared by the router/firewall end-to-end tests (test_router_*.sh, test_firewall_nft_diff.sh): a traffic probe
# (servers and clients that classify each attempt as accept / drop / reject), the check that this cloudlet build has
# the router, and a udhcpc script. Source after lib.sh.

# The interpreter itself, not a version manager's shim (which costs ~0.4 s per start).
PYTHON=$(python3 -c 'import sys; print(sys.executable)')

# router_require_support: skips when the binary predates the router integration (no `cloudlet firewall`).
router_require_support() {
  "$CLOUDLET" firewall --help >/dev/null 2>&1 || skip "router integration not built yet (no 'cloudlet firewall')"
}

# probe_install: writes $E2E_TMP/probe.py.
#   probe.py serve --tcp P,P.. --udp P,P.. [--family 4|6]   TCP listeners that accept and close, UDP echo; prints
#                                                            "ready" once bound, then runs until killed.
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
    tcp, udp, fam = [], [], socket.AF_INET
    i = 0
    while i < len(args):
        if args[i] == "--tcp": tcp = parse_ports(args[i + 1])
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
                    c, _ = s.accept(); c.close()
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
            elif "nreachable" in txt or "rohibited" in txt or "exceeded" in txt:
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
# `ip` (address, default route) and appends "event ip/mask router" to $E2E_TMP/udhcpc.<interface>.log.
udhcpc_script_install() {
  cat >"$E2E_TMP/udhcpc.sh" <<EOF
#!/bin/sh
log="$E2E_TMP/udhcpc.\$interface.log"
case "\$1" in
  deconfig) ip addr flush dev "\$interface" scope global 2>/dev/null; echo "deconfig" >>"\$log" ;;
  bound|renew)
    ip addr flush dev "\$interface" scope global 2>/dev/null
    ip addr add "\$ip/\$mask" dev "\$interface"
    for r in \$router; do ip route replace default via "\$r" dev "\$interface"; break; done
    echo "\$1 \$ip/\$mask \$router lease=\$lease serverid=\$serverid dns=\$dns" >>"\$log" ;;
  *) echo "\$1" >>"\$log" ;;
esac
exit 0
EOF
  chmod 755 "$E2E_TMP/udhcpc.sh"
}
