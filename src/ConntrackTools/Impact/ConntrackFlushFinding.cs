using System;

namespace ConntrackTools;

/// <summary>What the entries of one flush had in common; a property is null when they differed in it.</summary>
public sealed class ConntrackFlushCommon
{
    public string? Protocol { get; internal init; }
    public NatType? NatType { get; internal init; }
    /// <summary>The source the peers saw (Reply.DestinationAddress): the masquerade address of a masquerade flush.</summary>
    public string? TranslatedSourceAddress { get; internal init; }
    public string? TranslatedDestinationAddress { get; internal init; }
    public ushort? Zone { get; internal init; }
    /// <summary>The interface of the coinciding address change (the masquerade's device, as the kernel flushes per device); null without one.</summary>
    public string? InterfaceName { get; internal init; }
    public string? NetworkNamespace { get; internal init; }

    public override string ToString()
    {
        var parts = new System.Collections.Generic.List<string>();
        if (Protocol is not null) parts.Add(Protocol);
        if (NatType is { } n) parts.Add(n switch { ConntrackTools.NatType.Source => "SNAT", ConntrackTools.NatType.Destination => "DNAT", ConntrackTools.NatType.Both => "SNAT+DNAT", _ => "no NAT" });
        if (TranslatedSourceAddress is not null && NatType is ConntrackTools.NatType.Source or ConntrackTools.NatType.Both) parts.Add("as " + TranslatedSourceAddress);
        if (TranslatedDestinationAddress is not null && NatType is ConntrackTools.NatType.Destination or ConntrackTools.NatType.Both) parts.Add("to " + TranslatedDestinationAddress);
        if (InterfaceName is not null) parts.Add("via " + InterfaceName);
        if (Zone is { } z) parts.Add("zone " + z);
        return parts.Count == 0 ? "nothing in common" : string.Join(", ", parts);
    }
}

/// <summary>One burst of Destroy events: when, how many, who asked for it, what the entries shared, and the address change that coincided.</summary>
public sealed class ConntrackFlushFinding
{
    /// <summary>When the first Destroy event of the burst was read.</summary>
    public DateTime Time { get; internal init; }

    /// <summary>Destroy events in the burst (entries removed).</summary>
    public int Entries { get; internal init; }

    /// <summary>From the first to the last Destroy event of the burst.</summary>
    public TimeSpan Window { get; internal init; }

    public ConntrackInitiator Initiator { get; internal init; }
    public int? InitiatorProcessId { get; internal init; }
    public string? InitiatorProcessName { get; internal init; }

    /// <summary>The netlink port id of the requester (0: the kernel).</summary>
    public uint InitiatorPortId { get; internal init; }

    public ConntrackFlushCommon Common { get; internal init; } = new();

    /// <summary>The removal (or addition) of an address within -Window before the burst began or during it; null when none was given or none coincided.</summary>
    public AddressChangeEvent? AddressChange { get; internal init; }

    /// <summary>A few of the destroyed entries, as the events described them.</summary>
    public ConntrackEntry[] Sample { get; internal init; } = Array.Empty<ConntrackEntry>();

    /// <summary>Destroy events of the same requester and time that were not counted because the entries had reached their timeout.</summary>
    public int ExpiredIgnored { get; internal init; }

    /// <summary><see cref="Common"/> in words (for tables and CSV).</summary>
    public string CommonText => Common.ToString();

    /// <summary><see cref="AddressChange"/> in words, or null.</summary>
    public string? AddressChangeText => AddressChange is { } a
        ? $"{a.Change} {a.Address}/{a.PrefixLength} on {a.InterfaceName} at {a.TimeReceived:HH:mm:ss.fff}"
        : null;

    public override string ToString()
    {
        string who = Initiator switch
        {
            ConntrackInitiator.Kernel => "the kernel",
            ConntrackInitiator.Process => $"{InitiatorProcessName} (pid {InitiatorProcessId})",
            _ => $"netlink port {InitiatorPortId} (gone)",
        };
        return $"{Time:HH:mm:ss.fff} {Entries} entries destroyed in {Window.TotalMilliseconds:0} ms by {who}: {Common}" +
               (AddressChangeText is { } t ? $"; {t}" : "");
    }
}
