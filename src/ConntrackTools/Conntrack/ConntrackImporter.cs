using System;
using System.Collections.Generic;
using System.Net;
using System.Threading;
using ConntrackTools.Inet;
using ConntrackTools.Netlink;

namespace ConntrackTools.Conntrack;

/// <summary>
/// Creates many entries in netlink batches (<see cref="NetlinkBatch"/>): one IPCTNL_MSG_CT_NEW with
/// NLM_F_CREATE|NLM_F_EXCL per entry, hundreds per sendmsg, every ACK checked. The result of each entry is handed to
/// the callback on the calling thread, with the caller's tag (a line number, say). Not thread-safe.
/// </summary>
public sealed class ConntrackImporter : IDisposable
{
    /// <summary>Requested receive buffer: room for the ACKs of a whole datagram (an ACK takes about 1 KiB of it).</summary>
    public const int ReceiveBufferBytes = 8 << 20;

    private readonly NetlinkConnection _conn;
    private readonly NetlinkBatch _batch;
    private readonly List<(ConntrackEntry Entry, int Tag)> _sent = new();
    private readonly Action<ConntrackEntry, int, NetlinkException?> _onResult;

    public ConntrackImporter(ConntrackClient client, Action<ConntrackEntry, int, NetlinkException?> onResult)
    {
        _onResult = onResult;
        _conn = client.Connect();
        int datagram = 64 * 1024, perDatagram = 200;
        if (_conn.Transport is NetlinkSocket s)
        {
            int rcv = s.SetReceiveBuffer(ReceiveBufferBytes);
            datagram = Math.Clamp(s.SendBufferSize - 32, 4096, 1 << 20);
            perDatagram = Math.Clamp(rcv / 2048, 16, 4096);
        }
        _batch = new NetlinkBatch(_conn, "conntrack create", datagram, perDatagram, OnAck);
    }

    /// <summary>Datagrams sent so far.</summary>
    public int Datagrams => _batch.Datagrams;
    public int MessagesPerDatagram => _batch.MaxMessagesPerDatagram;

    /// <summary>Queues one entry; results of earlier entries may be reported during the call.</summary>
    public void Add(ConntrackEntry entry, int tag, CancellationToken cancel = default)
    {
        var request = CreateRequest(entry);
        int index = _batch.Add(request, cancel);
        _sent.Add((entry, tag));
        if (index != _sent.Count - 1) throw new InvalidOperationException("batch index out of step");
    }

    /// <summary>Sends what is queued and reports every result.</summary>
    public void Flush(CancellationToken cancel = default) => _batch.Flush(cancel);

    private void OnAck(BatchAck ack)
    {
        var (entry, tag) = _sent[ack.Index];
        _onResult(entry, tag, ack.Succeeded ? null : new NetlinkException(ack.Errno, "conntrack create", ack.ExtendedAck));
    }

    /// <summary>Status bits only the kernel sets: refused (EBUSY) or meaningless in a create request.</summary>
    public const ConntrackStatus KernelOwnedStatus = ConntrackStatus.Expected | ConntrackStatus.Confirmed | ConntrackStatus.Dying
        | ConntrackStatus.Template | ConntrackStatus.Untracked | ConntrackStatus.Offload | ConntrackStatus.HardwareOffload;

    /// <summary>
    /// IPCTNL_MSG_CT_NEW with NLM_F_CREATE|NLM_F_EXCL that re-creates <paramref name="e"/>: both tuples (per-direction
    /// zones included), status, timeout, mark, zone, protocol state, labels, and the NAT binding. The status always
    /// carries IPS_CONFIRMED (the kernel confirms every entry it creates from netlink and refuses a status that
    /// changes it with EBUSY), never the bits only the kernel sets. Source NAT (status SRC_NAT or SRC_NAT_DONE and a
    /// reply addressed elsewhere than the original source) is set up with CTA_NAT_SRC pinned to the reply's
    /// destination address and port, destination NAT with CTA_NAT_DST to the reply's source, so that the kernel builds
    /// the same NAT binding and the entry translates packets as it did; without those bits the tuples are sent as given.
    /// </summary>
    public static MessageBuilder CreateRequest(ConntrackEntry e)
    {
        var b = new MessageBuilder(Cta.MessageType(Cta.IPCTNL_MSG_CT_NEW), Nlmsg.F_CREATE | Nlmsg.F_EXCL, bigEndian: true)
            .NfGenMsg(ConntrackRequests.FamilyOf(e));
        var o = e.Original;
        var r = e.Reply;
        byte p = o.ProtocolNumber;
        bool icmp = p is Protocols.Icmp or Protocols.IcmpV6;
        bool snat = (e.Status & (ConntrackStatus.SourceNat | ConntrackStatus.SourceNatDone)) != 0
            && (!o.SourceIP.Equals(r.DestinationIP) || o.SourcePort != r.DestinationPort || (icmp && o.IcmpId != r.IcmpId));
        bool dnat = (e.Status & (ConntrackStatus.DestinationNat | ConntrackStatus.DestinationNatDone)) != 0
            && (!o.DestinationIP.Equals(r.SourceIP) || o.DestinationPort != r.SourcePort);
        ConntrackRequests.Tuple(b, Cta.TUPLE_ORIG, o);
        // With NAT the reply goes out untranslated: nf_nat_setup_info() translates it and sets IPS_SRC_NAT/IPS_DST_NAT
        // (which make the NAT hooks mangle packets) only when the tuple changes under it.
        var sentReply = r;
        if (snat || dnat)
        {
            sentReply = new FlowTuple(r.SourceIP, r.DestinationIP, p, r.SourcePort, r.DestinationPort)
            {
                IcmpType = r.IcmpType, IcmpCode = r.IcmpCode, IcmpId = r.IcmpId, Zone = r.Zone,
            };
            if (snat)
            {
                sentReply.DestinationIP = o.SourceIP;
                sentReply.DestinationPort = o.SourcePort;
                if (icmp) sentReply.IcmpId = o.IcmpId;
            }
            if (dnat)
            {
                sentReply.SourceIP = o.DestinationIP;
                sentReply.SourcePort = o.DestinationPort;
            }
        }
        ConntrackRequests.Tuple(b, Cta.TUPLE_REPLY, sentReply);
        var status = (e.Status & ~KernelOwnedStatus) | ConntrackStatus.Confirmed;
        b.UInt32(Cta.STATUS, (uint)status);
        b.UInt32(Cta.TIMEOUT, (uint)Math.Clamp(Math.Round(e.Timeout.TotalSeconds), 1, int.MaxValue));
        if (e.Mark != 0) b.UInt32(Cta.MARK, e.Mark);
        if (e.Zone != 0) b.UInt16(Cta.ZONE, e.Zone);
        if (dnat) Nat(b, NatDst, r.SourceIP, Protocols.HasPorts(p) ? r.SourcePort : null);
        if (snat) Nat(b, NatSrc, r.DestinationIP, Protocols.HasPorts(p) ? r.DestinationPort : icmp ? r.IcmpId : null);
        if (!snat && !dnat && (e.Status & (ConntrackStatus.SourceNatDone | ConntrackStatus.DestinationNatDone)) != 0)
        {
            // An entry that passed the NAT hooks without translation has null bindings (both *_NAT_DONE bits): ask for
            // an identity source binding, and the kernel adds the null destination binding (ctnetlink_setup_nat), so a
            // retransmitted first packet does not run the NAT rules again and pick a new mapping.
            Nat(b, NatSrc, o.SourceIP, Protocols.HasPorts(p) ? o.SourcePort : icmp ? o.IcmpId : null);
        }
        if (e.State is not null && Protocols.TryParseState(p, e.State, out byte state))
        {
            ushort kind = p switch { Protocols.Tcp => Cta.PROTOINFO_TCP, Protocols.Sctp => Cta.PROTOINFO_SCTP, _ => Cta.PROTOINFO_DCCP };
            int info = b.BeginNested(Cta.PROTOINFO);
            int inner = b.BeginNested(kind);
            b.UInt8(1, state); // CTA_PROTOINFO_{TCP,SCTP,DCCP}_STATE
            if (p == Protocols.Sctp)
            {
                // The kernel wants both verification tags with an SCTP state (EINVAL otherwise). We do not keep them:
                // 0 here, so a re-created SCTP entry has the state but not the association's tags.
                b.UInt32(2, 0); // CTA_PROTOINFO_SCTP_VTAG_ORIGINAL
                b.UInt32(3, 0); // CTA_PROTOINFO_SCTP_VTAG_REPLY
            }
            b.EndNested(inner);
            b.EndNested(info);
        }
        if (e.Labels is { Length: > 0 } labels)
        {
            // CTA_LABELS: a bitmap of 32-bit words in host order; the mask says which bits to set (all given ones).
            int words = 4;
            foreach (var bit in labels) words = Math.Max(words, bit / 32 + 1);
            var map = new byte[words * 4];
            foreach (var bit in labels)
            {
                uint word = BitConverter.ToUInt32(map, bit / 32 * 4) | (1u << (bit % 32));
                BitConverter.TryWriteBytes(map.AsSpan(bit / 32 * 4), word);
            }
            b.Bytes(Cta.LABELS, map);
            var mask = new byte[map.Length];
            Array.Fill(mask, (byte)0xff);
            b.Bytes(Cta.LABELS_MASK, mask);
        }
        return b;
    }

    // enum ctattr_nat / ctattr_protonat (linux/netfilter/nfnetlink_conntrack.h)
    private const ushort NatSrc = Cta.NAT_SRC, NatDst = Cta.NAT_DST;
    private const ushort NAT_V4_MINIP = 1, NAT_V4_MAXIP = 2, NAT_PROTO = 3, NAT_V6_MINIP = 4, NAT_V6_MAXIP = 5;
    private const ushort PROTONAT_PORT_MIN = 1, PROTONAT_PORT_MAX = 2;

    private static void Nat(MessageBuilder b, ushort type, IPAddress address, int? port)
    {
        int nat = b.BeginNested(type);
        bool v6 = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
        b.Address(v6 ? NAT_V6_MINIP : NAT_V4_MINIP, address);
        b.Address(v6 ? NAT_V6_MAXIP : NAT_V4_MAXIP, address);
        if (port is int pt)
        {
            int proto = b.BeginNested(NAT_PROTO);
            b.UInt16(PROTONAT_PORT_MIN, (ushort)pt);
            b.UInt16(PROTONAT_PORT_MAX, (ushort)pt);
            b.EndNested(proto);
        }
        b.EndNested(nat);
    }

    public void Dispose() => _conn.Dispose();
}
