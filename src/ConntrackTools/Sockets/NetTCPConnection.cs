using System;

namespace ConntrackTools;

/// <summary>
/// One TCP socket, read over NETLINK_SOCK_DIAG, under the property names of Windows' Get-NetTCPConnection, with
/// its owner and the NAT view from its conntrack entry.
/// </summary>
public sealed class NetTCPConnection : Sockets.IConntrackJoinable
{
    public string LocalAddress { get; internal init; } = "";
    public int LocalPort { get; internal init; }
    public string RemoteAddress { get; internal init; } = "";
    public int RemotePort { get; internal init; }
    public TcpState State { get; internal init; }

    /// <summary>Process id of the process holding the socket (from /proc/*/fd); null unless owners were resolved, and for TIME_WAIT and request sockets, which no process holds.</summary>
    public uint? OwningProcess { get; internal set; }

    /// <summary>The owner's name (/proc/PID/comm), as ss -p shows it.</summary>
    public string? OwningProcessName { get; internal set; }

    /// <summary>
    /// When the kernel first saw the connection: the conntrack entry's start time (only with
    /// net.netfilter.nf_conntrack_timestamp = 1). inet_diag reports no socket creation time, so this is null for
    /// listeners, untracked sockets and when timestamping is off.
    /// </summary>
    public DateTime? CreationTime => ConntrackEntry?.StartTime;

    /// <summary>The -NetworkNamespace the socket was read from; null for the caller's own namespace.</summary>
    public string? NetworkNamespace { get; internal init; }

    public IPFamily AddressFamily { get; internal init; }

    /// <summary>Always tcp: lets a socket bind to Get-Conntrack -Protocol by property name.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "An instance property, so that Get-Conntrack binds it by property name from the pipeline.")]
    public string Protocol => "tcp";

    /// <summary>Our side as the peer sees it (after SNAT/masquerade); null when the flow is untracked.</summary>
    public string? TranslatedLocalAddress { get; internal set; }
    public int? TranslatedLocalPort { get; internal set; }

    /// <summary>The peer as it really is (after DNAT); null when the flow is untracked.</summary>
    public string? TranslatedRemoteAddress { get; internal set; }
    public int? TranslatedRemotePort { get; internal set; }

    /// <summary>The conntrack entry of the flow, or null when it is untracked (listeners, notrack, no entry).</summary>
    public ConntrackEntry? ConntrackEntry { get; internal set; }

    void Sockets.IConntrackJoinable.Join(ConntrackEntry entry, string? localAddress, int? localPort, string? remoteAddress, int? remotePort)
    {
        ConntrackEntry = entry;
        (TranslatedLocalAddress, TranslatedLocalPort, TranslatedRemoteAddress, TranslatedRemotePort) = (localAddress, localPort, remoteAddress, remotePort);
    }

    /// <summary>Socket inode (0 for TIME_WAIT and request sockets).</summary>
    public ulong Inode { get; internal init; }

    /// <summary>Owner user id of the socket.</summary>
    public uint UserId { get; internal init; }

    /// <summary>Bytes waiting to be read (for listeners: the accept queue length).</summary>
    public uint ReceiveQueue { get; internal init; }

    /// <summary>Bytes not yet acknowledged by the peer (for listeners: the accept queue limit).</summary>
    public uint SendQueue { get; internal init; }

    /// <summary>The socket mark (SO_MARK); null when the kernel did not report it (needs CAP_NET_ADMIN).</summary>
    public uint? Mark { get; internal init; }

    internal ulong Cookie { get; init; }

    public override string ToString() =>
        $"tcp {State} {Inet(LocalAddress, LocalPort)} -> {Inet(RemoteAddress, RemotePort)}" +
        (TranslatedLocalAddress is not null && (TranslatedLocalAddress != LocalAddress || TranslatedLocalPort != LocalPort)
            ? $" (as {Inet(TranslatedLocalAddress, TranslatedLocalPort ?? 0)})" : "");

    internal static string Inet(string address, int port) => address.Contains(':') ? $"[{address}]:{port}" : $"{address}:{port}";
}
