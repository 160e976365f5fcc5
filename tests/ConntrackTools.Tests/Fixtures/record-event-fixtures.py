#!/usr/bin/env python3
"""Records the golden event messages used by the xunit tests of the live streams, from the running kernel.

Run as root on a test machine:  python3 tests/ConntrackTools.Tests/Fixtures/record-event-fixtures.py
It builds one throw-away namespace (ctt-rec-events) with a veth pair kept inside it, subscribes to the
ctnetlink event groups (NEW, UPDATE, DESTROY) and to the rtnetlink link and address groups, then makes the
changes the fixtures describe: conntrack entries created, updated and deleted with `conntrack`, addresses
added and removed with `ip`. Each message is written as an annotated hex file next to this script, in the
format of record-fixtures.py (whose ctnetlink annotator it reuses). Everything it creates is removed.
"""
import importlib.util
import os
import socket
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
NS = "ctt-rec-events"
DEV, PEER = "ctt-rev0", "ctt-rev1"

_spec = importlib.util.spec_from_file_location("record_fixtures", os.path.join(HERE, "record-fixtures.py"))
rf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rf)

NETLINK_ROUTE, NETLINK_NETFILTER = 0, 12
# Legacy group bitmasks: 1 << (group - 1).
CT_GROUPS = 0x7                          # NFNLGRP_CONNTRACK_NEW | _UPDATE | _DESTROY
RT_GROUPS = 0x1 | 0x10 | 0x100           # RTNLGRP_LINK | RTNLGRP_IPV4_IFADDR | RTNLGRP_IPV6_IFADDR
RTM = {16: "RTM_NEWLINK", 17: "RTM_DELLINK", 20: "RTM_NEWADDR", 21: "RTM_DELADDR"}
IFA = {1: "IFA_ADDRESS", 2: "IFA_LOCAL", 3: "IFA_LABEL", 4: "IFA_BROADCAST", 5: "IFA_ANYCAST",
       6: "IFA_CACHEINFO", 7: "IFA_MULTICAST", 8: "IFA_FLAGS", 9: "IFA_RT_PRIORITY", 10: "IFA_TARGET_NETNSID",
       11: "IFA_PROTO"}
IFLA_IFNAME = 3


def sh(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def receive_all(sock):
    """Every datagram queued on the socket (one message each for broadcasts)."""
    out = []
    sock.settimeout(0.5)
    while True:
        try:
            out.append(sock.recv(1 << 16))
        except socket.timeout:
            return out


def annotate_rtnl(msg):
    out = []
    ln, typ, flags, seq, pid = struct.unpack_from("<IHHII", msg, 0)
    out.append((rf.hexs(msg[0:16]), "nlmsghdr len=%d type=%d (%s) flags=0x%04x seq=%d portid=%d"
                % (ln, typ, RTM.get(typ, "?"), flags, seq, pid)))
    if typ in (20, 21):
        fam, plen, fl, scope, index = struct.unpack_from("<BBBBi", msg, 16)
        out.append((rf.hexs(msg[16:24]), "ifaddrmsg family=%d prefixlen=%d flags=0x%02x scope=%d index=%d (host order)"
                    % (fam, plen, fl, scope, index)))
        off, names = 24, IFA
    else:
        fam, _, typ_, index, iflags, change = struct.unpack_from("<BBHiII", msg, 16)
        out.append((rf.hexs(msg[16:32]), "ifinfomsg family=%d type=%d index=%d flags=0x%x change=0x%x (host order)"
                    % (fam, typ_, index, iflags, change)))
        off, names = 32, {IFLA_IFNAME: "IFLA_IFNAME"}
    while off + 4 <= ln:
        alen, atyp = struct.unpack_from("<HH", msg, off)
        t = atyp & 0x3FFF
        v = msg[off + 4: off + alen]
        name = names.get(t, "attr %d" % t)
        if name in ("IFA_ADDRESS", "IFA_LOCAL", "IFA_BROADCAST"):
            text = socket.inet_ntop(socket.AF_INET if len(v) == 4 else socket.AF_INET6, v)
        elif name in ("IFA_LABEL", "IFLA_IFNAME"):
            text = v.rstrip(b"\0").decode()
        elif len(v) == 4:
            text = str(struct.unpack("<I", v)[0])
        else:
            text = "%d bytes" % len(v)
        out.append((rf.hexs(msg[off: off + alen]), "%s%s = %s" % (name, " (nested)" if atyp & 0x8000 else "", text)))
        aligned = (alen + 3) & ~3
        if aligned > alen:
            out.append((rf.hexs(msg[off + alen: off + aligned]), "padding"))
        off += aligned
    return out


def write_rtnl_fixture(name, title, msg):
    path = os.path.join(HERE, name + ".hex")
    with open(path, "w") as f:
        f.write("# %s\n# Recorded from Linux %s by record-event-fixtures.py.\n#\n# message 1\n" % (title, os.uname().release))
        for h, note in annotate_rtnl(msg):
            parts = h.split(" ")
            for j in range(0, max(len(parts), 1), 16):
                f.write("%-52s # %s\n" % (" ".join(parts[j: j + 16]), note if j == 0 else "  ..."))
    print("wrote", path)


def write_ct_fixture(name, title, messages):
    """record-fixtures.py's writer and annotator, with this script named as the recorder."""
    rf.write_fixture(name, title, messages)
    path = os.path.join(HERE, name + ".hex")
    with open(path) as f:
        text = f.read().replace("by record-fixtures.py.", "by record-event-fixtures.py.", 1)
    with open(path, "w") as f:
        f.write(text)


def pick(messages, type_, needle=b"", flags=None):
    for m in messages:
        t, fl = struct.unpack_from("<HH", m, 4)
        if t == type_ and needle in m and (flags is None or fl & flags == flags):
            return m
    raise SystemExit("no message of type 0x%x with %r among %d" % (type_, needle, len(messages)))


def record():
    ct = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    ct.bind((0, CT_GROUPS))
    rt = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
    rt.bind((0, RT_GROUPS))
    sh("sysctl", "-qw", "net.netfilter.nf_conntrack_events=1")
    sh("sysctl", "-qw", "net.netfilter.nf_conntrack_acct=1")
    sh("sysctl", "-qw", "net.netfilter.nf_conntrack_timestamp=1")
    sh("ip", "link", "add", DEV, "type", "veth", "peer", "name", PEER)
    sh("ip", "link", "set", DEV, "up")

    # The incident's flow: a client port masqueraded to another (reply tuple addressed to 192.168.11.7:31445).
    incident = ["-p", "tcp", "-s", "192.168.11.7", "-d", "10.232.3.28", "--sport", "33862", "--dport", "8899"]
    sh("conntrack", "-I", *incident, "-r", "10.232.3.28", "-q", "192.168.11.7", "--reply-port-src", "8899",
       "--reply-port-dst", "31445", "--state", "ESTABLISHED", "-u", "SEEN_REPLY,ASSURED", "-t", "300")
    sh("conntrack", "-U", *incident, "--mark", "42")
    sh("conntrack", "-D", *incident)
    sh("conntrack", "-I", "-p", "udp", "-s", "fd00:11::7", "-d", "fd00:11::8", "--sport", "5000", "--dport", "53",
       "-t", "60", "-w", "3")
    sh("conntrack", "-I", "-p", "icmp", "-s", "10.0.0.1", "-d", "10.0.0.3", "--icmp-type", "8", "--icmp-code", "0",
       "--icmp-id", "77", "-t", "30")
    ct_msgs = receive_all(ct)

    sh("ip", "address", "add", "192.168.11.100/32", "dev", DEV, "label", DEV + ":vip")
    sh("ip", "address", "del", "192.168.11.100/32", "dev", DEV)
    sh("ip", "address", "add", "fd00:11::100/64", "dev", DEV, "nodad")
    sh("ip", "address", "del", "fd00:11::100/64", "dev", DEV)
    rt_msgs = receive_all(rt)

    CT_NEW, CT_DELETE, CREATE = 0x100, 0x102, 0x400
    v4 = socket.inet_aton
    v6 = lambda a: socket.inet_pton(socket.AF_INET6, a)
    write_ct_fixture("event-new", "[NEW] event: tcp 192.168.11.7:33862 -> 10.232.3.28:8899 masqueraded to port 31445 (conntrack -I), NLM_F_CREATE|NLM_F_EXCL",
                     [pick(ct_msgs, CT_NEW, v4("10.232.3.28"), CREATE)])
    write_ct_fixture("event-update", "[UPDATE] event: the same entry after conntrack -U --mark 42 (no NLM_F_CREATE)",
                     [next(m for m in ct_msgs if struct.unpack_from("<HH", m, 4) == (CT_NEW, 0) and v4("10.232.3.28") in m)])
    write_ct_fixture("event-destroy", "[DESTROY] event: the same entry deleted (conntrack -D), with counters and timestamps (acct=1, timestamp=1)",
                     [pick(ct_msgs, CT_DELETE, v4("10.232.3.28"))])
    write_ct_fixture("event-new-udp6-zone", "[NEW] event: udp [fd00:11::7]:5000 -> [fd00:11::8]:53 in zone 3 (conntrack -I -w 3)",
                     [pick(ct_msgs, CT_NEW, v6("fd00:11::8"), CREATE)])
    write_ct_fixture("event-new-icmp", "[NEW] event: icmp echo 10.0.0.1 -> 10.0.0.3 id 77, no ports (conntrack -I)",
                     [pick(ct_msgs, CT_NEW, v4("10.0.0.3"), CREATE)])

    RTM_NEWLINK, RTM_NEWADDR, RTM_DELADDR = 16, 20, 21
    write_rtnl_fixture("addr-new-ipv4", "RTM_NEWADDR: 192.168.11.100/32 on %s with label %s:vip" % (DEV, DEV),
                       pick(rt_msgs, RTM_NEWADDR, v4("192.168.11.100")))
    write_rtnl_fixture("addr-del-ipv4", "RTM_DELADDR: 192.168.11.100/32 removed from %s" % DEV,
                       pick(rt_msgs, RTM_DELADDR, v4("192.168.11.100")))
    write_rtnl_fixture("addr-new-ipv6", "RTM_NEWADDR: fd00:11::100/64 on %s (nodad)" % DEV,
                       pick(rt_msgs, RTM_NEWADDR, v6("fd00:11::100")))
    write_rtnl_fixture("addr-del-ipv6", "RTM_DELADDR: fd00:11::100/64 removed from %s" % DEV,
                       pick(rt_msgs, RTM_DELADDR, v6("fd00:11::100")))
    write_rtnl_fixture("link-new", "RTM_NEWLINK: %s set up (from RTNLGRP_LINK)" % DEV,
                       pick(rt_msgs, RTM_NEWLINK, DEV.encode() + b"\0"))


def main():
    if os.geteuid() != 0:
        sys.exit("run as root")
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    sh("ip", "netns", "add", NS)
    try:
        rf.run_in_ns(NS, record)
    finally:
        subprocess.run(["ip", "netns", "exec", NS, "conntrack", "-F"], capture_output=True)
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)


if __name__ == "__main__":
    main()
