using System;
using System.Runtime.InteropServices;
using ConntrackTools.Netlink;

namespace ConntrackTools.Routing;

/// <summary>
/// The ids the caller's network namespace assigned to other namespaces (RTM_GETNSID with NETNSA_FD, as
/// 'ip netns list-id' shows them). The kernel assigns one when a link or socket crosses into the other namespace,
/// e.g. for a veth peer; -1 (NETNSA_NSID_NOT_ASSIGNED) means none.
/// </summary>
public sealed class NetNsIds : IDisposable
{
    // linux/rtnetlink.h, linux/net_namespace.h
    private const ushort RTM_GETNSID = 90;
    private const ushort NETNSA_NSID = 1;
    private const ushort NETNSA_FD = 3;
    private const int RtGenMsgLength = 4; // struct rtgenmsg { u8 rtgen_family; }, aligned to 4

    private readonly NetlinkConnection _conn;

    private NetNsIds(NetlinkConnection conn) => _conn = conn;

    /// <summary>Opens an rtnetlink socket in the calling thread's namespace (the caller's).</summary>
    public static NetNsIds Open() => new(new NetlinkConnection(NetlinkSocket.Open(NetlinkProtocol.Route)));

    /// <summary>The id assigned to the namespace at <paramref name="namespaceFile"/>, or null when none is (or it is gone).</summary>
    public int? Of(string namespaceFile)
    {
        Microsoft.Win32.SafeHandles.SafeFileHandle handle;
        try { handle = System.IO.File.OpenHandle(namespaceFile, System.IO.FileMode.Open, System.IO.FileAccess.Read); }
        catch (System.IO.IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
        try
        {
            int fd = (int)handle.DangerousGetHandle();
            var request = new MessageBuilder(RTM_GETNSID, 0, bigEndian: false).Raw(new byte[RtGenMsgLength]).UInt32(NETNSA_FD, (uint)fd);
            int? nsid = null;
            _conn.Request(request, "netnsid query", (in NetlinkMessage m) => nsid = Decode(m.Payload));
            return nsid is < 0 ? null : nsid;
        }
        catch (NetlinkException)
        {
            return null;
        }
        finally
        {
            handle.Dispose();
        }
    }

    /// <summary>NETNSA_NSID of an RTM_NEWNSID reply (rtgenmsg, then attributes in host byte order).</summary>
    internal static int? Decode(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < RtGenMsgLength) throw new NetlinkDecodeException("RTM_NEWNSID without rtgenmsg");
        var ad = new AttributeDecoder(payload[RtGenMsgLength..], bigEndian: false);
        int? nsid = null;
        while (ad.Next())
            if (ad.Type == NETNSA_NSID) nsid = unchecked((int)ad.UInt32());
        if (ad.Error is not null) throw new NetlinkDecodeException("RTM_NEWNSID: " + ad.Error);
        return nsid;
    }

    public void Dispose() => _conn.Dispose();
}
