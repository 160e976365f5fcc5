using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Net;
using System.Security.Cryptography;
using ConntrackTools.Capture;
using ConntrackTools.Conntrack;
using ConntrackTools.Inet;
using ConntrackTools.Netlink;
using ConntrackTools.Routing;
using CsCheck;
using PacketDotNet;
using Xunit;
using static ConntrackTools.Tests.Frames;

namespace ConntrackTools.Tests;

/// <summary>
/// Property-based tests (CsCheck) for every decoder: inputs built from the golden fixtures and then damaged (bit flips,
/// byte overwrites, truncation, attribute and message lengths that lie, deep nesting, huge attribute counts) give our
/// decode exception (NetlinkDecodeException) or a clean result, never another exception, a hang, or an allocation
/// proportional to a lying length. The packet adapter's contract is stricter: it never throws at all. And whatever we
/// encode decodes to the same value.
/// </summary>
/// <remarks>
/// A bounded run is part of every test run (<see cref="Iterations"/> per property, one thread). For long runs,
/// <c>build.ps1 -Task Fuzz -Minutes N</c> sets CTT_FUZZ_SECONDS, and each property then runs for that many seconds on
/// every core. An input that breaks a property is written to Fixtures/fuzz/ (see <see cref="Keep"/>) and replayed by
/// <see cref="KeptInputs_StillHoldTheirProperty"/> from then on.
/// </remarks>
public class DecoderPropertyTests
{
    /// <summary>Per property in a normal test run; the generators of deep and wide inputs (up to 16,000 levels or attributes) get fewer.</summary>
    private const long Iterations = 3000;

    private static readonly int? FuzzSeconds =
        int.TryParse(Environment.GetEnvironmentVariable("CTT_FUZZ_SECONDS"), NumberStyles.None, CultureInfo.InvariantCulture, out var s) && s > 0 ? s : null;

    /// <summary>Runs a property: bounded here, for a time in fuzz mode.</summary>
    private static void Check<T>(Gen<T> gen, Action<T> property, long iterations = Iterations) =>
        gen.Sample(property, iter: FuzzSeconds is null ? iterations : -1, time: FuzzSeconds ?? -1, threads: FuzzSeconds is null ? 1 : -1);

    // ---- corpora: the golden fixtures, by decoder ----

    private static readonly string[] EntryFixtures =
        ["tcp-masquerade", "udp", "tcp-ipv6", "icmp", "icmpv6", "zone-mark", "labels", "sctp"];

    private static readonly byte[][] EntryPayloads = EntryFixtures.Select(f => Fixture.Messages(f)[0])
        .Concat(Fixture.Messages("dump-datagram")).Select(m => m[Nlmsg.HeaderLength..]).ToArray();

    private static readonly byte[][] EventMessages =
        new[] { "event-new", "event-update", "event-destroy", "event-new-icmp", "event-new-udp6-zone" }.Select(f => Fixture.Messages(f)[0]).ToArray();

    private static readonly byte[][] AddressMessages =
        new[] { "addr-new-ipv4", "addr-new-ipv6", "addr-del-ipv4", "addr-del-ipv6" }.Select(f => Fixture.Messages(f)[0]).ToArray();

    private static readonly byte[][] LinkMessages = [Fixture.Messages("link-new")[0]];

    private static readonly byte[][] Datagrams = Directory.EnumerateFiles(Fixture.Dir, "*.hex")
        .Select(f => Fixture.Bytes(Path.GetFileNameWithoutExtension(f))).ToArray();

    /// <summary>NFT_MSG_NEWRULE payloads as the kernel sends them: a native masquerade, an iptables-nft MASQUERADE target, a counter.</summary>
    private static readonly byte[][] RulePayloads =
    [
        Rule(2, "masq", b => b.UInt32(1, MasqueradeRules.NF_NAT_RANGE_PROTO_RANDOM_FULLY)),
        Rule(10, "target", b => b.String(1, "MASQUERADE").UInt32(2, 0).Bytes(3, new byte[40])),
        Rule(1, "counter", b => b.UInt64(1, 5).UInt64(2, 300)),
    ];

    private static byte[] Rule(byte family, string expression, Action<MessageBuilder> data)
    {
        var b = new MessageBuilder(0x0a06, 0, bigEndian: true).NfGenMsg(family);
        b.String(1, "nat").String(2, "postrouting").UInt64(3, 4);
        int list = b.BeginNested(4);
        int elem = b.BeginNested(1);
        b.String(1, expression);
        int d = b.BeginNested(2);
        data(b);
        b.EndNested(d);
        b.EndNested(elem);
        b.EndNested(list);
        return b.Build(1)[Nlmsg.HeaderLength..];
    }

    /// <summary>IPCTNL_MSG_CT_GET_STATS_CPU payload: one CPU's counters.</summary>
    private static readonly byte[][] StatsPayloads =
    [
        new MessageBuilder(0x0104, 0, bigEndian: true).NfGenMsg(0, resId: 1)
            .UInt32(Cta.STATS_FOUND, 3).UInt32(Cta.STATS_INVALID, 1).UInt32(Cta.STATS_INSERT_FAILED, 2).UInt32(Cta.STATS_DROP, 4)
            .UInt32(Cta.STATS_EARLY_DROP, 5).UInt32(Cta.STATS_ERROR, 6).UInt32(Cta.STATS_SEARCH_RESTART, 7).Build(1)[Nlmsg.HeaderLength..],
    ];

    private static readonly (LinkLayers Link, byte[] Frame)[] Frames =
    [
        (LinkLayers.Ethernet, Ethernet(EtherIPv4, IPv4("192.168.11.7", "10.232.3.28", ProtoTcp, Tcp(33862, 8899, 1_000_000, 0, TcpFlags.Syn, 64240, windowScale: 7)))),
        (LinkLayers.Ethernet, Ethernet(EtherIPv6, IPv6("fd00::1", "fd00::2", ProtoTcp, Tcp(1, 2, 3, 4, TcpFlags.Ack | TcpFlags.Psh, 500, payload: 20), extensionHeaders: [ProtoTcp, 0, 1, 4, 0, 0, 0, 0]))),
        (LinkLayers.Ethernet, EthernetVlan(7, EtherIPv4, IPv4("10.0.0.1", "10.0.0.2", ProtoUdp, Udp(53, 5353, 12)))),
        (LinkLayers.LinuxSll, LinuxSll(EtherIPv4, IPv4("10.0.0.1", "10.0.0.2", ProtoIcmp, [8, 0, 0, 0, 0, 1, 0, 1]))),
        (LinkLayers.LinuxSll2, LinuxSll2(EtherIPv6, 3, IPv6("fd00::1", "fd00::2", ProtoIcmpV6, [128, 0, 0, 0, 0, 1, 0, 1]))),
        (LinkLayers.Raw, IPv4("10.0.0.1", "10.0.0.2", ProtoTcp, Tcp(80, 40000, 9, 9, TcpFlags.Rst, 0))),
    ];

    // ---- damage ----

    /// <summary>One way to damage an input. Positions and values are reduced modulo the input when applied.</summary>
    public readonly record struct Damage(int Kind, int Position, int Value);

    private static readonly Gen<Damage> OneDamage = Gen.Select(Gen.Int[0, 5], Gen.Int[0, int.MaxValue], Gen.Int, (k, p, v) => new Damage(k, p, v));

    private static readonly ushort[] LyingLengths = [0, 1, 2, 3, 4, 5, 7, 8, 0x7fff, 0x8000, 0xfffc, 0xffff];

    /// <summary>Applies the damage: flip a bit, overwrite a byte, truncate, make a 16-bit length (attribute) or 32-bit length (message) lie.</summary>
    public static byte[] Apply(byte[] input, IEnumerable<Damage> damage)
    {
        var b = (byte[])input.Clone();
        foreach (var d in damage)
        {
            if (b.Length == 0) break;
            int at = d.Position % b.Length;
            switch (d.Kind)
            {
                case 0: b[at] ^= (byte)(1 << (d.Value & 7)); break;
                case 1: b[at] = (byte)d.Value; break;
                case 2: b = b[..at]; break;
                case 3:
                case 4:
                    // A length field sits at a 4-byte boundary (nlattr and nlmsghdr both start with their length).
                    at &= ~3;
                    if (at + 2 > b.Length) break;
                    ushort lie = d.Kind == 3 ? LyingLengths[(d.Value & int.MaxValue) % LyingLengths.Length] : (ushort)d.Value;
                    b[at] = (byte)lie;
                    b[at + 1] = (byte)(lie >> 8);
                    break;
                default:
                    if (at + 4 > b.Length) break;
                    BitConverter.TryWriteBytes(b.AsSpan(at & ~3), d.Value); // a 32-bit message length (or any word) that lies
                    break;
            }
        }
        return b;
    }

    private static Gen<byte[]> Damaged(byte[][] corpus) =>
        Gen.Select(Gen.Int[0, corpus.Length - 1], OneDamage.Array[1, 6], (i, d) => Apply(corpus[i], d));

    /// <summary>
    /// Attribute trees the generator builds from scratch: nested chains up to thousands deep (each level 4 bytes; nla_len
    /// caps the depth near 16,000) and long runs of one attribute (huge counts), with types the decoders look for.
    /// </summary>
    private static readonly Gen<byte[]> DeepOrWide = Gen.Select(Gen.Bool, Gen.Int[1, 16000], Gen.Int[1, 16], Gen.Byte.Array[0, 24],
        (deep, n, type, leaf) =>
        {
            var b = new MessageBuilder(0x0100, 0, bigEndian: true).NfGenMsg(2);
            if (deep)
            {
                var starts = new Stack<int>();
                for (int i = 0; i < n; i++) starts.Push(b.BeginNested((ushort)(i % 2 == 0 ? type : 1)));
                b.Bytes((ushort)type, leaf);
                while (starts.Count > 0) b.EndNested(starts.Pop());
            }
            else
            {
                for (int i = 0; i < n; i++) b.Bytes((ushort)type, leaf);
            }
            return b.Build(1)[Nlmsg.HeaderLength..];
        });

    // ---- the property every netlink decoder shares ----

    /// <summary>Our decode exception or a result; no other exception, and no allocation a lying length could inflate.</summary>
    private static void DecodesOrRejects(string decoder, byte[] input, Action<byte[]> decode)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            decode(input);
        }
        catch (NetlinkDecodeException)
        {
        }
        catch (Exception e)
        {
            Keep(decoder, input);
            throw new Xunit.Sdk.XunitException($"{decoder} threw {e.GetType().Name} instead of NetlinkDecodeException on {Convert.ToHexString(input)}: {e}");
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        // Decoded objects cost a few KiB per entry; a length that lies must not buy more than the input itself justifies.
        long limit = 256 * 1024 + 64L * input.Length;
        if (allocated > limit)
        {
            Keep(decoder, input);
            throw new Xunit.Sdk.XunitException($"{decoder} allocated {allocated} bytes for a {input.Length}-byte input (limit {limit}).");
        }
    }

    private static readonly Dictionary<string, Action<byte[]>> Decoders = new()
    {
        ["message"] = d => { var r = new NetlinkMessageReader(d); while (r.Next()) { } },
        ["attributes"] = d => Walk(new AttributeDecoder(d, bigEndian: true), 0),
        ["entry"] = d => ConntrackDecoder.Decode(d),
        ["event"] = d => { var r = new NetlinkMessageReader(d); while (r.Next()) ConntrackEventDecoder.Decode(r.Current, DateTime.Now); },
        ["address"] = d => { var r = new NetlinkMessageReader(d); while (r.Next()) AddressDecoder.Decode(r.Current); },
        ["link"] = d => { var t = new InterfaceNameTable(); var r = new NetlinkMessageReader(d); while (r.Next()) t.Learn(r.Current); },
        ["rule"] = d => MasqueradeRules.Decode(d, new List<MasqueradeRule>()),
        ["stats"] = d => ConntrackClient.DecodeCpuStats(d),
        ["fixture"] = RouteByType,
    };

    /// <summary>Each message of a datagram to the decoder its type calls for: ctnetlink entries, rtnetlink addresses and links.</summary>
    private static void RouteByType(byte[] datagram)
    {
        var names = new InterfaceNameTable();
        var r = new NetlinkMessageReader(datagram);
        while (r.Next())
        {
            var m = r.Current;
            if ((m.Type & 0xff00) == 0x0100) { ConntrackEventDecoder.Decode(m, DateTime.Now); ConntrackDecoder.Decode(m.Payload); }
            else if (AddressDecoder.IsAddressMessage(m.Type)) AddressDecoder.Decode(m);
            else if (InterfaceNameTable.IsLinkMessage(m.Type)) names.Learn(m);
        }
    }

    /// <summary>Issue 9's corruption test: every golden fixture, damaged, through the decoder of each of its messages.</summary>
    [Fact]
    public void EveryGoldenFixture_DamagedThroughItsDecoders()
    {
        Assert.True(Datagrams.Length >= 15, $"only {Datagrams.Length} fixtures found in {Fixture.Dir}");
        foreach (var d in Datagrams) DecodesOrRejects("fixture", d, RouteByType); // undamaged, each decodes or is an error reply
        Check(Damaged(Datagrams), d => DecodesOrRejects("fixture", d, RouteByType));
    }

    /// <summary>Reads every attribute every way (nested, integers, text, addresses): the scanner itself must never throw.</summary>
    private static void Walk(AttributeDecoder ad, int depth)
    {
        while (ad.Next())
        {
            _ = ad.UInt8(); _ = ad.UInt16(); _ = ad.UInt32(); _ = ad.UInt64(); _ = ad.String();
            _ = ad.Address(4); _ = ad.Address(16);
            if (depth < 64) Walk(ad.Nested(), depth + 1);
        }
    }

    [Fact]
    public void NetlinkMessages_DamagedDatagrams() => Check(Damaged(Datagrams), d => DecodesOrRejects("message", d, Decoders["message"]));

    [Fact]
    public void Attributes_TheScannerNeverThrows() =>
        Check(Gen.OneOf(Damaged(EntryPayloads), DeepOrWide, Gen.Byte.Array[0, 300]), d =>
        {
            try { Decoders["attributes"](d); }
            catch (Exception e)
            {
                Keep("attributes", d);
                throw new Xunit.Sdk.XunitException($"AttributeDecoder threw {e.GetType().Name} on {Convert.ToHexString(d)}");
            }
        }, iterations: 1000);

    [Fact]
    public void ConntrackEntries_Damaged() => Check(Damaged(EntryPayloads), d => DecodesOrRejects("entry", d, Decoders["entry"]));

    [Fact]
    public void ConntrackEntries_DeepNestingAndHugeCounts() => Check(DeepOrWide, d => DecodesOrRejects("entry", d, Decoders["entry"]), iterations: 200);

    [Fact]
    public void ConntrackEvents_Damaged() => Check(Damaged(EventMessages), d => DecodesOrRejects("event", d, Decoders["event"]));

    [Fact]
    public void RtnetlinkAddresses_Damaged() => Check(Damaged(AddressMessages), d => DecodesOrRejects("address", d, Decoders["address"]));

    [Fact]
    public void RtnetlinkLinks_Damaged() => Check(Damaged(LinkMessages), d => DecodesOrRejects("link", d, Decoders["link"]));

    [Fact]
    public void NftablesRules_Damaged() =>
        Check(Gen.OneOf(Damaged(RulePayloads), DeepOrWide), d => DecodesOrRejects("rule", d, Decoders["rule"]), iterations: 400);

    [Fact]
    public void ConntrackStatistics_Damaged() => Check(Damaged(StatsPayloads), d => DecodesOrRejects("stats", d, Decoders["stats"]));

    /// <summary>The packet adapter in front of Find-SnatRemap skips what it cannot read (FrameKind), it never throws.</summary>
    [Fact]
    public void Packets_NeverThrow() =>
        Check(Gen.Select(Gen.Int[0, Frames.Length - 1], OneDamage.Array[1, 6], Gen.Int[0, 70000], (i, d, wire) => (i, Frame: Apply(Frames[i].Frame, d), wire)), t =>
        {
            try
            {
                var kind = PacketDecoder.Decode((int)Frames[t.i].Link, t.Frame, DateTime.Now, t.wire, "veth0", out var packet);
                Assert.True(kind == FrameKind.Packet ? packet is not null : packet is null);
            }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException)
            {
                Keep($"packet{(int)Frames[t.i].Link}", t.Frame);
                throw new Xunit.Sdk.XunitException($"PacketDecoder threw {e.GetType().Name} on {Convert.ToHexString(t.Frame)}: {e}");
            }
        });

    // ---- round trips: whatever we encode decodes to the same value ----

    private static readonly Gen<IPAddress> V4 = Gen.UInt.Select(u => new IPAddress(BitConverter.GetBytes(u)));
    private static readonly Gen<IPAddress> V6 = Gen.Byte.Array[16].Select(b => new IPAddress(b));
    private static readonly Gen<int> Port = Gen.Int[0, 65535];

    private static readonly Gen<ConntrackEntry> Entries =
        Gen.Select(Gen.Bool, Gen.OneOf<byte>(Protocols.Tcp, Protocols.Udp, 132, 33, 136, 47, 1, 58, 253),
                Gen.Select(Port, Port, Port, Port), Gen.Select(Gen.UInt, Gen.UShort, Gen.Int[1, 1_000_000], Gen.Byte[0, 2]))
            .SelectMany(t => Gen.Select(t.Item1 ? V6 : V4, t.Item1 ? V6 : V4, t.Item1 ? V6 : V4, t.Item1 ? V6 : V4).Select(a =>
            {
                var (v6, proto, (sp, dp, rsp, rdp), (mark, zone, timeout, icmpType)) = t;
                if (proto == 1 && v6) proto = 58;
                if (proto == 58 && !v6) proto = 1;
                bool icmp = proto is 1 or 58, ports = proto is 6 or 17 or 132 or 33 or 136;
                var original = new FlowTuple(a.Item1, a.Item2, proto, ports ? sp : null, ports ? dp : null);
                var reply = new FlowTuple(a.Item3, a.Item4, proto, ports ? rsp : null, ports ? rdp : null);
                if (icmp)
                {
                    original.IcmpType = v6 ? 128 : 8; original.IcmpCode = 0; original.IcmpId = sp;
                    reply.IcmpType = v6 ? 129 : 0; reply.IcmpCode = 0; reply.IcmpId = sp;
                }
                return new ConntrackEntry(original, reply)
                {
                    AddressFamily = v6 ? IPFamily.IPv6 : IPFamily.IPv4,
                    Timeout = TimeSpan.FromSeconds(timeout),
                    Mark = mark,
                    Zone = zone,
                    Status = ConntrackStatus.SeenReply | ConntrackStatus.Assured,
                    State = proto == 6 ? "ESTABLISHED" : null,
                };
            }));

    [Fact]
    public void ConntrackEntries_EncodeThenDecode_IsTheSameEntry() =>
        Check(Entries, e =>
        {
            var back = ConntrackDecoder.Decode(ConntrackRequests.New(e, create: true).Build(1).AsSpan(Nlmsg.HeaderLength));
            Assert.Equal(e.AddressFamily, back.AddressFamily);
            Assert.Equal(e.Protocol, back.Protocol);
            Assert.Equal(ConntrackIdentity.Of(e), ConntrackIdentity.Of(back));
            foreach (var (x, y) in new[] { (e.Original, back.Original), (e.Reply, back.Reply) })
            {
                Assert.Equal(x.SourceAddress, y.SourceAddress);
                Assert.Equal(x.DestinationAddress, y.DestinationAddress);
                Assert.Equal(x.SourcePort, y.SourcePort);
                Assert.Equal(x.DestinationPort, y.DestinationPort);
                Assert.Equal(x.IcmpType, y.IcmpType);
                Assert.Equal(x.IcmpCode, y.IcmpCode);
                Assert.Equal(x.IcmpId, y.IcmpId);
            }
            Assert.Equal(e.Timeout, back.Timeout);
            Assert.Equal(e.Mark, back.Mark);
            Assert.Equal(e.Zone, back.Zone);
            Assert.Equal(e.State, back.State);
        });

    // ---- the receiving thread's end-of-dump test against the message reader ----

    /// <summary>What EndsDump answers, read the long way: message by message through NetlinkMessageReader, up to the first that ends the dump.</summary>
    private static bool EndsDumpByReader(byte[] datagram, uint seq)
    {
        var reader = new NetlinkMessageReader(datagram);
        while (reader.Next())
        {
            var m = reader.Current;
            if (m.Sequence == seq && (m.IsDone || (m.IsError && m.ErrorCode != 0))) return true;
        }
        return false;
    }

    /// <summary>The sequence numbers worth asking about: the first message's, the next one, and one of no message.</summary>
    private static uint[] SequencesOf(byte[] d) =>
        d.Length >= Nlmsg.HeaderLength ? [BitConverter.ToUInt32(d, 8), BitConverter.ToUInt32(d, 8) + 1, 0xdeadbeef] : [0xdeadbeef];

    private static void EndsDumpAgrees(byte[] d)
    {
        foreach (uint seq in SequencesOf(d))
        {
            bool? expected = null, actual = null;
            try { expected = EndsDumpByReader(d, seq); } catch (NetlinkDecodeException) { }
            try { actual = NetlinkConnection.EndsDump(d, seq); } catch (NetlinkDecodeException) { }
            if (expected == actual) continue;
            Keep("enddump", d);
            throw new Xunit.Sdk.XunitException($"EndsDump said {actual?.ToString() ?? "damaged"}, the reader {expected?.ToString() ?? "damaged"}, seq {seq}: {Convert.ToHexString(d)}");
        }
    }

    /// <summary>
    /// The receiving thread's lean header walk (NetlinkConnection.EndsDump) answers as the message reader does (true,
    /// false, or the reader's exception for damage before the end), over damaged fixtures and datagrams of one message.
    /// </summary>
    [Fact]
    public void EndOfDump_TheHeaderWalkAgreesWithTheReader() =>
        Check(Gen.OneOf(Damaged(Datagrams), Damaged(EndMessages)), EndsDumpAgrees);

    /// <summary>NLMSG_DONE (0 and an errno), an ACK and an error, each alone in a datagram.</summary>
    private static readonly byte[][] EndMessages =
        [EndMessage(Nlmsg.DONE, 0), EndMessage(Nlmsg.DONE, -Errno.EINTR), EndMessage(Nlmsg.ERROR, 0), EndMessage(Nlmsg.ERROR, -Errno.EPERM)];

    private static byte[] EndMessage(ushort type, int code, uint seq = 7, int extra = 0)
    {
        var b = new byte[Nlmsg.HeaderLength + 4 + extra];
        BitConverter.TryWriteBytes(b.AsSpan(0), (uint)b.Length);
        BitConverter.TryWriteBytes(b.AsSpan(4), type);
        BitConverter.TryWriteBytes(b.AsSpan(8), seq);
        BitConverter.TryWriteBytes(b.AsSpan(16), code);
        return b;
    }

    [Fact]
    public void EndOfDump_DoneOrAnErrorOfThisDumpEndsIt_AnAckOrAnotherDumpsDoesNot()
    {
        byte[] Join(params byte[][] parts) => parts.SelectMany(p => p).ToArray();
        var entry = EndMessage(0x0100, 0, seq: 7, extra: 200);
        Assert.False(NetlinkConnection.EndsDump(Join(entry, entry, entry), 7));
        Assert.True(NetlinkConnection.EndsDump(Join(entry, entry, EndMessage(Nlmsg.DONE, 0)), 7));
        Assert.False(NetlinkConnection.EndsDump(Join(entry, EndMessage(Nlmsg.DONE, 0, seq: 8)), 7));
        Assert.False(NetlinkConnection.EndsDump(Join(EndMessage(Nlmsg.ERROR, 0)), 7));
        Assert.True(NetlinkConnection.EndsDump(Join(EndMessage(Nlmsg.ERROR, -Errno.EPERM)), 7));
        Assert.True(NetlinkConnection.EndsDump(Join(entry, EndMessage(Nlmsg.DONE, -Errno.EINTR)), 7));
        Assert.Throws<NetlinkDecodeException>(() => NetlinkConnection.EndsDump(Join(entry, entry).AsSpan(0, 2 * entry.Length - 3), 7));
        Assert.Throws<NetlinkDecodeException>(() => NetlinkConnection.EndsDump(Join(entry, new byte[8]), 7));
    }

    // ---- the tuple fast path against the scanner ----

    /// <summary>The values of the top-level attributes of these types in an entry's payload (after nfgenmsg), as they are.</summary>
    private static List<byte[]> AttributeValues(byte[] payload, params ushort[] types)
    {
        var values = new List<byte[]>();
        if (payload.Length < ConntrackDecoder.NfGenMsgLength) return values;
        var ad = new AttributeDecoder(payload.AsSpan(ConntrackDecoder.NfGenMsgLength), bigEndian: true);
        while (ad.Next())
            if (types.Contains(ad.Type)) values.Add(ad.Bytes.ToArray());
        return values;
    }

    /// <summary>The values of CTA_TUPLE_ORIG and CTA_TUPLE_REPLY.</summary>
    private static List<byte[]> TupleValues(byte[] payload) => AttributeValues(payload, Cta.TUPLE_ORIG, Cta.TUPLE_REPLY);

    /// <summary>What the scanner reads from a tuple's value: the tuple, or null when it reports an error.</summary>
    internal static FlowTuple? Scanned(byte[] value)
    {
        var nd = new AttributeDecoder(value, bigEndian: true);
        var t = ConntrackDecoder.DecodeTuple(ref nd);
        return nd.Error is null ? t : null;
    }

    internal static void AssertSameTuple(FlowTuple expected, FlowTuple actual)
    {
        Assert.Equal(expected.SourceBits, actual.SourceBits);
        Assert.Equal(expected.DestinationBits, actual.DestinationBits);
        Assert.Equal(expected.SourceIsV6, actual.SourceIsV6);
        Assert.Equal(expected.DestinationIsV6, actual.DestinationIsV6);
        Assert.Equal(expected.SourceAddress, actual.SourceAddress);
        Assert.Equal(expected.DestinationAddress, actual.DestinationAddress);
        Assert.Equal(expected.ProtocolNumber, actual.ProtocolNumber);
        Assert.Equal(expected.SourcePort, actual.SourcePort);
        Assert.Equal(expected.DestinationPort, actual.DestinationPort);
        Assert.Equal(expected.IcmpType, actual.IcmpType);
        Assert.Equal(expected.IcmpCode, actual.IcmpCode);
        Assert.Equal(expected.IcmpId, actual.IcmpId);
        Assert.Equal(expected.Zone, actual.Zone);
    }

    private static readonly byte[][] TupleCorpus = EntryPayloads.SelectMany(TupleValues).ToArray();

    /// <summary>
    /// Whatever the fast path accepts (the kernel's layout of a tuple with ports, compared header by header), the
    /// scanner reads without an error and to the same tuple: over the tuples of every golden entry (recorded from this
    /// kernel), damaged, and over tuples our encoder writes for random entries.
    /// </summary>
    [Fact]
    public void ConntrackTuples_TheFastPathAndTheScannerAgree()
    {
        var encoded = Entries.Select(e => TupleValues(ConntrackRequests.New(e, create: true).Build(1)[Nlmsg.HeaderLength..]));
        Check(Gen.OneOf(Damaged(TupleCorpus), encoded.Select(v => v[0]), encoded.Select(v => v[^1])), FastPathAgrees);
    }

    private static void FastPathAgrees(byte[] value)
    {
        var fast = ConntrackDecoder.PortTuple(value);
        if (fast is null) return;
        var scanned = Scanned(value);
        try
        {
            if (scanned is null) throw new Xunit.Sdk.XunitException("the fast path took a tuple the scanner rejects");
            AssertSameTuple(scanned, fast);
        }
        catch (Exception e)
        {
            Keep("tuple", value);
            throw new Xunit.Sdk.XunitException($"tuple {Convert.ToHexString(value)}: {e.Message}");
        }
    }

    /// <summary>
    /// The fast path is taken for what the kernel sends with ports (so the property above is not vacuous and the dump
    /// really goes that way) and left to the scanner for everything else.
    /// </summary>
    [Theory]
    [InlineData("tcp-masquerade", true)]
    [InlineData("udp", true)]
    [InlineData("tcp-ipv6", true)]
    [InlineData("sctp", true)]
    [InlineData("dump-datagram", true)]
    [InlineData("icmp", false)]
    [InlineData("icmpv6", false)]
    public void ConntrackTuples_TheFastPathTakesTheKernelsTuplesWithPorts(string fixture, bool someFast)
    {
        var tuples = Fixture.Messages(fixture).SelectMany(m => TupleValues(m[Nlmsg.HeaderLength..])).ToList();
        Assert.NotEmpty(tuples);
        foreach (var v in tuples)
        {
            var scanned = Scanned(v)!;
            bool withPorts = scanned.SourcePort is not null && scanned.DestinationPort is not null && scanned.Zone is null &&
                             scanned.IcmpType is null && scanned.IcmpCode is null && scanned.IcmpId is null;
            Assert.Equal(withPorts, ConntrackDecoder.PortTuple(v) is not null);
            FastPathAgrees(v);
        }
        Assert.Equal(someFast, tuples.Any(v => ConntrackDecoder.PortTuple(v) is not null));
    }

    [Fact]
    public void ConntrackTuples_TheFastPathLeavesAnyOtherLayoutToTheScanner()
    {
        var v = TupleValues(Fixture.Messages("udp")[0][Nlmsg.HeaderLength..])[0];
        Assert.NotNull(ConntrackDecoder.PortTuple(v));
        // A zone in the tuple (CTA_TUPLE_ZONE after CTA_TUPLE_PROTO): another length, so the scanner reads it, zone and all.
        var zoned = v.Concat(new byte[] { 6, 0, 3, 0, 0, 7, 0, 0 }).ToArray();
        Assert.Null(ConntrackDecoder.PortTuple(zoned));
        Assert.Equal((ushort)7, Scanned(zoned)!.Zone);
        // One header off by a bit anywhere (a flag, a type, a length): not the kernel's layout.
        foreach (int header in new[] { 0, 4, 12, 20, 24, 32, 40 })
            for (int bit = 0; bit < 32; bit++)
            {
                var damaged = (byte[])v.Clone();
                damaged[header + bit / 8] ^= (byte)(1 << (bit % 8));
                Assert.Null(ConntrackDecoder.PortTuple(damaged));
            }
        Assert.Null(ConntrackDecoder.PortTuple(v.AsSpan(0, 44)));
    }

    // ---- the TCP state fast path against the scanner ----

    /// <summary>The values of CTA_PROTOINFO.</summary>
    private static List<byte[]> ProtoInfoValues(byte[] payload) => AttributeValues(payload, Cta.PROTOINFO);

    private static readonly byte[][] ProtoInfoCorpus = EntryPayloads.SelectMany(ProtoInfoValues).ToArray();

    private static void TcpStateAgrees(byte[] value)
    {
        string? fast = ConntrackDecoder.TcpState(value);
        if (fast is null) return;
        var nd = new AttributeDecoder(value, bigEndian: true);
        string? scanned = ConntrackDecoder.DecodeProtoInfo(ref nd);
        if (nd.Error is null && scanned == fast) return;
        Keep("protoinfo", value);
        throw new Xunit.Sdk.XunitException($"protocol info {Convert.ToHexString(value)}: the fast path read {fast}, the scanner {scanned ?? "nothing"} ({nd.Error ?? "no error"})");
    }

    /// <summary>Whatever the TCP state fast path accepts, the scanner reads without an error to the same state, over damaged golden protocol info.</summary>
    [Fact]
    public void ConntrackProtoInfo_TheFastPathAndTheScannerAgree()
    {
        Assert.True(ProtoInfoCorpus.Length >= 3, $"only {ProtoInfoCorpus.Length} CTA_PROTOINFO values in the golden entries");
        Check(Damaged(ProtoInfoCorpus), TcpStateAgrees);
    }

    /// <summary>The fast path is taken for every TCP entry the kernel sent (this kernel's golden fixtures), and for nothing else.</summary>
    [Theory]
    [InlineData("tcp-masquerade", true)]
    [InlineData("tcp-ipv6", true)]
    [InlineData("dump-datagram", true)]
    [InlineData("sctp", false)]
    public void ConntrackProtoInfo_TheFastPathTakesTheKernelsTcpInfo(string fixture, bool tcp)
    {
        var values = Fixture.Messages(fixture).SelectMany(m => ProtoInfoValues(m[Nlmsg.HeaderLength..])).ToList();
        Assert.NotEmpty(values);
        foreach (var v in values)
        {
            bool isTcp = BitConverter.ToUInt16(v, 2) == (AttributeDecoder.NLA_F_NESTED | Cta.PROTOINFO_TCP);
            Assert.Equal(isTcp, ConntrackDecoder.TcpState(v) is not null);
            TcpStateAgrees(v);
        }
        Assert.Equal(tcp, values.Any(v => ConntrackDecoder.TcpState(v) is not null));
    }

    /// <summary>A random attribute list with nesting, built by MessageBuilder, reads back attribute by attribute.</summary>
    public sealed record Attr(ushort Type, byte[] Value, Attr[]? Children);

    private static readonly Gen<Attr> Leaf = Gen.Select(Gen.UShort[1, 0x3fff], Gen.Byte.Array[0, 40], (t, v) => new Attr(t, v, null));

    private static readonly Gen<Attr[]> Trees = Gen.Recursive<Attr[]>((depth, self) =>
        depth >= 4 ? Leaf.Array[0, 4]
        : Gen.Frequency((3, Leaf.Select(a => (Attr?)a)), (1, Gen.Select(Gen.UShort[1, 0x3fff], self, (t, c) => (Attr?)new Attr(t, [], c))))
            .Select(a => a!).Array[0, 5]);

    [Fact]
    public void Attributes_EncodeThenDecode_IsTheSameTree() =>
        Check(Gen.Select(Trees, Gen.Bool), t =>
        {
            var (tree, bigEndian) = t;
            var b = new MessageBuilder(0x0100, 0, bigEndian).NfGenMsg(2);
            Encode(b, tree);
            var back = Read(new AttributeDecoder(b.Build(1).AsSpan(Nlmsg.HeaderLength + 4), bigEndian));
            Assert.Equal(Show(tree), Show(back));
        });

    private static void Encode(MessageBuilder b, Attr[] tree)
    {
        foreach (var a in tree)
        {
            if (a.Children is null) { b.Bytes(a.Type, a.Value); continue; }
            int start = b.BeginNested(a.Type);
            Encode(b, a.Children);
            b.EndNested(start);
        }
    }

    private static Attr[] Read(AttributeDecoder ad)
    {
        var list = new List<Attr>();
        while (ad.Next())
            list.Add(ad.IsNested ? new Attr(ad.Type, [], Read(ad.Nested())) : new Attr(ad.Type, ad.Bytes.ToArray(), null));
        Assert.Null(ad.Error);
        return list.ToArray();
    }

    private static string Show(Attr[] tree) =>
        string.Join(",", tree.Select(a => a.Children is null ? $"{a.Type}:{Convert.ToHexString(a.Value)}" : $"{a.Type}{{{Show(a.Children)}}}"));

    // ---- kept inputs: regression fixtures ----

    /// <summary>Where inputs that broke a property are kept: the source tree's Fixtures/fuzz (found from the test binary).</summary>
    private static string KeptDirectory()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ConntrackTools.Tests.csproj"))) dir = dir.Parent;
        return Path.Combine(dir?.FullName ?? Fixture.Dir, "Fixtures", "fuzz");
    }

    /// <summary>Writes an input that broke a property as DECODER-HASH.hex, for <see cref="KeptInputs_StillHoldTheirProperty"/>.</summary>
    private static void Keep(string decoder, byte[] input)
    {
        try
        {
            var dir = KeptDirectory();
            Directory.CreateDirectory(dir);
            string hash = Convert.ToHexString(SHA256.HashData(input))[..12].ToLowerInvariant();
            File.WriteAllText(Path.Combine(dir, $"{decoder}-{hash}.hex"), Convert.ToHexString(input).ToLowerInvariant() + "\n");
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>Every kept input (Fixtures/fuzz/DECODER-HASH.hex) still gives only a decode error or a result.</summary>
    [Fact]
    public void KeptInputs_StillHoldTheirProperty()
    {
        var dir = KeptDirectory();
        if (!Directory.Exists(dir)) return;
        foreach (var file in Directory.EnumerateFiles(dir, "*.hex"))
        {
            string decoder = Path.GetFileName(file).Split('-')[0];
            var input = Convert.FromHexString(File.ReadAllText(file).Trim());
            if (decoder.StartsWith("packet", StringComparison.Ordinal))
                PacketDecoder.Decode(int.Parse(decoder[6..], CultureInfo.InvariantCulture), input, DateTime.Now, input.Length, null, out _);
            else if (decoder == "attributes") Decoders[decoder](input);
            else if (decoder == "tuple") FastPathAgrees(input);
            else if (decoder == "protoinfo") TcpStateAgrees(input);
            else if (decoder == "enddump") EndsDumpAgrees(input);
            else DecodesOrRejects(decoder, input, Decoders[decoder]);
        }
    }

    /// <summary>The damage generator really damages: a property over it is not vacuous.</summary>
    [Fact]
    public void Damage_ProducesBothRejectedAndDecodedInputs()
    {
        int decoded = 0, rejected = 0;
        Damaged(EntryPayloads).Sample(d =>
        {
            try { ConntrackDecoder.Decode(d); decoded++; }
            catch (NetlinkDecodeException) { rejected++; }
        }, iter: 2000, threads: 1);
        Assert.True(decoded > 100 && rejected > 100, $"decoded {decoded}, rejected {rejected}");
    }
}
