using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using ConntrackTools.Conntrack;
using ConntrackTools.Lab;
using ConntrackTools.Netlink;
using Xunit;

namespace ConntrackTools.Tests;

/// <summary>
/// The conntrack id (CTA_ID) is a 32-bit hash and collides; (zone, original tuple) is what the kernel keeps unique.
/// Two entries of the same id, crafted from the golden dump, must both survive the NLM_F_DUMP_INTR retry and be
/// told apart by Test-VipMigration's before/after comparison.
/// </summary>
public class EntryIdentityTests
{
    private static readonly KernelFeatures Modern = KernelFeatures.For(new Version(6, 18));

    /// <summary>A copy of a ctnetlink message whose top-level CTA_ID is <paramref name="id"/>.</summary>
    private static byte[] WithId(byte[] message, uint id)
    {
        var m = (byte[])message.Clone();
        int off = Nlmsg.HeaderLength + 4; // nlmsghdr + nfgenmsg
        int end = (int)BinaryPrimitives.ReadUInt32LittleEndian(m);
        while (off + 4 <= end)
        {
            int len = BinaryPrimitives.ReadUInt16LittleEndian(m.AsSpan(off));
            int type = BinaryPrimitives.ReadUInt16LittleEndian(m.AsSpan(off + 2)) & 0x3fff;
            if (type == Cta.ID)
            {
                BinaryPrimitives.WriteUInt32BigEndian(m.AsSpan(off + 4), id);
                return m;
            }
            off += (len + 3) & ~3;
        }
        throw new InvalidOperationException("the message has no CTA_ID");
    }

    private static uint IdOf(byte[] message) => ConntrackDecoder.Decode(message.AsSpan(Nlmsg.HeaderLength), null).Id;

    [Fact]
    public void TwoEntriesOfOneId_BothSurviveTheDumpIntrRetry()
    {
        var g = Fixture.Messages("dump-datagram");
        Assert.True(g.Count >= 6, "the golden dump needs at least six entries");
        // Entry 5 gets entry 1's id: a collision as the kernel's hash makes them.
        var table = g.ToArray();
        table[5] = WithId(g[5], IdOf(g[1]));
        Assert.Equal(IdOf(table[1]), IdOf(table[5]));
        Assert.NotEqual(ConntrackIdentity.Of(ConntrackDecoder.Decode(table[1].AsSpan(Nlmsg.HeaderLength), null)),
                        ConntrackIdentity.Of(ConntrackDecoder.Decode(table[5].AsSpan(Nlmsg.HeaderLength), null)));

        // First answer: entries 0-3 (entry 1 among them), flagged NLM_F_DUMP_INTR. Second answer: the whole table.
        var client = new ConntrackClient(() => new ScriptedTransport((req, n) => n == 0
            ? new[] { ScriptedTransport.Concat(table.Take(4).Select(m => ScriptedTransport.WithFlags(m, Nlmsg.F_DUMP_INTR)).ToArray()), ScriptedTransport.Done() }
            : new[] { ScriptedTransport.Concat(table), ScriptedTransport.Done() }), Modern);
        var got = new List<ConntrackEntry>();
        var r = client.Dump(new ConntrackFilter(), true, got.AddRange);

        Assert.Equal(1, r.Retries);
        Assert.Equal(table.Length, got.Count); // keyed on the id, entry 5 would be skipped as "already emitted"
        Assert.Equal(got.Count, got.Select(ConntrackIdentity.Of).Distinct().Count());
        Assert.Equal(2, got.Count(e => e.Id == IdOf(table[1])));
    }

    private static ConntrackEntry Masqueraded(uint id, int sport, int translatedPort, ushort zone = 0) => new(
        new FlowTuple(IPAddress.Parse("192.168.11.7"), IPAddress.Parse("10.232.3.28"), 6, sport, 8899),
        new FlowTuple(IPAddress.Parse("10.232.3.28"), IPAddress.Parse("192.168.11.7"), 6, 8899, translatedPort))
    {
        Id = id,
        Zone = zone,
        AddressFamily = IPFamily.IPv4,
    };

    [Fact]
    public void TwoEntriesOfOneId_AreJudgedApartByTestVipMigration()
    {
        var vip = IPAddress.Parse("192.168.11.100");
        var kept = Masqueraded(7, 40001, 31001);
        var lost = Masqueraded(7, 40002, 31002); // the same id, another flow
        var lost2 = Masqueraded(7, 40001, 31001, zone: 3); // the same id and tuple in another zone
        var result = VipMigrationRunner.LostEntries([kept, lost, lost2], [kept], vip);
        Assert.Equal([lost, lost2], result); // keyed on the id, neither would be missed
    }

    [Fact]
    public void SameIdentity_ButANewEntry_IsLost()
    {
        var vip = IPAddress.Parse("192.168.11.100");
        var before = Masqueraded(7, 40001, 31001);
        // The same flow picked up again: same id by chance, new translated port.
        Assert.Single(VipMigrationRunner.LostEntries([before], [Masqueraded(7, 40001, 35051)], vip));
        Assert.Empty(VipMigrationRunner.LostEntries([before], [Masqueraded(7, 40001, 31001)], vip));
    }

    [Fact]
    public void Identity_TellsApartWhatTheKernelTellsApart()
    {
        var a = new ConntrackIdentity(0, 6, IPAddress.Parse("10.0.0.1"), IPAddress.Parse("10.0.0.2"), 1, 2);
        Assert.Equal(a, new ConntrackIdentity(0, 6, IPAddress.Parse("10.0.0.1"), IPAddress.Parse("10.0.0.2"), 1, 2));
        Assert.NotEqual(a, new ConntrackIdentity(1, 6, IPAddress.Parse("10.0.0.1"), IPAddress.Parse("10.0.0.2"), 1, 2));
        Assert.NotEqual(a, new ConntrackIdentity(0, 17, IPAddress.Parse("10.0.0.1"), IPAddress.Parse("10.0.0.2"), 1, 2));
        Assert.NotEqual(a, new ConntrackIdentity(0, 6, IPAddress.Parse("10.0.0.1"), IPAddress.Parse("10.0.0.2"), 2, 1));
        Assert.NotEqual(a, new ConntrackIdentity(0, 6, IPAddress.Parse("::ffff:10.0.0.1"), IPAddress.Parse("::ffff:10.0.0.2"), 1, 2));
        var echo = new ConntrackIdentity(0, 1, IPAddress.Parse("10.0.0.1"), IPAddress.Parse("10.0.0.2"), null, null, 8, 0, 77);
        Assert.NotEqual(echo, new ConntrackIdentity(0, 1, IPAddress.Parse("10.0.0.1"), IPAddress.Parse("10.0.0.2"), null, null, 13, 0, 77));
        Assert.NotEqual(echo, new ConntrackIdentity(0, 1, IPAddress.Parse("10.0.0.1"), IPAddress.Parse("10.0.0.2"), null, null, 8, 0, 78));
    }
}
