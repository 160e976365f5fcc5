using System;
using System.Collections.Generic;
using System.Linq;
using System.Net.Sockets;
using ConntrackTools.Inet;
using ConntrackTools.Netlink;

namespace ConntrackTools.Conntrack;

/// <summary>
/// Compiles the parts of a <see cref="ConntrackFilter"/> the kernel can test into a socket filter for the event
/// socket, as conntrack-tools does: events that do not match are dropped before they are queued, so they cost no
/// receive buffer and cannot push wanted events out. Like the dump filter, it only pre-filters: every event is
/// still checked by <see cref="ConntrackFilter.Matches"/>, so the program may let through more, never less.
/// </summary>
/// <remarks>
/// Each test is a block that finds an attribute (SKF_AD_NLATTR, then SKF_AD_NLATTR_NEST down the path), loads its
/// value (network byte order, as BPF loads are), compares, and ends in "drop". An attribute that cannot be found lets
/// the event through, except where the kernel leaves it out for a default value: no CTA_MARK means mark 0, no
/// CTA_ZONE means zone 0. Socket filters on netlink exist since Linux 2.6.x; the ancillary loads since 2.6.31.
/// -State and -NatType stay in user space: a state is absent from most Update events, and NAT is derived.
/// </remarks>
public static class ConntrackEventFilter
{
    /// <summary>The program and the words for -Verbose.</summary>
    public sealed record Program(SocketFilterInstruction[] Instructions, string KernelPart, string UserPart);

    // nlmsghdr (16) + nfgenmsg (4): where the attributes begin; the family is nfgenmsg's first byte.
    private const uint FirstAttribute = Nlmsg.HeaderLength + ConntrackDecoder.NfGenMsgLength;
    private const uint FamilyOffset = Nlmsg.HeaderLength;
    private const uint ValueOffset = AttributeDecoder.HeaderLength;

    /// <summary>Compiles <paramref name="filter"/>; null when no part of it can run in the kernel.</summary>
    public static Program? Compile(ConntrackFilter filter)
    {
        var code = new List<SocketFilterInstruction>();
        var kernel = new List<string>();
        var user = new List<string>();
        IPFamily family = filter.EffectiveFamily;

        if (family != IPFamily.All)
        {
            var b = new Block();
            b.Op(Bpf.LD | Bpf.B | Bpf.ABS, FamilyOffset);
            b.Compare((uint)family, last: true);
            b.EmitTo(code);
            kernel.Add("family " + family);
        }
        if (filter.Protocol is byte protocol)
        {
            TupleValue(code, [Cta.TUPLE_PROTO, Cta.PROTO_NUM], Bpf.B, protocol);
            kernel.Add("protocol " + Protocols.Name(protocol));
        }
        if (filter.SourcePort is int sport)
        {
            TupleValue(code, [Cta.TUPLE_PROTO, Cta.PROTO_SRC_PORT], Bpf.H, (uint)sport);
            kernel.Add("sport " + sport);
        }
        if (filter.DestinationPort is int dport)
        {
            TupleValue(code, [Cta.TUPLE_PROTO, Cta.PROTO_DST_PORT], Bpf.H, (uint)dport);
            kernel.Add("dport " + dport);
        }
        if (filter.SourceAddress is AddressMatch src)
        {
            Address(code, src, source: true);
            kernel.Add("src " + src);
        }
        if (filter.DestinationAddress is AddressMatch dst)
        {
            Address(code, dst, source: false);
            kernel.Add("dst " + dst);
        }
        if (filter.Mark is uint mark)
        {
            uint mask = filter.MarkMask ?? uint.MaxValue;
            TopLevelValue(code, Cta.MARK, Bpf.W, mask, mark & mask, missingValue: 0);
            kernel.Add($"mark {mark}/0x{mask:x}");
        }
        if (filter.Status is ConntrackStatus status && status != ConntrackStatus.None)
        {
            TopLevelValue(code, Cta.STATUS, Bpf.W, (uint)status, (uint)status, missingValue: null);
            kernel.Add("status " + status);
        }
        if (filter.Zone is ushort zone)
        {
            TopLevelValue(code, Cta.ZONE, Bpf.H, uint.MaxValue, zone, missingValue: 0);
            kernel.Add("zone " + zone);
        }
        CompileSelectors(filter, code, kernel, user);
        if (filter.State is { Length: > 0 }) user.Add("state " + string.Join(",", filter.State));
        if (filter.NatType is not null) user.Add("NAT " + filter.NatType);

        if (code.Count == 0) return null;
        code.Add(new SocketFilterInstruction(Bpf.RET | Bpf.K, 0, 0, Bpf.Accept));
        return new Program(code.ToArray(), string.Join(", ", kernel), user.Count == 0 ? "none" : string.Join(", ", user));
    }

    /// <summary>
    /// The selectors beyond the original tuple: the reply tuple and the translation (addresses as prefixes, one port
    /// each), ICMP type, code and id (one value each, with one protocol): in the program. Lists, zones of one
    /// direction and labels: in user space.
    /// </summary>
    private static void CompileSelectors(ConntrackFilter f, List<SocketFilterInstruction> code, List<string> kernel, List<string> user)
    {
        static string L(int[] v) => string.Join(",", v);
        void Addr(AddressMatch? a, bool source, string word)
        {
            if (a is null) return;
            Address(code, a, source, Cta.TUPLE_REPLY);
            kernel.Add(word + a);
        }
        void Port(int[]? p, ushort attr, string word)
        {
            if (p is null) return;
            if (p is [int one]) { TupleValue(code, [Cta.TUPLE_PROTO, attr], Bpf.H, (uint)one, Cta.TUPLE_REPLY); kernel.Add(word + one); }
            else user.Add(word + L(p));
        }
        Addr(f.ReplySourceAddress, true, "reply src ");
        Addr(f.ReplyDestinationAddress, false, "reply dst ");
        Addr(f.TranslatedDestinationAddress, true, "translated dst ");
        Addr(f.TranslatedSourceAddress, false, "translated src ");
        Port(f.ReplySourcePort, Cta.PROTO_SRC_PORT, "reply sport ");
        Port(f.ReplyDestinationPort, Cta.PROTO_DST_PORT, "reply dport ");
        Port(f.TranslatedDestinationPort, Cta.PROTO_SRC_PORT, "translated dport ");
        Port(f.TranslatedSourcePort, Cta.PROTO_DST_PORT, "translated sport ");
        bool icmp = f.Protocol is Protocols.Icmp or Protocols.IcmpV6, six = f.Protocol == Protocols.IcmpV6;
        foreach (var (v, attr4, attr6, size, word) in new[] {
                     (f.IcmpType, Cta.PROTO_ICMP_TYPE, Cta.PROTO_ICMPV6_TYPE, Bpf.B, "icmp type "),
                     (f.IcmpCode, Cta.PROTO_ICMP_CODE, Cta.PROTO_ICMPV6_CODE, Bpf.B, "icmp code "),
                     (f.IcmpId, Cta.PROTO_ICMP_ID, Cta.PROTO_ICMPV6_ID, Bpf.H, "icmp id ") })
        {
            if (v is null) continue;
            if (icmp && v is [int one]) { TupleValue(code, [Cta.TUPLE_PROTO, six ? attr6 : attr4], size, (uint)one); kernel.Add(word + one); }
            else user.Add(word + L(v));
        }
        if (f.AnyProtocol is not null) user.Add("protocol " + string.Join(",", f.AnyProtocol.Select(Protocols.Name)));
        if (f.AnySourcePort is not null) user.Add("sport " + L(f.AnySourcePort));
        if (f.AnyDestinationPort is not null) user.Add("dport " + L(f.AnyDestinationPort));
        if (f.AnyNatType is not null) user.Add("NAT " + string.Join(",", f.AnyNatType));
        if (f.OriginalZone is not null) user.Add("original zone " + f.OriginalZone);
        if (f.ReplyZone is not null) user.Add("reply zone " + f.ReplyZone);
        if (f.Labels is not null) user.Add("labels " + L(f.Labels));
    }

    /// <summary>A value inside CTA_TUPLE_ORIG, compared exactly. A missing attribute (no ports on icmp) passes.</summary>
    private static void TupleValue(List<SocketFilterInstruction> code, ushort[] path, ushort size, uint value, ushort tuple = Cta.TUPLE_ORIG)
    {
        var b = new Block();
        b.Locate([tuple, .. path], missing: Block.Target.Pass);
        b.Op((ushort)(Bpf.LD | size | Bpf.IND), ValueOffset);
        b.Compare(value, last: true);
        b.EmitTo(code);
    }

    /// <summary>An address or prefix, word by word under the prefix mask (one word for IPv4, up to four for IPv6).</summary>
    private static void Address(List<SocketFilterInstruction> code, AddressMatch match, bool source, ushort tuple = Cta.TUPLE_ORIG)
    {
        bool v6 = match.Network.BaseAddress.AddressFamily == AddressFamily.InterNetworkV6;
        ushort attr = (v6, source) switch
        {
            (false, true) => Cta.IP_V4_SRC,
            (false, false) => Cta.IP_V4_DST,
            (true, true) => Cta.IP_V6_SRC,
            (true, false) => Cta.IP_V6_DST,
        };
        byte[] bytes = match.Network.BaseAddress.GetAddressBytes();
        var words = new List<(uint Offset, uint Mask, uint Value)>();
        for (int i = 0; i < bytes.Length / 4; i++)
        {
            int bits = Math.Clamp(match.Network.PrefixLength - 32 * i, 0, 32);
            if (bits == 0) break;
            uint mask = bits == 32 ? uint.MaxValue : ~(uint.MaxValue >> bits);
            uint value = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(4 * i));
            words.Add((ValueOffset + 4u * (uint)i, mask, value & mask));
        }
        if (words.Count == 0) return; // /0 matches every address of the family, which the family test covers
        var b = new Block();
        b.Locate([tuple, Cta.TUPLE_IP, attr], missing: Block.Target.Pass);
        for (int i = 0; i < words.Count; i++)
        {
            b.Op(Bpf.LD | Bpf.W | Bpf.IND, words[i].Offset);
            if (words[i].Mask != uint.MaxValue) b.Op(Bpf.ALU | Bpf.AND | Bpf.K, words[i].Mask);
            b.Compare(words[i].Value, last: i == words.Count - 1);
        }
        b.EmitTo(code);
    }

    /// <summary>
    /// A top-level attribute: (value &amp; mask) == expected. <paramref name="missingValue"/> is what the kernel means by
    /// leaving the attribute out (null: unknown, let the event through).
    /// </summary>
    private static void TopLevelValue(List<SocketFilterInstruction> code, ushort attr, ushort size, uint mask, uint expected, uint? missingValue)
    {
        var missing = missingValue is uint m && (m & mask) != expected ? Block.Target.Drop : Block.Target.Pass;
        var b = new Block();
        b.Locate([attr], missing);
        b.Op((ushort)(Bpf.LD | size | Bpf.IND), ValueOffset);
        if (mask != uint.MaxValue) b.Op(Bpf.ALU | Bpf.AND | Bpf.K, mask);
        b.Compare(expected, last: true);
        b.EmitTo(code);
    }

    /// <summary>One test: instructions whose jumps name a target in the block, resolved when it is emitted.</summary>
    private sealed class Block
    {
        /// <summary>Next: the following instruction. Drop: the block's closing "return 0". Pass: the next block.</summary>
        public enum Target { Next, Drop, Pass }

        private readonly List<(ushort Code, uint K, Target True, Target False)> _ops = new();

        public void Op(ushort code, uint k, Target whenTrue = Target.Next, Target whenFalse = Target.Next) =>
            _ops.Add((code, k, whenTrue, whenFalse));

        /// <summary>A == value: on to the next comparison (or, for the last, past the block), else drop.</summary>
        public void Compare(uint value, bool last) =>
            Op(Bpf.JMP | Bpf.JEQ | Bpf.K, value, last ? Target.Pass : Target.Next, Target.Drop);

        /// <summary>X = offset of the attribute at the end of <paramref name="path"/> (top level first).</summary>
        public void Locate(ushort[] path, Target missing)
        {
            Op(Bpf.LD | Bpf.IMM, FirstAttribute);
            for (int i = 0; i < path.Length; i++)
            {
                Op(Bpf.LDX | Bpf.IMM, path[i]);
                Op(Bpf.LD | Bpf.B | Bpf.ABS, Bpf.SKF_AD_OFF + (i == 0 ? Bpf.SKF_AD_NLATTR : Bpf.SKF_AD_NLATTR_NEST));
                Op(Bpf.JMP | Bpf.JEQ | Bpf.K, 0, missing, Target.Next);
            }
            Op(Bpf.MISC | Bpf.TAX, 0);
        }

        public void EmitTo(List<SocketFilterInstruction> code)
        {
            int drop = _ops.Count;     // index of the closing "return 0"
            int pass = drop + 1;       // first instruction after the block
            for (int i = 0; i < _ops.Count; i++)
            {
                var (op, k, t, f) = _ops[i];
                code.Add(new SocketFilterInstruction(op, Offset(i, t, drop, pass), Offset(i, f, drop, pass), k));
            }
            code.Add(new SocketFilterInstruction(Bpf.RET | Bpf.K, 0, 0, Bpf.Drop));
        }

        // Jumps are relative to the instruction after the jump; blocks are short, far below the 255 limit.
        private static byte Offset(int from, Target target, int drop, int pass) => target switch
        {
            Target.Drop => checked((byte)(drop - from - 1)),
            Target.Pass => checked((byte)(pass - from - 1)),
            _ => 0,
        };
    }
}
