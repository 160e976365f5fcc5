using System;
using System.Net;

namespace ConntrackTools;

/// <summary>
/// An address added to or removed from an interface (RTM_NEWADDR / RTM_DELADDR), and, when Watch-AddressChange
/// runs with -IncludeConntrackImpact, the conntrack entries destroyed in the window after a removal.
/// </summary>
public sealed class AddressChangeEvent
{
    public AddressChange Change { get; init; }

    /// <summary>When the listener read the message from its socket (local time).</summary>
    public DateTime TimeReceived { get; init; }

    /// <summary>
    /// The interface, resolved in the watched namespace. Null only when the interface vanished before its name
    /// could be learnt (and, for IPv4, the message carried no label).
    /// </summary>
    public string? InterfaceName { get; init; }

    public int InterfaceIndex { get; init; }

    /// <summary>The interface's own address (IFA_LOCAL, or IFA_ADDRESS where there is no local one).</summary>
    public IPAddress Address { get; init; } = IPAddress.None;

    public int PrefixLength { get; init; }

    public IPFamily AddressFamily { get; init; }

    public AddressScope Scope { get; init; }

    public AddressFlags Flags { get; init; }

    /// <summary>IPv4: the address label (the interface name, or an alias such as eth0:vip). IPv6 has no labels: the interface name.</summary>
    public string? Label { get; init; }

    /// <summary>The -NetworkNamespace watched; null for the caller's own namespace.</summary>
    public string? NetworkNamespace { get; init; }

    /// <summary>The inode of the namespace watched (as Get-NetworkNamespace's Id); null for the caller's own.</summary>
    public ulong? NetworkNamespaceId { get; init; }

    /// <summary>True for addresses listed by -IncludeExisting (present when the watch started), false for changes seen live.</summary>
    public bool Existing { get; init; }

    /// <summary>With -IncludeConntrackImpact, on removals: conntrack entries destroyed within the window. Null otherwise.</summary>
    public int? DestroyedEntries { get; internal set; }

    /// <summary>
    /// With -IncludeConntrackImpact, on removals: destroyed entries whose translated (NAT) address is not the removed
    /// address. Non-zero right after a removal is what an unfixed kernel's masquerade flush looks like. Null otherwise.
    /// </summary>
    public int? DestroyedUnrelated { get; internal set; }

    /// <summary>With -IncludeConntrackImpact, on removals: some of the destroyed entries, unrelated ones first. Null otherwise.</summary>
    public ConntrackEntry[]? DestroyedSample { get; internal set; }

    /// <summary><c>Removed 192.168.11.100/32 dev br-mgmt</c>.</summary>
    public override string ToString() => $"{Change} {Address}/{PrefixLength} dev {InterfaceName ?? "if" + InterfaceIndex}";
}
