using System;
using System.Collections.Generic;
using System.Threading;
using ConntrackTools.Capture;
using ConntrackTools.Namespaces;

namespace ConntrackTools.Lab;

/// <summary>
/// A live capture on the masquerading device feeding the SNAT-remap detector, for the length of a test: it starts
/// before the connections open (the detector follows flows from their handshake) and stops after the last push.
/// </summary>
internal sealed class RemapCapture : IDisposable
{
    private readonly LiveCapture _capture;
    private readonly SnatRemapDetector _detector;
    private readonly List<SnatRemapFinding> _findings = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;
    private CaptureStatistics? _statistics;
    private Exception? _failure;

    private RemapCapture(LiveCapture capture)
    {
        _capture = capture;
        _detector = new SnatRemapDetector(TimeSpan.FromSeconds(2), TimeSpan.FromHours(1), 100_000, f => { lock (_findings) _findings.Add(f); });
        _thread = new Thread(Run) { IsBackground = true, Name = "Test-VipMigration capture" };
        _thread.Start();
    }

    /// <summary>Opens the device inside the namespace and starts reading.</summary>
    public static RemapCapture Start(NetworkNamespace? ns, string interfaceName, string filter) =>
        new(LiveCapture.Open(ns, interfaceName, filter, outFile: null));

    private void Run()
    {
        try
        {
            _statistics = _capture.Run(batch =>
            {
                foreach (var p in batch) _detector.Add(p);
                lock (_findings) Monitor.PulseAll(_findings);   // packets arrived: Stop's quiet period starts again
            }, count: null, duration: null, _stop.Token);
        }
        catch (OperationCanceledException) { }
        catch (Exception e) { _failure = e; }
    }

    /// <summary>
    /// Lets the last packets (the server's RSTs) arrive: waits until the capture has been quiet for
    /// <paramref name="quiet"/> (each batch of packets restarts the wait; at most ten quiet periods in all), then stops
    /// the capture and returns the findings and the number of packets seen. Remaps still waiting for an answer are
    /// reported without one.
    /// </summary>
    public (SnatRemapFinding[] Findings, long Packets) Stop(TimeSpan quiet)
    {
        var limit = System.Diagnostics.Stopwatch.StartNew();
        lock (_findings)
        {
            while (_thread.IsAlive && limit.Elapsed < quiet * 10 && Monitor.Wait(_findings, quiet)) { }
        }
        _stop.Cancel();
        _thread.Join();
        if (_failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(_failure);
        _detector.Complete();
        lock (_findings) return (_findings.ToArray(), _statistics?.Packets ?? 0);
    }

    public void Dispose()
    {
        _stop.Cancel();
        if (_thread.IsAlive) _thread.Join();
        _capture.Dispose();
        _stop.Dispose();
    }
}
