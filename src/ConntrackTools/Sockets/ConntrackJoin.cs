using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Threading;
using ConntrackTools.Inet;
using ConntrackTools.Conntrack;
using ConntrackTools.Namespaces;

namespace ConntrackTools.Sockets;

/// <summary>
/// The join of sockets with their conntrack entries (the one place Sockets uses Conntrack): one protocol-filtered
/// dump per family in the sockets' namespace, indexed by the original tuple (connections this side opened: the
/// socket sees the tuple before SNAT) and by the reply tuple (connections the peer opened: the socket sees the tuple
/// after DNAT).
/// </summary>
public static class ConntrackJoin
{
    /// <summary>A tuple as the index holds it: the addresses as <see cref="AddressBits"/>, so indexing a dump makes no address object.</summary>
    private readonly record struct Key(UInt128 Source, UInt128 Destination, int SourcePort, int DestinationPort, bool V6);

    /// <summary>Fills ConntrackEntry and the translated endpoints of each TCP socket that has an entry.</summary>
    public static void Attach(NetworkNamespace? ns, List<NetTCPConnection> sockets, SocketDumpResult result, CancellationToken cancel) =>
        Attach(ns, Protocols.Tcp, sockets.Where(s => s.State is not TcpState.Listen and not TcpState.Closed and not TcpState.Bound), result, cancel);

    /// <summary>Fills ConntrackEntry and the translated endpoints of each connected UDP socket that has an entry.</summary>
    public static void Attach(NetworkNamespace? ns, List<NetUDPEndpoint> sockets, SocketDumpResult result, CancellationToken cancel) =>
        Attach(ns, Protocols.Udp, sockets.Where(s => s.Connected), result, cancel);

    private static void Attach<T>(NetworkNamespace? ns, byte protocol, IEnumerable<T> candidates, SocketDumpResult result, CancellationToken cancel)
        where T : IConntrackJoinable
    {
        var wanted = candidates.ToList();
        if (wanted.Count == 0) return;
        var (orig, reply) = Index(ns, protocol, wanted.Select(s => s.AddressFamily), result, cancel);
        foreach (var s in wanted)
        {
            var m = Find(orig, reply, s.LocalAddress, s.LocalPort, s.RemoteAddress, s.RemotePort);
            if (m is null) continue;
            var (la, lp, ra, rp) = Translated(m.Value);
            s.Join(m.Value.Entry, la, lp, ra, rp);
            result.ConntrackMatched++;
        }
    }

    private readonly record struct Match(ConntrackEntry Entry, bool Outgoing);

    private static (string?, int?, string?, int?) Translated(Match m)
    {
        var e = m.Entry;
        // This side opened the connection: the peer sees the reply's destination; the real peer is the reply's source.
        // The peer opened it: the peer addressed the original destination, and really is the original source.
        return m.Outgoing
            ? (e.Reply.DestinationAddress, e.Reply.DestinationPort, e.Reply.SourceAddress, e.Reply.SourcePort)
            : (e.Original.DestinationAddress, e.Original.DestinationPort, e.Original.SourceAddress, e.Original.SourcePort);
    }

    private static Match? Find(Dictionary<Key, ConntrackEntry> orig, Dictionary<Key, ConntrackEntry> reply, string local, int localPort, string remote, int remotePort)
    {
        var l = AddressBits.Of(Normalize(IPAddress.Parse(local)), out bool v6);
        var r = AddressBits.Of(Normalize(IPAddress.Parse(remote)), out _);
        var k = new Key(l, r, localPort, remotePort, v6);
        if (orig.TryGetValue(k, out var e)) return new Match(e, Outgoing: true);
        if (reply.TryGetValue(k, out e)) return new Match(e, Outgoing: false);
        return null;
    }

    /// <summary>IPv4-mapped IPv6 sockets (a dual-stack socket talking IPv4) are tracked as IPv4 flows.</summary>
    private static IPAddress Normalize(IPAddress a) => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;

    private static (Dictionary<Key, ConntrackEntry>, Dictionary<Key, ConntrackEntry>) Index(NetworkNamespace? ns, byte protocol,
        IEnumerable<IPFamily> socketFamilies, SocketDumpResult result, CancellationToken cancel)
    {
        var orig = new Dictionary<Key, ConntrackEntry>();
        var reply = new Dictionary<Key, ConntrackEntry>();
        var fams = socketFamilies.Distinct().ToList();
        // A dual-stack socket can carry an IPv4 flow: dump IPv4 whenever IPv6 sockets are present too.
        IPFamily family = fams.Count == 1 && fams[0] == IPFamily.IPv4 ? IPFamily.IPv4 : IPFamily.All;
        var client = new ConntrackClient(ns);
        var filter = new ConntrackFilter { Protocol = protocol, Family = family };
        DumpResult dump;
        try
        {
            dump = client.Dump(filter, kernelFiltering: true, batch => AddAll(batch), cancel);
        }
        catch (Netlink.NetlinkException e) when (e.Errno is Netlink.Errno.EPERM or Netlink.Errno.EACCES)
        {
            // Listing sockets needs no privilege, reading conntrack does: the sockets are still worth having.
            result.ConntrackDenied = true;
            return (orig, reply);
        }
        result.ConntrackEntriesRead += dump.Emitted;
        return (orig, reply);

        void AddAll(ConntrackEntry[] batch)
        {
            foreach (var e in batch)
            {
                var o = e.Original;
                var r = e.Reply;
                if (o.SourcePort is not int osp || o.DestinationPort is not int odp || r.SourcePort is not int rsp || r.DestinationPort is not int rdp) continue;
                // Zones can repeat a tuple; the first entry wins (zone 0 in practice).
                orig.TryAdd(new Key(o.SourceBits, o.DestinationBits, osp, odp, o.SourceIsV6), e);
                reply.TryAdd(new Key(r.SourceBits, r.DestinationBits, rsp, rdp, r.SourceIsV6), e);
            }
        }
    }
}

/// <summary>What the join reads of a socket, and how it fills in the entry found (NetTCPConnection, NetUDPEndpoint).</summary>
internal interface IConntrackJoinable
{
    string LocalAddress { get; }
    int LocalPort { get; }
    string RemoteAddress { get; }
    int RemotePort { get; }
    IPFamily AddressFamily { get; }

    /// <summary>Sets the conntrack entry and the translated endpoints the socket's peer sees.</summary>
    void Join(ConntrackEntry entry, string? localAddress, int? localPort, string? remoteAddress, int? remotePort);
}
