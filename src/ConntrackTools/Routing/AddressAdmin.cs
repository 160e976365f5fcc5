using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using ConntrackTools.Netlink;

namespace ConntrackTools.Routing;

/// <summary>The interface named by the user does not exist in the namespace.</summary>
public sealed class InterfaceNotFoundException : Exception
{
    public InterfaceNotFoundException(string name, string? ns)
        : base($"There is no interface '{name}' in {(ns is null ? "this network namespace" : $"network namespace '{ns}'")}.")
    {
        InterfaceName = name;
    }

    public string InterfaceName { get; }
}

/// <summary>Adds, deletes and lists interface addresses over rtnetlink (RTM_NEWADDR / RTM_DELADDR / RTM_GETADDR).</summary>
public static partial class AddressAdmin
{
    public const ushort RTM_NEWADDR = 20;
    public const ushort RTM_DELADDR = 21;
    public const ushort RTM_GETADDR = 22;
    public const ushort IFA_ADDRESS = 1;
    public const ushort IFA_LOCAL = 2;
    public const byte RT_SCOPE_UNIVERSE = 0;

    [LibraryImport("libc", EntryPoint = "if_nametoindex", StringMarshalling = StringMarshalling.Utf8)]
    private static partial uint IfNameToIndex(string name);

    /// <summary>The index of an interface in the calling thread's namespace, or 0.</summary>
    public static int IndexOf(string name) => (int)IfNameToIndex(name);

    /// <summary>Adds <paramref name="address"/>/<paramref name="prefixLength"/> to the interface; EEXIST when present.</summary>
    public static void Add(NetlinkConnection route, int ifIndex, IPAddress address, int prefixLength) =>
        route.Execute(Request(RTM_NEWADDR, (ushort)(Nlmsg.F_CREATE | Nlmsg.F_EXCL), ifIndex, address, prefixLength), $"add address {address}/{prefixLength}");

    /// <summary>Deletes an address from the interface; ENOENT/EADDRNOTAVAIL when it is not there.</summary>
    public static void Delete(NetlinkConnection route, int ifIndex, IPAddress address, int prefixLength) =>
        route.Execute(Request(RTM_DELADDR, 0, ifIndex, address, prefixLength), $"delete address {address}/{prefixLength}");

    /// <summary>The addresses on one interface (IFA_LOCAL for IPv4, IFA_ADDRESS for IPv6).</summary>
    public static List<(IPAddress Address, int PrefixLength)> List(NetlinkConnection route, int ifIndex)
    {
        var list = new List<(IPAddress, int)>();
        var request = new MessageBuilder(RTM_GETADDR, 0, bigEndian: false).Raw(new byte[8]);
        route.Dump(request, "list addresses", (in NetlinkMessage m) =>
        {
            var p = m.Payload;
            if (p.Length < 8) throw new NetlinkDecodeException("RTM_NEWADDR without ifaddrmsg");
            byte family = p[0], prefix = p[1];
            int index = BitConverter.ToInt32(p[4..8]);
            if (index != ifIndex) return;
            var ad = new AttributeDecoder(p[8..], bigEndian: false);
            IPAddress? local = null, addr = null;
            int len = family == 10 ? 16 : 4;   // AF_INET6 (not .NET's AddressFamily.InterNetworkV6 = 23)
            while (ad.Next())
            {
                if (ad.Type == IFA_LOCAL) local = ad.Address(len);
                else if (ad.Type == IFA_ADDRESS) addr = ad.Address(len);
            }
            if (ad.Error is not null) throw new NetlinkDecodeException("RTM_NEWADDR: " + ad.Error);
            var a = local ?? addr;
            if (a is not null) list.Add((a, prefix));
        });
        return list;
    }

    private static MessageBuilder Request(ushort type, ushort flags, int ifIndex, IPAddress address, int prefixLength)
    {
        bool v6 = address.AddressFamily == AddressFamily.InterNetworkV6;
        Span<byte> ifaddrmsg = stackalloc byte[8];
        ifaddrmsg[0] = (byte)(v6 ? 10 : 2);          // ifa_family
        ifaddrmsg[1] = (byte)prefixLength;             // ifa_prefixlen
        ifaddrmsg[2] = 0;                              // ifa_flags
        ifaddrmsg[3] = RT_SCOPE_UNIVERSE;              // ifa_scope
        BitConverter.TryWriteBytes(ifaddrmsg[4..], ifIndex); // ifa_index (host order)
        var b = new MessageBuilder(type, flags, bigEndian: false).Raw(ifaddrmsg);
        b.Address(IFA_LOCAL, address);
        b.Address(IFA_ADDRESS, address);
        return b;
    }
}
