#!/usr/bin/env python3
"""The kernel's own dump speed: one ctnetlink IPCTNL_MSG_CT_GET dump, reading datagrams and walking message
headers only (no attribute decoding). Prints the number of entries. Usage: raw-dump.py [family]"""
import socket
import struct
import sys

family = int(sys.argv[1]) if len(sys.argv) > 1 else 0
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)       # NETLINK_NETFILTER
s.setsockopt(socket.SOL_SOCKET, 33, 4 << 20)                     # SO_RCVBUFFORCE
s.bind((0, 0))
s.send(struct.pack("=IHHII", 20, (1 << 8) | 1, 0x301, 1, 0) + struct.pack("=BBH", family, 0, 0))
buf = bytearray(1 << 20)
header = struct.Struct("=IH").unpack_from
entries = 0
while True:
    n = s.recv_into(buf)
    off = 0
    while off < n:
        length, kind = header(buf, off)
        if kind == 3:                                            # NLMSG_DONE
            print(entries)
            sys.exit(0)
        if kind == 2 and struct.unpack_from("=i", buf, off + 16)[0]:
            sys.exit("netlink error %d" % struct.unpack_from("=i", buf, off + 16)[0])
        entries += 1
        off += (length + 3) & ~3
