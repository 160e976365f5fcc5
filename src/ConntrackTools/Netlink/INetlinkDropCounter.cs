namespace ConntrackTools.Netlink;

/// <summary>
/// A transport that can say how many messages the kernel dropped for it. ENOBUFS only says that something was
/// lost; this says how much, so a listener can report the number instead of "some".
/// </summary>
public interface INetlinkDropCounter
{
    /// <summary>Total messages dropped since the socket was opened, or null when unknown.</summary>
    long? DroppedMessages { get; }
}
