#!/usr/bin/env python3
"""Records the golden ctnetlink expectation messages (NFNL_SUBSYS_CTNETLINK_EXP) used by the xunit tests.

Run as root on a test machine:  python3 tests/ConntrackTools.Tests/Fixtures/record-expect-fixtures.py
It builds two throw-away namespaces (ctt-rec-ftpc, ctt-rec-ftps) joined by a veth pair, assigns the kernel's FTP
helper with an nft 'ct helper' rule in the server's namespace, opens real FTP control connections (IPv4 with a 227
reply, IPv6 with 229) with tests/Pester/ftp-lab.py, dumps the expectations the helper created, creates one by hand
(udp, PERMANENT) and records the error for an unknown master. Everything it creates is removed at the end.
Same fixture format as record-fixtures.py (hex, then '#' and an annotation).
"""
import importlib.util
import os
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FTP_LAB = os.path.join(HERE, "..", "..", "Pester", "ftp-lab.py")
spec = importlib.util.spec_from_file_location("record_fixtures", os.path.join(HERE, "record-fixtures.py"))
rf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rf)

CLIENT, SERVER = "ctt-rec-ftpc", "ctt-rec-ftps"
EXP_NEW, EXP_GET = 0x200, 0x201
EXPECT = {1: "CTA_EXPECT_MASTER", 2: "CTA_EXPECT_TUPLE", 3: "CTA_EXPECT_MASK", 4: "CTA_EXPECT_TIMEOUT",
          5: "CTA_EXPECT_ID", 6: "CTA_EXPECT_HELP_NAME", 7: "CTA_EXPECT_ZONE", 8: "CTA_EXPECT_FLAGS",
          9: "CTA_EXPECT_CLASS", 10: "CTA_EXPECT_NAT", 11: "CTA_EXPECT_FN"}
for n in ("CTA_EXPECT_MASTER", "CTA_EXPECT_TUPLE", "CTA_EXPECT_MASK"):
    rf.NESTED_NAMES[n] = rf.TUPLE


_plain_value_text = rf.value_text


def value_text(name, v):
    if name in ("CTA_EXPECT_HELP_NAME", "CTA_EXPECT_FN"):
        return '"%s"' % v.rstrip(b"\0").decode()
    return _plain_value_text(name, v)


rf.value_text = value_text


def annotate(msg):
    out = []
    ln, typ, flags, seq, pid = struct.unpack_from("<IHHII", msg, 0)
    out.append((rf.hexs(msg[0:16]), "nlmsghdr len=%d type=0x%04x flags=0x%04x seq=%d portid=%d" % (ln, typ, flags, seq, pid)))
    if typ == 2:
        out.append((rf.hexs(msg[16:20]), "nlmsgerr.error = %d" % struct.unpack_from("<i", msg, 16)[0]))
        out.append((rf.hexs(msg[20:36]), "nlmsgerr.msg: header of the request that failed"))
        if len(msg) > 36:
            out.append((rf.hexs(msg[36:]), "extended ack TLVs / request payload"))
        return out
    fam, ver, res = struct.unpack_from(">BBH", msg, 16)
    out.append((rf.hexs(msg[16:20]), "nfgenmsg family=%d version=%d res_id=%d" % (fam, ver, res)))
    rf.annotate_attrs(msg[20:ln], EXPECT, 0, out)
    return out


def write_fixture(name, title, messages):
    path = os.path.join(HERE, name + ".hex")
    with open(path, "w") as f:
        f.write("# %s\n# Recorded from Linux %s by record-expect-fixtures.py.\n" % (title, os.uname().release))
        for i, m in enumerate(messages):
            f.write("#\n# message %d\n" % (i + 1))
            for h, note in annotate(m):
                parts = h.split(" ")
                for j in range(0, max(len(parts), 1), 16):
                    f.write("%-*s # %s\n" % (52, " ".join(parts[j: j + 16]), note if j == 0 else "  ..."))
    print("wrote", path)


def tuple_attr(t, src, dst, proto, sport, dport):
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    a, b = (3, 4) if fam == socket.AF_INET6 else (1, 2)
    ip = rf.nest(1, rf.attr(a, socket.inet_pton(fam, src)), rf.attr(b, socket.inet_pton(fam, dst)))
    pr = rf.nest(2, rf.attr(1, bytes([proto])), rf.attr(2, struct.pack(">H", sport)), rf.attr(3, struct.pack(">H", dport)))
    return rf.nest(t, ip, pr)


def exp_dump():
    nl = rf.Netlink()
    nl.send(EXP_GET, rf.NLM_F_REQUEST | rf.NLM_F_DUMP, 0)
    return list(nl.messages())


def exp_new(master, expected, mask, timeout, flags=0):
    nl = rf.Netlink()
    payload = tuple_attr(1, *master) + tuple_attr(2, *expected) + tuple_attr(3, *mask) + rf.attr(4, struct.pack(">I", timeout))
    if flags:
        payload += rf.attr(8, struct.pack(">I", flags))
    nl.send(EXP_NEW, rf.NLM_F_REQUEST | rf.NLM_F_ACK | rf.NLM_F_CREATE | rf.NLM_F_EXCL, 2, payload)
    return list(nl.messages())


def main():
    if os.geteuid() != 0:
        sys.exit("run as root")
    procs = []
    for ns in (CLIENT, SERVER):
        rf.sh("ip", "netns", "del", ns, check=False)
    try:
        rf.sh("ip", "netns", "add", CLIENT)
        rf.sh("ip", "netns", "add", SERVER)
        rf.sh("ip", "link", "add", "ctt-recf0", "netns", CLIENT, "type", "veth", "peer", "name", "ctt-recf1", "netns", SERVER)
        for ns, dev, v4, v6 in ((CLIENT, "ctt-recf0", "10.78.0.1/24", "fd00:78::1/64"), (SERVER, "ctt-recf1", "10.78.0.2/24", "fd00:78::2/64")):
            rf.nsx(ns, "ip", "addr", "add", v4, "dev", dev)
            rf.nsx(ns, "ip", "addr", "add", v6, "dev", dev, "nodad")
            rf.nsx(ns, "ip", "link", "set", "lo", "up")
            rf.nsx(ns, "ip", "link", "set", dev, "up")
        rules = ('add table inet ctt; add ct helper inet ctt ftp-std { type "ftp" protocol tcp; }; '
                 'add chain inet ctt pre { type filter hook prerouting priority 0; }; '
                 'add rule inet ctt pre tcp dport 21 ct helper set "ftp-std"')
        rf.nsx(SERVER, "nft", rules)
        for addr in ("10.78.0.2", "fd00:78::2"):
            procs.append(subprocess.Popen(["ip", "netns", "exec", SERVER, "python3", FTP_LAB, "server", addr, "21"], stdout=subprocess.PIPE, text=True))
            procs[-1].stdout.readline()
        locals_ = []
        for addr, dport in (("10.78.0.2", 50123), ("fd00:78::2", 50124)):
            p = subprocess.Popen(["ip", "netns", "exec", CLIENT, "python3", FTP_LAB, "client", addr, "21", str(dport)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            procs.append(p)
            locals_.append(p.stdout.readline().strip().split("\t"))
        time.sleep(0.2)
        msgs = rf.run_in_ns(SERVER, exp_dump)
        v4 = [m for m in msgs if m[16] == 2]
        v6 = [m for m in msgs if m[16] == 10]
        write_fixture("expect-ftp-ipv4", "FTP helper expectation after '227 ... (10,78,0,2,195,203)': tcp 10.78.0.1:any -> 10.78.0.2:50123, master tcp 10.78.0.1:%s -> 10.78.0.2:21" % locals_[0][2], v4)
        write_fixture("expect-ftp-ipv6", "FTP helper expectation after '229 (|||50124|)': tcp fd00:78::1:any -> fd00:78::2:50124, master port %s" % locals_[1][2], v6)
        sport = int(locals_[0][2])
        master = ("10.78.0.1", "10.78.0.2", 6, sport, 21)
        res = rf.run_in_ns(SERVER, lambda: exp_new(master, ("10.78.0.1", "10.78.0.2", 17, 0, 5004), ("255.255.255.255", "255.255.255.255", 17, 0, 0xffff), 120, flags=1))
        assert res and struct.unpack_from("<i", res[0], 16)[0] == 0, res
        msgs = rf.run_in_ns(SERVER, exp_dump)
        write_fixture("expect-userspace", "expectation created over netlink: udp 10.78.0.1:any -> 10.78.0.2:5004, PERMANENT, asked for 120 s (the helper's policy timeout, 300 s, applies), master tcp 10.78.0.1:%d -> 10.78.0.2:21" % sport, [m for m in msgs if m[16] == 2])
        res = rf.run_in_ns(SERVER, lambda: exp_new(("10.78.0.1", "10.78.0.2", 6, 1, 21), ("10.78.0.1", "10.78.0.2", 6, 0, 40000), ("255.255.255.255", "255.255.255.255", 6, 0, 0xffff), 60))
        write_fixture("expect-error-enoent", "IPCTNL_MSG_EXP_NEW for a master that does not exist: ENOENT", res)
    finally:
        for p in procs:
            p.kill()
            p.wait()
        for ns in (CLIENT, SERVER):
            rf.nsx(ns, "conntrack", "-F", check=False)
            rf.sh("ip", "netns", "del", ns, check=False)


if __name__ == "__main__":
    main()
