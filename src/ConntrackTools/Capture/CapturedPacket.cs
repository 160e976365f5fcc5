using System;
using System.Globalization;
using System.Net;
using System.Text;
using ConntrackTools.Inet;

namespace ConntrackTools;

/// <summary>One IP packet, live from Watch-Packet or read from a capture file by Read-PacketCapture.</summary>
public sealed class CapturedPacket
{
    internal CapturedPacket() { }

    /// <summary>When the packet was captured (local time, microsecond resolution or better).</summary>
    public DateTime Timestamp { get; internal init; }

    /// <summary>The frame's number in its file (from 1, counting every frame, as Wireshark and tshark number them), or since a live capture began.</summary>
    public long FrameNumber { get; internal init; }

    /// <summary>The interface it was captured on; null for packets read from a file, which does not record it.</summary>
    public string? Interface { get; internal init; }

    public IPFamily AddressFamily { get; internal init; }
    public string SourceAddress => _source ??= Addresses.Canonical(SourceIP);
    public string DestinationAddress => _destination ??= Addresses.Canonical(DestinationIP);
    private string? _source, _destination;

    /// <summary>The addresses as the detector compares them.</summary>
    internal IPAddress SourceIP { get; init; } = IPAddress.None;
    internal IPAddress DestinationIP { get; init; } = IPAddress.None;

    /// <summary>TCP and UDP only; null for other protocols and for IP fragments after the first.</summary>
    public int? SourcePort { get; internal init; }
    public int? DestinationPort { get; internal init; }

    /// <summary>tcp, udp, icmp, icmpv6, sctp, dccp, gre, udplite, or the number (the upper-layer protocol, after IPv6 extension headers).</summary>
    public string Protocol => Protocols.Name(ProtocolNumber);

    public byte ProtocolNumber { get; internal init; }

    /// <summary>TCP only; null for other protocols.</summary>
    public TcpFlags? TcpFlags { get; internal init; }

    /// <summary>The TCP sequence number as on the wire (absolute, as tcpdump -S shows it).</summary>
    public uint? Sequence { get; internal init; }

    /// <summary>The TCP acknowledgment number field (meaningful when TcpFlags has Ack).</summary>
    public uint? Acknowledgment { get; internal init; }

    /// <summary>The TCP window field as on the wire, before window scaling.</summary>
    public int? Window { get; internal init; }

    /// <summary>The shift count of the TCP window scale option, which only SYN segments carry; null when absent.</summary>
    public int? WindowScale { get; internal init; }

    /// <summary>ICMP and ICMPv6 only.</summary>
    public int? IcmpType { get; internal init; }
    public int? IcmpCode { get; internal init; }

    /// <summary>
    /// Bytes after the transport header (TCP/UDP data; the ICMP body after its 8-byte header; the whole IP payload
    /// otherwise), from the IP header's length field, so it is right even when the capture kept fewer bytes.
    /// </summary>
    public int PayloadLength { get; internal init; }

    /// <summary>Length of the frame on the wire, link-layer header included (the capture record's original length).</summary>
    public int Length { get; internal init; }

    /// <summary>Bytes of the frame the capture kept: less than <see cref="Length"/> when a snap length cut it.</summary>
    public int CapturedLength { get; internal init; }

    /// <summary>The tunnels the packet was taken out of with -Decapsulate, outermost first (gre, vxlan, geneve, joined by '/'); null otherwise.</summary>
    public string? Encapsulation { get; internal init; }

    /// <summary>A one-line summary in tcpdump's style: <c>10.0.0.1:40000 > 10.0.0.2:80: Flags [S.], seq 1, ack 2, win 502, length 0</c>.</summary>
    public override string ToString()
    {
        var s = new StringBuilder(96);
        s.Append(Addresses.Endpoint(SourceIP, SourcePort)).Append(" > ")
         .Append(Addresses.Endpoint(DestinationIP, DestinationPort)).Append(": ");
        if (TcpFlags is { } flags)
        {
            s.Append("Flags [").Append(FlagLetters(flags)).Append("], seq ").Append(Sequence?.ToString(CultureInfo.InvariantCulture));
            if (flags.HasFlag(ConntrackTools.TcpFlags.Ack)) s.Append(", ack ").Append(Acknowledgment?.ToString(CultureInfo.InvariantCulture));
            s.Append(", win ").Append(Window?.ToString(CultureInfo.InvariantCulture)).Append(", ");
        }
        else if (IcmpType is int type)
        {
            s.Append(AddressFamily == IPFamily.IPv6 ? "ICMP6" : "ICMP").Append(CultureInfo.InvariantCulture, $" type {type} code {IcmpCode}, ");
        }
        else
        {
            s.Append(Protocol.ToUpperInvariant()).Append(", ");
        }
        return s.Append("length ").Append(PayloadLength.ToString(CultureInfo.InvariantCulture)).ToString();
    }

    // tcpdump's letters, in tcpdump's order: F S R P . U E W ("." is ACK).
    private static readonly (TcpFlags Flag, char Letter)[] Letters =
    [
        (ConntrackTools.TcpFlags.Fin, 'F'), (ConntrackTools.TcpFlags.Syn, 'S'), (ConntrackTools.TcpFlags.Rst, 'R'),
        (ConntrackTools.TcpFlags.Psh, 'P'), (ConntrackTools.TcpFlags.Ack, '.'), (ConntrackTools.TcpFlags.Urg, 'U'),
        (ConntrackTools.TcpFlags.Ece, 'E'), (ConntrackTools.TcpFlags.Cwr, 'W'),
    ];

    private static string FlagLetters(TcpFlags flags)
    {
        var s = new StringBuilder(8);
        foreach (var (flag, letter) in Letters)
            if ((flags & flag) != 0) s.Append(letter);
        return s.Length == 0 ? "none" : s.ToString();
    }
}
