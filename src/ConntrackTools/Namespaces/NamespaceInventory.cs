using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;

namespace ConntrackTools.Namespaces;

/// <summary>
/// Finds every network namespace of the host: the named ones (files under /run/netns and /var/run/netns, where
/// 'ip netns add' and container runtimes put them, cni-* included) and the unnamed ones held by a process
/// (/proc/PID/ns/net), one per inode. Reading other processes' namespace links needs root (CAP_SYS_PTRACE);
/// without it only the caller's own processes are seen.
/// </summary>
public static class NamespaceInventory
{
    /// <summary>Where named namespaces live. On most systems /var/run is a link to /run, and both are one folder.</summary>
    public static readonly IReadOnlyList<string> NamedDirectories = ["/run/netns", "/var/run/netns"];

    /// <summary>A namespace found by a scan: its inode, its name (or null), and the processes living in it (sorted).</summary>
    public sealed record Found(ulong Id, string? Name, string? NamePath, IReadOnlyList<int> ProcessIds)
    {
        /// <summary>The file to enter it by: the name's file, else /proc/PID/ns/net of its lowest process.</summary>
        public string Path => NamePath ?? $"/proc/{ProcessIds[0].ToString(CultureInfo.InvariantCulture)}/ns/net";

        /// <summary>How output objects name it: the name, else the path used.</summary>
        public string Label => Name ?? Path;

        public NetworkNamespace ToNamespace() => NetworkNamespace.Found(Label, Path, Id);
    }

    /// <summary>The named folders that exist, each once (a folder reached through a link counts once).</summary>
    public static IReadOnlyList<string> ExistingNamedDirectories()
    {
        var seen = new HashSet<ulong>();
        var result = new List<string>();
        foreach (var d in NamedDirectories)
        {
            if (!Directory.Exists(d)) continue;
            if (NamespaceNative.Inode(d) is ulong ino && !seen.Add(ino)) continue;
            result.Add(d);
        }
        return result;
    }

    /// <summary>Scans the named folders and /proc. Fast (a stat per file and per process); no hostnames or cgroups.</summary>
    public static List<Found> Scan()
    {
        ulong? nsfsDevice = NamespaceNative.Device("/proc/thread-self/ns/net");
        var names = new Dictionary<ulong, (string Name, string Path)>();
        foreach (var dir in ExistingNamedDirectories())
        {
            IEnumerable<string> files;
            try { files = Directory.EnumerateFileSystemEntries(dir).OrderBy(f => f, StringComparer.Ordinal).ToArray(); }
            catch (IOException) { continue; }
            catch (UnauthorizedAccessException) { continue; }
            foreach (var file in files)
            {
                // A name whose bind mount is gone (a failed 'ip netns add') is a plain empty file on tmpfs: skip it.
                if (NamespaceNative.Stat(file) is not var (dev, ino) || (nsfsDevice is ulong nsfs && dev != nsfs)) continue;
                names.TryAdd(ino, (System.IO.Path.GetFileName(file), file));
            }
        }
        var processes = new Dictionary<ulong, List<int>>();
        foreach (var pid in ProcessIds())
        {
            if (NamespaceNative.Inode($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/ns/net") is not ulong ino) continue;
            if (!processes.TryGetValue(ino, out var list)) processes[ino] = list = new List<int>();
            list.Add(pid);
        }
        var result = new List<Found>();
        foreach (var (ino, (name, path)) in names)
            result.Add(new Found(ino, name, path, processes.TryGetValue(ino, out var p) ? Sorted(p) : Array.Empty<int>()));
        foreach (var (ino, pids) in processes)
            if (!names.ContainsKey(ino)) result.Add(new Found(ino, null, null, Sorted(pids)));
        // Named ones first, by name; then the unnamed ones by their first process.
        return result.OrderBy(f => f.Name is null).ThenBy(f => f.Name, StringComparer.Ordinal)
            .ThenBy(f => f.ProcessIds.Count > 0 ? f.ProcessIds[0] : int.MaxValue).ToList();
    }

    /// <summary>
    /// Every namespace with its details: process name, UTS hostname, pod UID, and the NetNsId that
    /// <paramref name="netNsIdOf"/> (given the namespace file; null to skip) reports for it.
    /// </summary>
    public static List<NetworkNamespaceInfo> List(Func<string, int?>? netNsIdOf = null)
    {
        var found = Scan();
        ulong? current = NamespaceNative.Inode("/proc/thread-self/ns/net");
        var holders = found.Where(f => f.ProcessIds.Count > 0).Select(f => f.ProcessIds[0]).ToArray();
        var hostnames = HostNames(holders);
        var result = new List<NetworkNamespaceInfo>(found.Count);
        foreach (var f in found)
        {
            int? pid = f.ProcessIds.Count > 0 ? f.ProcessIds[0] : null;
            int? nsid = null;
            if (netNsIdOf is not null)
            {
                try { nsid = netNsIdOf(f.Path); }
                catch (IOException) { }
            }
            result.Add(new NetworkNamespaceInfo
            {
                Name = f.Name,
                Id = f.Id,
                Path = f.Path,
                ProcessId = pid,
                ProcessName = pid is int p1 ? ProcessName(p1) : null,
                ProcessCount = f.ProcessIds.Count,
                Hostname = pid is int p2 && hostnames.TryGetValue(p2, out var h) ? h : null,
                KubernetesPodUid = pid is int p3 ? PodUid(p3) : null,
                NetNsId = nsid,
                IsCurrent = f.Id == current,
            });
        }
        return result;
    }

    /// <summary>
    /// The UTS hostname of each process: a dedicated thread enters each process's UTS namespace in turn (setns
    /// switches only that thread) and asks gethostname; the thread ends afterwards, so no other code runs there.
    /// </summary>
    public static Dictionary<int, string> HostNames(IReadOnlyCollection<int> pids)
    {
        var result = new Dictionary<int, string>();
        if (pids.Count == 0) return result;
        var thread = new Thread(() =>
        {
            var byUts = new Dictionary<ulong, string?>();
            foreach (var pid in pids)
            {
                string path = $"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/ns/uts";
                int fd = NamespaceNative.Open(path, NamespaceNative.O_RDONLY | NamespaceNative.O_CLOEXEC);
                if (fd < 0) continue;
                try
                {
                    ulong? uts = NamespaceNative.InodeOf(fd);
                    if (uts is ulong u && byUts.TryGetValue(u, out var known))
                    {
                        if (known is not null) result[pid] = known;
                        continue;
                    }
                    string? name = NamespaceNative.SetNs(fd, NamespaceNative.CLONE_NEWUTS) == 0 ? NamespaceNative.HostName() : null;
                    if (uts is ulong u2) byUts[u2] = name;
                    if (name is not null) result[pid] = name;
                }
                finally
                {
                    NamespaceNative.Close(fd);
                }
            }
        }, maxStackSize: 256 * 1024)
        {
            IsBackground = true,
            Name = "UTS hostnames",
        };
        thread.Start();
        thread.Join();
        return result;
    }

    private static IEnumerable<int> ProcessIds()
    {
        IEnumerable<string> dirs;
        try { dirs = Directory.EnumerateDirectories("/proc"); }
        catch (IOException) { yield break; }
        foreach (var d in dirs)
        {
            var name = System.IO.Path.GetFileName(d.AsSpan());
            if (name.Length > 0 && char.IsAsciiDigit(name[0]) && int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
                yield return pid;
        }
    }

    private static int[] Sorted(List<int> pids)
    {
        var a = pids.ToArray();
        Array.Sort(a);
        return a;
    }

    private static string? ProcessName(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/comm").TrimEnd('\n'); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    private static string? PodUid(int pid)
    {
        try { return KubernetesCgroup.PodUid(File.ReadAllLines($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/cgroup")); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }
}
