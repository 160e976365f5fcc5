#!/usr/bin/env python3
"""Records the golden ctnetlink messages used by the xunit decoder tests, from the running kernel.

Run as root on a test machine:  python3 tests/ConntrackTools.Tests/Fixtures/record-fixtures.py
It builds two throw-away namespaces (ctt-rec-client, ctt-rec-server) joined by a veth pair, with
MASQUERADE --random-fully on the client's uplink, makes real TCP and UDP flows, adds entries with
`conntrack -I` (and raw netlink for labels), dumps the client's table over ctnetlink and writes one
annotated hex file per case into this folder. Everything it creates is removed at the end.

Fixture format: hex bytes, then '#' and an annotation; blank lines and lines starting with '#' are
comments. The C# loader keeps only the hex before each '#'.
"""
import os
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT, SERVER = "ctt-rec-client", "ctt-rec-server"
NETLINK_NETFILTER = 12
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLM_F_CREATE, NLM_F_EXCL = 0x400, 0x200
CT_NEW, CT_GET, CT_DELETE = 0x100, 0x101, 0x102

CTA = {1: "CTA_TUPLE_ORIG", 2: "CTA_TUPLE_REPLY", 3: "CTA_STATUS", 4: "CTA_PROTOINFO", 5: "CTA_HELP",
       6: "CTA_NAT_SRC", 7: "CTA_TIMEOUT", 8: "CTA_MARK", 9: "CTA_COUNTERS_ORIG", 10: "CTA_COUNTERS_REPLY",
       11: "CTA_USE", 12: "CTA_ID", 13: "CTA_NAT_DST", 14: "CTA_TUPLE_MASTER", 15: "CTA_SEQ_ADJ_ORIG",
       16: "CTA_SEQ_ADJ_REPLY", 17: "CTA_SECMARK", 18: "CTA_ZONE", 19: "CTA_SECCTX", 20: "CTA_TIMESTAMP",
       21: "CTA_MARK_MASK", 22: "CTA_LABELS", 23: "CTA_LABELS_MASK", 24: "CTA_SYNPROXY", 25: "CTA_FILTER",
       26: "CTA_STATUS_MASK"}
TUPLE = {1: "CTA_TUPLE_IP", 2: "CTA_TUPLE_PROTO", 3: "CTA_TUPLE_ZONE"}
IP = {1: "CTA_IP_V4_SRC", 2: "CTA_IP_V4_DST", 3: "CTA_IP_V6_SRC", 4: "CTA_IP_V6_DST"}
PROTO = {1: "CTA_PROTO_NUM", 2: "CTA_PROTO_SRC_PORT", 3: "CTA_PROTO_DST_PORT", 4: "CTA_PROTO_ICMP_ID",
         5: "CTA_PROTO_ICMP_TYPE", 6: "CTA_PROTO_ICMP_CODE", 7: "CTA_PROTO_ICMPV6_ID",
         8: "CTA_PROTO_ICMPV6_TYPE", 9: "CTA_PROTO_ICMPV6_CODE"}
PROTOINFO = {1: "CTA_PROTOINFO_TCP", 2: "CTA_PROTOINFO_DCCP", 3: "CTA_PROTOINFO_SCTP"}
TCPINFO = {1: "CTA_PROTOINFO_TCP_STATE", 2: "CTA_PROTOINFO_TCP_WSCALE_ORIGINAL",
           3: "CTA_PROTOINFO_TCP_WSCALE_REPLY", 4: "CTA_PROTOINFO_TCP_FLAGS_ORIGINAL",
           5: "CTA_PROTOINFO_TCP_FLAGS_REPLY"}
COUNTERS = {1: "CTA_COUNTERS_PACKETS", 2: "CTA_COUNTERS_BYTES"}
TSTAMP = {1: "CTA_TIMESTAMP_START", 2: "CTA_TIMESTAMP_STOP"}
NESTED_NAMES = {"CTA_TUPLE_ORIG": TUPLE, "CTA_TUPLE_REPLY": TUPLE, "CTA_TUPLE_IP": IP, "CTA_TUPLE_PROTO": PROTO,
                "CTA_PROTOINFO": PROTOINFO, "CTA_PROTOINFO_TCP": TCPINFO, "CTA_PROTOINFO_SCTP": {1: "CTA_PROTOINFO_SCTP_STATE"},
                "CTA_PROTOINFO_DCCP": {1: "CTA_PROTOINFO_DCCP_STATE"},
                "CTA_COUNTERS_ORIG": COUNTERS, "CTA_COUNTERS_REPLY": COUNTERS, "CTA_TIMESTAMP": TSTAMP,
                "CTA_HELP": {1: "CTA_HELP_NAME"}}


def sh(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True).stdout


def nsx(ns, *cmd, check=True):
    return sh("ip", "netns", "exec", ns, *cmd, check=check)


def hexs(b):
    return " ".join("%02x" % x for x in b)


def value_text(name, v):
    if name.startswith("CTA_IP_V4"):
        return socket.inet_ntop(socket.AF_INET, v)
    if name.startswith("CTA_IP_V6"):
        return socket.inet_ntop(socket.AF_INET6, v)
    if len(v) == 1:
        return str(v[0])
    if len(v) == 2:
        return str(struct.unpack(">H", v)[0])
    if len(v) == 4 and name != "CTA_LABELS":
        return str(struct.unpack(">I", v)[0])
    if len(v) == 8:
        return str(struct.unpack(">Q", v)[0])
    return "%d bytes" % len(v)


def annotate_attrs(data, names, depth, out):
    off = 0
    while off + 4 <= len(data):
        ln, typ = struct.unpack_from("<HH", data, off)
        t = typ & 0x3FFF
        nested = bool(typ & 0x8000)
        name = names.get(t, "attr %d" % t) if names else "attr %d" % t
        pad = "  " * depth
        v = data[off + 4: off + ln]
        if nested:
            out.append((hexs(data[off: off + 4]), "%s%s (nested, %d bytes)" % (pad, name, ln)))
            annotate_attrs(v, NESTED_NAMES.get(name, {}), depth + 1, out)
        else:
            out.append((hexs(data[off: off + ln]), "%s%s = %s" % (pad, name, value_text(name, v))))
        aligned = (ln + 3) & ~3
        if aligned > ln:
            out.append((hexs(data[off + ln: off + aligned]), pad + "padding"))
        off += aligned


def annotate_message(msg):
    out = []
    ln, typ, flags, seq, pid = struct.unpack_from("<IHHII", msg, 0)
    out.append((hexs(msg[0:16]), "nlmsghdr len=%d type=0x%04x flags=0x%04x seq=%d portid=%d" % (ln, typ, flags, seq, pid)))
    if typ == 2:  # NLMSG_ERROR
        err = struct.unpack_from("<i", msg, 16)[0]
        out.append((hexs(msg[16:20]), "nlmsgerr.error = %d" % err))
        out.append((hexs(msg[20:36]), "nlmsgerr.msg: header of the request that failed"))
        if len(msg) > 36:
            out.append((hexs(msg[36:]), "extended ack TLVs / request payload"))
        return out
    fam, ver, res = struct.unpack_from(">BBH", msg, 16)
    out.append((hexs(msg[16:20]), "nfgenmsg family=%d version=%d res_id=%d" % (fam, ver, res)))
    annotate_attrs(msg[20:ln], CTA, 0, out)
    return out


def write_fixture(name, title, messages):
    path = os.path.join(HERE, name + ".hex")
    width = 52
    with open(path, "w") as f:
        f.write("# %s\n# Recorded from Linux %s by record-fixtures.py.\n" % (title, os.uname().release))
        for i, m in enumerate(messages):
            f.write("#\n# message %d\n" % (i + 1))
            for h, note in annotate_message(m):
                # long values are wrapped at 16 bytes per line; the note goes on the first
                parts = h.split(" ")
                for j in range(0, max(len(parts), 1), 16):
                    chunk = " ".join(parts[j: j + 16])
                    f.write("%-*s # %s\n" % (width, chunk, note if j == 0 else "  ..."))
    print("wrote", path)


class Netlink:
    def __init__(self):
        self.s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.s.bind((0, 0))
        self.seq = 100

    def send(self, typ, flags, family, payload=b""):
        self.seq += 1
        body = struct.pack(">BBH", family, 0, 0) + payload
        self.s.send(struct.pack("<IHHII", 16 + len(body), typ, flags, self.seq, 0) + body)

    def messages(self):
        """Messages until NLMSG_DONE or an NLMSG_ERROR."""
        while True:
            data = self.s.recv(1 << 20)
            off = 0
            while off < len(data):
                ln, typ = struct.unpack_from("<IH", data, off)
                msg = data[off: off + ln]
                off += (ln + 3) & ~3
                if typ == 3:
                    return
                yield msg
                if typ == 2:
                    return

    def dump(self, family=0):
        self.send(CT_GET, NLM_F_REQUEST | NLM_F_DUMP, family)
        return list(self.messages())


def attr(t, v):
    ln = 4 + len(v)
    return struct.pack("<HH", ln, t) + v + b"\0" * (((ln + 3) & ~3) - ln)


def nest(t, *parts):
    return attr(t | 0x8000, b"".join(parts))


def run_in_ns(ns, fn):
    """Runs fn with this process switched into ns (setns), then switches back."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open("/var/run/netns/" + ns, os.O_RDONLY)
    try:
        if libc.setns(target, 0x40000000) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        return fn()
    finally:
        libc.setns(own, 0x40000000)
        os.close(own)
        os.close(target)


def main():
    if os.geteuid() != 0:
        sys.exit("run as root")
    for ns in (CLIENT, SERVER):
        sh("ip", "netns", "del", ns, check=False)
    try:
        setup()
        record()
    finally:
        for ns in (CLIENT, SERVER):
            nsx(ns, "conntrack", "-F", check=False)
            sh("ip", "netns", "del", ns, check=False)


def setup():
    sh("ip", "netns", "add", CLIENT)
    sh("ip", "netns", "add", SERVER)
    sh("ip", "link", "add", "ctt-rec0", "netns", CLIENT, "type", "veth", "peer", "name", "ctt-rec1", "netns", SERVER)
    nsx(CLIENT, "ip", "addr", "add", "192.168.11.7/24", "dev", "ctt-rec0")
    nsx(CLIENT, "ip", "addr", "add", "fd00:11::7/64", "dev", "ctt-rec0", "nodad")
    nsx(SERVER, "ip", "addr", "add", "192.168.11.8/24", "dev", "ctt-rec1")
    nsx(SERVER, "ip", "addr", "add", "10.232.3.28/32", "dev", "lo")
    nsx(SERVER, "ip", "addr", "add", "fd00:11::8/64", "dev", "ctt-rec1", "nodad")
    for ns, dev in ((CLIENT, "ctt-rec0"), (SERVER, "ctt-rec1")):
        nsx(ns, "ip", "link", "set", "lo", "up")
        nsx(ns, "ip", "link", "set", dev, "up")
    nsx(CLIENT, "ip", "route", "add", "10.232.3.0/24", "via", "192.168.11.8")
    nsx(CLIENT, "sysctl", "-qw", "net.netfilter.nf_conntrack_acct=1")
    nsx(CLIENT, "sysctl", "-qw", "net.netfilter.nf_conntrack_timestamp=1")
    nsx(CLIENT, "nft", "add table ip ctt; add chain ip ctt post { type nat hook postrouting priority 100; }; "
                       "add rule ip ctt post ip daddr 10.232.3.0/24 oifname ctt-rec0 masquerade fully-random")
    # Labels are kept only once the namespace has the connlabel extension: a 'ct label set' rule enables it
    # (this chain is never jumped to).
    nsx(CLIENT, "nft", "add chain ip ctt lbl; add rule ip ctt lbl ct label set 127")
    # IPv6 conntrack only runs in a namespace once some ip6 hook needs it: an ip6 NAT chain does.
    nsx(CLIENT, "nft", "add table ip6 ctt6; add chain ip6 ctt6 post { type nat hook postrouting priority 100; }; "
                       "add rule ip6 ctt6 post ip6 daddr fd00:232::/64 oifname ctt-rec0 masquerade fully-random")


def server_and_client(proto, host, port, family):
    """A one-shot echo in the server namespace and a client in the client namespace."""
    kind = "SOCK_STREAM" if proto == "tcp" else "SOCK_DGRAM"
    fam = "AF_INET6" if family == 6 else "AF_INET"
    srv = subprocess.Popen(["ip", "netns", "exec", SERVER, sys.executable, "-c",
                            "import socket,time\n"
                            "s=socket.socket(socket.%s,socket.%s)\n"
                            "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                            "s.bind(('%s',%d))\n"
                            "%s\n" % (fam, kind, host if family == 4 else "::", port,
                                      "s.listen(1);c,_=s.accept();c.sendall(c.recv(100));time.sleep(3)" if proto == "tcp"
                                      else "d,a=s.recvfrom(100);s.sendto(d,a)")])
    time.sleep(0.5)
    nsx(CLIENT, sys.executable, "-c",
        "import socket\n"
        "s=socket.socket(socket.%s,socket.%s)\n"
        "s.settimeout(3)\n"
        "%s\n" % (fam, kind,
                  "s.connect(('%s',%d));s.sendall(b'ping');s.recv(100)" % (host, port) if proto == "tcp"
                  else "s.sendto(b'ping',('%s',%d));s.recv(100)" % (host, port)))
    return srv


def record():
    procs = [server_and_client("tcp", "10.232.3.28", 8899, 4),
             server_and_client("udp", "10.232.3.28", 5353, 4),
             server_and_client("tcp", "fd00:11::8", 8443, 6)]
    # Entries made by hand: ICMP, ICMPv6, zone + mark, sctp, gre.
    nsx(CLIENT, "conntrack", "-I", "-p", "icmp", "-s", "10.0.0.1", "-d", "10.0.0.3", "--icmp-type", "8",
        "--icmp-code", "0", "--icmp-id", "77", "-t", "300")
    nsx(CLIENT, "conntrack", "-I", "-p", "icmpv6", "-s", "fd00::1", "-d", "fd00::3", "--icmpv6-type", "128",
        "--icmpv6-code", "0", "--icmpv6-id", "78", "-t", "300")
    nsx(CLIENT, "conntrack", "-I", "-p", "udp", "-s", "10.9.0.1", "-d", "10.9.0.2", "--sport", "4000",
        "--dport", "4001", "-t", "300", "-m", "7", "-w", "5")
    nsx(CLIENT, "conntrack", "-I", "-p", "sctp", "-s", "10.8.0.1", "-d", "10.8.0.2", "--sport", "5000",
        "--dport", "5001", "--state", "ESTABLISHED", "--orig-vtag", "1", "--reply-vtag", "2", "-t", "300", check=False)
    nsx(CLIENT, "conntrack", "-I", "-p", "gre", "-s", "10.7.0.1", "-d", "10.7.0.2", "-t", "300", check=False)

    def with_labels():
        nl = Netlink()
        tuple_o = nest(1, nest(1, attr(1, socket.inet_aton("10.6.0.1")), attr(2, socket.inet_aton("10.6.0.2"))),
                       nest(2, attr(1, bytes([17])), attr(2, struct.pack(">H", 6000)), attr(3, struct.pack(">H", 6001))))
        tuple_r = nest(2, nest(1, attr(1, socket.inet_aton("10.6.0.2")), attr(2, socket.inet_aton("10.6.0.1"))),
                       nest(2, attr(1, bytes([17])), attr(2, struct.pack(">H", 6001)), attr(3, struct.pack(">H", 6000))))
        labels = bytearray(16)
        labels[0] = 0b00000101   # bits 0 and 2
        labels[5] = 0b00000010   # bit 41
        payload = tuple_o + tuple_r + attr(7, struct.pack(">I", 300)) + attr(8, struct.pack(">I", 42)) + \
            attr(22, bytes(labels)) + attr(23, bytes([0xff] * 16))
        nl.send(CT_NEW, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, socket.AF_INET, payload)
        ack = list(nl.messages())
        err = struct.unpack_from("<i", ack[0], 16)[0] if ack else None
        if err:
            print("labels entry not created: errno", -err)
        # An NLMSG_ERROR: delete an entry that does not exist (ENOENT).
        missing = nest(1, nest(1, attr(1, socket.inet_aton("10.5.0.1")), attr(2, socket.inet_aton("10.5.0.2"))),
                       nest(2, attr(1, bytes([6])), attr(2, struct.pack(">H", 1)), attr(3, struct.pack(">H", 2))))
        nl.send(CT_DELETE, NLM_F_REQUEST | NLM_F_ACK, socket.AF_INET, missing)
        error = list(nl.messages())
        return nl.dump(0), error

    dump, error = run_in_ns(CLIENT, with_labels)
    for p in procs:
        p.wait(timeout=10)

    def pick(pred):
        for m in dump:
            if pred(m):
                return m
        raise SystemExit("no entry matched; table has %d entries" % len(dump))

    def has(m, needle):
        return needle in m

    v4 = lambda a: socket.inet_aton(a)
    v6 = lambda a: socket.inet_pton(socket.AF_INET6, a)
    write_fixture("tcp-masquerade", "tcp 192.168.11.7 -> 10.232.3.28:8899 through MASQUERADE --random-fully, with counters and timestamp (acct=1, timestamp=1)",
                  [pick(lambda m: m[16] == 2 and has(m, v4("10.232.3.28")) and has(m, b"\x05\x00\x01\x00\x06"))])
    write_fixture("udp", "udp 192.168.11.7 -> 10.232.3.28:5353 through MASQUERADE, counters and timestamp",
                  [pick(lambda m: m[16] == 2 and has(m, v4("10.232.3.28")) and has(m, b"\x05\x00\x01\x00\x11") and has(m, struct.pack(">H", 5353)))])
    write_fixture("tcp-ipv6", "tcp fd00:11::7 -> [fd00:11::8]:8443, no NAT, counters and timestamp",
                  [pick(lambda m: m[16] == 10 and has(m, v6("fd00:11::8")))])
    write_fixture("icmp", "icmp echo 10.0.0.1 -> 10.0.0.3 id 77 (conntrack -I)",
                  [pick(lambda m: m[16] == 2 and has(m, v4("10.0.0.3")))])
    write_fixture("icmpv6", "icmpv6 echo fd00::1 -> fd00::3 id 78 (conntrack -I)",
                  [pick(lambda m: m[16] == 10 and has(m, v6("fd00::3")))])
    write_fixture("zone-mark", "udp 10.9.0.1:4000 -> 10.9.0.2:4001 in zone 5 with mark 7 (conntrack -I -w 5 -m 7)",
                  [pick(lambda m: has(m, v4("10.9.0.2")))])
    write_fixture("labels", "udp 10.6.0.1:6000 -> 10.6.0.2:6001 with mark 42 and labels 0, 2, 41 (raw CT_NEW)",
                  [pick(lambda m: has(m, v4("10.6.0.2")))])
    for needle, name, title in ((v4("10.8.0.2"), "sctp", "sctp 10.8.0.1:5000 -> 10.8.0.2:5001 ESTABLISHED (conntrack -I)"),
                                (v4("10.7.0.2"), "gre", "gre 10.7.0.1 -> 10.7.0.2 (conntrack -I)")):
        found = [m for m in dump if has(m, needle)]
        if found:
            write_fixture(name, title, found[:1])
        else:
            print("skipped", name, "(the kernel refused the entry)")
    write_fixture("error-enoent", "NLMSG_ERROR -ENOENT for IPCTNL_MSG_CT_DELETE of a missing entry", error)
    write_fixture("dump-datagram", "a whole dump of the recording namespace (%d entries), as the kernel sent it" % len(dump), dump)


if __name__ == "__main__":
    main()
