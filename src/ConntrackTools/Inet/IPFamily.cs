namespace ConntrackTools;

/// <summary>IP address family of an entry; All is only meaningful as a filter.</summary>
public enum IPFamily : long
{
    All = 0,
    IPv4 = 2,
    IPv6 = 10,
}
