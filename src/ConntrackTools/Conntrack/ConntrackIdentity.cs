using System;
using System.Net;
using ConntrackTools.Inet;

namespace ConntrackTools.Conntrack;

/// <summary>
/// What tells live conntrack entries apart: the zone and the original tuple (addresses, protocol, ports or ICMP type,
/// code and id). The kernel keeps this unique: it refuses to confirm a second entry whose original tuple and zone
/// equal a live one's (nf_conntrack_confirm, ctnetlink_create_conntrack's EEXIST). The entry's <c>Id</c> (CTA_ID) is a
/// 32-bit hash and collides (4 pairs in a 200k table here; a few per dump under churn), so nothing may key on it alone.
/// </summary>
/// <remarks>
/// Plain values, no references: a dump of a million entries remembers all of them in about 48 MB and the garbage
/// collector never walks them. Addresses are kept as their <see cref="AddressBits"/> with the family beside them, so
/// 10.0.0.1 and ::10.0.0.1 stay different.
/// </remarks>
public readonly struct ConntrackIdentity : IEquatable<ConntrackIdentity>
{
    private readonly UInt128 _source, _destination;
    private readonly ushort _zone, _sourcePort, _destinationPort;
    private readonly byte _protocol, _family, _icmpType, _icmpCode;

    public ConntrackIdentity(ushort zone, byte protocol, IPAddress source, IPAddress destination, int? sourcePort, int? destinationPort,
        int? icmpType = null, int? icmpCode = null, int? icmpId = null)
        : this(zone, protocol, AddressBits.Of(source, out bool v6), AddressBits.Of(destination, out _), v6, sourcePort, destinationPort,
            icmpType, icmpCode, icmpId)
    {
    }

    private ConntrackIdentity(ushort zone, byte protocol, UInt128 source, UInt128 destination, bool v6, int? sourcePort,
        int? destinationPort, int? icmpType, int? icmpCode, int? icmpId)
    {
        _zone = zone;
        _protocol = protocol;
        _source = source;
        _destination = destination;
        _family = v6 ? (byte)6 : (byte)4;
        // An ICMP tuple has no ports; its id sits where the source port would (nf_conntrack_tuple: src.u.icmp.id).
        _sourcePort = (ushort)(sourcePort ?? icmpId ?? 0);
        _destinationPort = (ushort)(destinationPort ?? 0);
        _icmpType = (byte)(icmpType ?? 0);
        _icmpCode = (byte)(icmpCode ?? 0);
    }

    /// <summary>The identity of <paramref name="e"/>: its zone and original tuple (from the stored bits: no address object is made).</summary>
    public static ConntrackIdentity Of(ConntrackEntry e)
    {
        var o = e.Original;
        return new(e.Zone, o.ProtocolNumber, o.SourceBits, o.DestinationBits, o.SourceIsV6, o.SourcePort, o.DestinationPort,
            o.IcmpType, o.IcmpCode, o.IcmpId);
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
