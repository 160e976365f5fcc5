using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using ConntrackTools.Conntrack;
using ConntrackTools.Health;
using ConntrackTools.Netlink;
using Xunit;

namespace ConntrackTools.Tests;

public class KernelAdvisoryTests
{
    private static KernelAdvisoryDefinition Row(string id) => KernelAdvisories.Load().Single(a => a.Id == id);

    [Fact]
    public void Table_HasTheIssuesRows_WithCommitsAndSources()
    {
        var t = KernelAdvisories.Load();
        Assert.Equal(new[] { "MasqueradeFlushOnAddressDelete", "UdpInsertClash", "RandomFullyVxlanChecksum", "HelperAutoAssignRemoved", "CtaFilterIPv6Inverted" },
            t.Select(a => a.Id).ToArray());
        Assert.All(t, a => Assert.NotEmpty(a.Sources));
        Assert.StartsWith("097f95d319f8", Row("MasqueradeFlushOnAddressDelete").Fix!.Commit);
        Assert.Equal(new[] { "5.0", "4.19.85", "4.14.155" }, Row("MasqueradeFlushOnAddressDelete").FixedIn.Select(r => r.Version));
        Assert.Equal(new[] { "5.7", "5.6.13", "5.4.41", "4.19.123", "4.14.181" }, Row("RandomFullyVxlanChecksum").FixedIn.Select(r => r.Version));
    }

    [Theory]
    [InlineData("4.19.84", KernelAdvisoryStatus.Affected)]
    [InlineData("4.19.85", KernelAdvisoryStatus.Fixed)]
    [InlineData("4.19.200-amd64", KernelAdvisoryStatus.Fixed)]
    [InlineData("4.14.154", KernelAdvisoryStatus.Affected)]
    [InlineData("4.14.155", KernelAdvisoryStatus.Fixed)]
    [InlineData("4.20.17", KernelAdvisoryStatus.Affected)]   // no backport to 4.20
    [InlineData("4.9.300", KernelAdvisoryStatus.Affected)]
    [InlineData("5.0", KernelAdvisoryStatus.Fixed)]
    [InlineData("6.18.44-fc-v1045", KernelAdvisoryStatus.Fixed)]
    [InlineData("garbage", KernelAdvisoryStatus.Unknown)]
    public void MasqueradeFlush_ByVersion(string release, KernelAdvisoryStatus expected) =>
        Assert.Equal(expected, KernelAdvisories.ByVersion(Row("MasqueradeFlushOnAddressDelete"), release));

    [Theory]
    [InlineData("5.4.40", KernelAdvisoryStatus.Affected)]
    [InlineData("5.4.41", KernelAdvisoryStatus.Fixed)]
    [InlineData("5.6.12", KernelAdvisoryStatus.Affected)]
    [InlineData("5.7.0", KernelAdvisoryStatus.Fixed)]
    public void VxlanChecksum_ByVersion(string release, KernelAdvisoryStatus expected) =>
        Assert.Equal(expected, KernelAdvisories.ByVersion(Row("RandomFullyVxlanChecksum"), release));

    [Theory]
    [InlineData("5.19.17", KernelAdvisoryStatus.DoesNotApply)]
    [InlineData("6.0.1", KernelAdvisoryStatus.Applies)]
    public void HelperChange_ByVersion(string release, KernelAdvisoryStatus expected) =>
        Assert.Equal(expected, KernelAdvisories.ByVersion(Row("HelperAutoAssignRemoved"), release));

    [Fact]
    public void TheProbeDecides_OverTheVersion()
    {
        var table = KernelAdvisories.Load();
        // A distribution 4.19.50 with the fix backported: the version says affected, the sandbox says fixed.
        var probes = new Dictionary<string, ProbeResult> { ["VipMigration"] = new(ProbeVerdict.Fixed, "0 lost, 0 reset") };
        var r = KernelAdvisories.Evaluate(table, "4.19.50", probes).Single(h => h.Name == "KernelAdvisory.MasqueradeFlushOnAddressDelete");
        Assert.True(r.Passed);
        Assert.Equal("Fixed (probe)", r.Value);
        Assert.Equal(KernelAdvisoryStatus.Affected, r.Advisory!.VersionStatus);
        Assert.Equal(KernelAdvisoryStatus.Fixed, r.Advisory.Status);
        Assert.Contains("only a hint", r.Message);
        var noProbe = KernelAdvisories.Evaluate(table, "4.19.50", new Dictionary<string, ProbeResult>()).Single(h => h.Name == "KernelAdvisory.MasqueradeFlushOnAddressDelete");
        Assert.False(noProbe.Passed);
        Assert.Equal("Affected (version)", noProbe.Value);
        Assert.Contains("-IncludeVipMigration", noProbe.Message);
        var ipv6 = KernelAdvisories.Evaluate(table, "6.18.44", new Dictionary<string, ProbeResult> { ["CtaFilterIPv6"] = new(ProbeVerdict.Affected, "inverted") })
            .Single(h => h.Name == "KernelAdvisory.CtaFilterIPv6Inverted");
        Assert.False(ipv6.Passed);
        Assert.Equal(ProbeVerdict.Affected, ipv6.Advisory!.ProbeVerdict);
    }

    [Fact]
    public void MalformedTable_IsRefused()
    {
        var bad = "{\"advisories\":[{\"id\":\"X\",\"kind\":\"Defect\",\"title\":\"t\",\"fixedIn\":[{\"release\":\"five\"}]}]}";
        Assert.Throws<FormatException>(() => KernelAdvisories.Parse(new MemoryStream(Encoding.UTF8.GetBytes(bad))));
    }
}

public class InitiatorTests
{
    [Fact]
    public void EventHeaderPortId_IsTheInitiator()
    {
        // event-destroy.hex was recorded while `conntrack -D` deleted the entry: its header names that socket.
        var e = EventDecoderTests.Event("event-destroy");
        Assert.Equal(3003260551u, e.InitiatorPortId);
        Assert.Equal(ConntrackInitiator.Unknown, e.Initiator);   // nobody resolved it
        Assert.Null(e.InitiatorProcessId);
        var n = EventDecoderTests.Event("event-new");
        Assert.Equal(16538u, n.InitiatorPortId);
    }

    [Fact]
    public void KernelEvents_HavePortIdZero()
    {
        var bytes = Fixture.Messages("event-destroy")[0];
        BitConverter.GetBytes(0u).CopyTo(bytes, 12);
        var reader = new NetlinkMessageReader(bytes);
        Assert.True(reader.Next());
        var e = ConntrackEventDecoder.Decode(reader.Current, DateTime.Now)!;
        Assert.Equal(ConntrackInitiator.Kernel, e.Initiator);
    }

    [Fact]
    public void Listener_ResolvesThePortId_OfEachEvent()
    {
        var asked = new List<uint>();
        var events = Fixture.Messages("event-destroy").Concat(Fixture.Messages("event-new")).ToList();
        var t = new MulticastTransport();
        foreach (var m in events) t.Datagram(m);
        using var l = new ConntrackEventListener(t, new ConntrackFilter());
        l.ResolveInitiator = p => { asked.Add(p); return p == 16538 ? (77, "conntrack") : null; };
        var got = new List<ConntrackEvent>();
        using var cts = new System.Threading.CancellationTokenSource(TimeSpan.FromSeconds(5));
        l.Run(b => { got.AddRange(b); if (got.Count >= 2) cts.Cancel(); }, cts.Token);
        Assert.Equal(new uint[] { 3003260551, 16538 }, asked.ToArray());
        var n = Assert.Single(got, e => e.EventType == ConntrackEventType.New);
        Assert.Equal(ConntrackInitiator.Process, n.Initiator);
        Assert.Equal(77, n.InitiatorProcessId);
        Assert.Equal("conntrack", n.InitiatorProcessName);
        Assert.Equal(ConntrackInitiator.Unknown, got.Single(e => e.EventType == ConntrackEventType.Destroy).Initiator);
    }

    [Fact]
    public void Listener_ResolvesThePortId_BeforeDecoding_EvenForEventsTheFilterDrops()
    {
        // The requester's socket may close a few milliseconds after a flush's first event, so the lookup comes before
        // decoding and filtering: both events here are TCP, the filter wants UDP, and both port ids are still asked.
        var asked = new List<uint>();
        var t = new MulticastTransport();
        foreach (var m in Fixture.Messages("event-destroy").Concat(Fixture.Messages("event-new"))) t.Datagram(m);
        using var l = new ConntrackEventListener(t, new ConntrackFilter { Protocol = 17 });
        l.ResolveInitiator = p => { asked.Add(p); return null; };
        var got = new List<ConntrackEvent>();
        l.Run(b => got.AddRange(b), System.Threading.CancellationToken.None, TimeSpan.FromMilliseconds(300));
        Assert.Equal(new uint[] { 3003260551, 16538 }, asked.ToArray());
        Assert.Empty(got);
        Assert.Equal(2, l.Received);
    }
}
