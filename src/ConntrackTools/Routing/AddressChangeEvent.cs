using System;
using System.Net;
using ConntrackTools.Inet;

namespace ConntrackTools;

/// <summary>
/// An address added to or removed from an interface (RTM_NEWADDR / RTM_DELADDR). With -IncludeConntrackImpact,
/// Watch-AddressChange writes the subtype <c>AddressImpactEvent</c> (Impact/), which adds the conntrack entries
/// destroyed in the window after a removal: this type itself knows nothing of conntrack.
/// </summary>
public class AddressChangeEvent
{
    public AddressChangeEvent() { }

    /// <summary>A copy, for subtypes that add what they learnt about the change.</summary>
    protected AddressChangeEvent(AddressChangeEvent other)
    {
        ArgumentNullException.ThrowIfNull(other);
        Change = other.Change;
        TimeReceived = other.TimeReceived;
        InterfaceName = other.InterfaceName;
        InterfaceIndex = other.InterfaceIndex;
        IP = other.IP;
        PrefixLength = other.PrefixLength;
        AddressFamily = other.AddressFamily;
        Scope = other.Scope;
        Flags = other.Flags;
        Label = other.Label;
        NetworkNamespace = other.NetworkNamespace;
        NetworkNamespaceId = other.NetworkNamespaceId;
        Existing = other.Existing;
    }

    public AddressChange Change { get; internal init; }

    /// <summary>When the listener read the message from its socket (local time).</summary>
    public DateTime TimeReceived { get; internal init; }

    /// <summary>
    /// The interface, resolved in the watched namespace. Null only when the interface vanished before its name
    /// could be learnt (and, for IPv4, the message carried no label).
    /// </summary>
    public string? InterfaceName { get; internal init; }

    public int InterfaceIndex { get; internal init; }

    /// <summary>The interface's own address (IFA_LOCAL, or IFA_ADDRESS where there is no local one).</summary>
    public string Address => _address ??= Addresses.Canonical(IP);
    private string? _address;

    /// <summary>The address as the engine compares it.</summary>
    internal IPAddress IP { get; init; } = IPAddress.None;

    public int PrefixLength { get; internal init; }

    public IPFamily AddressFamily { get; internal init; }

    public AddressScope Scope { get; internal init; }

    public AddressFlags Flags { get; internal init; }

    /// <summary>IPv4: the address label (the interface name, or an alias such as eth0:vip). IPv6 has no labels: the interface name.</summary>
    public string? Label { get; internal init; }

    /// <summary>The -NetworkNamespace watched; null for the caller's own namespace.</summary>
    public string? NetworkNamespace { get; internal init; }

    /// <summary>The inode of the namespace watched (as Get-NetworkNamespace's Id); null for the caller's own.</summary>
    public ulong? NetworkNamespaceId { get; internal init; }

    /// <summary>True for addresses listed by -IncludeExisting (present when the watch started), false for changes seen live.</summary>
    public bool Existing { get; internal init; }

    /// <summary><c>Removed 192.168.11.100/32 dev br-mgmt</c>.</summary>
    public override string ToString() => $"{Change} {Address}/{PrefixLength} dev {InterfaceName ?? "if" + InterfaceIndex}";
}
