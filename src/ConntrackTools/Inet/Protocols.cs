using System;
using System.Globalization;

namespace ConntrackTools.Inet;

/// <summary>Names of IP protocols and of the connection states the kernel tracks for them.</summary>
public static class Protocols
{
    public const byte Icmp = 1, Tcp = 6, Udp = 17, Dccp = 33, Gre = 47, IcmpV6 = 58, Sctp = 132, UdpLite = 136;

    private static readonly string[] NumberStrings = CreateNumberStrings();

    /// <summary>tcp, udp, icmp, icmpv6, sctp, dccp, gre, udplite, or the number as text.</summary>
    public static string Name(byte number) => number switch
    {
        Tcp => "tcp",
        Udp => "udp",
        Icmp => "icmp",
        IcmpV6 => "icmpv6",
        Sctp => "sctp",
        Dccp => "dccp",
        Gre => "gre",
        UdpLite => "udplite",
        _ => NumberStrings[number],
    };

    /// <summary>Parses a protocol name (as <see cref="Name"/> gives, case-insensitive) or a number 0-255.</summary>
    public static bool TryParse(string text, out byte number)
    {
        number = 0;
        if (string.IsNullOrWhiteSpace(text)) return false;
        switch (text.Trim().ToLowerInvariant())
        {
            case "tcp": number = Tcp; return true;
            case "udp": number = Udp; return true;
            case "icmp": number = Icmp; return true;
            case "icmpv6": case "ipv6-icmp": number = IcmpV6; return true;
            case "sctp": number = Sctp; return true;
            case "dccp": number = Dccp; return true;
            case "gre": number = Gre; return true;
            case "udplite": number = UdpLite; return true;
        }
        if (byte.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out number)) return true;
        return ProtocolDatabase.TryLookup(text.Trim(), out number);
    }

    public static readonly string[] KnownNames = ["tcp", "udp", "icmp", "icmpv6", "sctp", "dccp", "gre", "udplite"];

    /// <summary>Protocols whose tuple carries source and destination ports.</summary>
    public static bool HasPorts(byte number) => number is Tcp or Udp or Sctp or Dccp or UdpLite;

    // enum tcp_conntrack (linux/netfilter/nf_conntrack_tcp.h); names as conntrack -L prints them.
    public static readonly string[] TcpStates =
        ["NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"];

    // enum sctp_conntrack (linux/netfilter/nf_conntrack_sctp.h)
    public static readonly string[] SctpStates =
        ["NONE", "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED", "SHUTDOWN_SENT", "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT", "HEARTBEAT_SENT", "HEARTBEAT_ACKED"];

    // enum ct_dccp_states (include/linux/netfilter/nf_conntrack_dccp.h)
    public static readonly string[] DccpStates =
        ["NONE", "REQUEST", "RESPOND", "PARTOPEN", "OPEN", "CLOSEREQ", "CLOSING", "TIME_WAIT", "IGNORE", "INVALID"];

    /// <summary>conntrack's name for TCP state 9 (SYN_SENT2) on its command line.</summary>
    public const string TcpListen = "LISTEN";

    public static string StateName(string[] table, byte state) => state < table.Length ? table[state] : NumberStrings[state];

    /// <summary>The state number for a name in any of the tables, for New-Conntrack -State.</summary>
    public static bool TryParseState(byte protocol, string name, out byte state)
    {
        string[]? table = protocol switch { Tcp => TcpStates, Sctp => SctpStates, Dccp => DccpStates, _ => null };
        state = 0;
        if (table is null || string.IsNullOrEmpty(name)) return false;
        // conntrack takes LISTEN for TCP state 9, which the kernel and conntrack -L call SYN_SENT2.
        if (protocol == Tcp && string.Equals(name, TcpListen, StringComparison.OrdinalIgnoreCase)) { state = 9; return true; }
        int i = Array.FindIndex(table, s => string.Equals(s, name, StringComparison.OrdinalIgnoreCase));
        if (i < 0) return false;
        state = (byte)i;
        return true;
    }

    private static string[] CreateNumberStrings()
    {
        var a = new string[256];
        for (int i = 0; i < 256; i++) a[i] = i.ToString(CultureInfo.InvariantCulture);
        return a;
    }
}
