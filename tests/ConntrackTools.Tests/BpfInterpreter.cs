using System;
using System.Buffers.Binary;
using ConntrackTools.Netlink;

namespace ConntrackTools.Tests;

/// <summary>
/// Runs a classic BPF socket filter over one netlink message the way the kernel does (net/core/filter.c), for the
/// instructions our event filter emits: immediate and packet loads, the SKF_AD_NLATTR / SKF_AD_NLATTR_NEST ancillary
/// loads (nla_find semantics), TAX, AND, JEQ and RET. Anything else throws, so the compiler cannot drift silently.
/// </summary>
internal static class BpfInterpreter
{
    public static uint Run(SocketFilterInstruction[] program, byte[] message)
    {
        uint a = 0, x = 0;
        for (int pc = 0; pc < program.Length;)
        {
            var i = program[pc++];
            switch (i.Code)
            {
                case Bpf.LD | Bpf.IMM: a = i.K; break;
                case Bpf.LDX | Bpf.IMM: x = i.K; break;
                case Bpf.LD | Bpf.B | Bpf.ABS when i.K >= Bpf.SKF_AD_OFF: a = Ancillary(i.K - Bpf.SKF_AD_OFF, a, x, message); break;
                case Bpf.LD | Bpf.B | Bpf.ABS: if (!Load(message, i.K, 1, out a)) return 0; break;
                case Bpf.LD | Bpf.H | Bpf.ABS: if (!Load(message, i.K, 2, out a)) return 0; break;
                case Bpf.LD | Bpf.W | Bpf.ABS: if (!Load(message, i.K, 4, out a)) return 0; break;
                case Bpf.LD | Bpf.B | Bpf.IND: if (!Load(message, x + i.K, 1, out a)) return 0; break;
                case Bpf.LD | Bpf.H | Bpf.IND: if (!Load(message, x + i.K, 2, out a)) return 0; break;
                case Bpf.LD | Bpf.W | Bpf.IND: if (!Load(message, x + i.K, 4, out a)) return 0; break;
                case Bpf.ALU | Bpf.AND | Bpf.K: a &= i.K; break;
                case Bpf.MISC | Bpf.TAX: x = a; break;
                case Bpf.JMP | Bpf.JEQ | Bpf.K: pc += a == i.K ? i.JumpTrue : i.JumpFalse; break;
                case Bpf.RET | Bpf.K: return i.K;
                default: throw new NotSupportedException($"BPF opcode 0x{i.Code:x} at {pc - 1}");
            }
        }
        throw new InvalidOperationException("the program fell off its end");
    }

    /// <summary>A packet load in network byte order; false (the kernel drops) when out of bounds.</summary>
    private static bool Load(byte[] m, uint offset, int size, out uint value)
    {
        value = 0;
        if (offset > (uint)(m.Length - size)) return false;
        var s = m.AsSpan((int)offset, size);
        value = size switch { 1 => s[0], 2 => BinaryPrimitives.ReadUInt16BigEndian(s), _ => BinaryPrimitives.ReadUInt32BigEndian(s) };
        return true;
    }

    private static uint Ancillary(uint which, uint a, uint x, byte[] m)
    {
        if (m.Length < 4 || a > m.Length - 4) return 0;
        if (which == Bpf.SKF_AD_NLATTR) return Find(m, (int)a, m.Length, x);
        if (which != Bpf.SKF_AD_NLATTR_NEST) throw new NotSupportedException("ancillary load " + which);
        int len = BinaryPrimitives.ReadUInt16LittleEndian(m.AsSpan((int)a));
        if (len < 4 || len > m.Length - a) return 0; // nla_ok
        return Find(m, (int)a + 4, (int)a + len, x);
    }

    /// <summary>nla_find: offset of the first attribute of the type in [start, end), or 0.</summary>
    private static uint Find(byte[] m, int start, int end, uint type)
    {
        int off = start;
        while (end - off >= 4)
        {
            int len = BinaryPrimitives.ReadUInt16LittleEndian(m.AsSpan(off));
            int t = BinaryPrimitives.ReadUInt16LittleEndian(m.AsSpan(off + 2)) & AttributeDecoder.NLA_TYPE_MASK;
            if (len < 4 || len > end - off) return 0;
            if (t == type) return (uint)off;
            off += (len + 3) & ~3;
        }
        return 0;
    }
}
