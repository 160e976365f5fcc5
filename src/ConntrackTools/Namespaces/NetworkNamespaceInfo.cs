namespace ConntrackTools;

/// <summary>
/// One network namespace of the host, as Get-NetworkNamespace finds it: by its name under /run/netns (or
/// /var/run/netns), or through a process living in it (/proc/PID/ns/net). One object per namespace (per inode).
/// </summary>
public sealed class NetworkNamespaceInfo
{
    /// <summary>The name under /run/netns (as 'ip netns add' or a container runtime made it), or null when it has none.</summary>
    public string? Name { get; internal init; }

    /// <summary>The namespace's inode: the same number 'lsns -t net' and 'readlink /proc/PID/ns/net' show.</summary>
    public ulong Id { get; internal init; }

    /// <summary>The file that reaches it: the name's file, or /proc/PID/ns/net of a process inside.</summary>
    public string Path { get; internal init; } = "";

    /// <summary>The lowest process id living in the namespace (usually its first process: a pod's pause container); null when none.</summary>
    public int? ProcessId { get; internal init; }

    /// <summary>The command name (comm) of <see cref="ProcessId"/>.</summary>
    public string? ProcessName { get; internal init; }

    /// <summary>How many processes live in the namespace.</summary>
    public int ProcessCount { get; internal init; }

    /// <summary>The hostname of <see cref="ProcessId"/>'s UTS namespace (the pod name under Kubernetes); null without a process.</summary>
    public string? Hostname { get; internal init; }

    /// <summary>The pod UID found in <see cref="ProcessId"/>'s cgroup path, or null.</summary>
    public string? KubernetesPodUid { get; internal init; }

    /// <summary>The id the caller's namespace assigned to this one (RTM_GETNSID; 'ip netns list-id'), or null when none is assigned.</summary>
    public int? NetNsId { get; internal init; }

    /// <summary>True for the namespace the caller runs in.</summary>
    public bool IsCurrent { get; internal init; }

    /// <summary>
    /// How the other cmdlets name this namespace: <see cref="Name"/>, or <see cref="Path"/> when it has none. Piped into a
    /// cmdlet, this property binds its -NetworkNamespace parameter, so unnamed namespaces work as well as named ones.
    /// </summary>
    public string NetworkNamespace => Name ?? Path;

    /// <summary>Same as <see cref="Id"/>, under the name every tagged object uses.</summary>
    public ulong NetworkNamespaceId => Id;

    public override string ToString() => NetworkNamespace;
}
