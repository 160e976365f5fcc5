using System;
using System.Threading;

namespace ConntrackTools.Netlink;

/// <summary>Called for each data message of a dump (never for NLMSG_DONE or NLMSG_ERROR).</summary>
public delegate void NetlinkMessageHandler(in NetlinkMessage message);

/// <summary>How a dump ended.</summary>
public readonly record struct DumpSummary(int Messages, int Datagrams, bool Interrupted);

/// <summary>
/// Request/response over one netlink transport: sequence numbers, ACKs, errors as
/// <see cref="NetlinkException"/>, multipart dumps until NLMSG_DONE, NLM_F_DUMP_INTR noticed.
/// Not thread-safe: one conversation at a time.
/// </summary>
public sealed class NetlinkConnection : IDisposable
{
    /// <summary>Kernel dumps arrive in datagrams of at most 32 KiB; 1 MiB leaves no room for truncation.</summary>
    public const int ReceiveBufferBytes = 1 << 20;

    private readonly byte[] _buffer = new byte[ReceiveBufferBytes];
    private uint _sequence;

    public NetlinkConnection(INetlinkTransport transport)
    {
        Transport = transport;
        _sequence = (uint)Environment.TickCount;
    }

    public INetlinkTransport Transport { get; }

    public uint NextSequence() => unchecked(++_sequence == 0 ? ++_sequence : _sequence);

    /// <summary>Sends a request with NLM_F_ACK and waits for the kernel's answer; throws on a non-zero errno.</summary>
    public void Execute(MessageBuilder request, string operation, CancellationToken cancel = default) =>
        Request(request, operation, static (in NetlinkMessage _) => { }, cancel);

    /// <summary>
    /// Sends a request with NLM_F_ACK, hands each data reply to <paramref name="handler"/>, and returns at the ACK.
    /// </summary>
    public void Request(MessageBuilder request, string operation, NetlinkMessageHandler handler, CancellationToken cancel = default)
    {
        request.Flags |= Nlmsg.F_REQUEST | Nlmsg.F_ACK;
        uint seq = NextSequence();
        Transport.Send(request.Build(seq));
        while (true)
        {
            int n = ReceiveOrCancel(cancel);
            var reader = new NetlinkMessageReader(_buffer.AsSpan(0, n));
            while (reader.Next())
            {
                var m = reader.Current;
                if (m.Sequence != seq) continue;
                if (m.IsError)
                {
                    int errno = m.ErrorCode;
                    if (errno != 0) throw new NetlinkException(errno, operation, m.ExtendedAckMessage());
                    return;
                }
                if (m.IsDone) return;
                handler(in m);
            }
        }
    }

    /// <summary>
    /// Sends a dump request and hands every data message to <paramref name="handler"/> until NLMSG_DONE.
    /// A reply flagged NLM_F_DUMP_INTR (the table changed under the dump) is reported in the summary.
    /// </summary>
    public DumpSummary Dump(MessageBuilder request, string operation, NetlinkMessageHandler handler, CancellationToken cancel = default)
    {
        request.Flags |= Nlmsg.F_REQUEST | Nlmsg.F_DUMP;
        uint seq = NextSequence();
        Transport.Send(request.Build(seq));
        int messages = 0, datagrams = 0;
        bool interrupted = false;
        while (true)
        {
            int n = ReceiveOrCancel(cancel);
            datagrams++;
            var reader = new NetlinkMessageReader(_buffer.AsSpan(0, n));
            while (reader.Next())
            {
                var m = reader.Current;
                if (m.Sequence != seq) continue;
                if ((m.Flags & Nlmsg.F_DUMP_INTR) != 0) interrupted = true;
                if (m.IsDone)
                {
                    // NLMSG_DONE carries an int: 0, or a negative errno when the dump failed midway.
                    if (m.Payload.Length >= 4)
                    {
                        int err = -System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(m.Payload);
                        if (err > 0) throw new NetlinkException(err, operation, m.ExtendedAckMessage());
                    }
                    return new DumpSummary(messages, datagrams, interrupted);
                }
                if (m.IsError)
                {
                    int errno = m.ErrorCode;
                    if (errno != 0) throw new NetlinkException(errno, operation, m.ExtendedAckMessage());
                    continue;
                }
                if (m.Type == Nlmsg.NOOP || m.Type == Nlmsg.OVERRUN) continue;
                messages++;
                handler(in m);
            }
        }
    }

    /// <summary>Datagrams that may wait between the receiving and the decoding thread of <see cref="DumpPipelined"/>.</summary>
    public const int QueuedDatagrams = 64;

    /// <summary>
    /// Like <see cref="Dump"/>, but the datagrams are received on a thread of their own while <paramref name="handler"/>
    /// runs on the calling thread. The kernel builds the next part of a dump inside the reader's recv call, so the
    /// receiving thread is the one that carries the kernel's work: when it does nothing else, the dump runs at the
    /// kernel's own speed, and decoding happens beside it on another core instead of after each datagram.
    /// At most <see cref="QueuedDatagrams"/> datagrams (about 32 KiB each) wait between the two threads.
    /// </summary>
    public DumpSummary DumpPipelined(MessageBuilder request, string operation, NetlinkMessageHandler handler, CancellationToken cancel = default)
    {
        request.Flags |= Nlmsg.F_REQUEST | Nlmsg.F_DUMP;
        uint seq = NextSequence();
        Transport.Send(request.Build(seq));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        using var queue = new System.Collections.Concurrent.BlockingCollection<(byte[] Data, int Length)>(QueuedDatagrams);
        var pool = System.Buffers.ArrayPool<byte>.Shared;
        Exception? receiveFailure = null;
        var receiver = new Thread(() =>
        {
            try
            {
                while (true)
                {
                    int n = ReceiveOrCancel(stop.Token);
                    var copy = pool.Rent(n);
                    _buffer.AsSpan(0, n).CopyTo(copy);
                    queue.Add((copy, n), stop.Token);
                    if (EndsDump(copy.AsSpan(0, n), seq)) return;
                }
            }
            catch (Exception e)
            {
                receiveFailure = e;
            }
            finally
            {
                queue.CompleteAdding();
            }
        }, maxStackSize: 256 * 1024) { IsBackground = true, Name = "netlink dump receiver" };
        receiver.Start();
        int messages = 0, datagrams = 0;
        bool interrupted = false;
        try
        {
            foreach (var (data, length) in queue.GetConsumingEnumerable(stop.Token))
            {
                try
                {
                    datagrams++;
                    var reader = new NetlinkMessageReader(data.AsSpan(0, length));
                    while (reader.Next())
                    {
                        var m = reader.Current;
                        if (m.Sequence != seq) continue;
                        if ((m.Flags & Nlmsg.F_DUMP_INTR) != 0) interrupted = true;
                        if (m.IsDone)
                        {
                            if (m.Payload.Length >= 4)
                            {
                                int err = -System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(m.Payload);
                                if (err > 0) throw new NetlinkException(err, operation, m.ExtendedAckMessage());
                            }
                            return new DumpSummary(messages, datagrams, interrupted);
                        }
                        if (m.IsError)
                        {
                            int errno = m.ErrorCode;
                            if (errno != 0) throw new NetlinkException(errno, operation, m.ExtendedAckMessage());
                            continue;
                        }
                        if (m.Type == Nlmsg.NOOP || m.Type == Nlmsg.OVERRUN) continue;
                        messages++;
                        handler(in m);
                    }
                }
                finally
                {
                    pool.Return(data);
                }
            }
            cancel.ThrowIfCancellationRequested();
            if (receiveFailure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(receiveFailure);
            throw new NetlinkDecodeException($"{operation}: the dump ended without NLMSG_DONE");
        }
        finally
        {
            // Stop the receiver (a failure or a cancellation here) and give back what it still holds.
            stop.Cancel();
            receiver.Join();
            while (queue.TryTake(out var left)) pool.Return(left.Data);
        }
    }

    /// <summary>True when the datagram holds the end of dump <paramref name="seq"/>: NLMSG_DONE or an error.</summary>
    private static bool EndsDump(ReadOnlySpan<byte> datagram, uint seq)
    {
        var reader = new NetlinkMessageReader(datagram);
        while (reader.Next())
        {
            var m = reader.Current;
            if (m.Sequence != seq) continue;
            if (m.IsDone || (m.IsError && m.ErrorCode != 0)) return true;
        }
        return false;
    }

    /// <summary>Receives one datagram for a dump or ACK, waking every 200 ms to honour cancellation.</summary>
    private int ReceiveOrCancel(CancellationToken cancel)
    {
        while (true)
        {
            cancel.ThrowIfCancellationRequested();
            int n = Transport.Receive(_buffer, cancel.CanBeCanceled ? 200 : -1);
            if (n > 0) return n;
        }
    }

    /// <summary>The receive buffer, for event listeners that call <see cref="INetlinkTransport.Receive"/> themselves.</summary>
    public Span<byte> Buffer => _buffer;

    public void Dispose() => Transport.Dispose();
}
