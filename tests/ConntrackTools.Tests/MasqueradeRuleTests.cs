using System;
using System.Collections.Generic;
using ConntrackTools.Conntrack;
using ConntrackTools.Netlink;
using Xunit;

namespace ConntrackTools.Tests;

/// <summary>The nftables rule decoder on rules built the way the kernel reports them.</summary>
public class MasqueradeRuleTests
{
    private static byte[] Rule(byte family, string exprName, System.Action<MessageBuilder> data)
    {
        var b = new MessageBuilder(0x0a06, 0, bigEndian: true).NfGenMsg(family);
        b.String(1, "nat").String(2, "postrouting").UInt64(3, 7);
        int exprs = b.BeginNested(4);
        int elem = b.BeginNested(1);
        b.String(1, exprName);
        int d = b.BeginNested(2);
        data(b);
        b.EndNested(d);
        b.EndNested(elem);
        b.EndNested(exprs);
        return b.Build(1)[Nlmsg.HeaderLength..];
    }

    [Theory]
    [InlineData(0u, false)]
    [InlineData(MasqueradeRules.NF_NAT_RANGE_PROTO_RANDOM_FULLY, true)]
    [InlineData(4u, false)] // NF_NAT_RANGE_PROTO_RANDOM is not "fully"
    public void NftMasquerade(uint flags, bool randomFully)
    {
        var list = new List<MasqueradeRule>();
        MasqueradeRules.Decode(Rule(2, "masq", b => b.UInt32(1, flags)), list);
        var r = Assert.Single(list);
        Assert.Equal(("ip", "nat", "postrouting", 7UL, "nft masquerade", randomFully), (r.Family, r.Table, r.Chain, r.Handle, r.Kind, r.RandomFully));
    }

    [Fact]
    public void IptablesMasqueradeTarget_ReadsTheCompatRangeFlags()
    {
        // struct nf_nat_ipv4_multi_range_compat: rangesize = 1, range[0].flags = RANDOM_FULLY, then ips and ports.
        var info = new byte[4 + 20];
        System.BitConverter.TryWriteBytes(info.AsSpan(0), 1u);
        System.BitConverter.TryWriteBytes(info.AsSpan(4), MasqueradeRules.NF_NAT_RANGE_PROTO_RANDOM_FULLY);
        var list = new List<MasqueradeRule>();
        MasqueradeRules.Decode(Rule(2, "target", b => b.String(1, "MASQUERADE").UInt32(2, 0).Bytes(3, info)), list);
        Assert.True(Assert.Single(list).RandomFully);
    }

    [Fact]
    public void OtherExpressionsAreIgnored()
    {
        var list = new List<MasqueradeRule>();
        MasqueradeRules.Decode(Rule(2, "counter", b => b.UInt64(1, 5)), list);
        Assert.Empty(list);
    }
}
