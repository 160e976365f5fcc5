using System;
using System.Collections.Generic;
using System.Threading;

namespace ConntrackTools.Netlink;

/// <summary>The kernel's answer to one message of a batch: its index in the order added, and 0 or a positive errno.</summary>
public readonly record struct BatchAck(int Index, int Errno, string? ExtendedAck)
{
    public bool Succeeded => Errno == 0;
}

/// <summary>
/// Sends many requests per datagram: each message carries NLM_F_ACK and its own sequence number, the kernel
/// (netlink_rcv_skb) handles the messages of one datagram in order and queues one ACK or error per message,
/// and every answer is mapped back to the message that caused it by its sequence number. One refused message
/// therefore costs one error; the others go on. Not thread-safe.
/// </summary>
/// <remarks>
/// A datagram is limited by the socket's send buffer (netlink_sendmsg refuses more than sk_sndbuf - 32 bytes) and
/// by how many ACKs the receive buffer can queue while the kernel works through it: an ACK the kernel cannot queue
/// is dropped (the socket then reports ENOBUFS), so <see cref="MaxMessagesPerDatagram"/> must leave room for all
/// of them. The caller sizes both from the socket.
/// </remarks>
public sealed class NetlinkBatch
{
    private readonly NetlinkConnection _conn;
    private readonly string _operation;
    private readonly Action<BatchAck> _onAck;
    private readonly byte[] _datagram;
    private int _length;
    private readonly Dictionary<uint, int> _pending = new();
    private int _nextIndex;

    /// <param name="conn">The connection whose transport and sequence numbers are used.</param>
    /// <param name="operation">Named in errors, e.g. "conntrack create".</param>
    /// <param name="maxDatagramBytes">At most this many bytes per sendmsg.</param>
    /// <param name="maxMessagesPerDatagram">At most this many messages (so ACKs) per sendmsg.</param>
    /// <param name="onAck">Called once per message, in the order the kernel answered, on the calling thread.</param>
    public NetlinkBatch(NetlinkConnection conn, string operation, int maxDatagramBytes, int maxMessagesPerDatagram, Action<BatchAck> onAck)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDatagramBytes, 1024);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxMessagesPerDatagram, 1);
        _conn = conn;
        _operation = operation;
        _onAck = onAck;
        _datagram = new byte[maxDatagramBytes];
        MaxMessagesPerDatagram = maxMessagesPerDatagram;
    }

    public int MaxMessagesPerDatagram { get; }

    /// <summary>Datagrams sent so far.</summary>
    public int Datagrams { get; private set; }

    /// <summary>Messages added so far; the next one gets this index.</summary>
    public int Count => _nextIndex;

    /// <summary>Queues a request (NLM_F_REQUEST|NLM_F_ACK are added); sends the datagram first when it is full. Returns its index.</summary>
    public int Add(MessageBuilder request, CancellationToken cancel = default)
    {
        request.Flags |= Nlmsg.F_REQUEST | Nlmsg.F_ACK;
        int size = Nlmsg.Align(request.Length);
        if (size > _datagram.Length) throw new ArgumentException($"a {request.Length}-byte netlink message does not fit a {_datagram.Length}-byte datagram");
        if (_length + size > _datagram.Length || _pending.Count >= MaxMessagesPerDatagram) Flush(cancel);
        uint seq = _conn.NextSequence();
        int len = request.WriteTo(_datagram.AsSpan(_length), seq);
        _datagram.AsSpan(_length + len, size - len).Clear();
        _length += size;
        int index = _nextIndex++;
        _pending.Add(seq, index);
        return index;
    }

    /// <summary>Sends what is queued and waits until every message of it has been answered.</summary>
    public void Flush(CancellationToken cancel = default)
    {
        if (_pending.Count == 0) return;
        _conn.Transport.Send(_datagram.AsSpan(0, _length));
        _length = 0;
        Datagrams++;
        while (_pending.Count > 0)
        {
            int n;
            try
            {
                n = Receive(cancel);
            }
            catch (NetlinkOverrunException e)
            {
                int lost = _pending.Count;
                _pending.Clear();
                throw new NetlinkException(Errno.ENOBUFS, _operation,
                    $"the receive buffer overflowed: the kernel's answers to {lost} requests were lost and their outcome is unknown ({e.Message})");
            }
            var reader = new NetlinkMessageReader(_conn.Buffer[..n]);
            while (reader.Next())
            {
                var m = reader.Current;
                if (!m.IsError) continue; // CT_NEW without NLM_F_ECHO answers nothing but the ACK
                if (!_pending.Remove(m.Sequence, out int index)) continue; // an answer to someone else's request
                int errno = m.ErrorCode;
                _onAck(new BatchAck(index, errno, errno == 0 ? null : m.ExtendedAckMessage()));
            }
        }
    }

    private int Receive(CancellationToken cancel)
    {
        while (true)
        {
            cancel.ThrowIfCancellationRequested();
            int n = _conn.Transport.Receive(_conn.Buffer, 200);
            if (n > 0) return n;
        }
    }
}
