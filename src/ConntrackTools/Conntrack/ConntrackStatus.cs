using System;

namespace ConntrackTools;

/// <summary>
/// Conntrack status bits (enum ip_conntrack_status, linux/netfilter/nf_conntrack_common.h).
/// 64-bit so that ConvertTo-Json writes the names, not a number (it does so for long-based enums).
/// </summary>
[Flags]
public enum ConntrackStatus : ulong
{
    None = 0,
    /// <summary>IPS_EXPECTED: an expected connection (of a helper's master).</summary>
    Expected = 1 << 0,
    /// <summary>IPS_SEEN_REPLY: packets seen in both directions.</summary>
    SeenReply = 1 << 1,
    /// <summary>IPS_ASSURED: never dropped early when the table is full.</summary>
    Assured = 1 << 2,
    /// <summary>IPS_CONFIRMED: the original packet left the box.</summary>
    Confirmed = 1 << 3,
    /// <summary>IPS_SRC_NAT: source NAT (masquerade) applies.</summary>
    SourceNat = 1 << 4,
    /// <summary>IPS_DST_NAT: destination NAT applies.</summary>
    DestinationNat = 1 << 5,
    /// <summary>IPS_SEQ_ADJUST: TCP sequence numbers are adjusted (helpers).</summary>
    SequenceAdjust = 1 << 6,
    /// <summary>IPS_SRC_NAT_DONE: source NAT set up.</summary>
    SourceNatDone = 1 << 7,
    /// <summary>IPS_DST_NAT_DONE: destination NAT set up.</summary>
    DestinationNatDone = 1 << 8,
    /// <summary>IPS_DYING: being removed.</summary>
    Dying = 1 << 9,
    /// <summary>IPS_FIXED_TIMEOUT: the timeout does not change.</summary>
    FixedTimeout = 1 << 10,
    /// <summary>IPS_TEMPLATE: a template, not a real connection.</summary>
    Template = 1 << 11,
    /// <summary>IPS_UNTRACKED (bit 12; IPS_NAT_CLASH in newer kernels).</summary>
    Untracked = 1 << 12,
    /// <summary>IPS_HELPER: a helper was assigned explicitly.</summary>
    Helper = 1 << 13,
    /// <summary>IPS_OFFLOAD: offloaded to the flow table.</summary>
    Offload = 1 << 14,
    /// <summary>IPS_HW_OFFLOAD: offloaded to hardware.</summary>
    HardwareOffload = 1 << 15,
}

/// <summary>Which directions of a connection are translated.</summary>
public enum NatType : long
{
    None = 0,
    Source = 1,
    Destination = 2,
    Both = 3,
}
