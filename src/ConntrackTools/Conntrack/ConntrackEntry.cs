using System;
using ConntrackTools.Inet;

namespace ConntrackTools;

/// <summary>
/// One entry of the kernel's connection tracking table. Read-only to users: the decoder fills it, and a change
/// (Set-Conntrack) is written to the kernel and read back as a new object, never made to this one.
/// </summary>
/// <remarks>
/// A dump makes millions: the optional numbers are plain fields with presence bits rather than nullable values (an
/// entry is 144 bytes, its two tuples 80 each, and nothing else is allocated for it).
/// </remarks>
public sealed class ConntrackEntry
{
    internal ConntrackEntry(FlowTuple original, FlowTuple reply)
    {
        Original = original;
        Reply = reply;
    }

    /// <summary>The kernel's id for the entry (CTA_ID).</summary>
    public uint Id { get; internal set; }

    public IPFamily AddressFamily
    {
        get => (IPFamily)_family;
        internal set => _family = checked((byte)value);
    }

    private byte _family;
    private Has _has;
    private ulong _originalPackets, _originalBytes, _replyPackets, _replyBytes, _networkNamespaceId;
    private DateTime _startTime;

    [Flags]
    private enum Has : byte
    {
        OriginalPackets = 1, OriginalBytes = 2, ReplyPackets = 4, ReplyBytes = 8, StartTime = 16, NetworkNamespaceId = 32,
    }

    private bool Is(Has bit) => (_has & bit) != 0;

    private void Set(Has bit, bool on) => _has = on ? _has | bit : _has & ~bit;

    private ulong Store(Has bit, ulong? value)
    {
        Set(bit, value is not null);
        return value ?? 0;
    }

    public string Protocol => Original.Protocol;

    /// <summary>TCP, SCTP or DCCP state (ESTABLISHED, TIME_WAIT, ...); null for other protocols.</summary>
    public string? State { get; internal set; }

    /// <summary>Time left before the entry expires.</summary>
    public TimeSpan Timeout { get; internal set; }

    public ConntrackStatus Status { get; internal set; }
    public uint Mark { get; internal set; }
    public ushort Zone { get; internal set; }

    /// <summary>Reference count (CTA_USE).</summary>
    public uint Use { get; internal set; }

    /// <summary>The tuple of the first packet, as the client sent it.</summary>
    public FlowTuple Original { get; internal set; }

    /// <summary>The tuple replies are expected on; differs from the inverted original when NAT applies.</summary>
    public FlowTuple Reply { get; internal set; }

    public string SourceAddress => Original.SourceAddress;
    public string DestinationAddress => Original.DestinationAddress;
    public int? SourcePort => Original.SourcePort;
    public int? DestinationPort => Original.DestinationPort;

    /// <summary>
    /// Derived from the tuples, as conntrack -L --src-nat/--dst-nat do: source NAT when the reply is addressed
    /// elsewhere than the original source, destination NAT when it comes from elsewhere than the original destination.
    /// </summary>
    public NatType NatType
    {
        get
        {
            bool snat = !Original.SourceMirrors(Reply) || Original.SourcePort != Reply.DestinationPort;
            bool dnat = !Original.DestinationMirrors(Reply) || Original.DestinationPort != Reply.SourcePort;
            if (Original.IcmpId is int id && Reply.IcmpId is int rid && id != rid) snat = true;
            return (snat ? NatType.Source : 0) | (dnat ? NatType.Destination : 0);
        }
    }

    /// <summary>The source the peer sees (after SNAT/masquerade): Reply.DestinationAddress.</summary>
    public string TranslatedSourceAddress => Reply.DestinationAddress;
    public int? TranslatedSourcePort => Reply.DestinationPort;

    /// <summary>Where the connection really goes (after DNAT): Reply.SourceAddress.</summary>
    public string TranslatedDestinationAddress => Reply.SourceAddress;
    public int? TranslatedDestinationPort => Reply.SourcePort;

    /// <summary>Null when accounting (net.netfilter.nf_conntrack_acct) is off.</summary>
    public ulong? OriginalPackets
    {
        get => Is(Has.OriginalPackets) ? _originalPackets : null;
        internal set => _originalPackets = Store(Has.OriginalPackets, value);
    }

    public ulong? OriginalBytes
    {
        get => Is(Has.OriginalBytes) ? _originalBytes : null;
        internal set => _originalBytes = Store(Has.OriginalBytes, value);
    }

    public ulong? ReplyPackets
    {
        get => Is(Has.ReplyPackets) ? _replyPackets : null;
        internal set => _replyPackets = Store(Has.ReplyPackets, value);
    }

    public ulong? ReplyBytes
    {
        get => Is(Has.ReplyBytes) ? _replyBytes : null;
        internal set => _replyBytes = Store(Has.ReplyBytes, value);
    }

    /// <summary>Null when timestamping (net.netfilter.nf_conntrack_timestamp) is off.</summary>
    public DateTime? StartTime
    {
        get => Is(Has.StartTime) ? _startTime : null;
        internal set
        {
            Set(Has.StartTime, value is not null);
            _startTime = value ?? default;
        }
    }

    /// <summary>Helper name (ftp, sip, ...), or null.</summary>
    public string? Helper { get; internal set; }

    /// <summary>Bit numbers of the connection labels set on the entry, or null when none.</summary>
    public int[]? Labels { get; internal set; }

    /// <summary>The -NetworkNamespace the entry was read from; null for the caller's own namespace.</summary>
    public string? NetworkNamespace { get; internal set; }

    /// <summary>A copy with a new mark and/or timeout (what the kernel holds after an update of those).</summary>
    internal ConntrackEntry With(uint? mark, TimeSpan? timeout)
    {
        var copy = (ConntrackEntry)MemberwiseClone();
        if (mark is uint m) copy.Mark = m;
        if (timeout is TimeSpan t) copy.Timeout = t;
        return copy;
    }

    /// <summary>The inode of the namespace the entry was read from (as Get-NetworkNamespace's Id); null for the caller's own.</summary>
    public ulong? NetworkNamespaceId
    {
        get => Is(Has.NetworkNamespaceId) ? _networkNamespaceId : null;
        internal set => _networkNamespaceId = Store(Has.NetworkNamespaceId, value);
    }

    /// <summary>ctnetlink family number of the entry (2 or 10).</summary>
    internal byte FamilyNumber => (byte)AddressFamily;

    public override string ToString()
    {
        string s = $"{Protocol} {State} {Original}";
        if (NatType is NatType.Source or NatType.Both)
            s += $" (as {Addresses.Endpoint(Reply.DestinationIP, TranslatedSourcePort)})";
        if (NatType is NatType.Destination or NatType.Both)
            s += $" (to {Addresses.Endpoint(Reply.SourceIP, TranslatedDestinationPort)})";
        return s;
    }
}
