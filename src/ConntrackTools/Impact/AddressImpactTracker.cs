using System;
using System.Collections.Generic;
using System.Linq;
using ConntrackTools.Conntrack;
using ConntrackTools.Routing;

namespace ConntrackTools.Impact;

/// <summary>
/// Decides which destroyed conntrack entries belong to which address removal. Pure bookkeeping, fed in order by one
/// thread: conntrack New/Destroy events, address changes, and at each window's close the keys of the table as a
/// dump shows it then.
/// </summary>
/// <remarks>
/// Destroy events alone are not enough. With net.netfilter.nf_conntrack_events=2, entries created while no listener
/// existed never report their destruction, and a burst can overflow the socket. So the tracker also knows the table
/// (a dump at start plus New events, minus Destroy events); when a window closes, the entries it believed alive but
/// the table no longer holds were destroyed silently and are counted for that window too. Each entry is counted
/// once: by its Destroy event, or by the re-check, whichever comes first.
/// </remarks>
public sealed class AddressImpactTracker
{
    /// <summary>
    /// A window opens this long before the removal was read. The kernel sends RTM_DELADDR before it starts the
    /// masquerade cleanup, but the two messages travel on different sockets read by different threads, and a
    /// Destroy can be stamped a little before the removal that caused it.
    /// </summary>
    public static readonly TimeSpan ReorderTolerance = TimeSpan.FromMilliseconds(100);

    /// <summary>How many destroyed entries a removal carries in DestroyedSample.</summary>
    public const int SampleSize = 10;

    // Keys counted by a re-check are remembered this long, so a late Destroy event for them is not counted again.
    private static readonly TimeSpan RecheckMemory = TimeSpan.FromMinutes(1);

    // While no window is open, Destroy events are kept this long: far more than any delay between the two reader
    // threads, so a removal that reaches the tracker after the Destroys it caused still finds them.
    private static readonly TimeSpan IdleHistory = TimeSpan.FromSeconds(1);

    private readonly TimeSpan _window;
    private readonly Dictionary<ConntrackEntryKey, ConntrackEntry> _live = new();
    private readonly Queue<(DateTime Time, ConntrackEntry Entry)> _destroyed = new();
    private readonly Dictionary<ConntrackEntryKey, DateTime> _countedByRecheck = new();
    private readonly Queue<Pending> _output = new();
    private readonly List<Pending> _open = new();

    public AddressImpactTracker(TimeSpan window)
    {
        if (window <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(window), window, "The impact window must be positive.");
        _window = window;
    }

    /// <summary>Entries the tracker believes alive.</summary>
    public int LiveEntries => _live.Count;

    /// <summary>Entries counted because a re-check no longer found them (they sent no Destroy event in time).</summary>
    public long CountedByRecheck { get; private set; }

    /// <summary>True while some removal waits for its window to close.</summary>
    public bool HasOpenWindows => _open.Count > 0;

    /// <summary>When the earliest open window closes, or null.</summary>
    public DateTime? NextDeadline => _open.Count > 0 ? _open[0].Deadline : null;

    /// <summary>The table as a dump at start showed it.</summary>
    public void Seed(IEnumerable<ConntrackEntry> table)
    {
        foreach (var e in table) _live[ConntrackEntryKey.Of(e)] = e;
    }

    public void Observe(ConntrackEvent e)
    {
        var key = ConntrackEntryKey.Of(e.Entry);
        switch (e.EventType)
        {
            case ConntrackEventType.New:
                _live[key] = e.Entry;
                break;
            case ConntrackEventType.Destroy:
                if (_countedByRecheck.Remove(key)) return;
                _live.Remove(key);
                if (_open.Count == 0) DropDestroyedBefore(e.TimeReceived - IdleHistory);
                _destroyed.Enqueue((e.TimeReceived, e.Entry));
                break;
        }
    }

    /// <summary>Queues an address change for output; a removal opens a window and waits for it to close.</summary>
    public void Observe(AddressChangeEvent change)
    {
        var pending = new Pending(change, change.TimeReceived + _window);
        _output.Enqueue(pending);
        if (change.Change == AddressChange.Removed) _open.Add(pending);
        else pending.Result = new AddressImpactEvent(change);
    }

    /// <summary>
    /// Closes every window whose deadline has passed. <paramref name="tableNow"/> is the table's keys from a dump
    /// taken after the deadline: known entries missing from it were destroyed without an event reaching us.
    /// </summary>
    public void CloseWindows(DateTime now, IReadOnlySet<ConntrackEntryKey> tableNow)
    {
        bool recheckUsed = false;
        while (_open.Count > 0 && _open[0].Deadline <= now)
        {
            var p = _open[0];
            _open.RemoveAt(0);
            DropDestroyedBefore(p.Change.TimeReceived - ReorderTolerance);
            var destroyed = new List<ConntrackEntry>();
            while (_destroyed.Count > 0 && _destroyed.Peek().Time <= p.Deadline) destroyed.Add(_destroyed.Dequeue().Entry);
            if (!recheckUsed)
            {
                // Silent destructions happened some time since the last look; they go to the earliest window.
                destroyed.AddRange(TakeVanished(tableNow, now));
                recheckUsed = true;
            }
            Complete(p, destroyed);
        }
        foreach (var stale in _countedByRecheck.Where(kv => now - kv.Value > RecheckMemory).Select(kv => kv.Key).ToList())
            _countedByRecheck.Remove(stale);
    }

    /// <summary>Address changes ready to be written, in the order they happened.</summary>
    public IEnumerable<AddressImpactEvent> TakeReady()
    {
        while (_output.Count > 0 && _output.Peek().Result is not null) yield return _output.Dequeue().Result!;
    }

    private List<ConntrackEntry> TakeVanished(IReadOnlySet<ConntrackEntryKey> tableNow, DateTime now)
    {
        var vanished = _live.Where(kv => !tableNow.Contains(kv.Key)).ToList();
        foreach (var (key, _) in vanished)
        {
            _live.Remove(key);
            _countedByRecheck[key] = now;
        }
        CountedByRecheck += vanished.Count;
        return vanished.Select(kv => kv.Value).ToList();
    }

    private void DropDestroyedBefore(DateTime time)
    {
        while (_destroyed.Count > 0 && _destroyed.Peek().Time < time) _destroyed.Dequeue();
    }

    private static void Complete(Pending p, List<ConntrackEntry> destroyed)
    {
        var address = p.Change.IP;
        bool Related(ConntrackEntry e) => e.Reply.DestinationIP.Equals(address) || e.Reply.SourceIP.Equals(address);
        var unrelated = destroyed.Where(e => !Related(e)).ToList();
        p.Result = new AddressImpactEvent(p.Change, destroyed.Count, unrelated.Count,
            unrelated.Concat(destroyed.Where(Related)).Take(SampleSize).ToArray());
    }

    private sealed class Pending(AddressChangeEvent change, DateTime deadline)
    {
        public AddressChangeEvent Change { get; } = change;
        public DateTime Deadline { get; } = deadline;
        /// <summary>The event to write, once it is known (at once for an addition, when the window closes for a removal).</summary>
        public AddressImpactEvent? Result { get; set; }
    }
}
