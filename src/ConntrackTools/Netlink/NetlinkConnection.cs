using System;
using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Runtime.ExceptionServices;
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
            if (WalkDump(_buffer.AsSpan(0, n), seq, operation, handler, ref messages, ref interrupted))
                return new DumpSummary(messages, datagrams, interrupted);
        }
    }

    /// <summary>
    /// Hands the data messages of dump <paramref name="seq"/> in one datagram to <paramref name="handler"/> and
    /// returns true at its NLMSG_DONE. Messages of other sequence numbers, NOOP and OVERRUN are skipped; an error,
    /// or a DONE carrying a negative errno (the dump failed midway), is thrown as <see cref="NetlinkException"/>.
    /// </summary>
    private static bool WalkDump(ReadOnlySpan<byte> datagram, uint seq, string operation, NetlinkMessageHandler handler,
        ref int messages, ref bool interrupted)
    {
        var reader = new NetlinkMessageReader(datagram);
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
                    int err = -BinaryPrimitives.ReadInt32LittleEndian(m.Payload);
                    if (err > 0) throw new NetlinkException(err, operation, m.ExtendedAckMessage());
                }
                return true;
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
        return false;
    }

    /// <summary>
    /// The buffer each datagram of a pipelined dump is received into. A dump's datagram holds at most
    /// max(32 KiB, the family's min_dump_alloc) (netlink_dump; the kernel caps its record of the reader's buffer at
    /// 32 KiB); ctnetlink asks for no minimum. A larger one is refused as truncated, never cut short silently.
    /// </summary>
    public const int PipelinedDatagramBytes = 64 * 1024;

    /// <summary>Datagrams a dump may hold between its receiving thread and the thread that decodes them in <see cref="DumpPipelined"/>.</summary>
    public const int QueuedDatagrams = 64;

    /// <summary>
    /// Runs on each receiving thread of <see cref="DumpPipelined"/> as it ends, for bench/Layers and
    /// bench/Invoke-Benchmark.ps1 to read that thread's own scheduler accounting (/proc/thread-self); null, and never
    /// called, outside the bench.
    /// </summary>
    internal static Action? ReceiverEnding;

    /// <summary>
    /// Datagrams a decoding thread that caught up is left to sleep for (see <see cref="DatagramQueue"/>): about a
    /// millisecond of the kernel's work, so the receiving thread wakes it once in four datagrams, not for each.
    /// </summary>
    internal const int WakeBatch = 4;

    /// <summary>
    /// Datagrams a receiving thread of <see cref="DumpPipelined"/> takes in one call (recvmmsg) once the dump is
    /// under way. A thread coming back from the kernel while the runtime collects garbage waits for the collection
    /// to end, and so does the dump; in the kernel it goes on building the dump. See docs/performance.md.
    /// </summary>
    internal const int ReceiveBatch = 16;

    /// <summary>
    /// Like <see cref="Dump"/>, but each datagram is received on a thread of its own while <paramref name="handler"/>
    /// runs on the calling thread. The kernel builds the next part of a dump inside the reader's recv call, so the
    /// receiving thread is the one that carries the kernel's work: when it does nothing else, the dump runs at the
    /// kernel's own speed, and decoding happens beside it on another core instead of after each datagram.
    /// Several dumps at once, request <c>i</c> on connection <c>i</c>, each received on a thread of its own, so the
    /// kernel builds them on as many cores; <paramref name="handler"/> sees all their messages on the calling thread,
    /// datagram by datagram as they arrive (the dumps' messages interleave). Returns when every dump has ended; the
    /// summary adds them up and is interrupted when any was. At most <see cref="QueuedDatagrams"/> datagrams per dump
    /// (about 32 KiB each, in buffers of <see cref="PipelinedDatagramBytes"/>) wait for the handler.
    /// </summary>
    public static DumpSummary DumpPipelined(IReadOnlyList<NetlinkConnection> connections, IReadOnlyList<MessageBuilder> requests,
        string operation, NetlinkMessageHandler handler, CancellationToken cancel = default)
    {
        int count = connections.Count;
        if (count == 0 || requests.Count != count) throw new ArgumentException("one request for each connection", nameof(requests));
        var seqs = new uint[count];
        var built = new byte[count][];
        for (int i = 0; i < count; i++)
        {
            requests[i].Flags |= Nlmsg.F_REQUEST | Nlmsg.F_DUMP;
            seqs[i] = connections[i].NextSequence();
            built[i] = requests[i].Build(seqs[i]);
        }
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        using var queue = new DatagramQueue(QueuedDatagrams * count, count, WakeBatch, stop.Token);
        var pool = ArrayPool<byte>.Shared;
        Exception? receiveFailure = null;
        var receivers = new Thread[count];
        for (int i = 0; i < count; i++)
        {
            int source = i;
            receivers[i] = new Thread(() =>
            {
                var conn = connections[source];
                try
                {
                    // Sent from here, not from the caller: the kernel runs a dump's first round inside the send, and
                    // for a selective filter that round may walk most of the table. Sent one after the other, two
                    // filtered dumps would walk it one after the other.
                    conn.Transport.Send(built[source]);
                    var held = new byte[ReceiveBatch][];
                    var lengths = new int[ReceiveBatch];
                    int want = 1;
                    try
                    {
                        while (true)
                        {
                            // Received straight into pooled buffers that are handed over as they are: no copy on the
                            // thread whose recv calls build the dump. One call takes several datagrams (the first
                            // call one, so that a dump's first entries come at once, then twice as many each time).
                            for (int i = 0; i < want; i++) held[i] ??= pool.Rent(PipelinedDatagramBytes);
                            int got = conn.ReceiveManyOrCancel(held.AsSpan(0, want), lengths, stop.Token);
                            for (int i = 0; i < got; i++)
                            {
                                var data = held[i];
                                // Looked at before it is handed over: once queued, the handler may give the buffer
                                // back to the pool and another dump's receiver may rent and overwrite it.
                                bool last = EndsDump(data.AsSpan(0, lengths[i]), seqs[source]);
                                queue.Add(source, data, lengths[i], last);
                                held[i] = null!;
                                if (last) return;
                            }
                            want = Math.Min(want * 2, ReceiveBatch);
                        }
                    }
                    finally
                    {
                        foreach (var data in held) if (data is not null) pool.Return(data);
                    }
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                }
                catch (Exception e)
                {
                    // The first failure wins; the other dumps are stopped, the handler's thread rethrows it.
                    Interlocked.CompareExchange(ref receiveFailure, e, null);
                    stop.Cancel();
                }
                finally
                {
                    queue.CompleteAdding();
                    ReceiverEnding?.Invoke();
                }
            }, maxStackSize: 256 * 1024) { IsBackground = true, Name = "netlink dump receiver" };
        }
        foreach (var r in receivers) r.Start();
        int messages = 0, datagrams = 0, done = 0;
        bool interrupted = false;
        try
        {
            while (queue.TryTake(out var item))
            {
                var (source, data, length) = item;
                try
                {
                    datagrams++;
                    if (WalkDump(data.AsSpan(0, length), seqs[source], operation, handler, ref messages, ref interrupted) && ++done == count)
                        return new DumpSummary(messages, datagrams, interrupted);
                }
                finally
                {
                    pool.Return(data);
                }
            }
            cancel.ThrowIfCancellationRequested();
            if (receiveFailure is not null) ExceptionDispatchInfo.Throw(receiveFailure);
            throw new NetlinkDecodeException($"{operation}: the dump ended without NLMSG_DONE");
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested && receiveFailure is not null)
        {
            // A receiver failed and stopped the others: its failure, not the cancellation it caused.
            ExceptionDispatchInfo.Throw(receiveFailure);
            throw;
        }
        finally
        {
            // Stop the receivers (a failure or a cancellation here) and give back what they still hold.
            stop.Cancel();
            foreach (var r in receivers) r.Join();
            while (queue.TryTakeLeft(out var left)) pool.Return(left.Data);
        }
    }

    /// <summary>True when the datagram holds the end of dump <paramref name="seq"/>: NLMSG_DONE or an error.</summary>
    /// <remarks>
    /// Runs on the receiving thread, the one whose recv calls build the dump, for each of its datagrams (some 140
    /// messages): it reads only each header's length and sequence, and the type of a message of this dump, not the
    /// whole header as <see cref="NetlinkMessageReader"/> does. A length out of range is left to that reader, which
    /// reports it as it does on the decoding side.
    /// </remarks>
    internal static bool EndsDump(ReadOnlySpan<byte> datagram, uint seq)
    {
        int offset = 0;
        while (datagram.Length - offset >= Nlmsg.HeaderLength)
        {
            var header = datagram.Slice(offset, Nlmsg.HeaderLength);
            uint len = BinaryPrimitives.ReadUInt32LittleEndian(header);
            if (len < Nlmsg.HeaderLength || len > (uint)(datagram.Length - offset)) break;
            if (BinaryPrimitives.ReadUInt32LittleEndian(header[8..]) == seq)
            {
                ushort type = BinaryPrimitives.ReadUInt16LittleEndian(header[4..]);
                if (type == Nlmsg.DONE) return true;
                if (type == Nlmsg.ERROR && new NetlinkMessage(datagram.Slice(offset, (int)len)).ErrorCode != 0) return true;
            }
            offset += Math.Min(Nlmsg.Align((int)len), datagram.Length - offset);
        }
        if (offset < datagram.Length)
        {
            // Damage (a length out of range, trailing bytes): the reader raises its exception for it.
            var reader = new NetlinkMessageReader(datagram[offset..]);
            while (reader.Next()) { }
        }
        return false;
    }

    private int ReceiveManyOrCancel(ReadOnlySpan<byte[]> into, Span<int> lengths, CancellationToken cancel)
    {
        while (true)
        {
            cancel.ThrowIfCancellationRequested();
            int n = Transport.ReceiveMany(into, lengths, cancel.CanBeCanceled ? 200 : -1);
            if (n > 0) return n;
        }
    }

    /// <summary>Receives one datagram for a dump or ACK, waking every 200 ms to honour cancellation.</summary>
    private int ReceiveOrCancel(CancellationToken cancel) => ReceiveOrCancel(_buffer, cancel);

    private int ReceiveOrCancel(Span<byte> into, CancellationToken cancel)
    {
        while (true)
        {
            cancel.ThrowIfCancellationRequested();
            int n = Transport.Receive(into, cancel.CanBeCanceled ? 200 : -1);
            if (n > 0) return n;
        }
    }

    /// <summary>The receive buffer, for event listeners that call <see cref="INetlinkTransport.Receive"/> themselves.</summary>
    public Span<byte> Buffer => _buffer;

    public void Dispose() => Transport.Dispose();
}
