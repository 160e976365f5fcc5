using System;
using System.Linq;
using ConntrackTools.Conntrack;
using ConntrackTools.Netlink;
using Xunit;

namespace ConntrackTools.Tests;

/// <summary>Damaged input raises our decode error and nothing else.</summary>
public class MalformedInputTests
{
    private static byte[] Payload(string fixture) => Fixture.Messages(fixture)[0].AsSpan(Nlmsg.HeaderLength).ToArray();

    [Fact]
    public void TruncatedPayload_IsDecodeError()
    {
        var p = Payload("tcp-masquerade");
        // Cut inside CTA_TUPLE_ORIG: the nested length now runs past the end.
        Assert.Throws<NetlinkDecodeException>(() => ConntrackDecoder.Decode(p.AsSpan(0, 30)));
    }

    [Fact]
    public void PayloadWithoutNfgenmsg_IsDecodeError()
    {
        Assert.Throws<NetlinkDecodeException>(() => ConntrackDecoder.Decode(new byte[] { 2, 0 }));
    }

    [Fact]
    public void AttributeLengthBelowHeader_IsDecodeError()
    {
        var p = Payload("udp");
        p[4] = 2; // first attribute's nla_len = 2 (< 4)
        p[5] = 0;
        Assert.Throws<NetlinkDecodeException>(() => ConntrackDecoder.Decode(p));
    }

    [Fact]
    public void WrongSizedAddress_IsDecodeError()
    {
        // nfgenmsg + CTA_TUPLE_ORIG { CTA_TUPLE_IP { CTA_IP_V4_SRC with 3 bytes } }
        var b = new MessageBuilder(0x100, 0, true).NfGenMsg(2);
        int t = b.BeginNested(1);
        int ip = b.BeginNested(1);
        b.Bytes(1, new byte[] { 10, 0, 0 });
        b.EndNested(ip);
        b.EndNested(t);
        var msg = b.Build(1);
        var ex = Assert.Throws<NetlinkDecodeException>(() => ConntrackDecoder.Decode(msg.AsSpan(Nlmsg.HeaderLength)));
        Assert.Contains("CTA_TUPLE", ex.Message);
    }

    [Fact]
    public void MissingOriginalTuple_IsDecodeError()
    {
        var msg = new MessageBuilder(0x100, 0, true).NfGenMsg(2).UInt32(Cta.STATUS, 8).Build(1);
        Assert.Throws<NetlinkDecodeException>(() => ConntrackDecoder.Decode(msg.AsSpan(Nlmsg.HeaderLength)));
    }

    [Fact]
    public void UnknownFamily_IsDecodeError()
    {
        var p = Payload("udp");
        p[0] = 7;
        Assert.Throws<NetlinkDecodeException>(() => ConntrackDecoder.Decode(p));
    }

    [Fact]
    public void MessageLongerThanDatagram_IsDecodeError()
    {
        var m = Fixture.Messages("udp")[0];
        Assert.Throws<NetlinkDecodeException>(() =>
        {
            var r = new NetlinkMessageReader(m.AsSpan(0, m.Length - 8));
            while (r.Next()) { }
        });
    }

    [Fact]
    public void DecoderErrorsStick_AndStopTheScan()
    {
        var data = new byte[] { 8, 0, 1, 0, 1, 2, 3, 4, 200, 0, 2, 0, 9, 9, 9, 9 };
        var ad = new AttributeDecoder(data, bigEndian: true);
        Assert.True(ad.Next());
        Assert.Equal(0x01020304u, ad.UInt32());
        Assert.False(ad.Next());                // length 200 > remaining
        Assert.NotNull(ad.Error);
        Assert.False(ad.Next());                // and it stays stopped
        var first = ad.Error;
        ad.Fail("second");
        Assert.Equal(first, ad.Error);          // the first error wins
    }

    [Fact]
    public void WrongSizedInteger_SetsErrorAndReturnsZero()
    {
        var data = new byte[] { 6, 0, 1, 0, 1, 2, 0, 0 };
        var ad = new AttributeDecoder(data, bigEndian: true);
        Assert.True(ad.Next());
        Assert.Equal(0u, ad.UInt32());
        Assert.NotNull(ad.Error);
    }

    [Fact]
    public void LittleAndBigEndian()
    {
        var data = new byte[] { 8, 0, 1, 0, 0, 0, 1, 0 };
        var be = new AttributeDecoder(data, bigEndian: true);
        be.Next();
        Assert.Equal(256u, be.UInt32());
        var le = new AttributeDecoder(data, bigEndian: false);
        le.Next();
        Assert.Equal(65536u, le.UInt32());
    }

    /// <summary>
    /// Mutation fuzzing over every recorded message: flip, cut and overwrite bytes; the decoder either returns an
    /// entry or raises NetlinkDecodeException, never anything else (seeded, so a failure reproduces).
    /// </summary>
    [Fact]
    public void RandomDamage_OnlyEverRaisesDecodeError()
    {
        var corpus = Fixture.Messages("dump-datagram").Select(m => m.AsSpan(Nlmsg.HeaderLength).ToArray()).ToArray();
        var rng = new Random(20261125);
        int decoded = 0, rejected = 0;
        for (int i = 0; i < 20000; i++)
        {
            var p = (byte[])corpus[rng.Next(corpus.Length)].Clone();
            int kind = rng.Next(3);
            if (kind == 0) p[rng.Next(p.Length)] ^= (byte)(1 << rng.Next(8));
            else if (kind == 1) p = p.AsSpan(0, rng.Next(p.Length)).ToArray();
            else p[rng.Next(p.Length)] = (byte)rng.Next(256);
            try
            {
                ConntrackDecoder.Decode(p);
                decoded++;
            }
            catch (NetlinkDecodeException)
            {
                rejected++;
            }
        }
        Assert.True(decoded > 0 && rejected > 0, $"decoded {decoded}, rejected {rejected}");
    }
}
