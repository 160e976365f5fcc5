using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Threading;
using ConntrackTools.Impact;
using ConntrackTools.Namespaces;
using ConntrackTools.Routing;

namespace ConntrackTools.Lab;

/// <summary>
/// Watch-AddressChange -IncludeConntrackImpact for the length of a test: records the address changes on one device
/// together with the conntrack entries destroyed within a window after each removal.
/// </summary>
internal sealed class AddressImpactRecorder : IDisposable
{
    private readonly AddressImpactWatcher _watcher;
    private readonly List<AddressImpactEvent> _changes = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;
    private Exception? _failure;

    private AddressImpactRecorder(AddressImpactWatcher watcher)
    {
        _watcher = watcher;
        _thread = new Thread(() =>
        {
            try
            {
                _watcher.Run(batch =>
                {
                    lock (_changes) { _changes.AddRange(batch); Monitor.PulseAll(_changes); }
                }, _stop.Token);
            }
            catch (OperationCanceledException) { }
            catch (Exception e) { _failure = e; }
            finally { lock (_changes) Monitor.PulseAll(_changes); }
        })
        { IsBackground = true, Name = "Test-VipMigration address impact" };
        _thread.Start();
    }

    public static AddressImpactRecorder Start(NetworkNamespace? ns, string device, IPFamily family, TimeSpan window, CancellationToken cancel)
    {
        var monitor = AddressMonitor.Open(ns, family, name => name == device, cancel);
        return new AddressImpactRecorder(AddressImpactWatcher.Open(monitor, ns, window, cancel));
    }

    /// <summary>Waits (at most <paramref name="timeout"/>) for the removal of <paramref name="address"/> to be reported with its impact, then stops.</summary>
    public IReadOnlyList<AddressImpactEvent> Stop(IPAddress address, TimeSpan timeout)
    {
        // Woken by each batch the watcher delivers and by its end; no polling.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        lock (_changes)
        {
            while (_failure is null && _thread.IsAlive && !_changes.Any(c => c.Change == AddressChange.Removed && c.IP.Equals(address)))
            {
                var left = timeout - clock.Elapsed;
                if (left <= TimeSpan.Zero) break;
                Monitor.Wait(_changes, left);
            }
        }
        _stop.Cancel();
        _thread.Join();
        if (_failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(_failure);
        lock (_changes) return _changes.ToArray();
    }

    public void Dispose()
    {
        _stop.Cancel();
        if (_thread.IsAlive) _thread.Join();
        _watcher.Dispose();
        _stop.Dispose();
    }
}
