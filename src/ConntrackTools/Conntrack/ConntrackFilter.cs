using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using ConntrackTools.Inet;
using ConntrackTools.Netlink;

namespace ConntrackTools.Conntrack;

/// <summary>
/// What Get-Conntrack, Remove-Conntrack and Watch-Conntrack select on. Every entry is checked by
/// <see cref="Matches"/> in user space; the parts the kernel can evaluate are also sent with the dump
/// request so that fewer entries cross the socket. The kernel filter is only ever a pre-filter (it never
/// drops an entry the user-space filter would keep), so the result is the same either way.
/// </summary>
public sealed partial class ConntrackFilter
{
    public byte? Protocol { get; set; }
    public AddressMatch? SourceAddress { get; set; }
    public AddressMatch? DestinationAddress { get; set; }
    public int? SourcePort { get; set; }
    public int? DestinationPort { get; set; }

    /// <summary>Any of these states (case-insensitive).</summary>
    public string[]? State { get; set; }

    /// <summary>All of these status bits.</summary>
    public ConntrackStatus? Status { get; set; }
    public uint? Mark { get; set; }
    public uint? MarkMask { get; set; }
    public ushort? Zone { get; set; }
    public IPFamily Family { get; set; } = IPFamily.All;
    public NatType? NatType { get; set; }

    public bool IsEmpty => Protocol is null && SourceAddress is null && DestinationAddress is null && SourcePort is null &&
        DestinationPort is null && State is null && Status is null && Mark is null && Zone is null && Family == IPFamily.All && NatType is null &&
        !HasSelectors;

    /// <summary>The address family an entry must have: the requested one, narrowed by any address given.</summary>
    public IPFamily EffectiveFamily
    {
        get
        {
            IPFamily f = Family;
            if (!Narrow(ref f, SourceAddress) || !Narrow(ref f, DestinationAddress) || !Narrow(ref f, ReplySourceAddress) ||
                !Narrow(ref f, ReplyDestinationAddress) || !Narrow(ref f, TranslatedSourceAddress) || !Narrow(ref f, TranslatedDestinationAddress))
                return (IPFamily)(-1); // contradiction: nothing can match
            if (Protocol == Protocols.Icmp && f == IPFamily.IPv6) return (IPFamily)(-1);
            if (Protocol == Protocols.IcmpV6 && f == IPFamily.IPv4) return (IPFamily)(-1);
            if (Protocol == Protocols.Icmp) return IPFamily.IPv4;
            if (Protocol == Protocols.IcmpV6) return IPFamily.IPv6;
            return f;
        }
    }

    /// <summary>Narrows <paramref name="family"/> by an address's family; false when the two contradict.</summary>
    private static bool Narrow(ref IPFamily family, AddressMatch? address)
    {
        if (address is null) return true;
        if (family == IPFamily.All) family = address.Family;
        return family == address.Family;
    }

    /// <summary>True when no entry can match (for example an IPv4 address with -AddressFamily IPv6).</summary>
    public bool MatchesNothing => (int)EffectiveFamily < 0;

    /// <summary>The complete filter, evaluated in user space.</summary>
    public bool Matches(ConntrackEntry e)
    {
        var fam = EffectiveFamily;
        if (fam != IPFamily.All && e.AddressFamily != fam) return false;
        var o = e.Original;
        if (Protocol is byte p && o.ProtocolNumber != p) return false;
        if (SourcePort is int sp && o.SourcePort != sp) return false;
        if (DestinationPort is int dp && o.DestinationPort != dp) return false;
        if (SourceAddress is not null && !o.SourceIn(SourceAddress)) return false;
        if (DestinationAddress is not null && !o.DestinationIn(DestinationAddress)) return false;
        if (Mark is uint m)
        {
            uint mask = MarkMask ?? uint.MaxValue;
            if ((e.Mark & mask) != (m & mask)) return false;
        }
        if (Status is ConntrackStatus st && (e.Status & st) != st) return false;
        if (Zone is ushort z && e.Zone != z) return false;
        if (NatType is NatType nt && e.NatType != nt) return false;
        if (HasSelectors && !MatchesSelectors(e)) return false;
        if (State is { Length: > 0 } states)
        {
            if (e.State is null) return false;
            bool any = false;
            foreach (var s in states)
                if (string.Equals(s, e.State, StringComparison.OrdinalIgnoreCase)) { any = true; break; }
            if (!any) return false;
        }
        return true;
    }

    /// <summary>True when some user-space condition can be checked on the raw original tuple.</summary>
    internal bool HasTupleConditions => Protocol is not null || SourcePort is not null || DestinationPort is not null ||
                                        SourceAddress is not null || DestinationAddress is not null;

    /// <summary>
    /// A cheap first look at a raw ctnetlink entry: false when its original tuple (protocol, ports, addresses) cannot
    /// match, so the caller can skip decoding it. Never rejects what <see cref="Matches"/> would keep; damaged input
    /// answers true so that the full decoder reports it.
    /// </summary>
    internal bool MightMatch(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < ConntrackDecoder.NfGenMsgLength) return true;
        var ad = new AttributeDecoder(payload[ConntrackDecoder.NfGenMsgLength..], bigEndian: true);
        while (ad.Next())
        {
            if (ad.Type != Cta.TUPLE_ORIG) continue;
            var tuple = ad.Nested();
            while (tuple.Next())
            {
                if (tuple.Type == Cta.TUPLE_IP)
                {
                    var ip = tuple.Nested();
                    while (ip.Next())
                    {
                        var match = ip.Type is Cta.IP_V4_SRC or Cta.IP_V6_SRC ? SourceAddress : ip.Type is Cta.IP_V4_DST or Cta.IP_V6_DST ? DestinationAddress : null;
                        if (match is not null && !match.Contains(ip.Bytes)) return false;
                    }
                }
                else if (tuple.Type == Cta.TUPLE_PROTO)
                {
                    var proto = tuple.Nested();
                    while (proto.Next())
                    {
                        switch (proto.Type)
                        {
                            case Cta.PROTO_NUM when Protocol is byte p && proto.Length == 1 && proto.Bytes[0] != p: return false;
                            case Cta.PROTO_SRC_PORT when SourcePort is int sp && proto.Length == 2 && proto.UInt16() != sp: return false;
                            case Cta.PROTO_DST_PORT when DestinationPort is int dp && proto.Length == 2 && proto.UInt16() != dp: return false;
                        }
                    }
                }
            }
            return true;
        }
        return true;
    }

    /// <summary>One dump request (one family) and the words for -Verbose.</summary>
    public sealed record DumpPlan(IReadOnlyList<MessageBuilder> Requests, string KernelPart, string UserPart);

    /// <summary>
    /// Builds the dump request(s). <paramref name="kernel"/> says what this kernel supports;
    /// with <paramref name="kernelFiltering"/> false everything is filtered in user space.
    /// </summary>
    public DumpPlan PlanDump(KernelFeatures kernel, bool kernelFiltering = true, bool splitFamilies = false)
    {
        var kernelWords = new List<string>();
        var userWords = new List<string>();
        IPFamily fam = EffectiveFamily;

        // Tuple filter (CTA_FILTER, 5.8+). Ports are compared by the kernel only for tcp and udp.
        uint flags = 0, origIcmp = 0, replyFlags = 0;
        bool pushSrc = false, pushDst = false;
        if (kernelFiltering && kernel.TupleFilter)
        {
            if (Protocol is byte p)
            {
                flags |= Cta.FILTER_FLAG_PROTO_NUM;
                if (p is Protocols.Tcp or Protocols.Udp)
                {
                    if (SourcePort is not null) flags |= Cta.FILTER_FLAG_PROTO_SRC_PORT;
                    if (DestinationPort is not null) flags |= Cta.FILTER_FLAG_PROTO_DST_PORT;
                }
            }
            // Exact IPv4 addresses only: the kernel has no prefix match, and its IPv6 address
            // comparison is inverted (ipv6_addr_cmp() used as a boolean; seen on 6.18: asking for src fd00::1
            // returned every entry except fd00::1), so IPv6 addresses stay in user space.
            pushSrc = SourceAddress is { IsHost: true, Family: IPFamily.IPv4 };
            pushDst = DestinationAddress is { IsHost: true, Family: IPFamily.IPv4 };
            if (pushSrc) flags |= Cta.FILTER_FLAG_IP_SRC;
            if (pushDst) flags |= Cta.FILTER_FLAG_IP_DST;
            origIcmp = OriginalIcmpFlags();
            flags |= origIcmp;
            replyFlags = ReplyFlags();
        }

        bool pushMark = kernelFiltering && Mark is not null;
        bool pushStatus = kernelFiltering && kernel.StatusFilter && Status is not null && Status != ConntrackStatus.None;
        bool pushZone = kernelFiltering && kernel.ZoneFilter && Zone is not null;
        bool pushFamily = kernelFiltering && fam != IPFamily.All;

        // Describe the split.
        if (pushFamily) kernelWords.Add("family " + fam);
        if ((flags & Cta.FILTER_FLAG_PROTO_NUM) != 0) kernelWords.Add("protocol " + Protocols.Name(Protocol!.Value));
        if ((flags & Cta.FILTER_FLAG_PROTO_SRC_PORT) != 0) kernelWords.Add("sport " + SourcePort);
        if ((flags & Cta.FILTER_FLAG_PROTO_DST_PORT) != 0) kernelWords.Add("dport " + DestinationPort);
        if (pushSrc) kernelWords.Add("src " + SourceAddress);
        if (pushDst) kernelWords.Add("dst " + DestinationAddress);
        if (pushMark) kernelWords.Add($"mark {Mark}/0x{MarkMask ?? uint.MaxValue:x}");
        if (pushStatus) kernelWords.Add("status " + Status);
        if (pushZone) kernelWords.Add("zone " + Zone);

        if (fam != IPFamily.All && !pushFamily) userWords.Add("family " + fam);
        if (Protocol is not null && (flags & Cta.FILTER_FLAG_PROTO_NUM) == 0) userWords.Add("protocol " + Protocols.Name(Protocol.Value));
        if (SourcePort is not null && (flags & Cta.FILTER_FLAG_PROTO_SRC_PORT) == 0) userWords.Add("sport " + SourcePort);
        if (DestinationPort is not null && (flags & Cta.FILTER_FLAG_PROTO_DST_PORT) == 0) userWords.Add("dport " + DestinationPort);
        if (SourceAddress is not null && !pushSrc) userWords.Add("src " + SourceAddress);
        if (DestinationAddress is not null && !pushDst) userWords.Add("dst " + DestinationAddress);
        if (Mark is not null && !pushMark) userWords.Add($"mark {Mark}/0x{MarkMask ?? uint.MaxValue:x}");
        if (Status is not null && !pushStatus) userWords.Add("status " + Status);
        if (Zone is not null && !pushZone) userWords.Add("zone " + Zone);
        if (State is { Length: > 0 }) userWords.Add("state " + string.Join(",", State));
        if (NatType is not null) userWords.Add("NAT " + NatType);
        DescribeSelectors(origIcmp, replyFlags, kernelWords, userWords);

        // CTA_FILTER needs AF_INET or AF_INET6: for "all families" run one dump per family. Asked to split, do the
        // same for a dump of every family: the kernel filters by family in every version, the two dumps together
        // hold exactly the entries of one, and each runs on a socket (and a core) of its own.
        bool split = kernelFiltering && splitFamilies && fam == IPFamily.All;
        IPFamily[] families = ((flags | replyFlags) != 0 || split) && fam == IPFamily.All
            ? [IPFamily.IPv4, IPFamily.IPv6]
            : [pushFamily ? fam : IPFamily.All];
        if (split) kernelWords.Add("family IPv4 and IPv6 (one dump each, side by side)");
        var requests = new List<MessageBuilder>();
        foreach (var f in families)
        {
            var b = new MessageBuilder(Cta.MessageType(Cta.IPCTNL_MSG_CT_GET), 0, bigEndian: true).NfGenMsg((byte)f);
            if (pushMark)
            {
                uint mask = MarkMask ?? uint.MaxValue;
                b.UInt32(Cta.MARK, Mark!.Value & mask).UInt32(Cta.MARK_MASK, mask);
            }
            if (pushStatus) b.UInt32(Cta.STATUS, (uint)Status!.Value).UInt32(Cta.STATUS_MASK, (uint)Status!.Value);
            if (pushZone) b.UInt16(Cta.ZONE, Zone!.Value);
            if (flags == 0 && replyFlags != 0)
            {
                WriteReplyTuple(b, replyFlags);
                int onlyReply = b.BeginNested(Cta.FILTER);
                b.Bytes(Cta.FILTER_ORIG_FLAGS, BitConverter.GetBytes(0u));
                b.Bytes(Cta.FILTER_REPLY_FLAGS, BitConverter.GetBytes(replyFlags));
                b.EndNested(onlyReply);
            }
            if (flags != 0)
            {
                int tuple = b.BeginNested(Cta.TUPLE_ORIG);
                if (pushSrc || pushDst)
                {
                    int ip = b.BeginNested(Cta.TUPLE_IP);
                    if (pushSrc) b.Address(Cta.IP_V4_SRC, SourceAddress!.Network.BaseAddress);
                    if (pushDst) b.Address(Cta.IP_V4_DST, DestinationAddress!.Network.BaseAddress);
                    b.EndNested(ip);
                }
                int proto = b.BeginNested(Cta.TUPLE_PROTO);
                if (Protocol is byte pn) b.UInt8(Cta.PROTO_NUM, pn);
                if ((flags & Cta.FILTER_FLAG_PROTO_SRC_PORT) != 0) b.UInt16(Cta.PROTO_SRC_PORT, (ushort)SourcePort!.Value);
                if ((flags & Cta.FILTER_FLAG_PROTO_DST_PORT) != 0) b.UInt16(Cta.PROTO_DST_PORT, (ushort)DestinationPort!.Value);
                if (origIcmp != 0) WriteOriginalIcmp(b, origIcmp);
                b.EndNested(proto);
                b.EndNested(tuple);
                if (replyFlags != 0) WriteReplyTuple(b, replyFlags);
                int filter = b.BeginNested(Cta.FILTER);
                // The flag words are host-order u32 (nla_get_u32), unlike the other ctnetlink integers.
                b.Bytes(Cta.FILTER_ORIG_FLAGS, BitConverter.GetBytes(flags));
                b.Bytes(Cta.FILTER_REPLY_FLAGS, BitConverter.GetBytes(replyFlags));
                b.EndNested(filter);
            }
            requests.Add(b);
        }
        string k = kernelWords.Count == 0 ? "none" : string.Join(", ", kernelWords);
        string u = userWords.Count == 0 ? "none" : string.Join(", ", userWords);
        return new DumpPlan(requests, k, u);
    }
}

/// <summary>Which ctnetlink dump filters this kernel evaluates itself (see ti-mo/conntrack filter.go for the idea).</summary>
public sealed record KernelFeatures(Version Kernel, bool TupleFilter, bool StatusFilter, bool ZoneFilter)
{
    /// <summary>CTA_FILTER since 5.8, CTA_STATUS_MASK since 5.15, CTA_ZONE in dumps since 6.8.</summary>
    public static KernelFeatures For(Version v) => new(v,
        TupleFilter: v >= new Version(5, 8),
        StatusFilter: v >= new Version(5, 15),
        ZoneFilter: v >= new Version(6, 8));

    public static KernelFeatures Current { get; } = For(RunningKernel());

    /// <summary>The running kernel's version from uname (major.minor.patch).</summary>
    public static Version RunningKernel()
    {
        try
        {
            string rel = System.IO.File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
            var parts = new string(rel.TakeWhile(c => char.IsDigit(c) || c == '.').ToArray()).Split('.', StringSplitOptions.RemoveEmptyEntries);
            int Part(int i) => i < parts.Length && int.TryParse(parts[i], out int x) ? x : 0;
            return new Version(Part(0), Part(1), Part(2));
        }
        catch (System.IO.IOException)
        {
            return Environment.OSVersion.Version;
        }
    }

    /// <summary>Full kernel release string (uname -r).</summary>
    public static string Release()
    {
        try { return System.IO.File.ReadAllText("/proc/sys/kernel/osrelease").Trim(); }
        catch (System.IO.IOException) { return Environment.OSVersion.VersionString; }
    }
}
