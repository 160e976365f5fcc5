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
