using System;
using System.Collections.Generic;
using System.Net;
using ConntrackTools.Conntrack;
using ConntrackTools.Netlink;
using Xunit;

using ConntrackTools.Inet;

namespace ConntrackTools.Tests;

/// <summary>What we encode decodes back to the same entry (a CT_NEW request has a dump entry's layout).</summary>
public class RequestRoundTripTests
{
    public static IEnumerable<object[]> Entries()
    {
        yield return new object[] { Entry("tcp", "192.168.11.7", "10.232.3.28", 33862, 8899, "10.232.3.28", "192.168.11.7", 8899, 31445, "ESTABLISHED") };
        yield return new object[] { Entry("udp", "fd00::1", "fd00::2", 5353, 53, "fd00::2", "fd00::1", 53, 5353, null) };
        yield return new object[] { Entry("gre", "10.7.0.1", "10.7.0.2", null, null, "10.7.0.2", "10.7.0.1", null, null, null) };
        yield return new object[] { Entry("253", "10.7.0.1", "10.7.0.2", null, null, "10.7.0.2", "10.7.0.1", null, null, null) };
        yield return new object[] { Entry("sctp", "10.8.0.1", "10.8.0.2", 5000, 5001, "10.8.0.2", "10.8.0.1", 5001, 5000, "COOKIE_WAIT") };
        yield return new object[] { Entry("dccp", "10.8.0.1", "10.8.0.2", 5000, 5001, "10.8.0.2", "10.8.0.1", 5001, 5000, "OPEN") };
        var icmp = Entry("icmp", "10.0.0.1", "10.0.0.3", null, null, "10.0.0.3", "10.0.0.1", null, null, null);
        icmp.Original.IcmpType = 8; icmp.Original.IcmpCode = 0; icmp.Original.IcmpId = 77;
        icmp.Reply.IcmpType = 0; icmp.Reply.IcmpCode = 0; icmp.Reply.IcmpId = 77;
        yield return new object[] { icmp };
    }

    private static ConntrackEntry Entry(string proto, string s, string d, int? sp, int? dp, string rs, string rd, int? rsp, int? rdp, string? state)
    {
        Assert.True(Protocols.TryParse(proto, out byte p));
        var src = IPAddress.Parse(s);
        return new ConntrackEntry(new FlowTuple(src, IPAddress.Parse(d), p, sp, dp), new FlowTuple(IPAddress.Parse(rs), IPAddress.Parse(rd), p, rsp, rdp))
        {
            AddressFamily = src.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? IPFamily.IPv6 : IPFamily.IPv4,
            Timeout = TimeSpan.FromSeconds(300),
            Mark = 7,
            Zone = 3,
            Status = ConntrackStatus.SeenReply | ConntrackStatus.Assured,
            State = state,
        };
    }

    [Theory]
    [MemberData(nameof(Entries))]
    public void NewRequest_DecodesToTheSameEntry(ConntrackEntry e)
    {
        var msg = ConntrackRequests.New(e, create: true).Build(1);
        var back = ConntrackDecoder.Decode(msg.AsSpan(Nlmsg.HeaderLength));
        Assert.Equal(e.AddressFamily, back.AddressFamily);
        Assert.Equal(e.Protocol, back.Protocol);
        Assert.Equal(e.Original.ToString(), back.Original.ToString());
        Assert.Equal(e.Reply.ToString(), back.Reply.ToString());
        Assert.Equal(e.Original.IcmpId, back.Original.IcmpId);
        Assert.Equal(e.Original.IcmpType, back.Original.IcmpType);
        Assert.Equal(e.Timeout, back.Timeout);
        Assert.Equal(e.Mark, back.Mark);
        Assert.Equal(e.Zone, back.Zone);
        // A create always carries IPS_CONFIRMED, as libnetfilter_conntrack sends it (without it the kernel answers EBUSY).
        Assert.Equal(e.Status | ConntrackStatus.Confirmed, back.Status);
        Assert.Equal(e.State, back.State);
        Assert.Equal(e.NatType, back.NatType);
    }

    [Fact]
    public void UnknownProtocolNumber_IsItsNumber()
    {
        Assert.Equal("253", Protocols.Name(253));
        Assert.True(Protocols.TryParse("gre", out var g));
        Assert.Equal(47, g);
    }

    /// <summary>Every recorded entry survives decode → encode (as CT_NEW) → decode.</summary>
    [Fact]
    public void RecordedEntries_RoundTrip()
    {
        var messages = Fixture.Messages("dump-datagram");
        // An empty or truncated fixture would make the loop below pass without checking anything.
        Assert.True(messages.Count >= 6, $"dump-datagram.hex holds {messages.Count} messages; the recorded dump has at least 6");
        Assert.Contains(messages, m => ConntrackDecoder.Decode(m.AsSpan(Nlmsg.HeaderLength)).NatType != NatType.None);
        int checkedEntries = 0;
        foreach (var m in messages)
        {
            checkedEntries++;
            var e = ConntrackDecoder.Decode(m.AsSpan(Nlmsg.HeaderLength));
            var again = ConntrackDecoder.Decode(ConntrackRequests.New(e, create: true).Build(1).AsSpan(Nlmsg.HeaderLength));
            Assert.Equal(e.Original.ToString(), again.Original.ToString());
            Assert.Equal(e.Reply.ToString(), again.Reply.ToString());
            Assert.Equal(e.Mark, again.Mark);
            Assert.Equal(e.Zone, again.Zone);
            Assert.Equal(e.State, again.State);
        }
        Assert.Equal(messages.Count, checkedEntries);
    }
}
