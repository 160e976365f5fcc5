using System;
using System.Buffers.Binary;
using System.Net;
using ConntrackTools.Inet;

namespace ConntrackTools.Capture;

/// <summary>What a captured frame turned out to be.</summary>
internal enum FrameKind
{
    /// <summary>An IPv4 or IPv6 packet: a <see cref="CapturedPacket"/> was made.</summary>
    Packet,
    /// <summary>Not IP (ARP, LLDP, LCP, STP, ...): skipped.</summary>
    NotIp,
    /// <summary>Link-layer or IP headers cut short or inconsistent: skipped.</summary>
    Undecodable,
    /// <summary>A link type this decoder does not read (radiotap, USB, ...): skipped.</summary>
    UnsupportedLinkType,
    /// <summary>IP inside MACsec with confidentiality: the payload is encrypted, skipped.</summary>
    Encrypted,
    /// <summary>A file record whose timestamp is no time (a sub-second field out of range, beyond year 9999): skipped.</summary>
    BadTimestamp,
}

/// <summary>
/// Turns one captured frame into a <see cref="CapturedPacket"/>. It reads the link layers an operator meets on Linux
/// (Ethernet with 802.1Q/802.1ad/QinQ tags, LLC/SNAP, PPPoE and MACsec without encryption; Linux cooked SLL and SLL2 as
/// 'tcpdump -i any' writes them; BSD loopback/null; raw IP, raw IPv4 and raw IPv6 (tun, WireGuard); PPP with and
/// without the HDLC address/control bytes; Cisco HDLC; NFLOG (iptables/nft 'log group N'); IP over InfiniBand), then
/// IPv4 or IPv6 with extension headers, and TCP, UDP, ICMP or ICMPv6.
/// <para>
/// Every read is bounds-checked: a frame cut short or lying about its lengths is <see cref="FrameKind.Undecodable"/>,
/// never an exception. An IP header that parses gives a packet even when the upper layer does not (Protocol, addresses
/// and lengths come from the IP header). Lengths come from the IP header, not from the bytes captured, so a short snap
/// length does not change them; an IPv4 total length of 0 or an IPv6 payload length of 0 (BIG TCP, TSO, jumbograms
/// without the option) takes the length from the frame on the wire, as tshark does, and an IPv6 jumbo payload option
/// gives its 32-bit length.
/// </para>
/// <para>
/// With <c>decapsulate</c>, GRE (IP or Ethernet inside), VXLAN (UDP 4789) and Geneve (UDP 6081) are opened and the
/// innermost IP packet is the one reported, with <see cref="CapturedPacket.Encapsulation"/> naming the tunnels.
/// </para>
/// </summary>
internal static class PacketDecoder
{
    // Link types (LINKTYPE_* of the pcap registry; the DLT_* values libpcap hands out for live devices are the same,
    // except raw IP, which is DLT_RAW 12 (14 on some BSDs) live and LINKTYPE_RAW 101 in files).
    public const int LinkNull = 0, LinkEthernet = 1, LinkPpp = 9, LinkRawDlt = 12, LinkRawBsd = 14, LinkPppHdlc = 50,
        LinkRaw = 101, LinkCiscoHdlc = 104, LinkLoop = 108, LinkLinuxSll = 113, LinkRawIPv4 = 228, LinkRawIPv6 = 229,
        LinkNflog = 239, LinkIpoib = 242, LinkLinuxSll2 = 276;

    private const int VxlanPort = 4789, GenevePort = 6081, MaxTunnels = 4;

    /// <summary>True for a link type this decoder reads.</summary>
    public static bool IsSupported(int linkType) => linkType is LinkNull or LinkEthernet or LinkPpp or LinkRawDlt or LinkRawBsd
        or LinkPppHdlc or LinkRaw or LinkCiscoHdlc or LinkLoop or LinkLinuxSll or LinkRawIPv4 or LinkRawIPv6 or LinkNflog
        or LinkIpoib or LinkLinuxSll2;

    /// <summary>A name for a link type in messages: the pcap registry's, or the number.</summary>
    public static string LinkTypeName(int linkType) => linkType switch
    {
        LinkNull => "NULL (BSD loopback)", LinkEthernet => "ETHERNET", LinkPpp => "PPP", LinkRawDlt or LinkRawBsd or LinkRaw => "RAW",
        LinkPppHdlc => "PPP_HDLC", LinkCiscoHdlc => "C_HDLC", LinkLoop => "LOOP", LinkLinuxSll => "LINUX_SLL",
        LinkRawIPv4 => "IPV4", LinkRawIPv6 => "IPV6", LinkNflog => "NFLOG", LinkIpoib => "IPOIB", LinkLinuxSll2 => "LINUX_SLL2",
        105 => "IEEE802_11", 127 => "IEEE802_11_RADIOTAP", 189 => "USB_LINUX", 220 => "USB_LINUX_MMAPPED",
        195 => "IEEE802_15_4", 201 => "BLUETOOTH_HCI_H4_WITH_PHDR", 253 => "NETLINK",
        _ => linkType.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    public static FrameKind Decode(int linkType, ReadOnlySpan<byte> frame, DateTime timestamp, int wireLength, string? interfaceName,
        out CapturedPacket? packet, bool decapsulate = false, long frameNumber = 0)
    {
        packet = null;
        var kind = LinkLayer(linkType, frame, out int offset, out int version);
        if (kind != FrameKind.Packet) return kind;
        kind = Ip(frame, offset, version, wireLength, out var ip);
        if (kind != FrameKind.Packet) return kind;
        string? tunnels = null;
        // A tunnel whose inner packet cannot be read is reported as the outer packet it is.
        for (int depth = 0; decapsulate && depth < MaxTunnels && Inner(frame, ip, out int innerOffset, out int innerVersion, out string? tunnel); depth++)
        {
            if (Ip(frame, innerOffset, innerVersion, wireLength, out var inner) != FrameKind.Packet) break;
            ip = inner;
            tunnels = tunnels is null ? tunnel : tunnels + "/" + tunnel;
        }
        packet = Build(frame, ip, timestamp, wireLength, interfaceName, tunnels, frameNumber);
        return FrameKind.Packet;
    }

    /// <summary>Where the IP header starts in a frame of this link type, and its version (4 or 6; 0: read it from the header).</summary>
    private static FrameKind LinkLayer(int linkType, ReadOnlySpan<byte> f, out int offset, out int version)
    {
        offset = 0;
        version = 0;
        switch (linkType)
        {
            case LinkEthernet:
                if (f.Length < 14) return FrameKind.Undecodable;
                return EtherType(f, BinaryPrimitives.ReadUInt16BigEndian(f[12..]), 14, ethernetFrame: true, out offset, out version);
            case LinkRaw or LinkRawDlt or LinkRawBsd:
                return FrameKind.Packet;
            case LinkRawIPv4:
                version = 4;
                return FrameKind.Packet;
            case LinkRawIPv6:
                version = 6;
                return FrameKind.Packet;
            case LinkNull or LinkLoop:
            {
                if (f.Length < 4) return FrameKind.Undecodable;
                // The address family in the byte order of the host that wrote it (NULL) or in network order (LOOP).
                uint family = BinaryPrimitives.ReadUInt32LittleEndian(f);
                if (family > 0xffff) family = BinaryPrimitives.ReadUInt32BigEndian(f);
                offset = 4;
                version = family switch { 2 => 4, 10 or 24 or 28 or 30 => 6, _ => -1 };
                return version < 0 ? FrameKind.NotIp : FrameKind.Packet;
            }
            case LinkLinuxSll:
            {
                if (f.Length < 16) return FrameKind.Undecodable;
                ushort hatype = BinaryPrimitives.ReadUInt16BigEndian(f[2..]);
                if (hatype == 824) return FrameKind.NotIp;  // ARPHRD_NETLINK (nlmon)
                return SllProtocol(f, BinaryPrimitives.ReadUInt16BigEndian(f[14..]), 16, out offset, out version);
            }
            case LinkLinuxSll2:
            {
                if (f.Length < 20) return FrameKind.Undecodable;
                ushort hatype = BinaryPrimitives.ReadUInt16BigEndian(f[8..]);
                if (hatype == 824) return FrameKind.NotIp;
                return SllProtocol(f, BinaryPrimitives.ReadUInt16BigEndian(f), 20, out offset, out version);
            }
            case LinkPpp or LinkPppHdlc:
                return Ppp(f, 0, out offset, out version);
            case LinkCiscoHdlc:
                if (f.Length < 4) return FrameKind.Undecodable;
                return EtherType(f, BinaryPrimitives.ReadUInt16BigEndian(f[2..]), 4, ethernetFrame: false, out offset, out version);
            case LinkIpoib:
                // What Linux captures on an ib interface: 40 bytes of global route header (or the peer address,
                // zero-padded), then RFC 4391's 4-byte encapsulation header: the EtherType and two reserved bytes.
                if (f.Length < 44) return FrameKind.Undecodable;
                return EtherType(f, BinaryPrimitives.ReadUInt16BigEndian(f[40..]), 44, ethernetFrame: false, out offset, out version);
            case LinkNflog:
                return Nflog(f, out offset, out version);
            default:
                return FrameKind.UnsupportedLinkType;
        }
    }

    private static FrameKind SllProtocol(ReadOnlySpan<byte> f, ushort protocol, int at, out int offset, out int version)
    {
        // ETH_P_802_2: an 802.2 LLC header follows (no MAC header); ETH_P_802_3 and other small values are not IP.
        if (protocol == 0x0004) return Llc(f, at, out offset, out version);
        if (protocol < 0x0600)
        {
            offset = version = 0;
            return FrameKind.NotIp;
        }
        return EtherType(f, protocol, at, ethernetFrame: false, out offset, out version);
    }

    /// <summary>Follows EtherTypes through VLAN tags, MACsec, PPPoE and LLC/SNAP to IPv4 or IPv6.</summary>
    private static FrameKind EtherType(ReadOnlySpan<byte> f, ushort type, int at, bool ethernetFrame, out int offset, out int version)
    {
        offset = version = 0;
        for (int hops = 0; hops < 16; hops++)
        {
            switch (type)
            {
                case 0x0800:
                    offset = at;
                    version = 4;
                    return FrameKind.Packet;
                case 0x86DD:
                    offset = at;
                    version = 6;
                    return FrameKind.Packet;
                case 0x8100 or 0x88A8 or 0x9100:        // 802.1Q, 802.1ad (QinQ outer), the old QinQ type
                    if (f.Length < at + 4) return FrameKind.Undecodable;
                    type = BinaryPrimitives.ReadUInt16BigEndian(f[(at + 2)..]);
                    at += 4;
                    continue;
                case 0x88E5:                            // MACsec (802.1AE): SecTAG, then the secure data
                {
                    if (f.Length < at + 6) return FrameKind.Undecodable;
                    byte tci = f[at];
                    if ((tci & 0x0C) != 0) return FrameKind.Encrypted;  // E or C bit: confidentiality, the data is ciphertext
                    at += (tci & 0x20) != 0 ? 14 : 6;  // SC bit: an 8-byte SCI follows the packet number
                    if (f.Length < at + 2) return FrameKind.Undecodable;
                    type = BinaryPrimitives.ReadUInt16BigEndian(f[at..]);
                    at += 2;
                    continue;
                }
                case 0x8864:                            // PPPoE session: 6-byte header, then a PPP protocol field
                    if (f.Length < at + 6) return FrameKind.Undecodable;
                    return Ppp(f, at + 6, out offset, out version);
                default:
                    if (ethernetFrame && type <= 1500) return Llc(f, at, out offset, out version);
                    return FrameKind.NotIp;
            }
        }
        return FrameKind.Undecodable;
    }

    /// <summary>802.2 LLC: only SNAP (AA AA 03, OUI, EtherType) carries IP in practice.</summary>
    private static FrameKind Llc(ReadOnlySpan<byte> f, int at, out int offset, out int version)
    {
        offset = version = 0;
        if (f.Length < at + 3) return FrameKind.Undecodable;
        if (f[at] != 0xAA || f[at + 1] != 0xAA || f[at + 2] != 0x03) return FrameKind.NotIp;
        if (f.Length < at + 8) return FrameKind.Undecodable;
        return EtherType(f, BinaryPrimitives.ReadUInt16BigEndian(f[(at + 6)..]), at + 8, ethernetFrame: false, out offset, out version);
    }

    /// <summary>PPP, with or without the HDLC address and control bytes (FF 03), with a full or compressed protocol field.</summary>
    private static FrameKind Ppp(ReadOnlySpan<byte> f, int at, out int offset, out int version)
    {
        offset = version = 0;
        if (f.Length >= at + 2 && f[at] == 0xFF && f[at + 1] == 0x03) at += 2;
        if (f.Length < at + 1) return FrameKind.Undecodable;
        int protocol;
        if ((f[at] & 1) == 1)
        {
            protocol = f[at];                  // protocol field compression (RFC 1661 6.5)
            at += 1;
        }
        else
        {
            if (f.Length < at + 2) return FrameKind.Undecodable;
            protocol = BinaryPrimitives.ReadUInt16BigEndian(f[at..]);
            at += 2;
        }
        offset = at;
        version = protocol switch { 0x21 => 4, 0x57 => 6, _ => 0 };
        return version == 0 ? FrameKind.NotIp : FrameKind.Packet;
    }

    /// <summary>
    /// NFLOG (what 'log group N' sends to user space): family, version and group, then netlink-style TLVs in the
    /// writer's byte order (length, type); NFULA_PAYLOAD (9) holds the IP packet.
    /// </summary>
    private static FrameKind Nflog(ReadOnlySpan<byte> f, out int offset, out int version)
    {
        offset = version = 0;
        if (f.Length < 4) return FrameKind.Undecodable;
        version = f[0] switch { 2 => 4, 10 => 6, _ => 0 };
        if (version == 0) return FrameKind.NotIp;
        int at = 4;
        while (at + 4 <= f.Length)
        {
            int length = BinaryPrimitives.ReadUInt16LittleEndian(f[at..]);
            int type = BinaryPrimitives.ReadUInt16LittleEndian(f[(at + 2)..]);
            if (length < 4 || length > f.Length - at)
            {
                // Written on a big-endian host? Try that order once before giving up.
                int beLength = BinaryPrimitives.ReadUInt16BigEndian(f[at..]);
                if (beLength < 4 || beLength > f.Length - at) return FrameKind.Undecodable;
                length = beLength;
                type = BinaryPrimitives.ReadUInt16BigEndian(f[(at + 2)..]);
            }
            if ((type & 0x7fff) == 9)
            {
                offset = at + 4;
                return FrameKind.Packet;
            }
            at += (length + 3) & ~3;
        }
        return FrameKind.NotIp;  // a log message without the packet (nflog with a zero copy range)
    }

    /// <summary>The parts of an IP header the packet and the tunnels need.</summary>
    private readonly struct IpHeader
    {
        public int Version { get; init; }
        public int Start { get; init; }
        /// <summary>Where the upper-layer header starts in the frame.</summary>
        public int Upper { get; init; }
        public int Protocol { get; init; }
        /// <summary>Bytes after all IP headers (extension headers included), from the header's length fields.</summary>
        public int UpperLength { get; init; }
        public bool LaterFragment { get; init; }
    }

    private static FrameKind Ip(ReadOnlySpan<byte> f, int at, int version, int wireLength, out IpHeader ip)
    {
        ip = default;
        if (f.Length < at + 1) return FrameKind.Undecodable;
        int actual = f[at] >> 4;
        if (version == 0) version = actual;
        if (actual != version) return FrameKind.Undecodable;
        // What the frame held of this IP packet on the wire (the capture may have kept less).
        int onWire = Math.Max(wireLength, f.Length) - at;
        if (version == 4)
        {
            if (f.Length < at + 20) return FrameKind.Undecodable;
            int headerLength = (f[at] & 0x0f) * 4;
            if (headerLength < 20 || f.Length < at + headerLength) return FrameKind.Undecodable;
            int total = BinaryPrimitives.ReadUInt16BigEndian(f[(at + 2)..]);
            // TSO/BIG TCP write 0: the length is the frame's. A length beyond the frame is cut to it, as tshark does.
            if (total == 0 || total > onWire) total = onWire;
            if (total < headerLength) return FrameKind.Undecodable;
            int fragment = BinaryPrimitives.ReadUInt16BigEndian(f[(at + 6)..]);
            ip = new IpHeader
            {
                Version = 4, Start = at, Upper = at + headerLength, Protocol = f[at + 9],
                UpperLength = total - headerLength, LaterFragment = (fragment & 0x1fff) != 0,
            };
            return FrameKind.Packet;
        }
        if (version != 6) return FrameKind.Undecodable;
        if (f.Length < at + 40) return FrameKind.Undecodable;
        long payload = BinaryPrimitives.ReadUInt16BigEndian(f[(at + 4)..]);
        int next = f[at + 6];
        int pos = at + 40;
        bool laterFragment = false;
        long jumbo = -1;
        // Extension headers: hop-by-hop, routing, fragment, destination options, authentication (and mobility's
        // framing is that of an extension header too, but it is an upper layer of its own, as tshark shows it).
        for (int hops = 0; hops < 16; hops++)
        {
            if (next is 0 or 43 or 60)
            {
                if (f.Length < pos + 2) break;
                int length = (f[pos + 1] + 1) * 8;
                if (f.Length < pos + length) break;
                if (next == 0) jumbo = JumboOption(f.Slice(pos + 2, length - 2));
                next = f[pos];
                pos += length;
            }
            else if (next == 44)
            {
                if (f.Length < pos + 8) break;
                laterFragment = (BinaryPrimitives.ReadUInt16BigEndian(f[(pos + 2)..]) & 0xfff8) != 0;
                next = f[pos];
                pos += 8;
            }
            else if (next == 51)
            {
                if (f.Length < pos + 2) break;
                int length = (f[pos + 1] + 2) * 4;
                if (f.Length < pos + length) break;
                next = f[pos];
                pos += length;
            }
            else break;
        }
        if (payload == 0) payload = jumbo >= 0 ? jumbo : onWire - 40;
        payload = Math.Min(payload, onWire - 40);
        int upperLength = (int)Math.Min(int.MaxValue, Math.Max(0, payload - (pos - at - 40)));
        ip = new IpHeader { Version = 6, Start = at, Upper = pos, Protocol = next, UpperLength = upperLength, LaterFragment = laterFragment };
        return FrameKind.Packet;
    }

    /// <summary>The value of the jumbo payload option (RFC 2675, type 0xC2) among hop-by-hop options, or -1.</summary>
    private static long JumboOption(ReadOnlySpan<byte> options)
    {
        while (options.Length > 0)
        {
            byte type = options[0];
            if (type == 0) { options = options[1..]; continue; }      // Pad1
            if (options.Length < 2 || options.Length < 2 + options[1]) break;
            if (type == 0xC2 && options[1] == 4) return BinaryPrimitives.ReadUInt32BigEndian(options[2..]);
            options = options[(2 + options[1])..];
        }
        return -1;
    }

    /// <summary>The IP packet a tunnel carries, when <paramref name="ip"/> is GRE, VXLAN or Geneve with IP (or Ethernet with IP) inside.</summary>
    private static bool Inner(ReadOnlySpan<byte> f, in IpHeader ip, out int offset, out int version, out string? tunnel)
    {
        offset = version = 0;
        tunnel = null;
        if (ip.LaterFragment) return false;
        int at = ip.Upper;
        if (ip.Protocol == 47)
        {
            if (f.Length < at + 4) return false;
            ushort flags = BinaryPrimitives.ReadUInt16BigEndian(f[at..]);
            if ((flags & 0x7) != 0) return false;                     // version 0 only (1 is PPTP's enhanced GRE)
            ushort type = BinaryPrimitives.ReadUInt16BigEndian(f[(at + 2)..]);
            at += 4 + ((flags & 0x8000) != 0 ? 4 : 0) + ((flags & 0x2000) != 0 ? 4 : 0) + ((flags & 0x1000) != 0 ? 4 : 0);
            tunnel = "gre";
            return Tunnelled(f, type, at, out offset, out version);
        }
        if (ip.Protocol != 17 || f.Length < at + 8) return false;
        int destinationPort = BinaryPrimitives.ReadUInt16BigEndian(f[(at + 2)..]);
        at += 8;
        if (destinationPort == VxlanPort)
        {
            if (f.Length < at + 8 || (f[at] & 0x08) == 0) return false;  // the I flag: a valid VNI
            tunnel = "vxlan";
            return Tunnelled(f, 0x6558, at + 8, out offset, out version);
        }
        if (destinationPort == GenevePort)
        {
            if (f.Length < at + 8 || f[at] >> 6 != 0) return false;      // version 0
            int options = (f[at] & 0x3f) * 4;
            ushort type = BinaryPrimitives.ReadUInt16BigEndian(f[(at + 2)..]);
            tunnel = "geneve";
            return Tunnelled(f, type, at + 8 + options, out offset, out version);
        }
        return false;
    }

    private static bool Tunnelled(ReadOnlySpan<byte> f, ushort type, int at, out int offset, out int version)
    {
        offset = version = 0;
        if (type == 0x6558)                                                // transparent Ethernet bridging
        {
            if (f.Length < at + 14) return false;
            return EtherType(f, BinaryPrimitives.ReadUInt16BigEndian(f[(at + 12)..]), at + 14, ethernetFrame: true, out offset, out version) == FrameKind.Packet;
        }
        return EtherType(f, type, at, ethernetFrame: false, out offset, out version) == FrameKind.Packet;
    }

    private static CapturedPacket Build(ReadOnlySpan<byte> f, in IpHeader ip, DateTime timestamp, int wireLength, string? interfaceName, string? tunnels, long frameNumber)
    {
        IPAddress source, destination;
        if (ip.Version == 4)
        {
            source = new IPAddress(f.Slice(ip.Start + 12, 4));
            destination = new IPAddress(f.Slice(ip.Start + 16, 4));
        }
        else
        {
            source = new IPAddress(f.Slice(ip.Start + 8, 16));
            destination = new IPAddress(f.Slice(ip.Start + 24, 16));
        }

        // Only the first fragment carries the transport header; later ones are IP payload without ports. An upper
        // layer cut short by the snap length or malformed leaves the packet with what the IP header says.
        int payload = ip.UpperLength;
        int? sourcePort = null, destinationPort = null, window = null, windowScale = null, icmpType = null, icmpCode = null;
        uint? sequence = null, acknowledgment = null;
        TcpFlags? flags = null;
        var upper = ip.LaterFragment || ip.Upper > f.Length ? ReadOnlySpan<byte>.Empty : f[ip.Upper..];
        switch (ip.Protocol)
        {
            case 6 when upper.Length >= 4:
            {
                // Each field is read as far as the capture kept the header (tshark shows the ports of a header cut at 4 bytes).
                sourcePort = BinaryPrimitives.ReadUInt16BigEndian(upper);
                destinationPort = BinaryPrimitives.ReadUInt16BigEndian(upper[2..]);
                if (upper.Length >= 8) sequence = BinaryPrimitives.ReadUInt32BigEndian(upper[4..]);
                if (upper.Length >= 12) acknowledgment = BinaryPrimitives.ReadUInt32BigEndian(upper[8..]);
                // The low byte of the flags field holds the eight bits TcpFlags names (the ninth, NS, is historic).
                if (upper.Length >= 14) flags = (TcpFlags)upper[13];
                if (upper.Length >= 16) window = BinaryPrimitives.ReadUInt16BigEndian(upper[14..]);
                if (upper.Length < 13) break;
                int headerLength = (upper[12] >> 4) * 4;
                if (headerLength >= 20 && headerLength <= ip.UpperLength)
                {
                    payload = ip.UpperLength - headerLength;
                    if (flags is { } f0 && f0.HasFlag(TcpFlags.Syn) && upper.Length >= headerLength) windowScale = WindowScaleOption(upper[20..headerLength]);
                }
                break;
            }
            case 17 or 136 when upper.Length >= 4:   // UDP, UDP-Lite
                sourcePort = BinaryPrimitives.ReadUInt16BigEndian(upper);
                destinationPort = BinaryPrimitives.ReadUInt16BigEndian(upper[2..]);
                if (ip.UpperLength >= 8) payload = ip.UpperLength - 8;
                break;
            case 1 or 58 when upper.Length >= 2:
                icmpType = upper[0];
                icmpCode = upper[1];
                if (ip.UpperLength >= 8) payload = ip.UpperLength - 8;
                break;
        }

        return new CapturedPacket
        {
            Timestamp = timestamp,
            FrameNumber = frameNumber,
            Interface = interfaceName,
            AddressFamily = ip.Version == 4 ? IPFamily.IPv4 : IPFamily.IPv6,
            SourceIP = source,
            DestinationIP = destination,
            ProtocolNumber = (byte)ip.Protocol,
            SourcePort = sourcePort,
            DestinationPort = destinationPort,
            TcpFlags = flags,
            Sequence = sequence,
            Acknowledgment = acknowledgment,
            Window = window,
            WindowScale = windowScale,
            IcmpType = icmpType,
            IcmpCode = icmpCode,
            PayloadLength = payload,
            Length = wireLength,
            CapturedLength = f.Length,
            Encapsulation = tunnels,
        };
    }

    /// <summary>The shift count of the window scale option (RFC 7323, kind 3) among TCP options, or null.</summary>
    private static int? WindowScaleOption(ReadOnlySpan<byte> options)
    {
        while (options.Length > 0)
        {
            byte kind = options[0];
            if (kind == 0) break;                                   // end of option list
            if (kind == 1) { options = options[1..]; continue; }    // no-operation (padding)
            if (options.Length < 2 || options[1] < 2 || options[1] > options.Length) break;
            if (kind == 3 && options[1] == 3) return options[2];
            options = options[options[1]..];
        }
        return null;
    }
}
