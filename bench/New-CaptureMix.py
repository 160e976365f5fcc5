#!/usr/bin/env python3
"""Writes one pcap of N packets replayed from a folder of real captures (for example a local copy of tcpdump's
tests/ directory), so the capture benchmark does not rest on one synthetic pattern.

Usage: New-CaptureMix.py FOLDER N out.pcap

Every classic pcap file of the folder with Ethernet frames (link type 1, either byte order, micro- or nanosecond)
contributes its records, in file order; the sequence is replayed until N records are written, with timestamps
renumbered 10 microseconds apart (so time only moves forward). Files of other link types and pcapng are skipped;
a record cut short ends its file.
"""
import os
import struct
import sys

folder, count, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
records = []
for name in sorted(os.listdir(folder)):
    if not name.endswith('.pcap'):
        continue
    data = open(os.path.join(folder, name), 'rb').read()
    if len(data) < 24:
        continue
    magic = data[:4]
    if magic in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1'):
        e = '<'
    elif magic in (b'\xa1\xb2\xc3\xd4', b'\xa1\xb2\x3c\x4d'):
        e = '>'
    else:
        continue
    if struct.unpack(e + 'I', data[20:24])[0] & 0xffff != 1:
        continue
    at = 24
    while at + 16 <= len(data):
        caplen, wire = struct.unpack(e + 'II', data[at + 8:at + 16])
        if caplen > 262144 or at + 16 + caplen > len(data):
            break
        records.append((data[at + 16:at + 16 + caplen], wire))
        at += 16 + caplen
if not records:
    sys.exit('no Ethernet pcap records in ' + folder)
with open(path, 'wb') as out:
    out.write(struct.pack('<IHHiIII', 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
    t = 1_700_000_000_000_000
    for i in range(count):
        frame, wire = records[i % len(records)]
        out.write(struct.pack('<IIII', t // 1_000_000, t % 1_000_000, len(frame), wire) + frame)
        t += 10
print(len(records), 'distinct records')
