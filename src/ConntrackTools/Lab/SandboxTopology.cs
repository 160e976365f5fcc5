using System;
using System.Collections.Generic;
using System.Net;
using ConntrackTools.Namespaces;

namespace ConntrackTools.Lab;

/// <summary>
/// The incident's topology in three throw-away network namespaces:
/// <code>
///   client node  uplink 192.168.11.7/24 ── router node  br-mgmt 192.168.11.8/24, cni0 10.232.3.1/24 ── pod 10.232.3.28
///   client: route 10.232.3.0/24 via 192.168.11.8; MASQUERADE --random-fully for 10.232.3.0/24 out of the uplink
/// </code>
/// Names are unique (ctt-vip-XXXXXX-client/-router/-pod) so several runs never collide. Dispose removes all of it;
/// deleting a namespace also removes its interfaces, addresses and rules.
/// </summary>
/// <remarks>
/// A process killed outright (kill -9) cannot clean up, so each sandbox records its owner before it makes anything: a
/// marker file <see cref="OwnerDirectory"/>/ID holding the owner's PID and start time and the namespace names. The
/// next <see cref="Create"/> removes the sandboxes whose owner is gone (see <see cref="RemoveOrphans"/>) and says so.
/// </remarks>
public sealed class SandboxTopology : IDisposable
{
    public static readonly IPAddress ClientAddress = IPAddress.Parse("192.168.11.7");
    public static readonly IPAddress RouterAddress = IPAddress.Parse("192.168.11.8");
    public static readonly IPAddress PodGateway = IPAddress.Parse("10.232.3.1");
    public static readonly IPAddress PodAddress = IPAddress.Parse("10.232.3.28");
    public const string PodNetwork = "10.232.3.0/24";
    public const int ServerPort = 8899;

    private readonly string _ip;
    private readonly List<string> _created = new();

    private SandboxTopology(string id, string ip)
    {
        Id = id;
        _ip = ip;
        ClientNamespace = $"ctt-vip-{id}-client";
        RouterNamespace = $"ctt-vip-{id}-router";
        PodNamespace = $"ctt-vip-{id}-pod";
        Uplink = "up-" + id;           // interface names are limited to 15 characters
    }

    public string Id { get; }
    public string ClientNamespace { get; }
    public string RouterNamespace { get; }
    public string PodNamespace { get; }

    /// <summary>The client node's uplink (the incident's br-mgmt), where the VIP is added and deleted.</summary>
    public string Uplink { get; }

    /// <summary>How the NAT rule was installed: nft or iptables.</summary>
    public string NatTool { get; private set; } = "";

    public NetworkNamespace Client => NetworkNamespace.Resolve(ClientNamespace);
    public NetworkNamespace Pod => NetworkNamespace.Resolve(PodNamespace);

    /// <summary>
    /// Builds the topology; on any failure removes what was made and rethrows. First removes sandboxes left behind by
    /// killed processes, telling <paramref name="warn"/> about each.
    /// </summary>
    public static SandboxTopology Create(Action<string>? log = null, Action<string>? warn = null)
    {
        string ip = LabTool.Require("ip", "iproute2");
        string? nft = LabTool.Find("nft");
        string? iptables = LabTool.Find("iptables");
        if (nft is null && iptables is null)
            throw new LabPrerequisiteException("Neither 'nft' nor 'iptables' is installed; the sandbox needs one for its MASQUERADE rule (Debian/Ubuntu: apt-get install nftables).");
        foreach (var orphan in RemoveOrphans(ip)) warn?.Invoke(orphan);
        var t = new SandboxTopology(Guid.NewGuid().ToString("N")[..6], ip);
        try
        {
            SandboxOwner.Record(t.Id, [t.ClientNamespace, t.RouterNamespace, t.PodNamespace]);
            t.Build(nft, iptables, log ?? (_ => { }));
            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    private void Build(string? nft, string? iptables, Action<string> log)
    {
        foreach (var ns in new[] { ClientNamespace, RouterNamespace, PodNamespace })
        {
            LabTool.Run(_ip, "netns", "add", ns);
            _created.Add(ns);
            Ip(ns, "link", "set", "lo", "up");
        }
        string mgmtPeer = "mg-" + Id, podHost = "ph-" + Id, podPeer = "pp-" + Id;
        // client uplink <-> router br-mgmt port
        LabTool.Run(_ip, "link", "add", Uplink, "netns", ClientNamespace, "type", "veth", "peer", "name", mgmtPeer, "netns", RouterNamespace);
        // router cni0 port <-> pod eth0
        LabTool.Run(_ip, "link", "add", podHost, "netns", RouterNamespace, "type", "veth", "peer", "name", podPeer, "netns", PodNamespace);

        Ip(ClientNamespace, "addr", "add", $"{ClientAddress}/24", "dev", Uplink);
        Ip(ClientNamespace, "link", "set", Uplink, "up");
        Ip(ClientNamespace, "route", "add", PodNetwork, "via", RouterAddress.ToString());

        Ip(RouterNamespace, "link", "add", "br-mgmt", "type", "bridge");
        Ip(RouterNamespace, "link", "add", "cni0", "type", "bridge");
        Ip(RouterNamespace, "link", "set", mgmtPeer, "master", "br-mgmt");
        Ip(RouterNamespace, "link", "set", podHost, "master", "cni0");
        Ip(RouterNamespace, "addr", "add", $"{RouterAddress}/24", "dev", "br-mgmt");
        Ip(RouterNamespace, "addr", "add", $"{PodGateway}/24", "dev", "cni0");
        foreach (var dev in new[] { mgmtPeer, podHost, "br-mgmt", "cni0" }) Ip(RouterNamespace, "link", "set", dev, "up");
        LabTool.Run(_ip, "netns", "exec", RouterNamespace, "sysctl", "-qw", "net.ipv4.ip_forward=1");

        Ip(PodNamespace, "addr", "add", $"{PodAddress}/24", "dev", podPeer);
        Ip(PodNamespace, "link", "set", podPeer, "up");
        Ip(PodNamespace, "route", "add", "default", "via", PodGateway.ToString());

        if (nft is not null)
        {
            LabTool.Run(_ip, "netns", "exec", ClientNamespace, nft,
                "add table ip ctt-lab; add chain ip ctt-lab postrouting { type nat hook postrouting priority srcnat; }; " +
                $"add rule ip ctt-lab postrouting ip daddr {PodNetwork} oifname {Uplink} masquerade fully-random");
            NatTool = "nft";
        }
        else
        {
            LabTool.Run(_ip, "netns", "exec", ClientNamespace, iptables!, "-t", "nat", "-A", "POSTROUTING", "-d", PodNetwork,
                "-o", Uplink, "-j", "MASQUERADE", "--random-fully");
            NatTool = "iptables";
        }
        log($"Sandbox ready: {ClientNamespace} ({ClientAddress} on {Uplink}, MASQUERADE --random-fully via {NatTool}) -> {RouterNamespace} -> {PodNamespace} ({PodAddress}:{ServerPort}).");
    }

    private void Ip(string ns, params string[] args)
    {
        var all = new string[args.Length + 2];
        all[0] = "-n";
        all[1] = ns;
        args.CopyTo(all, 2);
        LabTool.Run(_ip, all);
    }

    /// <summary>Adds an address to the client's uplink (the VIP).</summary>
    public void AddAddress(string cidr) => Ip(ClientNamespace, "addr", "add", cidr, "dev", Uplink);

    /// <summary>Deletes an address from the client's uplink.</summary>
    public void DeleteAddress(string cidr) => Ip(ClientNamespace, "addr", "del", cidr, "dev", Uplink);

    /// <summary>Where the owner markers live (a tmpfs: a reboot, which removes every namespace, also removes them).</summary>
    public const string OwnerDirectory = SandboxOwner.Directory;

    /// <summary>
    /// Removes every sandbox whose owning process is gone (killed before it could clean up): its namespaces, and with
    /// them their interfaces and nft rules. Sandboxes of live processes, and namespaces without a marker, are left alone.
    /// Returns one sentence per sandbox removed.
    /// </summary>
    public static IReadOnlyList<string> RemoveOrphans() => RemoveOrphans(LabTool.Require("ip", "iproute2"));

    private static List<string> RemoveOrphans(string ip)
    {
        var removed = new List<string>();
        foreach (var orphan in SandboxOwner.FindOrphans())
        {
            var gone = new List<string>();
            foreach (var ns in orphan.Namespaces)
            {
                if (!System.IO.File.Exists(System.IO.Path.Combine(NetworkNamespace.NamedDirectory, ns))) continue;
                LabTool.TryRun(ip, "netns", "del", ns);
                gone.Add(ns);
            }
            orphan.Delete();
            removed.Add(gone.Count == 0
                ? $"Removed the record of sandbox {orphan.Id}, left by process {orphan.ProcessId} which no longer runs (its namespaces were already gone)."
                : $"Removed sandbox {orphan.Id} left behind by process {orphan.ProcessId}, which no longer runs (killed before it could clean up): {string.Join(", ", gone)}.");
        }
        return removed;
    }

    public void Dispose()
    {
        for (int i = _created.Count - 1; i >= 0; i--) LabTool.TryRun(_ip, "netns", "del", _created[i]);
        _created.Clear();
        SandboxOwner.Forget(Id);
    }
}
