using System;
using System.Linq;
using PacketDotNet;

namespace ConntrackTools.Capture;

/// <summary>What a captured frame turned out to be.</summary>
internal enum FrameKind
{
    /// <summary>An IPv4 or IPv6 packet: a <see cref="CapturedPacket"/> was made.</summary>
    Packet,
    /// <summary>Not IP (ARP, LLDP, ...): skipped.</summary>
    NotIp,
    /// <summary>Headers cut short or inconsistent, or a link type PacketDotNet does not know: skipped.</summary>
    Undecodable,
}

/// <summary>
/// Turns one captured frame into a <see cref="CapturedPacket"/> with PacketDotNet, for every link type it knows
/// (Ethernet with or without VLAN tags, Linux cooked SLL and SLL2 as 'tcpdump -i any' writes them, raw IP, ...).
/// Lengths come from the IP header, not from the bytes captured, so a short snap length does not change them.
/// </summary>
internal static class PacketDecoder
{
    public static FrameKind Decode(LinkLayers linkType, byte[] frame, DateTime timestamp, int wireLength, string? interfaceName, out CapturedPacket? packet)
    {
        packet = null;
        try
        {
            return DecodeIp(linkType, frame, timestamp, wireLength, interfaceName, out packet);
        }
        catch (Exception e) when (e is IndexOutOfRangeException or ArgumentException or InvalidOperationException or NotImplementedException)
        {
            // PacketDotNet reads header fields without bounds checks: a frame cut short inside a header, or with
            // lengths that point outside it, throws one of the first three; a link-layer protocol it does not
            // implement throws the last. Such a frame is counted and skipped.
            return FrameKind.Undecodable;
        }
    }

    private static FrameKind DecodeIp(LinkLayers linkType, byte[] frame, DateTime timestamp, int wireLength, string? interfaceName, out CapturedPacket? packet)
    {
        packet = null;
        var ip = Packet.ParsePacket(linkType, frame).Extract<IPPacket>();
        IPFamily family;
        int ipPayload;
        bool laterFragment;
        switch (ip)
        {
            case IPv4Packet v4:
                family = IPFamily.IPv4;
                ipPayload = v4.PayloadLength;
                laterFragment = v4.FragmentOffset != 0;
                break;
            case IPv6Packet v6:
                family = IPFamily.IPv6;
                ipPayload = v6.PayloadLength - v6.ExtensionHeadersLength;
                laterFragment = v6.ExtensionHeaders.OfType<IPv6FragmentationExtensionHeader>().Any(h => h.FragmentOffset != 0);
                break;
            default:
                return FrameKind.NotIp;
        }

        // Only the first fragment carries the transport header; later ones are IP payload without ports.
        var transport = laterFragment ? null : ip.PayloadPacket;
        int transportHeader = 0;
        int? sourcePort = null, destinationPort = null, window = null, windowScale = null, icmpType = null, icmpCode = null;
        uint? sequence = null, acknowledgment = null;
        TcpFlags? flags = null;
        switch (transport)
        {
            case TcpPacket tcp:
                transportHeader = tcp.DataOffset * 4;
                sourcePort = tcp.SourcePort;
                destinationPort = tcp.DestinationPort;
                sequence = tcp.SequenceNumber;
                acknowledgment = tcp.AcknowledgmentNumber;
                window = tcp.WindowSize;
                // The low byte of the flags field holds the eight bits TcpFlags names (the ninth, NS, is historic).
                flags = (TcpFlags)(tcp.Flags & 0xff);
                if (tcp.Synchronize) windowScale = WindowScaleOption(tcp.HeaderData);
                break;
            case UdpPacket udp:
                transportHeader = 8;
                sourcePort = udp.SourcePort;
                destinationPort = udp.DestinationPort;
                break;
            case IcmpV4Packet icmp:
                transportHeader = 8;
                icmpType = (ushort)icmp.TypeCode >> 8;
                icmpCode = (ushort)icmp.TypeCode & 0xff;
                break;
            case IcmpV6Packet icmp6:
                transportHeader = 8;
                icmpType = (int)icmp6.Type;
                icmpCode = icmp6.Code;
                break;
        }
        int payload = ipPayload - transportHeader;
        if (payload < 0) return FrameKind.Undecodable;

        packet = new CapturedPacket
        {
            Timestamp = timestamp,
            Interface = interfaceName,
            AddressFamily = family,
            SourceIP = ip.SourceAddress,
            DestinationIP = ip.DestinationAddress,
            ProtocolNumber = (byte)ip.Protocol,
            SourcePort = sourcePort,
            DestinationPort = destinationPort,
            TcpFlags = flags,
            Sequence = sequence,
            Acknowledgment = acknowledgment,
            Window = window,
            WindowScale = windowScale,
            IcmpType = icmpType,
            IcmpCode = icmpCode,
            PayloadLength = payload,
            Length = wireLength,
        };
        return FrameKind.Packet;
    }

    /// <summary>
    /// The shift count of the window scale option (RFC 7323, kind 3) in a TCP header, or null. Read here rather than
    /// through PacketDotNet's option parser, which throws on segments with URG set and on a header without options.
    /// </summary>
    private static int? WindowScaleOption(ReadOnlySpan<byte> header)
    {
        var options = header[20..];
        while (options.Length > 0)
        {
            byte kind = options[0];
            if (kind == 0) break;                                   // end of option list
            if (kind == 1) { options = options[1..]; continue; }    // no-operation (padding)
            if (options.Length < 2 || options[1] < 2 || options[1] > options.Length) break;
            if (kind == 3 && options[1] == 3) return options[2];
            options = options[options[1]..];
        }
        return null;
    }
}
