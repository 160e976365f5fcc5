using System;
using System.Collections.Generic;
using ConntrackTools.Conntrack;

namespace ConntrackTools;

/// <summary>What an evidence bundle holds and what the detectors found in it (summary.json, and the README's text).</summary>
public sealed class ConntrackEvidenceSummary
{
    /// <summary>The bundle file.</summary>
    public string Path { get; internal init; } = "";

    public DateTime Created { get; internal init; }

    public string Hostname { get; internal init; } = "";

    public string KernelVersion { get; internal init; } = "";

    /// <summary>How long events and packets were recorded; null for a snapshot only.</summary>
    public TimeSpan? Duration { get; internal init; }

    /// <summary>The namespaces in the bundle, as given (null entries are written as "current").</summary>
    public string[] NetworkNamespaces { get; internal init; } = [];

    /// <summary>Interface of the capture, or null.</summary>
    public string? CaptureInterface { get; internal init; }

    /// <summary>Conntrack entries in the tables when the bundle was started (all namespaces).</summary>
    public int Entries { get; internal init; }

    /// <summary>Conntrack entries at the end of the recording (null without a recording).</summary>
    public int? EntriesAfter { get; internal init; }

    /// <summary>Conntrack events recorded (New, Update, Destroy), all namespaces.</summary>
    public long ConntrackEvents { get; internal init; }

    /// <summary>Destroy events among them.</summary>
    public long DestroyEvents { get; internal init; }

    /// <summary>Events the kernel dropped before we could read them.</summary>
    public long EventsLost { get; internal init; }

    /// <summary>Address removals followed by destroyed conntrack entries (the incident's flush).</summary>
    public int Flushes { get; internal init; }

    /// <summary>Flows that continued on a new source port (Find-SnatRemap's detector over the capture).</summary>
    public int Remaps { get; internal init; }

    /// <summary>Captured IP packets.</summary>
    public long Packets { get; internal init; }

    /// <summary>Names of the health checks that failed, as namespace:check.</summary>
    public string[] FailedChecks { get; internal init; } = [];

    /// <summary>One sentence per finding, most important first.</summary>
    public string[] Findings { get; internal init; } = [];

    /// <summary>What could not be gathered, and why.</summary>
    public string[] Notes { get; internal init; } = [];

    /// <summary>Files in the bundle.</summary>
    public string[] Files { get; internal init; } = [];

    public override string ToString() => $"{Path}: {Findings.Length} findings";
}

/// <summary>Kernel identity and the sysctls of one namespace, as recorded in a bundle.</summary>
public sealed class KernelEvidence
{
    public string KernelVersion { get; internal init; } = "";

    /// <summary>/proc/version.</summary>
    public string Version { get; internal init; } = "";

    public string Hostname { get; internal init; } = "";

    /// <summary>net.netfilter.* and a few net.ipv4 values of the namespace, by dotted name.</summary>
    public IReadOnlyDictionary<string, string> Sysctls { get; internal init; } = new Dictionary<string, string>();
}

/// <summary>Everything an evidence bundle holds for one network namespace, typed again by Import-ConntrackEvidence.</summary>
public sealed class ConntrackEvidence
{
    /// <summary>The namespace as given to Export-ConntrackEvidence; null for the exporter's own.</summary>
    public string? NetworkNamespace { get; internal init; }

    public ConntrackEvidenceSummary Summary { get; internal init; } = new();

    public KernelEvidence Kernel { get; internal init; } = new();

    /// <summary>Get-ConntrackStatistics -PerCpu at the start.</summary>
    public ConntrackStatistics[] Statistics { get; internal init; } = [];

    /// <summary>The table at the start.</summary>
    public ConntrackEntry[] Entries { get; internal init; } = [];

    /// <summary>The table at the end of the recording (empty without one).</summary>
    public ConntrackEntry[] EntriesAfter { get; internal init; } = [];

    /// <summary>Interface addresses at the start.</summary>
    public AddressChangeEvent[] Addresses { get; internal init; } = [];

    public RouteEntry[] Routes { get; internal init; } = [];

    public MasqueradeRule[] MasqueradeRules { get; internal init; } = [];

    public HealthCheckResult[] Health { get; internal init; } = [];

    public ConntrackEvent[] ConntrackEvents { get; internal init; } = [];

    /// <summary>Address changes during the recording; removals are AddressImpactEvents with the conntrack entries destroyed after them.</summary>
    public AddressChangeEvent[] AddressChanges { get; internal init; } = [];

    /// <summary>The capture, read back through the capture reader.</summary>
    public CapturedPacket[] Packets { get; internal init; } = [];

    /// <summary>Find-SnatRemap's detector run again over <see cref="Packets"/>.</summary>
    public SnatRemapFinding[] Remaps { get; internal init; } = [];

    public override string ToString() => $"{NetworkNamespace ?? "current namespace"}: {Entries.Length} entries, {ConntrackEvents.Length} events, {Packets.Length} packets";
}
