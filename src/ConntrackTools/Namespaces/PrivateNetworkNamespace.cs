using System;
using System.Runtime.InteropServices;
using System.Threading;

namespace ConntrackTools.Namespaces;

/// <summary>
/// A throw-away network namespace without a name: a dedicated thread unshares its network namespace
/// (unshare(CLONE_NEWNET)), runs the work there and ends. Nothing is mounted under /var/run/netns and nothing needs
/// cleaning up: the namespace disappears with the thread once the work's sockets are closed. For probes that must not
/// touch any real table.
/// </summary>
public static partial class PrivateNetworkNamespace
{
    public static T Run<T>(Func<T> work)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                if (Unshare(NamespaceFlags.CLONE_NEWNET) != 0)
                {
                    int err = Marshal.GetLastPInvokeError();
                    if (err is NamespaceNative.EPERM) throw new InsufficientPrivilegeException("Creating a private network namespace needs CAP_SYS_ADMIN: run as root.");
                    throw new ConntrackToolsException(ErrorIds.NetworkNamespaceError, ErrorKind.InvalidOperation,
                        $"unshare(CLONE_NEWNET) failed with errno {err}: cannot create a private network namespace.");
                }
                result = work();
            }
            catch (Exception e)
            {
                failure = e;
            }
        }, maxStackSize: 256 * 1024)
        {
            IsBackground = true,
            Name = "private netns",
        };
        thread.Start();
        thread.Join();
        if (failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        return result;
    }

    private static class NamespaceFlags
    {
        public const int CLONE_NEWNET = 0x40000000;
    }

    [LibraryImport("libc", EntryPoint = "unshare", SetLastError = true)]
    private static partial int Unshare(int flags);
}
