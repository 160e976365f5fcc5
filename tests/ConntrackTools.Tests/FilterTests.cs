using System;
using System.Linq;
using System.Net;
using ConntrackTools.Conntrack;
using ConntrackTools.Netlink;
using Xunit;

using ConntrackTools.Inet;

namespace ConntrackTools.Tests;

public class FilterTests
{
    private static readonly KernelFeatures Modern = KernelFeatures.For(new Version(6, 18));
    private static readonly KernelFeatures Old = KernelFeatures.For(new Version(5, 4));

    [Theory]
    [InlineData("10.0.0.1", true, "10.0.0.1/32")]
    [InlineData("10.0.0.0/8", false, "10.0.0.0/8")]
    [InlineData("fd00::1", true, "fd00::1/128")]
    [InlineData("fd00::/8", false, "fd00::/8")]
    [InlineData(" 192.168.1.0/24 ", false, "192.168.1.0/24")]
    public void AddressMatch_Parses(string text, bool host, string network)
    {
        var m = AddressMatch.Parse(text);
        Assert.Equal(host, m.IsHost);
        Assert.Equal(network, m.Network.ToString());
    }

    [Theory]
    [InlineData("10.0.0.1/33")]
    [InlineData("[2001:db8::1]")]    // brackets are for ports, not addresses
    [InlineData("300.1.1.1")]
    [InlineData("fd00::/129")]
    [InlineData("")]
    [InlineData("example.com")]
    public void AddressMatch_RejectsBadInput(string text) => Assert.Equal(ErrorIds.InvalidAddress, Assert.Throws<InvalidValueException>(() => AddressMatch.Parse(text)).ErrorId);

    [Fact]
    public void CidrStaysInUserSpace_HostAddressGoesToTheKernel()
    {
        var f = new ConntrackFilter { Protocol = Protocols.Tcp, DestinationPort = 8899, SourceAddress = AddressMatch.Parse("10.0.0.0/8"), DestinationAddress = AddressMatch.Parse("10.232.3.28") };
        var plan = f.PlanDump(Modern);
        Assert.Single(plan.Requests);                         // the IPv4 address fixes the family
        Assert.Contains("dport 8899", plan.KernelPart);
        Assert.Contains("dst 10.232.3.28", plan.KernelPart);
        Assert.Contains("src 10.0.0.0/8", plan.UserPart);
        Assert.Equal(2, (int)(byte)plan.Requests[0].Build(1)[16]);
    }

    [Fact]
    public void Ipv6Addresses_AreFilteredInUserSpace()
    {
        var f = new ConntrackFilter { SourceAddress = AddressMatch.Parse("fd00::1") };
        var plan = f.PlanDump(Modern);
        Assert.Contains("src fd00::1", plan.UserPart);
        Assert.DoesNotContain("src", plan.KernelPart);
    }

    [Fact]
    public void TupleFilterWithoutFamily_SplitsIntoTwoDumps()
    {
        var plan = new ConntrackFilter { Protocol = Protocols.Udp }.PlanDump(Modern);
        Assert.Equal(2, plan.Requests.Count);
        Assert.Equal(new byte[] { 2, 10 }, plan.Requests.Select(r => r.Build(1)[16]));
    }

    [Fact]
    public void MarkAlone_NeedsNoFamilySplit()
    {
        var plan = new ConntrackFilter { Mark = 7 }.PlanDump(Modern);
        Assert.Single(plan.Requests);
        Assert.Contains("mark 7", plan.KernelPart);
        Assert.Equal("none", plan.UserPart);
    }

    [Fact]
    public void OldKernel_FiltersTuplesStatusAndZoneInUserSpace()
    {
        var f = new ConntrackFilter { Protocol = Protocols.Tcp, Status = ConntrackStatus.Assured, Zone = 3, Mark = 1 };
        var plan = f.PlanDump(Old);
        Assert.Equal("mark 1/0xffffffff", plan.KernelPart);
        Assert.Contains("protocol tcp", plan.UserPart);
        Assert.Contains("status Assured", plan.UserPart);
        Assert.Contains("zone 3", plan.UserPart);
    }

    [Fact]
    public void NoKernelFiltering_PutsEverythingInUserSpace()
    {
        var f = new ConntrackFilter { Protocol = Protocols.Tcp, DestinationPort = 80, Mark = 1 };
        var plan = f.PlanDump(Modern, kernelFiltering: false);
        Assert.Equal("none", plan.KernelPart);
        Assert.Single(plan.Requests);
        Assert.Equal(20, plan.Requests[0].Build(1).Length);    // nlmsghdr + nfgenmsg only
    }

    [Fact]
    public void TupleFilterRequest_HasHostOrderFlagsAndBigEndianPort()
    {
        var plan = new ConntrackFilter { Protocol = Protocols.Tcp, DestinationPort = 8899, Family = IPFamily.IPv4 }.PlanDump(Modern);
        var msg = plan.Requests[0].Build(1);
        var ad = new AttributeDecoder(msg.AsSpan(20), bigEndian: true);
        uint flags = 0;
        ushort? port = null;
        while (ad.Next())
        {
            if (ad.Type == Cta.FILTER)
            {
                var f = ad.Nested();
                f.BigEndian = false;
                while (f.Next()) if (f.Type == Cta.FILTER_ORIG_FLAGS) flags = f.UInt32();
            }
            if (ad.Type == Cta.TUPLE_ORIG)
            {
                var t = ad.Nested();
                var tuple = ConntrackDecoderAccess.Tuple(ref t);
                port = (ushort?)tuple.DestinationPort;
            }
        }
        Assert.Equal(Cta.FILTER_FLAG_PROTO_NUM | Cta.FILTER_FLAG_PROTO_DST_PORT, flags);
        Assert.Equal((ushort)8899, port);
    }

    [Fact]
    public void Matches_FollowsEveryField()
    {
        var e = Fixture.Entry("tcp-masquerade");
        Assert.True(new ConntrackFilter().Matches(e));
        Assert.True(new ConntrackFilter { DestinationAddress = AddressMatch.Parse("10.232.3.0/24") }.Matches(e));
        Assert.False(new ConntrackFilter { DestinationAddress = AddressMatch.Parse("10.232.4.0/24") }.Matches(e));
        Assert.True(new ConntrackFilter { State = new[] { "close_wait", "ESTABLISHED" } }.Matches(e));
        Assert.False(new ConntrackFilter { State = new[] { "ESTABLISHED" } }.Matches(e));
        Assert.True(new ConntrackFilter { NatType = NatType.Source }.Matches(e));
        Assert.False(new ConntrackFilter { NatType = NatType.None }.Matches(e));
        Assert.True(new ConntrackFilter { Status = ConntrackStatus.Assured | ConntrackStatus.SeenReply }.Matches(e));
        Assert.False(new ConntrackFilter { Status = ConntrackStatus.Offload }.Matches(e));
        Assert.True(new ConntrackFilter { Mark = 0x10, MarkMask = 0x0f }.Matches(e));   // 0 & 0xf == 0x10 & 0xf
        Assert.False(new ConntrackFilter { Family = IPFamily.IPv6 }.Matches(e));
        Assert.False(new ConntrackFilter { Protocol = Protocols.Udp }.Matches(e));
    }

    public static TheoryData<string> Prefilters() => new()
    {
        "proto=6", "proto=17", "sport=4000", "dport=8899", "dport=53", "src=10.9.0.0/24", "src=192.168.11.7", "dst=10.232.3.0/24",
        "dst=fd00:11::8", "src=fd00::/16", "src=0.0.0.0/0", "proto=1", "proto=58",
    };

    /// <summary>The raw-bytes prefilter never rejects an entry the full filter keeps, and does reject the others.</summary>
    [Theory]
    [MemberData(nameof(Prefilters))]
    public void MightMatch_IsASupersetOfMatches(string spec)
    {
        var f = new ConntrackFilter();
        var (key, value) = (spec[..spec.IndexOf('=')], spec[(spec.IndexOf('=') + 1)..]);
        switch (key)
        {
            case "proto": f.Protocol = byte.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "sport": f.SourcePort = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "dport": f.DestinationPort = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "src": f.SourceAddress = AddressMatch.Parse(value); break;
            case "dst": f.DestinationAddress = AddressMatch.Parse(value); break;
        }
        int kept = 0, skipped = 0;
        foreach (var m in Fixture.Messages("dump-datagram"))
        {
            var payload = m.AsSpan(Nlmsg.HeaderLength);
            bool full = f.Matches(ConntrackDecoder.Decode(payload));
            bool quick = f.MightMatch(payload);
            if (full) Assert.True(quick, $"{spec} rejected a matching entry");
            if (quick) kept++; else skipped++;
        }
        Assert.True(kept + skipped > 0);
    }

    [Fact]
    public void MightMatch_SkipsEntriesOutsideThePrefix()
    {
        var f = new ConntrackFilter { SourceAddress = AddressMatch.Parse("10.9.0.0/24") };
        var all = Fixture.Messages("dump-datagram");
        int passed = all.Count(m => f.MightMatch(m.AsSpan(Nlmsg.HeaderLength)));
        Assert.Equal(all.Count(m => f.Matches(ConntrackDecoder.Decode(m.AsSpan(Nlmsg.HeaderLength)))), passed);
        Assert.True(passed < all.Count);
    }

    [Fact]
    public void ContradictoryFamilies_MatchNothing_WithoutAskingTheKernel()
    {
        var f = new ConntrackFilter { Family = IPFamily.IPv6, SourceAddress = AddressMatch.Parse("10.0.0.1") };
        Assert.True(f.MatchesNothing);
        var client = new ConntrackClient(() => throw new InvalidOperationException("no socket should be opened"), Modern);
        var r = client.Dump(f, true, _ => throw new InvalidOperationException());
        Assert.Equal(0, r.Emitted);
    }
}

public class FilterEmptinessTests
{
    /// <summary>
    /// A full dump skips the per-entry user-space test when the filter <see cref="ConntrackFilter.IsEmpty"/>, so every
    /// condition a filter can carry must make it non-empty. Walks every settable property, so a condition added
    /// later and forgotten in IsEmpty fails here. MarkMask alone selects nothing (it only narrows Mark).
    /// </summary>
    [Fact]
    public void EveryCondition_MakesTheFilterNonEmpty()
    {
        Assert.True(new ConntrackFilter().IsEmpty);
        var properties = typeof(ConntrackFilter).GetProperties().Where(p => p.CanWrite && p.SetMethod!.IsPublic).ToList();
        Assert.True(properties.Count >= 30, $"only {properties.Count} settable properties found");
        foreach (var p in properties)
        {
            if (p.Name == nameof(ConntrackFilter.MarkMask)) continue;
            var f = new ConntrackFilter();
            p.SetValue(f, SampleValue(p.PropertyType, p.Name));
            Assert.False(f.IsEmpty, $"{p.Name} set, yet the filter says it is empty: a full dump would not test it");
        }
    }

    private static object SampleValue(Type t, string name)
    {
        var u = Nullable.GetUnderlyingType(t) ?? t;
        if (u == typeof(byte)) return (byte)6;
        if (u == typeof(ushort)) return (ushort)1;
        if (u == typeof(int)) return 1;
        if (u == typeof(uint)) return 1u;
        if (u == typeof(IPFamily)) return IPFamily.IPv4;
        if (u == typeof(NatType)) return NatType.Source;
        if (u == typeof(ConntrackStatus)) return ConntrackStatus.Assured;
        if (u == typeof(AddressMatch)) return AddressMatch.Parse("10.0.0.1");
        if (u == typeof(string[])) return new[] { "ESTABLISHED" };
        if (u == typeof(byte[])) return new byte[] { 6 };
        if (u == typeof(int[])) return new[] { 1 };
        if (u == typeof(NatType[])) return new[] { NatType.Source };
        throw new InvalidOperationException($"no sample value for {name} of type {t}: add one");
    }
}

/// <summary>Reaches the internal tuple decoder for request checks.</summary>
internal static class ConntrackDecoderAccess
{
    public static FlowTuple Tuple(ref AttributeDecoder ad) => ConntrackDecoder.DecodeTuple(ref ad);
}
