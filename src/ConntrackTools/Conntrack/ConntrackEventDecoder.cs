using System;
using ConntrackTools.Netlink;

namespace ConntrackTools.Conntrack;

/// <summary>
/// Turns a ctnetlink event message into a <see cref="ConntrackEvent"/>. Event messages have the layout of dump
/// entries; only the message type and flags say what happened (ctnetlink_conntrack_event in the kernel):
/// IPCTNL_MSG_CT_DELETE is a destroy, IPCTNL_MSG_CT_NEW with NLM_F_CREATE|NLM_F_EXCL a new entry, without them an update.
/// </summary>
public static class ConntrackEventDecoder
{
    /// <summary>The kind of event a message reports, or null when it is not a conntrack event (an error, an expectation).</summary>
    public static ConntrackEventType? Classify(ushort type, ushort flags)
    {
        if (type == Cta.MessageType(Cta.IPCTNL_MSG_CT_DELETE)) return ConntrackEventType.Destroy;
        if (type == Cta.MessageType(Cta.IPCTNL_MSG_CT_NEW))
            return (flags & Nlmsg.F_CREATE) != 0 ? ConntrackEventType.New : ConntrackEventType.Update;
        return null;
    }

    /// <summary>Decodes one event message; null when it is not a conntrack event. Malformed entries raise <see cref="NetlinkDecodeException"/>.</summary>
    public static ConntrackEvent? Decode(in NetlinkMessage message, DateTime timeReceived, string? networkNamespace = null, ulong? networkNamespaceId = null)
    {
        if (Classify(message.Type, message.Flags) is not ConntrackEventType kind) return null;
        // The header's port id names the netlink socket whose request caused the event (0: the kernel).
        return new ConntrackEvent(kind, timeReceived, ConntrackDecoder.Decode(message.Payload, networkNamespace, networkNamespaceId)) { InitiatorPortId = message.PortId };
    }
}
