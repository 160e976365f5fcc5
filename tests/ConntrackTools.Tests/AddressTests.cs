using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Threading;
using ConntrackTools.Netlink;
using ConntrackTools.Routing;
using Xunit;

namespace ConntrackTools.Tests;

/// <summary>rtnetlink address and link messages recorded from kernel 6.18 (Fixtures/addr-*.hex, link-new.hex).</summary>
public class AddressTests
{
    private static AddressMessage Decode(string fixture)
    {
        var bytes = Fixture.Messages(fixture)[0];
        var reader = new NetlinkMessageReader(bytes);
        Assert.True(reader.Next());
        var a = AddressDecoder.Decode(reader.Current);
        Assert.NotNull(a);
        return a!.Value;
    }

    [Theory]
    [InlineData("addr-new-ipv4", AddressChange.Added)]
    [InlineData("addr-del-ipv4", AddressChange.Removed)]
    public void Ipv4Address_WithLabel(string fixture, AddressChange change)
    {
        var a = Decode(fixture);
        Assert.Equal(change, a.Change);
        Assert.Equal(3, a.InterfaceIndex);
        Assert.Equal(IPAddress.Parse("192.168.11.100"), a.Address);
        Assert.Equal(32, a.PrefixLength);
        Assert.Equal(IPFamily.IPv4, a.Family);
        Assert.Equal(AddressScope.Global, a.Scope);
        Assert.Equal(AddressFlags.Permanent, a.Flags);
        Assert.Equal("ctt-rev0:vip", a.Label);
    }

    [Theory]
    [InlineData("addr-new-ipv6", AddressChange.Added)]
    [InlineData("addr-del-ipv6", AddressChange.Removed)]
    public void Ipv6Address_HasNoLabel(string fixture, AddressChange change)
    {
        var a = Decode(fixture);
        Assert.Equal(change, a.Change);
        Assert.Equal(IPAddress.Parse("fd00:11::100"), a.Address);
        Assert.Equal(64, a.PrefixLength);
        Assert.Equal(IPFamily.IPv6, a.Family);
        Assert.Equal(AddressFlags.NoDad | AddressFlags.Permanent, a.Flags);
        Assert.Null(a.Label);
    }

    [Fact]
    public void LinkMessage_TeachesTheName()
    {
        var table = new InterfaceNameTable();
        var reader = new NetlinkMessageReader(Fixture.Messages("link-new")[0]);
        Assert.True(reader.Next());
        table.Learn(reader.Current);
        Assert.True(table.TryGet(3, out var name));
        Assert.Equal("ctt-rev0", name);
        Assert.Equal(["ctt-rev0"], table.All);
    }

    [Fact]
    public void ShortIfaddrmsg_RaisesDecodeException()
    {
        var m = Fixture.Messages("addr-new-ipv4")[0].AsSpan(0, 20).ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(m, 20);
        Assert.Throws<NetlinkDecodeException>(() =>
        {
            var reader = new NetlinkMessageReader(m);
            reader.Next();
            AddressDecoder.Decode(reader.Current);
        });
    }

    [Fact]
    public void OtherFamilies_AreIgnored()
    {
        var m = Fixture.Messages("addr-new-ipv4")[0];
        m[16] = 4; // AF_IPX
        var reader = new NetlinkMessageReader(m);
        Assert.True(reader.Next());
        Assert.Null(AddressDecoder.Decode(reader.Current));
    }

    // --- AddressMonitor over fake sockets ---------------------------------------------------------------

    private const ushort RTM_GETLINK = 18, RTM_GETADDR = 22;

    /// <summary>A request socket answering link and address dumps, and single-link look-ups.</summary>
    private static ScriptedTransport Requests(bool linksInDump, bool linkExists = true) => new((req, n) =>
    {
        ushort type = BinaryPrimitives.ReadUInt16LittleEndian(req.AsSpan(4));
        bool dump = (BinaryPrimitives.ReadUInt16LittleEndian(req.AsSpan(6)) & Nlmsg.F_DUMP) == Nlmsg.F_DUMP;
        var link = Fixture.Messages("link-new")[0];
        return (type, dump) switch
        {
            (RTM_GETLINK, true) => linksInDump ? [link, ScriptedTransport.Done()] : [ScriptedTransport.Done()],
            (RTM_GETLINK, false) => linkExists ? [link, ScriptedTransport.Error(0)] : [ScriptedTransport.Error(Errno.ENODEV)],
            (RTM_GETADDR, true) => [ScriptedTransport.Concat(Fixture.Messages("addr-new-ipv4")[0], Fixture.Messages("addr-new-ipv6")[0]), ScriptedTransport.Done()],
            _ => throw new InvalidOperationException("unexpected request type " + type),
        };
    });

    private static MulticastTransport Changes(params string[] fixtures)
    {
        var t = new MulticastTransport();
        foreach (var f in fixtures) t.Datagram(Fixture.Messages(f)[0]);
        return t;
    }

    private static List<AddressChangeEvent> RunToEnd(AddressMonitor monitor, MulticastTransport events)
    {
        using var cancel = new CancellationTokenSource();
        events.OnIdle = cancel.Cancel;
        var got = new List<AddressChangeEvent>();
        monitor.Run(got.AddRange, cancel.Token);
        return got;
    }

    [Fact]
    public void Monitor_NamesInterfacesFromTheLinkDump()
    {
        var events = Changes("addr-new-ipv4", "addr-del-ipv6");
        using var monitor = new AddressMonitor(events, Requests(linksInDump: true), IPFamily.All, null, "ctt-x");
        monitor.LoadInterfaces();
        var got = RunToEnd(monitor, events);
        Assert.Equal([AddressChange.Added, AddressChange.Removed], got.Select(e => e.Change));
        Assert.All(got, e => Assert.Equal("ctt-rev0", e.InterfaceName));
        Assert.All(got, e => Assert.Equal("ctt-x", e.NetworkNamespace));
        Assert.All(got, e => Assert.False(e.Existing));
        Assert.Equal("ctt-rev0:vip", got[0].Label);
        Assert.Equal("ctt-rev0", got[1].Label);  // IPv6 has no labels: the interface name
        Assert.Equal("Removed fd00:11::100/64 dev ctt-rev0", got[1].ToString());
    }

    [Fact]
    public void Monitor_LooksUpAnInterfaceItHasNotSeen()
    {
        var events = Changes("addr-new-ipv6");
        using var monitor = new AddressMonitor(events, Requests(linksInDump: false), IPFamily.All, null);
        monitor.LoadInterfaces();
        Assert.Equal("ctt-rev0", Assert.Single(RunToEnd(monitor, events)).InterfaceName);
    }

    [Fact]
    public void Monitor_InterfaceGone_FallsBackToTheIpv4Label()
    {
        var events = Changes("addr-del-ipv4", "addr-del-ipv6");
        using var monitor = new AddressMonitor(events, Requests(linksInDump: false, linkExists: false), IPFamily.All, null);
        monitor.LoadInterfaces();
        var got = RunToEnd(monitor, events);
        Assert.Equal("ctt-rev0:vip", got[0].InterfaceName);
        Assert.Null(got[1].InterfaceName);
    }

    [Theory]
    [InlineData("ctt-rev0", 2)]
    [InlineData("eth0", 0)]
    public void Monitor_InterfaceFilter(string wanted, int expected)
    {
        var events = Changes("addr-new-ipv4", "addr-new-ipv6");
        using var monitor = new AddressMonitor(events, Requests(linksInDump: true), IPFamily.All, name => name == wanted);
        monitor.LoadInterfaces();
        Assert.Equal(expected, RunToEnd(monitor, events).Count);
    }

    [Fact]
    public void Monitor_FamilyFilter()
    {
        var events = Changes("addr-new-ipv4", "addr-new-ipv6");
        using var monitor = new AddressMonitor(events, Requests(linksInDump: true), IPFamily.IPv6, null);
        monitor.LoadInterfaces();
        Assert.Equal(IPFamily.IPv6, Assert.Single(RunToEnd(monitor, events)).AddressFamily);
    }

    [Fact]
    public void Monitor_DumpListsExistingAddresses()
    {
        using var monitor = new AddressMonitor(new MulticastTransport(), Requests(linksInDump: true), IPFamily.All, null);
        monitor.LoadInterfaces();
        var existing = monitor.DumpAddresses();
        Assert.Equal(2, existing.Count);
        Assert.All(existing, e => Assert.True(e.Existing));
        Assert.All(existing, e => Assert.Equal(AddressChange.Added, e.Change));
    }
}
