using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.ExceptionServices;
using System.Threading;
using System.Threading.Tasks;
using ConntrackTools.Conntrack;
using ConntrackTools.Namespaces;
using ConntrackTools.Routing;

namespace ConntrackTools.Impact;

/// <summary>
/// Address changes together with the conntrack entries destroyed after each removal: the link between "address
/// removed on br-mgmt" and "1,200 entries destroyed in the same millisecond".
/// </summary>
/// <remarks>
/// Three threads. Two readers only read, decode and time-stamp (address changes; conntrack New and Destroy events);
/// the thread that calls <see cref="Run"/> owns the <see cref="AddressImpactTracker"/>, so the bookkeeping needs no
/// locks. When a removal's window closes, that thread dumps the table once more: entries that vanished without a
/// Destroy event (nf_conntrack_events=2, or events lost to an overrun) are counted as well.
/// </remarks>
public sealed class AddressImpactWatcher : IDisposable
{
    /// <summary>Batches waiting for the tracker; when full, the readers wait and the kernel's socket buffers hold the rest.</summary>
    private const int InputCapacity = 1024;

    /// <summary>Longest wait for input, so the end of the duration and Ctrl+C are noticed promptly.</summary>
    private const int PollMilliseconds = 100;

    private readonly AddressMonitor _addresses;
    private readonly ConntrackEventListener _conntrack;
    private readonly Action<Action<ConntrackEntry[]>, CancellationToken> _dumpTable;
    private readonly AddressImpactTracker _tracker;

    /// <summary>
    /// Correlates <paramref name="addresses"/> with <paramref name="conntrack"/> (subscribed to New and Destroy);
    /// <paramref name="dumpTable"/> dumps the whole table, for the snapshot at start and the re-check at each window's close.
    /// </summary>
    public AddressImpactWatcher(AddressMonitor addresses, ConntrackEventListener conntrack,
        Action<Action<ConntrackEntry[]>, CancellationToken> dumpTable, TimeSpan window)
    {
        _addresses = addresses;
        _conntrack = conntrack;
        _dumpTable = dumpTable;
        _tracker = new AddressImpactTracker(window);
    }

    /// <summary>
    /// Subscribes to conntrack New and Destroy events in <paramref name="ns"/>, then takes the table snapshot
    /// (subscribing first, so an entry created meanwhile is known either way). Owns <paramref name="addresses"/> afterwards.
    /// </summary>
    public static AddressImpactWatcher Open(AddressMonitor addresses, NetworkNamespace? ns, TimeSpan window, CancellationToken cancel = default)
    {
        var listener = ConntrackEventListener.Open(ns, [ConntrackEventType.New, ConntrackEventType.Destroy], new ConntrackFilter());
        var client = new ConntrackClient(ns);
        var watcher = new AddressImpactWatcher(addresses, listener,
            (sink, token) => client.Dump(new ConntrackFilter(), kernelFiltering: true, sink, token), window);
        try
        {
            watcher._dumpTable(watcher._tracker.Seed, cancel);
            watcher.SnapshotEntries = watcher._tracker.LiveEntries;
            return watcher;
        }
        catch
        {
            watcher.Dispose();
            throw;
        }
    }

    /// <summary>Entries in the table when the watch started.</summary>
    public int SnapshotEntries { get; private set; }

    /// <summary>Destroyed entries found by a re-check rather than by their Destroy event.</summary>
    public long CountedByRecheck => _tracker.CountedByRecheck;

    /// <summary>Conntrack events the kernel dropped; the re-check makes up for them.</summary>
    public long ConntrackEventsLost => _conntrack.Lost;

    /// <summary>
    /// Runs until <paramref name="cancel"/> fires, or until <paramref name="duration"/> has passed and every open
    /// window has closed, calling <paramref name="sink"/> with address changes in the order they happened; a removal
    /// is passed on when its window closes. An empty batch means that <see cref="AddressMonitor.Lost"/> grew.
    /// </summary>
    public void Run(Action<AddressImpactEvent[]> sink, CancellationToken cancel, TimeSpan? duration = null)
    {
        using var inputs = new BlockingCollection<object>(InputCapacity);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var conntrackReader = StartReader(() => _conntrack.Run(batch => inputs.Add(batch, stop.Token), stop.Token));
        var addressReader = StartReader(() => _addresses.Run(batch => inputs.Add(batch, stop.Token), stop.Token, duration));
        try
        {
            while (true)
            {
                ThrowIfFailed(conntrackReader);
                ThrowIfFailed(addressReader);
                if (addressReader.IsCompleted)
                {
                    // No address change can come any more: finish the open windows, then stop.
                    Drain(inputs, sink);
                    if (!_tracker.HasOpenWindows) break;
                }
                if (inputs.TryTake(out var item, Wait(), cancel)) Feed(item, sink);
                if (_tracker.NextDeadline <= DateTime.Now) CloseWindows(inputs, sink, cancel);
                Emit(sink);
            }
        }
        finally
        {
            stop.Cancel();
            WaitQuietly(conntrackReader, addressReader);
        }
    }

    private int Wait()
    {
        if (_tracker.NextDeadline is not DateTime deadline) return PollMilliseconds;
        double ms = (deadline - DateTime.Now).TotalMilliseconds;
        return (int)Math.Clamp(Math.Ceiling(ms), 0, PollMilliseconds);
    }

    /// <summary>Settles the windows that are due: take in what the readers have, dump the table, take in what came meanwhile.</summary>
    private void CloseWindows(BlockingCollection<object> inputs, Action<AddressImpactEvent[]> sink, CancellationToken cancel)
    {
        Drain(inputs, sink);
        var table = new HashSet<ConntrackEntryKey>();
        _dumpTable(batch => { foreach (var e in batch) table.Add(ConntrackEntryKey.Of(e)); }, cancel);
        // Destroy events read while the dump ran explain entries the dump no longer shows: apply them before comparing.
        Drain(inputs, sink);
        _tracker.CloseWindows(DateTime.Now, table);
    }

    /// <summary>Takes in what is queued now (not what keeps arriving: a flood must not keep this thread here).</summary>
    private void Drain(BlockingCollection<object> inputs, Action<AddressImpactEvent[]> sink)
    {
        for (int n = inputs.Count; n > 0 && inputs.TryTake(out var item); n--) Feed(item, sink);
    }

    private void Feed(object item, Action<AddressImpactEvent[]> sink)
    {
        switch (item)
        {
            case ConntrackEvent[] events:
                foreach (var e in events) _tracker.Observe(e);
                break;
            case AddressChangeEvent[] { Length: 0 }:
                sink(Array.Empty<AddressImpactEvent>()); // the address reader lost messages: let the consumer know now
                break;
            case AddressChangeEvent[] changes:
                foreach (var c in changes) _tracker.Observe(c);
                break;
        }
    }

    private void Emit(Action<AddressImpactEvent[]> sink)
    {
        var ready = _tracker.TakeReady().ToArray();
        if (ready.Length > 0) sink(ready);
    }

    // A reader ends with OperationCanceledException when the stop token interrupts it waiting for room in the queue.
    private static Task StartReader(Action read) =>
        Task.Factory.StartNew(read, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private static void ThrowIfFailed(Task reader)
    {
        if (reader.Exception?.InnerException is { } e && e is not OperationCanceledException) ExceptionDispatchInfo.Throw(e);
    }

    private static void WaitQuietly(params Task[] readers)
    {
        try { Task.WaitAll(readers); }
        catch (AggregateException) { } // a reader's failure was already rethrown above, or the stop caused it
    }

    public void Dispose()
    {
        _conntrack.Dispose();
        _addresses.Dispose();
    }
}
