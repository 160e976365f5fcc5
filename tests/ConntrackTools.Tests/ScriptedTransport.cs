using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using ConntrackTools.Netlink;

namespace ConntrackTools.Tests;

/// <summary>
/// A fake netlink socket (in the spirit of mdlayher/netlink's nltest): each request sent is answered by a
/// scripted function that returns the datagrams the "kernel" would send back, with the request's sequence
/// number patched in. Requests are recorded for assertions. The entry count a dump asks first
/// (IPCTNL_MSG_CT_GET_STATS, see ConntrackClient.SkipEmptyTable) is answered apart, from <see cref="StatsReply"/>,
/// so that the scripts answer only the requests they are about.
/// </summary>
internal sealed class ScriptedTransport : INetlinkTransport
{
    private readonly Func<byte[], int, IEnumerable<byte[]>> _answer;
    private readonly Queue<byte[]> _pending = new();
    private int _requestCount;

    public ScriptedTransport(Func<byte[], int, IEnumerable<byte[]>> answer) => _answer = answer;

    public List<byte[]> Requests { get; } = new();
    public bool Disposed { get; private set; }
    public uint PortId => 4242;

    /// <summary>The IPCTNL_MSG_CT_GET_STATS requests, answered by <see cref="StatsReply"/>.</summary>
    public List<byte[]> StatsRequests { get; } = new();

    /// <summary>The datagrams answering a GET_STATS request: by default the kernel's reply and ACK for a table of three entries.</summary>
    public IReadOnlyList<byte[]> StatsReply { get; init; } = ThreeEntries;

    private static readonly IReadOnlyList<byte[]> ThreeEntries = Fixture.Messages("stats-three");

    private const ushort GetStats = (1 << 8) | 5;   // NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_GET_STATS

    public void Send(ReadOnlySpan<byte> message)
    {
        var req = message.ToArray();
        uint seq = BinaryPrimitives.ReadUInt32LittleEndian(req.AsSpan(8));
        if (BinaryPrimitives.ReadUInt16LittleEndian(req.AsSpan(4)) == GetStats)
        {
            StatsRequests.Add(req);
            foreach (var d in StatsReply) _pending.Enqueue(WithSequence(d, seq));
            return;
        }
        Requests.Add(req);
        foreach (var d in _answer(req, _requestCount++))
            _pending.Enqueue(WithSequence(d, seq));
    }

    public int Receive(Span<byte> buffer, int timeoutMilliseconds)
    {
        if (_pending.Count == 0) return 0;
        var d = _pending.Dequeue();
        d.CopyTo(buffer);
        return d.Length;
    }

    /// <summary>Like the kernel during a dump: as many queued datagrams as there are buffers, in order.</summary>
    public int ReceiveMany(ReadOnlySpan<byte[]> buffers, Span<int> lengths, int timeoutMilliseconds)
    {
        lock (BatchesAsked) BatchesAsked.Add(buffers.Length);
        int n = 0;
        while (n < buffers.Length && _pending.Count > 0)
        {
            var d = _pending.Dequeue();
            d.CopyTo(buffers[n]);
            lengths[n++] = d.Length;
        }
        return n;
    }

    /// <summary>How many buffers each <see cref="ReceiveMany"/> call offered, in order.</summary>
    public List<int> BatchesAsked { get; } = new();

    public void Dispose() => Disposed = true;

    /// <summary>Sets the sequence number of every message in a datagram.</summary>
    private static byte[] WithSequence(byte[] datagram, uint seq)
    {
        var d = (byte[])datagram.Clone();
        int off = 0;
        while (off + Nlmsg.HeaderLength <= d.Length)
        {
            int len = (int)BinaryPrimitives.ReadUInt32LittleEndian(d.AsSpan(off));
            if (BinaryPrimitives.ReadUInt32LittleEndian(d.AsSpan(off + 8)) != StaleSequence)
                BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(off + 8), seq);
            off += (len + 3) & ~3;
        }
        return d;
    }

    /// <summary>Messages carrying this sequence number are left as they are: an answer to some older request.</summary>
    public const uint StaleSequence = 0xFFFFFFFF;

    public static byte[] Stale(byte[] message)
    {
        var m = (byte[])message.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(m.AsSpan(8), StaleSequence);
        return m;
    }

    public static byte[] Done()
    {
        var d = new byte[20];
        BinaryPrimitives.WriteUInt32LittleEndian(d, 20);
        BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(4), Nlmsg.DONE);
        BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(6), Nlmsg.F_MULTI);
        return d;
    }

    public static byte[] Error(int errno)
    {
        var d = new byte[36];
        BinaryPrimitives.WriteUInt32LittleEndian(d, 36);
        BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(4), Nlmsg.ERROR);
        BinaryPrimitives.WriteInt32LittleEndian(d.AsSpan(16), -errno);
        return d;
    }

    public static byte[] Concat(params byte[][] parts)
    {
        var list = new List<byte>();
        foreach (var p in parts)
        {
            list.AddRange(p);
            while (list.Count % 4 != 0) list.Add(0);
        }
        return list.ToArray();
    }

    /// <summary>A copy of a message with extra nlmsghdr flags.</summary>
    public static byte[] WithFlags(byte[] message, ushort flags)
    {
        var m = (byte[])message.Clone();
        ushort f = BinaryPrimitives.ReadUInt16LittleEndian(m.AsSpan(6));
        BinaryPrimitives.WriteUInt16LittleEndian(m.AsSpan(6), (ushort)(f | flags));
        return m;
    }
}
