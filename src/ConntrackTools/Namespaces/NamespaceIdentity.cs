using System.IO;

namespace ConntrackTools.Namespaces;

/// <summary>Which network namespace a spec (name, path, PID) stands for, as a key that is never reused.</summary>
public static class NamespaceIdentity
{
    private const int AfUnix = 1, SockDgram = 2, SockCloexec = 0x80000, SolSocket = 1, SoNetnsCookie = 71;

    /// <summary>
    /// A key for <paramref name="ns"/> (the caller's own when null): the kernel's namespace cookie (SO_NETNS_COOKIE of
    /// a socket opened inside it, 64 bits, never reused while the machine runs), or where the kernel has none (before
    /// 5.14) the link target of /proc/thread-self/ns/net. Two specs of one namespace give the same key. The inode of
    /// the link target alone is not enough: the kernel reuses the inode of a deleted namespace for a new one.
    /// </summary>
    public static string Of(NetworkNamespace? ns) => NetworkNamespace.Run(ns, () => Cookie() is ulong c
        ? $"netns-cookie:{c}"
        : new FileInfo("/proc/thread-self/ns/net").LinkTarget ?? "net:[unknown]");

    private static unsafe ulong? Cookie()
    {
        int fd = NamespaceNative.Socket(AfUnix, SockDgram | SockCloexec, 0);
        if (fd < 0) return null;
        try
        {
            ulong cookie = 0;
            uint length = sizeof(ulong);
            return NamespaceNative.GetSockOpt(fd, SolSocket, SoNetnsCookie, &cookie, &length) == 0 && length == sizeof(ulong) ? cookie : null;
        }
        finally { NamespaceNative.Close(fd); }
    }
}
