using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Linq;
using System.Net;

namespace ConntrackTools.Sockets;

/// <summary>
/// Compiles socket conditions into an inet_diag filter program (INET_DIAG_REQ_BYTECODE), which the kernel runs on
/// every socket before it is copied to us (inet_diag_bc_run in net/ipv4/inet_diag.c).
/// </summary>
/// <remarks>
/// A program is a list of ops <c>struct inet_diag_bc_op { u8 code; u8 yes; u16 no; }</c>: when the condition holds
/// the kernel moves <c>yes</c> bytes on, otherwise <c>no</c> bytes; a socket is accepted when it lands exactly on
/// the end, rejected when it jumps 4 bytes past it. Every fragment built here keeps that shape: its ops step forward
/// by their own size on success (the kernel's audit, valid_cc, only accepts jump targets on that chain), and every
/// failure jump lands at the fragment's end + 4. AND concatenates fragments and moves the first one's failure jumps
/// to the new end; OR puts a JMP between them (the shape ss builds).
/// </remarks>
public sealed class InetDiagBytecode
{
    public const byte NOP = 0, JMP = 1, S_GE = 2, S_LE = 3, D_GE = 4, D_LE = 5, AUTO = 6, S_COND = 7, D_COND = 8,
        DEV_COND = 9, MARK_COND = 10, S_EQ = 11, D_EQ = 12, CGROUP_COND = 13;

    private InetDiagBytecode(byte[] code, string text)
    {
        Code = code;
        Text = text;
    }

    public byte[] Code { get; }

    /// <summary>The conditions in words, for -Verbose.</summary>
    public string Text { get; }

    public static InetDiagBytecode LocalPortEquals(int port) => Port(S_EQ, port, $"sport == {port}");
    public static InetDiagBytecode RemotePortEquals(int port) => Port(D_EQ, port, $"dport == {port}");

    /// <summary>The socket's local (source) or remote (destination) address inside a prefix, IPv4 or IPv6.</summary>
    public static InetDiagBytecode Address(bool local, IPAddress network, int prefixLength)
    {
        byte[] addr = network.GetAddressBytes();
        int size = 4 + 8 + addr.Length;
        var b = new byte[size];
        b[0] = local ? S_COND : D_COND;
        b[1] = (byte)size;
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(2), (ushort)(size + 4));
        // struct inet_diag_hostcond { u8 family; u8 prefix_len; int port; __be32 addr[]; }, port -1 = any.
        b[4] = addr.Length == 4 ? SockDiag.AF_INET : SockDiag.AF_INET6;
        b[5] = (byte)prefixLength;
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(8), -1);
        addr.CopyTo(b, 12);
        return new InetDiagBytecode(b, $"{(local ? "src" : "dst")} {network}/{prefixLength}");
    }

    private static InetDiagBytecode Port(byte code, int port, string text)
    {
        var b = new byte[8];
        b[0] = code;
        b[1] = 8;
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(2), 12);
        // The second op only carries the port in its 'no' field.
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(6), (ushort)port);
        return new InetDiagBytecode(b, text);
    }

    /// <summary>All of the fragments. Null when the list is empty.</summary>
    public static InetDiagBytecode? And(IReadOnlyList<InetDiagBytecode> parts)
    {
        if (parts.Count == 0) return null;
        var acc = parts[0];
        for (int i = 1; i < parts.Count; i++)
        {
            var a = acc.Code;
            var b = parts[i].Code;
            var c = new byte[a.Length + b.Length];
            a.CopyTo(c, 0);
            b.CopyTo(c, a.Length);
            // The first fragment's failures pointed to its end + 4: make them point to the new end + 4.
            ForEachOp(c.AsSpan(0, a.Length), (offset, no) => offset + no == a.Length + 4 ? no + b.Length : no);
            acc = new InetDiagBytecode(c, acc.Text + " and " + Paren(parts[i].Text));
        }
        return parts.Count == 1 ? acc : new InetDiagBytecode(acc.Code, string.Join(" and ", parts.Select(p => Paren(p.Text))));
    }

    /// <summary>Any of the fragments. Null when the list is empty.</summary>
    public static InetDiagBytecode? Or(IReadOnlyList<InetDiagBytecode> parts)
    {
        if (parts.Count == 0) return null;
        var acc = parts[^1];
        for (int i = parts.Count - 2; i >= 0; i--)
        {
            var a = parts[i].Code;
            var b = acc.Code;
            var c = new byte[a.Length + 4 + b.Length];
            a.CopyTo(c, 0);
            // A reached the end of its fragment (success): jump over B to the end. A's failures land on B.
            c[a.Length] = JMP;
            c[a.Length + 1] = 4;
            BinaryPrimitives.WriteUInt16LittleEndian(c.AsSpan(a.Length + 2), (ushort)(b.Length + 4));
            b.CopyTo(c, a.Length + 4);
            acc = new InetDiagBytecode(c, "");
        }
        return new InetDiagBytecode(acc.Code, string.Join(" or ", parts.Select(p => p.Text)));
    }

    private static string Paren(string s) => s.Contains(" or ", StringComparison.Ordinal) ? "(" + s + ")" : s;

    /// <summary>Walks the ops of a fragment along their success chain and rewrites each 'no' offset.</summary>
    private static void ForEachOp(Span<byte> code, Func<int, int, int> rewrite)
    {
        int offset = 0;
        while (offset < code.Length)
        {
            byte op = code[offset];
            int yes = code[offset + 1];
            int no = BinaryPrimitives.ReadUInt16LittleEndian(code[(offset + 2)..]);
            if (op != NOP) BinaryPrimitives.WriteUInt16LittleEndian(code[(offset + 2)..], checked((ushort)rewrite(offset, no)));
            if (yes < 4) throw new InvalidOperationException("inet_diag op without a forward step");
            offset += yes;
        }
    }

    /// <summary>
    /// Runs a program the way the kernel does (inet_diag_bc_run) on one socket's ports and addresses: for tests, and
    /// to check that what we send means what we think.
    /// </summary>
    public static bool Run(ReadOnlySpan<byte> code, int sport, int dport, IPAddress source, IPAddress destination)
    {
        int pos = 0, len = code.Length;
        while (len > 0)
        {
            var op = code[pos..];
            bool yes = true;
            switch (op[0])
            {
                case NOP: break;
                case JMP: yes = false; break;
                case S_EQ: yes = sport == BinaryPrimitives.ReadUInt16LittleEndian(op[6..]); break;
                case D_EQ: yes = dport == BinaryPrimitives.ReadUInt16LittleEndian(op[6..]); break;
                case S_GE: yes = sport >= BinaryPrimitives.ReadUInt16LittleEndian(op[6..]); break;
                case S_LE: yes = sport <= BinaryPrimitives.ReadUInt16LittleEndian(op[6..]); break;
                case D_GE: yes = dport >= BinaryPrimitives.ReadUInt16LittleEndian(op[6..]); break;
                case D_LE: yes = dport <= BinaryPrimitives.ReadUInt16LittleEndian(op[6..]); break;
                case S_COND:
                case D_COND:
                {
                    byte family = op[4];
                    int prefix = op[5];
                    var addr = op[0] == S_COND ? source : destination;
                    byte[] a = addr.GetAddressBytes();
                    var cond = op.Slice(12, family == SockDiag.AF_INET ? 4 : 16);
                    if (family == SockDiag.AF_INET && a.Length == 16 && addr.IsIPv4MappedToIPv6) a = addr.MapToIPv4().GetAddressBytes();
                    if (a.Length != cond.Length) { yes = false; break; }
                    yes = PrefixMatches(a, cond, prefix);
                    break;
                }
                default: throw new InvalidOperationException($"inet_diag op {op[0]} not supported by the interpreter");
            }
            int step = yes ? op[1] : BinaryPrimitives.ReadUInt16LittleEndian(op[2..]);
            pos += step;
            len -= step;
        }
        return len == 0;
    }

    private static bool PrefixMatches(ReadOnlySpan<byte> a, ReadOnlySpan<byte> prefix, int bits)
    {
        int full = bits / 8, rest = bits % 8;
        if (!a[..full].SequenceEqual(prefix[..full])) return false;
        if (rest == 0) return true;
        byte mask = (byte)(0xff << (8 - rest));
        return (a[full] & mask) == (prefix[full] & mask);
    }
}
