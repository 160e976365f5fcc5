using System.Runtime.InteropServices;

namespace ConntrackTools.Capture;

/// <summary>Keeps a file descriptor from being inherited by processes started later (FD_CLOEXEC).</summary>
internal static partial class CloseOnExec
{
    private const int F_SETFD = 2;
    private const int FD_CLOEXEC = 1;

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, int argument);

    /// <summary>Sets FD_CLOEXEC on <paramref name="fd"/>; throws <see cref="CaptureDeviceException"/> when the kernel refuses.</summary>
    public static void Set(int fd, string what)
    {
        if (Fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
            throw new CaptureDeviceException($"Cannot mark the {what} close-on-exec: errno {Marshal.GetLastPInvokeError()}.");
    }
}
