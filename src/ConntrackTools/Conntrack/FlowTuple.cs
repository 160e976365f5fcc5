using System.Net;
using ConntrackTools.Inet;

namespace ConntrackTools;

/// <summary>One direction of a tracked connection: addresses, protocol, ports or ICMP fields.</summary>
public sealed class FlowTuple
{
    internal FlowTuple() { }

    internal FlowTuple(IPAddress source, IPAddress destination, byte protocolNumber, int? sourcePort, int? destinationPort)
    {
        SourceIP = source;
        DestinationIP = destination;
        ProtocolNumber = protocolNumber;
        SourcePort = sourcePort;
        DestinationPort = destinationPort;
    }

    /// <summary>Canonical text (IPv6 compressed, lower case).</summary>
    public string SourceAddress => _source ??= Addresses.Canonical(SourceIP);
    public string DestinationAddress => _destination ??= Addresses.Canonical(DestinationIP);
    private string? _source, _destination;

    /// <summary>The addresses as the engine compares and encodes them (setting one drops its cached text).</summary>
    internal IPAddress SourceIP
    {
        get => _sourceIP;
        set { _sourceIP = value; _source = null; }
    }

    internal IPAddress DestinationIP
    {
        get => _destinationIP;
        set { _destinationIP = value; _destination = null; }
    }

    private IPAddress _sourceIP = IPAddress.Any, _destinationIP = IPAddress.Any;

    /// <summary>Null for protocols without ports (icmp, gre, ...).</summary>
    public int? SourcePort { get; internal set; }
    public int? DestinationPort { get; internal set; }

    /// <summary>tcp, udp, icmp, icmpv6, sctp, dccp, gre, udplite, or the number.</summary>
    public string Protocol => Protocols.Name(ProtocolNumber);

    public byte ProtocolNumber { get; internal set; }

    /// <summary>ICMP/ICMPv6 only.</summary>
    public int? IcmpType { get; internal set; }
    public int? IcmpCode { get; internal set; }
    public int? IcmpId { get; internal set; }

    /// <summary>Per-direction zone (CTA_TUPLE_ZONE), when the kernel reports one.</summary>
    public ushort? Zone { get; internal set; }

    /// <summary>
    /// The tuple of the other direction when nothing is translated, as the kernel computes it (nf_ct_invert_tuple):
    /// addresses and ports swapped; for ICMP and ICMPv6 the query type becomes its answer (echo request 8 and echo
    /// reply 0, ...) with code and id kept. Types the kernel cannot invert keep their number.
    /// </summary>
    public FlowTuple Inverted()
    {
        var r = new FlowTuple(DestinationIP, SourceIP, ProtocolNumber, DestinationPort, SourcePort);
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
    public override string ToString() => Addresses.Endpoint(SourceIP, SourcePort) + " -> " + Addresses.Endpoint(DestinationIP, DestinationPort);
}
