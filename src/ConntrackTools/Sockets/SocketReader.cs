// Part Sockets: TCP and UDP sockets over NETLINK_SOCK_DIAG (inet_diag), their owning processes from /proc/*/fd,
// and netlink sockets (netlink_diag) for attributing conntrack events to the process that asked for them.
// Arrows: Sockets -> Netlink, Namespaces, Inet. Sockets -> Conntrack only in ConntrackJoin.cs (the join of a socket
// with its conntrack entry) and for AddressMatch until prefix matching moves to Inet.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Threading;
using ConntrackTools.Namespaces;
using ConntrackTools.Netlink;

namespace ConntrackTools.Sockets;

/// <summary>How a socket dump went, for -Verbose.</summary>
public sealed class SocketDumpResult
{
    public string KernelFilter { get; set; } = "none";
    public string UserFilter { get; set; } = "none";
    public long Received { get; set; }
    public long Emitted { get; set; }
    public string? FallbackReason { get; set; }
    public int OwnersResolved { get; set; }
    public int ConntrackMatched { get; set; }
    public long ConntrackEntriesRead { get; set; }

    /// <summary>The conntrack table could not be read (no CAP_NET_ADMIN): the sockets come without their NAT view.</summary>
    public bool ConntrackDenied { get; set; }
}

/// <summary>
/// Reads sockets over NETLINK_SOCK_DIAG in the caller's or a given network namespace: one dump per address family,
/// states and conditions filtered by the kernel, every socket re-checked here. Raises engine exceptions only.
/// </summary>
public sealed class SocketReader
{
    private readonly Func<INetlinkTransport> _open;

    public SocketReader(NetworkNamespace? ns)
    {
        Namespace = ns;
        _open = () => NetworkNamespace.Run<INetlinkTransport>(ns, OpenSocket);
    }

    /// <summary>For tests: a reader over scripted transports.</summary>
    public SocketReader(Func<INetlinkTransport> open, string? namespaceSpec = null)
    {
        _open = open;
        _spec = namespaceSpec;
    }

    private readonly string? _spec;

    public NetworkNamespace? Namespace { get; }
    private string? Spec => Namespace?.Spec ?? _spec;

    /// <summary>Opens a NETLINK_SOCK_DIAG socket in the current thread's namespace.</summary>
    public static NetlinkSocket OpenSocket() => NetlinkSocket.Open(NetlinkProtocol.SockDiag);

    /// <summary>The TCP sockets that match <paramref name="query"/>, with owners and conntrack entries as the query asks.</summary>
    public List<NetTCPConnection> Tcp(SocketQuery query, bool kernelFiltering, SocketDumpResult result, CancellationToken cancel = default)
    {
        uint states = TcpStates.Mask(query.State);
        var list = new List<NetTCPConnection>();
        string? ns = Spec;
        Dump(SockDiag.IPPROTO_TCP, states, query, kernelFiltering, result, m => list.Add(new NetTCPConnection
        {
            LocalAddress = m.Source.ToString(),
            LocalPort = m.SourcePort,
            RemoteAddress = m.Destination.ToString(),
            RemotePort = m.DestinationPort,
            State = TcpStates.FromKernel(m.State),
            AddressFamily = m.Family == SockDiag.AF_INET ? IPFamily.IPv4 : IPFamily.IPv6,
            NetworkNamespace = ns,
            Inode = m.Inode,
            UserId = m.UserId,
            ReceiveQueue = m.ReceiveQueue,
            SendQueue = m.SendQueue,
            Mark = m.Mark,
            Cookie = m.Cookie,
        }), cancel);
        if (query.State is { Count: > 0 })
        {
            // The kernel honours the state mask; check anyway (a scripted transport or an old kernel may not).
            list.RemoveAll(c => !query.State.Contains(c.State));
        }
        if (query.ResolveOwners)
        {
            var owners = ProcessSockets.Find(list.Where(c => c.Inode != 0).Select(c => c.Inode).ToHashSet(), query.OwningProcess);
            foreach (var c in list)
                if (c.Inode != 0 && owners.TryGetValue(c.Inode, out var o)) { c.OwningProcess = o.ProcessId; c.OwningProcessName = o.ProcessName; }
            result.OwnersResolved = owners.Count;
            list.RemoveAll(c => !query.MatchesOwner(c.OwningProcess));
        }
        result.Emitted = list.Count;
        cancel.ThrowIfCancellationRequested();
        if (query.IncludeConntrack && list.Count > 0) ConntrackJoin.Attach(Namespace, list, result, cancel);
        return list;
    }

    /// <summary>The UDP sockets that match <paramref name="query"/>.</summary>
    public List<NetUDPEndpoint> Udp(SocketQuery query, bool kernelFiltering, SocketDumpResult result, CancellationToken cancel = default)
    {
        var list = new List<NetUDPEndpoint>();
        string? ns = Spec;
        Dump(SockDiag.IPPROTO_UDP, TcpStates.AllStates, query, kernelFiltering, result, m => list.Add(new NetUDPEndpoint
        {
            LocalAddress = m.Source.ToString(),
            LocalPort = m.SourcePort,
            RemoteAddress = m.Destination.ToString(),
            RemotePort = m.DestinationPort,
            Connected = m.State == TcpStates.TCP_ESTABLISHED,
            AddressFamily = m.Family == SockDiag.AF_INET ? IPFamily.IPv4 : IPFamily.IPv6,
            NetworkNamespace = ns,
            Inode = m.Inode,
            UserId = m.UserId,
            ReceiveQueue = m.ReceiveQueue,
            SendQueue = m.SendQueue,
            Mark = m.Mark,
        }), cancel);
        if (query.ResolveOwners)
        {
            var owners = ProcessSockets.Find(list.Where(c => c.Inode != 0).Select(c => c.Inode).ToHashSet(), query.OwningProcess);
            foreach (var c in list)
                if (owners.TryGetValue(c.Inode, out var o)) { c.OwningProcess = o.ProcessId; c.OwningProcessName = o.ProcessName; }
            result.OwnersResolved = owners.Count;
            list.RemoveAll(c => !query.MatchesOwner(c.OwningProcess));
        }
        result.Emitted = list.Count;
        cancel.ThrowIfCancellationRequested();
        if (query.IncludeConntrack && list.Count > 0) ConntrackJoin.Attach(Namespace, list, result, cancel);
        return list;
    }

    /// <summary>The kernel and user-space parts of a query, in words (for -Verbose before the dump).</summary>
    public static (string Kernel, string User) Plan(SocketQuery query, byte protocol, bool kernelFiltering)
    {
        var families = query.Families().Select(f => f == SockDiag.AF_INET ? "IPv4" : "IPv6").ToList();
        string fam = families.Count == 0 ? "no family can match" : string.Join(" and ", families) + " dumps";
        if (!kernelFiltering) return ($"{fam} only", Describe(query, protocol, includeOwner: true, kernel: false));
        var kernel = new List<string> { fam };
        if (protocol == SockDiag.IPPROTO_TCP && query.State is { Count: > 0 }) kernel.Add("states " + string.Join(",", query.State));
        var bc = query.Bytecode(SockDiag.AF_INET6) ?? query.Bytecode(SockDiag.AF_INET);
        if (bc is not null) kernel.Add("inet_diag bytecode: " + bc.Text);
        string user = query.OwningProcess is { Count: > 0 } ? "owning process " + string.Join(",", query.OwningProcess) + " (from /proc/*/fd)" : "none";
        return (string.Join("; ", kernel), user + " (every socket is checked again in user space)");
    }

    private static string Describe(SocketQuery q, byte protocol, bool includeOwner, bool kernel)
    {
        var parts = new List<string>();
        if (protocol == SockDiag.IPPROTO_TCP && q.State is { Count: > 0 }) parts.Add("states " + string.Join(",", q.State));
        if (q.LocalAddress is { Count: > 0 }) parts.Add("local address " + string.Join(",", q.LocalAddress));
        if (q.RemoteAddress is { Count: > 0 }) parts.Add("remote address " + string.Join(",", q.RemoteAddress));
        if (q.LocalPort is { Count: > 0 }) parts.Add("local port " + string.Join(",", q.LocalPort));
        if (q.RemotePort is { Count: > 0 }) parts.Add("remote port " + string.Join(",", q.RemotePort));
        if (includeOwner && q.OwningProcess is { Count: > 0 }) parts.Add("owning process " + string.Join(",", q.OwningProcess));
        return parts.Count == 0 ? "none" : string.Join("; ", parts);
    }

    private void Dump(byte protocol, uint states, SocketQuery query, bool kernelFiltering, SocketDumpResult result,
        Action<InetDiagMessage> sink, CancellationToken cancel)
    {
        var plan = Plan(query, protocol, kernelFiltering);
        result.KernelFilter = plan.Kernel;
        result.UserFilter = plan.User;
        using var conn = new NetlinkConnection(_open());
        foreach (byte family in query.Families())
        {
            var bc = kernelFiltering ? query.Bytecode(family) : null;
            uint mask = kernelFiltering ? states : TcpStates.AllStates;
            long before = result.Received;
            try
            {
                DumpFamily(conn, family, protocol, mask, bc, query, result, sink, cancel);
            }
            catch (NetlinkException e) when (bc is not null && result.Received == before && e.Errno is Errno.EINVAL or Errno.EOPNOTSUPP)
            {
                // A kernel that does not know an op of the program: filter this family in user space instead.
                result.FallbackReason = $"the kernel refused the inet_diag bytecode ({e.ErrnoName}); filtering ports and addresses in user space";
                DumpFamily(conn, family, protocol, mask, null, query, result, sink, cancel);
            }
        }
    }

    private static void DumpFamily(NetlinkConnection conn, byte family, byte protocol, uint mask, InetDiagBytecode? bc, SocketQuery query,
        SocketDumpResult result, Action<InetDiagMessage> sink, CancellationToken cancel)
    {
        var request = SockDiag.InetDumpRequest(family, protocol, mask, bc is null ? default : bc.Code);
        conn.Dump(request, protocol == SockDiag.IPPROTO_TCP ? "tcp socket dump" : "udp socket dump", (in NetlinkMessage m) =>
        {
            if (m.Type != SockDiag.SOCK_DIAG_BY_FAMILY) return;
            result.Received++;
            var d = InetDiagMessage.Decode(m.Payload);
            if (!query.Matches(d.Family, d.SourcePort, d.Source, d.DestinationPort, d.Destination)) return;
            sink(d);
        }, cancel);
    }
}
