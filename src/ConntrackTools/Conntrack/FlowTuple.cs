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

    /// <summary><c>192.168.11.7:33862 -> 10.232.3.28:8899</c>; IPv6 in brackets; no ports for port-less protocols.</summary>
    public override string ToString() => Addresses.Endpoint(SourceIP, SourcePort) + " -> " + Addresses.Endpoint(DestinationIP, DestinationPort);
}
