using System;
using System.Buffers.Binary;

namespace ConntrackTools.Netlink;

/// <summary>nlmsghdr constants (linux/netlink.h).</summary>
public static class Nlmsg
{
    public const int HeaderLength = 16;          // sizeof(struct nlmsghdr)

    public const ushort NOOP = 1;                // NLMSG_NOOP
    public const ushort ERROR = 2;               // NLMSG_ERROR
    public const ushort DONE = 3;                // NLMSG_DONE
    public const ushort OVERRUN = 4;             // NLMSG_OVERRUN

    public const ushort F_REQUEST = 0x01;        // NLM_F_REQUEST
    public const ushort F_MULTI = 0x02;          // NLM_F_MULTI
    public const ushort F_ACK = 0x04;            // NLM_F_ACK
    public const ushort F_ECHO = 0x08;           // NLM_F_ECHO
    public const ushort F_DUMP_INTR = 0x10;      // NLM_F_DUMP_INTR
    public const ushort F_DUMP_FILTERED = 0x20;  // NLM_F_DUMP_FILTERED
    public const ushort F_ROOT = 0x100;          // NLM_F_ROOT
    public const ushort F_MATCH = 0x200;         // NLM_F_MATCH
    public const ushort F_DUMP = F_ROOT | F_MATCH; // NLM_F_DUMP
    public const ushort F_REPLACE = 0x100;       // NLM_F_REPLACE (for NEW requests)
    public const ushort F_EXCL = 0x200;          // NLM_F_EXCL
    public const ushort F_CREATE = 0x400;        // NLM_F_CREATE
    public const ushort F_CAPPED = 0x100;        // NLM_F_CAPPED (in ACK/ERROR flags)
    public const ushort F_ACK_TLVS = 0x200;      // NLM_F_ACK_TLVS

    public const ushort NLMSGERR_ATTR_MSG = 1;   // enum nlmsgerr_attrs

    public static int Align(int len) => (len + 3) & ~3;
}

/// <summary>One netlink message inside a received datagram: header fields and the payload after the header.</summary>
public readonly ref struct NetlinkMessage
{
    public NetlinkMessage(ReadOnlySpan<byte> whole)
    {
        Length = BinaryPrimitives.ReadUInt32LittleEndian(whole);
        Type = BinaryPrimitives.ReadUInt16LittleEndian(whole[4..]);
        Flags = BinaryPrimitives.ReadUInt16LittleEndian(whole[6..]);
        Sequence = BinaryPrimitives.ReadUInt32LittleEndian(whole[8..]);
        PortId = BinaryPrimitives.ReadUInt32LittleEndian(whole[12..]);
        Payload = whole[Nlmsg.HeaderLength..(int)Length];
    }

    public uint Length { get; }
    public ushort Type { get; }
    public ushort Flags { get; }
    public uint Sequence { get; }
    public uint PortId { get; }
    public ReadOnlySpan<byte> Payload { get; }

    public bool IsError => Type == Nlmsg.ERROR;
    public bool IsDone => Type == Nlmsg.DONE;

    /// <summary>For NLMSG_ERROR: the (positive) errno, or 0 for an ACK.</summary>
    public int ErrorCode => Payload.Length >= 4 ? -BinaryPrimitives.ReadInt32LittleEndian(Payload) : Errno.EIO;

    /// <summary>For NLMSG_ERROR with NLM_F_ACK_TLVS: the kernel's extended-ack text, if any.</summary>
    public string? ExtendedAckMessage()
    {
        if ((Flags & Nlmsg.F_ACK_TLVS) == 0 || Payload.Length < 4 + Nlmsg.HeaderLength)
            return null;
        // nlmsgerr = { int error; struct nlmsghdr msg; [payload unless NLM_F_CAPPED] } then TLVs.
        int offset = 4 + Nlmsg.HeaderLength;
        if ((Flags & Nlmsg.F_CAPPED) == 0)
        {
            uint origLen = BinaryPrimitives.ReadUInt32LittleEndian(Payload[4..]);
            offset = 4 + Nlmsg.Align((int)Math.Min(origLen, (uint)(Payload.Length - 4)));
        }
        if (offset >= Payload.Length) return null;
        var ad = new AttributeDecoder(Payload[offset..], bigEndian: false);
        string? msg = null;
        while (ad.Next())
            if (ad.Type == Nlmsg.NLMSGERR_ATTR_MSG) msg = ad.String();
        return ad.Error is null ? msg : null;
    }
}

/// <summary>Walks the netlink messages in one datagram. Malformed lengths raise <see cref="NetlinkDecodeException"/>.</summary>
public ref struct NetlinkMessageReader
{
    private readonly ReadOnlySpan<byte> _data;
    private int _offset;

    public NetlinkMessageReader(ReadOnlySpan<byte> datagram)
    {
        _data = datagram;
        _offset = 0;
        Current = default;
    }

    public NetlinkMessage Current { get; private set; }

    public bool Next()
    {
        if (_offset >= _data.Length) return false;
        int remaining = _data.Length - _offset;
        if (remaining < Nlmsg.HeaderLength)
            throw new NetlinkDecodeException($"netlink datagram has {remaining} trailing bytes, less than a header");
        uint len = BinaryPrimitives.ReadUInt32LittleEndian(_data[_offset..]);
        if (len < Nlmsg.HeaderLength || len > remaining)
            throw new NetlinkDecodeException($"netlink message length {len} out of range (remaining {remaining})");
        Current = new NetlinkMessage(_data.Slice(_offset, (int)len));
        _offset += Math.Min(Nlmsg.Align((int)len), remaining);
        return true;
    }
}
