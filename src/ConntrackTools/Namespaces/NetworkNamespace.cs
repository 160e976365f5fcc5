using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading;

namespace ConntrackTools.Namespaces;

/// <summary>The -NetworkNamespace value could not be resolved to a namespace file.</summary>
public sealed class NetworkNamespaceNotFoundException : ConntrackToolsException
{
    public NetworkNamespaceNotFoundException(string spec, string path)
        : base(ErrorIds.NetworkNamespaceNotFound, ErrorKind.NotFound,
            $"Network namespace '{spec}' was not found ({path} does not exist). Named namespaces live in {NetworkNamespace.NamedDirectory}; 'ip netns list' shows them.",
            target: spec)
    {
        Spec = spec;
        Path = path;
    }

    public NetworkNamespaceNotFoundException(string spec, string path, string message)
        : base(ErrorIds.NetworkNamespaceNotFound, ErrorKind.NotFound, message, target: spec)
    {
        Spec = spec;
        Path = path;
    }

    public string Spec { get; }
    public string Path { get; }
}

/// <summary>The caller may not enter a namespace or open a privileged socket.</summary>
public sealed class InsufficientPrivilegeException : ConntrackToolsException
{
    public InsufficientPrivilegeException(string message, Exception? inner = null)
        : base(ErrorIds.PermissionDenied, ErrorKind.PermissionDenied, message, inner) { }
}

/// <summary>
/// A network namespace named the way operators name them: a name under /var/run/netns (as 'ip netns add'
/// creates), an absolute path to a namespace file, or a process id (/proc/PID/ns/net).
/// Work runs inside it on a dedicated thread, because setns(2) switches only the calling thread;
/// sockets and capture handles opened there stay in the namespace whichever thread uses them later.
/// </summary>
public sealed class NetworkNamespace
{
    public const string NamedDirectory = "/var/run/netns";

    private NetworkNamespace(string spec, string path, ulong? id)
    {
        Spec = spec;
        Path = path;
        Id = id;
    }

    /// <summary>
    /// A namespace found by <see cref="NamespaceInventory"/>: <paramref name="label"/> is its name or the path used,
    /// <paramref name="id"/> its inode. Entering it checks that <paramref name="path"/> still leads to that inode.
    /// </summary>
    public static NetworkNamespace Found(string label, string path, ulong id) => new(label, path, id);

    /// <summary>What the user typed.</summary>
    public string Spec { get; }

    /// <summary>The namespace file that is opened for setns.</summary>
    public string Path { get; }

    /// <summary>
    /// The namespace's inode (NetworkNamespaceId on output objects), read when the namespace was resolved or found;
    /// null when it could not be read. Entering checks the file still leads to this inode.
    /// </summary>
    public ulong? Id { get; }

    public override string ToString() => Spec;

    /// <summary>Resolves a name, absolute path or PID. Throws <see cref="NetworkNamespaceNotFoundException"/>.</summary>
    public static NetworkNamespace Resolve(string spec)
    {
        if (string.IsNullOrWhiteSpace(spec)) throw new InvalidValueException(ErrorIds.InvalidArgument, "A network namespace name, path or PID is required.", "NetworkNamespace", spec);
        string path;
        if (spec.StartsWith('/')) path = spec;
        else if (spec.All(char.IsAsciiDigit)) path = $"/proc/{spec}/ns/net";
        else if (spec.Contains('/') || spec is "." or "..") throw new InvalidValueException(ErrorIds.InvalidArgument, $"'{spec}' is not a namespace name: use a name under {NamedDirectory}, an absolute path, or a PID.", "NetworkNamespace", spec);
        else path = System.IO.Path.Combine(NamedDirectory, spec);
        if (!File.Exists(path) && !Directory.Exists(path)) throw new NetworkNamespaceNotFoundException(spec, path);
        return new NetworkNamespace(spec, path, NamespaceNative.Inode(path));
    }

    /// <summary>The names under /var/run/netns, sorted (for tab completion).</summary>
    public static IReadOnlyList<string> ListNamed()
    {
        try
        {
            if (!Directory.Exists(NamedDirectory)) return Array.Empty<string>();
            return Directory.EnumerateFileSystemEntries(NamedDirectory).Select(System.IO.Path.GetFileName).OfType<string>()
                .OrderBy(n => n, StringComparer.Ordinal).ToArray();
        }
        catch (IOException) { return Array.Empty<string>(); }
        catch (UnauthorizedAccessException) { return Array.Empty<string>(); }
    }

    /// <summary>
    /// Runs <paramref name="work"/> inside <paramref name="ns"/> on a new thread and returns its result;
    /// with a null namespace, runs it here, in the caller's own namespace.
    /// </summary>
    public static T Run<T>(NetworkNamespace? ns, Func<T> work)
    {
        if (ns is null) return work();
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                ns.EnterOnThisThread();
                result = work();
            }
            catch (Exception e)
            {
                failure = e;
            }
        }, maxStackSize: 256 * 1024)
        {
            IsBackground = true,
            Name = "netns " + ns.Spec,
        };
        thread.Start();
        thread.Join();
        if (failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        return result;
    }

    /// <summary>
    /// Switches the calling thread into this namespace. Only for a thread created for the purpose, which
    /// ends afterwards (or stays there for its life): never a thread-pool thread.
    /// </summary>
    public void EnterOnThisThread()
    {
        int fd = NamespaceNative.Open(Path, NamespaceNative.O_RDONLY | NamespaceNative.O_CLOEXEC);
        if (fd < 0)
        {
            int err = Marshal.GetLastPInvokeError();
            if (err == NamespaceNative.ENOENT) throw new NetworkNamespaceNotFoundException(Spec, Path);
            if (err is NamespaceNative.EACCES or NamespaceNative.EPERM) throw new InsufficientPrivilegeException($"Cannot open network namespace '{Spec}' ({Path}): permission denied. Run as root.");
            throw Failed(err, "open");
        }
        try
        {
            // A process's namespace file can lead elsewhere once the process is gone and its PID reused.
            if (Id is ulong expected && NamespaceNative.InodeOf(fd) is ulong actual && actual != expected)
                throw new NetworkNamespaceNotFoundException(Spec, Path, $"{Path} no longer leads to network namespace {expected} (now {actual}): the namespace is gone.");
            if (NamespaceNative.SetNs(fd, NamespaceNative.CLONE_NEWNET) != 0)
            {
                int err = Marshal.GetLastPInvokeError();
                if (err == NamespaceNative.EPERM) throw new InsufficientPrivilegeException($"Cannot enter network namespace '{Spec}': setns needs CAP_SYS_ADMIN. Run as root.");
                if (err == NamespaceNative.EINVAL) throw new InvalidValueException(ErrorIds.InvalidArgument, $"'{Path}' is not a network namespace file.", "NetworkNamespace", Spec);
                throw Failed(err, "setns");
            }
        }
        finally
        {
            NamespaceNative.Close(fd);
        }
    }

    private ConntrackToolsException Failed(int errno, string call) =>
        new(ErrorIds.NetworkNamespaceError, ErrorKind.InvalidOperation,
            $"{call} {Path} failed: {new System.ComponentModel.Win32Exception(errno).Message} (errno {errno}).", target: Spec);
}
