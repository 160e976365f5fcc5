using System;
using System.Buffers.Binary;
using System.Net;

namespace ConntrackTools.Conntrack;

/// <summary>
/// What tells live conntrack entries apart: the zone and the original tuple (addresses, protocol, ports or ICMP type,
/// code and id). The kernel keeps this unique: it refuses to confirm a second entry whose original tuple and zone
/// equal a live one's (nf_conntrack_confirm, ctnetlink_create_conntrack's EEXIST). The entry's <c>Id</c> (CTA_ID) is a
/// 32-bit hash and collides (4 pairs in a 200k table here; a few per dump under churn), so nothing may key on it alone.
/// </summary>
/// <remarks>
/// Plain values, no references: a dump of a million entries remembers all of them in about 48 MB and the garbage
/// collector never walks them. Addresses are kept as 16 bytes (an IPv4 address as its IPv4-mapped IPv6 form) with the
/// family beside them, so 10.0.0.1 and ::ffff:10.0.0.1 stay different.
/// </remarks>
public readonly struct ConntrackIdentity : IEquatable<ConntrackIdentity>
{
    private readonly UInt128 _source, _destination;
    private readonly ushort _zone, _sourcePort, _destinationPort;
    private readonly byte _protocol, _family, _icmpType, _icmpCode;

    public ConntrackIdentity(ushort zone, byte protocol, IPAddress source, IPAddress destination, int? sourcePort, int? destinationPort,
        int? icmpType = null, int? icmpCode = null, int? icmpId = null)
    {
        _zone = zone;
        _protocol = protocol;
        _source = Bits(source, out bool v4);
        _destination = Bits(destination, out _);
        _family = v4 ? (byte)4 : (byte)6;
        // An ICMP tuple has no ports; its id sits where the source port would (nf_conntrack_tuple: src.u.icmp.id).
        _sourcePort = (ushort)(sourcePort ?? icmpId ?? 0);
        _destinationPort = (ushort)(destinationPort ?? 0);
        _icmpType = (byte)(icmpType ?? 0);
        _icmpCode = (byte)(icmpCode ?? 0);
    }

    /// <summary>The identity of <paramref name="e"/>: its zone and original tuple.</summary>
    public static ConntrackIdentity Of(ConntrackEntry e)
    {
        var o = e.Original;
        return new(e.Zone, o.ProtocolNumber, o.SourceIP, o.DestinationIP, o.SourcePort, o.DestinationPort, o.IcmpType, o.IcmpCode, o.IcmpId);
    }

    private static UInt128 Bits(IPAddress address, out bool v4)
    {
        Span<byte> bytes = stackalloc byte[16];
        if (!address.TryWriteBytes(bytes, out int n)) throw new ArgumentException("not an IP address", nameof(address));
        v4 = n == 4;
        if (v4)
        {
            // ::ffff:a.b.c.d
            bytes[..4].CopyTo(bytes[12..]);
            bytes[..10].Clear();
            bytes[10] = 0xff;
            bytes[11] = 0xff;
        }
        return BinaryPrimitives.ReadUInt128BigEndian(bytes);
    }

    public bool Equals(ConntrackIdentity other) =>
        _source == other._source && _destination == other._destination && _zone == other._zone && _sourcePort == other._sourcePort
        && _destinationPort == other._destinationPort && _protocol == other._protocol && _family == other._family
        && _icmpType == other._icmpType && _icmpCode == other._icmpCode;

    public override bool Equals(object? obj) => obj is ConntrackIdentity other && Equals(other);

    public override int GetHashCode() =>
        HashCode.Combine(_source, _destination, _zone, _sourcePort, _destinationPort, _protocol, _family, (_icmpType << 8) | _icmpCode);

    public static bool operator ==(ConntrackIdentity a, ConntrackIdentity b) => a.Equals(b);

    public static bool operator !=(ConntrackIdentity a, ConntrackIdentity b) => !a.Equals(b);
}
