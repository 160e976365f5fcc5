using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using ConntrackTools.Netlink;

namespace ConntrackTools.Routing;

/// <summary>
/// Interface index to name, as one network namespace sees it, kept current from RTM_NEWLINK / RTM_DELLINK
/// messages (a dump at start, then the RTNLGRP_LINK group). /sys/class/net cannot be used: it shows the namespace
/// the process was started in, not the one a thread entered. Names of deleted interfaces are kept, so an address
/// removed together with its interface is still reported by name.
/// </summary>
public sealed class InterfaceNameTable
{
    private readonly Dictionary<int, string> _names = new();

    public static bool IsLinkMessage(ushort type) => type is Rtnl.RTM_NEWLINK or Rtnl.RTM_DELLINK;

    /// <summary>Learns the index and name from a link message (struct ifinfomsg, IFLA_IFNAME). Malformed input raises <see cref="NetlinkDecodeException"/>.</summary>
    public void Learn(in NetlinkMessage message)
    {
        var payload = message.Payload;
        if (payload.Length < Rtnl.IfInfoMsgLength) throw new NetlinkDecodeException($"link message of {payload.Length} bytes has no ifinfomsg");
        int index = BinaryPrimitives.ReadInt32LittleEndian(payload[4..]);
        var ad = new AttributeDecoder(payload[Rtnl.IfInfoMsgLength..], bigEndian: false);
        while (ad.Next())
        {
            if (ad.Type != Rtnl.IFLA_IFNAME) continue;
            _names[index] = ad.String();
            return;
        }
        if (ad.Error is not null) throw new NetlinkDecodeException("link message: " + ad.Error);
    }

    public bool TryGet(int index, out string name) => _names.TryGetValue(index, out name!);

    /// <summary>The names known now, for checking an -InterfaceName against what exists.</summary>
    public IReadOnlyCollection<string> All => _names.Values;

    /// <summary>RTM_GETLINK for every interface (a dump) or one index.</summary>
    internal static MessageBuilder Request(int? index = null)
    {
        Span<byte> ifinfomsg = stackalloc byte[Rtnl.IfInfoMsgLength];
        ifinfomsg.Clear();
        if (index is int i) BinaryPrimitives.WriteInt32LittleEndian(ifinfomsg[4..], i);
        return new MessageBuilder(Rtnl.RTM_GETLINK, 0, bigEndian: false).Raw(ifinfomsg);
    }
}
