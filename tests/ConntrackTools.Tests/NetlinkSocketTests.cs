using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using ConntrackTools.Netlink;
using ConntrackTools.Routing;
using Xunit;

namespace ConntrackTools.Tests;

/// <summary>
/// NetlinkSocket.Receive on a real NETLINK_ROUTE socket (a normal user may open one and list links): a receive with a
/// timeout tries the datagram first and polls only when none is queued.
/// </summary>
public class NetlinkSocketTests
{
    private static byte[] LinkDump(uint seq)
    {
        var request = InterfaceNameTable.Request();
        request.Flags |= Nlmsg.F_REQUEST | Nlmsg.F_DUMP;
        return request.Build(seq);
    }

    [Fact]
    public void Receive_WithNothingQueued_WaitsForTheTimeoutAndReturnsZero()
    {
        using var socket = NetlinkSocket.Open(NetlinkProtocol.Route);
        var buffer = new byte[NetlinkConnection.PipelinedDatagramBytes];
        var watch = Stopwatch.StartNew();
        Assert.Equal(0, socket.Receive(buffer, 150));
        Assert.True(watch.ElapsedMilliseconds >= 100, $"returned after {watch.ElapsedMilliseconds} ms, before the 150 ms timeout");
    }

    [Fact]
    public void Receive_WithATimeout_GetsADatagramThatArrivesWhileItWaits()
    {
        using var socket = NetlinkSocket.Open(NetlinkProtocol.Route);
        var buffer = new byte[NetlinkConnection.PipelinedDatagramBytes];
        var sender = new Thread(() =>
        {
            Thread.Sleep(100);
            socket.Send(LinkDump(7));
        });
        sender.Start();
        int n = socket.Receive(buffer, 5000);
        sender.Join();
        Assert.True(n >= Nlmsg.HeaderLength, $"received {n} bytes");
        var reader = new NetlinkMessageReader(buffer.AsSpan(0, n));
        Assert.True(reader.Next());
        Assert.Equal(7u, reader.Current.Sequence);
    }

    [Fact]
    public void Receive_ADatagramLargerThanTheBuffer_IsRefusedAsTruncated()
    {
        using var socket = NetlinkSocket.Open(NetlinkProtocol.Route);
        socket.Send(LinkDump(9));
        var small = new byte[Nlmsg.HeaderLength];   // no link message fits in a bare header
        var e = Assert.Throws<NetlinkDecodeException>(() => socket.Receive(small, 5000));
        Assert.Contains("truncated", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReceiveMany_TakesTheQueuedDatagramsOfADumpInOneCall_AsReceiveDoesOneByOne()
    {
        // A link dump of this namespace answers in a datagram or more: recvmmsg returns what is queued, each
        // datagram whole, and both ways read the same messages.
        static List<(ushort Type, uint Seq)> Messages(IEnumerable<byte[]> datagrams) =>
            datagrams.SelectMany(d =>
            {
                var list = new List<(ushort, uint)>();
                var reader = new NetlinkMessageReader(d);
                while (reader.Next()) list.Add((reader.Current.Type, reader.Current.Sequence));
                return list;
            }).ToList();
        static bool Done(byte[] d)
        {
            var reader = new NetlinkMessageReader(d);
            while (reader.Next()) if (reader.Current.IsDone) return true;
            return false;
        }

        var one = new List<byte[]>();
        using (var socket = NetlinkSocket.Open(NetlinkProtocol.Route))
        {
            socket.Send(LinkDump(11));
            var buffer = new byte[NetlinkConnection.PipelinedDatagramBytes];
            do one.Add(buffer.AsSpan(0, socket.Receive(buffer, 5000)).ToArray());
            while (!Done(one[^1]));
        }
        var many = new List<byte[]>();
        using (var socket = NetlinkSocket.Open(NetlinkProtocol.Route))
        {
            socket.Send(LinkDump(11));
            var buffers = Enumerable.Range(0, 8).Select(_ => new byte[NetlinkConnection.PipelinedDatagramBytes]).ToArray();
            var lengths = new int[8];
            int calls = 0;
            while (many.Count == 0 || !Done(many[^1]))
            {
                int got = socket.ReceiveMany(buffers, lengths, 5000);
                Assert.InRange(got, 1, 8);
                calls++;
                for (int i = 0; i < got; i++) many.Add(buffers[i].AsSpan(0, lengths[i]).ToArray());
            }
            // Each netlink recvmsg builds the next datagram before it returns, so every call fills its 8 buffers.
            Assert.Equal((one.Count + 7) / 8, calls);
        }
        Assert.Equal(Messages(one), Messages(many));
    }

    [Fact]
    public void ReceiveMany_WithNothingQueued_WaitsForTheTimeoutAndReturnsZero()
    {
        using var socket = NetlinkSocket.Open(NetlinkProtocol.Route);
        var buffers = new[] { new byte[4096], new byte[4096] };
        var watch = Stopwatch.StartNew();
        Assert.Equal(0, socket.ReceiveMany(buffers, new int[2], 150));
        Assert.True(watch.ElapsedMilliseconds >= 100, $"returned after {watch.ElapsedMilliseconds} ms, before the 150 ms timeout");
    }

    [Fact]
    public void ReceiveMany_ADatagramLargerThanItsBuffer_IsRefusedAsTruncated()
    {
        using var socket = NetlinkSocket.Open(NetlinkProtocol.Route);
        socket.Send(LinkDump(13));
        var small = new[] { new byte[Nlmsg.HeaderLength] };
        var e = Assert.Throws<NetlinkDecodeException>(() => socket.ReceiveMany(small, new int[1], 5000));
        Assert.Contains("truncated", e.Message, StringComparison.Ordinal);
    }
}
