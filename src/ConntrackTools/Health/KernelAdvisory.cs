// Part Health: node checks. Arrows (this file and CtaFilterIPv6Probe.cs): Health -> Conntrack, Namespaces, Netlink.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ConntrackTools.Health;

/// <summary>One row of KernelAdvisories.json.</summary>
public sealed class KernelAdvisoryDefinition
{
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    /// <summary>Defect (a bug with a fix) or Change (behaviour that changed in a release).</summary>
    [JsonPropertyName("kind")] public string Kind { get; set; } = "Defect";
    [JsonPropertyName("title")] public string Title { get; set; } = "";
    [JsonPropertyName("symptom")] public string Symptom { get; set; } = "";
    [JsonPropertyName("fix")] public FixCommit? Fix { get; set; }
    [JsonPropertyName("appliesFrom")] public string? AppliesFrom { get; set; }
    [JsonPropertyName("fixedIn")] public List<Release> FixedIn { get; set; } = new();
    [JsonPropertyName("probe")] public string? Probe { get; set; }
    [JsonPropertyName("workaround")] public string? Workaround { get; set; }
    [JsonPropertyName("sources")] public List<string> Sources { get; set; } = new();

    public sealed class FixCommit
    {
        [JsonPropertyName("commit")] public string Commit { get; set; } = "";
        [JsonPropertyName("subject")] public string Subject { get; set; } = "";
    }

    public sealed class Release
    {
        [JsonPropertyName("release")] public string Version { get; set; } = "";
        /// <summary>"mainline", or the stable line ("4.19") the release belongs to.</summary>
        [JsonPropertyName("line")] public string Line { get; set; } = "mainline";
        [JsonPropertyName("verified")] public string? Verified { get; set; }
    }
}

/// <summary>How this kernel stands against one advisory.</summary>
public enum KernelAdvisoryStatus : long
{
    Unknown = 0,
    /// <summary>Carries the fix (by version, or the probe says it behaves correctly).</summary>
    Fixed = 1,
    /// <summary>Has the defect (by version, or the probe reproduced it).</summary>
    Affected = 2,
    /// <summary>Older than the release that introduced the defect.</summary>
    NotAffected = 3,
    /// <summary>A behaviour change this kernel has.</summary>
    Applies = 4,
    /// <summary>A behaviour change this kernel predates.</summary>
    DoesNotApply = 5,
}

/// <summary>The structured answer behind a KernelAdvisory health check.</summary>
public sealed class KernelAdvisoryReport
{
    public string Id { get; init; } = "";
    public string Kind { get; init; } = "";
    public string Title { get; init; } = "";
    public string Symptom { get; init; } = "";
    public string? FixCommit { get; init; }
    public string? FixSubject { get; init; }
    /// <summary>Releases that carry the fix, mainline first: "5.0", "4.19.85", ...</summary>
    public string[] FixedIn { get; init; } = Array.Empty<string>();
    public string[] Sources { get; init; } = Array.Empty<string>();
    public string KernelVersion { get; init; } = "";
    /// <summary>What the version alone says (a hint: distribution kernels backport fixes).</summary>
    public KernelAdvisoryStatus VersionStatus { get; init; }
    public string? Probe { get; init; }
    public ProbeVerdict ProbeVerdict { get; init; }
    public string? ProbeEvidence { get; init; }
    /// <summary>The verdict: the probe's where one ran and decided, else the version's.</summary>
    public KernelAdvisoryStatus Status { get; init; }
    public string? Workaround { get; init; }
}

/// <summary>Loads the advisory table (embedded KernelAdvisories.json) and judges a kernel against it.</summary>
public static class KernelAdvisories
{
    public const string ResourceName = "ConntrackTools.Health.KernelAdvisories.json";

    public static IReadOnlyList<KernelAdvisoryDefinition> Load()
    {
        using var s = typeof(KernelAdvisories).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException("The kernel advisory table is missing from the assembly.");
        return Parse(s);
    }

    public static IReadOnlyList<KernelAdvisoryDefinition> Parse(Stream json)
    {
        using var doc = JsonDocument.Parse(json);
        var list = doc.RootElement.GetProperty("advisories").Deserialize<List<KernelAdvisoryDefinition>>() ?? new();
        foreach (var a in list)
        {
            if (string.IsNullOrWhiteSpace(a.Id) || string.IsNullOrWhiteSpace(a.Title)) throw new FormatException("An advisory needs an id and a title.");
            if (a.Kind is not ("Defect" or "Change")) throw new FormatException($"Advisory {a.Id}: kind must be Defect or Change.");
            foreach (var r in a.FixedIn) _ = ParseVersion(r.Version) ?? throw new FormatException($"Advisory {a.Id}: '{r.Version}' is not a kernel version.");
        }
        return list;
    }

    /// <summary>The running kernel's release (uname -r).</summary>
    public static string RunningRelease()
    {
        try { return File.ReadAllText("/proc/sys/kernel/osrelease").Trim(); }
        catch (IOException) { return Environment.OSVersion.Version.ToString(); }
    }

    /// <summary>"6.18.44-fc-v1045" → (6, 18, 44); null when it does not start with a version.</summary>
    public static (int Major, int Minor, int Patch)? ParseVersion(string release)
    {
        var digits = new List<int>();
        int i = 0;
        while (digits.Count < 3 && i < release.Length)
        {
            int start = i;
            while (i < release.Length && char.IsAsciiDigit(release[i])) i++;
            if (i == start) break;
            digits.Add(int.Parse(release.AsSpan(start, i - start), CultureInfo.InvariantCulture));
            if (i < release.Length && release[i] == '.') i++; else break;
        }
        if (digits.Count < 2) return null;
        return (digits[0], digits[1], digits.Count > 2 ? digits[2] : 0);
    }

    private static int Compare((int, int, int) a, (int, int, int) b) => a.CompareTo(b);

    /// <summary>What the version alone says about one advisory.</summary>
    public static KernelAdvisoryStatus ByVersion(KernelAdvisoryDefinition a, string release)
    {
        if (ParseVersion(release) is not { } k) return KernelAdvisoryStatus.Unknown;
        if (a.AppliesFrom is not null && ParseVersion(a.AppliesFrom) is { } from && Compare(k, from) < 0)
            return a.Kind == "Change" ? KernelAdvisoryStatus.DoesNotApply : KernelAdvisoryStatus.NotAffected;
        if (a.Kind == "Change") return KernelAdvisoryStatus.Applies;
        foreach (var r in a.FixedIn)
        {
            var v = ParseVersion(r.Version)!.Value;
            if (r.Line == "mainline")
            {
                if (Compare(k, v) >= 0) return KernelAdvisoryStatus.Fixed;
            }
            else if (k.Major == v.Major && k.Minor == v.Minor && k.Patch >= v.Patch)
            {
                return KernelAdvisoryStatus.Fixed;
            }
        }
        return KernelAdvisoryStatus.Affected;
    }

    /// <summary>Judges <paramref name="release"/> against every advisory; <paramref name="probes"/> holds the verdicts of the probes that ran, by probe name.</summary>
    public static List<HealthCheckResult> Evaluate(IReadOnlyList<KernelAdvisoryDefinition> table, string release, IReadOnlyDictionary<string, ProbeResult> probes)
    {
        var results = new List<HealthCheckResult>();
        foreach (var a in table)
        {
            var byVersion = ByVersion(a, release);
            ProbeResult? probe = a.Probe is not null && probes.TryGetValue(a.Probe, out var p) ? p : null;
            var status = probe?.Verdict switch
            {
                ProbeVerdict.Fixed => KernelAdvisoryStatus.Fixed,
                ProbeVerdict.Affected => KernelAdvisoryStatus.Affected,
                _ => byVersion,
            };
            var report = new KernelAdvisoryReport
            {
                Id = a.Id, Kind = a.Kind, Title = a.Title, Symptom = a.Symptom,
                FixCommit = a.Fix?.Commit, FixSubject = a.Fix?.Subject,
                FixedIn = a.FixedIn.Select(r => r.Version).ToArray(),
                Sources = a.Sources.ToArray(),
                KernelVersion = release, VersionStatus = byVersion,
                Probe = a.Probe, ProbeVerdict = probe?.Verdict ?? ProbeVerdict.NotRun, ProbeEvidence = probe?.Evidence,
                Status = status, Workaround = a.Workaround,
            };
            bool passed = status is not KernelAdvisoryStatus.Affected and not KernelAdvisoryStatus.Unknown;
            string basis = probe is { Verdict: ProbeVerdict.Fixed or ProbeVerdict.Affected } ? "probe" : "version";
            string fix = a.Fix is null ? "No fix known." :
                $"Fix: \"{a.Fix.Subject}\" ({a.Fix.Commit[..Math.Min(12, a.Fix.Commit.Length)]})" +
                (a.FixedIn.Count > 0 ? " in " + string.Join(", ", a.FixedIn.Select(r => r.Line == "mainline" ? r.Version : r.Version + " (stable)")) : "") + ".";
            string versionText = $"This kernel {release}: {Describe(byVersion)} by version" +
                (a.Kind == "Defect" ? " (distribution kernels backport fixes, so the version is only a hint)" : "");
            string probeText = a.Probe is null ? "" :
                probe is null ? $" Probe {a.Probe} not run{ProbeHint(a.Probe)}."
                : $" Probe {a.Probe}: {probe.Verdict} ({probe.Evidence}).";
            string message = $"{a.Title}. {a.Symptom} {fix} {versionText}.{probeText}" +
                (status == KernelAdvisoryStatus.Affected && a.Workaround is not null ? " Workaround: " + a.Workaround : "") +
                (a.Sources.Count > 0 ? " Source: " + a.Sources[0] : "");
            results.Add(new HealthCheckResult("KernelAdvisory." + a.Id, passed, $"{status} ({basis})",
                a.Kind == "Change" ? "informational" : "Fixed or NotAffected", message) { Advisory = report });
        }
        return results;
    }

    private static string ProbeHint(string probe) => probe switch
    {
        "VipMigration" => " (Test-ConntrackHealth -IncludeVipMigration runs it)",
        "CtaFilterIPv6" => " (needs root: it creates a private network namespace)",
        _ => "",
    };

    private static string Describe(KernelAdvisoryStatus s) => s switch
    {
        KernelAdvisoryStatus.Fixed => "fixed",
        KernelAdvisoryStatus.Affected => "affected",
        KernelAdvisoryStatus.NotAffected => "older than the defect",
        KernelAdvisoryStatus.Applies => "has this change",
        KernelAdvisoryStatus.DoesNotApply => "predates this change",
        _ => "unknown",
    };
}
