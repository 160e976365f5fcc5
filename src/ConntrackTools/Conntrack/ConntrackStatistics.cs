namespace ConntrackTools;

/// <summary>Table size and the kernel's per-CPU conntrack counters (conntrack -S / -C).</summary>
public sealed class ConntrackStatistics
{
    /// <summary>Entries in the table now (CTA_STATS_GLOBAL_ENTRIES).</summary>
    public uint Count { get; set; }

    /// <summary>The table size limit, net.netfilter.nf_conntrack_max (CTA_STATS_GLOBAL_MAX_ENTRIES).</summary>
    public uint Max { get; set; }

    /// <summary>CPU number with -PerCpu; null for the sum over all CPUs.</summary>
    public int? Cpu { get; set; }

    public ulong? Found { get; set; }
    public ulong? Invalid { get; set; }
    public ulong? Insert { get; set; }
    public ulong? InsertFailed { get; set; }
    public ulong? Drop { get; set; }
    public ulong? EarlyDrop { get; set; }
    public ulong? Error { get; set; }
    public ulong? SearchRestart { get; set; }
    public ulong? ClashResolve { get; set; }
    public ulong? ChainTooLong { get; set; }

    /// <summary>Count / Max.</summary>
    public double FillRatio => Max == 0 ? 0 : (double)Count / Max;

    public string? NetworkNamespace { get; set; }

    /// <summary>The inode of the namespace read (as Get-NetworkNamespace's Id); null for the caller's own.</summary>
    public ulong? NetworkNamespaceId { get; set; }
}
