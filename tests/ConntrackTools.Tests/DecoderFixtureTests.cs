using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net;
using ConntrackTools.Conntrack;
using ConntrackTools.Netlink;
using Xunit;

namespace ConntrackTools.Tests;

/// <summary>The decoder against messages recorded from kernel 6.18 (Fixtures/*.hex, see record-fixtures.py).</summary>
public class DecoderFixtureTests
{
    [Fact]
    public void TcpThroughMasquerade_DecodesNatMappingCountersAndTimestamp()
    {
        var e = Fixture.Entry("tcp-masquerade");
        Assert.Equal(IPFamily.IPv4, e.AddressFamily);
        Assert.Equal("tcp", e.Protocol);
        Assert.Equal("CLOSE_WAIT", e.State);
        Assert.Equal(2590932324u, e.Id);
        Assert.Equal(TimeSpan.FromSeconds(58), e.Timeout);
        Assert.Equal(IPAddress.Parse("192.168.11.7").ToString(), e.SourceAddress);
        Assert.Equal(IPAddress.Parse("10.232.3.28").ToString(), e.DestinationAddress);
        Assert.Equal(48618, e.SourcePort);
        Assert.Equal(8899, e.DestinationPort);
        // MASQUERADE --random-fully picked another source port: the reply comes back to 41295.
        Assert.Equal(NatType.Source, e.NatType);
        Assert.Equal(IPAddress.Parse("192.168.11.7").ToString(), e.TranslatedSourceAddress);
        Assert.Equal(41295, e.TranslatedSourcePort);
        Assert.Equal(8899, e.TranslatedDestinationPort);
        Assert.Equal(ConntrackStatus.SeenReply | ConntrackStatus.Assured | ConntrackStatus.Confirmed | ConntrackStatus.SourceNat |
                     ConntrackStatus.SourceNatDone | ConntrackStatus.DestinationNatDone, e.Status);   // 414
        Assert.Equal(5UL, e.OriginalPackets);
        Assert.Equal(272UL, e.OriginalBytes);
        Assert.Equal(4UL, e.ReplyPackets);
        Assert.Equal(220UL, e.ReplyBytes);
        Assert.Equal(DateTime.UnixEpoch.AddTicks(1795644305216473749L / 100), e.StartTime!.Value.ToUniversalTime());
        Assert.Equal(1u, e.Use);
        Assert.Equal("192.168.11.7:48618 -> 10.232.3.28:8899", e.Original.ToString());
    }

    [Fact]
    public void Udp_HasNoStateAndPorts()
    {
        var e = Fixture.Entry("udp");
        Assert.Equal("udp", e.Protocol);
        Assert.Null(e.State);
        Assert.Equal(5353, e.DestinationPort);
        Assert.Equal(NatType.Source, e.NatType);
        Assert.Equal(1UL, e.OriginalPackets);
    }

    [Fact]
    public void TcpIpv6_NoNat()
    {
        var e = Fixture.Entry("tcp-ipv6");
        Assert.Equal(IPFamily.IPv6, e.AddressFamily);
        Assert.Equal(IPAddress.Parse("fd00:11::7").ToString(), e.SourceAddress);
        Assert.Equal(IPAddress.Parse("fd00:11::8").ToString(), e.DestinationAddress);
        Assert.Equal(8443, e.DestinationPort);
        Assert.Equal("FIN_WAIT", e.State);
        Assert.Equal(NatType.None, e.NatType);
        Assert.Equal($"[fd00:11::7]:{e.SourcePort} -> [fd00:11::8]:8443", e.Original.ToString());
    }

    [Fact]
    public void ReplyWithoutNat_MirrorsTheOriginalsAddressBits_AndMasqueradedOneDiffers()
    {
        // The decoder keeps addresses as bits and makes no address object; NatType compares the bits.
        var plain = Fixture.Entry("tcp-ipv6");
        Assert.True(plain.Original.SourceMirrors(plain.Reply));
        Assert.True(plain.Original.DestinationMirrors(plain.Reply));
        Assert.Equal(NatType.None, plain.NatType);
        Assert.Equal(plain.Original.DestinationIP, plain.Reply.SourceIP);
        // Source NAT to another address: the reply's destination differs, its source mirrors.
        var sent = new ConntrackEntry(
            new FlowTuple(IPAddress.Parse("10.244.0.5"), IPAddress.Parse("10.232.3.28"), Inet.Protocols.Tcp, 40000, 8899),
            new FlowTuple(IPAddress.Parse("10.232.3.28"), IPAddress.Parse("192.168.11.7"), Inet.Protocols.Tcp, 8899, 31000))
        {
            AddressFamily = IPFamily.IPv4,
            Timeout = TimeSpan.FromSeconds(60),
        };
        var nat = ConntrackDecoder.Decode(ConntrackRequests.New(sent, create: true).Build(1).AsSpan(Nlmsg.HeaderLength));
        Assert.True(nat.Original.DestinationMirrors(nat.Reply));
        Assert.False(nat.Original.SourceMirrors(nat.Reply));
        Assert.Equal("10.244.0.5", nat.SourceAddress);
        Assert.Equal("192.168.11.7", nat.TranslatedSourceAddress);
        Assert.Equal(NatType.Source, nat.NatType);
    }

    [Fact]
    public void AddressBits_KeepTheFamily_SoAnIPv4AddressIsNotTheIPv6OneWithTheSameLowBits()
    {
        var v4 = new FlowTuple(IPAddress.Parse("10.0.0.1"), IPAddress.Parse("10.0.0.2"), Inet.Protocols.Udp, 1, 2);
        var v6 = new FlowTuple(IPAddress.Parse("::10.0.0.2"), IPAddress.Parse("::10.0.0.1"), Inet.Protocols.Udp, 2, 1);
        Assert.Equal(v4.SourceBits, v6.DestinationBits);
        Assert.False(v4.SourceMirrors(v6));
        Assert.False(v4.DestinationMirrors(v6));
        Assert.NotEqual(ConntrackIdentity.Of(new ConntrackEntry(v4, v4.Inverted())), ConntrackIdentity.Of(new ConntrackEntry(v6.Inverted(), v6)));
        Assert.Equal("10.0.0.1", v4.Inverted().DestinationAddress);
        Assert.Equal("::10.0.0.1", v6.DestinationAddress);
    }

    [Fact]
    public void TupleNumbers_OutOfTheirFieldsRange_AreRefused()
    {
        var t = new FlowTuple();
        Assert.Throws<ArgumentOutOfRangeException>(() => t.SourcePort = 65536);
        Assert.Throws<ArgumentOutOfRangeException>(() => t.IcmpType = 256);
        Assert.Throws<ArgumentOutOfRangeException>(() => t.IcmpId = -1);
        t.SourcePort = 65535;
        t.IcmpCode = 0;
        Assert.Equal(65535, t.SourcePort);
        Assert.Equal(0, t.IcmpCode);
        Assert.Null(t.DestinationPort);
        t.SourcePort = null;
        Assert.Null(t.SourcePort);
    }

    [Fact]
    public void Icmp_HasTypeCodeIdAndNoPorts()
    {
        var e = Fixture.Entry("icmp");
        Assert.Equal("icmp", e.Protocol);
        Assert.Null(e.SourcePort);
        Assert.Null(e.DestinationPort);
        Assert.Equal(8, e.Original.IcmpType);
        Assert.Equal(0, e.Original.IcmpCode);
        Assert.Equal(77, e.Original.IcmpId);
        Assert.Equal(0, e.Reply.IcmpType);
        Assert.Equal(NatType.None, e.NatType);
        Assert.Equal(ConntrackStatus.Confirmed, e.Status);
        Assert.Equal("10.0.0.1 -> 10.0.0.3", e.Original.ToString());
    }

    [Fact]
    public void IcmpV6_HasTypeCodeId()
    {
        var e = Fixture.Entry("icmpv6");
        Assert.Equal("icmpv6", e.Protocol);
        Assert.Equal(IPFamily.IPv6, e.AddressFamily);
        Assert.Equal(128, e.Original.IcmpType);
        Assert.Equal(129, e.Reply.IcmpType);
        Assert.Equal(78, e.Original.IcmpId);
    }

    [Fact]
    public void ZoneAndMark()
    {
        var e = Fixture.Entry("zone-mark");
        Assert.Equal((ushort)5, e.Zone);
        Assert.Equal(7u, e.Mark);
        Assert.Equal(3754473066u, e.Id);
    }

    [Fact]
    public void Labels_AreBitNumbers()
    {
        var e = Fixture.Entry("labels");
        Assert.Equal(42u, e.Mark);
        Assert.Equal(new[] { 0, 2, 41 }, e.Labels);
    }

    [Fact]
    public void Sctp_HasState()
    {
        var e = Fixture.Entry("sctp");
        Assert.Equal("sctp", e.Protocol);
        Assert.Equal("ESTABLISHED", e.State);
        Assert.Equal(5001, e.DestinationPort);
    }

    [Fact]
    public void WholeDump_DecodesEveryMessage()
    {
        var messages = Fixture.Messages("dump-datagram");
        Assert.True(messages.Count >= 8);
        var entries = messages.Select(m => ConntrackDecoder.Decode(m.AsSpan(Nlmsg.HeaderLength))).ToList();
        Assert.Contains(entries, e => e.Protocol == "tcp" && e.AddressFamily == IPFamily.IPv6);
        Assert.Contains(entries, e => e.Protocol == "icmpv6");
        Assert.Equal(entries.Count, entries.Select(e => e.Id).Distinct().Count());
    }

    public static IEnumerable<object[]> AllEntryFixtures() =>
        new[] { "tcp-masquerade", "udp", "tcp-ipv6", "icmp", "icmpv6", "zone-mark", "labels", "sctp" }.Select(n => new object[] { n });

    /// <summary>
    /// Cross-check with the recorder's own, independent decoding: every "CTA_X = value" annotation must agree
    /// with what our decoder made of the same bytes.
    /// </summary>
    [Theory]
    [MemberData(nameof(AllEntryFixtures))]
    public void AgreesWithTheAnnotations(string fixture)
    {
        var e = Fixture.Entry(fixture);
        var notes = File.ReadLines(Path.Combine(Fixture.Dir, fixture + ".hex"))
            .Where(l => !l.StartsWith('#') && l.Contains(" = "))
            .Select(l => l[(l.IndexOf('#') + 1)..].Trim())
            .Select(l => (Name: l[..l.IndexOf(" = ", StringComparison.Ordinal)].Trim(), Value: l[(l.IndexOf(" = ", StringComparison.Ordinal) + 3)..].Trim()))
            .ToList();
        string Note(string name) => notes.First(n => n.Name == name).Value;
        Assert.Equal(Note("CTA_ID"), e.Id.ToString(CultureInfo.InvariantCulture));
        Assert.Equal(Note("CTA_STATUS"), ((ulong)e.Status).ToString(CultureInfo.InvariantCulture));
        Assert.Equal(Note("CTA_MARK"), e.Mark.ToString(CultureInfo.InvariantCulture));
        Assert.Equal(Note("CTA_TIMEOUT"), ((long)e.Timeout.TotalSeconds).ToString(CultureInfo.InvariantCulture));
        Assert.Equal(Note("CTA_PROTO_NUM"), e.Original.ProtocolNumber.ToString(CultureInfo.InvariantCulture));
        var src = notes.First(n => n.Name is "CTA_IP_V4_SRC" or "CTA_IP_V6_SRC").Value;
        Assert.Equal(IPAddress.Parse(src).ToString(), e.SourceAddress);
        var srcPorts = notes.Where(n => n.Name == "CTA_PROTO_SRC_PORT").Select(n => int.Parse(n.Value, CultureInfo.InvariantCulture)).ToList();
        if (srcPorts.Count == 2)
        {
            Assert.Equal(srcPorts[0], e.Original.SourcePort);
            Assert.Equal(srcPorts[1], e.Reply.SourcePort);
        }
        var packets = notes.Where(n => n.Name == "CTA_COUNTERS_PACKETS").Select(n => ulong.Parse(n.Value, CultureInfo.InvariantCulture)).ToList();
        if (packets.Count == 2)
        {
            Assert.Equal(packets[0], e.OriginalPackets);
            Assert.Equal(packets[1], e.ReplyPackets);
        }
    }

    [Fact]
    public void ErrorMessage_CarriesErrno()
    {
        var m = Fixture.Messages("error-enoent")[0];
        var reader = new NetlinkMessageReader(m);
        Assert.True(reader.Next());
        Assert.True(reader.Current.IsError);
        Assert.Equal(Errno.ENOENT, reader.Current.ErrorCode);
    }
}
