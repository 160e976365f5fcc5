using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using ConntrackTools.Conntrack;
using Xunit;

using ConntrackTools.Inet;

using ConntrackTools.Impact;

namespace ConntrackTools.Tests;

/// <summary>Which destroyed entries belong to which address removal: windows, re-checks, attribution, order.</summary>
public class AddressImpactTrackerTests
{
    private static readonly DateTime T0 = new(2026, 1, 1, 12, 0, 0, DateTimeKind.Local);
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(2);
    private static readonly IPAddress Vip = IPAddress.Parse("192.168.11.100");
    private static readonly IPAddress NodeIp = IPAddress.Parse("192.168.11.7");
    private static readonly HashSet<ConntrackEntryKey> Nothing = new();

    /// <summary>A masqueraded tcp entry: the peer sees it coming from <paramref name="translatedSource"/>.</summary>
    private static ConntrackEntry Entry(uint id, IPAddress translatedSource) => new(
        new FlowTuple(IPAddress.Parse("10.244.0.5"), IPAddress.Parse("10.232.3.28"), Protocols.Tcp, 40000 + (int)id, 8899),
        new FlowTuple(IPAddress.Parse("10.232.3.28"), translatedSource, Protocols.Tcp, 8899, 30000 + (int)id))
    {
        Id = id,
        AddressFamily = IPFamily.IPv4,
    };

    private static ConntrackEvent Destroy(ConntrackEntry e, TimeSpan after) => new(ConntrackEventType.Destroy, T0 + after, e);
    private static ConntrackEvent New(ConntrackEntry e, TimeSpan after) => new(ConntrackEventType.New, T0 + after, e);

    private static AddressChangeEvent Change(AddressChange change, TimeSpan after, IPAddress? address = null) => new()
    {
        Change = change,
        TimeReceived = T0 + after,
        IP = address ?? Vip,
        PrefixLength = 32,
        AddressFamily = IPFamily.IPv4,
        InterfaceName = "br-mgmt",
    };

    private static HashSet<ConntrackEntryKey> Table(params ConntrackEntry[] entries) => entries.Select(ConntrackEntryKey.Of).ToHashSet();

    private static TimeSpan Ms(int ms) => TimeSpan.FromMilliseconds(ms);

    [Fact]
    public void DestroysInsideTheWindow_AreCountedAndAttributed()
    {
        var tracker = new AddressImpactTracker(Window);
        var related = Entry(1, Vip);
        var unrelated1 = Entry(2, NodeIp);
        var unrelated2 = Entry(3, NodeIp);
        tracker.Seed([related, unrelated1, unrelated2]);
        tracker.Observe(Change(AddressChange.Removed, Ms(0)));
        tracker.Observe(Destroy(related, Ms(5)));
        tracker.Observe(Destroy(unrelated1, Ms(6)));
        tracker.Observe(Destroy(unrelated2, Ms(7)));
        Assert.Empty(tracker.TakeReady());               // still inside its window
        tracker.CloseWindows(T0 + Window, Nothing);
        var removal = Assert.Single(tracker.TakeReady());
        Assert.Equal(3, removal.DestroyedEntries);
        Assert.Equal(2, removal.DestroyedUnrelated);
        Assert.Equal([2u, 3u, 1u], removal.DestroyedSample!.Select(e => e.Id)); // unrelated ones first
        Assert.Equal(0, tracker.CountedByRecheck);
    }

    [Fact]
    public void DestroysLongBeforeOrAfterTheWindow_AreNotCounted()
    {
        var tracker = new AddressImpactTracker(Window);
        var early = Entry(1, NodeIp);
        var late = Entry(2, NodeIp);
        tracker.Seed([early, late]);
        tracker.Observe(Destroy(early, Ms(0)));
        tracker.Observe(Change(AddressChange.Removed, Ms(500)));
        tracker.Observe(Destroy(late, Ms(500) + Window + Ms(10)));
        tracker.CloseWindows(T0 + Ms(500) + Window + Ms(20), Table());
        var removal = Assert.Single(tracker.TakeReady());
        Assert.Equal(0, removal.DestroyedEntries);
        Assert.Empty(removal.DestroyedSample!);
    }

    [Fact]
    public void ADestroyReadJustBeforeTheRemoval_IsCounted()
    {
        // The two readers time-stamp independently: a Destroy caused by the removal can carry a slightly earlier time.
        var tracker = new AddressImpactTracker(Window);
        var e = Entry(1, Vip);
        tracker.Seed([e]);
        tracker.Observe(Destroy(e, Ms(1000) - AddressImpactTracker.ReorderTolerance / 2));
        tracker.Observe(Change(AddressChange.Removed, Ms(1000)));
        tracker.CloseWindows(T0 + Ms(1000) + Window, Nothing);
        Assert.Equal(1, Assert.Single(tracker.TakeReady()).DestroyedEntries);
    }

    [Fact]
    public void SilentlyVanishedEntries_AreFoundByTheRecheck_AndNotCountedTwice()
    {
        var tracker = new AddressImpactTracker(Window);
        var silent = Entry(1, NodeIp);      // created before the watch (nf_conntrack_events=2): no Destroy will come
        var kept = Entry(2, NodeIp);
        var born = Entry(3, Vip);           // created during the watch, then vanished without its Destroy reaching us
        tracker.Seed([silent, kept]);
        tracker.Observe(New(born, Ms(100)));
        tracker.Observe(Change(AddressChange.Removed, Ms(200)));
        tracker.CloseWindows(T0 + Ms(200) + Window, Table(kept));
        var first = Assert.Single(tracker.TakeReady());
        Assert.Equal(2, first.DestroyedEntries);
        Assert.Equal(1, first.DestroyedUnrelated);
        Assert.Equal(2, tracker.CountedByRecheck);
        Assert.Equal(1, tracker.LiveEntries);

        // born's Destroy event arrives late, inside a second removal's window: it was counted already.
        tracker.Observe(Change(AddressChange.Removed, Ms(5000)));
        tracker.Observe(Destroy(born, Ms(5001)));
        tracker.CloseWindows(T0 + Ms(5000) + Window, Table(kept));
        Assert.Equal(0, Assert.Single(tracker.TakeReady()).DestroyedEntries);
    }

    [Fact]
    public void OverlappingWindows_CountEachEntryOnce_ForTheEarlierRemoval()
    {
        var tracker = new AddressImpactTracker(Window);
        var a = Entry(1, Vip);
        var b = Entry(2, Vip);
        tracker.Seed([a, b]);
        tracker.Observe(Change(AddressChange.Removed, Ms(0)));
        tracker.Observe(Change(AddressChange.Removed, Ms(1000), IPAddress.Parse("192.168.11.101")));
        tracker.Observe(Destroy(a, Ms(1500)));   // inside both windows
        tracker.Observe(Destroy(b, Ms(2500)));   // inside the second only
        tracker.CloseWindows(T0 + Ms(1000) + Window, Nothing);
        var ready = tracker.TakeReady().ToList();
        Assert.Equal([1, 1], ready.Select(r => r.DestroyedEntries!.Value));
        Assert.Equal([0, 1], ready.Select(r => r.DestroyedUnrelated!.Value)); // b is unrelated to the second address
    }

    [Fact]
    public void ChangesLeaveInTheOrderTheyHappened()
    {
        var tracker = new AddressImpactTracker(Window);
        tracker.Observe(Change(AddressChange.Added, Ms(0)));
        tracker.Observe(Change(AddressChange.Removed, Ms(10)));
        tracker.Observe(Change(AddressChange.Added, Ms(20)));
        Assert.Equal([AddressChange.Added], tracker.TakeReady().Select(c => c.Change));
        Assert.Equal(T0 + Ms(10) + Window, tracker.NextDeadline);
        tracker.CloseWindows(T0 + Ms(10) + Window, Nothing);
        var rest = tracker.TakeReady().ToList();
        Assert.Equal([AddressChange.Removed, AddressChange.Added], rest.Select(c => c.Change));
        Assert.Null(rest[1].DestroyedEntries);    // additions carry no impact
        Assert.False(tracker.HasOpenWindows);
    }

    [Fact]
    public void SampleIsBounded()
    {
        var tracker = new AddressImpactTracker(Window);
        var entries = Enumerable.Range(1, 50).Select(i => Entry((uint)i, NodeIp)).ToArray();
        tracker.Seed(entries);
        tracker.Observe(Change(AddressChange.Removed, Ms(0)));
        foreach (var e in entries) tracker.Observe(Destroy(e, Ms(1)));
        tracker.CloseWindows(T0 + Window, Nothing);
        var removal = Assert.Single(tracker.TakeReady());
        Assert.Equal(50, removal.DestroyedEntries);
        Assert.Equal(AddressImpactTracker.SampleSize, removal.DestroyedSample!.Length);
    }

    [Fact]
    public void WindowMustBePositive() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new AddressImpactTracker(TimeSpan.Zero));
}
