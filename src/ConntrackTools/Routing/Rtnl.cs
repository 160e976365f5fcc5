namespace ConntrackTools.Routing;

/// <summary>
/// rtnetlink wire constants, named after linux/rtnetlink.h, linux/if_addr.h and linux/if_link.h.
/// Unlike netfilter's, rtnetlink headers and attributes are in host byte order.
/// </summary>
internal static class Rtnl
{
    // enum rtm_type (message types)
    public const ushort RTM_NEWLINK = 16;
    public const ushort RTM_DELLINK = 17;
    public const ushort RTM_GETLINK = 18;
    public const ushort RTM_NEWADDR = 20;
    public const ushort RTM_DELADDR = 21;
    public const ushort RTM_GETADDR = 22;

    // enum rtnetlink_groups
    public const int RTNLGRP_LINK = 1;
    public const int RTNLGRP_IPV4_IFADDR = 5;
    public const int RTNLGRP_IPV6_IFADDR = 9;

    // struct ifaddrmsg { u8 ifa_family; u8 ifa_prefixlen; u8 ifa_flags; u8 ifa_scope; u32 ifa_index; }
    public const int IfAddrMsgLength = 8;

    // enum ifa attributes
    public const ushort IFA_ADDRESS = 1;   // the peer on point-to-point links, else the same as IFA_LOCAL
    public const ushort IFA_LOCAL = 2;     // the interface's own address (IPv4; IPv6 only on point-to-point)
    public const ushort IFA_LABEL = 3;     // IPv4 only: interface name or alias (eth0:vip)
    public const ushort IFA_BROADCAST = 4;
    public const ushort IFA_ANYCAST = 5;
    public const ushort IFA_CACHEINFO = 6;
    public const ushort IFA_MULTICAST = 7;
    public const ushort IFA_FLAGS = 8;     // u32 with all IFA_F_* bits; ifa_flags holds only the low 8

    // struct ifinfomsg { u8 ifi_family; u8 pad; u16 ifi_type; s32 ifi_index; u32 ifi_flags; u32 ifi_change; }
    public const int IfInfoMsgLength = 16;

    // enum ifla attributes
    public const ushort IFLA_IFNAME = 3;

    // Address families (linux/socket.h)
    public const byte AF_UNSPEC = 0;
    public const byte AF_INET = 2;
    public const byte AF_INET6 = 10;
}
