using System;
using System.Collections.Generic;
using System.Net;
using System.Threading;
using ConntrackTools.Netlink;

namespace ConntrackTools.Routing;

/// <summary>Lists the routes of the calling thread's namespace over rtnetlink (RTM_GETROUTE dump, struct rtmsg, RTA_*).</summary>
public static class RouteTable
{
    public const uint MainTable = 254;

    // linux/rtnetlink.h
    private const ushort RTM_NEWROUTE = 24;
    private const ushort RTM_GETROUTE = 26;
    private const int RtMsgLength = 12; // rtm_family, dst_len, src_len, tos, table, protocol, scope, type (u8 each), rtm_flags (u32)
    private const ushort RTA_DST = 1;
    private const ushort RTA_OIF = 4;
    private const ushort RTA_GATEWAY = 5;
    private const ushort RTA_PRIORITY = 6;
    private const ushort RTA_PREFSRC = 7;
    private const ushort RTA_TABLE = 15;

    /// <summary>Every route of every table, IPv4 and IPv6, with interface names from a link dump on the same connection.</summary>
    public static List<RouteEntry> List(NetlinkConnection route, string? networkNamespace, CancellationToken cancel = default)
    {
        var names = new InterfaceNameTable();
        route.Dump(InterfaceNameTable.Request(), "interface dump", (in NetlinkMessage m) =>
        {
            if (InterfaceNameTable.IsLinkMessage(m.Type)) names.Learn(m);
        }, cancel);
        var routes = new List<RouteEntry>();
        var request = new MessageBuilder(RTM_GETROUTE, 0, bigEndian: false).Raw(new byte[RtMsgLength]);
        route.Dump(request, "route dump", (in NetlinkMessage m) =>
        {
            if (m.Type == RTM_NEWROUTE && Decode(m, names, networkNamespace) is { } r) routes.Add(r);
        }, cancel);
        return routes;
    }

    /// <summary>Decodes one RTM_NEWROUTE; null for families other than IPv4/IPv6. Malformed input raises <see cref="NetlinkDecodeException"/>.</summary>
    public static RouteEntry? Decode(in NetlinkMessage message, InterfaceNameTable? names, string? networkNamespace)
    {
        var p = message.Payload;
        if (p.Length < RtMsgLength) throw new NetlinkDecodeException($"route message of {p.Length} bytes has no rtmsg");
        (IPFamily family, int length) = p[0] switch
        {
            Rtnl.AF_INET => (IPFamily.IPv4, 4),
            Rtnl.AF_INET6 => (IPFamily.IPv6, 16),
            _ => (IPFamily.All, 0),
        };
        if (length == 0) return null;
        int dstLength = p[1];
        uint table = p[4];
        byte protocol = p[5], scope = p[6], type = p[7];
        IPAddress? dst = null, gateway = null, prefsrc = null;
        int? oif = null;
        uint? metric = null;
        var ad = new AttributeDecoder(p[RtMsgLength..], bigEndian: false);
        while (ad.Next())
        {
            switch (ad.Type)
            {
                case RTA_DST: dst = ad.Address(length); break;
                case RTA_GATEWAY: gateway = ad.Address(length); break;
                case RTA_PREFSRC: prefsrc = ad.Address(length); break;
                case RTA_OIF: oif = (int)ad.UInt32(); break;
                case RTA_PRIORITY: metric = ad.UInt32(); break;
                case RTA_TABLE: table = ad.UInt32(); break;
            }
        }
        if (ad.Error is not null) throw new NetlinkDecodeException("route message: " + ad.Error);
        string destination = dst is null && dstLength == 0 ? "default"
            : $"{dst ?? (family == IPFamily.IPv4 ? IPAddress.Any : IPAddress.IPv6Any)}/{dstLength}";
        string? name = null;
        if (oif is int i && names is not null && names.TryGet(i, out var n)) name = n;
        return new RouteEntry
        {
            AddressFamily = family,
            Destination = destination,
            Gateway = gateway?.ToString(),
            InterfaceIndex = oif,
            InterfaceName = name,
            PreferredSource = prefsrc?.ToString(),
            Table = table,
            Type = TypeName(type),
            Protocol = ProtocolName(protocol),
            Scope = ScopeName(scope),
            Metric = metric,
            NetworkNamespace = networkNamespace,
        };
    }

    public static string TableName(uint table) => table switch
    {
        253 => "default",
        254 => "main",
        255 => "local",
        _ => table.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    // enum rtn_type
    private static string TypeName(byte t) => t switch
    {
        1 => "unicast", 2 => "local", 3 => "broadcast", 4 => "anycast", 5 => "multicast", 6 => "blackhole",
        7 => "unreachable", 8 => "prohibit", 9 => "throw", 10 => "nat", _ => t.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    // RTPROT_*
    private static string ProtocolName(byte t) => t switch
    {
        1 => "redirect", 2 => "kernel", 3 => "boot", 4 => "static", 16 => "dhcp", 186 => "bgp", 188 => "ospf",
        _ => t.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    // enum rt_scope_t
    private static string ScopeName(byte s) => s switch
    {
        0 => "universe", 200 => "site", 253 => "link", 254 => "host", 255 => "nowhere",
        _ => s.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
