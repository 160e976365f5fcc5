using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using ConntrackTools.Inet;
using ConntrackTools.Netlink;

namespace ConntrackTools.Conntrack;

/// <summary>ctnetlink expect subsystem constants (linux/netfilter/nfnetlink_conntrack.h).</summary>
internal static class CtaExpect
{
    public const byte NFNL_SUBSYS_CTNETLINK_EXP = 2;
    public const byte IPCTNL_MSG_EXP_NEW = 0;
    public const byte IPCTNL_MSG_EXP_GET = 1;
    public const byte IPCTNL_MSG_EXP_DELETE = 2;

    public static ushort MessageType(byte msg) => (ushort)((NFNL_SUBSYS_CTNETLINK_EXP << 8) | msg);

    // enum ctattr_expect
    public const ushort MASTER = 1;     // CTA_EXPECT_MASTER
    public const ushort TUPLE = 2;      // CTA_EXPECT_TUPLE
    public const ushort MASK = 3;       // CTA_EXPECT_MASK
    public const ushort TIMEOUT = 4;    // CTA_EXPECT_TIMEOUT
    public const ushort ID = 5;         // CTA_EXPECT_ID
    public const ushort HELP_NAME = 6;  // CTA_EXPECT_HELP_NAME
    public const ushort ZONE = 7;       // CTA_EXPECT_ZONE
    public const ushort FLAGS = 8;      // CTA_EXPECT_FLAGS
    public const ushort CLASS = 9;      // CTA_EXPECT_CLASS
    public const ushort NAT = 10;       // CTA_EXPECT_NAT
    public const ushort FN = 11;        // CTA_EXPECT_FN
}

/// <summary>
/// The expectation table over ctnetlink (NFNL_SUBSYS_CTNETLINK_EXP): dump, create, delete, in the client's
/// namespace. Raises engine exceptions only.
/// </summary>
public sealed class ExpectationClient
{
    private readonly ConntrackClient _client;

    public ExpectationClient(ConntrackClient client) => _client = client;

    private string? NamespaceSpec => _client.Namespace?.Spec;

    /// <summary>Every expectation of the namespace (both families).</summary>
    public List<ConntrackExpectation> Dump(CancellationToken cancel = default)
    {
        var list = new List<ConntrackExpectation>();
        string? ns = NamespaceSpec;
        using var conn = _client.Connect();
        var b = new MessageBuilder(CtaExpect.MessageType(CtaExpect.IPCTNL_MSG_EXP_GET), 0, bigEndian: true).NfGenMsg(0);
        conn.Dump(b, "conntrack expectation dump", (in NetlinkMessage m) => list.Add(Decode(m.Payload, ns)), cancel);
        return list;
    }

    /// <summary>Creates an expectation (IPCTNL_MSG_EXP_NEW with NLM_F_CREATE|NLM_F_EXCL).</summary>
    public void Create(ConntrackExpectation e)
    {
        using var conn = _client.Connect();
        try
        {
            conn.Execute(CreateRequest(e), "conntrack expectation create");
        }
        catch (NetlinkException ne) when (ne.Errno == Errno.ENOENT && ne.ExtendedAck is null)
        {
            throw new NetlinkException(ne.Errno, "conntrack expectation create",
                $"no master connection {e.Master.Protocol} {e.Master} in zone {e.Zone}");
        }
        catch (NetlinkException ne) when (ne.Errno == Errno.EOPNOTSUPP && ne.ExtendedAck is null)
        {
            // ctnetlink refuses both with EOPNOTSUPP: the master lacks the helper extension, or the named helper does not exist.
            throw new NetlinkException(Errno.EINVAL, "conntrack expectation create", e.Helper is null
                ? $"the master connection {e.Master.Protocol} {e.Master} has no helper (the kernel only relates expectations to a connection that has one, e.g. assigned by an nft 'ct helper' rule)"
                : $"the master connection {e.Master.Protocol} {e.Master} has no helper, or the kernel has no {e.Expected.Protocol} helper named '{e.Helper}'");
        }
    }

    /// <summary>Deletes one expectation by its tuple, zone and id. Returns false when it was already gone.</summary>
    public bool Delete(ConntrackExpectation e)
    {
        var b = new MessageBuilder(CtaExpect.MessageType(CtaExpect.IPCTNL_MSG_EXP_DELETE), 0, bigEndian: true).NfGenMsg(FamilyOf(e.Expected));
        ConntrackRequests.Tuple(b, CtaExpect.TUPLE, e.Expected);
        if (e.Zone != 0) b.UInt16(CtaExpect.ZONE, e.Zone);
        if (e.Id != 0) b.UInt32(CtaExpect.ID, e.Id);
        using var conn = _client.Connect();
        try
        {
            conn.Execute(b, "conntrack expectation delete");
            return true;
        }
        catch (NetlinkException ne) when (ne.Errno == Errno.ENOENT)
        {
            return false;
        }
    }

    /// <summary>Deletes every expectation of a helper (CTA_EXPECT_HELP_NAME without a tuple), or all of them.</summary>
    public void DeleteAll(string? helper)
    {
        var b = new MessageBuilder(CtaExpect.MessageType(CtaExpect.IPCTNL_MSG_EXP_DELETE), 0, bigEndian: true).NfGenMsg(0);
        if (helper is not null) b.String(CtaExpect.HELP_NAME, helper);
        using var conn = _client.Connect();
        conn.Execute(b, helper is null ? "conntrack expectation flush" : $"conntrack expectation delete (helper {helper})");
    }

    /// <summary>IPCTNL_MSG_EXP_NEW: master, tuple and mask, timeout, and what else is set.</summary>
    public static MessageBuilder CreateRequest(ConntrackExpectation e)
    {
        var b = new MessageBuilder(CtaExpect.MessageType(CtaExpect.IPCTNL_MSG_EXP_NEW), Nlmsg.F_CREATE | Nlmsg.F_EXCL, bigEndian: true)
            .NfGenMsg(FamilyOf(e.Expected));
        ConntrackRequests.Tuple(b, CtaExpect.MASTER, e.Master);
        ConntrackRequests.Tuple(b, CtaExpect.TUPLE, e.Expected);
        ConntrackRequests.Tuple(b, CtaExpect.MASK, e.Mask);
        b.UInt32(CtaExpect.TIMEOUT, (uint)Math.Clamp(Math.Round(e.Timeout.TotalSeconds), 1, int.MaxValue));
        if (e.Zone != 0) b.UInt16(CtaExpect.ZONE, e.Zone);
        if (e.Helper is not null) b.String(CtaExpect.HELP_NAME, e.Helper);
        if (e.Flags != ConntrackExpectationFlags.None) b.UInt32(CtaExpect.FLAGS, (uint)e.Flags);
        if (e.Class != 0) b.UInt32(CtaExpect.CLASS, e.Class);
        return b;
    }

    private static byte FamilyOf(FlowTuple t) => t.SourceIP.AddressFamily == AddressFamily.InterNetworkV6 ? (byte)10 : (byte)2;

    /// <summary>Decodes one IPCTNL_MSG_EXP_NEW message (dump or event) after the nlmsghdr. Malformed input raises NetlinkDecodeException.</summary>
    public static ConntrackExpectation Decode(ReadOnlySpan<byte> payload, string? networkNamespace = null)
    {
        if (payload.Length < ConntrackDecoder.NfGenMsgLength)
            throw new NetlinkDecodeException($"expectation message of {payload.Length} bytes has no nfgenmsg");
        byte family = payload[0];
        var x = new ConntrackExpectation
        {
            AddressFamily = family switch
            {
                2 => IPFamily.IPv4,
                10 => IPFamily.IPv6,
                _ => throw new NetlinkDecodeException($"expectation with address family {family}"),
            },
            NetworkNamespace = networkNamespace,
        };
        var ad = new AttributeDecoder(payload[ConntrackDecoder.NfGenMsgLength..], bigEndian: true);
        bool master = false, tuple = false, mask = false;
        while (ad.Next())
        {
            switch (ad.Type)
            {
                case CtaExpect.MASTER:
                    {
                        var nd = ad.Nested();
                        x.Master = ConntrackDecoder.DecodeTuple(ref nd);
                        ad.Absorb(nd, "CTA_EXPECT_MASTER");
                        master = true;
                        break;
                    }
                case CtaExpect.TUPLE:
                    {
                        var nd = ad.Nested();
                        x.Expected = ConntrackDecoder.DecodeTuple(ref nd);
                        ad.Absorb(nd, "CTA_EXPECT_TUPLE");
                        tuple = true;
                        break;
                    }
                case CtaExpect.MASK:
                    {
                        var nd = ad.Nested();
                        x.Mask = ConntrackDecoder.DecodeTuple(ref nd);
                        ad.Absorb(nd, "CTA_EXPECT_MASK");
                        mask = true;
                        break;
                    }
                case CtaExpect.TIMEOUT: x.Timeout = TimeSpan.FromSeconds(ad.UInt32()); break;
                case CtaExpect.ID: x.Id = ad.UInt32(); break;
                case CtaExpect.HELP_NAME: x.Helper = ad.String(); break;
                case CtaExpect.ZONE: x.Zone = ad.UInt16(); break;
                case CtaExpect.FLAGS: x.Flags = (ConntrackExpectationFlags)ad.UInt32(); break;
                case CtaExpect.CLASS: x.Class = ad.UInt32(); break;
                case CtaExpect.FN: x.Function = ad.String(); break;
                default: break; // CTA_EXPECT_NAT: not surfaced
            }
        }
        if (ad.Error is not null) throw new NetlinkDecodeException("expectation: " + ad.Error);
        if (!master || !tuple || !mask) throw new NetlinkDecodeException("expectation without master, tuple or mask");
        if (x.Helper is { Length: 0 }) x.Helper = null;
        return x;
    }
}
