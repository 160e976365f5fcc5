using System;
using System.Diagnostics;
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
}
