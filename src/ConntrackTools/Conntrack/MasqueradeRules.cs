using System;
using System.Collections.Generic;
using ConntrackTools.Netlink;

namespace ConntrackTools.Conntrack;

/// <summary>One masquerade rule found in the kernel's nftables ruleset (native nft or iptables-nft).</summary>
public sealed record MasqueradeRule(string Family, string Table, string Chain, ulong Handle, string Kind, bool RandomFully)
{
    public override string ToString() =>
        $"{Family} {Table}/{Chain} handle {Handle}: {Kind}{(RandomFully ? " random-fully" : "")}";
}

/// <summary>
/// Lists masquerade rules over nftables netlink (NFT_MSG_GETRULE dump, every family) and tells whether each uses
/// fully random source ports (NF_NAT_RANGE_PROTO_RANDOM_FULLY). Sees native nft 'masquerade' expressions and
/// iptables-nft 'MASQUERADE' targets; rules of legacy iptables (x_tables without nftables) are not visible here.
/// </summary>
public static class MasqueradeRules
{
    private const byte NFNL_SUBSYS_NFTABLES = 10;
    private const byte NFT_MSG_GETRULE = 7;
    private const ushort NFTA_RULE_TABLE = 1, NFTA_RULE_CHAIN = 2, NFTA_RULE_HANDLE = 3, NFTA_RULE_EXPRESSIONS = 4;
    private const ushort NFTA_LIST_ELEM = 1;
    private const ushort NFTA_EXPR_NAME = 1, NFTA_EXPR_DATA = 2;
    private const ushort NFTA_MASQ_FLAGS = 1;
    private const ushort NFTA_TARGET_NAME = 1, NFTA_TARGET_INFO = 3;
    public const uint NF_NAT_RANGE_PROTO_RANDOM_FULLY = 1 << 4;

    /// <summary>Dumps every rule of every family and returns the masquerade ones.</summary>
    public static List<MasqueradeRule> List(NetlinkConnection conn)
    {
        var rules = new List<MasqueradeRule>();
        var request = new MessageBuilder((ushort)((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETRULE), 0, bigEndian: true).NfGenMsg(0);
        conn.Dump(request, "nftables rule dump", (in NetlinkMessage m) => Decode(m.Payload, rules));
        return rules;
    }

    /// <summary>Adds the masquerade rules found in one NFT_MSG_NEWRULE message.</summary>
    internal static void Decode(ReadOnlySpan<byte> payload, List<MasqueradeRule> into)
    {
        if (payload.Length < 4) throw new NetlinkDecodeException("nftables rule without nfgenmsg");
        string family = payload[0] switch { 1 => "inet", 2 => "ip", 3 => "arp", 5 => "netdev", 7 => "bridge", 10 => "ip6", var f => f.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        string table = "", chain = "";
        ulong handle = 0;
        var found = new List<(string Kind, bool RandomFully)>();
        var ad = new AttributeDecoder(payload[4..], bigEndian: true);
        while (ad.Next())
        {
            switch (ad.Type)
            {
                case NFTA_RULE_TABLE: table = ad.String(); break;
                case NFTA_RULE_CHAIN: chain = ad.String(); break;
                case NFTA_RULE_HANDLE: handle = ad.UInt64(); break;
                case NFTA_RULE_EXPRESSIONS:
                    {
                        var list = ad.Nested();
                        while (list.Next())
                        {
                            if (list.Type != NFTA_LIST_ELEM) continue;
                            var expr = list.Nested();
                            var hit = DecodeExpression(ref expr, payload[0]);
                            list.Absorb(expr, "expression");
                            if (hit is not null) found.Add(hit.Value);
                        }
                        ad.Absorb(list, "NFTA_RULE_EXPRESSIONS");
                        break;
                    }
            }
        }
        if (ad.Error is not null) throw new NetlinkDecodeException("nftables rule: " + ad.Error);
        foreach (var (kind, random) in found) into.Add(new MasqueradeRule(family, table, chain, handle, kind, random));
    }

    private static (string, bool)? DecodeExpression(ref AttributeDecoder expr, byte family)
    {
        string name = "";
        byte[]? data = null;
        while (expr.Next())
        {
            if (expr.Type == NFTA_EXPR_NAME) name = expr.String();
            else if (expr.Type == NFTA_EXPR_DATA) data = expr.Bytes.ToArray();
        }
        if (data is null) return null;
        var d = new AttributeDecoder(data, bigEndian: true);
        if (name == "masq")
        {
            uint flags = 0;
            while (d.Next()) if (d.Type == NFTA_MASQ_FLAGS) flags = d.UInt32();
            expr.Absorb(d, "masq");
            return ("nft masquerade", (flags & NF_NAT_RANGE_PROTO_RANDOM_FULLY) != 0);
        }
        if (name == "target")
        {
            string target = "";
            byte[]? info = null;
            while (d.Next())
            {
                if (d.Type == NFTA_TARGET_NAME) target = d.String();
                else if (d.Type == NFTA_TARGET_INFO) info = d.Bytes.ToArray();
            }
            expr.Absorb(d, "target");
            if (target != "MASQUERADE" || info is null) return null;
            // IPv4: struct nf_nat_ipv4_multi_range_compat { u32 rangesize; { u32 flags; ... } range[1]; }
            // IPv6: struct nf_nat_range { u32 flags; ... }. Both in host byte order.
            int offset = family == 10 ? 0 : 4;
            uint flags = info.Length >= offset + 4 ? BitConverter.ToUInt32(info, offset) : 0;
            return ("iptables MASQUERADE", (flags & NF_NAT_RANGE_PROTO_RANDOM_FULLY) != 0);
        }
        return null;
    }
}
