#!/usr/bin/env python3
"""Records the IPCTNL_MSG_CT_GET_STATS replies used by the xunit tests of the empty-table check, from the running kernel.

Run as root on a test machine:  python3 tests/ConntrackTools.Tests/Fixtures/record-stats-fixtures.py
It makes two throw-away namespaces, adds three entries to the second with `conntrack -I`, asks the kernel for each
one's counts with IPCTNL_MSG_CT_GET_STATS (NLM_F_REQUEST | NLM_F_ACK, family AF_UNSPEC, as ConntrackClient does) on
a socket opened inside it, and writes each reply and its ACK as an annotated hex file next to this script:
stats-empty.hex (CTA_STATS_GLOBAL_ENTRIES 0) and stats-three.hex (3). Both namespaces are removed, also on failure.
"""
import ctypes
import os
import platform
import socket
import struct
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
NETLINK_NETFILTER = 12
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
NLMSG_ERROR = 2
CT_GET_STATS = (1 << 8) | 5  # NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_GET_STATS
STATS = {1: "CTA_STATS_GLOBAL_ENTRIES", 2: "CTA_STATS_GLOBAL_MAX_ENTRIES"}
EMPTY, THREE = "ctt-rec-stats-empty", "ctt-rec-stats-three"
CLONE_NEWNET = 0x40000000


def sh(*cmd):
    subprocess.run(cmd, check=True, capture_output=True)


def in_namespace(name, fn):
    """Runs fn with this thread switched into the named namespace, then switches back."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open("/var/run/netns/" + name, os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        return fn()
    finally:
        libc.setns(own, CLONE_NEWNET)
        os.close(own)
        os.close(target)


def ask():
    """The reply messages to one GET_STATS request, up to and including the ACK."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    try:
        s.bind((0, 0))
        body = struct.pack(">BBH", socket.AF_UNSPEC, 0, 0)
        s.send(struct.pack("=IHHII", 16 + len(body), CT_GET_STATS, NLM_F_REQUEST | NLM_F_ACK, 1, 0) + body)
        messages = []
        while not messages or struct.unpack_from("=H", messages[-1], 4)[0] != NLMSG_ERROR:
            data = s.recv(65536)
            off = 0
            while off + 16 <= len(data):
                length = struct.unpack_from("=I", data, off)[0]
                messages.append(data[off:off + length])
                off += (length + 3) & ~3
        return messages
    finally:
        s.close()


def line(b, note):
    return f"{' '.join(f'{x:02x}' for x in b):<52} # {note}"


def write(name, title, messages):
    out = [f"# {title}", f"# Recorded from Linux {platform.release()} by record-stats-fixtures.py.", "#"]
    for m in messages:
        length, mtype, flags, seq, port = struct.unpack_from("=IHHII", m)
        if mtype == NLMSG_ERROR:
            err = struct.unpack_from("=i", m, 16)[0]
            out.append(line(m[:16], f"nlmsghdr len={length} type={mtype} (NLMSG_ERROR) flags=0x{flags:04x} seq={seq} portid={port}"))
            out.append(line(m[16:20], f"nlmsgerr.error = {err} (the ACK)"))
            out.append(line(m[20:36], "nlmsgerr.msg: header of the request"))
            continue
        assert mtype == CT_GET_STATS, f"unexpected reply type {mtype:#x}"
        out.append(line(m[:16], f"nlmsghdr len={length} type=0x{mtype:04x} (IPCTNL_MSG_CT_GET_STATS) flags=0x{flags:04x} seq={seq} portid={port}"))
        out.append(line(m[16:20], f"nfgenmsg family={m[16]} version={m[17]} res_id={struct.unpack_from('>H', m, 18)[0]}"))
        off = 20
        while off + 4 <= length:
            alen, atype = struct.unpack_from("=HH", m, off)
            value = struct.unpack_from(">I", m, off + 4)[0] if alen == 8 else None
            out.append(line(m[off:off + alen], f"{STATS.get(atype, atype)} = {value} (network order)"))
            off += (alen + 3) & ~3
    with open(os.path.join(HERE, name), "w") as f:
        f.write("\n".join(out) + "\n")
    print("wrote", os.path.join(HERE, name))


def main():
    try:
        for n in (EMPTY, THREE):
            subprocess.run(["ip", "netns", "del", n], capture_output=True)
            sh("ip", "netns", "add", n)
        for port in (1001, 1002, 1003):
            sh("ip", "netns", "exec", THREE, "conntrack", "-I", "-p", "udp", "-s", "10.77.0.1", "-d", "10.77.0.2",
               "--sport", str(port), "--dport", "53", "-t", "300")
        write("stats-empty.hex", "IPCTNL_MSG_CT_GET_STATS reply and ACK in a namespace whose table is empty", in_namespace(EMPTY, ask))
        write("stats-three.hex", "IPCTNL_MSG_CT_GET_STATS reply and ACK in a namespace holding three entries", in_namespace(THREE, ask))
    finally:
        for n in (EMPTY, THREE):
            subprocess.run(["ip", "netns", "del", n], capture_output=True)


if __name__ == "__main__":
    main()
