using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using ConntrackTools.Namespaces;
using ConntrackTools.Netlink;

namespace ConntrackTools.Conntrack;

/// <summary>
/// Listens to ctnetlink events on a socket of its own and hands decoded, filtered events to a sink in batches.
/// Built to lose nothing it could keep: a large receive buffer (SO_RCVBUFFORCE, falling back to SO_RCVBUF), and
/// a loop that only reads and decodes, so the kernel's queue drains as fast as the machine allows. When the kernel
/// still drops messages (ENOBUFS), the loss is counted from the socket's drop counter, never ignored.
/// </summary>
public sealed class ConntrackEventListener : IDisposable
{
    /// <summary>
    /// Requested receive buffer: 128 MiB holds a burst of well over 100,000 events (a flush of a large table)
    /// while the reader catches up. Kernel memory is only used while events wait to be read.
    /// </summary>
    public const int DefaultReceiveBufferBytes = 128 << 20;

    /// <summary>How long one receive waits, so cancellation and -Duration are noticed within this time.</summary>
    public const int PollMilliseconds = 100;

    /// <summary>Events per batch at most; a batch ends earlier when the socket has nothing more to read.</summary>
    public const int MaxBatch = 256;

    // Every broadcast is its own datagram of a few hundred bytes; 64 KiB leaves room for any attribute growth.
    private const int DatagramBufferBytes = 64 << 10;

    private readonly INetlinkTransport _transport;
    private readonly ConntrackFilter _filter;
    private readonly string? _namespaceSpec;
    private readonly long _dropsAtStart;
    private long _received, _matched, _lost;
    private int _overruns;

    /// <summary>Listens on an already subscribed transport (tests pass a scripted one).</summary>
    public ConntrackEventListener(INetlinkTransport transport, ConntrackFilter filter, string? networkNamespace = null)
    {
        _transport = transport;
        _filter = filter;
        _namespaceSpec = networkNamespace;
        _dropsAtStart = (transport as INetlinkDropCounter)?.DroppedMessages ?? 0;
        LostCountExact = transport is INetlinkDropCounter { DroppedMessages: not null };
        // SO_RCVBUF reports twice what was set (the kernel's allowance for bookkeeping); use the unit of the request.
        ReceiveBufferSize = ((transport as NetlinkSocket)?.ReceiveBufferSize ?? 0) / 2;
    }

    /// <summary>
    /// Opens a NETLINK_NETFILTER socket inside <paramref name="ns"/>, subscribes to the groups of
    /// <paramref name="eventTypes"/> and sizes its receive buffer. Events start queueing in the kernel at once.
    /// </summary>
    public static ConntrackEventListener Open(NetworkNamespace? ns, IEnumerable<ConntrackEventType> eventTypes, ConntrackFilter filter,
        int receiveBufferBytes = DefaultReceiveBufferBytes)
    {
        var groups = eventTypes.Distinct().ToArray();
        var socket = NetworkNamespace.Run(ns, () =>
        {
            var s = ConntrackClient.OpenSocket();
            try
            {
                // Size first: events for the new membership may arrive the moment we join.
                s.SetReceiveBuffer(receiveBufferBytes);
                foreach (var g in groups) s.JoinGroup((int)g); // the enum values are the NFNLGRP_CONNTRACK_* numbers
                return s;
            }
            catch
            {
                s.Dispose();
                throw;
            }
        });
        return new ConntrackEventListener(socket, filter, ns?.Spec) { RequestedReceiveBufferSize = receiveBufferBytes };
    }

    /// <summary>The receive buffer that was asked for, in bytes.</summary>
    public int RequestedReceiveBufferSize { get; private init; }

    /// <summary>The receive buffer the kernel granted, in the unit of the request (0 for a scripted transport).</summary>
    public int ReceiveBufferSize { get; }

    /// <summary>False when the kernel would not grant the requested size (no CAP_NET_ADMIN and net.core.rmem_max lower).</summary>
    public bool ReceiveBufferGranted => ReceiveBufferSize >= RequestedReceiveBufferSize;

    /// <summary>Conntrack event messages read from the socket.</summary>
    public long Received => Interlocked.Read(ref _received);

    /// <summary>Events that passed the filter and went to the sink.</summary>
    public long Matched => Interlocked.Read(ref _matched);

    /// <summary>
    /// Events the kernel dropped because the receive buffer was full. Exact when <see cref="LostCountExact"/>;
    /// otherwise a lower bound (one per ENOBUFS).
    /// </summary>
    public long Lost => Interlocked.Read(ref _lost);

    /// <summary>How many times the kernel reported an overrun (ENOBUFS).</summary>
    public int Overruns => Volatile.Read(ref _overruns);

    /// <summary>True when the kernel reports its drop count (SO_MEMINFO), so <see cref="Lost"/> is the real number.</summary>
    public bool LostCountExact { get; }

    /// <summary>
    /// Reads events until <paramref name="cancel"/> fires or <paramref name="duration"/> has passed, calling
    /// <paramref name="sink"/> with each batch. An empty batch means "nothing new to show, but <see cref="Lost"/>
    /// grew": it wakes a consumer waiting for the next batch so a warning is not held back until more events come.
    /// Raises engine exceptions only (<see cref="NetlinkException"/>, <see cref="NetlinkDecodeException"/>).
    /// </summary>
    public void Run(Action<ConntrackEvent[]> sink, CancellationToken cancel, TimeSpan? duration = null)
    {
        var clock = Stopwatch.StartNew();
        var buffer = new byte[DatagramBufferBytes];
        var batch = new List<ConntrackEvent>(MaxBatch);
        long lostShown = Lost;
        while (!cancel.IsCancellationRequested)
        {
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
                Decode(buffer.AsSpan(0, n), DateTime.Now, batch);
                if (batch.Count >= MaxBatch) Flush(sink, batch);
                continue;
            }
            // The socket is empty, or has just overflowed: pass on what we have and see whether anything was lost.
            Flush(sink, batch);
            if (UpdateLost() > lostShown)
            {
                lostShown = Lost;
                sink(Array.Empty<ConntrackEvent>());
            }
        }
        Flush(sink, batch);
        UpdateLost();
    }

    private void Decode(ReadOnlySpan<byte> datagram, DateTime timeReceived, List<ConntrackEvent> batch)
    {
        var reader = new NetlinkMessageReader(datagram);
        while (reader.Next())
        {
            var e = ConntrackEventDecoder.Decode(reader.Current, timeReceived, _namespaceSpec);
            if (e is null) continue;
            Interlocked.Increment(ref _received);
            if (!_filter.Matches(e.Entry)) continue;
            batch.Add(e);
        }
    }

    private void Flush(Action<ConntrackEvent[]> sink, List<ConntrackEvent> batch)
    {
        if (batch.Count == 0) return;
        Interlocked.Add(ref _matched, batch.Count);
        sink(batch.ToArray());
        batch.Clear();
    }

    /// <summary>Refreshes <see cref="Lost"/> from the kernel's drop counter (or the overrun count when there is none).</summary>
    private long UpdateLost()
    {
        long lost = LostCountExact && (_transport as INetlinkDropCounter)?.DroppedMessages is long drops
            ? drops - _dropsAtStart
            : Math.Max(Lost, Overruns);
        Interlocked.Exchange(ref _lost, lost);
        return lost;
    }

    public void Dispose() => _transport.Dispose();
}
