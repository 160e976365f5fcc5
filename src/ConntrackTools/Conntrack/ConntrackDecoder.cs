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
    public static ConntrackEntry Decode(ReadOnlySpan<byte> payload, string? networkNamespace = null, ulong? networkNamespaceId = null)
    {
        if (payload.Length < NfGenMsgLength)
            throw new NetlinkDecodeException($"ctnetlink message of {payload.Length} bytes has no nfgenmsg");
        byte family = payload[0];
        var entry = new ConntrackEntry
        {
            AddressFamily = family switch
            {
                2 => IPFamily.IPv4,
                10 => IPFamily.IPv6,
                _ => throw new NetlinkDecodeException($"ctnetlink entry with address family {family}"),
            },
            NetworkNamespace = networkNamespace,
            NetworkNamespaceId = networkNamespaceId,
        };
        var ad = new AttributeDecoder(payload[NfGenMsgLength..], bigEndian: true);
        bool haveOrig = false, haveReply = false;
        while (ad.Next())
        {
            switch (ad.Type)
            {
                case Cta.TUPLE_ORIG:
                    {
                        var nd = ad.Nested();
                        entry.Original = DecodeTuple(ref nd);
                        ad.Absorb(nd, "CTA_TUPLE_ORIG");
                        haveOrig = true;
                        break;
                    }
                case Cta.TUPLE_REPLY:
                    {
                        var nd = ad.Nested();
                        entry.Reply = DecodeTuple(ref nd);
                        ad.Absorb(nd, "CTA_TUPLE_REPLY");
                        haveReply = true;
                        break;
                    }
                case Cta.STATUS: entry.Status = (ConntrackStatus)ad.UInt32(); break;
                case Cta.PROTOINFO:
                    {
                        var nd = ad.Nested();
                        entry.State = DecodeProtoInfo(ref nd);
                        ad.Absorb(nd, "CTA_PROTOINFO");
                        break;
                    }
                case Cta.HELP:
                    {
                        var nd = ad.Nested();
                        while (nd.Next())
                            if (nd.Type == Cta.HELP_NAME) entry.Helper = nd.String();
                        ad.Absorb(nd, "CTA_HELP");
                        break;
                    }
                case Cta.TIMEOUT: entry.Timeout = TimeSpan.FromSeconds(ad.UInt32()); break;
                case Cta.MARK: entry.Mark = ad.UInt32(); break;
                case Cta.COUNTERS_ORIG:
                    {
                        var nd = ad.Nested();
                        DecodeCounters(ref nd, out var p, out var b);
                        ad.Absorb(nd, "CTA_COUNTERS_ORIG");
                        entry.OriginalPackets = p;
                        entry.OriginalBytes = b;
                        break;
                    }
                case Cta.COUNTERS_REPLY:
                    {
                        var nd = ad.Nested();
                        DecodeCounters(ref nd, out var p, out var b);
                        ad.Absorb(nd, "CTA_COUNTERS_REPLY");
                        entry.ReplyPackets = p;
                        entry.ReplyBytes = b;
                        break;
                    }
                case Cta.USE: entry.Use = ad.UInt32(); break;
                case Cta.ID: entry.Id = ad.UInt32(); break;
                case Cta.ZONE: entry.Zone = ad.UInt16(); break;
                case Cta.TIMESTAMP:
                    {
                        var nd = ad.Nested();
                        while (nd.Next())
                        {
                            if (nd.Type == Cta.TIMESTAMP_START)
                            {
                                ulong ns = nd.UInt64();
                                if (ns != 0) entry.StartTime = DateTime.UnixEpoch.AddTicks((long)(ns / 100)).ToLocalTime();
                            }
                        }
                        ad.Absorb(nd, "CTA_TIMESTAMP");
                        break;
                    }
                case Cta.LABELS: entry.Labels = DecodeLabels(ad.Bytes); break;
                default: break; // SECCTX, SEQ_ADJ, SYNPROXY, NAT_*: not surfaced
            }
        }
        if (ad.Error is not null) throw new NetlinkDecodeException("ctnetlink entry: " + ad.Error);
        if (!haveOrig) throw new NetlinkDecodeException("ctnetlink entry without CTA_TUPLE_ORIG");
        if (!haveReply)
        {
            // The kernel always sends both; be lenient with the reply and mirror the original.
            entry.Reply = new FlowTuple(entry.Original.DestinationIP, entry.Original.SourceIP,
                entry.Original.ProtocolNumber, entry.Original.DestinationPort, entry.Original.SourcePort);
        }
        return entry;
    }

    /// <summary>Decodes the nested attributes of CTA_TUPLE_ORIG / CTA_TUPLE_REPLY.</summary>
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
                                case Cta.IP_V4_SRC: t.SourceIP = ip.Address(4) ?? IPAddress.Any; break;
                                case Cta.IP_V4_DST: t.DestinationIP = ip.Address(4) ?? IPAddress.Any; break;
                                case Cta.IP_V6_SRC: t.SourceIP = ip.Address(16) ?? IPAddress.IPv6Any; break;
                                case Cta.IP_V6_DST: t.DestinationIP = ip.Address(16) ?? IPAddress.IPv6Any; break;
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
