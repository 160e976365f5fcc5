using System;
using System.Globalization;
using System.IO;

namespace ConntrackTools.Namespaces;

/// <summary>The calling thread's effective capabilities (from /proc/thread-self/status, CapEff).</summary>
public static class Privileges
{
    public const int CAP_NET_ADMIN = 12;
    public const int CAP_SYS_ADMIN = 21;

    public static bool Has(int capability)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/thread-self/status"))
            {
                if (!line.StartsWith("CapEff:", StringComparison.Ordinal)) continue;
                ulong mask = ulong.Parse(line.AsSpan(7).Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                return (mask & (1UL << capability)) != 0;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return false;
    }

    /// <summary>Throws <see cref="InsufficientPrivilegeException"/> unless the caller may change network configuration and enter namespaces.</summary>
    public static void RequireNetworkAdmin(string what)
    {
        if (!Has(CAP_NET_ADMIN) || !Has(CAP_SYS_ADMIN))
            throw new InsufficientPrivilegeException($"{what} needs CAP_NET_ADMIN and CAP_SYS_ADMIN: run it as root.");
    }
}
