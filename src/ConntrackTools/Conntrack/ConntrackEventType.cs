namespace ConntrackTools;

/// <summary>
/// What happened to a conntrack entry. The values are the ctnetlink multicast groups that carry each kind
/// (enum nfnetlink_groups: NFNLGRP_CONNTRACK_NEW = 1, _UPDATE = 2, _DESTROY = 3).
/// 64-bit so that ConvertTo-Json writes the names.
/// </summary>
public enum ConntrackEventType : long
{
    /// <summary>IPCTNL_MSG_CT_NEW with NLM_F_CREATE|NLM_F_EXCL: the entry was confirmed (its first packet left).</summary>
    New = 1,
    /// <summary>IPCTNL_MSG_CT_NEW without NLM_F_CREATE: state, status, mark, labels or helper changed.</summary>
    Update = 2,
    /// <summary>IPCTNL_MSG_CT_DELETE: the entry expired, was deleted or flushed.</summary>
    Destroy = 3,
}
