namespace ConntrackTools;

/// <summary>One route of a namespace (RTM_GETROUTE dump), as <c>ip route show table all</c> lists it.</summary>
public sealed class RouteEntry
{
    /// <summary>IPv4 or IPv6.</summary>
    public IPFamily AddressFamily { get; init; }

    /// <summary>Destination prefix in CIDR form; <c>default</c> for 0.0.0.0/0 and ::/0.</summary>
    public string Destination { get; init; } = "default";

    /// <summary>Next hop, or null for a directly connected route.</summary>
    public string? Gateway { get; init; }

    public string? InterfaceName { get; init; }

    public int? InterfaceIndex { get; init; }

    /// <summary>Preferred source address (RTA_PREFSRC), or null.</summary>
    public string? PreferredSource { get; init; }

    /// <summary>Routing table: 254 is main, 255 local, 253 default.</summary>
    public uint Table { get; init; }

    /// <summary>Route type: unicast, local, broadcast, blackhole, unreachable, prohibit, multicast, ...</summary>
    public string Type { get; init; } = "unicast";

    /// <summary>Who installed it: kernel, boot, static, dhcp, or the number.</summary>
    public string Protocol { get; init; } = "boot";

    /// <summary>universe, link, host, site or nowhere.</summary>
    public string Scope { get; init; } = "universe";

    /// <summary>RTA_PRIORITY (the metric), or null.</summary>
    public uint? Metric { get; init; }

    public string? NetworkNamespace { get; init; }

    public override string ToString()
    {
        string s = Destination;
        if (Gateway is not null) s += $" via {Gateway}";
        if (InterfaceName is not null) s += $" dev {InterfaceName}";
        if (Table != Routing.RouteTable.MainTable) s += $" table {Routing.RouteTable.TableName(Table)}";
        return s;
    }
}
