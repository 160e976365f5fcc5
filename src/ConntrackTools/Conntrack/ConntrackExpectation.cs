using System;
using ConntrackTools.Inet;

namespace ConntrackTools;

/// <summary>
/// An expectation (read-only to users: the decoder fills it): a connection the kernel's helper (ftp, sip, tftp, ...) or a program told conntrack to expect,
/// related to its master connection (conntrack -L expect).
/// </summary>
public sealed class ConntrackExpectation
{
    internal ConntrackExpectation() { }

    /// <summary>The kernel's id for the expectation (CTA_EXPECT_ID).</summary>
    public uint Id { get; internal set; }

    public IPFamily AddressFamily { get; internal set; }

    /// <summary>Protocol of the expected connection.</summary>
    public string Protocol => Expected.Protocol;

    /// <summary>The original tuple of the connection that created the expectation.</summary>
    public FlowTuple Master { get; internal set; } = new();

    /// <summary>The expected connection's original tuple; fields whose <see cref="Mask"/> is zero match anything.</summary>
    public FlowTuple Expected { get; internal set; } = new();

    /// <summary>Which bits of <see cref="Expected"/> must match: address masks as addresses, port masks as ports.</summary>
    public FlowTuple Mask { get; internal set; } = new();

    /// <summary>Helper name (ftp, sip, ...); null for an expectation without helper.</summary>
    public string? Helper { get; internal set; }

    /// <summary>Time left before the expectation expires.</summary>
    public TimeSpan Timeout { get; internal set; }

    public ushort Zone { get; internal set; }

    /// <summary>The helper's expectation class (e.g. SIP signalling 0, audio 1, video 2).</summary>
    public uint Class { get; internal set; }

    public ConntrackExpectationFlags Flags { get; internal set; }

    /// <summary>The helper function that will handle the expected connection (CTA_EXPECT_FN), e.g. sip/signalling.</summary>
    public string? Function { get; internal set; }

    /// <summary>The -NetworkNamespace the expectation was read from; null for the caller's own namespace.</summary>
    public string? NetworkNamespace { get; internal set; }

    // Flat views of the tuples, for tables, Export-Csv and remoting.
    public string SourceAddress => Expected.SourceAddress;
    public string DestinationAddress => Expected.DestinationAddress;
    /// <summary>Null when the mask lets any source port match.</summary>
    public int? SourcePort => Mask.SourcePort is 0 ? null : Expected.SourcePort;
    public int? DestinationPort => Mask.DestinationPort is 0 ? null : Expected.DestinationPort;
    public string MasterSourceAddress => Master.SourceAddress;
    public string MasterDestinationAddress => Master.DestinationAddress;
    public int? MasterSourcePort => Master.SourcePort;
    public int? MasterDestinationPort => Master.DestinationPort;
    public string MasterProtocol => Master.Protocol;

    public override string ToString() => $"{Helper ?? "-"} {Protocol} {Expected} (master {Master.Protocol} {Master})";
}

/// <summary>Expectation flags (NF_CT_EXPECT_*, linux/netfilter/nf_conntrack_common.h). Long-based so JSON shows names.</summary>
[Flags]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1711", Justification = "The kernel calls them flags (NF_CT_EXPECT_*), and ConntrackExpectation.Flags is a contract name.")]
public enum ConntrackExpectationFlags : long
{
    None = 0,
    /// <summary>NF_CT_EXPECT_PERMANENT: stays after a connection matched it.</summary>
    Permanent = 0x1,
    /// <summary>NF_CT_EXPECT_INACTIVE: does not match yet.</summary>
    Inactive = 0x2,
    /// <summary>NF_CT_EXPECT_USERSPACE: created over netlink, not by a helper.</summary>
    Userspace = 0x4,
}
