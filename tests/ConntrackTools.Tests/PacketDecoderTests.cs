using System;
using System.Net;
using ConntrackTools.Capture;
using PacketDotNet;
using Xunit;
using static ConntrackTools.Tests.Frames;

namespace ConntrackTools.Tests;

/// <summary>Frames of every supported link type, IP version and transport become the right CapturedPacket; anything else is skipped, never thrown.</summary>
public class PacketDecoderTests
{
    private static readonly DateTime When = new(2026, 11, 25, 12, 54, 10, 123, DateTimeKind.Local);

    private static CapturedPacket Decoded(LinkLayers link, byte[] frame, int? wireLength = null)
    {
        var kind = PacketDecoder.Decode((int)link, frame, When, wireLength ?? frame.Length, "veth0", out var packet);
        Assert.Equal(FrameKind.Packet, kind);
        return packet!;
    }

    private static byte[] Syn => Tcp(33862, 8899, 1_000_000, 0, TcpFlags.Syn, 64240, windowScale: 7);

    [Fact]
    public void EthernetIPv4TcpSyn_HasEveryField()
    {
        var frame = Ethernet(EtherIPv4, IPv4("192.168.11.7", "10.232.3.28", ProtoTcp, Syn));
        var p = Decoded(LinkLayers.Ethernet, frame);
        Assert.Equal(When, p.Timestamp);
        Assert.Equal("veth0", p.Interface);
        Assert.Equal(IPFamily.IPv4, p.AddressFamily);
        Assert.Equal(IPAddress.Parse("192.168.11.7").ToString(), p.SourceAddress);
        Assert.Equal(IPAddress.Parse("10.232.3.28").ToString(), p.DestinationAddress);
        Assert.Equal(33862, p.SourcePort);
        Assert.Equal(8899, p.DestinationPort);
        Assert.Equal("tcp", p.Protocol);
        Assert.Equal(TcpFlags.Syn, p.TcpFlags);
        Assert.Equal(1_000_000u, p.Sequence);
        Assert.Equal(0u, p.Acknowledgment);
        Assert.Equal(64240, p.Window);
        Assert.Equal(7, p.WindowScale);
        Assert.Equal(0, p.PayloadLength);
        Assert.Equal(frame.Length, p.Length);
        Assert.Null(p.IcmpType);
    }

    [Fact]
    public void TcpFlags_MapBitForBit()
    {
        var all = TcpFlags.Fin | TcpFlags.Syn | TcpFlags.Rst | TcpFlags.Psh | TcpFlags.Ack | TcpFlags.Urg | TcpFlags.Ece | TcpFlags.Cwr;
        var p = Decoded(LinkLayers.Raw, IPv4("10.0.0.1", "10.0.0.2", ProtoTcp, Tcp(1, 2, 3, 4, all, 5)));
        Assert.Equal(all, p.TcpFlags);
        Assert.Null(p.WindowScale);
    }

    [Fact]
    public void IPv6WithExtensionHeaders_FindsTcpBehindThem()
    {
        var tcp = Tcp(40000, 443, 7, 9, TcpFlags.Psh | TcpFlags.Ack, 502, payload: 11);
        var frame = Ethernet(EtherIPv6, IPv6("fd00:11::7", "fd00:232:3::28", ProtoTcp, tcp, [HopByHop, DestinationOptions]));
        var p = Decoded(LinkLayers.Ethernet, frame);
        Assert.Equal(IPFamily.IPv6, p.AddressFamily);
        Assert.Equal(IPAddress.Parse("fd00:11::7").ToString(), p.SourceAddress);
        Assert.Equal("tcp", p.Protocol);
        Assert.Equal(40000, p.SourcePort);
        Assert.Equal(443, p.DestinationPort);
        Assert.Equal(11, p.PayloadLength);
    }

    [Fact]
    public void Udp_HasPortsAndPayload()
    {
        var p = Decoded(LinkLayers.Ethernet, Ethernet(EtherIPv4, IPv4("10.0.0.1", "10.0.0.2", ProtoUdp, Udp(5353, 53, 30))));
        Assert.Equal("udp", p.Protocol);
        Assert.Equal((5353, 53), (p.SourcePort!.Value, p.DestinationPort!.Value));
        Assert.Equal(30, p.PayloadLength);
        Assert.Null(p.TcpFlags);
        Assert.Null(p.Sequence);
    }

    [Fact]
    public void Icmp_HasTypeAndCodeButNoPorts()
    {
        var p = Decoded(LinkLayers.Raw, IPv4("10.0.0.1", "10.0.0.2", ProtoIcmp, Icmp(3, 3, 28)));
        Assert.Equal("icmp", p.Protocol);
        Assert.Equal((3, 3), (p.IcmpType!.Value, p.IcmpCode!.Value));
        Assert.Null(p.SourcePort);
        Assert.Equal(28, p.PayloadLength);
    }

    [Fact]
    public void IcmpV6_HasTypeAndCode()
    {
        var p = Decoded(LinkLayers.Raw, IPv6("fd00::1", "fd00::2", ProtoIcmpV6, Icmp(128, 0, 56)));
        Assert.Equal("icmpv6", p.Protocol);
        Assert.Equal((128, 0), (p.IcmpType!.Value, p.IcmpCode!.Value));
        Assert.Equal(56, p.PayloadLength);
    }

    public static TheoryData<string, LinkLayers, byte[]> LinkTypes => new()
    {
        { "Ethernet", LinkLayers.Ethernet, Ethernet(EtherIPv4, IPv4("10.0.0.1", "10.0.0.2", ProtoTcp, Syn)) },
        { "Ethernet with a VLAN tag", LinkLayers.Ethernet, EthernetVlan(100, EtherIPv4, IPv4("10.0.0.1", "10.0.0.2", ProtoTcp, Syn)) },
        { "Linux cooked v1", LinkLayers.LinuxSll, LinuxSll(EtherIPv4, IPv4("10.0.0.1", "10.0.0.2", ProtoTcp, Syn)) },
        { "Linux cooked v2 (tcpdump -i any)", LinkLayers.LinuxSll2, LinuxSll2(EtherIPv4, 3, IPv4("10.0.0.1", "10.0.0.2", ProtoTcp, Syn)) },
        { "raw IPv4", LinkLayers.Raw, IPv4("10.0.0.1", "10.0.0.2", ProtoTcp, Syn) },
        { "raw IPv6", LinkLayers.Raw, IPv6("fd00::1", "fd00::2", ProtoTcp, Syn) },
        { "Linux cooked v2, IPv6", LinkLayers.LinuxSll2, LinuxSll2(EtherIPv6, 3, IPv6("fd00::1", "fd00::2", ProtoTcp, Syn)) },
    };

    [Theory]
    [MemberData(nameof(LinkTypes))]
    public void EveryLinkType_YieldsTheSameTcpSegment(string name, LinkLayers link, byte[] frame)
    {
        var p = Decoded(link, frame);
        Assert.True(p.SourcePort == 33862 && p.DestinationPort == 8899 && p.TcpFlags == TcpFlags.Syn && p.Sequence == 1_000_000, name);
    }

    [Fact]
    public void ShortSnapLength_KeepsTheLengthsOfTheWire()
    {
        // 1400 bytes of data announced by the IP header, only 54 bytes of the frame captured.
        var frame = Ethernet(EtherIPv4, IPv4("10.0.0.1", "10.0.0.2", ProtoTcp, Tcp(1, 2, 3, 4, TcpFlags.Ack, 5), claimedPayload: 20 + 1400));
        var p = Decoded(LinkLayers.Ethernet, frame, wireLength: 14 + 20 + 20 + 1400);
        Assert.Equal(1400, p.PayloadLength);
        Assert.Equal(1454, p.Length);
    }

    [Fact]
    public void LaterFragments_HaveNoPorts()
    {
        var v4 = Decoded(LinkLayers.Raw, IPv4("10.0.0.1", "10.0.0.2", ProtoUdp, new byte[64], fragmentOffset8: 185));
        var v6 = Decoded(LinkLayers.Raw, IPv6("fd00::1", "fd00::2", ProtoUdp, new byte[64], [Fragment], fragmentOffset8: 185));
        foreach (var p in new[] { v4, v6 })
        {
            Assert.Equal("udp", p.Protocol);
            Assert.Null(p.SourcePort);
            Assert.Equal(64, p.PayloadLength);
        }
    }

    [Fact]
    public void NonIpFrames_AreSkipped()
    {
        Assert.Equal(FrameKind.NotIp, PacketDecoder.Decode((int)LinkLayers.Ethernet, Arp(), When, 42, null, out var packet));
        Assert.Null(packet);
    }

    [Fact]
    public void FrameCutInsideAHeader_IsUndecodable()
    {
        var frame = Ethernet(EtherIPv4, IPv4("10.0.0.1", "10.0.0.2", ProtoTcp, Syn));
        Assert.Equal(FrameKind.Undecodable, PacketDecoder.Decode((int)LinkLayers.Ethernet, frame.AsSpan(0, 24), When, frame.Length, null, out _));
    }

    [Fact]
    public void RandomBytes_NeverThrow()
    {
        var random = new Random(4);
        foreach (var link in new[] { LinkLayers.Ethernet, LinkLayers.Raw, LinkLayers.LinuxSll, LinkLayers.LinuxSll2 })
        {
            for (int i = 0; i < 5000; i++)
            {
                var frame = new byte[random.Next(0, 96)];
                random.NextBytes(frame);
                // Make half of the raw frames look like IP, so the IP and transport decoders are reached too.
                if (link == LinkLayers.Raw && frame.Length > 0 && i % 2 == 0) frame[0] = (byte)(i % 4 == 0 ? 0x45 : 0x60);
                var kind = PacketDecoder.Decode((int)link, frame, When, frame.Length, null, out var packet);
                Assert.Equal(kind == FrameKind.Packet, packet is not null);
            }
        }
    }

    [Theory]
    [InlineData(TcpFlags.Syn, "10.0.0.1:40000 > 10.0.0.2:80: Flags [S], seq 1, win 502, length 0")]
    [InlineData(TcpFlags.Syn | TcpFlags.Ack, "10.0.0.1:40000 > 10.0.0.2:80: Flags [S.], seq 1, ack 2, win 502, length 0")]
    [InlineData(TcpFlags.Rst, "10.0.0.1:40000 > 10.0.0.2:80: Flags [R], seq 1, win 502, length 0")]
    [InlineData(TcpFlags.Fin | TcpFlags.Psh | TcpFlags.Ack, "10.0.0.1:40000 > 10.0.0.2:80: Flags [FP.], seq 1, ack 2, win 502, length 0")]
    public void ToString_ReadsLikeTcpdump(TcpFlags flags, string expected)
    {
        var p = Decoded(LinkLayers.Raw, IPv4("10.0.0.1", "10.0.0.2", ProtoTcp, Tcp(40000, 80, 1, 2, flags, 502)));
        Assert.Equal(expected, p.ToString());
    }

    [Fact]
    public void ToString_OfOtherProtocols()
    {
        Assert.Equal("[fd00::1]:5353 > [fd00::2]:53: UDP, length 4",
            Decoded(LinkLayers.Raw, IPv6("fd00::1", "fd00::2", ProtoUdp, Udp(5353, 53, 4))).ToString());
        Assert.Equal("10.0.0.1 > 10.0.0.2: ICMP type 8 code 0, length 56",
            Decoded(LinkLayers.Raw, IPv4("10.0.0.1", "10.0.0.2", ProtoIcmp, Icmp(8, 0, 56))).ToString());
    }
}
