using System.Net;
using System.Net.Sockets;
using ConntrackTools.Conntrack;

namespace ConntrackTools;

/// <summary>One direction of a tracked connection: addresses, protocol, ports or ICMP fields.</summary>
public sealed class FlowTuple
{
    public FlowTuple() { }

    public FlowTuple(IPAddress source, IPAddress destination, byte protocolNumber, int? sourcePort, int? destinationPort)
    {
        SourceAddress = source;
        DestinationAddress = destination;
        ProtocolNumber = protocolNumber;
        SourcePort = sourcePort;
        DestinationPort = destinationPort;
    }

    public IPAddress SourceAddress { get; set; } = IPAddress.Any;
    public IPAddress DestinationAddress { get; set; } = IPAddress.Any;

    /// <summary>Null for protocols without ports (icmp, gre, ...).</summary>
    public int? SourcePort { get; set; }
    public int? DestinationPort { get; set; }

    /// <summary>tcp, udp, icmp, icmpv6, sctp, dccp, gre, udplite, or the number.</summary>
    public string Protocol => Protocols.Name(ProtocolNumber);

    public byte ProtocolNumber { get; set; }

    /// <summary>ICMP/ICMPv6 only.</summary>
    public int? IcmpType { get; set; }
    public int? IcmpCode { get; set; }
    public int? IcmpId { get; set; }

    /// <summary>Per-direction zone (CTA_TUPLE_ZONE), when the kernel reports one.</summary>
    public ushort? Zone { get; set; }

    /// <summary><c>192.168.11.7:33862 -> 10.232.3.28:8899</c>; IPv6 in brackets; no ports for port-less protocols.</summary>
    public override string ToString() => Endpoint(SourceAddress, SourcePort) + " -> " + Endpoint(DestinationAddress, DestinationPort);

    internal static string Endpoint(IPAddress address, int? port)
    {
        if (port is null) return address.ToString();
        return address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]:{port}" : $"{address}:{port}";
    }
}
