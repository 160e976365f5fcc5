using System;
using System.Net;
using ConntrackTools.Inet;

namespace ConntrackTools;

/// <summary>One direction of a tracked connection: addresses, protocol, ports or ICMP fields.</summary>
/// <remarks>
/// A dump makes two of these per entry, millions in all, and most are never looked at closely (<c>| Out-Null</c>,
/// Measure-Object, a port filter). So the addresses are held as plain 128-bit values (<see cref="AddressBits"/>)
/// and the optional numbers as plain fields with presence bits: the <see cref="IPAddress"/> objects and their text
/// are made on first use, and a tuple is 80 bytes with nothing else to allocate.
/// </remarks>
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

    private UInt128 _source, _destination;
    private IPAddress? _sourceIP, _destinationIP;
    private ushort _sourcePort, _destinationPort, _icmpId, _zone;
    private byte _icmpType, _icmpCode;
    private Has _has;

    [Flags]
    private enum Has : byte
    {
        SourceV6 = 1, DestinationV6 = 2, SourcePort = 4, DestinationPort = 8, IcmpType = 16, IcmpCode = 32, IcmpId = 64, Zone = 128,
    }

    /// <summary>Canonical text (IPv6 compressed, lower case).</summary>
    public string SourceAddress => Addresses.Canonical(SourceIP);
    public string DestinationAddress => Addresses.Canonical(DestinationIP);

    /// <summary>The addresses as objects, made from the stored bits on first use (or kept as set).</summary>
    internal IPAddress SourceIP
    {
        get => _sourceIP ??= AddressBits.ToAddress(_source, SourceIsV6);
        set
        {
            _source = AddressBits.Of(value, out bool v6);
            Set(Has.SourceV6, v6);
            _sourceIP = value;
        }
    }

    internal IPAddress DestinationIP
    {
        get => _destinationIP ??= AddressBits.ToAddress(_destination, DestinationIsV6);
        set
        {
            _destination = AddressBits.Of(value, out bool v6);
            Set(Has.DestinationV6, v6);
            _destinationIP = value;
        }
    }

    /// <summary>The source as <see cref="AddressBits"/> (with <see cref="SourceIsV6"/>), without making an object.</summary>
    internal UInt128 SourceBits => _source;
    internal UInt128 DestinationBits => _destination;
    internal bool SourceIsV6 => (_has & Has.SourceV6) != 0;
    internal bool DestinationIsV6 => (_has & Has.DestinationV6) != 0;

    /// <summary>
    /// Fills a new tuple with the fields the kernel sends for an address pair with ports, in one step: the fast path
    /// of <see cref="ConntrackTools.Conntrack.ConntrackDecoder"/> (what <see cref="SetSource"/>, <see cref="SetDestination"/>,
    /// <see cref="ProtocolNumber"/> and the two port setters do one by one).
    /// </summary>
    internal void SetAddressesAndPorts(UInt128 source, UInt128 destination, bool v6, byte protocol, ushort sourcePort, ushort destinationPort)
    {
        _source = source;
        _destination = destination;
        ProtocolNumber = protocol;
        _sourcePort = sourcePort;
        _destinationPort = destinationPort;
        _has = (v6 ? Has.SourceV6 | Has.DestinationV6 : 0) | Has.SourcePort | Has.DestinationPort;
    }

    /// <summary>Sets the source from its 4 or 16 network-order bytes (as ctnetlink sends them).</summary>
    internal void SetSource(ReadOnlySpan<byte> bytes)
    {
        _source = AddressBits.FromBytes(bytes, out bool v6);
        Set(Has.SourceV6, v6);
        _sourceIP = null;
    }

    internal void SetDestination(ReadOnlySpan<byte> bytes)
    {
        _destination = AddressBits.FromBytes(bytes, out bool v6);
        Set(Has.DestinationV6, v6);
        _destinationIP = null;
    }

    /// <summary>True when <paramref name="match"/> holds the source, tested on its bytes (no address object is made).</summary>
    internal bool SourceIn(AddressMatch match) => In(match, _source, SourceIsV6);

    internal bool DestinationIn(AddressMatch match) => In(match, _destination, DestinationIsV6);

    private static bool In(AddressMatch match, UInt128 bits, bool v6)
    {
        Span<byte> bytes = stackalloc byte[16];
        return match.Contains(bytes[..AddressBits.WriteBytes(bits, v6, bytes)]);
    }

    /// <summary>True when this tuple's source is <paramref name="other"/>'s destination (same family and bits).</summary>
    internal bool SourceMirrors(FlowTuple other) => _source == other._destination && SourceIsV6 == other.DestinationIsV6;

    /// <summary>True when this tuple's destination is <paramref name="other"/>'s source.</summary>
    internal bool DestinationMirrors(FlowTuple other) => _destination == other._source && DestinationIsV6 == other.SourceIsV6;

    /// <summary>Null for protocols without ports (icmp, gre, ...).</summary>
    public int? SourcePort
    {
        get => Is(Has.SourcePort) ? _sourcePort : null;
        internal set => _sourcePort = Store(Has.SourcePort, value, ushort.MaxValue, nameof(SourcePort));
    }

    public int? DestinationPort
    {
        get => Is(Has.DestinationPort) ? _destinationPort : null;
        internal set => _destinationPort = Store(Has.DestinationPort, value, ushort.MaxValue, nameof(DestinationPort));
    }

    /// <summary>tcp, udp, icmp, icmpv6, sctp, dccp, gre, udplite, or the number.</summary>
    public string Protocol => Protocols.Name(ProtocolNumber);

    public byte ProtocolNumber { get; internal set; }

    /// <summary>ICMP/ICMPv6 only.</summary>
    public int? IcmpType
    {
        get => Is(Has.IcmpType) ? _icmpType : null;
        internal set => _icmpType = (byte)Store(Has.IcmpType, value, byte.MaxValue, nameof(IcmpType));
    }

    public int? IcmpCode
    {
        get => Is(Has.IcmpCode) ? _icmpCode : null;
        internal set => _icmpCode = (byte)Store(Has.IcmpCode, value, byte.MaxValue, nameof(IcmpCode));
    }

    public int? IcmpId
    {
        get => Is(Has.IcmpId) ? _icmpId : null;
        internal set => _icmpId = Store(Has.IcmpId, value, ushort.MaxValue, nameof(IcmpId));
    }

    /// <summary>Per-direction zone (CTA_TUPLE_ZONE), when the kernel reports one.</summary>
    public ushort? Zone
    {
        get => Is(Has.Zone) ? _zone : null;
        internal set
        {
            Set(Has.Zone, value is not null);
            _zone = value ?? 0;
        }
    }

    private bool Is(Has bit) => (_has & bit) != 0;

    private void Set(Has bit, bool on) => _has = on ? _has | bit : _has & ~bit;

    /// <summary>Records whether <paramref name="value"/> is present and returns it as the field stores it.</summary>
    private ushort Store(Has bit, int? value, int max, string name)
    {
        if (value is int v && (v < 0 || v > max))
            throw new ArgumentOutOfRangeException(name, v, $"{name} is between 0 and {max}.");
        Set(bit, value is not null);
        return (ushort)(value ?? 0);
    }

    /// <summary>
    /// The tuple of the other direction when nothing is translated, as the kernel computes it (nf_ct_invert_tuple):
    /// addresses and ports swapped; for ICMP and ICMPv6 the query type becomes its answer (echo request 8 and echo
    /// reply 0, ...) with code and id kept. Types the kernel cannot invert keep their number.
    /// </summary>
    public FlowTuple Inverted()
    {
        var r = Mirrored();
        if (ProtocolNumber is Protocols.Icmp or Protocols.IcmpV6)
        {
            r.IcmpType = IcmpType is int t ? InvertIcmpType(ProtocolNumber, t) : null;
            r.IcmpCode = IcmpCode;
            r.IcmpId = IcmpId;
        }
        return r;
    }

    /// <summary>Addresses and ports swapped, nothing else carried over (no ICMP fields, no zone).</summary>
    internal FlowTuple Mirrored()
    {
        var r = new FlowTuple { ProtocolNumber = ProtocolNumber, SourcePort = DestinationPort, DestinationPort = SourcePort };
        r._source = _destination;
        r._destination = _source;
        r.Set(Has.SourceV6, DestinationIsV6);
        r.Set(Has.DestinationV6, SourceIsV6);
        r._sourceIP = _destinationIP;
        r._destinationIP = _sourceIP;
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
