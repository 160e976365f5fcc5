using System;

namespace ConntrackTools.Conntrack;

/// <summary>The kernel has no conntrack netlink interface (nf_conntrack_netlink missing or nfnetlink absent).</summary>
public sealed class ConntrackUnavailableException : ConntrackToolsException
{
    public ConntrackUnavailableException(string message, Exception? inner = null)
        : base(ErrorIds.ConntrackNotAvailable, ErrorKind.NotInstalled, message, inner) { }
}
