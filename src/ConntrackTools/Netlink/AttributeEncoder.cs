using System;
using System.Buffers.Binary;
using System.Net;
using System.Text;

namespace ConntrackTools.Netlink;

/// <summary>
/// Builds a netlink request: the nlmsghdr, a family header, then attributes (nested ones through
/// <see cref="BeginNested"/>/<see cref="EndNested"/>). Integers follow <see cref="BigEndian"/>.
/// </summary>
public sealed class MessageBuilder
{
    private byte[] _buf = new byte[256];
    private int _len;

    public MessageBuilder(ushort type, ushort flags, bool bigEndian)
    {
        BigEndian = bigEndian;
        _len = Nlmsg.HeaderLength;
        BinaryPrimitives.WriteUInt16LittleEndian(_buf.AsSpan(4), type);
        BinaryPrimitives.WriteUInt16LittleEndian(_buf.AsSpan(6), flags);
    }

    public bool BigEndian { get; }

    public ushort Type => BinaryPrimitives.ReadUInt16LittleEndian(_buf.AsSpan(4));

    public ushort Flags
    {
        get => BinaryPrimitives.ReadUInt16LittleEndian(_buf.AsSpan(6));
        set => BinaryPrimitives.WriteUInt16LittleEndian(_buf.AsSpan(6), value);
    }

    /// <summary>Appends raw bytes (a family header such as nfgenmsg or ifaddrmsg), padded to 4.</summary>
    public MessageBuilder Raw(ReadOnlySpan<byte> bytes)
    {
        var dst = Reserve(Nlmsg.Align(bytes.Length));
        bytes.CopyTo(dst);
        return this;
    }

    /// <summary>nfgenmsg: family, version 0 (NFNETLINK_V0), res_id (big-endian).</summary>
    public MessageBuilder NfGenMsg(byte family, ushort resId = 0)
    {
        Span<byte> h = stackalloc byte[4];
        h[0] = family;
        h[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(h[2..], resId);
        return Raw(h);
    }

    public MessageBuilder Bytes(ushort type, ReadOnlySpan<byte> value)
    {
        int total = AttributeDecoder.HeaderLength + value.Length;
        var dst = Reserve(Nlmsg.Align(total));
        BinaryPrimitives.WriteUInt16LittleEndian(dst, (ushort)total);
        BinaryPrimitives.WriteUInt16LittleEndian(dst[2..], type);
        value.CopyTo(dst[4..]);
        return this;
    }

    public MessageBuilder UInt8(ushort type, byte v) => Bytes(type, [v]);

    public MessageBuilder UInt16(ushort type, ushort v)
    {
        Span<byte> b = stackalloc byte[2];
        if (BigEndian) BinaryPrimitives.WriteUInt16BigEndian(b, v); else BinaryPrimitives.WriteUInt16LittleEndian(b, v);
        return Bytes(type, b);
    }

    public MessageBuilder UInt32(ushort type, uint v)
    {
        Span<byte> b = stackalloc byte[4];
        if (BigEndian) BinaryPrimitives.WriteUInt32BigEndian(b, v); else BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        return Bytes(type, b);
    }

    public MessageBuilder UInt64(ushort type, ulong v)
    {
        Span<byte> b = stackalloc byte[8];
        if (BigEndian) BinaryPrimitives.WriteUInt64BigEndian(b, v); else BinaryPrimitives.WriteUInt64LittleEndian(b, v);
        return Bytes(type, b);
    }

    public MessageBuilder Address(ushort type, IPAddress address)
    {
        Span<byte> b = stackalloc byte[16];
        address.TryWriteBytes(b, out int n);
        return Bytes(type, b[..n]);
    }

    public MessageBuilder String(ushort type, string value)
    {
        byte[] bytes = new byte[Encoding.UTF8.GetByteCount(value) + 1];
        Encoding.UTF8.GetBytes(value, bytes);
        return Bytes(type, bytes);
    }

    /// <summary>Opens a nested attribute (NLA_F_NESTED set); returns the offset to pass to <see cref="EndNested"/>.</summary>
    public int BeginNested(ushort type)
    {
        int start = _len;
        var dst = Reserve(AttributeDecoder.HeaderLength);
        BinaryPrimitives.WriteUInt16LittleEndian(dst[2..], (ushort)(type | AttributeDecoder.NLA_F_NESTED));
        return start;
    }

    public MessageBuilder EndNested(int start)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(_buf.AsSpan(start), (ushort)(_len - start));
        return this;
    }

    /// <summary>The message's length so far (header included).</summary>
    public int Length => _len;

    /// <summary>Finishes the message with the given sequence number into <paramref name="destination"/>; returns its length.</summary>
    public int WriteTo(Span<byte> destination, uint sequence, uint portId = 0)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_buf, (uint)_len);
        BinaryPrimitives.WriteUInt32LittleEndian(_buf.AsSpan(8), sequence);
        BinaryPrimitives.WriteUInt32LittleEndian(_buf.AsSpan(12), portId);
        _buf.AsSpan(0, _len).CopyTo(destination);
        return _len;
    }

    /// <summary>Finishes the message with the given sequence number and returns its bytes.</summary>
    public byte[] Build(uint sequence, uint portId = 0)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_buf, (uint)_len);
        BinaryPrimitives.WriteUInt32LittleEndian(_buf.AsSpan(8), sequence);
        BinaryPrimitives.WriteUInt32LittleEndian(_buf.AsSpan(12), portId);
        return _buf.AsSpan(0, _len).ToArray();
    }

    private Span<byte> Reserve(int n)
    {
        if (_len + n > _buf.Length) Array.Resize(ref _buf, Math.Max(_buf.Length * 2, _len + n));
        var span = _buf.AsSpan(_len, n);
        span.Clear();
        _len += n;
        return span;
    }
}
