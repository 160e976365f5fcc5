using System;
using System.Net.Sockets;
using ConntrackTools.Inet;
using ConntrackTools.Netlink;

namespace ConntrackTools.Conntrack;

/// <summary>Encoders for ctnetlink create, update and delete requests.</summary>
public static class ConntrackRequests
{
    /// <summary>IPCTNL_MSG_CT_NEW. With <paramref name="create"/>: NLM_F_CREATE|NLM_F_EXCL (fails with EEXIST if present).</summary>
    public static MessageBuilder New(ConntrackEntry e, bool create)
    {
        ushort flags = create ? (ushort)(Nlmsg.F_CREATE | Nlmsg.F_EXCL) : (ushort)0;
        var b = new MessageBuilder(Cta.MessageType(Cta.IPCTNL_MSG_CT_NEW), flags, bigEndian: true).NfGenMsg(FamilyOf(e));
        Tuple(b, Cta.TUPLE_ORIG, e.Original);
        Tuple(b, Cta.TUPLE_REPLY, e.Reply);
        // Always with IPS_CONFIRMED, as libnetfilter_conntrack does: a status without it would unconfirm (EBUSY).
        if (e.Status != ConntrackStatus.None) b.UInt32(Cta.STATUS, (uint)(e.Status | ConntrackStatus.Confirmed));
        b.UInt32(Cta.TIMEOUT, (uint)Math.Clamp(e.Timeout.TotalSeconds, 1, uint.MaxValue));
        if (e.Mark != 0) b.UInt32(Cta.MARK, e.Mark);
        if (e.Zone != 0) b.UInt16(Cta.ZONE, e.Zone);
        if (e.State is not null)
        {
            byte p = e.Original.ProtocolNumber;
            if (!Protocols.TryParseState(p, e.State, out byte state))
                throw new InvalidValueException(ErrorIds.InvalidArgument, $"'{e.State}' is not a {Protocols.Name(p)} state.", "State", e.State);
            ushort kind = p switch { Protocols.Tcp => Cta.PROTOINFO_TCP, Protocols.Sctp => Cta.PROTOINFO_SCTP, _ => Cta.PROTOINFO_DCCP };
            int info = b.BeginNested(Cta.PROTOINFO);
            int inner = b.BeginNested(kind);
            b.UInt8(1, state); // CTA_PROTOINFO_{TCP,SCTP,DCCP}_STATE
            b.EndNested(inner);
            b.EndNested(info);
        }
        return b;
    }

    /// <summary>IPCTNL_MSG_CT_NEW without NLM_F_CREATE: changes mark and/or timeout of the entry with this tuple.</summary>
    public static MessageBuilder Update(ConntrackEntry e, uint? mark, TimeSpan? timeout)
    {
        var b = new MessageBuilder(Cta.MessageType(Cta.IPCTNL_MSG_CT_NEW), 0, bigEndian: true).NfGenMsg(FamilyOf(e));
        Tuple(b, Cta.TUPLE_ORIG, e.Original);
        if (e.Zone != 0) b.UInt16(Cta.ZONE, e.Zone);
        if (e.Id != 0) b.UInt32(Cta.ID, e.Id);
        if (timeout is TimeSpan t) b.UInt32(Cta.TIMEOUT, (uint)Math.Clamp(t.TotalSeconds, 0, uint.MaxValue));
        if (mark is uint m) b.UInt32(Cta.MARK, m);
        return b;
    }

    /// <summary>IPCTNL_MSG_CT_DELETE of one entry: original tuple, zone, and the id so a reused tuple is not hit.</summary>
    public static MessageBuilder Delete(ConntrackEntry e)
    {
        var b = new MessageBuilder(Cta.MessageType(Cta.IPCTNL_MSG_CT_DELETE), 0, bigEndian: true).NfGenMsg(FamilyOf(e));
        Tuple(b, Cta.TUPLE_ORIG, e.Original);
        if (e.Zone != 0) b.UInt16(Cta.ZONE, e.Zone);
        if (e.Id != 0) b.UInt32(Cta.ID, e.Id);
        return b;
    }

    internal static byte FamilyOf(ConntrackEntry e) =>
        e.AddressFamily != IPFamily.All ? (byte)e.AddressFamily
        : e.Original.SourceIP.AddressFamily == AddressFamily.InterNetworkV6 ? (byte)10 : (byte)2;

    /// <summary>CTA_TUPLE_ORIG / CTA_TUPLE_REPLY with CTA_TUPLE_IP and CTA_TUPLE_PROTO.</summary>
    public static void Tuple(MessageBuilder b, ushort type, FlowTuple t)
    {
        int tuple = b.BeginNested(type);
        int ip = b.BeginNested(Cta.TUPLE_IP);
        bool v6 = t.SourceIP.AddressFamily == AddressFamily.InterNetworkV6;
        b.Address(v6 ? Cta.IP_V6_SRC : Cta.IP_V4_SRC, t.SourceIP);
        b.Address(v6 ? Cta.IP_V6_DST : Cta.IP_V4_DST, t.DestinationIP);
        b.EndNested(ip);
        int proto = b.BeginNested(Cta.TUPLE_PROTO);
        b.UInt8(Cta.PROTO_NUM, t.ProtocolNumber);
        if (t.ProtocolNumber is Protocols.Icmp or Protocols.IcmpV6)
        {
            bool six = t.ProtocolNumber == Protocols.IcmpV6;
            b.UInt16(six ? Cta.PROTO_ICMPV6_ID : Cta.PROTO_ICMP_ID, (ushort)(t.IcmpId ?? 0));
            b.UInt8(six ? Cta.PROTO_ICMPV6_TYPE : Cta.PROTO_ICMP_TYPE, (byte)(t.IcmpType ?? 0));
            b.UInt8(six ? Cta.PROTO_ICMPV6_CODE : Cta.PROTO_ICMP_CODE, (byte)(t.IcmpCode ?? 0));
        }
        else if (t.SourcePort is not null || t.DestinationPort is not null)
        {
            b.UInt16(Cta.PROTO_SRC_PORT, (ushort)(t.SourcePort ?? 0));
            b.UInt16(Cta.PROTO_DST_PORT, (ushort)(t.DestinationPort ?? 0));
        }
        b.EndNested(proto);
        if (t.Zone is ushort z) b.UInt16(Cta.TUPLE_ZONE, z);
        b.EndNested(tuple);
    }
}
