using System;
using System.Net;

namespace ConntrackTools;

/// <summary>One entry of the kernel's connection tracking table.</summary>
public class ConntrackEntry
{
    /// <summary>The kernel's id for the entry (CTA_ID).</summary>
    public uint Id { get; set; }

    public IPFamily AddressFamily { get; set; }

    public string Protocol => Original.Protocol;

    /// <summary>TCP, SCTP or DCCP state (ESTABLISHED, TIME_WAIT, ...); null for other protocols.</summary>
    public string? State { get; set; }

    /// <summary>Time left before the entry expires.</summary>
    public TimeSpan Timeout { get; set; }

    public ConntrackStatus Status { get; set; }
    public uint Mark { get; set; }
    public ushort Zone { get; set; }

    /// <summary>Reference count (CTA_USE).</summary>
    public uint Use { get; set; }

    /// <summary>The tuple of the first packet, as the client sent it.</summary>
    public FlowTuple Original { get; set; } = new();

    /// <summary>The tuple replies are expected on; differs from the inverted original when NAT applies.</summary>
    public FlowTuple Reply { get; set; } = new();

    public IPAddress SourceAddress => Original.SourceAddress;
    public IPAddress DestinationAddress => Original.DestinationAddress;
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
            bool snat = !Original.SourceAddress.Equals(Reply.DestinationAddress) || Original.SourcePort != Reply.DestinationPort;
            bool dnat = !Original.DestinationAddress.Equals(Reply.SourceAddress) || Original.DestinationPort != Reply.SourcePort;
            if (Original.IcmpId is int id && Reply.IcmpId is int rid && id != rid) snat = true;
            return (snat ? NatType.Source : 0) | (dnat ? NatType.Destination : 0);
        }
    }

    /// <summary>The source the peer sees (after SNAT/masquerade): Reply.DestinationAddress.</summary>
    public IPAddress TranslatedSourceAddress => Reply.DestinationAddress;
    public int? TranslatedSourcePort => Reply.DestinationPort;

    /// <summary>Where the connection really goes (after DNAT): Reply.SourceAddress.</summary>
    public IPAddress TranslatedDestinationAddress => Reply.SourceAddress;
    public int? TranslatedDestinationPort => Reply.SourcePort;

    /// <summary>Null when accounting (net.netfilter.nf_conntrack_acct) is off.</summary>
    public ulong? OriginalPackets { get; set; }
    public ulong? OriginalBytes { get; set; }
    public ulong? ReplyPackets { get; set; }
    public ulong? ReplyBytes { get; set; }

    /// <summary>Null when timestamping (net.netfilter.nf_conntrack_timestamp) is off.</summary>
    public DateTime? StartTime { get; set; }

    /// <summary>Helper name (ftp, sip, ...), or null.</summary>
    public string? Helper { get; set; }

    /// <summary>Bit numbers of the connection labels set on the entry, or null when none.</summary>
    public int[]? Labels { get; set; }

    /// <summary>The -NetworkNamespace the entry was read from; null for the caller's own namespace.</summary>
    public string? NetworkNamespace { get; set; }

    /// <summary>The inode of the namespace the entry was read from (as Get-NetworkNamespace's Id); null for the caller's own.</summary>
    public ulong? NetworkNamespaceId { get; set; }

    /// <summary>ctnetlink family number of the entry (2 or 10).</summary>
    internal byte FamilyNumber => (byte)AddressFamily;

    public override string ToString()
    {
        string s = $"{Protocol} {State} {Original}";
        if (NatType is NatType.Source or NatType.Both)
            s += $" (as {FlowTuple.Endpoint(TranslatedSourceAddress, TranslatedSourcePort)})";
        if (NatType is NatType.Destination or NatType.Both)
            s += $" (to {FlowTuple.Endpoint(TranslatedDestinationAddress, TranslatedDestinationPort)})";
        return s;
    }
}
