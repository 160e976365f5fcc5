using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using ConntrackTools.Capture;
using ConntrackTools.Conntrack;
using ConntrackTools.Namespaces;
using ConntrackTools.Netlink;
using ConntrackTools.Routing;

namespace ConntrackTools.Lab;

/// <summary>What Test-VipMigration should do.</summary>
public sealed class VipMigrationOptions
{
    public int Connections { get; set; } = 8;

    /// <summary>The VIP as address or address/prefix (default prefix: /32 or /128).</summary>
    public string Address { get; set; } = "192.168.11.100/32";

    public TimeSpan HoldTime { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Flush every entry masqueraded out of the uplink when the VIP is deleted, as unfixed kernels did.</summary>
    public bool EmulateLegacyKernel { get; set; }

    /// <summary>Interface mode: the real interface to add the address to; null for the sandbox.</summary>
    public string? InterfaceName { get; set; }

    /// <summary>Interface mode: the namespace of the interface; null for the caller's.</summary>
    public NetworkNamespace? Namespace { get; set; }

    /// <summary>How long to wait at most for the kernel's asynchronous cleanup to settle.</summary>
    public TimeSpan SettleTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long to wait for each connection's echo after the move.</summary>
    public TimeSpan EchoTimeout { get; set; } = TimeSpan.FromSeconds(2);
}

/// <summary>Progress of a run, for the cmdlet's progress bar and -Verbose (written on the pipeline thread).</summary>
public sealed record LabNotice(string Status, int Percent, string? Verbose = null, string? Warning = null);

/// <summary>The address given to Test-VipMigration already exists on the interface.</summary>
public sealed class AddressInUseException : ConntrackToolsException
{
    public AddressInUseException(string message) : base(ErrorIds.AddressExists, ErrorKind.AlreadyExists, message) { }
}

/// <summary>
/// Reproduces the incident and judges it: connections masqueraded out of a device, an address added to and
/// deleted from that device, and then a look at what the kernel kept. Raises engine exceptions only.
/// </summary>
public sealed class VipMigrationRunner
{
    public const string KernelFix = "netfilter: masquerade: don't flush all conntracks if only one address deleted on device";

    private readonly VipMigrationOptions _o;
    private bool _interfaceMode;
    private readonly Action<LabNotice> _notify;
    private readonly List<VipMigrationStep> _steps = new();
    private readonly Stopwatch _clock = new();
    private readonly IPAddress _vip;
    private readonly int _vipPrefix;

    public VipMigrationRunner(VipMigrationOptions options, Action<LabNotice> notify)
    {
        _o = options;
        _notify = notify;
        (_vip, _vipPrefix) = Validate(options);
    }

    /// <summary>Refuses options no run can use (InvalidValueException), before anything is touched; returns the parsed VIP.</summary>
    public static (IPAddress Address, int Prefix) Validate(VipMigrationOptions options)
    {
        var vip = ParseAddress(options.Address);
        if (options.Connections is < 1 or > 1000) throw new InvalidValueException(ErrorIds.InvalidArgument, "The number of connections must be between 1 and 1000.", "Connections", options.Connections);
        if (options.HoldTime < TimeSpan.Zero) throw new InvalidValueException(ErrorIds.InvalidArgument, "The hold time cannot be negative.", "HoldTime", options.HoldTime);
        return vip;
    }

    /// <summary>10.0.0.1, 10.0.0.1/32, fd00::64/128: the address and its prefix length.</summary>
    public static (IPAddress Address, int Prefix) ParseAddress(string text)
    {
        string t = (text ?? "").Trim();
        int slash = t.IndexOf('/');
        string addr = slash < 0 ? t : t[..slash];
        if (!IPAddress.TryParse(addr, out var ip) || ip.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6) || addr.Contains('%'))
            throw new InvalidValueException(ErrorIds.InvalidAddress, $"'{text}' is not an IPv4 or IPv6 address (for example 192.168.11.100/32).", "Address", text);
        // A VIP is a unicast address a node can own: these can never be one, and adding them would mean something else.
        string? notUnicast =
            ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any) ? "the unspecified address"
            : ip.IsIPv6Multicast || (ip.AddressFamily == AddressFamily.InterNetwork && (ip.GetAddressBytes()[0] & 0xF0) == 0xE0) ? "a multicast address"
            : ip.Equals(IPAddress.Broadcast) ? "the broadcast address"
            : null;
        if (notUnicast is not null)
            throw new InvalidValueException(ErrorIds.InvalidAddress, $"'{text}' is {notUnicast}; a VIP must be a unicast address (for example 192.168.11.100/32).", "Address", text);
        int max = ip.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        int prefix = max;
        if (slash >= 0 && (!int.TryParse(t[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out prefix) || prefix < 1 || prefix > max))
            throw new InvalidValueException(ErrorIds.InvalidAddress, $"'{text}': the prefix length must be 1 to {max}.", "Address", text);
        return (ip, prefix);
    }

    private string Vip => $"{_vip}/{_vipPrefix}";

    private void Step(string action, string observation) => Step(DateTime.Now, action, observation);

    private void Step(DateTime time, string action, string observation)
    {
        var s = new VipMigrationStep(time, action, observation);
        lock (_steps) _steps.Add(s);
        _notify(new LabNotice(action, -1, $"{action}: {observation}"));
    }

    private void Progress(string status, int percent) => _notify(new LabNotice(status, percent));

    /// <summary>Sandbox mode: builds the topology, runs the scenario, removes everything (also on failure or cancel).</summary>
    public VipMigrationResult RunSandbox(CancellationToken cancel)
    {
        _clock.Start();
        Progress("Building the sandbox (client node, router, pod)", 5);
        using var topology = SandboxTopology.Create(warn: w => _notify(new LabNotice("Removing sandboxes left behind", 5, Warning: w)));
        Step("Build sandbox", $"{topology.ClientNamespace} ({SandboxTopology.ClientAddress} on {topology.Uplink}, MASQUERADE --random-fully via {topology.NatTool}) -> {topology.RouterNamespace} -> {topology.PodNamespace} ({SandboxTopology.PodAddress}:{SandboxTopology.ServerPort})");
        var client = topology.Client;
        cancel.ThrowIfCancellationRequested();

        // The capture starts first: the remap detector follows connections from their handshake.
        using var capture = RemapCapture.Start(client, topology.Uplink, $"tcp port {SandboxTopology.ServerPort}");
        Step("Start capture", $"libpcap on {topology.Uplink} (filter 'tcp port {SandboxTopology.ServerPort}'), feeding the SNAT-remap detector");

        Progress($"Opening {_o.Connections} TCP connections through the NAT", 15);
        using var flows = LabConnections.Open(topology.Pod, SandboxTopology.PodAddress, SandboxTopology.ServerPort, client, _o.Connections, cancel);
        Step("Open connections", $"{flows.Connections.Count} connections from {SandboxTopology.ClientAddress} to {SandboxTopology.PodAddress}:{SandboxTopology.ServerPort}, each echoed once");

        var conntrack = new ConntrackClient(client);
        using var route = NetworkNamespace.Run(client, () => new NetlinkConnection(NetlinkSocket.Open(NetlinkProtocol.Route)));
        int ifIndex = NetworkNamespace.Run(client, () => AddressAdmin.IndexOf(topology.Uplink));

        Progress("Recording the conntrack table", 25);
        var before = Snapshot(conntrack, cancel);
        var masqueraded = before.Where(e => e.NatType is NatType.Source or NatType.Both).ToList();
        Step("Conntrack before", $"{before.Count} entries, {masqueraded.Count} masqueraded: " +
            string.Join(", ", masqueraded.Take(4).Select(e => $"{e.SourcePort}->{e.TranslatedSourcePort}")) + (masqueraded.Count > 4 ? ", ..." : ""));

        var after = MoveAddress(client, conntrack, route, ifIndex, topology.Uplink, before,
            _o.EmulateLegacyKernel ? () => EmulateLegacyFlush(conntrack, topology.Uplink, cancel) : null, cancel);

        Progress("Pushing data on every connection", 80);
        var outcomes = flows.Connections.Select(c => (c, Outcome: LabConnections.Push(c, $"after-{c.Index}", _o.EchoTimeout))).ToList();
        int reset = outcomes.Count(o => o.Outcome == PushOutcome.Reset);
        int silent = outcomes.Count(o => o.Outcome == PushOutcome.NoAnswer);
        Step("Push data", $"{outcomes.Count - reset - silent} echoed, {reset} reset by the server, {silent} without answer" +
            (reset > 0 ? " (client ports " + string.Join(", ", outcomes.Where(o => o.Outcome == PushOutcome.Reset).Select(o => o.c.LocalPort)) + ")" : ""));

        Progress("Reading the capture", 90);
        var (remaps, packets) = capture.Stop(TimeSpan.FromMilliseconds(300));
        Step("Capture", $"{packets} packets on {topology.Uplink}; {remaps.Length} flows continued on a new source port" +
            (remaps.Length > 0 ? ": " + string.Join(", ", remaps.Take(4).Select(r => $"{r.OldSourcePort}->{r.NewSourcePort}{(r.ResetSeen ? " (RST)" : "")}")) + (remaps.Length > 4 ? ", ..." : "") : ""));

        Progress("Judging", 95);
        return Judge(VipMigrationMode.Sandbox, topology.Uplink, null, flows.Connections.Count, before, after, reset, silent, remaps);
    }

    /// <summary>Interface mode: add and delete the address on a real interface and judge its masqueraded entries.</summary>
    public VipMigrationResult RunInterface(CancellationToken cancel)
    {
        _clock.Start();
        string name = _o.InterfaceName ?? throw new InvalidValueException(ErrorIds.InvalidArgument, "Interface mode needs an interface name.", "InterfaceName");
        var ns = _o.Namespace;
        _interfaceMode = true;
        foreach (var note in VipOwner.RemoveOrphans()) _notify(new LabNotice("Removing addresses left behind", 5, Warning: note));
        int ifIndex = NetworkNamespace.Run(ns, () => AddressAdmin.IndexOf(name));
        if (ifIndex == 0) throw new InterfaceNotFoundException(name, ns?.Spec);
        using var route = NetworkNamespace.Run(ns, () => new NetlinkConnection(NetlinkSocket.Open(NetlinkProtocol.Route)));
        var addresses = AddressAdmin.List(route, ifIndex);
        if (addresses.Any(a => a.Address.Equals(_vip)))
            throw new AddressInUseException($"{_vip} is already on {name}: Test-VipMigration only adds an address that is not there, so that it can remove it again without taking anything away.");
        var conntrack = new ConntrackClient(ns);

        Progress($"Recording the conntrack table ({name})", 10);
        var before = Snapshot(conntrack, cancel);
        var own = addresses.Select(a => a.Address).ToHashSet();
        var onDevice = before.Where(e => e.NatType is NatType.Source or NatType.Both && own.Contains(e.Reply.DestinationIP)).ToList();
        Step("Conntrack before", $"{before.Count} entries; {onDevice.Count} masqueraded to an address of {name} ({string.Join(", ", own)})");

        var after = MoveAddress(ns, conntrack, route, ifIndex, name, before, emulate: null, cancel);
        Progress("Judging", 95);
        return Judge(VipMigrationMode.Interface, name, ns?.Spec, onDevice.Count, onDevice, after, reset: 0, silent: 0, remaps: [], allBefore: before.Count);
    }

    /// <summary>Adds the VIP, holds it, deletes it (always), lets the kernel settle and returns the table after.</summary>
    private List<ConntrackEntry> MoveAddress(NetworkNamespace? ns, ConntrackClient conntrack, NetlinkConnection route, int ifIndex, string device,
        List<ConntrackEntry> before, Action? emulate, CancellationToken cancel)
    {
        // Watch-AddressChange -IncludeConntrackImpact, for the record: the removal and what was destroyed with it.
        using var impact = AddressImpactRecorder.Start(ns, device, _vip.AddressFamily == AddressFamily.InterNetworkV6 ? IPFamily.IPv6 : IPFamily.IPv4, ImpactWindow, cancel);
        var after = AddAndDelete(conntrack, route, ifIndex, device, before, emulate, cancel);
        _changes = impact.Stop(_vip, ImpactWindow + TimeSpan.FromSeconds(3)).ToArray();
        foreach (var c in _changes)
        {
            Step(c.TimeReceived, $"Address {c.Change.ToString().ToLowerInvariant()}", c.Change == AddressChange.Removed && c.DestroyedEntries is int destroyed
                ? $"{c.Address}/{c.PrefixLength} on {c.InterfaceName}: {destroyed} conntrack entries destroyed within {ImpactWindow.TotalSeconds:0.#} s, {c.DestroyedUnrelated} of them not using {c.Address}"
                : $"{c.Address}/{c.PrefixLength} on {c.InterfaceName}");
        }
        return after;
    }

    /// <summary>How long after a removal destroyed entries are attributed to it.</summary>
    private static readonly TimeSpan ImpactWindow = TimeSpan.FromSeconds(1.5);

    private AddressImpactEvent[] _changes = [];

    private List<ConntrackEntry> AddAndDelete(ConntrackClient conntrack, NetlinkConnection route, int ifIndex, string device,
        List<ConntrackEntry> before, Action? emulate, CancellationToken cancel)
    {
        Progress($"Adding {Vip} to {device}", 40);
        // On a real interface a marker names the address first, so that a run after a kill -9 can take it away.
        string? marker = _interfaceMode ? VipOwner.Record(_o.Namespace, ifIndex, _vip, _vipPrefix) : null;
        try { AddressAdmin.Add(route, ifIndex, _vip, _vipPrefix); }
        catch
        {
            if (marker is not null) VipOwner.Forget(marker);
            throw;
        }
        try
        {
            Step("Add VIP", $"{Vip} added to {device}");
            if (_o.HoldTime > TimeSpan.Zero)
            {
                Progress($"Holding {Vip} for {_o.HoldTime.TotalSeconds:0.#} s", 50);
                cancel.WaitHandle.WaitOne(_o.HoldTime);
            }
        }
        finally
        {
            // Delete first: nothing (a failed notification, a cancelled pipeline) may keep the address on the device.
            AddressAdmin.Delete(route, ifIndex, _vip, _vipPrefix);
            if (marker is not null) VipOwner.Forget(marker);
            Step("Delete VIP", $"{Vip} deleted from {device}");
        }
        cancel.ThrowIfCancellationRequested();
        emulate?.Invoke();

        Progress("Waiting for the kernel's conntrack cleanup to settle", 70);
        var (after, waited) = Settle(conntrack, cancel);
        var survivors = Index(after);
        int gone = before.Count(e => !Survived(e, survivors));
        Step("Conntrack after", $"{after.Count} entries after {waited.TotalMilliseconds:0} ms of settling; {gone} of the {before.Count} entries from before are gone");
        return after;
    }

    /// <summary>The unfixed kernel's behaviour: every entry masqueraded out of the device goes when any address is deleted.</summary>
    private void EmulateLegacyFlush(ConntrackClient conntrack, string device, CancellationToken cancel)
    {
        var victims = Snapshot(conntrack, cancel).Where(e => e.NatType is NatType.Source or NatType.Both).ToList();
        using var conn = conntrack.Connect();
        int removed = victims.Count(e => conntrack.Delete(e, conn));
        Step("Emulate unfixed kernel", $"flushed {removed} entries masqueraded out of {device}, as kernels without \"{KernelFix}\" did");
    }

    private static List<ConntrackEntry> Snapshot(ConntrackClient conntrack, CancellationToken cancel)
    {
        var list = new List<ConntrackEntry>();
        conntrack.Dump(new ConntrackFilter(), kernelFiltering: true, list.AddRange, cancel);
        return list;
    }

    /// <summary>
    /// The masquerade cleanup after an address deletion runs on a kernel work queue (since 5.15), so the table is
    /// read until two consecutive dumps agree, at least 500 ms after the deletion, at most SettleTimeout.
    /// </summary>
    private (List<ConntrackEntry> Table, TimeSpan Waited) Settle(ConntrackClient conntrack, CancellationToken cancel)
    {
        var sw = Stopwatch.StartNew();
        var previous = Snapshot(conntrack, cancel);
        while (true)
        {
            cancel.WaitHandle.WaitOne(250);
            cancel.ThrowIfCancellationRequested();
            var current = Snapshot(conntrack, cancel);
            var index = Index(previous);
            bool same = current.Count == previous.Count && current.All(e => Survived(e, index));
            if ((same && sw.Elapsed >= TimeSpan.FromMilliseconds(500)) || sw.Elapsed >= _o.SettleTimeout) return (current, sw.Elapsed);
            previous = current;
        }
    }

    /// <summary>Entries present before and gone after, except those masqueraded to the deleted address itself (they are expected to go).</summary>
    internal static ConntrackEntry[] LostEntries(IEnumerable<ConntrackEntry> before, IEnumerable<ConntrackEntry> after, IPAddress deleted)
    {
        var survivors = Index(after);
        return before.Where(e => !Survived(e, survivors) && !e.Reply.DestinationIP.Equals(deleted)).ToArray();
    }

    /// <summary>Entries by (zone, original tuple), which the kernel keeps unique; the 32-bit id is not (it collides).</summary>
    private static Dictionary<ConntrackIdentity, ConntrackEntry> Index(IEnumerable<ConntrackEntry> entries)
    {
        var index = new Dictionary<ConntrackIdentity, ConntrackEntry>();
        foreach (var e in entries) index[ConntrackIdentity.Of(e)] = e;
        return index;
    }

    /// <summary>
    /// True when <paramref name="e"/> is still there: an entry with its zone and original tuple exists, and it is the same
    /// entry, not a new one the kernel made for the same flow after losing it (that one has another id and, behind
    /// MASQUERADE --random-fully, another translated port: the incident's signature).
    /// </summary>
    private static bool Survived(ConntrackEntry e, Dictionary<ConntrackIdentity, ConntrackEntry> index) =>
        index.TryGetValue(ConntrackIdentity.Of(e), out var now) && now.Id == e.Id && SameTuple(now.Reply, e.Reply);

    private static bool SameTuple(FlowTuple a, FlowTuple b) =>
        a.SourceIP.Equals(b.SourceIP) && a.DestinationIP.Equals(b.DestinationIP) && a.SourcePort == b.SourcePort
        && a.DestinationPort == b.DestinationPort && a.ProtocolNumber == b.ProtocolNumber && a.IcmpId == b.IcmpId;

    private VipMigrationResult Judge(VipMigrationMode mode, string device, string? ns, int connections, List<ConntrackEntry> before,
        List<ConntrackEntry> after, int reset, int silent, SnatRemapFinding[] remaps, int? allBefore = null)
    {
        var lost = LostEntries(before, after, _vip);
        bool passed = lost.Length == 0 && reset == 0 && silent == 0 && remaps.Length == 0;
        string kernel = KernelFeatures.Release();
        string what = _o.EmulateLegacyKernel ? $"the emulated unfixed kernel (running {kernel})" : $"kernel {kernel}";
        string verdict;
        if (passed)
        {
            verdict = mode == VipMigrationMode.Sandbox
                ? $"Passed: deleting {Vip} from {device} kept all {connections} masqueraded connections alive on {what}; VIP moves do not reset connections here."
                : $"Passed: deleting {Vip} from {device} kept all {connections} entries masqueraded through it on {what}.";
        }
        else if (lost.Length > 0)
        {
            verdict = $"Failed: deleting {Vip} from {device} destroyed {lost.Length} conntrack entries that did not use it" +
                (reset > 0 ? $", and {reset} of {connections} connections were reset" : "") +
                (remaps.Length > 0 ? $" after continuing on new source ports ({remaps.Length} remaps seen on the wire{(remaps.All(r => r.ResetSeen) ? ", each answered with RST" : "")})" : "") +
                $"; {what} lacks \"{KernelFix}\": upgrade the kernel, or keep VIPs off the masquerading device.";
        }
        else
        {
            verdict = $"Failed: the conntrack entries survived, but {reset} connections were reset, {silent} got no answer and {remaps.Length} continued on new source ports after {Vip} moved on {device}; check Remaps and Steps.";
        }
        Step("Verdict", verdict);
        return new VipMigrationResult
        {
            Passed = passed,
            Verdict = verdict,
            Mode = mode,
            InterfaceName = device,
            Address = Vip,
            KernelVersion = kernel,
            Connections = connections,
            EntriesBefore = allBefore ?? before.Count,
            EntriesAfter = after.Count,
            EntriesLost = lost,
            ConnectionsReset = reset,
            Remaps = remaps,
            AddressChanges = _changes,
            Duration = _clock.Elapsed,
            Steps = _steps.OrderBy(x => x.Time).ToArray(),   // events observed by the watchers carry their own time
            EmulatedLegacyKernel = _o.EmulateLegacyKernel,
            NetworkNamespace = ns,
        };
    }
}
