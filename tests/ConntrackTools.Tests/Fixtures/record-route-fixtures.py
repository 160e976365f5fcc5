#!/usr/bin/env python3
"""Records the golden RTM_NEWROUTE messages used by the xunit tests of the route dump (evidence bundles).

Run as root on a test machine:  python3 tests/ConntrackTools.Tests/Fixtures/record-route-fixtures.py
It builds one throw-away namespace (ctt-rec-routes) with a veth pair kept inside it, adds the incident's route
(10.232.3.0/24 via 192.168.11.8, metric 100) and an IPv6 one (fd00:232::/64 via fd00:11::8), dumps the routes
with RTM_GETROUTE from inside the namespace and writes the matching messages as annotated hex next to this
script, in the format of record-event-fixtures.py. Everything it creates is removed.
"""
import os
import socket
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
NS = "ctt-rec-routes"
DEV, PEER = "ctt-rrt0", "ctt-rrt1"
NETLINK_ROUTE = 0
RTM_NEWROUTE, RTM_GETROUTE = 24, 26
NLM_F_REQUEST, NLM_F_DUMP = 1, 0x300
RTA = {1: "RTA_DST", 2: "RTA_SRC", 3: "RTA_IIF", 4: "RTA_OIF", 5: "RTA_GATEWAY", 6: "RTA_PRIORITY",
       7: "RTA_PREFSRC", 8: "RTA_METRICS", 9: "RTA_MULTIPATH", 12: "RTA_CACHEINFO", 15: "RTA_TABLE", 20: "RTA_PREF"}


def sh(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def hexs(b):
    return " ".join("%02x" % x for x in b)


def annotate(msg):
    out = []
    ln, typ, flags, seq, pid = struct.unpack_from("<IHHII", msg, 0)
    out.append((hexs(msg[0:16]), "nlmsghdr len=%d type=%d (RTM_NEWROUTE) flags=0x%04x seq=%d portid=%d" % (ln, typ, flags, seq, pid)))
    fam, dl, sl, tos, table, proto, scope, rtype, rflags = struct.unpack_from("<BBBBBBBBI", msg, 16)
    out.append((hexs(msg[16:28]), "rtmsg family=%d dst_len=%d src_len=%d tos=%d table=%d protocol=%d scope=%d type=%d flags=0x%x"
                % (fam, dl, sl, tos, table, proto, scope, rtype, rflags)))
    off = 28
    while off + 4 <= ln:
        alen, atyp = struct.unpack_from("<HH", msg, off)
        v = msg[off + 4: off + alen]
        name = RTA.get(atyp & 0x3FFF, "attr %d" % (atyp & 0x3FFF))
        if name in ("RTA_DST", "RTA_GATEWAY", "RTA_PREFSRC", "RTA_SRC"):
            text = socket.inet_ntop(socket.AF_INET if len(v) == 4 else socket.AF_INET6, v)
        elif len(v) == 4:
            text = str(struct.unpack("<I", v)[0])
        elif len(v) == 1:
            text = str(v[0])
        else:
            text = "%d bytes" % len(v)
        out.append((hexs(msg[off: off + alen]), "%s = %s" % (name, text)))
        aligned = (alen + 3) & ~3
        if aligned > alen:
            out.append((hexs(msg[off + alen: off + aligned]), "padding"))
        off += aligned
    return out


def write(name, title, msg):
    path = os.path.join(HERE, name + ".hex")
    with open(path, "w") as f:
        f.write("# %s\n# Recorded from Linux %s by record-route-fixtures.py.\n#\n# message 1\n" % (title, os.uname().release))
        for h, note in annotate(msg):
            parts = h.split(" ")
            for j in range(0, max(len(parts), 1), 16):
                f.write("%-52s # %s\n" % (" ".join(parts[j: j + 16]), note if j == 0 else "  ..."))
    print("wrote", path)


def dump():
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
    req = struct.pack("<IHHII", 16 + 12, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + bytes(12)
    s.send(req)
    msgs = []
    while True:
        data = s.recv(1 << 16)
        off = 0
        while off < len(data):
            ln, typ = struct.unpack_from("<IH", data, off)
            if typ == 3:  # NLMSG_DONE
                return msgs
            msgs.append(data[off: off + ln])
            off += (ln + 3) & ~3


def inside():
    msgs = dump()
    v4 = [m for m in msgs if m[16] == socket.AF_INET and m[17] == 24 and bytes([10, 232, 3, 0]) in m]
    v6 = [m for m in msgs if m[16] == socket.AF_INET6 and m[17] == 64 and socket.inet_pton(socket.AF_INET6, "fd00:232::") in m]
    write("route-ipv4", "RTM_NEWROUTE: 10.232.3.0/24 via 192.168.11.8 dev ctt-rrt0 metric 100 (table main)", v4[0])
    write("route-ipv6", "RTM_NEWROUTE: fd00:232::/64 via fd00:11::8 dev ctt-rrt0 metric 1024 (table main)", v6[0])


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--inside":
        return inside()
    if os.geteuid() != 0:
        sys.exit("run as root")
    sh("ip", "netns", "add", NS)
    try:
        for c in (["link", "add", DEV, "type", "veth", "peer", "name", PEER],
                  ["addr", "add", "192.168.11.7/24", "dev", DEV], ["addr", "add", "fd00:11::7/64", "dev", DEV, "nodad"],
                  ["link", "set", DEV, "up"], ["link", "set", PEER, "up"], ["link", "set", "lo", "up"],
                  ["route", "add", "10.232.3.0/24", "via", "192.168.11.8", "metric", "100"],
                  ["-6", "route", "add", "fd00:232::/64", "via", "fd00:11::8"]):
            sh("ip", "-n", NS, *c)
        # The dump runs inside the namespace (Python 3.11 has no os.setns): this script again, under ip netns exec.
        subprocess.run(["ip", "netns", "exec", NS, sys.executable, os.path.abspath(__file__), "--inside"], check=True)
    finally:
        subprocess.run(["ip", "netns", "del", NS])


if __name__ == "__main__":
    main()
