using System;
using System.Collections.Generic;

namespace ConntrackTools;

/// <summary>Where Test-VipMigration moved the address.</summary>
public enum VipMigrationMode : long
{
    /// <summary>Private namespaces built for the test (safe on a production node).</summary>
    Sandbox,
    /// <summary>A real interface of this node (or of -NetworkNamespace).</summary>
    Interface,
}

/// <summary>One line of the timeline: when, what was done, what was seen.</summary>
public sealed class VipMigrationStep
{
    public VipMigrationStep(DateTime time, string action, string observation)
    {
        Time = time;
        Action = action;
        Observation = observation;
    }

    public DateTime Time { get; }
    public string Action { get; }
    public string Observation { get; }

    public override string ToString() => $"{Time:HH:mm:ss.fff} {Action}: {Observation}";
}

/// <summary>The verdict of Test-VipMigration, with the evidence.</summary>
public sealed class VipMigrationResult
{
    public bool Passed { get; init; }

    /// <summary>One sentence a human can act on.</summary>
    public string Verdict { get; init; } = "";

    public VipMigrationMode Mode { get; init; }
    public string InterfaceName { get; init; } = "";

    /// <summary>The address that was added and deleted, as given (address/prefix).</summary>
    public string Address { get; init; } = "";

    public string KernelVersion { get; init; } = "";

    /// <summary>Connections judged: the sandbox's flows, or the masqueraded entries on the interface.</summary>
    public int Connections { get; init; }

    public int EntriesBefore { get; init; }
    public int EntriesAfter { get; init; }

    /// <summary>Entries present before and gone after that did not use the deleted address.</summary>
    public ConntrackEntry[] EntriesLost { get; init; } = Array.Empty<ConntrackEntry>();

    /// <summary>Connections whose next write was answered with RST.</summary>
    public int ConnectionsReset { get; init; }

    /// <summary>Flows seen on the wire continuing from a new source port (from the capture on the device; sandbox only).</summary>
    public SnatRemapFinding[] Remaps { get; init; } = Array.Empty<SnatRemapFinding>();

    /// <summary>The address changes seen on the device during the test, each removal with the conntrack entries destroyed after it.</summary>
    public AddressImpactEvent[] AddressChanges { get; init; } = Array.Empty<AddressImpactEvent>();

    public TimeSpan Duration { get; init; }

    public IReadOnlyList<VipMigrationStep> Steps { get; init; } = Array.Empty<VipMigrationStep>();

    /// <summary>True when the legacy (unfixed) kernel behaviour was emulated.</summary>
    public bool EmulatedLegacyKernel { get; init; }

    public string? NetworkNamespace { get; init; }
}
