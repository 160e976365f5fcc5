using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Net;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using ConntrackTools.Inet;
using ConntrackTools.Netlink;

namespace ConntrackTools.Conntrack;

/// <summary>
/// Turns one ctnetlink message (IPCTNL_MSG_CT_NEW / _DELETE, from a dump or an event) into a
/// <see cref="ConntrackEntry"/>. Malformed input raises <see cref="NetlinkDecodeException"/>, nothing else.
/// </summary>
public static class ConntrackDecoder
{
    public const int NfGenMsgLength = 4;

    /// <summary>Decodes the payload that follows the nlmsghdr (nfgenmsg + attributes).</summary>
    /// <remarks>
    /// The attributes are read into locals and the entry is built once at the end, with its two tuples: a dump makes a
    /// million of these, and every object not made is garbage not collected.
    /// </remarks>
    public static ConntrackEntry Decode(ReadOnlySpan<byte> payload, string? networkNamespace = null, ulong? networkNamespaceId = null)
    {
        if (payload.Length < NfGenMsgLength)
            throw new NetlinkDecodeException($"ctnetlink message of {payload.Length} bytes has no nfgenmsg");
        byte family = payload[0];
        var addressFamily = family switch
        {
            2 => IPFamily.IPv4,
            10 => IPFamily.IPv6,
            _ => throw new NetlinkDecodeException($"ctnetlink entry with address family {family}"),
        };
        FlowTuple? original = null, reply = null;
        ConntrackStatus status = 0;
        string? state = null, helper = null;
        TimeSpan timeout = default;
        uint mark = 0, use = 0, id = 0;
        ushort zone = 0;
        ulong? originalPackets = null, originalBytes = null, replyPackets = null, replyBytes = null;
        DateTime? startTime = null;
        int[]? labels = null;
        var ad = new AttributeDecoder(payload[NfGenMsgLength..], bigEndian: true);
        while (ad.Next())
        {
            switch (ad.Type)
            {
                case Cta.TUPLE_ORIG:
                    {
                        if ((original = PortTuple(ad.Bytes)) is not null) break;
                        var nd = ad.Nested();
                        original = DecodeTuple(ref nd);
                        ad.Absorb(nd, "CTA_TUPLE_ORIG");
                        break;
                    }
                case Cta.TUPLE_REPLY:
                    {
                        if ((reply = PortTuple(ad.Bytes)) is not null) break;
                        var nd = ad.Nested();
                        reply = DecodeTuple(ref nd);
                        ad.Absorb(nd, "CTA_TUPLE_REPLY");
                        break;
                    }
                case Cta.STATUS: status = (ConntrackStatus)ad.UInt32(); break;
                case Cta.PROTOINFO:
                    {
                        if (TcpState(ad.Bytes) is { } tcp)
                        {
                            state = tcp;
                            break;
                        }
                        var nd = ad.Nested();
                        state = DecodeProtoInfo(ref nd);
                        ad.Absorb(nd, "CTA_PROTOINFO");
                        break;
                    }
                case Cta.HELP:
                    {
                        var nd = ad.Nested();
                        while (nd.Next())
                            if (nd.Type == Cta.HELP_NAME) helper = nd.String();
                        ad.Absorb(nd, "CTA_HELP");
                        break;
                    }
                case Cta.TIMEOUT: timeout = TimeSpan.FromSeconds(ad.UInt32()); break;
                case Cta.MARK: mark = ad.UInt32(); break;
                case Cta.COUNTERS_ORIG:
                    {
                        var nd = ad.Nested();
                        DecodeCounters(ref nd, out originalPackets, out originalBytes);
                        ad.Absorb(nd, "CTA_COUNTERS_ORIG");
                        break;
                    }
                case Cta.COUNTERS_REPLY:
                    {
                        var nd = ad.Nested();
                        DecodeCounters(ref nd, out replyPackets, out replyBytes);
                        ad.Absorb(nd, "CTA_COUNTERS_REPLY");
                        break;
                    }
                case Cta.USE: use = ad.UInt32(); break;
                case Cta.ID: id = ad.UInt32(); break;
                case Cta.ZONE: zone = ad.UInt16(); break;
                case Cta.TIMESTAMP:
                    {
                        var nd = ad.Nested();
                        while (nd.Next())
                        {
                            if (nd.Type == Cta.TIMESTAMP_START)
                            {
                                ulong ns = nd.UInt64();
                                if (ns != 0) startTime = DateTime.UnixEpoch.AddTicks((long)(ns / 100)).ToLocalTime();
                            }
                        }
                        ad.Absorb(nd, "CTA_TIMESTAMP");
                        break;
                    }
                case Cta.LABELS: labels = DecodeLabels(ad.Bytes); break;
                default: break; // SECCTX, SEQ_ADJ, SYNPROXY, NAT_*: not surfaced
            }
        }
        if (ad.Error is not null) throw new NetlinkDecodeException("ctnetlink entry: " + ad.Error);
        if (original is null) throw new NetlinkDecodeException("ctnetlink entry without CTA_TUPLE_ORIG");
        // The kernel always sends both; be lenient with the reply and mirror the original.
        reply ??= original.Mirrored();
        return new ConntrackEntry(original, reply)
        {
            Id = id,
            AddressFamily = addressFamily,
            State = state,
            Timeout = timeout,
            Status = status,
            Mark = mark,
            Zone = zone,
            Use = use,
            OriginalPackets = originalPackets,
            OriginalBytes = originalBytes,
            ReplyPackets = replyPackets,
            ReplyBytes = replyBytes,
            StartTime = startTime,
            Helper = helper,
            Labels = labels,
            NetworkNamespace = networkNamespace,
            NetworkNamespaceId = networkNamespaceId,
        };
    }

    /// <summary>
    /// The fast path for a tuple as the kernel writes nearly every one of them (ctnetlink_dump_tuples): an IPv4 or
    /// IPv6 address pair and a protocol with ports (TCP, UDP, SCTP, DCCP, UDP-Lite), nothing else. The value of
    /// CTA_TUPLE_ORIG / CTA_TUPLE_REPLY is then fixed byte for byte but for the values themselves, so its seven
    /// attribute headers are compared with that layout as a whole instead of being scanned one by one; any other tuple
    /// (ICMP, a zone, a flag bit, other lengths or order) returns null and goes to <see cref="DecodeTuple"/>, which
    /// reads the same layout to the same tuple (the xunit and fuzz tests hold the two to each other).
    /// </summary>
    /// <remarks>
    /// Layout, headers as the 32-bit words the kernel writes (nla_len in the low half, nla_type in the high half,
    /// host order, so this path is taken on little-endian hosts only), for an address of A = 4 or 16 bytes:
    /// CTA_TUPLE_IP (nested, 4 + 2 * (4 + A)), CTA_IP_V4_SRC / CTA_IP_V6_SRC (4 + A) and the address,
    /// CTA_IP_V4_DST / CTA_IP_V6_DST (4 + A) and the address, CTA_TUPLE_PROTO (nested, 28), CTA_PROTO_NUM (5) and the
    /// number padded to 4, CTA_PROTO_SRC_PORT (6) and the port (network order) padded to 4, CTA_PROTO_DST_PORT likewise.
    /// </remarks>
    internal static FlowTuple? PortTuple(ReadOnlySpan<byte> value)
    {
        if (!BitConverter.IsLittleEndian) return null;
        if (value.Length == 48) return PortTuple(value, 4);
        if (value.Length == 72) return PortTuple(value, 16);
        return null;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static FlowTuple? PortTuple(ReadOnlySpan<byte> value, int a)
    {
        // The caller checked the length: CTA_TUPLE_IP up to proto, CTA_TUPLE_PROTO's 28 bytes after it.
        int proto = 4 + 2 * (4 + a);
        bool v6 = a == 16;
        uint differs =
            (WordAt(value, 0) ^ Header(proto, AttributeDecoder.NLA_F_NESTED | Cta.TUPLE_IP)) |
            (WordAt(value, 4) ^ Header(4 + a, v6 ? Cta.IP_V6_SRC : Cta.IP_V4_SRC)) |
            (WordAt(value, 8 + a) ^ Header(4 + a, v6 ? Cta.IP_V6_DST : Cta.IP_V4_DST)) |
            (WordAt(value, proto) ^ Header(28, AttributeDecoder.NLA_F_NESTED | Cta.TUPLE_PROTO)) |
            (WordAt(value, proto + 4) ^ Header(5, Cta.PROTO_NUM)) |
            (WordAt(value, proto + 12) ^ Header(6, Cta.PROTO_SRC_PORT)) |
            (WordAt(value, proto + 20) ^ Header(6, Cta.PROTO_DST_PORT));
        if (differs != 0) return null;
        UInt128 source = v6 ? BinaryPrimitives.ReadUInt128BigEndian(value.Slice(8, 16)) : BinaryPrimitives.ReverseEndianness(WordAt(value, 8));
        UInt128 destination = v6 ? BinaryPrimitives.ReadUInt128BigEndian(value.Slice(12 + a, 16)) : BinaryPrimitives.ReverseEndianness(WordAt(value, 16));
        var t = new FlowTuple();
        t.SetAddressesAndPorts(source, destination, v6, value[proto + 8],
            BinaryPrimitives.ReverseEndianness((ushort)WordAt(value, proto + 16)), BinaryPrimitives.ReverseEndianness((ushort)WordAt(value, proto + 24)));
        return t;
    }

    /// <summary>The 32-bit host-order word at <paramref name="offset"/>; the caller has checked that it lies inside.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint WordAt(ReadOnlySpan<byte> value, int offset) =>
        Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref MemoryMarshal.GetReference(value), offset));

    /// <summary>An attribute header as the 32-bit host-order word the kernel writes: nla_len low, nla_type high.</summary>
    private static uint Header(int length, int type) => (uint)length | (uint)type << 16;

    /// <summary>
    /// Decodes the nested attributes of CTA_TUPLE_ORIG / CTA_TUPLE_REPLY. The addresses are kept as their bits; no
    /// address object is made here.
    /// </summary>
    internal static FlowTuple DecodeTuple(ref AttributeDecoder ad)
    {
        var t = new FlowTuple();
        bool haveIp = false, haveProto = false;
        while (ad.Next())
        {
            switch (ad.Type)
            {
                case Cta.TUPLE_IP:
                    {
                        var ip = ad.Nested();
                        while (ip.Next())
                        {
                            switch (ip.Type)
                            {
                                case Cta.IP_V4_SRC: if (ip.Sized(4) is { Length: 4 } s4) t.SetSource(s4); break;
                                case Cta.IP_V4_DST: if (ip.Sized(4) is { Length: 4 } d4) t.SetDestination(d4); break;
                                case Cta.IP_V6_SRC: if (ip.Sized(16) is { Length: 16 } s6) t.SetSource(s6); break;
                                case Cta.IP_V6_DST: if (ip.Sized(16) is { Length: 16 } d6) t.SetDestination(d6); break;
                            }
                        }
                        ad.Absorb(ip, "CTA_TUPLE_IP");
                        haveIp = true;
                        break;
                    }
                case Cta.TUPLE_PROTO:
                    {
                        var p = ad.Nested();
                        while (p.Next())
                        {
                            switch (p.Type)
                            {
                                case Cta.PROTO_NUM: t.ProtocolNumber = p.UInt8(); haveProto = true; break;
                                case Cta.PROTO_SRC_PORT: t.SourcePort = p.UInt16(); break;
                                case Cta.PROTO_DST_PORT: t.DestinationPort = p.UInt16(); break;
                                case Cta.PROTO_ICMP_ID: case Cta.PROTO_ICMPV6_ID: t.IcmpId = p.UInt16(); break;
                                case Cta.PROTO_ICMP_TYPE: case Cta.PROTO_ICMPV6_TYPE: t.IcmpType = p.UInt8(); break;
                                case Cta.PROTO_ICMP_CODE: case Cta.PROTO_ICMPV6_CODE: t.IcmpCode = p.UInt8(); break;
                            }
                        }
                        ad.Absorb(p, "CTA_TUPLE_PROTO");
                        break;
                    }
                case Cta.TUPLE_ZONE: t.Zone = ad.UInt16(); break;
            }
        }
        if (ad.Error is null && !haveIp) ad.Fail("tuple without CTA_TUPLE_IP");
        if (ad.Error is null && !haveProto) ad.Fail("tuple without CTA_PROTO_NUM");
        return t;
    }

    /// <summary>
    /// The fast path for CTA_PROTOINFO as the kernel writes it for TCP (tcp_to_nlattr): CTA_PROTOINFO_TCP (nested, 44)
    /// holding the state (5), the two window scales (5 each) and the two flag pairs (6 each), in that order. Its six
    /// headers are compared with that layout as a whole and the state read; anything else returns null and goes to
    /// <see cref="DecodeProtoInfo"/>, which reads the same layout to the same state (held to it by the property tests).
    /// </summary>
    internal static string? TcpState(ReadOnlySpan<byte> value)
    {
        if (!BitConverter.IsLittleEndian || value.Length != 44) return null;
        uint differs =
            (WordAt(value, 0) ^ Header(44, AttributeDecoder.NLA_F_NESTED | Cta.PROTOINFO_TCP)) |
            (WordAt(value, 4) ^ Header(5, Cta.PROTOINFO_TCP_STATE)) |
            (WordAt(value, 12) ^ Header(5, Cta.PROTOINFO_TCP_WSCALE_ORIGINAL)) |
            (WordAt(value, 20) ^ Header(5, Cta.PROTOINFO_TCP_WSCALE_REPLY)) |
            (WordAt(value, 28) ^ Header(6, Cta.PROTOINFO_TCP_FLAGS_ORIGINAL)) |
            (WordAt(value, 36) ^ Header(6, Cta.PROTOINFO_TCP_FLAGS_REPLY));
        return differs == 0 ? Protocols.StateName(Protocols.TcpStates, value[8]) : null;
    }

    internal static string? DecodeProtoInfo(ref AttributeDecoder ad)
    {
        string? state = null;
        while (ad.Next())
        {
            ushort which = ad.Type;
            string[]? names = which switch
            {
                Cta.PROTOINFO_TCP => Protocols.TcpStates,
                Cta.PROTOINFO_SCTP => Protocols.SctpStates,
                Cta.PROTOINFO_DCCP => Protocols.DccpStates,
                _ => null,
            };
            if (names is null) continue;
            var nd = ad.Nested();
            while (nd.Next())
                if (nd.Type == 1) state = Protocols.StateName(names, nd.UInt8()); // CTA_PROTOINFO_{TCP,SCTP,DCCP}_STATE
            ad.Absorb(nd, "protocol info");
        }
        return state;
    }

    private static void DecodeCounters(ref AttributeDecoder ad, out ulong? packets, out ulong? bytes)
    {
        packets = null;
        bytes = null;
        while (ad.Next())
        {
            switch (ad.Type)
            {
                case Cta.COUNTERS_PACKETS: packets = ad.UInt64(); break;
                case Cta.COUNTERS_BYTES: bytes = ad.UInt64(); break;
                case Cta.COUNTERS32_PACKETS: packets = ad.UInt32(); break;
                case Cta.COUNTERS32_BYTES: bytes = ad.UInt32(); break;
            }
        }
    }

    /// <summary>CTA_LABELS is a bitmap of 32-bit host-order words; returns the set bit numbers.</summary>
    private static int[]? DecodeLabels(ReadOnlySpan<byte> bitmap)
    {
        List<int>? bits = null;
        for (int i = 0; i < bitmap.Length; i++)
        {
            byte b = bitmap[i];
            if (b == 0) continue;
            int word = i / 4, byteInWord = i % 4;
            int bitBase = word * 32 + (BitConverter.IsLittleEndian ? byteInWord * 8 : (3 - byteInWord) * 8);
            for (int k = 0; k < 8; k++)
                if ((b & (1 << k)) != 0) (bits ??= new List<int>()).Add(bitBase + k);
        }
        if (bits is null) return null;
        bits.Sort();
        return bits.ToArray();
    }
}
