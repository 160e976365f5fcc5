using System;
using ConntrackTools.Inet;
using ConntrackTools.Netlink;

namespace ConntrackTools.Conntrack;

/// <summary>What Set-Conntrack changes on an entry; null members stay as they are.</summary>
public sealed record ConntrackChange
{
    public TimeSpan? Timeout { get; init; }

    /// <summary>New mark: (mark &amp; ~MarkMask) | (Mark &amp; MarkMask), as conntrack -U --mark V/M.</summary>
    public uint? Mark { get; init; }
    public uint? MarkMask { get; init; }

    /// <summary>Status flags to add (the kernel never clears status bits through ctnetlink).</summary>
    public ConntrackStatus? AddStatus { get; init; }

    public int[]? AddLabels { get; init; }
    public int[]? RemoveLabels { get; init; }

    public bool IsEmpty => Timeout is null && Mark is null && AddStatus is null && AddLabels is null && RemoveLabels is null;

    /// <summary>The entry as it is after this change, as far as the change can tell (for "nothing to do" checks).</summary>
    public bool AlreadyApplied(ConntrackEntry e)
    {
        if (Timeout is not null) return false;
        if (Mark is uint m)
        {
            uint mask = MarkMask ?? uint.MaxValue;
            if (((e.Mark & ~mask) | (m & mask)) != e.Mark) return false;
        }
        if (AddStatus is ConntrackStatus s && (e.Status & s) != s) return false;
        if (AddLabels is not null && AddLabels.Length > 0)
            foreach (int b in AddLabels) if (e.Labels is null || Array.IndexOf(e.Labels, b) < 0) return false;
        if (RemoveLabels is not null && e.Labels is not null)
            foreach (int b in RemoveLabels) if (Array.IndexOf(e.Labels, b) >= 0) return false;
        return true;
    }
}

/// <summary>The ctnetlink requests beyond <see cref="ConntrackRequests"/>: lookups, changes, create-or-update, family flush.</summary>
public static class ConntrackMessages
{
    /// <summary>Status bits a user may ask for; the kernel owns the others (it refuses or ignores them).</summary>
    public const ConntrackStatus UserSettableStatus = ConntrackStatus.SeenReply | ConntrackStatus.Assured | ConntrackStatus.FixedTimeout;

    /// <summary>Bits of <paramref name="status"/> a user may not set, or None.</summary>
    public static ConntrackStatus KernelOwned(ConntrackStatus status) => status & ~(UserSettableStatus | ConntrackStatus.Confirmed);

    /// <summary>Labels are a 128-bit bitmap (NF_CT_LABELS_MAX_SIZE = 16 bytes).</summary>
    public const int MaxLabelBit = 127;

    /// <summary>IPCTNL_MSG_CT_GET of one entry by its original or reply tuple in a zone (conntrack -G).</summary>
    public static MessageBuilder Get(FlowTuple tuple, bool reply, ushort zone)
    {
        var b = new MessageBuilder(Cta.MessageType(Cta.IPCTNL_MSG_CT_GET), 0, bigEndian: true).NfGenMsg(FamilyOf(tuple));
        ConntrackRequests.Tuple(b, reply ? Cta.TUPLE_REPLY : Cta.TUPLE_ORIG, tuple);
        if (zone != 0) b.UInt16(Cta.ZONE, zone);
        return b;
    }

    /// <summary>
    /// IPCTNL_MSG_CT_NEW for a new entry. <paramref name="exclusive"/>: NLM_F_CREATE|NLM_F_EXCL (EEXIST when present,
    /// conntrack -I); otherwise NLM_F_CREATE alone, which updates an existing entry (conntrack -A). Any status is sent
    /// with IPS_CONFIRMED, as libnetfilter_conntrack does: the kernel refuses (EBUSY) a status that would unconfirm.
    /// </summary>
    public static MessageBuilder Create(ConntrackEntry e, bool exclusive)
    {
        var b = ConntrackRequests.New(e, create: true);
        if (!exclusive) b.Flags = Nlmsg.F_CREATE;
        if (e.Labels is { Length: > 0 } labels)
        {
            byte[] map = LabelBitmap(labels);
            b.Bytes(Cta.LABELS, map);
            b.Bytes(Cta.LABELS_MASK, map);
        }
        return b;
    }

    /// <summary>IPCTNL_MSG_CT_NEW without NLM_F_CREATE: the change, addressed by original tuple, zone and id.</summary>
    public static MessageBuilder Update(ConntrackEntry e, ConntrackChange c)
    {
        var b = new MessageBuilder(Cta.MessageType(Cta.IPCTNL_MSG_CT_NEW), 0, bigEndian: true).NfGenMsg(ConntrackRequests.FamilyOf(e));
        ConntrackRequests.Tuple(b, Cta.TUPLE_ORIG, e.Original);
        if (e.Zone != 0) b.UInt16(Cta.ZONE, e.Zone);
        if (e.Id != 0) b.UInt32(Cta.ID, e.Id);
        if (c.Timeout is TimeSpan t) b.UInt32(Cta.TIMEOUT, (uint)Math.Clamp(t.TotalSeconds, 0, uint.MaxValue));
        if (c.Mark is uint m)
        {
            uint mask = c.MarkMask ?? uint.MaxValue;
            b.UInt32(Cta.MARK, m & mask);
            if (c.MarkMask is not null) b.UInt32(Cta.MARK_MASK, mask);
        }
        // The kernel compares the whole word with the entry's status and refuses (EBUSY) to clear bits: send all of them.
        if (c.AddStatus is ConntrackStatus s) b.UInt32(Cta.STATUS, (uint)(e.Status | s | ConntrackStatus.Confirmed));
        if (c.AddLabels is not null || c.RemoveLabels is not null)
        {
            var add = c.AddLabels ?? [];
            var remove = c.RemoveLabels ?? [];
            byte[] value = LabelBitmap(add);
            byte[] mask = LabelBitmap([.. add, .. remove]);
            b.Bytes(Cta.LABELS, value);
            b.Bytes(Cta.LABELS_MASK, mask);
        }
        return b;
    }

    /// <summary>IPCTNL_MSG_CT_DELETE without a tuple: the whole table, or one family (nfgenmsg version 1 makes the kernel honour it).</summary>
    public static MessageBuilder Flush(IPFamily family)
    {
        var b = new MessageBuilder(Cta.MessageType(Cta.IPCTNL_MSG_CT_DELETE), 0, bigEndian: true);
        if (family == IPFamily.All) return b.NfGenMsg(0);
        return b.Raw([(byte)family, 1, 0, 0]);
    }

    /// <summary>CTA_LABELS bitmap: 32-bit host-order words, bit n of the label set in word n/32.</summary>
    public static byte[] LabelBitmap(int[] bits)
    {
        var words = new uint[4];
        foreach (int bit in bits)
        {
            if (bit is < 0 or > MaxLabelBit) throw new ArgumentOutOfRangeException(nameof(bits), $"label bit {bit} is outside 0-{MaxLabelBit}");
            words[bit / 32] |= 1u << (bit % 32);
        }
        var bytes = new byte[16];
        for (int i = 0; i < 4; i++) BitConverter.TryWriteBytes(bytes.AsSpan(4 * i), words[i]);
        return bytes;
    }

    internal static byte FamilyOf(FlowTuple t) =>
        t.SourceIP.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? (byte)10 : (byte)2;
}
