using System;
using System.Collections.Generic;
using System.Net;
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
                        var nd = ad.Nested();
                        original = DecodeTuple(ref nd);
                        ad.Absorb(nd, "CTA_TUPLE_ORIG");
                        break;
                    }
                case Cta.TUPLE_REPLY:
                    {
                        var nd = ad.Nested();
                        reply = DecodeTuple(ref nd);
                        ad.Absorb(nd, "CTA_TUPLE_REPLY");
                        break;
                    }
                case Cta.STATUS: status = (ConntrackStatus)ad.UInt32(); break;
                case Cta.PROTOINFO:
                    {
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

    private static string? DecodeProtoInfo(ref AttributeDecoder ad)
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
