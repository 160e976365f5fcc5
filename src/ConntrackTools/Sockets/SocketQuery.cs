using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using ConntrackTools.Inet;
using ConntrackTools.Conntrack;

namespace ConntrackTools.Sockets;

/// <summary>
/// What Get-NetTCPConnection and Get-NetUDPEndpoint select on. Within one condition the values are alternatives
/// (any of the ports), the conditions together must all hold. The kernel evaluates the states (idiag_states) and
/// ports and addresses (inet_diag bytecode); user space checks every socket again, so the answer is the same
/// either way, and evaluates what the kernel cannot (the owning process).
/// </summary>
public sealed class SocketQuery
{
    public IPFamily Family { get; init; } = IPFamily.All;
    public IReadOnlyList<AddressMatch>? LocalAddress { get; init; }
    public IReadOnlyList<AddressMatch>? RemoteAddress { get; init; }
    public IReadOnlyList<int>? LocalPort { get; init; }
    public IReadOnlyList<int>? RemotePort { get; init; }

    /// <summary>TCP only: any of these states.</summary>
    public IReadOnlyList<TcpState>? State { get; init; }

    /// <summary>Any of these owning processes (implies resolving owners).</summary>
    public IReadOnlyList<uint>? OwningProcess { get; init; }

    /// <summary>Resolve owners (OwningProcess, OwningProcessName) from /proc/*/fd.</summary>
    public bool IncludeProcess { get; init; }

    /// <summary>Attach each socket's conntrack entry and translated endpoints.</summary>
    public bool IncludeConntrack { get; init; } = true;

    internal bool ResolveOwners => IncludeProcess || OwningProcess is { Count: > 0 };

    /// <summary>The families to dump: the requested one, narrowed by the addresses given (an IPv4 prefix also matches IPv4-mapped IPv6 sockets).</summary>
    internal IEnumerable<byte> Families()
    {
        bool v4 = Family is IPFamily.All or IPFamily.IPv4, v6 = Family is IPFamily.All or IPFamily.IPv6;
        foreach (var group in new[] { LocalAddress, RemoteAddress })
        {
            if (group is not { Count: > 0 }) continue;
            if (!group.Any(a => a.Family == IPFamily.IPv4)) v4 = false; // only IPv6 prefixes: no IPv4 socket can match
        }
        if (v4) yield return SockDiag.AF_INET;
        if (v6) yield return SockDiag.AF_INET6;
    }

    /// <summary>The kernel filter program for one family's dump (null: no conditions).</summary>
    internal InetDiagBytecode? Bytecode(byte family)
    {
        var groups = new List<InetDiagBytecode>();
        void AddressGroup(IReadOnlyList<AddressMatch>? list, bool local)
        {
            if (list is not { Count: > 0 }) return;
            var ops = list.Where(a => family == SockDiag.AF_INET6 || a.Family == IPFamily.IPv4)
                .Select(a => InetDiagBytecode.Address(local, a.Network.BaseAddress, a.Network.PrefixLength)).ToList();
            groups.Add(InetDiagBytecode.Or(ops)!);
        }
        AddressGroup(LocalAddress, local: true);
        AddressGroup(RemoteAddress, local: false);
        if (LocalPort is { Count: > 0 }) groups.Add(InetDiagBytecode.Or(LocalPort.Distinct().Select(InetDiagBytecode.LocalPortEquals).ToList())!);
        if (RemotePort is { Count: > 0 }) groups.Add(InetDiagBytecode.Or(RemotePort.Distinct().Select(InetDiagBytecode.RemotePortEquals).ToList())!);
        return InetDiagBytecode.And(groups);
    }

    /// <summary>The complete condition on one socket, in user space (owners checked separately).</summary>
    internal bool Matches(byte family, int localPort, IPAddress local, int remotePort, IPAddress remote)
    {
        if (Family == IPFamily.IPv4 && family != SockDiag.AF_INET) return false;
        if (Family == IPFamily.IPv6 && family != SockDiag.AF_INET6) return false;
        if (LocalPort is { Count: > 0 } && !LocalPort.Contains(localPort)) return false;
        if (RemotePort is { Count: > 0 } && !RemotePort.Contains(remotePort)) return false;
        if (LocalAddress is { Count: > 0 } && !LocalAddress.Any(a => Contains(a, local))) return false;
        if (RemoteAddress is { Count: > 0 } && !RemoteAddress.Any(a => Contains(a, remote))) return false;
        return true;
    }

    private static bool Contains(AddressMatch m, IPAddress a) =>
        m.Contains(a) || (a.IsIPv4MappedToIPv6 && m.Family == IPFamily.IPv4 && m.Contains(a.MapToIPv4()));

    internal bool MatchesOwner(uint? pid) => OwningProcess is not { Count: > 0 } || (pid is uint p && OwningProcess.Contains(p));
}
