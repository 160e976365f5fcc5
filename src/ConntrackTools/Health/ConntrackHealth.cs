using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using ConntrackTools.Conntrack;
using ConntrackTools.Namespaces;
using ConntrackTools.Netlink;

namespace ConntrackTools.Health;

/// <summary>Thresholds of Test-ConntrackHealth.</summary>
public sealed class HealthOptions
{
    /// <summary>Count / Max above this fails.</summary>
    public double MaxFillRatio { get; set; } = 0.8;

    /// <summary>nf_conntrack_max / nf_conntrack_buckets above this fails (average chain length of a full table).</summary>
    public double MaxEntriesPerBucket { get; set; } = 8;
}

/// <summary>
/// The node checks behind Test-ConntrackHealth. Per-namespace values are read from a thread inside the namespace
/// (/proc/sys/net is resolved against the reading thread's network namespace).
/// </summary>
public static class ConntrackHealth
{
    public static List<HealthCheckResult> Run(NetworkNamespace? ns, HealthOptions o, CancellationToken cancel)
    {
        string? spec = ns?.Spec;
        var results = new List<HealthCheckResult>();
        void Add(HealthCheckResult r) => results.Add(new HealthCheckResult(r.Name, r.Passed, r.Value, r.Threshold, r.Message) { NetworkNamespace = spec, NetworkNamespaceId = ns?.Id });

        var client = new ConntrackClient(ns);
        var (count, max, cpus) = client.Statistics();
        var sum = ConntrackClient.Sum(count, max, cpus, spec);
        double fill = max == 0 ? 0 : (double)count / max;
        Add(new HealthCheckResult("TableFill", fill <= o.MaxFillRatio, Math.Round(fill, 4), o.MaxFillRatio,
            fill <= o.MaxFillRatio
                ? $"{count} of {max} entries in use ({fill:P1})."
                : $"{count} of {max} entries in use ({fill:P1}): new connections will be dropped when the table is full. Raise net.netfilter.nf_conntrack_max or find what fills the table (Get-Conntrack | Group-Object Protocol, State)."));

        foreach (var (name, value, meaning) in new[]
        {
            ("InsertFailed", sum.InsertFailed, "entries could not be inserted (often source-port clashes under SNAT: use MASQUERADE --random-fully)"),
            ("Drop", sum.Drop, "packets were dropped because the table was full"),
            ("EarlyDrop", sum.EarlyDrop, "entries were evicted early to make room (table full)"),
        })
        {
            if (value is null)
            {
                Add(new HealthCheckResult(name, true, null, 0UL, $"This kernel does not report the {name} counter."));
                continue;
            }
            bool ok = value == 0;
            Add(new HealthCheckResult(name, ok, value, 0UL, ok
                ? $"No {name} events since the namespace was created."
                : $"{value} {name} events: {meaning}. Get-ConntrackStatistics -PerCpu shows where."));
        }

        var (loose, buckets, maxSysctl) = NetworkNamespace.Run(ns, () => (ConntrackSysctl.Read("nf_conntrack_tcp_loose"), ConntrackSysctl.Read("nf_conntrack_buckets"), ConntrackSysctl.Read("nf_conntrack_max")));
        if (loose is int l)
        {
            Add(new HealthCheckResult("TcpLoose", l == 1, l, 1, l == 1
                ? "net.netfilter.nf_conntrack_tcp_loose is 1: connections whose entry was lost are picked up mid-stream (and, behind MASQUERADE --random-fully, continue on a new source port)."
                : "net.netfilter.nf_conntrack_tcp_loose is 0: segments of a connection whose entry was lost are INVALID and dropped, so every flush or failover kills established connections. Set it to 1 unless you mean this."));
        }
        if (buckets is int b && b > 0)
        {
            long m = (long?)maxSysctl ?? max;
            double perBucket = (double)m / b;
            bool ok = perBucket <= o.MaxEntriesPerBucket;
            Add(new HealthCheckResult("HashBuckets", ok, Math.Round(perBucket, 2), o.MaxEntriesPerBucket, ok
                ? $"nf_conntrack_max {m} over {b} buckets: at most {perBucket:0.##} entries per bucket when full."
                : $"nf_conntrack_max {m} over only {b} buckets: {perBucket:0.##} entries per bucket when full makes every lookup walk long chains. Raise nf_conntrack_buckets (root namespace) toward max/4."));
        }

        using (var conn = NetworkNamespace.Run(ns, () => new NetlinkConnection(NetlinkSocket.Open(NetlinkProtocol.Netfilter))))
        {
            var rules = MasqueradeRules.List(conn);
            var plain = rules.Where(r => !r.RandomFully).ToList();
            string value = $"{rules.Count} masquerade rules, {rules.Count - plain.Count} with random-fully";
            Add(new HealthCheckResult("MasqueradeRandomFully", plain.Count == 0, value, "all", rules.Count == 0
                ? "No masquerade rule in nftables (native or iptables-nft); legacy iptables rules are not visible over nftables netlink."
                : plain.Count == 0
                    ? $"Every masquerade rule uses fully random source ports ({string.Join("; ", rules)}). Note: when an entry is lost, the connection then continues on a new port and the peer resets it — watch for entry loss."
                    : $"{plain.Count} masquerade rules without random-fully ({string.Join("; ", plain)}): concurrent connections can clash on source ports (InsertFailed). flannel and kube-proxy use --random-fully."));
        }
        cancel.ThrowIfCancellationRequested();
        return results;
    }

    /// <summary>The sandbox verdict as a health check.</summary>
    public static HealthCheckResult FromVipMigration(VipMigrationResult r) =>
        new("VipMigration", r.Passed, $"{r.EntriesLost.Length} lost, {r.ConnectionsReset} reset, {r.Remaps.Length} remaps", "0 lost, 0 reset, 0 remaps", r.Verdict);
}
