// Part Evidence: one archive with everything an incident needs, and the objects read back from it.
// Arrows: Evidence -> Conntrack (table, statistics, events, masquerade rules, later the save format), Routing
// (addresses, routes), Impact (address changes with their conntrack impact), Capture (pcap, SNAT-remap detector,
// capture reader), Health (the checks), Namespaces, Netlink, Inet. Nothing points at Evidence but Commands.
using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text;
using System.Threading;
using ConntrackTools.Capture;
using ConntrackTools.Impact;
using ConntrackTools.Conntrack;
using ConntrackTools.Health;
using ConntrackTools.Namespaces;
using ConntrackTools.Netlink;
using ConntrackTools.Routing;

namespace ConntrackTools.Evidence;

/// <summary>What to gather.</summary>
public sealed class EvidenceRequest
{
    public required string Path { get; init; }

    /// <summary>The namespaces to gather; a null element is the caller's own.</summary>
    public required IReadOnlyList<NetworkNamespace?> Namespaces { get; init; }

    /// <summary>Record events (and packets with <see cref="InterfaceName"/>) for this long; null: snapshot only.</summary>
    public TimeSpan? Duration { get; init; }

    /// <summary>Capture on this interface of the first namespace during the recording.</summary>
    public string? InterfaceName { get; init; }

    /// <summary>BPF filter of the capture (null: everything on the interface).</summary>
    public string? CaptureFilter { get; init; }

    /// <summary>How long after an address removal destroyed entries count against it (as Watch-AddressChange -ImpactWindow).</summary>
    public TimeSpan ImpactWindow { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// A namespace that cannot be read (it vanished, or entering it is refused) is left out with a note instead of
    /// failing the bundle: for bundles over every namespace of a host, where namespaces come and go.
    /// </summary>
    public bool SkipUnreadable { get; init; }

    /// <summary>Conntrack events kept per namespace; further events are counted, not stored.</summary>
    public int MaxEventsKept { get; init; } = 200_000;
}

/// <summary>The bundle is not one this module wrote, or is damaged.</summary>
public sealed class InvalidEvidenceBundleException : ConntrackToolsException
{
    public InvalidEvidenceBundleException(string path, string why, Exception? inner = null)
        : base(ErrorIds.InvalidEvidenceBundle, ErrorKind.InvalidData, $"'{path}' is not a ConntrackTools evidence bundle: {why}", inner, path) => Path = path;

    public string Path { get; }
}

/// <summary>
/// Gathers an evidence bundle: a zip with a README and summary, the kernel version and sysctls, statistics per CPU,
/// the table (JSON and conntrack's save format), addresses, routes, masquerade rules, health results, and with a
/// duration the conntrack events, the address changes with their conntrack impact, and a pcap capture, followed by
/// what the detectors found. Everything is read over netlink and libpcap, in each namespace on its own thread.
/// </summary>
public static class EvidenceExporter
{
    public const string FormatName = "ConntrackTools evidence bundle";
    public const int FormatVersion = 1;

    /// <summary>
    /// Writes the bundle to <see cref="EvidenceRequest.Path"/> (replacing a file there) and returns its summary.
    /// <paramref name="progress"/> is called on the calling thread; "Recording" is said just before the recording
    /// starts. Raises engine exceptions only.
    /// </summary>
    public static ConntrackEvidenceSummary Export(EvidenceRequest request, Action<string>? progress, CancellationToken cancel)
    {
        progress ??= _ => { };
        string work = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "ctt-evidence-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(work);
        try
        {
            var notes = new List<string>();
            var findings = new List<string>();
            var allLabels = Labels(request.Namespaces);
            var kernel = new { KernelVersion = ReadText("/proc/sys/kernel/osrelease"), Version = ReadText("/proc/version"), Hostname = Environment.MachineName };
            EvidenceJson.Write(System.IO.Path.Combine(work, "kernel.json"), kernel);

            var snapshots = new List<Snapshot>();
            var namespaces = new List<NetworkNamespace?>();
            var labelList = new List<string>();
            for (int i = 0; i < request.Namespaces.Count; i++)
            {
                cancel.ThrowIfCancellationRequested();
                var ns = request.Namespaces[i];
                progress($"Reading the state of {Describe(ns)}.");
                string dir = System.IO.Path.Combine(work, allLabels[i]);
                try { snapshots.Add(TakeSnapshot(ns, dir, cancel)); }
                catch (ConntrackToolsException e) when (request.SkipUnreadable)
                {
                    notes.Add($"Left out {Describe(ns)}: {e.Message}");
                    progress($"Left out {Describe(ns)}: {e.Message}");
                    if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
                    continue;
                }
                namespaces.Add(ns);
                labelList.Add(allLabels[i]);
            }
            var labels = labelList.ToArray();

            Recording[]? recordings = null;
            if (request.Duration is TimeSpan duration)
            {
                var started = new List<Recording>();
                try
                {
                    for (int i = 0; i < namespaces.Count; i++)
                        started.Add(Recording.Start(namespaces[i], System.IO.Path.Combine(work, labels[i]),
                            i == 0 ? request.InterfaceName : null, request.CaptureFilter, request.ImpactWindow, request.MaxEventsKept));
                }
                catch
                {
                    foreach (var r in started) r.Dispose();
                    throw;
                }
                recordings = started.ToArray();
                try
                {
                    progress($"Recording conntrack events and address changes in {namespaces.Count} namespace(s)" +
                             (request.InterfaceName is null ? "" : $", and packets on {request.InterfaceName}") + $" for {duration.TotalSeconds:0.###} s.");
                    foreach (var r in recordings) r.Run(duration, cancel);
                    foreach (var r in recordings) r.Wait(cancel);
                }
                finally
                {
                    foreach (var r in recordings) r.Dispose();
                }
                for (int i = 0; i < recordings.Length; i++)
                {
                    var dir = System.IO.Path.Combine(work, labels[i]);
                    recordings[i].Save(dir);
                    snapshots[i].EntriesAfter = DumpTable(namespaces[i], System.IO.Path.Combine(dir, "conntrack-after.json"), cancel);
                }
            }

            var summary = Summarize(request, labels, snapshots, recordings, kernel.KernelVersion, kernel.Hostname, notes, findings, work);
            EvidenceJson.Write(System.IO.Path.Combine(work, "summary.json"), summary);
            File.WriteAllText(System.IO.Path.Combine(work, "README.md"), Readme(summary, labels), new UTF8Encoding(false));

            string target = System.IO.Path.GetFullPath(request.Path);
            try
            {
                if (File.Exists(target)) File.Delete(target);
                ZipFile.CreateFromDirectory(work, target, CompressionLevel.Optimal, includeBaseDirectory: false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ConntrackToolsException(ErrorIds.CannotWriteEvidenceBundle, ErrorKind.WriteError, $"Cannot write '{target}': {e.Message}", e, target);
            }
            progress($"Wrote {target}.");
            return summary;
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>Folder names: "current" for the caller's namespace, else the namespace as given, made file-safe.</summary>
    internal static string[] Labels(IReadOnlyList<NetworkNamespace?> namespaces)
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        var labels = new string[namespaces.Count];
        for (int i = 0; i < namespaces.Count; i++)
        {
            string basis = namespaces[i] is { } ns ? Safe(ns.Spec) : "current";
            string label = basis;
            for (int n = 2; !used.Add(label); n++) label = $"{basis}-{n}";
            labels[i] = label;
        }
        return labels;
    }

    private static string Safe(string spec)
    {
        var sb = new StringBuilder();
        foreach (char c in spec.Trim('/')) sb.Append(char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_');
        return sb.Length == 0 ? "namespace" : sb.ToString();
    }

    private static string Describe(NetworkNamespace? ns) => ns is null ? "the current network namespace" : $"network namespace '{ns.Spec}'";

    private sealed class Snapshot
    {
        public string? Namespace;
        public int Entries;
        public int? EntriesAfter;
        public List<HealthCheckResult> Health = new();
        public List<MasqueradeRule> Rules = new();
        public ConntrackStatistics? Total;
    }

    private static Snapshot TakeSnapshot(NetworkNamespace? ns, string dir, CancellationToken cancel)
    {
        Directory.CreateDirectory(dir);
        var snap = new Snapshot { Namespace = ns?.Spec };
        EvidenceJson.Write(System.IO.Path.Combine(dir, "namespace.json"), new { NetworkNamespace = ns?.Spec, ns?.Path });
        EvidenceJson.Write(System.IO.Path.Combine(dir, "sysctl.json"), NetworkNamespace.Run(ns, ReadSysctls));

        var client = new ConntrackClient(ns);
        var (count, max, cpus) = client.Statistics();
        snap.Total = ConntrackClient.Sum(count, max, cpus, ns?.Spec);
        EvidenceJson.Write(System.IO.Path.Combine(dir, "statistics.json"), new { Total = snap.Total, PerCpu = cpus });

        snap.Entries = DumpTable(ns, System.IO.Path.Combine(dir, "conntrack.json"), cancel);

        using (var monitor = AddressMonitor.Open(ns, IPFamily.All, null, cancel))
            EvidenceJson.Write(System.IO.Path.Combine(dir, "addresses.json"), monitor.DumpAddresses(cancel));
        using (var route = NetworkNamespace.Run(ns, () => new NetlinkConnection(NetlinkSocket.Open(NetlinkProtocol.Route))))
            EvidenceJson.Write(System.IO.Path.Combine(dir, "routes.json"), RouteTable.List(route, ns?.Spec, cancel));
        using (var nft = NetworkNamespace.Run(ns, () => new NetlinkConnection(NetlinkSocket.Open(NetlinkProtocol.Netfilter))))
            snap.Rules = MasqueradeRules.List(nft);
        EvidenceJson.Write(System.IO.Path.Combine(dir, "masquerade-rules.json"), snap.Rules);

        snap.Health = ConntrackHealth.Run(ns, new HealthOptions(), cancel);
        EvidenceJson.Write(System.IO.Path.Combine(dir, "health.json"), snap.Health);
        return snap;
    }

    /// <summary>
    /// Dumps the table straight into <paramref name="path"/> (JSON) and the same path with .save (conntrack's -o save
    /// lines, as Export-Conntrack writes them), batch by batch; returns the number of entries.
    /// </summary>
    private static int DumpTable(NetworkNamespace? ns, string path, CancellationToken cancel)
    {
        var labelNames = ConntrackSaveFormat.ReadLabelNames(ConntrackSaveFormat.LabelConfigPath);
        using var save = new StreamWriter(System.IO.Path.ChangeExtension(path, ".save"), append: false, new UTF8Encoding(false), 1 << 16);
        return EvidenceJson.WriteLines<ConntrackEntry>(path, write =>
            new ConntrackClient(ns).Dump(new ConntrackFilter(), kernelFiltering: true, batch =>
            {
                foreach (var e in batch) write(e);
                ConntrackSaveFormat.Write(save, batch, labelNames);
            }, cancel));
    }

    private static SortedDictionary<string, string> ReadSysctls()
    {
        // Inside the namespace's thread: /proc/sys/net resolves against the reading thread's network namespace.
        var values = new SortedDictionary<string, string>(StringComparer.Ordinal);
        void Read(string file)
        {
            try { values[file["/proc/sys/".Length..].Replace('/', '.')] = File.ReadAllText(file).Trim(); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        if (Directory.Exists("/proc/sys/net/netfilter"))
            foreach (var f in Directory.EnumerateFiles("/proc/sys/net/netfilter")) Read(f);
        foreach (var f in new[] { "/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv4/ip_local_port_range", "/proc/sys/net/ipv6/conf/all/forwarding" }) Read(f);
        return values;
    }

    private static string ReadText(string path)
    {
        try { return File.ReadAllText(path).Trim(); }
        catch (IOException) { return ""; }
    }

    private static ConntrackEvidenceSummary Summarize(EvidenceRequest request, string[] labels, List<Snapshot> snapshots, Recording[]? recordings,
        string kernelVersion, string hostname, List<string> notes, List<string> findings, string work)
    {
        int flushes = 0, remaps = 0;
        long events = 0, destroys = 0, lost = 0, packets = 0;
        if (recordings is not null)
        {
            foreach (var r in recordings)
            {
                events += r.EventCount;
                destroys += r.DestroyCount;
                lost += r.EventsLost;
                packets += r.Packets;
                if (r.EventsDropped > 0)
                    notes.Add($"{Describe(r.Namespace)}: {r.EventsDropped} conntrack events beyond the first {request.MaxEventsKept} were counted but not stored.");
                if (r.EventsLost > 0)
                    findings.Add($"{Describe(r.Namespace)}: the kernel dropped {r.EventsLost} conntrack events (receive buffer full); counts are lower bounds.");
                foreach (var c in r.AddressChanges.Where(c => c.Change == AddressChange.Removed && c.DestroyedEntries > 0))
                {
                    flushes++;
                    findings.Add($"Flush: {c.DestroyedEntries} conntrack entries destroyed within {request.ImpactWindow.TotalSeconds:0.###} s after " +
                                 $"{c.Address}/{c.PrefixLength} was removed from {c.InterfaceName} at {c.TimeReceived:HH:mm:ss.fff} " +
                                 $"({c.DestroyedUnrelated} of them not using that address) in {Describe(r.Namespace)}. " +
                                 "This is the masquerade flush of kernels without the fix \"netfilter: masquerade: don't flush all conntracks if only one address deleted on device\".");
                }
                foreach (var f in r.Remaps)
                {
                    remaps++;
                    findings.Add($"Remap: {f.ClientAddress} -> {f.ServerAddress}:{f.ServerPort} continued from source port {f.NewSourcePort} instead of {f.OldSourcePort} " +
                                 $"at {f.Time:HH:mm:ss.fff} (sequence {f.Sequence})" + (f.ResetSeen ? $", and the server answered RST at {f.ResetTime:HH:mm:ss.fff}." : "; no RST seen."));
                }
                if (r.CaptureFailure is not null) notes.Add($"The capture on {request.InterfaceName} failed: {r.CaptureFailure}");
            }
            notes.Add("Bursts of Destroy events without an address change (Find-ConntrackFlush) are not judged in this version: only flushes that follow an address removal are named.");
        }
        var failed = new List<string>();
        for (int i = 0; i < snapshots.Count; i++)
        {
            foreach (var h in snapshots[i].Health.Where(h => !h.Passed))
            {
                failed.Add($"{labels[i]}:{h.Name}");
                findings.Add($"Health check {h.Name} failed in {labels[i]}: {h.Message}");
            }
        }
        if (findings.Count == 0) findings.Add(recordings is null ? "No failed health check. (Snapshot only: record with a duration to see flushes and remaps.)" : "No flush, no remap and no failed health check.");
        var files = Directory.EnumerateFiles(work, "*", SearchOption.AllDirectories)
            .Select(f => System.IO.Path.GetRelativePath(work, f).Replace('\\', '/')).Append("summary.json").Append("README.md").Distinct().OrderBy(f => f, StringComparer.Ordinal).ToArray();
        return new ConntrackEvidenceSummary
        {
            Path = System.IO.Path.GetFullPath(request.Path),
            Created = DateTime.Now,
            Hostname = hostname,
            KernelVersion = kernelVersion,
            Duration = request.Duration,
            NetworkNamespaces = labels,
            CaptureInterface = request.Duration is null ? null : request.InterfaceName,
            Entries = snapshots.Sum(s => s.Entries),
            EntriesAfter = recordings is null ? null : snapshots.Sum(s => s.EntriesAfter ?? 0),
            ConntrackEvents = events,
            DestroyEvents = destroys,
            EventsLost = lost,
            Flushes = flushes,
            Remaps = remaps,
            Packets = packets,
            FailedChecks = failed.ToArray(),
            Findings = findings.ToArray(),
            Notes = notes.ToArray(),
            Files = files,
        };
    }

    private static string Readme(ConntrackEvidenceSummary s, string[] labels)
    {
        var sb = new StringBuilder();
        sb.Append("# Conntrack evidence from ").Append(s.Hostname).Append('\n').Append('\n');
        sb.Append("Created ").Append(s.Created.ToString("yyyy-MM-dd HH:mm:ss zzz", System.Globalization.CultureInfo.InvariantCulture))
          .Append(" on kernel ").Append(s.KernelVersion).Append(" by ConntrackTools (Export-ConntrackEvidence).").Append('\n').Append('\n');
        sb.Append("## Findings\n\n");
        foreach (var f in s.Findings) sb.Append("- ").Append(f).Append('\n');
        sb.Append("\n## Counts\n\n");
        sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"- Namespaces: {string.Join(", ", labels)}\n");
        sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"- Conntrack entries at the start: {s.Entries}");
        if (s.EntriesAfter is int a) sb.Append(System.Globalization.CultureInfo.InvariantCulture, $", at the end: {a}");
        sb.Append('\n');
        if (s.Duration is TimeSpan d)
        {
            sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"- Recorded for {d.TotalSeconds:0.###} s: {s.ConntrackEvents} conntrack events ({s.DestroyEvents} Destroy, {s.EventsLost} lost), ");
            sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"{s.Flushes} flushes after address removals, {s.Remaps} SNAT remaps");
            if (s.CaptureInterface is not null) sb.Append(System.Globalization.CultureInfo.InvariantCulture, $", {s.Packets} packets captured on {s.CaptureInterface}");
            sb.Append('\n');
        }
        if (s.Notes.Length > 0)
        {
            sb.Append("\n## Notes\n\n");
            foreach (var n in s.Notes) sb.Append("- ").Append(n).Append('\n');
        }
        sb.Append("\n## Files\n\n");
        sb.Append("Per namespace folder: `sysctl.json` (net.netfilter.*), `statistics.json` (per CPU, as `conntrack -S`), `conntrack.json` ");
        sb.Append("(the table; `conntrack.save` the same in conntrack's -o save format, for `conntrack -R` or Import-Conntrack), `addresses.json`, `routes.json`, `masquerade-rules.json`, `health.json` (Test-ConntrackHealth); with a ");
        sb.Append("recording `conntrack-events.json`, `address-changes.json` (removals with the entries destroyed after them), `capture.pcap` ");
        sb.Append("(open with tcpdump -r or Wireshark), `remaps.json` and `conntrack-after.json`. `Import-ConntrackEvidence -Path <zip>` ");
        sb.Append("turns it all back into objects.\n\n");
        foreach (var f in s.Files) sb.Append("- `").Append(f).Append("`\n");
        return sb.ToString();
    }
}
