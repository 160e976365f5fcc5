using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Linq;
using ConntrackTools.Netlink;
using Xunit;

namespace ConntrackTools.Tests;

/// <summary>Many requests per datagram, every answer mapped back to its message by sequence number.</summary>
public class BatchTests
{
    /// <summary>
    /// A fake kernel that handles each message of a datagram in order (as netlink_rcv_skb does) and queues one ACK or
    /// error per message, packed a few per datagram, optionally in a shuffled order and with a stale answer mixed in.
    /// </summary>
    private sealed class BatchKernel : INetlinkTransport
    {
        private readonly Func<int, int> _errnoForMarker;
        private readonly Queue<byte[]> _out = new();
        public readonly List<int> MessagesPerDatagram = new();
        public readonly List<int> BytesPerDatagram = new();
        public bool Shuffle { get; init; }
        public bool Stale { get; init; }

        public BatchKernel(Func<int, int> errnoForMarker) => _errnoForMarker = errnoForMarker;
        public uint PortId => 99;

        public void Send(ReadOnlySpan<byte> datagram)
        {
            var answers = new List<byte[]>();
            var reader = new NetlinkMessageReader(datagram);
            int count = 0;
            while (reader.Next())
            {
                var m = reader.Current;
                count++;
                Assert.Equal(Nlmsg.F_REQUEST | Nlmsg.F_ACK, m.Flags & (Nlmsg.F_REQUEST | Nlmsg.F_ACK));
                int marker = (int)BinaryPrimitives.ReadUInt32BigEndian(m.Payload[8..]); // the test's attribute value
                answers.Add(Ack(m.Sequence, _errnoForMarker(marker)));
            }
            MessagesPerDatagram.Add(count);
            BytesPerDatagram.Add(datagram.Length);
            if (Shuffle) answers.Reverse();
            if (Stale) _out.Enqueue(Ack(0xdeadbeef, 2));
            for (int i = 0; i < answers.Count; i += 3)
                _out.Enqueue(answers.Skip(i).Take(3).SelectMany(a => a).ToArray());
        }

        public int Receive(Span<byte> buffer, int timeoutMilliseconds)
        {
            if (_out.Count == 0) return 0;
            var d = _out.Dequeue();
            d.CopyTo(buffer);
            return d.Length;
        }

        public void Dispose() { }

        private static byte[] Ack(uint seq, int errno)
        {
            var d = new byte[36];
            BinaryPrimitives.WriteUInt32LittleEndian(d, 36);
            BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(4), Nlmsg.ERROR);
            BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(6), Nlmsg.F_CAPPED);
            BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(8), seq);
            BinaryPrimitives.WriteInt32LittleEndian(d.AsSpan(16), -errno);
            return d;
        }
    }

    private static MessageBuilder Request(int marker) =>
        new MessageBuilder(0x0100, 0, bigEndian: true).NfGenMsg(2).UInt32(99, (uint)marker);

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void EveryAckIsMappedBackToItsMessage(bool shuffle, bool stale)
    {
        var kernel = new BatchKernel(marker => marker % 17 == 5 ? Errno.EEXIST : marker == 42 ? Errno.EINVAL : 0) { Shuffle = shuffle, Stale = stale };
        var conn = new NetlinkConnection(kernel);
        var acks = new Dictionary<int, int>();
        var batch = new NetlinkBatch(conn, "test create", 4096, 50, a => acks.Add(a.Index, a.Errno));
        for (int i = 0; i < 1000; i++) Assert.Equal(i, batch.Add(Request(i)));
        batch.Flush();

        Assert.Equal(1000, acks.Count);
        for (int i = 0; i < 1000; i++)
            Assert.Equal(i % 17 == 5 ? Errno.EEXIST : i == 42 ? Errno.EINVAL : 0, acks[i]);
        Assert.True(kernel.MessagesPerDatagram.Count < 1000 / 10, "many messages per datagram");
        Assert.All(kernel.MessagesPerDatagram, n => Assert.InRange(n, 1, 50));
        Assert.All(kernel.BytesPerDatagram, n => Assert.InRange(n, 1, 4096));
        Assert.Equal(1000, kernel.MessagesPerDatagram.Sum());
        Assert.Equal(kernel.MessagesPerDatagram.Count, batch.Datagrams);
    }

    [Fact]
    public void ByteLimitSplitsDatagrams()
    {
        var kernel = new BatchKernel(_ => 0);
        var batch = new NetlinkBatch(new NetlinkConnection(kernel), "test", 1024, 1000, _ => { });
        int size = Nlmsg.Align(Request(0).Length);
        for (int i = 0; i < 100; i++) batch.Add(Request(i));
        batch.Flush();
        Assert.All(kernel.MessagesPerDatagram.SkipLast(1), n => Assert.Equal(1024 / size, n));
    }

    [Fact]
    public void LostAnswersAreAnErrorNotASilentSuccess()
    {
        var overrun = new OverrunTransport();
        var batch = new NetlinkBatch(new NetlinkConnection(overrun), "test create", 4096, 10, _ => { });
        batch.Add(Request(1));
        var e = Assert.Throws<NetlinkException>(() => batch.Flush());
        Assert.Equal(Errno.ENOBUFS, e.Errno);
        Assert.Contains("1 requests", e.Message);
    }

    private sealed class OverrunTransport : INetlinkTransport
    {
        public uint PortId => 1;
        public void Send(ReadOnlySpan<byte> message) { }
        public int Receive(Span<byte> buffer, int timeoutMilliseconds) => throw new NetlinkOverrunException("netlink receive");
        public void Dispose() { }
    }
}
