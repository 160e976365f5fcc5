using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using ConntrackTools.Netlink;

namespace ConntrackTools.Routing;

/// <summary>The interface named by the user does not exist in the namespace.</summary>
public sealed class InterfaceNotFoundException : ConntrackToolsException
{
    public InterfaceNotFoundException(string name, string? ns)
        : base(ErrorIds.InterfaceNotFound, ErrorKind.NotFound,
            $"There is no interface '{name}' in {(ns is null ? "this network namespace" : $"network namespace '{ns}'")}.", target: name)
    {
        InterfaceName = name;
    }

    public string InterfaceName { get; }
}

/// <summary>Adds, deletes and lists interface addresses over rtnetlink (RTM_NEWADDR / RTM_DELADDR / RTM_GETADDR).</summary>
public static partial class AddressAdmin
{
    private const byte RT_SCOPE_UNIVERSE = 0;

    [LibraryImport("libc", EntryPoint = "if_nametoindex", StringMarshalling = StringMarshalling.Utf8)]
    private static partial uint IfNameToIndex(string name);

    /// <summary>The index of an interface in the calling thread's namespace, or 0.</summary>
    public static int IndexOf(string name) => (int)IfNameToIndex(name);

    /// <summary>Adds <paramref name="address"/>/<paramref name="prefixLength"/> to the interface; EEXIST when present.</summary>
    public static void Add(NetlinkConnection route, int ifIndex, IPAddress address, int prefixLength) =>
        route.Execute(Request(Rtnl.RTM_NEWADDR, (ushort)(Nlmsg.F_CREATE | Nlmsg.F_EXCL), ifIndex, address, prefixLength), $"add address {address}/{prefixLength}");

    /// <summary>Deletes an address from the interface; ENOENT/EADDRNOTAVAIL when it is not there.</summary>
    public static void Delete(NetlinkConnection route, int ifIndex, IPAddress address, int prefixLength) =>
        route.Execute(Request(Rtnl.RTM_DELADDR, 0, ifIndex, address, prefixLength), $"delete address {address}/{prefixLength}");

    /// <summary>The addresses on one interface.</summary>
    public static List<(IPAddress Address, int PrefixLength)> List(NetlinkConnection route, int ifIndex)
    {
        var list = new List<(IPAddress, int)>();
        var request = new MessageBuilder(Rtnl.RTM_GETADDR, 0, bigEndian: false).Raw(new byte[Rtnl.IfAddrMsgLength]);
        route.Dump(request, "list addresses", (in NetlinkMessage m) =>
        {
            if (AddressDecoder.Decode(in m) is { } a && a.InterfaceIndex == ifIndex) list.Add((a.Address, a.PrefixLength));
        });
        return list;
    }

    private static MessageBuilder Request(ushort type, ushort flags, int ifIndex, IPAddress address, int prefixLength)
    {
        bool v6 = address.AddressFamily == AddressFamily.InterNetworkV6;
        Span<byte> ifaddrmsg = stackalloc byte[Rtnl.IfAddrMsgLength];
        ifaddrmsg[0] = (byte)(v6 ? 10 : 2);          // ifa_family
        ifaddrmsg[1] = (byte)prefixLength;             // ifa_prefixlen
        ifaddrmsg[2] = 0;                              // ifa_flags
        ifaddrmsg[3] = RT_SCOPE_UNIVERSE;              // ifa_scope
        BitConverter.TryWriteBytes(ifaddrmsg[4..], ifIndex); // ifa_index (host order)
        var b = new MessageBuilder(type, flags, bigEndian: false).Raw(ifaddrmsg);
        b.Address(Rtnl.IFA_LOCAL, address);
        b.Address(Rtnl.IFA_ADDRESS, address);
        return b;
    }
}
