using System;
using System.Collections.Generic;
using System.Linq;
using ConntrackTools.Inet;
using ConntrackTools.Netlink;

namespace ConntrackTools.Conntrack;

/// <summary>
/// The selectors beyond the original tuple: lists of values (any of), the reply tuple, the translation (the
/// output properties TranslatedSource*/TranslatedDestination*, i.e. the reply tuple read the other way round),
/// ICMP fields, per-direction zones and labels. Lists with one value are sent to the kernel where CTA_FILTER can
/// compare them; everything is checked again in user space.
/// </summary>
public sealed partial class ConntrackFilter
{
    /// <summary>Any of these protocols (when more than one is given; a single one goes to <see cref="Protocol"/>).</summary>
    public byte[]? AnyProtocol { get; set; }
    public int[]? AnySourcePort { get; set; }
    public int[]? AnyDestinationPort { get; set; }
    public NatType[]? AnyNatType { get; set; }

    public AddressMatch? ReplySourceAddress { get; set; }
    public AddressMatch? ReplyDestinationAddress { get; set; }
    public int[]? ReplySourcePort { get; set; }
    public int[]? ReplyDestinationPort { get; set; }

    /// <summary>The source the peer sees: Reply.DestinationAddress.</summary>
    public AddressMatch? TranslatedSourceAddress { get; set; }
    public int[]? TranslatedSourcePort { get; set; }

    /// <summary>Where the connection really goes: Reply.SourceAddress.</summary>
    public AddressMatch? TranslatedDestinationAddress { get; set; }
    public int[]? TranslatedDestinationPort { get; set; }

    /// <summary>ICMP/ICMPv6 fields of the original tuple.</summary>
    public int[]? IcmpType { get; set; }
    public int[]? IcmpCode { get; set; }
    public int[]? IcmpId { get; set; }

    /// <summary>Per-direction zones (CTA_TUPLE_ZONE); an entry without one is in zone <see cref="Zone"/> both ways.</summary>
    public ushort? OriginalZone { get; set; }
    public ushort? ReplyZone { get; set; }

    /// <summary>Every one of these label bits must be set.</summary>
    public int[]? Labels { get; set; }

    internal bool HasSelectors => AnyProtocol is not null || AnySourcePort is not null || AnyDestinationPort is not null ||
        AnyNatType is not null || ReplySourceAddress is not null || ReplyDestinationAddress is not null ||
        ReplySourcePort is not null || ReplyDestinationPort is not null || TranslatedSourceAddress is not null ||
        TranslatedSourcePort is not null || TranslatedDestinationAddress is not null || TranslatedDestinationPort is not null ||
        IcmpType is not null || IcmpCode is not null || IcmpId is not null || OriginalZone is not null ||
        ReplyZone is not null || Labels is not null;

    private static bool In(int[]? set, int? value) => set is null || (value is int v && Array.IndexOf(set, v) >= 0);

    internal bool MatchesSelectors(ConntrackEntry e)
    {
        var o = e.Original;
        var r = e.Reply;
        if (AnyProtocol is not null && Array.IndexOf(AnyProtocol, o.ProtocolNumber) < 0) return false;
        if (!In(AnySourcePort, o.SourcePort) || !In(AnyDestinationPort, o.DestinationPort)) return false;
        if (AnyNatType is not null && Array.IndexOf(AnyNatType, e.NatType) < 0) return false;
        if (ReplySourceAddress is not null && !r.SourceIn(ReplySourceAddress)) return false;
        if (ReplyDestinationAddress is not null && !r.DestinationIn(ReplyDestinationAddress)) return false;
        if (!In(ReplySourcePort, r.SourcePort) || !In(ReplyDestinationPort, r.DestinationPort)) return false;
        if (TranslatedSourceAddress is not null && !r.DestinationIn(TranslatedSourceAddress)) return false;
        if (TranslatedDestinationAddress is not null && !r.SourceIn(TranslatedDestinationAddress)) return false;
        if (!In(TranslatedSourcePort, r.DestinationPort) || !In(TranslatedDestinationPort, r.SourcePort)) return false;
        if (!In(IcmpType, o.IcmpType) || !In(IcmpCode, o.IcmpCode) || !In(IcmpId, o.IcmpId)) return false;
        if (OriginalZone is ushort oz && (o.Zone ?? e.Zone) != oz) return false;
        if (ReplyZone is ushort rz && (r.Zone ?? e.Zone) != rz) return false;
        if (Labels is not null)
            foreach (int bit in Labels)
                if (e.Labels is null || Array.IndexOf(e.Labels, bit) < 0) return false;
        return true;
    }

    /// <summary>The protocols the selection allows (null: any).</summary>
    private byte[]? AllowedProtocols => Protocol is byte p ? [p] : AnyProtocol;

    /// <summary>
    /// Why no entry can ever match this selection (an IPv4 family with an IPv6 address, a port on icmp, a TCP state on
    /// udp, ...), in words for an error message; null when the selection is consistent.
    /// </summary>
    public string? Contradiction()
    {
        IPFamily f = Family;
        foreach (var (a, what) in new[] { (SourceAddress, "source address"), (DestinationAddress, "destination address"),
                     (ReplySourceAddress, "reply source address"), (ReplyDestinationAddress, "reply destination address"),
                     (TranslatedSourceAddress, "translated source address"), (TranslatedDestinationAddress, "translated destination address") })
        {
            if (a is null) continue;
            if (f == IPFamily.All) f = a.Family;
            else if (f != a.Family)
                return Family == a.Family || Family == IPFamily.All
                    ? $"the {what} {a} is {a.Family} while another address given is {f}"
                    : $"the {what} {a} is {a.Family} but the address family is {Family}";
        }
        var protocols = AllowedProtocols;
        if (protocols is not null)
        {
            if (f == IPFamily.IPv6 && protocols.All(p => p == Protocols.Icmp)) return "icmp is IPv4 only (use icmpv6 with IPv6)";
            if (f == IPFamily.IPv4 && protocols.All(p => p == Protocols.IcmpV6)) return "icmpv6 is IPv6 only (use icmp with IPv4)";
            bool anyPorts = protocols.Any(Protocols.HasPorts);
            bool ports = SourcePort is not null || DestinationPort is not null || AnySourcePort is not null || AnyDestinationPort is not null ||
                         ReplySourcePort is not null || ReplyDestinationPort is not null || TranslatedSourcePort is not null || TranslatedDestinationPort is not null;
            if (ports && !anyPorts) return $"{Names(protocols)} has no ports";
            bool icmp = IcmpType is not null || IcmpCode is not null || IcmpId is not null;
            if (icmp && !protocols.Any(p => p is Protocols.Icmp or Protocols.IcmpV6)) return $"ICMP type, code and id exist only for icmp and icmpv6, not {Names(protocols)}";
            if (State is { Length: > 0 })
                foreach (var s in State)
                    if (!protocols.Any(p => Protocols.TryParseState(p, s, out _)))
                        return $"'{s}' is not a state of {Names(protocols)}";
        }
        else if (IcmpType is not null || IcmpCode is not null || IcmpId is not null)
        {
            // ICMP fields without a protocol mean icmp or icmpv6 by family; nothing contradicts yet.
        }
        return null;
    }

    private static string Names(byte[] protocols) => string.Join(" or ", protocols.Select(Protocols.Name));

    /// <summary>
    /// The whole original or reply tuple when the selection names one exactly (protocol, both host addresses, and both
    /// ports or the ICMP type, code and id): such a selection names at most one entry per zone, found with a single
    /// CT_GET instead of a dump. Null otherwise.
    /// </summary>
    public (FlowTuple Tuple, bool Reply)? ExactTuple()
    {
        if (Protocol is not byte p || p == Protocols.Gre) return null;
        if (SourceAddress is { IsHost: true } s && DestinationAddress is { IsHost: true } d && s.Family == d.Family)
        {
            var t = new FlowTuple(s.Network.BaseAddress, d.Network.BaseAddress, p, null, null);
            if (Protocols.HasPorts(p))
            {
                if (SourcePort is not int sp || DestinationPort is not int dp) return null;
                t.SourcePort = sp;
                t.DestinationPort = dp;
            }
            else if (p is Protocols.Icmp or Protocols.IcmpV6)
            {
                if (IcmpType is not [int it] || IcmpCode is not [int ic] || IcmpId is not [int id]) return null;
                t.IcmpType = it; t.IcmpCode = ic; t.IcmpId = id;
            }
            return (t, false);
        }
        var rs = ReplySourceAddress ?? TranslatedDestinationAddress;
        var rd = ReplyDestinationAddress ?? TranslatedSourceAddress;
        if (SourceAddress is null && DestinationAddress is null && rs is { IsHost: true } && rd is { IsHost: true } && rs.Family == rd.Family &&
            p is not (Protocols.Icmp or Protocols.IcmpV6))
        {
            var t = new FlowTuple(rs.Network.BaseAddress, rd.Network.BaseAddress, p, null, null);
            if (Protocols.HasPorts(p))
            {
                if ((ReplySourcePort ?? TranslatedDestinationPort) is not [int sp] || (ReplyDestinationPort ?? TranslatedSourcePort) is not [int dp]) return null;
                t.SourcePort = sp;
                t.DestinationPort = dp;
            }
            return (t, true);
        }
        return null;
    }

    /// <summary>CTA_FILTER flags for the ICMP fields of the original tuple (single values, with the protocol given).</summary>
    private uint OriginalIcmpFlags()
    {
        if (Protocol is not byte p || p is not (Protocols.Icmp or Protocols.IcmpV6)) return 0;
        bool six = p == Protocols.IcmpV6;
        uint f = 0;
        if (IcmpType is [_]) f |= six ? Cta.FILTER_FLAG_ICMPV6_TYPE : Cta.FILTER_FLAG_ICMP_TYPE;
        if (IcmpCode is [_]) f |= six ? Cta.FILTER_FLAG_ICMPV6_CODE : Cta.FILTER_FLAG_ICMP_CODE;
        if (IcmpId is [_]) f |= six ? Cta.FILTER_FLAG_ICMPV6_ID : Cta.FILTER_FLAG_ICMP_ID;
        return f;
    }

    private void WriteOriginalIcmp(MessageBuilder b, uint flags)
    {
        bool six = Protocol == Protocols.IcmpV6;
        if ((flags & (Cta.FILTER_FLAG_ICMP_ID | Cta.FILTER_FLAG_ICMPV6_ID)) != 0) b.UInt16(six ? Cta.PROTO_ICMPV6_ID : Cta.PROTO_ICMP_ID, (ushort)IcmpId![0]);
        if ((flags & (Cta.FILTER_FLAG_ICMP_TYPE | Cta.FILTER_FLAG_ICMPV6_TYPE)) != 0) b.UInt8(six ? Cta.PROTO_ICMPV6_TYPE : Cta.PROTO_ICMP_TYPE, (byte)IcmpType![0]);
        if ((flags & (Cta.FILTER_FLAG_ICMP_CODE | Cta.FILTER_FLAG_ICMPV6_CODE)) != 0) b.UInt8(six ? Cta.PROTO_ICMPV6_CODE : Cta.PROTO_ICMP_CODE, (byte)IcmpCode![0]);
    }

    private AddressMatch? ReplySourceForKernel => Pick(ReplySourceAddress, TranslatedDestinationAddress);
    private AddressMatch? ReplyDestinationForKernel => Pick(ReplyDestinationAddress, TranslatedSourceAddress);

    // Exact IPv4 addresses only (no prefix match in ctnetlink; its IPv6 comparison is inverted on 6.18).
    private static AddressMatch? Pick(AddressMatch? a, AddressMatch? b) =>
        a is { IsHost: true, Family: IPFamily.IPv4 } ? a : b is { IsHost: true, Family: IPFamily.IPv4 } ? b : null;

    private int? ReplySourcePortForKernel => (ReplySourcePort ?? TranslatedDestinationPort) is [int x] ? x : null;
    private int? ReplyDestinationPortForKernel => (ReplyDestinationPort ?? TranslatedSourcePort) is [int x] ? x : null;

    /// <summary>CTA_FILTER_REPLY_FLAGS: exact IPv4 reply addresses, and (with one protocol, tcp or udp) reply ports.</summary>
    private uint ReplyFlags()
    {
        uint f = 0;
        if (ReplySourceForKernel is not null) f |= Cta.FILTER_FLAG_IP_SRC;
        if (ReplyDestinationForKernel is not null) f |= Cta.FILTER_FLAG_IP_DST;
        if (Protocol is byte p)
        {
            if (p is Protocols.Tcp or Protocols.Udp)
            {
                if (ReplySourcePortForKernel is not null) f |= Cta.FILTER_FLAG_PROTO_SRC_PORT;
                if (ReplyDestinationPortForKernel is not null) f |= Cta.FILTER_FLAG_PROTO_DST_PORT;
            }
            if (f != 0) f |= Cta.FILTER_FLAG_PROTO_NUM;
        }
        return f;
    }

    private void WriteReplyTuple(MessageBuilder b, uint flags)
    {
        int tuple = b.BeginNested(Cta.TUPLE_REPLY);
        if ((flags & (Cta.FILTER_FLAG_IP_SRC | Cta.FILTER_FLAG_IP_DST)) != 0)
        {
            int ip = b.BeginNested(Cta.TUPLE_IP);
            if ((flags & Cta.FILTER_FLAG_IP_SRC) != 0) b.Address(Cta.IP_V4_SRC, ReplySourceForKernel!.Network.BaseAddress);
            if ((flags & Cta.FILTER_FLAG_IP_DST) != 0) b.Address(Cta.IP_V4_DST, ReplyDestinationForKernel!.Network.BaseAddress);
            b.EndNested(ip);
        }
        if ((flags & Cta.FILTER_FLAG_PROTO_NUM) != 0)
        {
            int proto = b.BeginNested(Cta.TUPLE_PROTO);
            b.UInt8(Cta.PROTO_NUM, Protocol!.Value);
            if ((flags & Cta.FILTER_FLAG_PROTO_SRC_PORT) != 0) b.UInt16(Cta.PROTO_SRC_PORT, (ushort)ReplySourcePortForKernel!.Value);
            if ((flags & Cta.FILTER_FLAG_PROTO_DST_PORT) != 0) b.UInt16(Cta.PROTO_DST_PORT, (ushort)ReplyDestinationPortForKernel!.Value);
            b.EndNested(proto);
        }
        b.EndNested(tuple);
    }

    /// <summary>-Verbose words for the selectors: which went to the kernel and which stay here.</summary>
    private void DescribeSelectors(uint origIcmp, uint reply, List<string> kernel, List<string> user)
    {
        static string L(int[] v) => string.Join(",", v);
        if (AnyProtocol is not null) user.Add("protocol " + string.Join(",", AnyProtocol.Select(Protocols.Name)));
        if (AnySourcePort is not null) user.Add("sport " + L(AnySourcePort));
        if (AnyDestinationPort is not null) user.Add("dport " + L(AnyDestinationPort));
        if (AnyNatType is not null) user.Add("NAT " + string.Join(",", AnyNatType));
        foreach (var (v, flag, word) in new[] { (IcmpType, Cta.FILTER_FLAG_ICMP_TYPE | Cta.FILTER_FLAG_ICMPV6_TYPE, "icmp type "),
                     (IcmpCode, Cta.FILTER_FLAG_ICMP_CODE | Cta.FILTER_FLAG_ICMPV6_CODE, "icmp code "),
                     (IcmpId, Cta.FILTER_FLAG_ICMP_ID | Cta.FILTER_FLAG_ICMPV6_ID, "icmp id ") })
            if (v is not null) ((origIcmp & flag) != 0 ? kernel : user).Add(word + L(v));
        void Addr(AddressMatch? a, string word, AddressMatch? pushed) { if (a is not null) (ReferenceEquals(a, pushed) ? kernel : user).Add(word + a); }
        void Port(int[]? p, string word, bool pushed) { if (p is not null) (pushed ? kernel : user).Add(word + L(p)); }
        var rsk = (reply & Cta.FILTER_FLAG_IP_SRC) != 0 ? ReplySourceForKernel : null;
        var rdk = (reply & Cta.FILTER_FLAG_IP_DST) != 0 ? ReplyDestinationForKernel : null;
        bool rsp = (reply & Cta.FILTER_FLAG_PROTO_SRC_PORT) != 0, rdp = (reply & Cta.FILTER_FLAG_PROTO_DST_PORT) != 0;
        Addr(ReplySourceAddress, "reply src ", rsk);
        Addr(ReplyDestinationAddress, "reply dst ", rdk);
        Addr(TranslatedDestinationAddress, "translated dst ", rsk);
        Addr(TranslatedSourceAddress, "translated src ", rdk);
        Port(ReplySourcePort, "reply sport ", rsp);
        Port(ReplyDestinationPort, "reply dport ", rdp);
        Port(TranslatedDestinationPort, "translated dport ", rsp && ReplySourcePort is null);
        Port(TranslatedSourcePort, "translated sport ", rdp && ReplyDestinationPort is null);
        if (OriginalZone is not null) user.Add("original zone " + OriginalZone);
        if (ReplyZone is not null) user.Add("reply zone " + ReplyZone);
        if (Labels is not null) user.Add("labels " + L(Labels));
    }
}
