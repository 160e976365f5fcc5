using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using ConntrackTools.Impact;
using Xunit;

namespace ConntrackTools.Tests;

public class FlushDetectorTests
{
    private static readonly DateTime T0 = new(2026, 12, 1, 12, 54, 10, DateTimeKind.Local);

    private static ConntrackEntry Entry(int sport, string translated = "192.168.11.7", int? tport = null) => new(
        new FlowTuple(IPAddress.Parse("10.244.1.5"), IPAddress.Parse("10.232.3.28"), 6, sport, 8899),
        new FlowTuple(IPAddress.Parse("10.232.3.28"), IPAddress.Parse(translated), 6, 8899, tport ?? sport + 1000))
    {
        AddressFamily = IPFamily.IPv4,
        Timeout = TimeSpan.FromDays(5),
    };

    private static ConntrackEvent Ev(ConntrackEventType t, DateTime at, ConntrackEntry e, uint port = 0, int? pid = null, string? name = null) =>
        new(t, at, e) { InitiatorPortId = port, InitiatorProcessId = pid, InitiatorProcessName = name };

    private static List<ConntrackFlushFinding> Run(ConntrackFlushDetector d, IEnumerable<object> input)
    {
        var found = new List<ConntrackFlushFinding>();
        foreach (var o in input)
            found.AddRange(o switch { ConntrackEvent e => d.Add(e), AddressChangeEvent a => d.Add(a), _ => throw new InvalidOperationException("not an event") });
        found.AddRange(d.Complete());
        return found;
    }

    [Fact]
    public void KernelFlushAfterAnAddressRemoval_IsOneFinding_WithWhatTheEntriesShared()
    {
        var input = new List<object>();
        var entries = Enumerable.Range(0, 200).Select(i => Entry(30000 + i)).ToList();
        input.AddRange(entries.Select((e, i) => Ev(ConntrackEventType.New, T0.AddSeconds(-60).AddMilliseconds(i), e)));
        var removal = new AddressChangeEvent { Change = AddressChange.Removed, TimeReceived = T0, InterfaceName = "br-mgmt", IP = IPAddress.Parse("192.168.11.100"), PrefixLength = 32 };
        input.Add(removal);
        input.AddRange(entries.Select((e, i) => Ev(ConntrackEventType.Destroy, T0.AddMilliseconds(20 + i / 10.0), e)));
        var f = Assert.Single(Run(new ConntrackFlushDetector(new ConntrackFlushOptions { MinimumEntries = 100 }), input));
        Assert.Equal(200, f.Entries);
        Assert.Equal(ConntrackInitiator.Kernel, f.Initiator);
        Assert.Null(f.InitiatorProcessId);
        Assert.Same(removal, f.AddressChange);
        Assert.Equal("tcp", f.Common.Protocol);
        Assert.Equal(NatType.Source, f.Common.NatType);
        Assert.Equal("192.168.11.7", f.Common.TranslatedSourceAddress);
        Assert.Equal("10.232.3.28", f.Common.TranslatedDestinationAddress);
        Assert.Equal("br-mgmt", f.Common.InterfaceName);
        Assert.Equal((ushort)0, f.Common.Zone);
        Assert.Equal(5, f.Sample.Length);
        Assert.Equal(T0.AddMilliseconds(20), f.Time);
        Assert.Contains("SNAT", f.CommonText);
    }

    [Theory]
    [InlineData(5, true)]      // read just after the last Destroy event (another socket, another thread)
    [InlineData(900, true)]
    [InlineData(2500, false)]  // more than the window after the burst: not the burst's cause
    public void AnAddressRemovalReadAfterTheBurstStillCoincides_WithinTheWindow(int afterLastMs, bool coincides)
    {
        var input = new List<object>();
        var entries = Enumerable.Range(0, 120).Select(i => Entry(40000 + i)).ToList();
        input.AddRange(entries.Select((e, i) => Ev(ConntrackEventType.New, T0.AddSeconds(-60).AddMilliseconds(i), e)));
        input.AddRange(entries.Select((e, i) => Ev(ConntrackEventType.Destroy, T0.AddMilliseconds(i / 10.0), e)));
        var last = T0.AddMilliseconds(119 / 10.0);
        input.Add(new AddressChangeEvent { Change = AddressChange.Removed, TimeReceived = last.AddMilliseconds(afterLastMs), InterfaceName = "br-mgmt", IP = IPAddress.Parse("192.168.11.100"), PrefixLength = 32 });
        var f = Assert.Single(Run(new ConntrackFlushDetector(new ConntrackFlushOptions { MinimumEntries = 100, Window = TimeSpan.FromSeconds(1) }), input));
        Assert.Equal(coincides, f.AddressChange is not null);
    }

    [Fact]
    public void BurstsAreSeparatedByRequester_AndByGapsLongerThanTheWindow()
    {
        var input = new List<object>();
        for (int i = 0; i < 150; i++) input.Add(Ev(ConntrackEventType.Destroy, T0.AddMilliseconds(i), Entry(1000 + i), port: 0));
        for (int i = 0; i < 120; i++) input.Add(Ev(ConntrackEventType.Destroy, T0.AddMilliseconds(i + 0.5), Entry(5000 + i), port: 4242, pid: 4242, name: "conntrack"));
        for (int i = 0; i < 130; i++) input.Add(Ev(ConntrackEventType.Destroy, T0.AddSeconds(10).AddMilliseconds(i), Entry(9000 + i), port: 0));
        var found = Run(new ConntrackFlushDetector(new ConntrackFlushOptions { MinimumEntries = 100, Window = TimeSpan.FromSeconds(1) }), input);
        Assert.Equal(3, found.Count);
        Assert.Equal(new[] { 120, 130, 150 }, found.Select(f => f.Entries).OrderBy(x => x).ToArray());
        var p = Assert.Single(found, f => f.Initiator == ConntrackInitiator.Process);
        Assert.Equal(4242, p.InitiatorProcessId);
        Assert.Equal("conntrack", p.InitiatorProcessName);
        Assert.Null(p.AddressChange);
    }

    [Fact]
    public void SmallBurst_IsNotReported()
    {
        var input = Enumerable.Range(0, 99).Select(i => (object)Ev(ConntrackEventType.Destroy, T0.AddMilliseconds(i), Entry(i + 1))).ToList();
        Assert.Empty(Run(new ConntrackFlushDetector(new ConntrackFlushOptions { MinimumEntries = 100 }), input));
    }

    [Fact]
    public void Timeouts_AreNotFlushes_WhenTheirExpiryWasAnnounced()
    {
        var entries = Enumerable.Range(0, 300).Select(i => { var e = Entry(20000 + i); e.Timeout = TimeSpan.FromSeconds(30); return e; }).ToList();
        var news = entries.Select((e, i) => (object)Ev(ConntrackEventType.New, T0.AddMilliseconds(i), e)).ToList();
        // The garbage collector reaps them all in one pass, just after they expired.
        var gc = entries.Select((e, i) => (object)Ev(ConntrackEventType.Destroy, T0.AddSeconds(31).AddMilliseconds(i / 100.0), e)).ToList();
        var d = new ConntrackFlushDetector(new ConntrackFlushOptions { MinimumEntries = 100 });
        Assert.Empty(Run(d, news.Concat(gc)));
        Assert.Equal(300, d.ExpiredIgnored);
        // The same reaping without the New events cannot be told from a flush: the detector reports it.
        Assert.Single(Run(new ConntrackFlushDetector(new ConntrackFlushOptions { MinimumEntries = 100 }), gc));
    }

    [Fact]
    public void EarlyKernelDestroy_OfAnnouncedEntries_IsAFlush()
    {
        var entries = Enumerable.Range(0, 150).Select(i => Entry(20000 + i)).ToList();   // 5-day timeouts
        var input = entries.Select((e, i) => (object)Ev(ConntrackEventType.New, T0.AddMilliseconds(i), e))
            .Concat(entries.Select((e, i) => (object)Ev(ConntrackEventType.Destroy, T0.AddSeconds(5).AddMilliseconds(i), e)));
        var f = Assert.Single(Run(new ConntrackFlushDetector(new ConntrackFlushOptions { MinimumEntries = 100 }), input));
        Assert.Equal(150, f.Entries);
        Assert.Equal(0, f.ExpiredIgnored);
    }

    [Fact]
    public void MixedEntries_LeaveCommonPropertiesNull()
    {
        var input = Enumerable.Range(0, 120).Select(i => (object)Ev(ConntrackEventType.Destroy, T0.AddMilliseconds(i),
            Entry(i + 1, translated: i % 2 == 0 ? "192.168.11.7" : "192.168.11.8"))).ToList();
        var f = Assert.Single(Run(new ConntrackFlushDetector(new ConntrackFlushOptions { MinimumEntries = 100 }), input));
        Assert.Null(f.Common.TranslatedSourceAddress);
        Assert.Equal("tcp", f.Common.Protocol);
    }

    [Fact]
    public void BadOptions_AreRefused()
    {
        Assert.Throws<ArgumentException>(() => new ConntrackFlushDetector(new ConntrackFlushOptions { MinimumEntries = 0 }));
        Assert.Throws<ArgumentException>(() => new ConntrackFlushDetector(new ConntrackFlushOptions { Window = TimeSpan.Zero }));
    }
}
