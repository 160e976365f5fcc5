#!/usr/bin/env python3
"""Writes the small capture files the capture tests read: one per link type and per failure of issue 11.

Our own recordings, made by this script with struct (formats per draft-ietf-opsawg-pcap and -pcapng). After
changing it, run it and then record-tshark.ps1, which writes each file's tshark fields beside it as golden data:
    python3 make-captures.py && pwsh ./record-tshark.ps1
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
T0 = 1764593650  # 2025-12-01 12:54:10 UTC


def csum(data):
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def ip4(src, dst, proto, payload, total=None, ident=1, frag=0):
    src = bytes(map(int, src.split('.')))
    dst = bytes(map(int, dst.split('.')))
    length = 20 + len(payload) if total is None else total
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, length, ident, frag, 64, proto, 0, src, dst)
    h = h[:10] + struct.pack('!H', csum(h)) + h[12:]
    return h + payload


def a6(text):
    import ipaddress
    return ipaddress.IPv6Address(text).packed


def ip6(src, dst, nh, payload, plen=None, ext=b''):
    length = len(ext) + len(payload) if plen is None else plen
    return struct.pack('!IHBB16s16s', 0x60000000, length, nh, 64, a6(src), a6(dst)) + ext + payload


def tcp(sport, dport, seq, ack, flags, win, payload=b'', options=b''):
    off = (20 + len(options)) // 4
    return struct.pack('!HHIIBBHHH', sport, dport, seq, ack, off << 4, flags, win, 0, 0) + options + payload


def udp(sport, dport, payload=b''):
    return struct.pack('!HHHH', sport, dport, 8 + len(payload), 0) + payload


SYN, ACK, PSH, FIN, RST = 0x02, 0x10, 0x08, 0x01, 0x04
MAC_A, MAC_B = bytes.fromhex('020000000001'), bytes.fromhex('020000000002')


def eth(ethertype, payload, tags=()):
    out = MAC_B + MAC_A
    for tpid, vid in tags:
        out += struct.pack('!HH', tpid, vid)
    return out + struct.pack('!H', ethertype) + payload


def conversation(v6=False, sport=33862, dport=8899):
    """A handshake, data both ways and a close: TCP segments (IP packets) for one flow, plus a DNS query."""
    c, s = ('fd00:11::7', 'fd00:232:3::28') if v6 else ('192.168.11.7', '10.232.3.28')
    ip = (lambda a, b, p, d: ip6(a, b, p, d)) if v6 else (lambda a, b, p, d: ip4(a, b, p, d))
    mss_ws = struct.pack('!BBH', 2, 4, 1460) + b'\x01' + struct.pack('!BBB', 3, 3, 7)
    return [
        ip(c, s, 6, tcp(sport, dport, 1000, 0, SYN, 64240, options=mss_ws)),
        ip(s, c, 6, tcp(dport, sport, 7000, 1001, SYN | ACK, 65160, options=mss_ws)),
        ip(c, s, 6, tcp(sport, dport, 1001, 7001, ACK, 502)),
        ip(c, s, 6, tcp(sport, dport, 1001, 7001, PSH | ACK, 502, b'hello')),
        ip(s, c, 6, tcp(dport, sport, 7001, 1006, PSH | ACK, 509, b'world!')),
        ip(c, s, 17, udp(40000, 53, b'\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01')),
        ip(c, s, 6, tcp(sport, dport, 1006, 7007, FIN | ACK, 502)),
        ip(s, c, 6, tcp(dport, sport, 7007, 1007, FIN | ACK, 509)),
        ip(c, s, 6, tcp(sport, dport, 1007, 7008, ACK, 502)),
    ]


def pcap(name, linktype, frames, nano=False, big=False, snap=262144):
    """frames: bytes, or (bytes, wire_length), or (bytes, wire_length, seconds, fraction)."""
    e = '>' if big else '<'
    out = struct.pack(e + 'IHHiIII', 0xa1b23c4d if nano else 0xa1b2c3d4, 2, 4, 0, 0, snap, linktype)
    for i, f in enumerate(frames):
        if isinstance(f, bytes):
            f = (f,)
        data = f[0]
        wire = f[1] if len(f) > 1 and f[1] is not None else len(data)
        sec = f[2] if len(f) > 2 else T0 + i
        frac = f[3] if len(f) > 3 else (i * 1500) * (1000 if nano else 1)
        out += struct.pack(e + 'IIII', sec, frac, len(data), wire) + data
    with open(os.path.join(HERE, name), 'wb') as fh:
        fh.write(out)


def pcapng(name, interfaces, packets):
    """interfaces: [(linktype, tsresol)]; packets: [(interface, bytes)]."""
    def block(t, body):
        body += b'\0' * (-len(body) % 4)
        return struct.pack('<II', t, 12 + len(body)) + body + struct.pack('<I', 12 + len(body))
    out = block(0x0A0D0D0A, struct.pack('<IHHq', 0x1A2B3C4D, 1, 0, -1))
    for lt, res in interfaces:
        opts = struct.pack('<HHB', 9, 1, res) + b'\0\0\0' + struct.pack('<HH', 0, 0)
        out += block(1, struct.pack('<HHI', lt, 0, 262144) + opts)
    for i, (iface, data) in enumerate(packets):
        res = interfaces[iface][1]
        units = (T0 + i) * 10 ** res + i * 10 ** (res - 3) if res < 0x80 else (T0 + i) << (res & 0x7f)
        out += block(6, struct.pack('<IIIII', iface, units >> 32, units & 0xffffffff, len(data), len(data)) + data)
    with open(os.path.join(HERE, name), 'wb') as fh:
        fh.write(out)


def sll(proto, payload, hatype=1):
    return struct.pack('!HHH8sH', 0, hatype, 6, MAC_A + b'\0\0', proto) + payload


def sll2(proto, payload, ifindex=3):
    return struct.pack('!HHIHBB8s', proto, 0, ifindex, 1, 0, 6, MAC_A + b'\0\0') + payload


def nflog(payload, family=2, group=5):
    def tlv(t, v):
        b = struct.pack('<HH', 4 + len(v), t) + v
        return b + b'\0' * (-len(b) % 4)
    return struct.pack('!BBH', family, 0, group) + tlv(1, struct.pack('!HBB', 0x0800 if family == 2 else 0x86dd, 3, 0)) \
        + tlv(10, b'ctt-log\0') + tlv(9, payload)


def main():
    v4, v6 = conversation(), conversation(v6=True)
    pcap('ethernet.pcap', 1, [eth(0x0800, p) for p in v4] + [eth(0x86DD, p) for p in v6])
    pcap('ethernet-big-endian-nano.pcap', 1, [eth(0x0800, p) for p in v4], nano=True, big=True)
    pcap('vlan-qinq-llc-pppoe.pcap', 1,
         [eth(0x0800, v4[0], tags=[(0x8100, 100)]),
          eth(0x0800, v4[1], tags=[(0x88A8, 10), (0x8100, 20)]),
          eth(0x86DD, v6[2], tags=[(0x9100, 30), (0x8100, 40)]),
          # 802.3 length + LLC/SNAP
          MAC_B + MAC_A + struct.pack('!H', 8 + len(v4[3])) + b'\xaa\xaa\x03\x00\x00\x00\x08\x00' + v4[3],
          # PPPoE session, PPP IPv4
          eth(0x8864, struct.pack('!BBHH', 0x11, 0, 0x1234, 2 + len(v4[4])) + b'\x00\x21' + v4[4]),
          eth(0x0806, bytes(28))])
    # MACsec: without confidentiality (with and without an SCI), then one encrypted frame.
    sectag_sci = struct.pack('!BBI', 0x20, 0, 1) + bytes.fromhex('0200000000010001')
    sectag = struct.pack('!BBI', 0x00, 0, 2)
    icv = bytes(16)
    pcap('macsec.pcap', 1,
         [eth(0x88E5, sectag_sci + b'\x08\x00' + v4[3] + icv),
          eth(0x88E5, sectag + b'\x86\xdd' + v6[4] + icv),
          eth(0x88E5, struct.pack('!BBI', 0x2C, 0, 3) + bytes.fromhex('0200000000010001') + bytes(60) + icv)])
    pcap('linux-sll.pcap', 113, [sll(0x0800, p) for p in v4] + [sll(0x86DD, p) for p in v6] + [sll(0x0806, bytes(28))])
    pcap('linux-sll2.pcap', 276, [sll2(0x0800, p) for p in v4] + [sll2(0x86DD, p) for p in v6])
    pcap('null-loopback.pcap', 0, [struct.pack('<I', 2) + p for p in v4] + [struct.pack('<I', 30) + p for p in v6])
    pcap('raw-101.pcap', 101, v4 + v6)
    pcap('raw-ipv4-228.pcap', 228, v4)
    pcap('raw-ipv6-229.pcap', 229, v6)
    pcap('ppp.pcap', 9, [b'\xff\x03\x00\x21' + p for p in v4[:4]] + [b'\x00\x21' + p for p in v4[4:]]
         + [b'\xff\x03\x00\x57' + p for p in v6[:2]] + [b'\xff\x03\xc0\x21' + bytes(8)])
    pcap('ppp-hdlc.pcap', 50, [b'\xff\x03\x00\x21' + p for p in v4])
    pcap('nflog.pcap', 239, [nflog(p) for p in v4] + [nflog(p, family=10) for p in v6])
    # IPoIB as Linux captures it: a 40-byte global route header (zeros here), then the EtherType and 2 reserved bytes.
    pcap('ipoib.pcap', 242, [bytes(40) + struct.pack('!HH', 0x0800, 0) + p for p in v4] + [bytes(40) + struct.pack('!HH', 0x86DD, 0) + p for p in v6])
    pcap('cisco-hdlc.pcap', 104, [struct.pack('!BBH', 0x0f, 0, 0x0800) + p for p in v4])
    # BIG TCP: IPv4 total length 0; IPv6 payload length 0 with a hop-by-hop jumbo option; 200,000-byte segments cut
    # by the snap length.
    big = tcp(33862, 8899, 5000, 9000, ACK, 502, bytes(200_000))
    big4 = ip4('192.168.11.7', '10.232.3.28', 6, big, total=0)
    hbh = struct.pack('!BBBBI', 6, 0, 0xC2, 4, 8 + len(big))
    big6 = ip6('fd00:11::7', 'fd00:232:3::28', 0, big, plen=0, ext=hbh)
    pcap('bigtcp.pcap', 1, [(eth(0x0800, big4)[:128], 14 + len(big4)), (eth(0x86DD, big6)[:128], 14 + len(big6))], snap=128)
    # Snapped: every frame cut at 64 bytes (Length stays the wire length).
    frames = [eth(0x0800, ip4('192.168.11.7', '10.232.3.28', 6, tcp(33862, 8899, 1, 1, PSH | ACK, 502, bytes(1400))))]
    frames += [eth(0x86DD, ip6('fd00:11::7', 'fd00:232:3::28', 17, udp(5353, 53, bytes(900))))]
    pcap('snapped.pcap', 1, [(f[:64], len(f)) for f in frames], snap=64)
    # OSPFv3 over IPv6 (protocol 89): kept as a packet with what the IP header says.
    ospf = struct.pack('!BBHIIHBB', 3, 1, 40, 0x01010101, 0, 0, 0, 0) + bytes(24)
    pcap('ospfv3.pcap', 1, [eth(0x86DD, ip6('fe80::1', 'ff02::5', 89, ospf))])
    # Timestamps: seconds past 2^31 (2038, 2106), and a microsecond field out of range (a skipped, counted frame).
    pcap('time-2038-2106.pcap', 1, [(eth(0x0800, v4[0]), None, 0x80000001, 5), (eth(0x0800, v4[1]), None, 0xFFFFFFF0, 999_999),
                                    (eth(0x0800, v4[2]), None, 0xFFFFFFF0, 1_000_000), (eth(0x0800, v4[3]), None, 0xFFFFFFF1, 0)])
    # Damage: cut short inside the last frame; a record claiming 4 GB after five good frames.
    whole = b''
    pcap('truncated.pcap', 1, [eth(0x0800, p) for p in v4[:4]])
    with open(os.path.join(HERE, 'truncated.pcap'), 'rb') as fh:
        whole = fh.read()
    with open(os.path.join(HERE, 'truncated.pcap'), 'wb') as fh:
        fh.write(whole[:-10])
    pcap('record-4gb.pcap', 1, [eth(0x0800, p) for p in v4[:5]])
    with open(os.path.join(HERE, 'record-4gb.pcap'), 'ab') as fh:
        fh.write(struct.pack('<IIII', T0 + 9, 0, 0xFFFFFFFF, 0xFFFFFFFF) + bytes(64))
    # Malformed frames between good ones: each is skipped and counted, the rest is read.
    bad = [eth(0x0800, b'\x45\x00'), eth(0x86DD, bytes(12)), eth(0x0800, b'\x4f' + bytes(30)), b'\x01\x02']
    pcap('malformed.pcap', 1, [eth(0x0800, v4[0])] + bad + [eth(0x0800, v4[1])])
    # Tunnels, for -Decapsulate: GRE (IP and Ethernet inside), VXLAN, Geneve.
    inner = v4[3]
    gre_ip = ip4('172.16.0.1', '172.16.0.2', 47, struct.pack('!HH', 0, 0x0800) + inner)
    gre_eth = ip4('172.16.0.1', '172.16.0.2', 47, struct.pack('!HHI', 0x2000, 0x6558, 42) + eth(0x0800, inner))
    vxlan = ip4('172.16.0.1', '172.16.0.2', 17, udp(50000, 4789, struct.pack('!II', 0x08000000, 100 << 8) + eth(0x0800, inner)))
    geneve = ip6('fd00:1::1', 'fd00:1::2', 17, udp(50001, 6081, struct.pack('!BBHI', 1, 0, 0x6558, 200 << 8) + bytes(4) + eth(0x0800, inner)))
    pcap('tunnels.pcap', 1, [eth(0x0800, gre_ip), eth(0x0800, gre_eth), eth(0x0800, vxlan), eth(0x86DD, geneve)])
    # pcapng: an Ethernet interface (microseconds) and a raw IP interface (nanoseconds) in one section.
    pcapng('mixed-link-types.pcapng', [(1, 6), (101, 9)], [(0, eth(0x0800, p)) for p in v4[:3]] + [(1, p) for p in v6[:3]])
    # No IP at all: an unsupported link type (USB) and an Ethernet file of ARP only.
    pcap('unsupported-usb.pcap', 220, [bytes(64), bytes(64)])
    pcap('arp-only.pcap', 1, [eth(0x0806, bytes(28)), eth(0x0806, bytes(28))])


if __name__ == '__main__':
    main()
