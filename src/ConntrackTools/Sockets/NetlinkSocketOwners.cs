using System;
using System.Collections.Generic;
using System.Diagnostics;
using ConntrackTools.Namespaces;
using ConntrackTools.Netlink;

namespace ConntrackTools.Sockets;

/// <summary>
/// Resolves a netlink port id to the process holding that netlink socket: netlink_diag (NETLINK_SOCK_DIAG,
/// family AF_NETLINK) lists the namespace's netlink sockets with port id and inode, and the inode is looked up in
/// /proc/*/fd (the process whose pid equals the port id first: the kernel gives a process's first netlink socket
/// its pid). Answers are cached for a short time, because a flush reports thousands of events with one port id.
/// Used from one thread at a time (the event reader).
/// </summary>
public sealed class NetlinkSocketOwners : IDisposable
{
    /// <summary>How long an answer is reused. Short: port ids are reused once a socket closes.</summary>
    public static readonly TimeSpan CacheLifetime = TimeSpan.FromSeconds(2);

    private readonly NetlinkConnection _conn;
    private readonly Dictionary<uint, (long At, SocketOwner? Owner)> _cache = new();

    /// <summary>NETLINK_NETFILTER: conntrack requests come from netfilter sockets. Port ids are unique per netlink protocol only.</summary>
    public const byte Protocol = (byte)NetlinkProtocol.Netfilter;

    private NetlinkSocketOwners(NetlinkConnection conn) => _conn = conn;

    /// <summary>Opens the NETLINK_SOCK_DIAG socket inside <paramref name="ns"/> (where the requesting sockets live).</summary>
    public static NetlinkSocketOwners Open(NetworkNamespace? ns)
    {
        var owners = new NetlinkSocketOwners(new NetlinkConnection(NetworkNamespace.Run<INetlinkTransport>(ns, SocketReader.OpenSocket)));
        // Warm up the whole path of a lookup that finds its owner (JIT, first /proc walk) on a netfilter socket of our
        // own, so the first real lookup is quick enough to find a short-lived requester: `conntrack -F` closes its
        // socket a few milliseconds after the first event, and a cold lookup took 15 ms here.
        using (var own = NetworkNamespace.Run(ns, () => NetlinkSocket.Open(NetlinkProtocol.Netfilter)))
            owners.Resolve(own.PortId);
        owners._cache.Clear();
        owners.Lookups = 0;
        return owners;
    }

    /// <summary>For tests: over a scripted transport.</summary>
    public NetlinkSocketOwners(INetlinkTransport transport) : this(new NetlinkConnection(transport)) { }

    /// <summary>Lookups that went to the kernel (not answered from the cache).</summary>
    public int Lookups { get; private set; }

    /// <summary>The owner of the netlink socket with <paramref name="portId"/>, or null when no open socket has it.</summary>
    public SocketOwner? Resolve(uint portId)
    {
        long now = Stopwatch.GetTimestamp();
        if (_cache.TryGetValue(portId, out var hit) && Stopwatch.GetElapsedTime(hit.At, now) < CacheLifetime) return hit.Owner;
        Lookups++;
        SocketOwner? owner = null;
        try
        {
            ulong? inode = FindInode(portId);
            if (inode is ulong ino && ino != 0)
                owner = ProcessSockets.FindOne(ino, portId < 0x400000 ? portId : null);
        }
        catch (NetlinkException)
        {
            // The diag socket failed: attribution is best effort, the event itself still counts.
        }
        _cache[portId] = (now, owner);
        if (_cache.Count > 4096) _cache.Clear();
        return owner;
    }

    /// <summary>For <see cref="Conntrack.ConntrackEventListener.ResolveInitiator"/>.</summary>
    public (int ProcessId, string ProcessName)? ResolveForEvent(uint portId) =>
        Resolve(portId) is { } o ? ((int)o.ProcessId, o.ProcessName) : null;

    internal ulong? FindInode(uint portId)
    {
        ulong? inode = null;
        // The same port id can exist once per netlink protocol (a process's first socket of each gets its pid).
        _conn.Dump(SockDiag.NetlinkDumpRequest(Protocol), "netlink socket dump", (in NetlinkMessage m) =>
        {
            if (m.Type != SockDiag.SOCK_DIAG_BY_FAMILY) return;
            var d = NetlinkDiagMessage.Decode(m.Payload);
            if (d.Protocol == Protocol && d.PortId == portId && inode is null) inode = d.Inode;
        });
        return inode;
    }

    public void Dispose() => _conn.Dispose();
}
