using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using ConntrackTools.Conntrack;
using ConntrackTools.Inet;
using ConntrackTools.Netlink;
using ConntrackTools.Sockets;
using Xunit;

namespace ConntrackTools.Tests;

/// <summary>NETLINK_SOCK_DIAG answers recorded from kernel 6.18 (Fixtures/sockdiag-*.hex, see record-sockdiag-fixtures.py).</summary>
public class SocketDiagTests
{
    private static List<InetDiagMessage> Decode(string fixture) =>
        Fixture.Messages(fixture).Where(m => BinaryPrimitives.ReadUInt16LittleEndian(m.AsSpan(4)) == SockDiag.SOCK_DIAG_BY_FAMILY)
            .Select(m => InetDiagMessage.Decode(m.AsSpan(Nlmsg.HeaderLength))).ToList();

    [Fact]
    public void Tcp4_ListenerEstablishedPairAndTimeWait()
    {
        var s = Decode("sockdiag-tcp4");
        Assert.Equal(4, s.Count);
        var listener = Assert.Single(s, x => x.State == TcpStates.TCP_LISTEN);
        Assert.Equal(8899, listener.SourcePort);
        Assert.Equal(0, listener.DestinationPort);
        Assert.Equal(IPAddress.Parse("127.0.0.1"), listener.Source);
        Assert.Equal(IPAddress.Any, listener.Destination);
        Assert.Equal(190234UL, listener.Inode);
        Assert.Equal(8u, listener.SendQueue);          // a listener's wqueue is its backlog limit
        Assert.Equal(0u, listener.Mark);
        Assert.Equal(1UL, listener.CgroupId);
        Assert.Equal(2, s.Count(x => x.State == TcpStates.TCP_ESTABLISHED));
        var server = Assert.Single(s, x => x.State == TcpStates.TCP_ESTABLISHED && x.SourcePort == 8899);
        Assert.Equal(57346, server.DestinationPort);
        Assert.Equal(190236UL, server.Inode);
        var tw = Assert.Single(s, x => x.State == TcpStates.TCP_TIME_WAIT);
        Assert.Equal(8899, tw.DestinationPort);
        Assert.Equal(0UL, tw.Inode);                   // no process holds a TIME_WAIT socket
        Assert.Equal(TcpState.TimeWait, TcpStates.FromKernel(tw.State));
        Assert.Equal(TcpState.Listen, TcpStates.FromKernel(listener.State));
    }

    [Fact]
    public void Tcp6_AddressesAreSixteenBytes()
    {
        var s = Decode("sockdiag-tcp6");
        Assert.Equal(3, s.Count);
        Assert.All(s, x => Assert.Equal(SockDiag.AF_INET6, x.Family));
        var listener = Assert.Single(s, x => x.State == TcpStates.TCP_LISTEN);
        Assert.Equal(IPAddress.IPv6Loopback, listener.Source);
        Assert.Equal("::1", listener.Source.ToString());
        Assert.Equal(8898, listener.SourcePort);
        Assert.Equal(IPAddress.IPv6Any, listener.Destination);
        Assert.Equal(true, listener.V6Only);   // bound to a specific IPv6 address: the kernel makes it v6-only (inet6_bind)
    }

    [Fact]
    public void Udp4_UnconnectedAndConnected()
    {
        var s = Decode("sockdiag-udp4");
        Assert.Equal(2, s.Count);
        var bound = Assert.Single(s, x => x.State == TcpStates.TCP_CLOSE);
        Assert.Equal(5353, bound.SourcePort);
        Assert.Equal(0, bound.DestinationPort);
        var connected = Assert.Single(s, x => x.State == TcpStates.TCP_ESTABLISHED);
        Assert.Equal(5353, connected.DestinationPort);
        Assert.Equal(IPAddress.Loopback, connected.Destination);
    }

    [Fact]
    public void TruncatedMessage_RaisesDecodeError()
    {
        var m = Fixture.Messages("sockdiag-tcp4")[0];
        Assert.Throws<NetlinkDecodeException>(() => InetDiagMessage.Decode(m.AsSpan(Nlmsg.HeaderLength, 40)));
        var bad = m.AsSpan(Nlmsg.HeaderLength).ToArray();
        bad[0] = 7; // not AF_INET/AF_INET6
        Assert.Throws<NetlinkDecodeException>(() => InetDiagMessage.Decode(bad));
    }

    private static SocketReader Reader(List<ScriptedTransport>? opened = null) => new(() =>
    {
        var t = new ScriptedTransport((req, n) =>
        {
            byte family = req[Nlmsg.HeaderLength], proto = req[Nlmsg.HeaderLength + 1];
            string fixture = (family, proto) switch
            {
                (SockDiag.AF_INET, SockDiag.IPPROTO_TCP) => "sockdiag-tcp4",
                (SockDiag.AF_INET6, SockDiag.IPPROTO_TCP) => "sockdiag-tcp6",
                (SockDiag.AF_INET, SockDiag.IPPROTO_UDP) => "sockdiag-udp4",
                _ => "",
            };
            return fixture == "" ? new[] { ScriptedTransport.Done() } : new[] { Fixture.Bytes(fixture) };
        });
        opened?.Add(t);
        return t;
    }, "ctt-test");

    [Fact]
    public void Reader_DumpsBothFamilies_WithNetTcpIpNames()
    {
        var opened = new List<ScriptedTransport>();
        var r = new SocketDumpResult();
        var list = Reader(opened).Tcp(new SocketQuery { IncludeConntrack = false }, kernelFiltering: true, r);
        Assert.Equal(7, list.Count);
        Assert.Equal(7, r.Received);
        var reqs = opened.Single().Requests;
        Assert.Equal(2, reqs.Count);
        Assert.Equal(SockDiag.AF_INET, reqs[0][16]);
        Assert.Equal(SockDiag.AF_INET6, reqs[1][16]);
        Assert.Equal(TcpStates.AllStates, BinaryPrimitives.ReadUInt32LittleEndian(reqs[0].AsSpan(20)));
        Assert.Equal(Nlmsg.HeaderLength + SockDiag.InetRequestLength, reqs[0].Length);   // no bytecode without conditions
        var l6 = Assert.Single(list, c => c.State == TcpState.Listen && c.AddressFamily == IPFamily.IPv6);
        Assert.Equal("::1", l6.LocalAddress);
        Assert.Equal("::", l6.RemoteAddress);
        Assert.Equal("ctt-test", l6.NetworkNamespace);
        Assert.Null(l6.OwningProcess);
        Assert.Null(l6.ConntrackEntry);
        Assert.Null(l6.CreationTime);
    }

    [Fact]
    public void Reader_SendsStatesAndBytecode_AndChecksAgainInUserSpace()
    {
        var opened = new List<ScriptedTransport>();
        var q = new SocketQuery { State = [TcpState.Established], RemotePort = [8899], IncludeConntrack = false };
        var list = Reader(opened).Tcp(q, kernelFiltering: true, new SocketDumpResult());
        // The scripted kernel ignores the filter and answers everything: user space must still select the one socket.
        var c = Assert.Single(list);
        Assert.Equal(TcpState.Established, c.State);
        Assert.Equal(8899, c.RemotePort);
        var req = opened.Single().Requests[0];
        Assert.Equal(1u << TcpStates.TCP_ESTABLISHED, BinaryPrimitives.ReadUInt32LittleEndian(req.AsSpan(20)));
        var attr = req.AsSpan(Nlmsg.HeaderLength + SockDiag.InetRequestLength);
        Assert.Equal(SockDiag.INET_DIAG_REQ_BYTECODE, BinaryPrimitives.ReadUInt16LittleEndian(attr[2..]));
        Assert.Equal(q.Bytecode(SockDiag.AF_INET)!.Code, attr[4..BinaryPrimitives.ReadUInt16LittleEndian(attr)].ToArray());
    }

    [Fact]
    public void Reader_NoKernelFilter_SendsNeitherMaskNorBytecode_SameAnswer()
    {
        var opened = new List<ScriptedTransport>();
        var q = new SocketQuery { State = [TcpState.Established], RemotePort = [8899], IncludeConntrack = false };
        var list = Reader(opened).Tcp(q, kernelFiltering: false, new SocketDumpResult());
        Assert.Single(list);
        var req = opened.Single().Requests[0];
        Assert.Equal(TcpStates.AllStates, BinaryPrimitives.ReadUInt32LittleEndian(req.AsSpan(20)));
        Assert.Equal(Nlmsg.HeaderLength + SockDiag.InetRequestLength, req.Length);
    }

    [Fact]
    public void Reader_OnlyIPv6Prefixes_SkipsTheIPv4Dump()
    {
        var opened = new List<ScriptedTransport>();
        var q = new SocketQuery { LocalAddress = [AddressMatch.Parse("::1")], IncludeConntrack = false };
        var list = Reader(opened).Tcp(q, kernelFiltering: true, new SocketDumpResult());
        Assert.Equal(3, list.Count);
        Assert.Single(opened.Single().Requests);
        Assert.Equal(SockDiag.AF_INET6, opened.Single().Requests[0][16]);
    }

    [Fact]
    public void Udp_ConnectedFlag()
    {
        var list = Reader().Udp(new SocketQuery { Family = IPFamily.IPv4, IncludeConntrack = false }, true, new SocketDumpResult());
        Assert.Equal(2, list.Count);
        Assert.Single(list, u => u.Connected && u.RemotePort == 5353);
        Assert.Single(list, u => !u.Connected && u.LocalPort == 5353 && u.RemoteAddress == "0.0.0.0");
    }

    [Fact]
    public void NetlinkDiag_PortIdsAreUniquePerProtocolOnly()
    {
        // The recorder held a NETLINK_SOCK_DIAG socket and a NETLINK_NETFILTER socket with the same port id (its pid).
        var msgs = Fixture.Messages("sockdiag-netlink").Where(m => BinaryPrimitives.ReadUInt16LittleEndian(m.AsSpan(4)) == SockDiag.SOCK_DIAG_BY_FAMILY)
            .Select(m => NetlinkDiagMessage.Decode(m.AsSpan(Nlmsg.HeaderLength))).ToList();
        Assert.Contains(msgs, d => d.Protocol == 4 && d.PortId == 25029 && d.Inode == 190251);
        Assert.Contains(msgs, d => d.Protocol == 12 && d.PortId == 25029 && d.Inode == 190250);
        var owners = new NetlinkSocketOwners(new ScriptedTransport((req, n) =>
        {
            Assert.Equal(SockDiag.AF_NETLINK, req[16]);
            Assert.Equal(NetlinkSocketOwners.Protocol, req[17]);   // the kernel is asked for netfilter sockets only
            return new[] { Fixture.Bytes("sockdiag-netlink") };
        }));
        Assert.Equal(190250UL, owners.FindInode(25029));
        Assert.Null(owners.FindInode(12345));
    }
}
