using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;

namespace ConntrackTools.Namespaces;

/// <summary>A namespace that came or went while a watch ran, for -Verbose.</summary>
public readonly record struct NamespaceChange(NetworkNamespace Namespace, bool Added, string Reason);

/// <summary>
/// Runs one watcher per network namespace for as long as the namespace exists, for the -AllNetworkNamespaces
/// watchers: namespaces created while it runs are picked up (inotify on the named folders reports a new name at once;
/// a rescan of /proc every <see cref="RescanInterval"/> finds namespaces held only by a process), and the watcher of
/// a namespace that can no longer be reached (its name deleted and no process left in it) is cancelled: its sockets
/// must not keep a dead namespace alive.
/// </summary>
public sealed class NamespaceWatch : IDisposable
{
    public static readonly TimeSpan RescanInterval = TimeSpan.FromSeconds(1);

    private sealed class Running
    {
        public required NetworkNamespace Namespace { get; init; }
        public required CancellationTokenSource Cancel { get; init; }
        public required Thread Thread { get; init; }
    }

    private readonly Action<NetworkNamespace, CancellationToken> _watchOne;
    private readonly Action<NamespaceChange> _changed;
    private readonly Action<NetworkNamespace, Exception> _failed;
    private readonly Dictionary<ulong, Running> _running = new();
    private readonly HashSet<ulong> _failedIds = new();
    private readonly HashSet<ulong> _unnamedSeenOnce = new();
    private readonly Func<List<NamespaceInventory.Found>> _scan;
    private int _inotify = -1;
    private CancellationToken _runToken;
    private readonly HashSet<string> _watchedDirectories = new(StringComparer.Ordinal);

    /// <summary>
    /// <paramref name="watchOne"/> watches one namespace until its token is cancelled (it runs on a thread of its own,
    /// and enters the namespace itself). <paramref name="changed"/> hears about namespaces added and let go;
    /// <paramref name="failed"/> about a watcher that failed (the others carry on). Callbacks run on worker threads.
    /// </summary>
    public NamespaceWatch(Action<NetworkNamespace, CancellationToken> watchOne, Action<NamespaceChange> changed,
        Action<NetworkNamespace, Exception> failed, Func<List<NamespaceInventory.Found>>? scan = null)
    {
        _watchOne = watchOne;
        _changed = changed;
        _failed = failed;
        _scan = scan ?? NamespaceInventory.Scan;
    }

    /// <summary>Namespaces watched now.</summary>
    public int Count
    {
        get { lock (_running) return _running.Count; }
    }

    /// <summary>Watches until <paramref name="cancel"/> fires or <paramref name="duration"/> has passed.</summary>
    public void Run(CancellationToken cancel, TimeSpan? duration = null)
    {
        var clock = Stopwatch.StartNew();
        _runToken = cancel;
        _inotify = NamespaceNative.InotifyInit(NamespaceNative.IN_NONBLOCK | NamespaceNative.IN_CLOEXEC);
        try
        {
            Rescan(initial: true);
            // 'ip netns add' creates the name's file before it mounts the namespace on it: after a change in a named
            // folder, look again shortly, as well as at once.
            TimeSpan nextScan = RescanInterval;
            var buffer = new byte[4096];
            while (!cancel.IsCancellationRequested)
            {
                TimeSpan left = duration is TimeSpan d ? d - clock.Elapsed : TimeSpan.MaxValue;
                if (left <= TimeSpan.Zero) break;
                double untilScan = (nextScan - clock.Elapsed).TotalMilliseconds;
                int wait = (int)Math.Clamp(Math.Min(left.TotalMilliseconds, untilScan), 0, 200);
                bool named = false;
                if (_inotify >= 0)
                {
                    if (NamespaceNative.WaitReadable(_inotify, wait))
                        while (NamespaceNative.Read(_inotify, buffer) > 0) named = true;
                }
                else cancel.WaitHandle.WaitOne(wait);
                if (cancel.IsCancellationRequested) break;
                if (named || clock.Elapsed >= nextScan)
                {
                    Rescan(initial: false);
                    nextScan = clock.Elapsed + (named ? TimeSpan.FromMilliseconds(100) : RescanInterval);
                }
            }
        }
        finally
        {
            StopAll();
            if (_inotify >= 0) NamespaceNative.Close(_inotify);
            _inotify = -1;
        }
    }

    private void Rescan(bool initial)
    {
        WatchNamedDirectories();
        var found = _scan();
        var present = new HashSet<ulong>(found.Select(f => f.Id));
        lock (_running)
        {
            foreach (var (id, r) in _running.ToArray())
            {
                if (present.Contains(id) && r.Thread.IsAlive) continue;
                _running.Remove(id);
                if (!present.Contains(id))
                {
                    r.Cancel.Cancel();
                    _changed(new NamespaceChange(r.Namespace, false, "it can no longer be reached (no name and no process left in it)"));
                }
                r.Cancel.Dispose();
            }
            _failedIds.IntersectWith(present);
            _unnamedSeenOnce.IntersectWith(present);
            foreach (var f in found)
            {
                if (_running.ContainsKey(f.Id) || _failedIds.Contains(f.Id)) continue;
                // 'ip netns add' runs inside the new namespace for a moment before the name exists: an unnamed
                // namespace that appears during the watch is taken once a second scan still sees it, so that it is
                // not labelled with the path of that short-lived process.
                if (!initial && f.Name is null && _unnamedSeenOnce.Add(f.Id)) continue;
                _unnamedSeenOnce.Remove(f.Id);
                var ns = f.ToNamespace();
                var cts = CancellationTokenSource.CreateLinkedTokenSource(_runToken);
                var thread = new Thread(() => WatchOne(ns, cts.Token)) { IsBackground = true, Name = "netns watch " + ns.Spec };
                _running[f.Id] = new Running { Namespace = ns, Cancel = cts, Thread = thread };
                thread.Start();
                if (!initial) _changed(new NamespaceChange(ns, true, "it appeared"));
            }
        }
    }

    private void WatchOne(NetworkNamespace ns, CancellationToken token)
    {
        try
        {
            _watchOne(ns, token);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
        catch (NetworkNamespaceNotFoundException)
        {
            // Gone before its watcher could open: the next scan no longer lists it.
        }
        catch (Exception e)
        {
            lock (_running) _failedIds.Add(ns.Id ?? 0);
            _failed(ns, e);
        }
    }

    private void WatchNamedDirectories()
    {
        if (_inotify < 0) return;
        foreach (var dir in NamespaceInventory.ExistingNamedDirectories())
        {
            if (_watchedDirectories.Contains(dir)) continue;
            uint mask = NamespaceNative.IN_CREATE | NamespaceNative.IN_DELETE | NamespaceNative.IN_MOVED_FROM | NamespaceNative.IN_MOVED_TO | NamespaceNative.IN_ATTRIB;
            if (NamespaceNative.InotifyAddWatch(_inotify, dir, mask) >= 0) _watchedDirectories.Add(dir);
        }
    }

    private void StopAll()
    {
        Running[] all;
        lock (_running)
        {
            all = _running.Values.ToArray();
            _running.Clear();
        }
        foreach (var r in all) r.Cancel.Cancel();
        foreach (var r in all)
        {
            r.Thread.Join();
            r.Cancel.Dispose();
        }
    }

    public void Dispose() => StopAll();
}
