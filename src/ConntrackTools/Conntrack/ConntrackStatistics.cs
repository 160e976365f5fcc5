namespace ConntrackTools;

/// <summary>Table size and the kernel's per-CPU conntrack counters (conntrack -S / -C).</summary>
public sealed class ConntrackStatistics
{
    /// <summary>Entries in the table now (CTA_STATS_GLOBAL_ENTRIES).</summary>
    public uint Count { get; internal set; }

    /// <summary>The table size limit, net.netfilter.nf_conntrack_max (CTA_STATS_GLOBAL_MAX_ENTRIES).</summary>
    public uint Max { get; internal set; }

    /// <summary>CPU number with -PerCpu; null for the sum over all CPUs.</summary>
    public int? Cpu { get; internal set; }

    public ulong? Found { get; internal set; }
    public ulong? Invalid { get; internal set; }
    public ulong? Insert { get; internal set; }
    public ulong? InsertFailed { get; internal set; }
    public ulong? Drop { get; internal set; }
    public ulong? EarlyDrop { get; internal set; }
    public ulong? Error { get; internal set; }
    public ulong? SearchRestart { get; internal set; }
    public ulong? ClashResolve { get; internal set; }
    public ulong? ChainTooLong { get; internal set; }

    /// <summary>Count / Max.</summary>
    public double FillRatio => Max == 0 ? 0 : (double)Count / Max;

    public string? NetworkNamespace { get; internal set; }

    /// <summary>The inode of the namespace read (as Get-NetworkNamespace's Id); null for the caller's own.</summary>
    public ulong? NetworkNamespaceId { get; internal set; }
}
