using System;
using System.Net;

namespace ConntrackTools;

/// <summary>
/// One ctnetlink event: what happened (<see cref="EventType"/>), when it was read, and the entry as the kernel
/// described it. Every <see cref="ConntrackEntry"/> property is readable on the event itself, under the same name,
/// so one Where-Object filter works on Get-Conntrack output and on Watch-Conntrack output alike.
/// </summary>
/// <remarks>
/// A wrapper rather than a subclass: <see cref="Entry"/> must be a ConntrackEntry of its own (a subclass would
/// have to return itself, and ConvertTo-Json would walk that loop). An xunit test keeps the forwarded
/// properties in step with ConntrackEntry.
/// </remarks>
public sealed class ConntrackEvent
{
    internal ConntrackEvent(ConntrackEventType eventType, DateTime timeReceived, ConntrackEntry entry)
    {
        EventType = eventType;
        TimeReceived = timeReceived;
        Entry = entry ?? throw new ArgumentNullException(nameof(entry));
    }

    public ConntrackEventType EventType { get; }

    /// <summary>When the listener read the message from its socket (local time).</summary>
    public DateTime TimeReceived { get; }

    /// <summary>
    /// The entry as the event described it. An event carries the attributes the kernel chose to send with it
    /// (ctnetlink_conntrack_event), so a property can be empty on an event although the entry has a value.
    /// </summary>
    public ConntrackEntry Entry { get; }

    /// <summary>Port id of the netlink socket that asked for the change (the event header's nlmsg_pid); 0 for the kernel.</summary>
    public uint InitiatorPortId { get; internal init; }

    /// <summary>Kernel (port id 0), Process (the requesting socket's owner was found), or Unknown (it was gone).</summary>
    public ConntrackInitiator Initiator =>
        InitiatorPortId == 0 ? ConntrackInitiator.Kernel : InitiatorProcessId is null ? ConntrackInitiator.Unknown : ConntrackInitiator.Process;

    /// <summary>The process holding the requesting netlink socket when the event was read; null when the kernel acted or it was gone.</summary>
    public int? InitiatorProcessId { get; internal set; }

    /// <summary>Its name (/proc/PID/comm); null when <see cref="InitiatorProcessId"/> is.</summary>
    public string? InitiatorProcessName { get; internal set; }

    public uint Id => Entry.Id;
    public IPFamily AddressFamily => Entry.AddressFamily;
    public string Protocol => Entry.Protocol;
    public string? State => Entry.State;
    public TimeSpan Timeout => Entry.Timeout;
    public ConntrackStatus Status => Entry.Status;
    public uint Mark => Entry.Mark;
    public ushort Zone => Entry.Zone;
    public uint Use => Entry.Use;
    public FlowTuple Original => Entry.Original;
    public FlowTuple Reply => Entry.Reply;
    public string SourceAddress => Entry.SourceAddress;
    public string DestinationAddress => Entry.DestinationAddress;
    public int? SourcePort => Entry.SourcePort;
    public int? DestinationPort => Entry.DestinationPort;
    public NatType NatType => Entry.NatType;
    public string TranslatedSourceAddress => Entry.TranslatedSourceAddress;
    public int? TranslatedSourcePort => Entry.TranslatedSourcePort;
    public string TranslatedDestinationAddress => Entry.TranslatedDestinationAddress;
    public int? TranslatedDestinationPort => Entry.TranslatedDestinationPort;
    public ulong? OriginalPackets => Entry.OriginalPackets;
    public ulong? OriginalBytes => Entry.OriginalBytes;
    public ulong? ReplyPackets => Entry.ReplyPackets;
    public ulong? ReplyBytes => Entry.ReplyBytes;
    public DateTime? StartTime => Entry.StartTime;
    public string? Helper => Entry.Helper;
    public int[]? Labels => Entry.Labels;
    public string? NetworkNamespace => Entry.NetworkNamespace;
    public ulong? NetworkNamespaceId => Entry.NetworkNamespaceId;

    /// <summary>
    /// Lets PowerShell bind an event where an entry is expected, so
    /// <c>Watch-Conntrack -EventType New | Remove-Conntrack</c> works like <c>Get-Conntrack | Remove-Conntrack</c>.
    /// </summary>
    public static implicit operator ConntrackEntry(ConntrackEvent e) => e.Entry;

    /// <summary><c>[NEW] tcp SYN_SENT 10.0.0.1:40000 -> 10.0.0.2:80</c>, as conntrack -E prints the kind.</summary>
    public override string ToString() => $"[{EventType.ToString().ToUpperInvariant()}] {Entry}";
}
