using System;
using System.Buffers.Binary;
using System.Net;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace ConntrackTools.Netlink;

/// <summary>
/// Scans the netlink attributes (struct nlattr TLVs) of one message or nested attribute.
/// Works like a scanner: call <see cref="Next"/> in a loop, read the current attribute with a typed
/// getter, and check <see cref="Error"/> once after the loop. The first problem sticks and stops the
/// scan; nothing here throws on malformed input.
/// Netfilter attributes are big-endian (network order); rtnetlink attributes are host order.
/// </summary>
public ref struct AttributeDecoder
{
    public const ushort NLA_F_NESTED = 0x8000;
    public const ushort NLA_F_NET_BYTEORDER = 0x4000;
    public const ushort NLA_TYPE_MASK = 0x3fff;
    public const int HeaderLength = 4;

    private readonly ReadOnlySpan<byte> _data;
    private int _offset;
    private ReadOnlySpan<byte> _value;
    private ushort _rawType;

    public AttributeDecoder(ReadOnlySpan<byte> data, bool bigEndian)
    {
        _data = data;
        _offset = 0;
        _value = default;
        _rawType = 0;
        BigEndian = bigEndian;
        Error = null;
    }

    /// <summary>Byte order of integer getters (true for netfilter attributes).</summary>
    public bool BigEndian { get; set; }

    /// <summary>The first decode problem, or null.</summary>
    public string? Error { get; private set; }

    /// <summary>Attribute type with the NESTED and NET_BYTEORDER flags masked off.</summary>
    public readonly ushort Type => (ushort)(_rawType & NLA_TYPE_MASK);

    public readonly bool IsNested => (_rawType & NLA_F_NESTED) != 0;

    public readonly int Length => _value.Length;

    /// <summary>The raw value of the current attribute.</summary>
    public readonly ReadOnlySpan<byte> Bytes => _value;

    /// <summary>Advances to the next attribute. Returns false at the end or after an error.</summary>
    /// <remarks>
    /// Inlined into every decoder loop (a dump scans ten or more attributes an entry, millions of entries; the
    /// conntrack decoder reads the kernel's usual layout of a tuple and of TCP's protocol info without it): the
    /// header is one 32-bit read (nla_len in the low half, nla_type in the high half, host order as the kernel writes
    /// it), and the end, padding and damage are left to <see cref="NextRare"/>. After a failure the offset sits at the
    /// end, so a failed scan stays ended without a check of its own here.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Next()
    {
        int offset = _offset;
        int remaining = _data.Length - offset;
        if (remaining >= HeaderLength)
        {
            // Both reads are inside _data: offset + 4 <= length, and the value ends at offset + len <= length.
            ref byte at = ref Unsafe.Add(ref MemoryMarshal.GetReference(_data), offset);
            uint header = Unsafe.ReadUnaligned<uint>(ref at);
            if (!BitConverter.IsLittleEndian) header = BinaryPrimitives.ReverseEndianness(header);
            int len = (int)(header & 0xFFFF);
            if (len >= HeaderLength && len <= remaining)
            {
                _rawType = (ushort)(header >> 16);
                _value = MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref at, HeaderLength), len - HeaderLength);
                int padded = (len + 3) & ~3;
                _offset = offset + (padded < remaining ? padded : remaining);
                return true;
            }
        }
        return remaining > 0 && NextRare(remaining);
    }

    /// <summary>What <see cref="Next"/> does not inline: fewer bytes than a header left, or a length out of range.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool NextRare(int remaining)
    {
        if (remaining < HeaderLength)
        {
            // The kernel pads to 4 bytes; fewer than a header left over is damage, unless it is only padding.
            if (_data[_offset..].IndexOfAnyExcept((byte)0) < 0)
            {
                _offset = _data.Length;
                return false;
            }
            return Fail($"{remaining} trailing bytes after the last attribute");
        }
        ushort len = BinaryPrimitives.ReadUInt16LittleEndian(_data[_offset..]);
        return Fail($"attribute length {len} out of range at offset {_offset} (remaining {remaining})");
    }

    /// <summary>Records a problem (first one wins) and stops the scan.</summary>
    public bool Fail(string message)
    {
        Error ??= message;
        _offset = _data.Length;
        return false;
    }

    /// <summary>Copies the error of a nested decoder into this one, with context.</summary>
    public void Absorb(in AttributeDecoder nested, string context)
    {
        if (nested.Error is not null) Fail(context + ": " + nested.Error);
    }

    /// <summary>A decoder over the current attribute's payload, same byte order.</summary>
    public readonly AttributeDecoder Nested() => new(_value, BigEndian);

    public byte UInt8() => Check(1) ? _value[0] : (byte)0;

    public ushort UInt16()
    {
        if (!Check(2)) return 0;
        return BigEndian ? BinaryPrimitives.ReadUInt16BigEndian(_value) : BinaryPrimitives.ReadUInt16LittleEndian(_value);
    }

    public uint UInt32()
    {
        if (!Check(4)) return 0;
        return BigEndian ? BinaryPrimitives.ReadUInt32BigEndian(_value) : BinaryPrimitives.ReadUInt32LittleEndian(_value);
    }

    public ulong UInt64()
    {
        if (!Check(8)) return 0;
        return BigEndian ? BinaryPrimitives.ReadUInt64BigEndian(_value) : BinaryPrimitives.ReadUInt64LittleEndian(_value);
    }

    public int Int32() => unchecked((int)UInt32());

    /// <summary>A NUL-terminated (or unterminated) string.</summary>
    public string String()
    {
        var v = _value;
        int nul = v.IndexOf((byte)0);
        if (nul >= 0) v = v[..nul];
        return Encoding.UTF8.GetString(v);
    }

    /// <summary>An IPv4 (4 bytes) or IPv6 (16 bytes) address.</summary>
    public IPAddress? Address(int expectedLength)
    {
        if (!Check(expectedLength)) return null;
        return new IPAddress(_value);
    }

    /// <summary>
    /// The value's bytes when it has exactly <paramref name="expectedLength"/> of them (an address: 4 or 16); else
    /// the decoder fails and the span is empty.
    /// </summary>
    public ReadOnlySpan<byte> Sized(int expectedLength) => Check(expectedLength) ? _value : default;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Check(int size) => _value.Length == size || FailSize(size);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool FailSize(int size) => Fail($"attribute {Type} has {_value.Length} bytes, expected {size}");
}
