using System.Runtime.InteropServices;

namespace ConntrackTools.Netlink;

/// <summary>One classic BPF instruction, laid out as struct sock_filter (linux/filter.h).</summary>
[StructLayout(LayoutKind.Sequential)]
public readonly record struct SocketFilterInstruction(ushort Code, byte JumpTrue, byte JumpFalse, uint K);

/// <summary>
/// Classic BPF opcodes (linux/bpf_common.h) and the netlink ancillary loads (linux/filter.h) a socket filter on a
/// netlink socket uses: SKF_AD_NLATTR finds an attribute by type, SKF_AD_NLATTR_NEST one inside a nested attribute.
/// The program sees one message per broadcast, nlmsghdr at offset 0; it returns the bytes to keep (0 drops).
/// </summary>
public static class Bpf
{
    // instruction classes
    public const ushort LD = 0x00, LDX = 0x01, ALU = 0x04, JMP = 0x05, RET = 0x06, MISC = 0x07;
    // load sizes
    public const ushort W = 0x00, H = 0x08, B = 0x10;
    // load modes
    public const ushort IMM = 0x00, ABS = 0x20, IND = 0x40;
    // ALU and jump operations, operand source
    public const ushort AND = 0x50, JEQ = 0x10, K = 0x00;
    // MISC: X = A
    public const ushort TAX = 0x00;

    /// <summary>SKF_AD_OFF (-0x1000) as the unsigned k of an ancillary load.</summary>
    public const uint SKF_AD_OFF = 0xFFFFF000;
    /// <summary>A = offset of the attribute of type X in the attributes starting at offset A, or 0.</summary>
    public const uint SKF_AD_NLATTR = 12;
    /// <summary>A = offset of the attribute of type X nested in the attribute at offset A, or 0.</summary>
    public const uint SKF_AD_NLATTR_NEST = 16;

    /// <summary>Keep the whole message (a shorter length would truncate it).</summary>
    public const uint Accept = uint.MaxValue;
    public const uint Drop = 0;
}
