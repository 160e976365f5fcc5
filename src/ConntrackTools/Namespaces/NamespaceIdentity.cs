using System.IO;

namespace ConntrackTools.Namespaces;

/// <summary>Which network namespace a thread is in, as the kernel names it (<c>net:[4026532412]</c>).</summary>
public static class NamespaceIdentity
{
    /// <summary>
    /// The kernel's name of <paramref name="ns"/> (the caller's own when null): the link target of
    /// /proc/thread-self/ns/net read inside it. Two specs of one namespace (name, path, PID) give the same text, and
    /// a namespace deleted and made again under the same name gives a new one.
    /// </summary>
    public static string Of(NetworkNamespace? ns) =>
        NetworkNamespace.Run(ns, () => new FileInfo("/proc/thread-self/ns/net").LinkTarget ?? "net:[unknown]");
}
