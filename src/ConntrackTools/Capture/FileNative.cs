using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Threading;
using Microsoft.Win32.SafeHandles;

namespace ConntrackTools.Capture;

/// <summary>What kind of file a path names (statx(2) STATX_TYPE: its layout is the same on every Linux architecture).</summary>
internal enum FileKind { Missing, Regular, Directory, Fifo, CharacterDevice, BlockDevice, Socket, Symlink, Other }

/// <summary>The few libc calls the capture files need: file type, open with flags .NET does not offer, poll, read.</summary>
internal static partial class FileNative
{
    public const int O_RDONLY = 0, O_WRONLY = 1, O_CREAT = 0x40, O_EXCL = 0x80, O_TRUNC = 0x200, O_NONBLOCK = 0x800,
        O_NOFOLLOW = 0x20000, O_CLOEXEC = 0x80000;
    public const int EINTR = 4, EAGAIN = 11, EEXIST = 17, ENOENT = 2, EACCES = 13, ELOOP = 40, EISDIR = 21, EROFS = 30, EPERM = 1;
    private const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, STATX_TYPE = 1;
    private const short POLLIN = 1, POLLERR = 8, POLLHUP = 16;

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static unsafe partial nint Read(int fd, byte* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static unsafe partial int Poll(PollFd* fds, nuint count, int timeout);

    [LibraryImport("libc", EntryPoint = "fchmod", SetLastError = true)]
    public static partial int Fchmod(int fd, int mode);

    [LibraryImport("libc", EntryPoint = "isatty")]
    public static partial int IsATty(int fd);

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    /// <summary>The type of the file at <paramref name="path"/>; symbolic links are followed unless <paramref name="followLinks"/> is false.</summary>
    public static unsafe FileKind KindOf(string path, bool followLinks = true)
    {
        byte* buffer = stackalloc byte[256];
        if (Statx(AT_FDCWD, path, followLinks ? 0 : AT_SYMLINK_NOFOLLOW, STATX_TYPE, buffer) != 0) return FileKind.Missing;
        int mode = *(ushort*)(buffer + 28) & 0xF000;   // stx_mode & S_IFMT
        return mode switch
        {
            0x8000 => FileKind.Regular, 0x4000 => FileKind.Directory, 0x1000 => FileKind.Fifo, 0x2000 => FileKind.CharacterDevice,
            0x6000 => FileKind.BlockDevice, 0xC000 => FileKind.Socket, 0xA000 => FileKind.Symlink, _ => FileKind.Other,
        };
    }

    /// <summary>open(2) with the given flags; returns the descriptor or -errno.</summary>
    public static int OpenFile(string path, int flags, int mode)
    {
        int fd = Open(path, flags | O_CLOEXEC, mode);
        return fd >= 0 ? fd : -Marshal.GetLastPInvokeError();
    }

    /// <summary>
    /// Reads into <paramref name="buffer"/> once data is there, waiting in slices of 100 ms so that a FIFO or a pipe
    /// that stays quiet can still be given up on through <paramref name="token"/>. Returns 0 at the end of the input.
    /// </summary>
    public static unsafe int ReadWhenReady(int fd, Span<byte> buffer, CancellationToken token)
    {
        while (true)
        {
            token.ThrowIfCancellationRequested();
            var poll = new PollFd { Fd = fd, Events = POLLIN };
            int ready = Poll(&poll, 1, 100);
            if (ready < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == EINTR) continue;
                throw new IOException($"poll failed: {Errno(errno)}.");
            }
            if (ready == 0 || (poll.Revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
            fixed (byte* p = buffer)
            {
                nint n = Read(fd, p, buffer.Length);
                if (n >= 0) return (int)n;
                int errno = Marshal.GetLastPInvokeError();
                if (errno is EINTR or EAGAIN) continue;
                throw new IOException($"read failed: {Errno(errno)}.");
            }
        }
    }

    public static string Errno(int errno) => errno switch
    {
        ENOENT => "no such file or directory", EACCES => "permission denied", EEXIST => "the file exists",
        ELOOP => "it is a symbolic link", EISDIR => "it is a directory", EROFS => "read-only file system", EPERM => "operation not permitted",
        _ => $"errno {errno}",
    };

    /// <summary>A stream over a descriptor read with <see cref="ReadWhenReady"/>: a FIFO or standard input.</summary>
    public sealed class PollingStream(SafeFileHandle handle, CancellationToken token) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer) => ReadWhenReady((int)handle.DangerousGetHandle(), buffer, token);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) handle.Dispose();
            base.Dispose(disposing);
        }
    }
}
