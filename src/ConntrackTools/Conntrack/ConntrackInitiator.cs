namespace ConntrackTools;

/// <summary>
/// Who made the change a conntrack event reports. The kernel writes the port id of the netlink socket whose request
/// caused it into the event's header (nfnetlink_send with the requester's portid); 0 means the kernel itself acted
/// (timeouts, garbage collection, masquerade cleanup after an address or device change, namespace teardown, and
/// every change a packet made). 64-bit so that ConvertTo-Json writes the names.
/// </summary>
public enum ConntrackInitiator : long
{
    /// <summary>Port id 0: the kernel itself.</summary>
    Kernel = 0,
    /// <summary>A netlink request from a process that could be named (InitiatorProcessId, InitiatorProcessName).</summary>
    Process = 1,
    /// <summary>A netlink request (port id not 0) whose socket was already closed, or could not be resolved, when the event was read.</summary>
    Unknown = 2,
}
