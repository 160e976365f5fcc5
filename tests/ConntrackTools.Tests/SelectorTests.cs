using System;
using System.Buffers.Binary;
using System.IO;
using System.Net;
using ConntrackTools.Conntrack;
using ConntrackTools.Inet;
using ConntrackTools.Netlink;
using Xunit;

namespace ConntrackTools.Tests;

/// <summary>The selectors beyond the original tuple, the whole-tuple lookup, and the create/update encoders.</summary>
public class SelectorTests
{
    private static readonly KernelFeatures Modern = KernelFeatures.For(new Version(6, 18));

    private static ConntrackEntry Entry(string src, string dst, byte proto, int? sp, int? dp, string rsrc, string rdst, int? rsp, int? rdp) => new(
        new FlowTuple(IPAddress.Parse(src), IPAddress.Parse(dst), proto, sp, dp),
        new FlowTuple(IPAddress.Parse(rsrc), IPAddress.Parse(rdst), proto, rsp, rdp))
    {
        AddressFamily = IPFamily.IPv4,
    };

    [Fact]
    public void HostBitsAreCleared_AndTheTextKept()
    {
        var m = AddressMatch.Parse("1.1.1.4/24");
        Assert.Equal("1.1.1.0/24", m.ToString());
        Assert.Equal("1.1.1.4/24", m.HostBitsCleared);
        Assert.Null(AddressMatch.Parse("1.1.1.0/24").HostBitsCleared);
    }

    [Theory]
    [InlineData(Protocols.Icmp, 8, 0)]
    [InlineData(Protocols.Icmp, 13, 14)]
    [InlineData(Protocols.IcmpV6, 128, 129)]
    [InlineData(Protocols.Icmp, 3, 3)]
    public void Inverted_SwapsAndAnswersIcmp(byte proto, int type, int answer)
    {
        var t = new FlowTuple(IPAddress.Parse("10.0.0.1"), IPAddress.Parse("10.0.0.2"), proto, null, null) { IcmpType = type, IcmpCode = 0, IcmpId = 9 };
        var r = t.Inverted();
        Assert.Equal("10.0.0.2", r.SourceAddress);
        Assert.Equal("10.0.0.1", r.DestinationAddress);
        Assert.Equal(answer, r.IcmpType);
        Assert.Equal(9, r.IcmpId);
    }

    [Fact]
    public void TranslatedSelectors_ReadTheReplyTuple()
    {
        var masq = Entry("192.168.11.7", "10.232.3.28", Protocols.Tcp, 33862, 8899, "10.232.3.28", "192.168.11.7", 8899, 31445);
        Assert.True(new ConntrackFilter { TranslatedSourcePort = [31445] }.Matches(masq));
        Assert.False(new ConntrackFilter { TranslatedSourcePort = [33862] }.Matches(masq));
        Assert.True(new ConntrackFilter { ReplyDestinationPort = [1, 31445] }.Matches(masq));
        Assert.True(new ConntrackFilter { AnyProtocol = [Protocols.Udp, Protocols.Tcp], AnyDestinationPort = [80, 8899] }.Matches(masq));
        Assert.False(new ConntrackFilter { AnyNatType = [NatType.Destination, NatType.Both] }.Matches(masq));
    }

    [Theory]
    [InlineData("udp", null, "ESTABLISHED", null, "not a state of udp")]
    [InlineData("icmp", 80, null, null, "has no ports")]
    [InlineData("tcp", null, null, 8, "ICMP type")]
    public void Contradictions_AreNamed(string proto, int? port, string? state, int? icmpType, string words)
    {
        Assert.True(Protocols.TryParse(proto, out byte p));
        var f = new ConntrackFilter { Protocol = p, DestinationPort = port, State = state is null ? null : [state], IcmpType = icmpType is int t ? [t] : null };
        Assert.Contains(words, f.Contradiction());
    }

    [Fact]
    public void FamilyAgainstAddress_IsAContradiction()
    {
        var f = new ConntrackFilter { Family = IPFamily.IPv4, SourceAddress = AddressMatch.Parse("::1") };
        Assert.Contains("IPv6", f.Contradiction());
        Assert.Null(new ConntrackFilter { Protocol = Protocols.Tcp, State = ["SYN_SENT2"] }.Contradiction());
    }

    [Fact]
    public void WholeOriginalTuple_IsAnExactLookup_PartOfOneIsNot()
    {
        var f = new ConntrackFilter { Protocol = Protocols.Tcp, SourceAddress = AddressMatch.Parse("1.1.1.1"), DestinationAddress = AddressMatch.Parse("2.2.2.2"), SourcePort = 10, DestinationPort = 20 };
        var exact = f.ExactTuple();
        Assert.NotNull(exact);
        Assert.False(exact!.Value.Reply);
        Assert.Equal("1.1.1.1:10 -> 2.2.2.2:20", exact.Value.Tuple.ToString());
        f.DestinationPort = null;
        Assert.Null(f.ExactTuple());
        var prefix = new ConntrackFilter { Protocol = 2, SourceAddress = AddressMatch.Parse("1.1.1.0/24"), DestinationAddress = AddressMatch.Parse("2.2.2.2") };
        Assert.Null(prefix.ExactTuple());
        var igmp = new ConntrackFilter { Protocol = 2, SourceAddress = AddressMatch.Parse("0.0.0.0"), DestinationAddress = AddressMatch.Parse("224.0.0.22") };
        Assert.NotNull(igmp.ExactTuple());
    }

    [Fact]
    public void WholeReplyTuple_IsAnExactReplyLookup()
    {
        var f = new ConntrackFilter { Protocol = Protocols.Tcp, ReplySourceAddress = AddressMatch.Parse("2.2.2.2"), ReplyDestinationAddress = AddressMatch.Parse("1.1.1.1"), ReplySourcePort = [11], ReplyDestinationPort = [21] };
        var exact = f.ExactTuple();
        Assert.True(exact!.Value.Reply);
        var msg = ConntrackMessages.Get(exact.Value.Tuple, reply: true, zone: 7).Build(1);
        Assert.Equal(Cta.MessageType(Cta.IPCTNL_MSG_CT_GET), BinaryPrimitives.ReadUInt16LittleEndian(msg.AsSpan(4)));
        var ad = new AttributeDecoder(msg.AsSpan(Nlmsg.HeaderLength + 4), bigEndian: true);
        bool reply = false, zone = false;
        while (ad.Next())
        {
            if (ad.Type == Cta.TUPLE_REPLY) reply = true;
            if (ad.Type == Cta.ZONE) zone = ad.UInt16() == 7;
            Assert.NotEqual(Cta.TUPLE_ORIG, ad.Type);
        }
        Assert.True(reply && zone);
    }

    [Fact]
    public void ReplyTupleFilter_GoesToTheKernelWithReplyFlags()
    {
        var f = new ConntrackFilter { Protocol = Protocols.Tcp, ReplySourceAddress = AddressMatch.Parse("3.3.3.3"), ReplySourcePort = [80] };
        var plan = f.PlanDump(Modern);
        Assert.Contains("reply src 3.3.3.3", plan.KernelPart);
        Assert.Contains("reply sport 80", plan.KernelPart);
        uint? replyFlags = null;
        var ad = new AttributeDecoder(plan.Requests[0].Build(1).AsSpan(Nlmsg.HeaderLength + 4), bigEndian: true);
        while (ad.Next())
        {
            if (ad.Type != Cta.FILTER) continue;
            var nd = ad.Nested();
            while (nd.Next()) if (nd.Type == Cta.FILTER_REPLY_FLAGS) replyFlags = BitConverter.ToUInt32(nd.Bytes);
        }
        Assert.Equal(Cta.FILTER_FLAG_IP_SRC | Cta.FILTER_FLAG_PROTO_NUM | Cta.FILTER_FLAG_PROTO_SRC_PORT, replyFlags);
        // IPv6 reply addresses stay in user space (the kernel's IPv6 comparison is inverted on 6.18).
        var six = new ConntrackFilter { Protocol = Protocols.Tcp, ReplySourceAddress = AddressMatch.Parse("fd00::3") };
        Assert.Contains("reply src fd00::3", six.PlanDump(Modern).UserPart);
    }

    [Fact]
    public void IcmpFields_GoToTheKernelWithOneProtocol()
    {
        var f = new ConntrackFilter { Protocol = Protocols.Icmp, IcmpType = [8], IcmpId = [1226] };
        var plan = f.PlanDump(Modern);
        Assert.Contains("icmp type 8", plan.KernelPart);
        Assert.Contains("icmp id 1226", plan.KernelPart);
        var several = new ConntrackFilter { Protocol = Protocols.Icmp, IcmpType = [0, 8] };
        Assert.Contains("icmp type 0,8", several.PlanDump(Modern).UserPart);
    }

    [Fact]
    public void Update_SendsTheWholeStatusWithConfirmed_AndTheMarkUnderItsMask()
    {
        var e = Entry("1.1.1.1", "2.2.2.2", Protocols.Tcp, 10, 20, "2.2.2.2", "1.1.1.1", 20, 10);
        e.Status = ConntrackStatus.SeenReply | ConntrackStatus.Assured;
        var msg = ConntrackMessages.Update(e, new ConntrackChange { AddStatus = ConntrackStatus.FixedTimeout, Mark = 0xffffffff, MarkMask = 0xffff0000 }).Build(1);
        uint status = 0, mark = 1, mask = 0;
        var ad = new AttributeDecoder(msg.AsSpan(Nlmsg.HeaderLength + 4), bigEndian: true);
        while (ad.Next())
        {
            if (ad.Type == Cta.STATUS) status = ad.UInt32();
            if (ad.Type == Cta.MARK) mark = ad.UInt32();
            if (ad.Type == Cta.MARK_MASK) mask = ad.UInt32();
        }
        Assert.Equal((uint)(ConntrackStatus.SeenReply | ConntrackStatus.Assured | ConntrackStatus.FixedTimeout | ConntrackStatus.Confirmed), status);
        Assert.Equal(0xffff0000u, mark);
        Assert.Equal(0xffff0000u, mask);
    }

    [Fact]
    public void KernelOwnedStatus_IsNamed()
    {
        Assert.Equal(ConntrackStatus.Dying, ConntrackMessages.KernelOwned(ConntrackStatus.Dying | ConntrackStatus.Assured));
        Assert.Equal(ConntrackStatus.None, ConntrackMessages.KernelOwned(ConntrackStatus.SeenReply | ConntrackStatus.FixedTimeout | ConntrackStatus.Confirmed));
    }

    [Fact]
    public void LabelBitmap_IsHostOrderWords()
    {
        var map = ConntrackMessages.LabelBitmap([0, 33, 127]);
        Assert.Equal(16, map.Length);
        Assert.Equal(1u, BitConverter.ToUInt32(map, 0));
        Assert.Equal(2u, BitConverter.ToUInt32(map, 4));
        Assert.Equal(0x80000000u, BitConverter.ToUInt32(map, 12));
        Assert.Throws<ArgumentOutOfRangeException>(() => ConntrackMessages.LabelBitmap([128]));
    }

    [Fact]
    public void ProtocolNames_ComeFromEtcProtocols()
    {
        string f = Path.GetTempFileName();
        try
        {
            File.WriteAllText(f, "# comment\nigmp\t2\tIGMP\t\t# internet group management\nbogus x\n");
            var d = ProtocolDatabase.Load(f);
            Assert.Equal(2, d["igmp"]);
            Assert.Equal(2, d["IGMP"]);
            Assert.False(d.ContainsKey("bogus"));
        }
        finally { File.Delete(f); }
        Assert.True(Protocols.TryParse("200", out byte n) && n == 200);
        foreach (var bad in new[] { "256", "-10", "20foo", "foo20", "" }) Assert.False(Protocols.TryParse(bad, out _));
        Assert.True(Protocols.TryParseState(Protocols.Tcp, "LISTEN", out byte s) && s == 9);
    }

    [Fact]
    public void LabelNames_ComeFromAConnlabelFile()
    {
        string f = Path.GetTempFileName();
        try
        {
            File.WriteAllText(f, "0 eth0-in\n1 eth1-in\n# x\n");
            var m = ConnLabelMap.Load(f);
            Assert.Equal(1, m.Resolve("eth1-in"));
            Assert.Equal(42, m.Resolve("42"));
            Assert.Throws<FormatException>(() => m.Resolve("nope"));
            Assert.Throws<FormatException>(() => m.Resolve("128"));
        }
        finally { File.Delete(f); }
    }
}
