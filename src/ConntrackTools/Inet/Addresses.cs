using System.Net;
using System.Net.Sockets;

namespace ConntrackTools.Inet;

/// <summary>Addresses and endpoints as text, the way every output type shows them.</summary>
public static class Addresses
{
    /// <summary>
    /// The canonical text of an address: dotted quad for IPv4, compressed lower case for IPv6 (RFC 5952, as .NET and
    /// iproute2 print it). This is what output properties hold.
    /// </summary>
    public static string Canonical(IPAddress address) => address.ToString();

    /// <summary><c>10.0.0.1:80</c>, <c>[fd00::1]:80</c>, or the bare address when there is no port.</summary>
    public static string Endpoint(IPAddress address, int? port) =>
        Endpoint(Canonical(address), address.AddressFamily == AddressFamily.InterNetworkV6, port);

    /// <summary>The same for an address already in canonical text.</summary>
    public static string Endpoint(string address, int? port) => Endpoint(address, address.Contains(':'), port);

    private static string Endpoint(string text, bool bracket, int? port)
    {
        if (port is null) return text;
        return bracket ? $"[{text}]:{port}" : $"{text}:{port}";
    }
}
