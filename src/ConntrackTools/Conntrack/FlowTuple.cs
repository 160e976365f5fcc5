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

    /// <summary>
    /// The tuple of the other direction when nothing is translated, as the kernel computes it (nf_ct_invert_tuple):
    /// addresses and ports swapped; for ICMP and ICMPv6 the query type becomes its answer (echo request 8 and echo
    /// reply 0, ...) with code and id kept. Types the kernel cannot invert keep their number.
    /// </summary>
    public FlowTuple Inverted()
    {
        var r = new FlowTuple(DestinationAddress, SourceAddress, ProtocolNumber, DestinationPort, SourcePort);
        if (ProtocolNumber is Protocols.Icmp or Protocols.IcmpV6)
        {
            r.IcmpType = IcmpType is int t ? InvertIcmpType(ProtocolNumber, t) : null;
            r.IcmpCode = IcmpCode;
            r.IcmpId = IcmpId;
        }
        return r;
    }

    // The kernel's invmap tables (nf_conntrack_proto_icmp.c, nf_conntrack_proto_icmpv6.c).
    internal static int InvertIcmpType(byte protocol, int type) => (protocol, type) switch
    {
        (Protocols.Icmp, 8) => 0, (Protocols.Icmp, 0) => 8,       // echo
        (Protocols.Icmp, 13) => 14, (Protocols.Icmp, 14) => 13,   // timestamp
        (Protocols.Icmp, 15) => 16, (Protocols.Icmp, 16) => 15,   // information
        (Protocols.Icmp, 17) => 18, (Protocols.Icmp, 18) => 17,   // address mask
        (Protocols.IcmpV6, 128) => 129, (Protocols.IcmpV6, 129) => 128, // echo
        (Protocols.IcmpV6, 139) => 140, (Protocols.IcmpV6, 140) => 139, // node information
        _ => type,
    };

    /// <summary><c>192.168.11.7:33862 -> 10.232.3.28:8899</c>; IPv6 in brackets; no ports for port-less protocols.</summary>
    public override string ToString() => Endpoint(SourceAddress, SourcePort) + " -> " + Endpoint(DestinationAddress, DestinationPort);

    internal static string Endpoint(IPAddress address, int? port)
    {
        if (port is null) return address.ToString();
        return address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]:{port}" : $"{address}:{port}";
    }
}
