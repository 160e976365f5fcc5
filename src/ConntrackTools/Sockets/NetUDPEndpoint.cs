using System;

namespace ConntrackTools;

/// <summary>
/// One UDP socket, read over NETLINK_SOCK_DIAG, under the property names of Windows' Get-NetUDPEndpoint, plus the
/// remote end of a connected socket, its owner and the NAT view from its conntrack entry.
/// </summary>
public sealed class NetUDPEndpoint : Sockets.IConntrackJoinable
{
    public string LocalAddress { get; internal init; } = "";
    public int LocalPort { get; internal init; }

    /// <summary>The peer of a connected socket (connect(2)); the wildcard address and 0 otherwise.</summary>
    public string RemoteAddress { get; internal init; } = "";
    public int RemotePort { get; internal init; }

    /// <summary>True for a connected socket (kernel state ESTABLISHED; ss: ESTAB rather than UNCONN).</summary>
    public bool Connected { get; internal init; }

    /// <summary>Process id of the process holding the socket (from /proc/*/fd); null unless owners were resolved.</summary>
    public uint? OwningProcess { get; internal set; }
    public string? OwningProcessName { get; internal set; }

    /// <summary>The conntrack entry's start time (with nf_conntrack_timestamp = 1); null otherwise (inet_diag reports no creation time).</summary>
    public DateTime? CreationTime => ConntrackEntry?.StartTime;

    public string? NetworkNamespace { get; internal init; }
    public IPFamily AddressFamily { get; internal init; }

    /// <summary>Always udp: lets an endpoint bind to Get-Conntrack -Protocol by property name.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "An instance property, so that Get-Conntrack binds it by property name from the pipeline.")]
    public string Protocol => "udp";

    public string? TranslatedLocalAddress { get; internal set; }
    public int? TranslatedLocalPort { get; internal set; }
    public string? TranslatedRemoteAddress { get; internal set; }
    public int? TranslatedRemotePort { get; internal set; }

    /// <summary>The conntrack entry of a connected socket's flow; null for unconnected sockets and untracked flows.</summary>
    public ConntrackEntry? ConntrackEntry { get; internal set; }

    void Sockets.IConntrackJoinable.Join(ConntrackEntry entry, string? localAddress, int? localPort, string? remoteAddress, int? remotePort)
    {
        ConntrackEntry = entry;
        (TranslatedLocalAddress, TranslatedLocalPort, TranslatedRemoteAddress, TranslatedRemotePort) = (localAddress, localPort, remoteAddress, remotePort);
    }

    public ulong Inode { get; internal init; }
    public uint UserId { get; internal init; }
    public uint ReceiveQueue { get; internal init; }
    public uint SendQueue { get; internal init; }
    public uint? Mark { get; internal init; }

    public override string ToString() =>
        $"udp {NetTCPConnection.Inet(LocalAddress, LocalPort)}" + (Connected ? $" -> {NetTCPConnection.Inet(RemoteAddress, RemotePort)}" : "");
}
