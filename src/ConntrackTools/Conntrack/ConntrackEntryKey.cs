using System.Net;

namespace ConntrackTools.Conntrack;

/// <summary>
/// Identifies one live conntrack entry across a dump and events: the kernel's id together with the original tuple
/// and zone. The id alone is a 32-bit hash, which collides now and then in tables of a million entries.
/// </summary>
public readonly record struct ConntrackEntryKey(
    uint Id, ushort Zone, byte Protocol, IPAddress Source, IPAddress Destination, int? SourcePort, int? DestinationPort, int? IcmpId)
{
    public static ConntrackEntryKey Of(ConntrackEntry e)
    {
        var o = e.Original;
        return new(e.Id, e.Zone, o.ProtocolNumber, o.SourceIP, o.DestinationIP, o.SourcePort, o.DestinationPort, o.IcmpId);
    }
}
