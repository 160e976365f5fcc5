using System;
using System.Collections.Generic;
using System.Text.RegularExpressions;

namespace ConntrackTools.Namespaces;

/// <summary>
/// Finds a Kubernetes pod UID in the lines of /proc/PID/cgroup. The kubelet names a pod's cgroup after its UID:
/// with the cgroupfs driver <c>/kubepods/burstable/pod0d4a...-.../&lt;container&gt;</c> (cgroup v1 and v2 alike), with
/// the systemd driver <c>/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0d4a..._..._....slice/...</c>
/// (dashes in the UID turned into underscores, since systemd reserves '-' for nesting). Static pods have a UID that is
/// a 32-digit hash without dashes.
/// </summary>
public static partial class KubernetesCgroup
{
    [GeneratedRegex(@"(?:^|[/\-])pod(?<uid>[0-9a-fA-F]{8}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{12}|[0-9a-fA-F]{32})(?:\.slice)?(?:/|$)",
        RegexOptions.CultureInvariant)]
    private static partial Regex PodSegment();

    /// <summary>The pod UID (lower case, with dashes) of the first line that carries one, or null.</summary>
    public static string? PodUid(IEnumerable<string> cgroupLines)
    {
        foreach (var line in cgroupLines)
        {
            // hierarchy-ID:controller-list:cgroup-path; the path may itself contain ':'.
            int first = line.IndexOf(':');
            if (first < 0) continue;
            int second = line.IndexOf(':', first + 1);
            if (second < 0) continue;
            string path = line[(second + 1)..];
            if (!path.Contains("kubepods", StringComparison.Ordinal)) continue;
            var m = PodSegment().Match(path);
            if (m.Success) return m.Groups["uid"].Value.Replace('_', '-').ToLowerInvariant();
        }
        return null;
    }
}
