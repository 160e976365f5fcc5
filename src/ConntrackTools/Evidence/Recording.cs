using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.ExceptionServices;
using System.Threading;
using ConntrackTools.Capture;
using ConntrackTools.Impact;
using ConntrackTools.Conntrack;
using ConntrackTools.Namespaces;
using ConntrackTools.Routing;

namespace ConntrackTools.Evidence;

/// <summary>
/// The recording of one namespace during an evidence bundle's duration, on threads of its own: every conntrack event
/// (New, Update, Destroy), the address changes with the entries destroyed after each removal (the same correlation as
/// Watch-AddressChange -IncludeConntrackImpact), and optionally a libpcap capture written to a pcap file and fed to the
/// SNAT-remap detector. Sockets and the capture device are opened before <see cref="Run"/>, so nothing from the
/// start of the window is missed.
/// </summary>
internal sealed class Recording : IDisposable
{
    private readonly ConntrackEventListener _events;
    private readonly AddressImpactWatcher _addresses;
    private readonly LiveCapture? _capture;
    private readonly SnatRemapDetector? _detector;
    private readonly string? _pcap;
    private readonly int _maxKept;
    private readonly List<ConntrackEvent> _kept = new();
    private readonly List<AddressImpactEvent> _changes = new();
    private readonly List<SnatRemapFinding> _remaps = new();
    private readonly List<Thread> _threads = new();
    private readonly CancellationTokenSource _stop = new();
    private Exception? _failure;
    private long _eventCount, _destroyCount, _dropped, _packets;

    private Recording(NetworkNamespace? ns, ConntrackEventListener events, AddressImpactWatcher addresses, LiveCapture? capture, string? pcap, int maxKept)
    {
        Namespace = ns;
        _events = events;
        _addresses = addresses;
        _capture = capture;
        _pcap = pcap;
        _maxKept = maxKept;
        if (capture is not null)
            _detector = new SnatRemapDetector(TimeSpan.FromSeconds(2), TimeSpan.FromHours(1), 100_000, f => { lock (_remaps) _remaps.Add(f); });
    }

    public NetworkNamespace? Namespace { get; }

    /// <summary>Opens every socket and the capture device in <paramref name="ns"/>; the pcap goes to <paramref name="dir"/>/capture.pcap.</summary>
    public static Recording Start(NetworkNamespace? ns, string dir, string? interfaceName, string? filter, TimeSpan impactWindow, int maxKept)
    {
        ConntrackEventListener? events = null;
        AddressMonitor? monitor = null;
        AddressImpactWatcher? impact = null;
        LiveCapture? capture = null;
        try
        {
            events = ConntrackEventListener.Open(ns, [ConntrackEventType.New, ConntrackEventType.Update, ConntrackEventType.Destroy], new ConntrackFilter());
            monitor = AddressMonitor.Open(ns, IPFamily.All, null);
            impact = AddressImpactWatcher.Open(monitor, ns, impactWindow);
            monitor = null; // owned by the impact watcher now
            string? pcap = null;
            if (interfaceName is not null)
            {
                Directory.CreateDirectory(dir);
                pcap = Path.Combine(dir, "capture.pcap");
                capture = LiveCapture.Open(ns, interfaceName, filter, pcap);
            }
            return new Recording(ns, events, impact, capture, pcap, maxKept);
        }
        catch
        {
            capture?.Dispose();
            impact?.Dispose();
            monitor?.Dispose();
            events?.Dispose();
            throw;
        }
    }

    public long EventCount => Interlocked.Read(ref _eventCount);
    public long DestroyCount => Interlocked.Read(ref _destroyCount);
    public long EventsDropped => Interlocked.Read(ref _dropped);
    public long EventsLost => _events.Lost;
    public long Packets => Interlocked.Read(ref _packets);
    public string? CaptureFailure { get; private set; }
    public AddressImpactEvent[] AddressChanges { get { lock (_changes) return _changes.ToArray(); } }
    public SnatRemapFinding[] Remaps { get { lock (_remaps) return _remaps.ToArray(); } }

    /// <summary>Starts the readers for <paramref name="duration"/>; returns at once.</summary>
    public void Run(TimeSpan duration, CancellationToken cancel)
    {
        var token = CancellationTokenSource.CreateLinkedTokenSource(cancel, _stop.Token).Token;
        Start("conntrack events", () => _events.Run(OnEvents, token, duration));
        Start("address changes", () => _addresses.Run(batch => { lock (_changes) _changes.AddRange(batch); }, token, duration));
        if (_capture is not null)
        {
            Start("capture", () =>
            {
                try
                {
                    var stats = _capture.Run(batch =>
                    {
                        Interlocked.Add(ref _packets, batch.Length);
                        foreach (var p in batch) _detector!.Add(p);
                    }, count: null, duration, token);
                }
                catch (CaptureException e) { CaptureFailure = e.Message; }
            });
        }
    }

    private void OnEvents(ConntrackEvent[] batch)
    {
        foreach (var e in batch)
        {
            Interlocked.Increment(ref _eventCount);
            if (e.EventType == ConntrackEventType.Destroy) Interlocked.Increment(ref _destroyCount);
            if (_kept.Count < _maxKept) _kept.Add(e); // only this reader thread adds
            else Interlocked.Increment(ref _dropped);
        }
    }

    private void Start(string what, Action work)
    {
        var t = new Thread(() =>
        {
            try { work(); }
            catch (OperationCanceledException) { }
            catch (Exception e) { Interlocked.CompareExchange(ref _failure, e, null); _stop.Cancel(); }
        }) { IsBackground = true, Name = "Export-ConntrackEvidence " + what };
        _threads.Add(t);
        t.Start();
    }

    /// <summary>Waits for the readers (the address watcher closes its last impact window after the duration); rethrows a reader's failure.</summary>
    public void Wait(CancellationToken cancel)
    {
        using var reg = cancel.Register(() => _stop.Cancel());
        foreach (var t in _threads) t.Join();
        if (_failure is not null) ExceptionDispatchInfo.Throw(_failure);
        cancel.ThrowIfCancellationRequested();
        _detector?.Complete();
    }

    /// <summary>Writes what was recorded into <paramref name="dir"/> (the pcap is already there).</summary>
    public void Save(string dir)
    {
        Directory.CreateDirectory(dir);
        EvidenceJson.WriteLines<object>(Path.Combine(dir, "conntrack-events.json"), write =>
        {
            foreach (var e in _kept) write(new { e.EventType, e.TimeReceived, e.Entry });
        });
        EvidenceJson.Write(Path.Combine(dir, "address-changes.json"), AddressChanges);
        if (_pcap is not null) EvidenceJson.Write(Path.Combine(dir, "remaps.json"), Remaps);
    }

    public void Dispose()
    {
        _stop.Cancel();
        foreach (var t in _threads) t.Join();
        _capture?.Dispose();
        _addresses.Dispose();
        _events.Dispose();
        _stop.Dispose();
    }
}
