#!/usr/bin/env python3
"""Records the RTM_NEWNSID replies used by the xunit tests of Get-NetworkNamespace's NetNsId, from the running kernel.

Run as root on a test machine:  python3 tests/ConntrackTools.Tests/Fixtures/record-nsid-fixtures.py
It makes two throw-away namespaces, assigns the id 42 to the first in the caller's namespace (`ip netns set`),
asks the kernel for each one's id with RTM_GETNSID + NETNSA_FD (as NetNsIds.Of does), and writes each reply as an
annotated hex file next to this script: nsid-assigned.hex (42) and nsid-none.hex (-1, NETNSA_NSID_NOT_ASSIGNED).
Both namespaces are removed, also on failure.
"""
import os
import platform
import socket
import struct
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
NETLINK_ROUTE = 0
RTM_NEWNSID, RTM_GETNSID = 88, 90
NLM_F_REQUEST = 1
NETNSA = {0: "NETNSA_NONE", 1: "NETNSA_NSID", 2: "NETNSA_PID", 3: "NETNSA_FD", 4: "NETNSA_TARGET_NSID", 5: "NETNSA_CURRENT_NSID"}
NAMES = ("ctt-rec-nsid-a", "ctt-rec-nsid-b")


def ask(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        attr = struct.pack("=HHI", 8, 3, fd)
        body = struct.pack("=B3x", socket.AF_UNSPEC) + attr
        s.send(struct.pack("=IHHII", 16 + len(body), RTM_GETNSID, NLM_F_REQUEST, 1, 0) + body)
        reply = s.recv(65536)
        s.close()
        return reply
    finally:
        os.close(fd)


def line(b, note):
    return f"{' '.join(f'{x:02x}' for x in b):<52} # {note}"


def write(name, title, msg):
    length, mtype, flags, seq, port = struct.unpack_from("=IHHII", msg)
    assert mtype == RTM_NEWNSID, f"unexpected reply type {mtype}"
    out = [f"# {title}", f"# Recorded from Linux {platform.release()} by record-nsid-fixtures.py.", "#"]
    out.append(line(msg[:16], f"nlmsghdr len={length} type={mtype} (RTM_NEWNSID) flags=0x{flags:04x} seq={seq} portid={port}"))
    out.append(line(msg[16:20], f"rtgenmsg family={msg[16]} + 3 bytes of alignment"))
    off = 20
    while off + 4 <= length:
        alen, atype = struct.unpack_from("=HH", msg, off)
        value = struct.unpack_from("=i", msg, off + 4)[0] if alen == 8 else None
        out.append(line(msg[off:off + alen], f"{NETNSA.get(atype, atype)} = {value} (host order)"))
        off += (alen + 3) & ~3
    with open(os.path.join(HERE, name), "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    try:
        for n in NAMES:
            subprocess.run(["ip", "netns", "add", n], check=True)
        subprocess.run(["ip", "netns", "set", NAMES[0], "42"], check=True)
        write("nsid-assigned.hex", "RTM_NEWNSID: reply to RTM_GETNSID for a namespace the caller's namespace gave id 42",
              ask(f"/run/netns/{NAMES[0]}"))
        write("nsid-none.hex", "RTM_NEWNSID: reply to RTM_GETNSID for a namespace without an id (-1)",
              ask(f"/run/netns/{NAMES[1]}"))
    finally:
        for n in NAMES:
            subprocess.run(["ip", "netns", "del", n], capture_output=True)


if __name__ == "__main__":
    main()
