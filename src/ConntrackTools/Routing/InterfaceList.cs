using System;
using System.Collections.Generic;
using System.Linq;
using ConntrackTools.Namespaces;
using ConntrackTools.Netlink;

namespace ConntrackTools.Routing;

/// <summary>The interfaces of a network namespace, from an RTM_GETLINK dump made inside it.</summary>
public static class InterfaceList
{
    /// <summary>
    /// The names of every link in <paramref name="ns"/> (the caller's own when null), sorted. /sys/class/net cannot
    /// be used: it shows the namespace the process was started in, not the one a thread entered.
    /// </summary>
    public static IReadOnlyList<string> Names(NetworkNamespace? ns) => NetworkNamespace.Run(ns, () =>
    {
        var table = new InterfaceNameTable();
        using var connection = new NetlinkConnection(NetlinkSocket.Open(NetlinkProtocol.Route));
        connection.Dump(InterfaceNameTable.Request(), "interface dump", (in NetlinkMessage m) =>
        {
            if (InterfaceNameTable.IsLinkMessage(m.Type)) table.Learn(m);
        });
        return (IReadOnlyList<string>)table.All.OrderBy(n => n, StringComparer.Ordinal).ToList();
    });
}
