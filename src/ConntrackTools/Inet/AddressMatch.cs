using System;
using System.Net;
using System.Net.Sockets;

namespace ConntrackTools.Inet;

/// <summary>An address or CIDR prefix to match against. A bare address is a host prefix (/32, /128).</summary>
public sealed class AddressMatch
{
    private AddressMatch(IPNetwork network, string text, string? hostBitsCleared = null)
    {
        HostBitsCleared = hostBitsCleared;
        Network = network;
        Text = text;
        _prefixBytes = network.BaseAddress.GetAddressBytes();
    }

    private readonly byte[] _prefixBytes;

    public IPNetwork Network { get; }
    public string Text { get; }

    /// <summary>The text as given when it had bits set after the prefix length (1.1.1.4/24), which were cleared.</summary>
    public string? HostBitsCleared { get; }

    public bool IsHost => Network.PrefixLength == (Network.BaseAddress.AddressFamily == AddressFamily.InterNetwork ? 32 : 128);

    public IPFamily Family => Network.BaseAddress.AddressFamily == AddressFamily.InterNetwork ? IPFamily.IPv4 : IPFamily.IPv6;

    public bool Contains(IPAddress address) => Network.Contains(address);

    /// <summary>The same test on raw address bytes (4 or 16, network order), without allocating.</summary>
    public bool Contains(ReadOnlySpan<byte> address)
    {
        if (address.Length != _prefixBytes.Length) return false;   // the other family
        int full = Network.PrefixLength / 8, rest = Network.PrefixLength % 8;
        if (!address[..full].SequenceEqual(_prefixBytes.AsSpan(0, full))) return false;
        if (rest == 0) return true;
        byte mask = (byte)(0xff << (8 - rest));
        return (address[full] & mask) == _prefixBytes[full];
    }

    /// <summary>
    /// Parses 10.0.0.1, 10.0.0.0/8, fd00::/8. Bits set after the prefix length are cleared (1.1.1.4/24 is 1.1.1.0/24,
    /// as conntrack takes it) and the original text is kept in <see cref="HostBitsCleared"/>.
    /// </summary>
    public static AddressMatch Parse(string text)
    {
        if (string.IsNullOrWhiteSpace(text)) throw Invalid("An address or CIDR prefix is required.");
        string t = text.Trim();
        if (t.Contains('[') || t.Contains(']'))
            throw Invalid($"'{text}' is not an address: write IPv6 addresses without brackets.");
        int slash = t.IndexOf('/');
        if (slash < 0)
        {
            if (!IPAddress.TryParse(t, out var a) || (a.AddressFamily != AddressFamily.InterNetwork && a.AddressFamily != AddressFamily.InterNetworkV6) || t.Contains('%'))
                throw Invalid($"'{text}' is not an IPv4 or IPv6 address.");
            if (a.IsIPv4MappedToIPv6) a = a.MapToIPv4();
            return new AddressMatch(new IPNetwork(a, a.AddressFamily == AddressFamily.InterNetwork ? 32 : 128), a.ToString());
        }
        if (!IPAddress.TryParse(t[..slash], out var baseAddr) || t[..slash].Contains('%'))
            throw Invalid($"'{text}' is not a CIDR prefix: '{t[..slash]}' is not an address.");
        int max = baseAddr.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        if (!int.TryParse(t[(slash + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int len) || len > max)
            throw Invalid($"'{text}' is not a CIDR prefix: the prefix length must be 0 to {max}.");
        if (baseAddr.IsIPv4MappedToIPv6) baseAddr = baseAddr.MapToIPv4();
        var masked = Mask(baseAddr, len);
        var net = new IPNetwork(masked, len);
        return new AddressMatch(net, net.ToString(), masked.Equals(baseAddr) ? null : t);
    }

    private static InvalidValueException Invalid(string message) => new(ErrorIds.InvalidAddress, message);

    private static IPAddress Mask(IPAddress a, int len)
    {
        byte[] b = a.GetAddressBytes();
        for (int i = 0; i < b.Length; i++)
        {
            int keep = Math.Clamp(len - i * 8, 0, 8);
            b[i] &= (byte)(0xff << (8 - keep));
        }
        return new IPAddress(b);
    }

    public override string ToString() => Text;
}
