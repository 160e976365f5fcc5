using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using ConntrackTools.Inet;
using ConntrackTools.Conntrack;
using ConntrackTools.Namespaces;
using ConntrackTools.Netlink;

namespace ConntrackTools.Health;

/// <summary>The answer of a kernel probe: Fixed (behaves correctly), Affected (shows the defect), or not decided.</summary>
public enum ProbeVerdict : long
{
    NotRun = 0,
    Fixed = 1,
    Affected = 2,
    Inconclusive = 3,
}

/// <summary>What a probe found, in words.</summary>
public sealed record ProbeResult(ProbeVerdict Verdict, string Evidence);

/// <summary>
/// Does ctnetlink's CTA_FILTER compare IPv6 addresses the right way round? In a private network namespace (no real
/// table is touched) two IPv6 entries are created, from fd00::1 and from fd00::2, and a dump filtered in the kernel
/// on source fd00::1 is requested. A correct kernel returns the fd00::1 entry; the defect seen on 6.18
/// (ipv6_addr_cmp() used as if it returned true on equality in ctnetlink_filter_match_tuple) returns the other one.
/// </summary>
public static class CtaFilterIPv6Probe
{
    private static readonly IPAddress A = IPAddress.Parse("fd00::1"), B = IPAddress.Parse("fd00::2"), Server = IPAddress.Parse("fd00::9");

    public static ProbeResult Run() => PrivateNetworkNamespace.Run(() =>
    {
        var client = new ConntrackClient(ns: null);   // this thread's (private) namespace
        foreach (var src in new[] { A, B })
        {
            var t = new FlowTuple(src, Server, Protocols.Udp, 40000, 53);
            var r = new FlowTuple(Server, src, Protocols.Udp, 53, 40000);
            client.Create(new ConntrackEntry(t, r) { AddressFamily = IPFamily.IPv6, Timeout = TimeSpan.FromSeconds(60) });
        }
        var b = new MessageBuilder(Cta.MessageType(Cta.IPCTNL_MSG_CT_GET), 0, bigEndian: true).NfGenMsg((byte)IPFamily.IPv6);
        int tuple = b.BeginNested(Cta.TUPLE_ORIG);
        int ip = b.BeginNested(Cta.TUPLE_IP);
        b.Address(Cta.IP_V6_SRC, A);
        b.EndNested(ip);
        int proto = b.BeginNested(Cta.TUPLE_PROTO);
        b.UInt8(Cta.PROTO_NUM, Protocols.Udp);
        b.EndNested(proto);
        b.EndNested(tuple);
        int filter = b.BeginNested(Cta.FILTER);
        b.Bytes(Cta.FILTER_ORIG_FLAGS, BitConverter.GetBytes(Cta.FILTER_FLAG_IP_SRC | Cta.FILTER_FLAG_PROTO_NUM));
        b.Bytes(Cta.FILTER_REPLY_FLAGS, BitConverter.GetBytes(0u));
        b.EndNested(filter);
        var got = new List<IPAddress>();
        try
        {
            using var conn = client.Connect();
            conn.Dump(b, "conntrack filtered dump (probe)", (in NetlinkMessage m) => got.Add(ConntrackDecoder.Decode(m.Payload, null).Original.SourceIP));
        }
        catch (NetlinkException e) when (e.Errno is Errno.EOPNOTSUPP or Errno.EINVAL)
        {
            return new ProbeResult(ProbeVerdict.Inconclusive, $"the kernel refused CTA_FILTER ({e.ErrnoName}): no kernel-side tuple filter to probe");
        }
        string seen = got.Count == 0 ? "nothing" : string.Join(", ", got);
        if (got.Count == 1 && got[0].Equals(A))
            return new ProbeResult(ProbeVerdict.Fixed, $"asked for source {A}: the kernel returned {seen} (correct)");
        if (got.Count >= 1 && got.All(g => !g.Equals(A)) && got.Contains(B))
            return new ProbeResult(ProbeVerdict.Affected, $"asked for source {A}: the kernel returned {seen}, every entry except the one asked for (inverted comparison)");
        return new ProbeResult(ProbeVerdict.Inconclusive, $"asked for source {A}: the kernel returned {seen}");
    });
}
