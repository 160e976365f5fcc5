using System;
using System.Buffers.Binary;
using System.Net;
using ConntrackTools.Netlink;

namespace ConntrackTools.Sockets;

/// <summary>
/// NETLINK_SOCK_DIAG wire format (linux/sock_diag.h, linux/inet_diag.h, linux/netlink_diag.h): the requests we
/// send and the fixed headers of the answers. Integers in the headers are host order except ports and
/// addresses (network order), as in the kernel structs.
/// </summary>
public static class SockDiag
{
    public const ushort SOCK_DIAG_BY_FAMILY = 20;

    public const byte AF_INET = 2;
    public const byte AF_INET6 = 10;
    public const byte AF_NETLINK = 16;
    public const byte IPPROTO_TCP = 6;
    public const byte IPPROTO_UDP = 17;

    /// <summary>sizeof(struct inet_diag_sockid): sport, dport, src[4], dst[4], if, cookie[2].</summary>
    public const int SockIdLength = 48;

    /// <summary>sizeof(struct inet_diag_req_v2): family, protocol, ext, pad, states, sockid.</summary>
    public const int InetRequestLength = 8 + SockIdLength;

    /// <summary>sizeof(struct inet_diag_msg): family, state, timer, retrans, sockid, expires, rqueue, wqueue, uid, inode.</summary>
    public const int InetMessageLength = 4 + SockIdLength + 20;

    /// <summary>sizeof(struct netlink_diag_req): family, protocol, pad, ino, show, cookie[2].</summary>
    public const int NetlinkRequestLength = 20;

    /// <summary>sizeof(struct netlink_diag_msg): family, type, protocol, state, portid, dst_portid, dst_group, ino, cookie[2].</summary>
    public const int NetlinkMessageLength = 28;

    /// <summary>netlink_diag_req.sdiag_protocol for "every netlink protocol".</summary>
    public const byte NDIAG_PROTO_ALL = 255;

    // enum inet_diag_req_attrs
    public const ushort INET_DIAG_REQ_BYTECODE = 1;

    // enum inet_diag_attrs (answers)
    public const ushort INET_DIAG_SKV6ONLY = 11;
    public const ushort INET_DIAG_MARK = 15;
    public const ushort INET_DIAG_CGROUP_ID = 21;

    /// <summary>
    /// inet_diag dump request for one family and protocol: <paramref name="states"/> is the bit mask of kernel
    /// TCP states (1 &lt;&lt; TCP_ESTABLISHED ...), <paramref name="bytecode"/> an inet_diag filter program (or empty).
    /// </summary>
    public static MessageBuilder InetDumpRequest(byte family, byte protocol, uint states, ReadOnlySpan<byte> bytecode)
    {
        var b = new MessageBuilder(SOCK_DIAG_BY_FAMILY, 0, bigEndian: false);
        Span<byte> req = stackalloc byte[InetRequestLength];
        req.Clear();
        req[0] = family;
        req[1] = protocol;
        req[2] = 0; // idiag_ext: no extensions (the base message has everything we show)
        BinaryPrimitives.WriteUInt32LittleEndian(req[4..], states);
        b.Raw(req);
        if (!bytecode.IsEmpty) b.Bytes(INET_DIAG_REQ_BYTECODE, bytecode);
        return b;
    }

    /// <summary>netlink_diag dump request: every netlink socket of the namespace (family AF_NETLINK, all protocols).</summary>
    public static MessageBuilder NetlinkDumpRequest(byte protocol = NDIAG_PROTO_ALL)
    {
        var b = new MessageBuilder(SOCK_DIAG_BY_FAMILY, 0, bigEndian: false);
        Span<byte> req = stackalloc byte[NetlinkRequestLength];
        req.Clear();
        req[0] = AF_NETLINK;
        req[1] = protocol;
        // ndiag_ino 0 (all), ndiag_show 0 (no extra attributes), cookie unset.
        b.Raw(req);
        return b;
    }
}

/// <summary>The fixed part of one inet_diag answer (struct inet_diag_msg) plus the attributes we read.</summary>
public readonly struct InetDiagMessage
{
    public byte Family { get; init; }
    /// <summary>Kernel TCP state number (TCP_ESTABLISHED = 1 ... TCP_NEW_SYN_RECV = 12); UDP uses ESTABLISHED and CLOSE.</summary>
    public byte State { get; init; }
    public byte Timer { get; init; }
    public byte Retransmits { get; init; }
    public int SourcePort { get; init; }
    public int DestinationPort { get; init; }
    public IPAddress Source { get; init; }
    public IPAddress Destination { get; init; }
    public uint Interface { get; init; }
    public ulong Cookie { get; init; }
    public uint ExpiresMilliseconds { get; init; }
    public uint ReceiveQueue { get; init; }
    public uint SendQueue { get; init; }
    public uint UserId { get; init; }
    public ulong Inode { get; init; }
    public uint? Mark { get; init; }
    public bool? V6Only { get; init; }
    public ulong? CgroupId { get; init; }

    /// <summary>Decodes the payload of a SOCK_DIAG_BY_FAMILY answer. Raises <see cref="NetlinkDecodeException"/> on malformed input.</summary>
    public static InetDiagMessage Decode(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < SockDiag.InetMessageLength)
            throw new NetlinkDecodeException($"inet_diag message of {payload.Length} bytes, shorter than struct inet_diag_msg ({SockDiag.InetMessageLength})");
        byte family = payload[0];
        int addrLen = family switch
        {
            SockDiag.AF_INET => 4,
            SockDiag.AF_INET6 => 16,
            _ => throw new NetlinkDecodeException($"inet_diag message with address family {family}"),
        };
        var id = payload.Slice(4, SockDiag.SockIdLength);
        uint? mark = null;
        bool? v6only = null;
        ulong? cgroup = null;
        var ad = new AttributeDecoder(payload[SockDiag.InetMessageLength..], bigEndian: false);
        while (ad.Next())
        {
            switch (ad.Type)
            {
                case SockDiag.INET_DIAG_MARK: mark = ad.UInt32(); break;
                case SockDiag.INET_DIAG_SKV6ONLY: v6only = ad.UInt8() != 0; break;
                case SockDiag.INET_DIAG_CGROUP_ID: cgroup = ad.UInt64(); break;
            }
        }
        if (ad.Error is not null) throw new NetlinkDecodeException("inet_diag message: " + ad.Error);
        return new InetDiagMessage
        {
            Family = family,
            State = payload[1],
            Timer = payload[2],
            Retransmits = payload[3],
            SourcePort = BinaryPrimitives.ReadUInt16BigEndian(id),
            DestinationPort = BinaryPrimitives.ReadUInt16BigEndian(id[2..]),
            Source = new IPAddress(id.Slice(4, addrLen)),
            Destination = new IPAddress(id.Slice(20, addrLen)),
            Interface = BinaryPrimitives.ReadUInt32LittleEndian(id[36..]),
            Cookie = BinaryPrimitives.ReadUInt32LittleEndian(id[40..]) | ((ulong)BinaryPrimitives.ReadUInt32LittleEndian(id[44..]) << 32),
            ExpiresMilliseconds = BinaryPrimitives.ReadUInt32LittleEndian(payload[52..]),
            ReceiveQueue = BinaryPrimitives.ReadUInt32LittleEndian(payload[56..]),
            SendQueue = BinaryPrimitives.ReadUInt32LittleEndian(payload[60..]),
            UserId = BinaryPrimitives.ReadUInt32LittleEndian(payload[64..]),
            Inode = BinaryPrimitives.ReadUInt32LittleEndian(payload[68..]),
            Mark = mark,
            V6Only = v6only,
            CgroupId = cgroup,
        };
    }
}

/// <summary>The fixed part of one netlink_diag answer (struct netlink_diag_msg).</summary>
public readonly record struct NetlinkDiagMessage(byte Protocol, uint PortId, ulong Inode)
{
    public static NetlinkDiagMessage Decode(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < SockDiag.NetlinkMessageLength)
            throw new NetlinkDecodeException($"netlink_diag message of {payload.Length} bytes, shorter than struct netlink_diag_msg ({SockDiag.NetlinkMessageLength})");
        if (payload[0] != SockDiag.AF_NETLINK)
            throw new NetlinkDecodeException($"netlink_diag message with family {payload[0]}");
        return new NetlinkDiagMessage(payload[2], BinaryPrimitives.ReadUInt32LittleEndian(payload[4..]),
            BinaryPrimitives.ReadUInt32LittleEndian(payload[16..]));
    }
}
