using System;
using System.Runtime.InteropServices;

namespace ConntrackTools.Namespaces;

/// <summary>The libc calls the Namespaces part needs of its own: stat for namespace inodes, setns, the UTS hostname, inotify.</summary>
internal static partial class NamespaceNative
{
    public const int O_RDONLY = 0;
    public const int O_CLOEXEC = 0x80000;
    public const int O_NONBLOCK = 0x800;
    public const int CLONE_NEWUTS = 0x04000000;
    public const int CLONE_NEWNET = 0x40000000;
    public const int IN_NONBLOCK = 0x800;
    public const int IN_CLOEXEC = 0x80000;
    public const uint IN_CREATE = 0x100;
    public const uint IN_DELETE = 0x200;
    public const uint IN_MOVED_FROM = 0x40;
    public const uint IN_MOVED_TO = 0x80;
    public const uint IN_ATTRIB = 0x4;
    public const short POLLIN = 1;

    // asm-generic/errno-base.h
    internal const int EPERM = 1, ENOENT = 2, EACCES = 13, EINVAL = 22;

    [LibraryImport("libc", EntryPoint = "stat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int StatNative(string path, byte* buffer);

    [LibraryImport("libc", EntryPoint = "fstat", SetLastError = true)]
    private static unsafe partial int FStatNative(int fd, byte* buffer);

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    public static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "getsockopt", SetLastError = true)]
    public static unsafe partial int GetSockOpt(int fd, int level, int name, void* value, uint* length);

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    public static partial int SetNs(int fd, int nstype);

    [LibraryImport("libc", EntryPoint = "gethostname", SetLastError = true)]
    private static unsafe partial int GetHostNameNative(byte* name, nuint length);

    [LibraryImport("libc", EntryPoint = "inotify_init1", SetLastError = true)]
    public static partial int InotifyInit(int flags);

    [LibraryImport("libc", EntryPoint = "inotify_add_watch", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int InotifyAddWatch(int fd, string path, uint mask);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static unsafe partial nint ReadNative(int fd, byte* buffer, nuint count);

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static unsafe partial int PollNative(PollFd* fds, nuint count, int timeout);

    // struct stat on Linux x86_64 and aarch64 (the generic and the x86_64 layouts): st_dev (8 bytes), then st_ino (8 bytes).
    private const int StatBufferBytes = 256;
    private const int InodeOffset = 8;

    /// <summary>The inode of <paramref name="path"/> (following links), or null when it cannot be stat'ed.</summary>
    public static unsafe ulong? Inode(string path)
    {
        byte* buffer = stackalloc byte[StatBufferBytes];
        if (StatNative(path, buffer) != 0) return null;
        return *(ulong*)(buffer + InodeOffset);
    }

    /// <summary>Device and inode of <paramref name="path"/> (following links), or null.</summary>
    public static unsafe (ulong Device, ulong Inode)? Stat(string path)
    {
        byte* buffer = stackalloc byte[StatBufferBytes];
        if (StatNative(path, buffer) != 0) return null;
        return (*(ulong*)buffer, *(ulong*)(buffer + InodeOffset));
    }

    public static ulong? Device(string path) => Stat(path)?.Device;

    public static unsafe ulong? InodeOf(int fd)
    {
        byte* buffer = stackalloc byte[StatBufferBytes];
        if (FStatNative(fd, buffer) != 0) return null;
        return *(ulong*)(buffer + InodeOffset);
    }

    /// <summary>The hostname of the calling thread's UTS namespace.</summary>
    public static unsafe string? HostName()
    {
        byte* name = stackalloc byte[256];
        if (GetHostNameNative(name, 255) != 0) return null;
        name[255] = 0;
        return Marshal.PtrToStringUTF8((IntPtr)name);
    }

    public static unsafe int Read(int fd, Span<byte> buffer)
    {
        fixed (byte* p = buffer) return (int)ReadNative(fd, p, (nuint)buffer.Length);
    }

    /// <summary>Waits up to <paramref name="timeoutMilliseconds"/> for <paramref name="fd"/> to become readable.</summary>
    public static unsafe bool WaitReadable(int fd, int timeoutMilliseconds)
    {
        var p = new PollFd { Fd = fd, Events = POLLIN };
        return PollNative(&p, 1, timeoutMilliseconds) > 0 && (p.Revents & POLLIN) != 0;
    }
}
