using System;
using System.Globalization;
using System.IO;
using ConntrackTools.Namespaces;

namespace ConntrackTools.Conntrack;

/// <summary>
/// Per-namespace netfilter settings. /proc/sys/net is resolved by the network namespace of the thread that opens
/// the file (checked on this kernel), so a namespace's value is read on a thread inside it.
/// </summary>
public static class ConntrackSysctl
{
    public const string EventsPath = "/proc/sys/net/netfilter/nf_conntrack_events";
    public const string EventsName = "net.netfilter.nf_conntrack_events";

    /// <summary>
    /// net.netfilter.nf_conntrack_events of the namespace: 0 no events, 1 events for every entry, 2 (the default on
    /// recent kernels) events only for entries created while some event listener existed. Null when unreadable.
    /// </summary>
    public static int? ReadEvents(NetworkNamespace? ns) => NetworkNamespace.Run(ns, () => Read("nf_conntrack_events"));

    /// <summary>
    /// An integer under /proc/sys/net/netfilter/ (e.g. nf_conntrack_max) as the calling thread's namespace sees it:
    /// call it inside <see cref="NetworkNamespace.Run{T}"/> for another namespace. Null when absent or unreadable.
    /// </summary>
    public static int? Read(string name) => ReadInt(Directory + name);

    /// <summary>Where the netfilter sysctls live.</summary>
    public const string Directory = "/proc/sys/net/netfilter/";

    /// <summary>The command that sets nf_conntrack_events to 1 in that namespace, for warnings.</summary>
    public static string EnableEventsCommand(NetworkNamespace? ns)
    {
        string sysctl = $"sysctl -w {EventsName}=1";
        if (ns is null) return sysctl;
        if (ns.Path.StartsWith(NetworkNamespace.NamedDirectory + "/", StringComparison.Ordinal)) return $"ip netns exec {ns.Spec} {sysctl}";
        return $"nsenter --net={ns.Path} {sysctl}";
    }

    private static int? ReadInt(string path)
    {
        try
        {
            return int.TryParse(File.ReadAllText(path).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
