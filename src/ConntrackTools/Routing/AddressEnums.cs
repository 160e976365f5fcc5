using System;

namespace ConntrackTools;

/// <summary>Whether an address appeared or went away. 64-bit so that ConvertTo-Json writes the names.</summary>
public enum AddressChange : long
{
    /// <summary>RTM_NEWADDR (also every address listed by -IncludeExisting).</summary>
    Added = 1,
    /// <summary>RTM_DELADDR.</summary>
    Removed = 2,
}

/// <summary>Address scope (enum rt_scope_t, linux/rtnetlink.h); other numbers are site-defined scopes.</summary>
public enum AddressScope : long
{
    /// <summary>RT_SCOPE_UNIVERSE: valid everywhere ('scope global' in ip address).</summary>
    Global = 0,
    /// <summary>RT_SCOPE_SITE.</summary>
    Site = 200,
    /// <summary>RT_SCOPE_LINK: valid on this link only (fe80::/10).</summary>
    Link = 253,
    /// <summary>RT_SCOPE_HOST: valid inside this host (127.0.0.1, ::1).</summary>
    Host = 254,
    /// <summary>RT_SCOPE_NOWHERE.</summary>
    Nowhere = 255,
}

/// <summary>Address flags (IFA_F_*, linux/if_addr.h). 64-bit so that ConvertTo-Json writes the names.</summary>
[Flags]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1711", Justification = "Contract name (AddressChangeEvent.Flags), and the kernel calls them IFA_F_* flags.")]
public enum AddressFlags : long
{
    None = 0,
    /// <summary>IFA_F_SECONDARY: a further address in an IPv4 subnet already on the interface; for IPv6 the same bit is IFA_F_TEMPORARY (a privacy address).</summary>
    Secondary = 0x01,
    /// <summary>IFA_F_NODAD: no duplicate address detection.</summary>
    NoDad = 0x02,
    /// <summary>IFA_F_OPTIMISTIC: optimistic DAD.</summary>
    Optimistic = 0x04,
    /// <summary>IFA_F_DADFAILED: duplicate address detection failed.</summary>
    DadFailed = 0x08,
    /// <summary>IFA_F_HOMEADDRESS: Mobile IPv6 home address.</summary>
    HomeAddress = 0x10,
    /// <summary>IFA_F_DEPRECATED: preferred lifetime expired.</summary>
    Deprecated = 0x20,
    /// <summary>IFA_F_TENTATIVE: duplicate address detection still running.</summary>
    Tentative = 0x40,
    /// <summary>IFA_F_PERMANENT: configured, not learnt from router advertisements.</summary>
    Permanent = 0x80,
    /// <summary>IFA_F_MANAGETEMPADDR: the kernel makes temporary addresses from this prefix.</summary>
    ManageTempAddr = 0x100,
    /// <summary>IFA_F_NOPREFIXROUTE: no prefix route was added.</summary>
    NoPrefixRoute = 0x200,
    /// <summary>IFA_F_MCAUTOJOIN: multicast group joined automatically.</summary>
    McAutoJoin = 0x400,
    /// <summary>IFA_F_STABLE_PRIVACY: RFC 7217 stable privacy address.</summary>
    StablePrivacy = 0x800,
}
