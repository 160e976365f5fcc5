using System;
using System.Buffers.Text;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;

namespace ConntrackTools.Sockets;

/// <summary>A process that holds a socket: its id and name (/proc/PID/comm).</summary>
public readonly record struct SocketOwner(uint ProcessId, string ProcessName);

/// <summary>
/// Which process holds which socket, from the socket inodes behind /proc/*/fd/* (what ss -p and lsof read).
/// Inodes are global (sockfs), so one scan of the caller's /proc finds owners in every network namespace.
/// A socket shared by several processes (a listener inherited across fork) is attributed to the lowest process id.
/// </summary>
public static unsafe partial class ProcessSockets
{
    private static readonly byte[] SocketPrefix = "socket:["u8.ToArray();

    /// <summary>
    /// Finds the owners of <paramref name="inodes"/> (all sockets when null), scanning only
    /// <paramref name="processIds"/> when given. Stops as soon as every wanted inode is found.
    /// Processes that vanish or cannot be read (no permission) are skipped.
    /// </summary>
    public static Dictionary<ulong, SocketOwner> Find(IReadOnlySet<ulong>? inodes, IEnumerable<uint>? processIds = null)
    {
        var found = new Dictionary<ulong, SocketOwner>();
        if (inodes is { Count: 0 }) return found;
        IEnumerable<uint> pids = processIds ?? ListProcesses();
        Span<byte> path = stackalloc byte[64];
        Span<byte> target = stackalloc byte[64];
        foreach (uint pid in pids.OrderBy(p => p))
        {
            if (ScanProcess(pid, inodes, found, path, target) && inodes is not null && found.Count >= inodes.Count) break;
        }
        return found;
    }

    /// <summary>The owner of one socket, checking <paramref name="likelyProcess"/> first (cheap), then every process.</summary>
    public static SocketOwner? FindOne(ulong inode, uint? likelyProcess)
    {
        var wanted = new HashSet<ulong> { inode };
        if (likelyProcess is uint p && p > 0)
        {
            var quick = Find(wanted, new[] { p });
            if (quick.TryGetValue(inode, out var o)) return o;
        }
        var all = Find(wanted);
        return all.TryGetValue(inode, out var owner) ? owner : null;
    }

    private static List<uint> ListProcesses()
    {
        var pids = new List<uint>();
        nint dir = OpenDir("/proc"u8);
        if (dir == 0) return pids;
        try
        {
            while (ReadDir(dir) is var name && !name.IsEmpty)
                if (Utf8Parser.TryParse(name, out uint pid, out int used) && used == name.Length) pids.Add(pid);
        }
        finally { _ = CloseDir(dir); }
        return pids;
    }

    /// <summary>Returns true when the process had at least one wanted socket. readdir and readlink on byte paths: no strings per fd.</summary>
    private static bool ScanProcess(uint pid, IReadOnlySet<ulong>? inodes, Dictionary<ulong, SocketOwner> found, Span<byte> path, Span<byte> target)
    {
        int n = 0;
        "/proc/"u8.CopyTo(path); n += 6;
        Utf8Formatter.TryFormat(pid, path[n..], out int w); n += w;
        "/fd/"u8.CopyTo(path[n..]); n += 4;
        path[n] = 0;
        nint dir = OpenDir(path[..(n - 1)]);
        if (dir == 0) return false;                 // the process ended, or no permission
        string? name = null;
        bool any = false;
        try
        {
            while (ReadDir(dir) is var fd && !fd.IsEmpty)
            {
                if (fd[0] == (byte)'.' || n + fd.Length + 1 > path.Length) continue;
                fd.CopyTo(path[n..]);
                path[n + fd.Length] = 0;
                nint len;
                fixed (byte* p = path)
                fixed (byte* t = target)
                    len = ReadLink(p, t, target.Length);
                if (len <= SocketPrefix.Length + 1) continue;
                var link = target[..(int)len];
                if (!link.StartsWith(SocketPrefix) || link[^1] != (byte)']') continue;
                if (!Utf8Parser.TryParse(link[SocketPrefix.Length..^1], out ulong inode, out int used) || used != link.Length - SocketPrefix.Length - 1) continue;
                if (inodes is not null && !inodes.Contains(inode)) continue;
                if (found.ContainsKey(inode)) continue;           // a lower pid holds it too
                name ??= ProcessName(pid);
                found[inode] = new SocketOwner(pid, name);
                any = true;
            }
        }
        finally { _ = CloseDir(dir); }
        return any;
    }

    private static nint OpenDir(ReadOnlySpan<byte> path)
    {
        Span<byte> z = stackalloc byte[path.Length + 1];
        path.CopyTo(z);
        z[^1] = 0;
        fixed (byte* p = z) return OpenDirNative(p);
    }

    /// <summary>The next entry's name (struct dirent: d_ino 8, d_off 8, d_reclen 2, d_type 1, d_name), empty at the end.</summary>
    private static ReadOnlySpan<byte> ReadDir(nint dir)
    {
        byte* e = ReadDirNative(dir);
        if (e == null) return default;
        var name = new ReadOnlySpan<byte>(e + 19, 256);
        int nul = name.IndexOf((byte)0);
        return nul < 0 ? name : name[..nul];
    }

    [LibraryImport("libc", EntryPoint = "opendir", SetLastError = true)]
    private static partial nint OpenDirNative(byte* path);

    [LibraryImport("libc", EntryPoint = "readdir", SetLastError = true)]
    private static partial byte* ReadDirNative(nint dir);

    [LibraryImport("libc", EntryPoint = "closedir")]
    private static partial int CloseDir(nint dir);

    /// <summary>/proc/PID/comm without the newline; empty when the process is gone.</summary>
    public static string ProcessName(uint pid)
    {
        try { return File.ReadAllText("/proc/" + pid.ToString(System.Globalization.CultureInfo.InvariantCulture) + "/comm").TrimEnd('\n'); }
        catch (IOException) { return ""; }
        catch (UnauthorizedAccessException) { return ""; }
    }

    [LibraryImport("libc", EntryPoint = "readlink", SetLastError = true)]
    private static partial nint ReadLink(byte* path, byte* buffer, nint size);
}
