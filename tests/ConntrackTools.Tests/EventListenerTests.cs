using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using ConntrackTools.Conntrack;
using Xunit;

using ConntrackTools.Inet;

namespace ConntrackTools.Tests;

/// <summary>The event read loop over a fake subscribed socket: batching, filtering, loss accounting, stopping.</summary>
public class EventListenerTests
{
    private static byte[] Message(string fixture) => Fixture.Messages(fixture)[0];

    /// <summary>Runs the listener until the script is used up; returns the batches the sink got.</summary>
    private static List<ConntrackEvent[]> RunToEnd(ConntrackEventListener listener, MulticastTransport transport)
    {
        using var cancel = new CancellationTokenSource();
        transport.OnIdle = cancel.Cancel;
        var batches = new List<ConntrackEvent[]>();
        listener.Run(batches.Add, cancel.Token);
        return batches;
    }

    [Fact]
    public void ReadyDatagrams_TravelAsOneBatch()
    {
        var t = new MulticastTransport().Datagram(Message("event-new")).Datagram(Message("event-update")).Datagram(Message("event-destroy"));
        var listener = new ConntrackEventListener(t, new ConntrackFilter());
        var batches = RunToEnd(listener, t);
        var batch = Assert.Single(batches);
        Assert.Equal([ConntrackEventType.New, ConntrackEventType.Update, ConntrackEventType.Destroy], batch.Select(e => e.EventType));
        Assert.Equal(3, listener.Received);
        Assert.Equal(3, listener.Matched);
        Assert.Equal(0, listener.Lost);
    }

    [Fact]
    public void Filter_KeepsOnlyMatchingEvents()
    {
        var t = new MulticastTransport().Datagram(Message("event-new")).Datagram(Message("event-new-udp6-zone")).Datagram(Message("event-new-icmp"));
        var listener = new ConntrackEventListener(t, new ConntrackFilter { Protocol = Protocols.Udp }, "ctt-x");
        var e = Assert.Single(RunToEnd(listener, t).SelectMany(b => b));
        Assert.Equal("udp", e.Protocol);
        Assert.Equal("ctt-x", e.NetworkNamespace);
        Assert.Equal(3, listener.Received);
        Assert.Equal(1, listener.Matched);
    }

    [Fact]
    public void Overrun_IsCountedFromTheDropCounter_AndSignalledWithAnEmptyBatch()
    {
        var t = new MulticastTransport(countsDrops: true).Datagram(Message("event-new")).Overrun(500).Datagram(Message("event-destroy"));
        var listener = new ConntrackEventListener(t, new ConntrackFilter());
        var batches = RunToEnd(listener, t);
        Assert.Equal(500, listener.Lost);
        Assert.True(listener.LostCountExact);
        Assert.Equal(1, listener.Overruns);
        Assert.Contains(batches, b => b.Length == 0);
        Assert.Equal(2, batches.Sum(b => b.Length)); // the events around the overrun are kept
    }

    [Fact]
    public void WithoutADropCounter_EachOverrunCountsAsAtLeastOne()
    {
        var t = new MulticastTransport(countsDrops: false).Overrun(500).Overrun(7);
        var listener = new ConntrackEventListener(t, new ConntrackFilter());
        RunToEnd(listener, t);
        Assert.False(listener.LostCountExact);
        Assert.Equal(2, listener.Lost);
    }

    [Fact]
    public void NonEventMessages_AreSkipped()
    {
        var t = new MulticastTransport().Datagram(ScriptedTransport.Error(Netlink.Errno.ENOBUFS)).Datagram(Message("event-new"));
        var listener = new ConntrackEventListener(t, new ConntrackFilter());
        Assert.Single(RunToEnd(listener, t).SelectMany(b => b));
        Assert.Equal(1, listener.Received);
    }

    [Fact]
    public async Task Duration_EndsTheRunWithoutCancellation()
    {
        var t = new MulticastTransport();
        var listener = new ConntrackEventListener(t, new ConntrackFilter());
        var run = Task.Run(() => listener.Run(_ => { }, CancellationToken.None, TimeSpan.FromMilliseconds(50)));
        // A guard against hanging the suite, not a timing assertion.
        Assert.Same(run, await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(30))));
    }

    [Fact]
    public void Dispose_ClosesTheSocket()
    {
        var t = new MulticastTransport();
        new ConntrackEventListener(t, new ConntrackFilter()).Dispose();
        Assert.True(t.Disposed);
    }
}
