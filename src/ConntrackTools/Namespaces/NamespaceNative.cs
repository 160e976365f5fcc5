using System.Runtime.InteropServices;

namespace ConntrackTools.Namespaces;

/// <summary>The system calls of the Namespaces part: open a namespace file and enter it. Its own, so that the part needs nothing else of ours.</summary>
internal static partial class NamespaceNative
{
    internal const int CLONE_NEWNET = 0x40000000; // linux/sched.h
    internal const int O_RDONLY = 0;
    internal const int O_CLOEXEC = 0x80000;

    // asm-generic/errno-base.h
    internal const int EPERM = 1, ENOENT = 2, EACCES = 13, EINVAL = 22;

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    internal static partial int SetNs(int fd, int nstype);
}
