using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using ConntrackTools.Conntrack;
using ConntrackTools.Inet;
using ConntrackTools.Sockets;
using Xunit;

namespace ConntrackTools.Tests;

/// <summary>The inet_diag filter programs: accepted by the kernel's audit rules and meaning what the query means.</summary>
public class InetDiagBytecodeTests
{
    /// <summary>The structural rules of inet_diag_bc_audit/valid_cc (net/ipv4/inet_diag.c) for the ops we emit.</summary>
    private static void Audit(byte[] bc)
    {
        int len = bc.Length, pos = 0;
        while (len > 0)
        {
            byte code = bc[pos];
            int yes = bc[pos + 1], no = BinaryPrimitives.ReadUInt16LittleEndian(bc.AsSpan(pos + 2));
            int min = code switch
            {
                InetDiagBytecode.S_COND or InetDiagBytecode.D_COND => 4 + 8 + (bc[pos + 4] == SockDiag.AF_INET ? 4 : 16),
                InetDiagBytecode.S_EQ or InetDiagBytecode.D_EQ => 8,
                InetDiagBytecode.JMP => 4,
                _ => throw new Xunit.Sdk.XunitException($"op {code} not expected"),
            };
            Assert.True(no >= min && no <= len + 4 && (no & 3) == 0, $"bad 'no' {no} at {pos}");
            if (no < len) Assert.True(ValidCc(bc, len - no), $"'no' of op at {pos} does not land on an op");
            Assert.True(yes >= min && yes <= len + 4 && (yes & 3) == 0, $"bad 'yes' {yes} at {pos}");
            pos += yes;
            len -= yes;
        }
        Assert.Equal(0, len);
    }

    private static bool ValidCc(byte[] bc, int cc)
    {
        int len = bc.Length, pos = 0;
        while (len >= 0)
        {
            if (cc > len) return false;
            if (cc == len) return true;
            int yes = bc[pos + 1];
            if (yes < 4 || (yes & 3) != 0) return false;
            len -= yes;
            pos += yes;
        }
        return false;
    }

    public static IEnumerable<object[]> Queries()
    {
        yield return new object[] { new SocketQuery { RemotePort = [8899] } };
        yield return new object[] { new SocketQuery { LocalPort = [22, 53, 8899] } };
        yield return new object[] { new SocketQuery { LocalPort = [8899], RemotePort = [1000, 2000] } };
        yield return new object[] { new SocketQuery { RemoteAddress = [AddressMatch.Parse("10.0.0.0/8"), AddressMatch.Parse("fd00::/8")], LocalPort = [80, 443] } };
        yield return new object[] { new SocketQuery { LocalAddress = [AddressMatch.Parse("127.0.0.1")], RemoteAddress = [AddressMatch.Parse("192.168.0.0/16")], RemotePort = [5, 6, 7] } };
        yield return new object[] { new SocketQuery { LocalAddress = [AddressMatch.Parse("::1"), AddressMatch.Parse("10.1.2.0/24")] } };
    }

    [Theory]
    [MemberData(nameof(Queries))]
    public void Programs_PassTheKernelsAudit_AndMatchTheUserSpaceFilter(SocketQuery q)
    {
        var rng = new Random(15);
        IPAddress[] v4 = new[] { "127.0.0.1", "10.0.0.5", "10.1.2.3", "192.168.1.1", "8.8.8.8" }.Select(IPAddress.Parse).ToArray();
        IPAddress[] v6 = new[] { "::1", "fd00::5", "2001:db8::1", "::ffff:10.1.2.9", "::ffff:192.168.3.3" }.Select(IPAddress.Parse).ToArray();
        int[] ports = [5, 6, 22, 53, 80, 443, 1000, 2000, 8899, 40000];
        foreach (byte family in new[] { SockDiag.AF_INET, SockDiag.AF_INET6 })
        {
            var bc = q.Bytecode(family);
            Assert.NotNull(bc);
            Audit(bc!.Code);
            var pool = family == SockDiag.AF_INET ? v4 : v6;
            for (int i = 0; i < 2000; i++)
            {
                var (src, dst) = (pool[rng.Next(pool.Length)], pool[rng.Next(pool.Length)]);
                int sp = ports[rng.Next(ports.Length)], dp = ports[rng.Next(ports.Length)];
                bool kernel = InetDiagBytecode.Run(bc.Code, sp, dp, src, dst);
                bool user = q.Matches(family, sp, src, dp, dst);
                Assert.True(kernel == user, $"{src}:{sp} -> {dst}:{dp}: program {kernel}, user space {user} ({bc.Text})");
            }
        }
    }

    [Fact]
    public void SinglePort_IsTheShapeSsSends()
    {
        // ss -tan 'dport = :8899' sends D_EQ {12, yes 8, no 12} and a second op carrying the port.
        var bc = InetDiagBytecode.RemotePortEquals(8899).Code;
        Assert.Equal(new byte[] { 12, 8, 12, 0, 0, 0, 0xc3, 0x22 }, bc);
    }

    [Fact]
    public void Prefix_IsAHostCondition()
    {
        var bc = InetDiagBytecode.Address(local: false, IPAddress.Parse("10.232.0.0"), 16).Code;
        Assert.Equal(16, bc.Length);   // op 4 + inet_diag_hostcond 8 + IPv4 address 4
        Assert.Equal(InetDiagBytecode.D_COND, bc[0]);
        Assert.Equal(SockDiag.AF_INET, bc[4]);
        Assert.Equal(16, bc[5]);
        Assert.Equal(-1, BinaryPrimitives.ReadInt32LittleEndian(bc.AsSpan(8)));
        Assert.Equal(new byte[] { 10, 232, 0, 0 }, bc[12..]);
    }
}
