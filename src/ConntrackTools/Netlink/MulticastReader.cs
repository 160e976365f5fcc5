using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;

namespace ConntrackTools.Netlink;

/// <summary>Decodes one multicast message into zero or more items (none for messages the caller ignores).</summary>
public delegate void MulticastDecoder<T>(in NetlinkMessage message, DateTime timeReceived, List<T> output);

/// <summary>
/// The read loop of a netlink event subscription: receive, decode, hand batches to a sink, and account for
/// what the kernel dropped. It only reads and decodes, so the kernel's queue drains as fast as the machine allows.
/// A batch ends when the socket has nothing more to read or holds <see cref="MaxBatch"/> items, so a quiet
/// stream delivers each event at once and a burst travels in large batches.
/// </summary>
public sealed class MulticastReader<T>
{
    /// <summary>How long one receive waits, so cancellation and the duration are noticed within this time.</summary>
    public const int PollMilliseconds = 100;

    public const int MaxBatch = 256;

    // Multicast messages arrive one per datagram, a few hundred bytes to a few KiB (links); 64 KiB is ample.
    private const int DatagramBufferBytes = 64 << 10;

    private readonly INetlinkTransport _transport;
    private readonly MulticastDecoder<T> _decode;
    private readonly Action? _heartbeat;
    private readonly INetlinkDropCounter? _drops;
    private readonly long _dropsAtStart;
    private long _lost;
    private int _overruns;

    /// <param name="heartbeat">Called on every turn of the read loop (at least every <see cref="PollMilliseconds"/>);
    /// an exception it throws ends <see cref="Run"/> (a watcher uses it to notice that its network namespace went away).</param>
    public MulticastReader(INetlinkTransport transport, MulticastDecoder<T> decode, Action? heartbeat = null)
    {
        _transport = transport;
        _decode = decode;
        _heartbeat = heartbeat;
        if (transport is INetlinkDropCounter { DroppedMessages: long start } counter)
        {
            _drops = counter;
            _dropsAtStart = start;
        }
    }

    /// <summary>
    /// Messages the kernel dropped because the receive buffer was full. Exact when <see cref="LostCountExact"/>;
    /// otherwise a lower bound (one per ENOBUFS).
    /// </summary>
    public long Lost => Interlocked.Read(ref _lost);

    /// <summary>How many times the kernel reported an overrun (ENOBUFS).</summary>
    public int Overruns => Volatile.Read(ref _overruns);

    /// <summary>True when the kernel reports its drop count (SO_MEMINFO), so <see cref="Lost"/> is the real number.</summary>
    public bool LostCountExact => _drops is not null;

    /// <summary>
    /// Reads until <paramref name="cancel"/> fires or <paramref name="duration"/> has passed, calling
    /// <paramref name="sink"/> with each batch. An empty batch means "nothing new, but <see cref="Lost"/> grew": it
    /// wakes a consumer waiting for the next batch, so a loss is reported when it happens, not when traffic resumes.
    /// </summary>
    public void Run(Action<T[]> sink, CancellationToken cancel, TimeSpan? duration = null)
    {
        var clock = Stopwatch.StartNew();
        var buffer = new byte[DatagramBufferBytes];
        var batch = new List<T>(MaxBatch);
        long lostShown = Lost;
        while (!cancel.IsCancellationRequested)
        {
            _heartbeat?.Invoke();
            int wait = batch.Count > 0 ? 0 : PollMilliseconds;
            if (duration is TimeSpan limit)
            {
                var left = limit - clock.Elapsed;
                if (left <= TimeSpan.Zero) break;
                wait = Math.Min(wait, (int)Math.Ceiling(left.TotalMilliseconds));
            }
            int n;
            try
            {
                n = _transport.Receive(buffer, wait);
            }
            catch (NetlinkOverrunException)
            {
                Interlocked.Increment(ref _overruns);
                n = 0;
            }
            if (n > 0)
            {
                var timeReceived = DateTime.Now;
                var reader = new NetlinkMessageReader(buffer.AsSpan(0, n));
                while (reader.Next()) _decode(reader.Current, timeReceived, batch);
                if (batch.Count >= MaxBatch) Flush(sink, batch);
                continue;
            }
            // The socket is empty, or has just overflowed: pass on what we have and see whether anything was lost.
            Flush(sink, batch);
            if (UpdateLost() > lostShown)
            {
                lostShown = Lost;
                sink(Array.Empty<T>());
            }
        }
        Flush(sink, batch);
        UpdateLost();
    }

    private static void Flush(Action<T[]> sink, List<T> batch)
    {
        if (batch.Count == 0) return;
        sink(batch.ToArray());
        batch.Clear();
    }

    /// <summary>Refreshes <see cref="Lost"/> from the kernel's drop counter, or from the overrun count when there is none.</summary>
    private long UpdateLost()
    {
        long lost = _drops?.DroppedMessages is long drops ? drops - _dropsAtStart : Math.Max(Lost, Overruns);
        Interlocked.Exchange(ref _lost, lost);
        return lost;
    }
}
