#!/usr/bin/env python3
"""Records the golden NETLINK_SOCK_DIAG answers used by the xunit tests of Get-NetTCPConnection,
Get-NetUDPEndpoint and the netlink-socket owner lookup, from the running kernel.

Run as root on a test machine:  python3 tests/ConntrackTools.Tests/Fixtures/record-sockdiag-fixtures.py
It creates one throw-away namespace (ctt-rec-sockdiag), re-runs itself inside it, and there opens: a TCP
listener on 127.0.0.1:8899 with one established connection and one connection in TIME_WAIT (client closed
first), an IPv6 listener on [::1]:8898 with one established connection, an unconnected UDP socket on
127.0.0.1:5353 and a UDP socket connected to it. Then it asks inet_diag (SOCK_DIAG_BY_FAMILY, every state) for
tcp/IPv4, tcp/IPv6 and udp/IPv4, and netlink_diag for the namespace's netlink sockets, and writes each answer as
an annotated hex file next to this script. The namespace and everything in it is removed.
"""
import os
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NS = "ctt-rec-sockdiag"
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT", 7: "CLOSE",
          8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW_SYN_RECV", 13: "BOUND_INACTIVE"}
INET_DIAG = {1: "INET_DIAG_MEMINFO", 2: "INET_DIAG_INFO", 4: "INET_DIAG_CONG", 5: "INET_DIAG_TOS", 6: "INET_DIAG_TCLASS",
             7: "INET_DIAG_SKMEMINFO", 8: "INET_DIAG_SHUTDOWN", 10: "INET_DIAG_PROTOCOL", 11: "INET_DIAG_SKV6ONLY",
             15: "INET_DIAG_MARK", 17: "INET_DIAG_CLASS_ID", 21: "INET_DIAG_CGROUP_ID", 22: "INET_DIAG_SOCKOPT"}


def hexs(b):
    return " ".join("%02x" % x for x in b)


def addr(fam, raw):
    return socket.inet_ntop(fam, raw[:4] if fam == socket.AF_INET else raw[:16])


def annotate_inet(msg):
    out = []
    ln, typ, flags, seq, pid = struct.unpack_from("<IHHII", msg, 0)
    out.append((msg[0:16], "nlmsghdr len=%d type=%d flags=0x%04x seq=%d portid=%d" % (ln, typ, flags, seq, pid)))
    if typ == 3:
        out.append((msg[16:ln], "NLMSG_DONE"))
        return out
    fam, state, timer, retrans = struct.unpack_from("<BBBB", msg, 16)
    out.append((msg[16:20], "inet_diag_msg family=%d state=%d (%s) timer=%d retrans=%d" % (fam, state, STATES.get(state, "?"), timer, retrans)))
    sport, dport = struct.unpack_from(">HH", msg, 20)
    out.append((msg[20:24], "  id.sport=%d id.dport=%d (network order)" % (sport, dport)))
    out.append((msg[24:40], "  id.src = %s" % addr(fam, msg[24:40])))
    out.append((msg[40:56], "  id.dst = %s" % addr(fam, msg[40:56])))
    ifi, c0, c1 = struct.unpack_from("<III", msg, 56)
    out.append((msg[56:68], "  id.if=%d id.cookie=%d,%d" % (ifi, c0, c1)))
    exp, rq, wq, uid, ino = struct.unpack_from("<IIIII", msg, 68)
    out.append((msg[68:88], "expires=%d rqueue=%d wqueue=%d uid=%d inode=%d" % (exp, rq, wq, uid, ino)))
    off = 88
    while off + 4 <= ln:
        alen, atyp = struct.unpack_from("<HH", msg, off)
        name = INET_DIAG.get(atyp & 0x3FFF, "attr %d" % atyp)
        v = msg[off + 4: off + alen]
        val = str(v[0]) if len(v) == 1 else str(struct.unpack("<I", v)[0]) if len(v) == 4 else str(struct.unpack("<Q", v)[0]) if len(v) == 8 else "%d bytes" % len(v)
        out.append((msg[off: off + alen], "%s = %s" % (name, val)))
        aligned = (alen + 3) & ~3
        if aligned > alen:
            out.append((msg[off + alen: off + aligned], "padding"))
        off += aligned
    return out


def annotate_netlink(msg):
    out = []
    ln, typ, flags, seq, pid = struct.unpack_from("<IHHII", msg, 0)
    out.append((msg[0:16], "nlmsghdr len=%d type=%d flags=0x%04x seq=%d portid=%d" % (ln, typ, flags, seq, pid)))
    if typ == 3:
        out.append((msg[16:ln], "NLMSG_DONE"))
        return out
    fam, ntype, proto, state, portid, dport, dgroup, ino = struct.unpack_from("<BBBBIIII", msg, 16)
    out.append((msg[16:20], "netlink_diag_msg family=%d type=%d protocol=%d state=%d" % (fam, ntype, proto, state)))
    out.append((msg[20:36], "  portid=%d dst_portid=%d dst_group=%d inode=%d" % (portid, dport, dgroup, ino)))
    out.append((msg[36:44], "  cookie"))
    if ln > 44:
        out.append((msg[44:ln], "attributes"))
    return out


def write_fixture(name, title, messages, annotate):
    path = os.path.join(HERE, name + ".hex")
    with open(path, "w") as f:
        f.write("# %s\n# Recorded from Linux %s by record-sockdiag-fixtures.py.\n" % (title, os.uname().release))
        for i, m in enumerate(messages):
            f.write("#\n# message %d\n" % (i + 1))
            for raw, note in annotate(m):
                parts = hexs(raw).split(" ") if raw else []
                for j in range(0, max(len(parts), 1), 16):
                    f.write("%-52s # %s\n" % (" ".join(parts[j: j + 16]), note if j == 0 else "  ..."))
    print("wrote", path)


def dump(payload):
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
    s.bind((0, 0))
    hdr = struct.pack("<IHHII", 16 + len(payload), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
    s.send(hdr + payload)
    msgs = []
    while True:
        data = s.recv(1 << 20)
        off = 0
        while off < len(data):
            ln, typ = struct.unpack_from("<IH", data, off)
            msgs.append(data[off: off + ln])
            off += (ln + 3) & ~3
            if typ == 3:
                s.close()
                return msgs


def inet_request(family, proto):
    # inet_diag_req_v2: family, protocol, ext, pad, states (all), sockid (zero)
    return struct.pack("<BBBBI", family, proto, 0, 0, 0xFFFFFFFF) + bytes(48)


def inside():
    srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 8899)); srv.listen(8)
    est = socket.create_connection(("127.0.0.1", 8899)); acc, _ = srv.accept()
    tw = socket.create_connection(("127.0.0.1", 8899)); twa, _ = srv.accept()
    tw.close(); time.sleep(0.1); twa.close(); time.sleep(0.2)     # client closed first: its end waits in TIME_WAIT
    srv6 = socket.socket(socket.AF_INET6); srv6.bind(("::1", 8898)); srv6.listen(8)
    est6 = socket.create_connection(("::1", 8898)); acc6, _ = srv6.accept()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 5353))
    uc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); uc.connect(("127.0.0.1", 5353))
    write_fixture("sockdiag-tcp4", "inet_diag tcp/IPv4, every state: listener 127.0.0.1:8899, one established pair, one TIME_WAIT",
                  dump(inet_request(socket.AF_INET, socket.IPPROTO_TCP)), annotate_inet)
    write_fixture("sockdiag-tcp6", "inet_diag tcp/IPv6, every state: listener [::1]:8898 and one established pair",
                  dump(inet_request(socket.AF_INET6, socket.IPPROTO_TCP)), annotate_inet)
    write_fixture("sockdiag-udp4", "inet_diag udp/IPv4: unconnected 127.0.0.1:5353 and a socket connected to it",
                  dump(inet_request(socket.AF_INET, socket.IPPROTO_UDP)), annotate_inet)
    keep = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12); keep.bind((0, 0))   # a NETLINK_NETFILTER socket to find
    print("netfilter socket portid", keep.getsockname()[0])
    req = struct.pack("<BBHII", socket.AF_NETLINK, 255, 0, 0, 0) + bytes(8)
    write_fixture("sockdiag-netlink", "netlink_diag, every protocol: the recorder's own netlink sockets (one NETLINK_NETFILTER socket bound)",
                  dump(req), annotate_netlink)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--inside":
        inside()
        return
    subprocess.run(["ip", "netns", "add", NS], check=True)
    try:
        subprocess.run(["ip", "-n", NS, "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "netns", "exec", NS, sys.executable, os.path.abspath(__file__), "--inside"], check=True)
    finally:
        subprocess.run(["ip", "netns", "del", NS])


if __name__ == "__main__":
    main()
