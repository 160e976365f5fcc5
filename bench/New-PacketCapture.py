#!/usr/bin/env python3
"""Writes a pcap of N Ethernet/IPv4/TCP packets for the capture benchmark.

Usage: New-PacketCapture.py N out.pcap

Flows of 50 packets each (handshake, data both ways, FIN), from clients 10.0.x.y to 10.232.3.28:8899, interleaved
in groups of 64 flows so that many flows are open at once, as on a busy node. Every hundredth flow continues on a
new source port after its first data segment and is answered with RST (the incident's signature), so the detector
has real work. Timestamps advance 10 microseconds per packet.
"""
import struct
import sys

count, path = int(sys.argv[1]), sys.argv[2]
out = open(path, "wb")
out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))   # pcap header, LINKTYPE_ETHERNET
MAC = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00"
SERVER = bytes([10, 232, 3, 28])
t = [1_700_000_000_000_000]
written = [0]


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def packet(src, dst, sport, dport, seq, ack, flags, payload=b""):
    if written[0] >= count:
        return
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 64240, 0, 0) + payload
    total = 20 + len(tcp)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    frame = MAC + ip + tcp
    t[0] += 10
    out.write(struct.pack("<IIII", t[0] // 1_000_000, t[0] % 1_000_000, len(frame), len(frame)) + frame)
    written[0] += 1


SYN, ACK, PSH, FIN, RST = 0x02, 0x10, 0x08, 0x01, 0x04
flow = 0
while written[0] < count:
    group = []
    for g in range(64):
        client = bytes([10, 0, (flow >> 8) & 0xFF, flow & 0xFF or 1])
        group.append((flow, client, 20000 + flow % 40000, 1000 + flow * 7919 % 100000, 5000 + flow * 104729 % 100000))
        flow += 1
    for f, c, sp, cs, ss in group:
        packet(c, SERVER, sp, 8899, cs, 0, SYN)
        packet(SERVER, c, 8899, sp, ss, cs + 1, SYN | ACK)
        packet(c, SERVER, sp, 8899, cs + 1, ss + 1, ACK)
    for step in range(21):
        for f, c, sp, cs, ss in group:
            if f % 100 == 0 and step == 1:
                # the remap: the stream continues from another port, and the server resets it
                packet(c, SERVER, sp + 1, 8899, cs + 1 + 100, ss + 1 + 100, ACK | PSH, b"x" * 100)
                packet(SERVER, c, 8899, sp + 1, ss + 1 + 100, 0, RST)
                continue
            packet(c, SERVER, sp, 8899, cs + 1 + step * 100, ss + 1 + step * 100, ACK | PSH, b"x" * 100)
            packet(SERVER, c, 8899, sp, ss + 1 + step * 100, cs + 1 + (step + 1) * 100, ACK | PSH, b"y" * 100)
    for f, c, sp, cs, ss in group:
        packet(c, SERVER, sp, 8899, cs + 2101, ss + 2101, FIN | ACK)
        packet(SERVER, c, 8899, sp, ss + 2101, cs + 2102, FIN | ACK)
        packet(c, SERVER, sp, 8899, cs + 2102, ss + 2102, ACK)
out.close()
print(written[0])
