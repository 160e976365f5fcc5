using System;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading;

namespace ConntrackTools.Namespaces;

/// <summary>
/// The namespace a watcher was started in is no longer there under the name, path or PID it was given: the named
/// file was deleted (ip netns del) or now names another namespace, or the process exited or moved.
/// </summary>
public sealed class NetworkNamespaceGoneException : ConntrackToolsException
{
    public NetworkNamespaceGoneException(string spec, string path, string reason)
        : base(ErrorIds.NetworkNamespaceGone, ErrorKind.ResourceUnavailable, $"Network namespace '{spec}' is gone: {reason}.", target: spec)
    {
        Spec = spec;
        Path = path;
        Reason = reason;
    }

    public string Spec { get; }
    public string Path { get; }
    public string Reason { get; }
}

/// <summary>
/// The identity of a network namespace: the device and inode of its nsfs file (the inode is what 'ip netns identify',
/// 'lsns' and /proc/PID/ns/net's link text call the namespace's id).
/// </summary>
public readonly record struct NamespaceInode(ulong Device, ulong Inode)
{
    public override string ToString() => Inode.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// Notices that a resolved namespace went away while something runs in it. Sockets and capture handles opened inside a
/// namespace keep it alive after 'ip netns del' or after the process that owned it exited, so a watcher would otherwise
/// read a namespace no one can reach any more, forever. A reader loop calls <see cref="ThrowIfGone"/> on every turn; the
/// real check (a stat of the namespace file) runs at most once per <see cref="Interval"/>.
/// </summary>
/// <remarks>
/// Gone means: a name or path no longer exists or resolves to another namespace (another inode); a PID no longer exists
/// or is now in another namespace. Thread-safe: several reader threads may share one watch.
/// </remarks>
public sealed partial class NetworkNamespaceWatch
{
    /// <summary>How often the namespace file is looked at (the issue asks for at least once a second).</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromMilliseconds(500);

    private readonly long _intervalTicks;
    private long _nextCheck;
    private volatile string? _goneReason;

    /// <summary>Records the identity <paramref name="ns"/> has now. Throws <see cref="NetworkNamespaceGoneException"/> if it has none already.</summary>
    public NetworkNamespaceWatch(NetworkNamespace ns, TimeSpan? interval = null)
    {
        Namespace = ns;
        Interval = interval ?? DefaultInterval;
        _intervalTicks = (long)(Interval.TotalSeconds * Stopwatch.Frequency);
        Identity = Identify(ns) ?? throw new NetworkNamespaceGoneException(ns.Spec, ns.Path, Vanished(ns));
        _nextCheck = Stopwatch.GetTimestamp() + _intervalTicks;
    }

    /// <summary>A watch for <paramref name="ns"/>, or null for the caller's own namespace (which cannot go away under it).</summary>
    public static NetworkNamespaceWatch? For(NetworkNamespace? ns) => ns is null ? null : new NetworkNamespaceWatch(ns);

    public NetworkNamespace Namespace { get; }

    public TimeSpan Interval { get; }

    /// <summary>The namespace's identity when the watch started.</summary>
    public NamespaceInode Identity { get; }

    /// <summary>True once a check found the namespace gone.</summary>
    public bool IsGone => _goneReason is not null;

    /// <summary>Looks now, whatever the interval: null while the namespace is there, else why it is gone, in words.</summary>
    public string? Check()
    {
        if (_goneReason is not null) return _goneReason;
        var now = Identify(Namespace);
        string? reason = now is null ? Vanished(Namespace)
            : now != Identity ? Replaced(Namespace)
            : null;
        if (reason is not null) _goneReason = reason;
        return reason;
    }

    /// <summary>Checks when the interval has passed since the last check; throws <see cref="NetworkNamespaceGoneException"/> once gone.</summary>
    public void ThrowIfGone()
    {
        if (_goneReason is null)
        {
            long now = Stopwatch.GetTimestamp();
            long due = Interlocked.Read(ref _nextCheck);
            if (now < due || Interlocked.CompareExchange(ref _nextCheck, now + _intervalTicks, due) != due) return;
            if (Check() is null) return;
        }
        throw new NetworkNamespaceGoneException(Namespace.Spec, Namespace.Path, _goneReason!);
    }

    /// <summary>The identity of the namespace file <paramref name="ns"/> names now; null when there is none.</summary>
    public static NamespaceInode? Identify(NetworkNamespace ns) => Identify(ns.Path);

    /// <summary>The identity of the namespace file at <paramref name="path"/> (symbolic links followed); null when it does not exist.</summary>
    public static NamespaceInode? Identify(string path) => Stat(path, out var id) ? id : null;

    private static bool IsPid(NetworkNamespace ns) => ns.Spec.Length > 0 && ns.Spec.All(char.IsAsciiDigit);

    private static string Vanished(NetworkNamespace ns) => IsPid(ns)
        ? $"process {ns.Spec} has exited"
        : $"{ns.Path} no longer exists (deleted, for example by 'ip netns del')";

    private static string Replaced(NetworkNamespace ns) => IsPid(ns)
        ? $"process {ns.Spec} is now in another network namespace"
        : $"{ns.Path} now names another network namespace (it was deleted and created again)";

    // struct stat on x86_64 and aarch64 (the generic layout) begins with st_dev and st_ino, both 64-bit; 256 bytes is
    // more than either architecture's whole struct.
    private const int StatBufferBytes = 256;

    private static unsafe bool Stat(string path, out NamespaceInode identity)
    {
        identity = default;
        byte* buffer = stackalloc byte[StatBufferBytes];
        int rc;
        try
        {
            rc = LibC.stat(path, buffer);
        }
        catch (EntryPointNotFoundException)
        {
            rc = LibC.__xstat(1, path, buffer); // glibc before 2.33 exports stat only as __xstat(_STAT_VER_LINUX, ...)
        }
        if (rc != 0) return false;
        identity = new NamespaceInode(*(ulong*)buffer, *(ulong*)(buffer + 8));
        return true;
    }

    private static unsafe partial class LibC
    {
        [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int stat(string path, byte* buffer);

        [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int __xstat(int version, string path, byte* buffer);
    }
}
