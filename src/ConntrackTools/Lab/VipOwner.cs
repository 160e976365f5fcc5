using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Net;
using System.Text.RegularExpressions;
using ConntrackTools.Namespaces;
using ConntrackTools.Netlink;
using ConntrackTools.Routing;

namespace ConntrackTools.Lab;

/// <summary>
/// The marker of an address Test-VipMigration -InterfaceName has put on a real interface: /run/conntracktools/vip/ID,
/// one line <c>pid PID start STARTTIME cookie NETNSKEY ifindex N address ADDRESS/LENGTH netns SPEC</c>, written before
/// the address is added and removed after it is deleted. A process killed in between (kill -9) leaves the marker, and
/// the next interface-mode run deletes the address the dead process left, in the same namespace (same cookie) and on
/// the same interface index, and says so.
/// </summary>
internal sealed partial class VipOwner : OwnerMarker
{
    public const string Directory = "/run/conntracktools/vip";

    private VipOwner(string id, int processId, ulong startTime, string namespaceKey, int ifIndex, IPAddress address, int prefixLength, string? spec)
        : base(id, processId, startTime)
    {
        NamespaceKey = namespaceKey;
        InterfaceIndex = ifIndex;
        Address = address;
        PrefixLength = prefixLength;
        Spec = spec;
    }

    public string NamespaceKey { get; }
    public int InterfaceIndex { get; }
    public IPAddress Address { get; }
    public int PrefixLength { get; }

    /// <summary>The -NetworkNamespace the address was added in (name, path or PID), or null for the caller's own.</summary>
    public string? Spec { get; }

    /// <summary>Records that this process is about to add <paramref name="address"/> in <paramref name="ns"/>; returns the marker's id.</summary>
    public static string Record(NetworkNamespace? ns, int ifIndex, IPAddress address, int prefixLength)
    {
        string id = Guid.NewGuid().ToString("N")[..6];
        Write(Directory, id, FormattableString.Invariant(
            $"cookie {NamespaceIdentity.Of(ns)} ifindex {ifIndex} address {address}/{prefixLength} netns {ns?.Spec ?? "-"}"));
        return id;
    }

    public static void Forget(string id) => Delete(Directory, id);

    /// <summary>
    /// Deletes every address whose marker's owner no longer runs, where it still is; returns one sentence per marker
    /// handled. A namespace that is gone or is another one now (a different cookie) is left alone, only its marker removed.
    /// </summary>
    public static IReadOnlyList<string> RemoveOrphans()
    {
        var notes = new List<string>();
        foreach (var owner in Orphans(Directory, Read))
        {
            notes.Add(owner.Remove());
            Forget(owner.Id);
        }
        return notes;
    }

    private string Remove()
    {
        string where = Spec is null ? "the current network namespace" : $"network namespace '{Spec}'";
        string left = $"{Address}/{PrefixLength} (interface index {InterfaceIndex}, {where}), left by process {ProcessId} which no longer runs";
        NetworkNamespace? ns = null;
        try
        {
            if (Spec is not null) ns = NetworkNamespace.Resolve(Spec);
            if (NamespaceIdentity.Of(ns) != NamespaceKey) return $"Not removing {left}: that namespace is gone or is another one now.";
            bool removed = NetworkNamespace.Run(ns, () =>
            {
                using var route = new NetlinkConnection(NetlinkSocket.Open(NetlinkProtocol.Route));
                if (!AddressAdmin.List(route, InterfaceIndex).Any(a => a.Address.Equals(Address) && a.PrefixLength == PrefixLength)) return false;
                AddressAdmin.Delete(route, InterfaceIndex, Address, PrefixLength);
                return true;
            });
            return removed ? $"Removed the address {left} (killed before it could delete it)." : $"The address {left} is no longer there.";
        }
        catch (ConntrackToolsException e)
        {
            return $"Could not remove {left}: {e.Message}";
        }
    }

    private static VipOwner? Read(string file)
    {
        if (ReadText(file, out string id) is not string text) return null;
        var m = MarkerPattern().Match(text);
        if (!m.Success || !IPAddress.TryParse(m.Groups["address"].Value, out var address)) return null;
        string spec = m.Groups["netns"].Value;
        return new VipOwner(id, int.Parse(m.Groups["pid"].Value, CultureInfo.InvariantCulture),
            ulong.Parse(m.Groups["start"].Value, CultureInfo.InvariantCulture), m.Groups["cookie"].Value,
            int.Parse(m.Groups["ifindex"].Value, CultureInfo.InvariantCulture), address,
            int.Parse(m.Groups["length"].Value, CultureInfo.InvariantCulture), spec == "-" ? null : spec);
    }

    [GeneratedRegex(@"^pid (?<pid>\d{1,9}) start (?<start>\d{1,20}) cookie (?<cookie>\S+) ifindex (?<ifindex>\d{1,9}) address (?<address>[0-9a-fA-F:.]+)/(?<length>\d{1,3}) netns (?<netns>[^\n]+)\n?$")]
    private static partial Regex MarkerPattern();
}
