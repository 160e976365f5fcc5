using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Linq;
using System.Net;

namespace ConntrackTools.Tests;

/// <summary>
/// Builds wire frames byte by byte, independently of PacketDotNet, so the decoder is tested against formats as the
/// RFCs and tcpdump define them. Checksums are left zero: nothing on the read path checks them.
/// </summary>
internal static class Frames
{
    public const ushort EtherIPv4 = 0x0800, EtherIPv6 = 0x86dd, EtherArp = 0x0806, EtherVlan = 0x8100;
    public const byte ProtoTcp = 6, ProtoUdp = 17, ProtoIcmp = 1, ProtoIcmpV6 = 58;
    public const byte HopByHop = 0, DestinationOptions = 60, Fragment = 44;

    public static byte[] Ethernet(ushort etherType, byte[] payload) =>
        [.. Mac(2), .. Mac(1), .. U16(etherType), .. payload];

    /// <summary>An 802.1Q-tagged Ethernet frame.</summary>
    public static byte[] EthernetVlan(ushort vlanId, ushort etherType, byte[] payload) =>
        [.. Mac(2), .. Mac(1), .. U16(EtherVlan), .. U16(vlanId), .. U16(etherType), .. payload];

    /// <summary>Linux cooked capture v1 (DLT_LINUX_SLL): 16-byte header, protocol last.</summary>
    public static byte[] LinuxSll(ushort protocol, byte[] payload) =>
        [.. U16(0), .. U16(1), .. U16(6), .. Mac(1), 0, 0, .. U16(protocol), .. payload];

    /// <summary>Linux cooked capture v2 (DLT_LINUX_SLL2), what 'tcpdump -i any' writes: protocol first, then the interface index.</summary>
    public static byte[] LinuxSll2(ushort protocol, int interfaceIndex, byte[] payload) =>
        [.. U16(protocol), 0, 0, .. U32((uint)interfaceIndex), .. U16(1), 0, 6, .. Mac(1), 0, 0, .. payload];

    /// <summary>An ARP request (who-has 10.0.0.2), without its link-layer header.</summary>
    public static byte[] ArpRequest() => [.. U16(1), .. U16(EtherIPv4), 6, 4, .. U16(1), .. Mac(1), 10, 0, 0, 1, .. new byte[6], 10, 0, 0, 2];

    public static byte[] Arp() => Ethernet(EtherArp, ArpRequest());

    /// <summary>An IPv4 header (20 bytes, no options) around <paramref name="payload"/>; the total length can be claimed larger than what follows (a short snap length).</summary>
    public static byte[] IPv4(string source, string destination, byte protocol, byte[] payload, int fragmentOffset8 = 0, int? claimedPayload = null)
    {
        var header = new byte[20];
        header[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(2), (ushort)(20 + (claimedPayload ?? payload.Length)));
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(6), (ushort)fragmentOffset8);
        header[8] = 64;
        header[9] = protocol;
        IPAddress.Parse(source).GetAddressBytes().CopyTo(header, 12);
        IPAddress.Parse(destination).GetAddressBytes().CopyTo(header, 16);
        return [.. header, .. payload];
    }

    /// <summary>
    /// An IPv6 header, then extension headers of the given types (8 bytes each; a Fragment header carries
    /// <paramref name="fragmentOffset8"/>), then <paramref name="payload"/>.
    /// </summary>
    public static byte[] IPv6(string source, string destination, byte protocol, byte[] payload, byte[]? extensionHeaders = null, int fragmentOffset8 = 0)
    {
        extensionHeaders ??= [];
        var chain = new List<byte>();
        for (int i = 0; i < extensionHeaders.Length; i++)
        {
            byte next = i + 1 < extensionHeaders.Length ? extensionHeaders[i + 1] : protocol;
            byte[] fragmentField = U16((ushort)(fragmentOffset8 << 3));
            chain.AddRange(extensionHeaders[i] == Fragment
                ? [next, 0, .. fragmentField, 0, 0, 0, 1]
                : [next, 0, 1, 4, 0, 0, 0, 0]); // a PadN option fills the 6 bytes of options
        }
        var header = new byte[40];
        header[0] = 0x60;
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(4), (ushort)(chain.Count + payload.Length));
        header[6] = extensionHeaders.Length > 0 ? extensionHeaders[0] : protocol;
        header[7] = 64;
        IPAddress.Parse(source).GetAddressBytes().CopyTo(header, 8);
        IPAddress.Parse(destination).GetAddressBytes().CopyTo(header, 24);
        return [.. header, .. chain, .. payload];
    }

    /// <summary>A TCP header (with MSS and, when given, window scale options) and <paramref name="payload"/> bytes of data.</summary>
    public static byte[] Tcp(int sourcePort, int destinationPort, uint sequence, uint acknowledgment, TcpFlags flags, ushort window, int payload = 0, int? windowScale = null)
    {
        byte[] options = windowScale is int ws ? [2, 4, 0x05, 0xb4, 1, 3, 3, (byte)ws] : [];
        var header = new byte[20 + options.Length];
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(0), (ushort)sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(2), (ushort)destinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), sequence);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(8), acknowledgment);
        header[12] = (byte)(header.Length / 4 << 4);
        header[13] = (byte)flags;
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(14), window);
        options.CopyTo(header, 20);
        return [.. header, .. Data(payload)];
    }

    public static byte[] Udp(int sourcePort, int destinationPort, int payload) =>
        [.. U16((ushort)sourcePort), .. U16((ushort)destinationPort), .. U16((ushort)(8 + payload)), 0, 0, .. Data(payload)];

    /// <summary>An ICMP or ICMPv6 message: type, code, checksum, four bytes of rest-of-header, then data.</summary>
    public static byte[] Icmp(byte type, byte code, int payload) => [type, code, 0, 0, 0, 1, 0, 1, .. Data(payload)];

    private static byte[] Data(int length) => Enumerable.Range(0, length).Select(i => (byte)('a' + i % 26)).ToArray();

    private static byte[] Mac(byte last) => [2, 0, 0, 0, 0, last];

    private static byte[] U16(ushort v)
    {
        var b = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(b, v);
        return b;
    }

    private static byte[] U32(uint v)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, v);
        return b;
    }
}
