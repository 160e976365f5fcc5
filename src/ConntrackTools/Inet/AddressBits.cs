using System;
using System.Buffers.Binary;
using System.Net;

namespace ConntrackTools.Inet;

/// <summary>
/// An IPv4 or IPv6 address as a plain 128-bit value: IPv6 as its 16 bytes read big-endian, IPv4 as its 4 bytes read
/// big-endian in the low 32 bits. The family is kept beside the value (a flag), so 10.0.0.1 and ::10.0.0.1 stay different,
/// and zero is the unspecified address of either family.
/// What the engine stores and compares per entry instead of <see cref="IPAddress"/> objects: no allocation, and
/// equality is two integer compares.
/// </summary>
internal static class AddressBits
{
    /// <summary>The bits of 4 or 16 network-order bytes; <paramref name="v6"/> says which.</summary>
    public static UInt128 FromBytes(ReadOnlySpan<byte> bytes, out bool v6)
    {
        v6 = bytes.Length == 16;
        if (v6) return BinaryPrimitives.ReadUInt128BigEndian(bytes);
        if (bytes.Length != 4) throw new ArgumentException($"an address has 4 or 16 bytes, not {bytes.Length}", nameof(bytes));
        return BinaryPrimitives.ReadUInt32BigEndian(bytes);
    }

    public static UInt128 Of(IPAddress address, out bool v6)
    {
        Span<byte> bytes = stackalloc byte[16];
        if (!address.TryWriteBytes(bytes, out int n)) throw new ArgumentException("not an IP address", nameof(address));
        return FromBytes(bytes[..n], out v6);
    }

    /// <summary>The address these bits hold (the shared Any objects for all-zero addresses).</summary>
    public static IPAddress ToAddress(UInt128 bits, bool v6)
    {
        if (v6)
        {
            if (bits == UInt128.Zero) return IPAddress.IPv6Any;
            Span<byte> bytes = stackalloc byte[16];
            BinaryPrimitives.WriteUInt128BigEndian(bytes, bits);
            return new IPAddress(bytes);
        }
        uint v4 = (uint)bits;
        if (v4 == 0) return IPAddress.Any;
        Span<byte> b4 = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b4, v4);
        return new IPAddress(b4);
    }

    /// <summary>Writes the 4 or 16 network-order bytes; returns how many.</summary>
    public static int WriteBytes(UInt128 bits, bool v6, Span<byte> into)
    {
        if (v6)
        {
            BinaryPrimitives.WriteUInt128BigEndian(into, bits);
            return 16;
        }
        BinaryPrimitives.WriteUInt32BigEndian(into, (uint)bits);
        return 4;
    }
}
