using System;
using System.Collections.Generic;
using System.Linq;
using ConntrackTools.Conntrack;
using ConntrackTools.Netlink;
using Xunit;

using ConntrackTools.Inet;

namespace ConntrackTools.Tests;

/// <summary>
/// The kernel-side event filter, run by a BPF interpreter over recorded event messages. Its contract: it never drops
/// an event the user-space filter keeps, and it drops what it claims to test.
/// </summary>
public class EventFilterTests
{
    private static readonly string[] Events = ["event-new", "event-update", "event-destroy", "event-new-udp6-zone", "event-new-icmp"];

    /// <summary>Filters by name, so theory cases read well.</summary>
    private static readonly Dictionary<string, Func<ConntrackFilter>> Filters = new()
    {
        ["tcp"] = () => new() { Protocol = Protocols.Tcp },
        ["udp"] = () => new() { Protocol = Protocols.Udp },
        ["icmp"] = () => new() { Protocol = Protocols.Icmp },
        ["dport 8899"] = () => new() { DestinationPort = 8899 },
        ["dport 53"] = () => new() { DestinationPort = 53 },
        ["sport 33862"] = () => new() { SourcePort = 33862 },
        ["tcp dport 8899"] = () => new() { Protocol = Protocols.Tcp, DestinationPort = 8899 },
        ["src 192.168.11.7"] = () => new() { SourceAddress = AddressMatch.Parse("192.168.11.7") },
        ["src 192.168.0.0/16"] = () => new() { SourceAddress = AddressMatch.Parse("192.168.0.0/16") },
        ["src 10.0.0.0/8"] = () => new() { SourceAddress = AddressMatch.Parse("10.0.0.0/8") },
        ["dst 10.232.3.0/24"] = () => new() { DestinationAddress = AddressMatch.Parse("10.232.3.0/24") },
        ["src fd00:11::7"] = () => new() { SourceAddress = AddressMatch.Parse("fd00:11::7") },
        ["dst fd00:11::/60"] = () => new() { DestinationAddress = AddressMatch.Parse("fd00:11::/60") },
        ["dst fd00:12::/64"] = () => new() { DestinationAddress = AddressMatch.Parse("fd00:12::/64") },
        ["mark 42"] = () => new() { Mark = 42 },
        ["mark 0"] = () => new() { Mark = 0 },
        ["mark 0x20/0xf0"] = () => new() { Mark = 0x20, MarkMask = 0xf0 },
        ["zone 3"] = () => new() { Zone = 3 },
        ["zone 0"] = () => new() { Zone = 0 },
        ["status Assured"] = () => new() { Status = ConntrackStatus.Assured },
        ["status SeenReply,Dying"] = () => new() { Status = ConntrackStatus.SeenReply | ConntrackStatus.Dying },
        ["IPv6"] = () => new() { Family = IPFamily.IPv6 },
        ["IPv4 udp"] = () => new() { Family = IPFamily.IPv4, Protocol = Protocols.Udp },
        ["tcp reply sport 8899"] = () => new() { Protocol = Protocols.Tcp, ReplySourcePort = [8899] },
        ["tcp reply dport 33862"] = () => new() { Protocol = Protocols.Tcp, ReplyDestinationPort = [33862] },
        ["reply src 10.232.3.0/24"] = () => new() { ReplySourceAddress = AddressMatch.Parse("10.232.3.0/24") },
        ["translated src 192.168.11.7"] = () => new() { TranslatedSourceAddress = AddressMatch.Parse("192.168.11.7") },
        ["translated src fd00::/8"] = () => new() { TranslatedSourceAddress = AddressMatch.Parse("fd00::/8") },
        ["icmp type 8"] = () => new() { Protocol = Protocols.Icmp, IcmpType = [8] },
        ["icmp type 0"] = () => new() { Protocol = Protocols.Icmp, IcmpType = [0] },
        ["tcp dport 8899 or 443"] = () => new() { Protocol = Protocols.Tcp, AnyDestinationPort = [443, 8899] },
    };

    public static TheoryData<string, string> AllPairs()
    {
        var data = new TheoryData<string, string>();
        foreach (var f in Filters.Keys)
            foreach (var e in Events) data.Add(f, e);
        return data;
    }

    private static bool Accepts(ConntrackEventFilter.Program program, string fixture) =>
        BpfInterpreter.Run(program.Instructions, Fixture.Messages(fixture)[0]) != Bpf.Drop;

    [Theory]
    [MemberData(nameof(AllPairs))]
    public void KernelVerdict_AgreesWithUserSpace(string filterName, string fixture)
    {
        var filter = Filters[filterName]();
        var program = ConntrackEventFilter.Compile(filter);
        Assert.NotNull(program);
        var entry = EventDecoderTests.Event(fixture).Entry;
        bool wanted = filter.Matches(entry);
        // Never drop a wanted event. Let an unwanted one through only where the tested attribute is absent (the
        // ports of an icmp entry) and every other test passes; user space drops it then.
        var portless = Filters[filterName]();
        bool testsPorts = portless.SourcePort is not null || portless.DestinationPort is not null;
        portless.SourcePort = portless.DestinationPort = null;
        bool passThrough = entry.SourcePort is null && testsPorts && portless.Matches(entry);
        Assert.Equal(wanted || passThrough, Accepts(program!, fixture));
    }

    [Fact]
    public void AcceptReturnsTheWholeMessage()
    {
        // A socket filter's return value is the length kept: anything shorter than the message would cut it.
        var program = ConntrackEventFilter.Compile(new ConntrackFilter { Protocol = Protocols.Tcp })!;
        Assert.Equal(Bpf.Accept, BpfInterpreter.Run(program.Instructions, Fixture.Messages("event-new")[0]));
    }

    [Fact]
    public void SelectorsBeyondTheOriginalTuple_SayWhereTheyRun()
    {
        var program = ConntrackEventFilter.Compile(new ConntrackFilter { Protocol = Protocols.Tcp, ReplySourcePort = [80], TranslatedSourcePort = [1, 2], OriginalZone = 3 })!;
        Assert.Equal("protocol tcp, reply sport 80", program.KernelPart);
        Assert.Equal("translated sport 1,2, original zone 3", program.UserPart);
    }

    [Fact]
    public void NothingForTheKernel_NoProgram()
    {
        Assert.Null(ConntrackEventFilter.Compile(new ConntrackFilter()));
        Assert.Null(ConntrackEventFilter.Compile(new ConntrackFilter { State = ["ESTABLISHED"], NatType = NatType.Source }));
    }

    [Fact]
    public void StateAndNatStayInUserSpace()
    {
        var program = ConntrackEventFilter.Compile(new ConntrackFilter { Protocol = Protocols.Tcp, State = ["ESTABLISHED"], NatType = NatType.Source })!;
        Assert.Equal("protocol tcp", program.KernelPart);
        Assert.Equal("state ESTABLISHED, NAT Source", program.UserPart);
    }

    [Fact]
    public void AddressImpliesTheFamily()
    {
        var program = ConntrackEventFilter.Compile(new ConntrackFilter { DestinationAddress = AddressMatch.Parse("fd00::/8") })!;
        Assert.Equal("family IPv6, dst fd00::/8", program.KernelPart);
    }

    [Fact]
    public void JumpsStayInsideTheProgram()
    {
        var all = new ConntrackFilter
        {
            Family = IPFamily.IPv6, Protocol = Protocols.Udp, SourcePort = 1, DestinationPort = 2,
            SourceAddress = AddressMatch.Parse("fd00::/33"), DestinationAddress = AddressMatch.Parse("fd00::1"),
            Mark = 1, MarkMask = 3, Status = ConntrackStatus.Assured, Zone = 9,
        };
        var code = ConntrackEventFilter.Compile(all)!.Instructions;
        for (int i = 0; i < code.Length; i++)
        {
            if ((code[i].Code & 0x07) != Bpf.JMP) continue;
            Assert.InRange(i + 1 + code[i].JumpTrue, 0, code.Length - 1);
            Assert.InRange(i + 1 + code[i].JumpFalse, 0, code.Length - 1);
        }
        Assert.Equal(Bpf.RET | Bpf.K, code[^1].Code);
    }
}
