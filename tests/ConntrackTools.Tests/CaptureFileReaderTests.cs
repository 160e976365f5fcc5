using System;
using System.Collections.Generic;
using System.Linq;
using ConntrackTools.Capture;
using Xunit;
using static ConntrackTools.Tests.Frames;

namespace ConntrackTools.Tests;

/// <summary>pcap and pcapng files as tcpdump and tshark write them, read through libpcap; damaged and foreign files.</summary>
public class CaptureFileReaderTests
{
    private static readonly DateTime Start = new(2026, 11, 25, 12, 54, 10, DateTimeKind.Utc);

    // A handshake, one data segment and an ARP frame in between, 1.5 ms apart (whole microseconds, so every format
    // keeps them exactly), each wrapped by link(etherType, payload).
    private static List<CaptureFrame> Conversation(Func<ushort, byte[], byte[]> link) =>
    [
        new(Start, link(EtherIPv4, IPv4("192.168.11.7", "10.232.3.28", ProtoTcp, Tcp(31445, 8899, 100, 0, TcpFlags.Syn, 64240, windowScale: 7)))),
        new(Start.AddTicks(15_000), link(EtherIPv4, IPv4("10.232.3.28", "192.168.11.7", ProtoTcp, Tcp(8899, 31445, 900, 101, TcpFlags.Syn | TcpFlags.Ack, 65160, windowScale: 7)))),
        new(Start.AddTicks(30_000), link(EtherArp, ArpRequest())),
        new(Start.AddTicks(45_000), link(EtherIPv4, IPv4("192.168.11.7", "10.232.3.28", ProtoTcp, Tcp(31445, 8899, 101, 901, TcpFlags.Psh | TcpFlags.Ack, 502, payload: 5)))),
    ];

    private static readonly Func<ushort, byte[], byte[]> AsEthernet = Ethernet;

    private static List<CapturedPacket> ReadAll(string path, out CaptureFileReader reader, string? filter = null)
    {
        reader = CaptureFileReader.Open(path, filter);
        using (reader) return reader.ReadPackets().ToList();
    }

    private static void AssertConversation(IReadOnlyList<CapturedPacket> packets)
    {
        Assert.Equal(3, packets.Count);
        Assert.Equal(new[] { TcpFlags.Syn, TcpFlags.Syn | TcpFlags.Ack, TcpFlags.Psh | TcpFlags.Ack }, packets.Select(p => p.TcpFlags!.Value));
        Assert.Equal(new[] { Start, Start.AddTicks(15_000), Start.AddTicks(45_000) }, packets.Select(p => p.Timestamp.ToUniversalTime()));
        Assert.Equal(5, packets[2].PayloadLength);
        Assert.All(packets, p => Assert.Null(p.Interface));
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void Pcap_MicroAndNanosecond_LittleAndBigEndian(bool nanoseconds, bool bigEndian)
    {
        using var file = new TempFile(CaptureFiles.Pcap(CaptureFiles.LinkEthernet, Conversation(AsEthernet), nanoseconds, bigEndian));
        var packets = ReadAll(file.Path, out var reader);
        AssertConversation(packets);
        Assert.Equal(4, reader.Statistics.Frames);
        Assert.Equal(1, reader.Statistics.NotIp);
        Assert.Null(reader.Damage);
    }

    [Fact]
    public void Pcapng_AsTsharkWritesIt()
    {
        var frames = Conversation(AsEthernet).Select(f => (0, f));
        using var file = new TempFile(CaptureFiles.Pcapng([CaptureFiles.LinkEthernet], frames), ".pcapng");
        AssertConversation(ReadAll(file.Path, out _));
    }

    [Fact]
    public void Pcapng_WithSeveralInterfaces()
    {
        var frames = Conversation(AsEthernet).Select((f, i) => (i % 2, f));
        using var file = new TempFile(CaptureFiles.Pcapng([CaptureFiles.LinkEthernet, CaptureFiles.LinkEthernet], frames), ".pcapng");
        AssertConversation(ReadAll(file.Path, out _));
    }

    [Fact]
    public void Pcapng_WithInterfacesOfDifferentLinkTypes_IsReadWhole()
    {
        // Ethernet frames on interface 0, the same packets as raw IP on interface 1 (libpcap stopped at the second link type).
        var frames = Conversation(AsEthernet).Select(f => (0, f))
            .Concat(Conversation((_, payload) => payload).Where((f, i) => i != 2).Select(f => (1, f)));
        using var file = new TempFile(CaptureFiles.Pcapng([CaptureFiles.LinkEthernet, CaptureFiles.LinkRaw], frames), ".pcapng");
        var packets = ReadAll(file.Path, out var reader);
        AssertConversation(packets.Take(3).ToList());
        AssertConversation(packets.Skip(3).ToList());
        Assert.Null(reader.Damage);
        Assert.Equal(new[] { CaptureFiles.LinkEthernet, CaptureFiles.LinkRaw }, reader.LinkTypes.Order());
    }

    [Fact]
    public void LinuxCookedV2_AsTcpdumpAnyWritesIt()
    {
        var frames = Conversation((etherType, payload) => LinuxSll2(etherType, 2, payload));
        using var file = new TempFile(CaptureFiles.Pcap(CaptureFiles.LinkLinuxSll2, frames));
        AssertConversation(ReadAll(file.Path, out var reader));
        Assert.Equal(1, reader.Statistics.NotIp);
    }

    [Fact]
    public void RawIP_AndIPv6()
    {
        var frames = new List<CaptureFrame>
        {
            new(Start, IPv4("10.0.0.1", "10.0.0.2", ProtoUdp, Udp(1, 2, 3))),
            new(Start, IPv6("fd00::1", "fd00::2", ProtoTcp, Tcp(1, 2, 3, 4, TcpFlags.Ack, 5), [HopByHop])),
        };
        using var file = new TempFile(CaptureFiles.Pcap(CaptureFiles.LinkRaw, frames));
        var packets = ReadAll(file.Path, out _);
        Assert.Equal(new[] { "udp", "tcp" }, packets.Select(p => p.Protocol));
        Assert.Equal(IPFamily.IPv6, packets[1].AddressFamily);
    }

    [Fact]
    public void Filter_IsAppliedWhileReading()
    {
        using var file = new TempFile(CaptureFiles.Pcap(CaptureFiles.LinkEthernet, Conversation(AsEthernet)));
        var packets = ReadAll(file.Path, out _, "tcp[tcpflags] & tcp-syn != 0");
        Assert.Equal(2, packets.Count);
        Assert.All(packets, p => Assert.True(p.TcpFlags!.Value.HasFlag(TcpFlags.Syn)));
    }

    [Fact]
    public void BadFilter_IsInvalidCaptureFilter()
    {
        using var file = new TempFile(CaptureFiles.Pcap(CaptureFiles.LinkEthernet, Conversation(AsEthernet)));
        Assert.Throws<InvalidCaptureFilterException>(() => CaptureFileReader.Open(file.Path, "tcp port"));
    }

    [Fact]
    public void TruncatedFile_YieldsThePacketsBeforeTheDamage()
    {
        var whole = CaptureFiles.Pcap(CaptureFiles.LinkEthernet, Conversation(AsEthernet));
        using var file = new TempFile(whole[..^10]);  // cut inside the last frame
        var packets = ReadAll(file.Path, out var reader);
        Assert.Equal(2, packets.Count);
        Assert.NotNull(reader.Damage);
        Assert.Contains("cut short inside frame 4", reader.Damage);
    }

    [Fact]
    public void MissingFile_IsCaptureFileNotFound()
    {
        var ex = Assert.Throws<CaptureFileNotFoundException>(() => CaptureFileReader.Open("/nonexistent/ctt.pcap"));
        Assert.Equal("/nonexistent/ctt.pcap", ex.Path);
    }

    [Theory]
    [InlineData("not a capture at all, just text\n")]
    [InlineData("")]
    [InlineData("\xd4\xc3")]   // the first bytes of a pcap header and nothing more
    public void NotACapture_IsInvalidCaptureFile(string content)
    {
        using var file = new TempFile(content.Select(c => (byte)c).ToArray());
        Assert.Throws<InvalidCaptureFileException>(() => CaptureFileReader.Open(file.Path));
    }
}
