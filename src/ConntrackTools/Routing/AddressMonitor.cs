using System;
using System.Collections.Generic;
using System.Threading;
using ConntrackTools.Namespaces;
using ConntrackTools.Netlink;

namespace ConntrackTools.Routing;

/// <summary>
/// Watches address changes in one network namespace over rtnetlink. Two sockets, both opened inside the namespace:
/// one subscribed to the address groups (and to RTNLGRP_LINK, to keep interface names current), one for requests
/// (the link and address dumps, name look-ups). Subscribing before dumping means nothing falls between the
/// snapshot and the stream; at worst a change made during the dump is reported twice, both times truly.
/// </summary>
public sealed class AddressMonitor : IDisposable
{
    // Address events are rare; this absorbs the burst when an interface with many addresses goes away.
    private const int ReceiveBufferBytes = 4 << 20;

    private readonly INetlinkTransport _events;
    private readonly NetlinkConnection _requests;
    private readonly IPFamily _family;
    private readonly Predicate<string?> _interfaceMatch;
    private readonly string? _namespaceSpec;
    private readonly ulong? _namespaceId;
    private readonly InterfaceNameTable _names = new();
    private readonly MulticastReader<AddressChangeEvent> _reader;

    /// <summary>
    /// Monitors on given transports: <paramref name="events"/> already subscribed, <paramref name="requests"/> for
    /// dumps and look-ups. <paramref name="interfaceMatch"/> selects interfaces by name (null: all).
    /// </summary>
    /// <remarks>With <paramref name="gone"/>, <see cref="Run"/> ends with <see cref="NetworkNamespaceGoneException"/> when the namespace goes away.</remarks>
    public AddressMonitor(INetlinkTransport events, INetlinkTransport requests, IPFamily family, Predicate<string?>? interfaceMatch,
        string? networkNamespace = null, ulong? networkNamespaceId = null, NetworkNamespaceWatch? gone = null)
    {
        _events = events;
        _requests = new NetlinkConnection(requests);
        _family = family;
        _interfaceMatch = interfaceMatch ?? (_ => true);
        _namespaceSpec = networkNamespace;
        _namespaceId = networkNamespaceId;
        _reader = new MulticastReader<AddressChangeEvent>(events, Decode, gone is null ? null : gone.ThrowIfGone);
    }

    /// <summary>
    /// Opens both sockets inside <paramref name="ns"/>, subscribes to the address groups of <paramref name="family"/>
    /// and to link changes, then loads the interface names. Changes start queueing in the kernel at once.
    /// </summary>
    public static AddressMonitor Open(NetworkNamespace? ns, IPFamily family, Predicate<string?>? interfaceMatch, CancellationToken cancel = default)
    {
        var gone = NetworkNamespaceWatch.For(ns);
        var (events, requests) = NetworkNamespace.Run(ns, () =>
        {
            NetlinkSocket? e = null, r = null;
            try
            {
                e = NetlinkSocket.Open(NetlinkProtocol.Route);
                e.SetReceiveBuffer(ReceiveBufferBytes);
                e.JoinGroup(Rtnl.RTNLGRP_LINK);
                if (family != IPFamily.IPv6) e.JoinGroup(Rtnl.RTNLGRP_IPV4_IFADDR);
                if (family != IPFamily.IPv4) e.JoinGroup(Rtnl.RTNLGRP_IPV6_IFADDR);
                r = NetlinkSocket.Open(NetlinkProtocol.Route);
                return (e, r);
            }
            catch
            {
                e?.Dispose();
                r?.Dispose();
                throw;
            }
        });
        var monitor = new AddressMonitor(events, requests, family, interfaceMatch, ns?.Spec, ns?.Id, gone);
        try
        {
            monitor.LoadInterfaces(cancel);
            return monitor;
        }
        catch
        {
            monitor.Dispose();
            throw;
        }
    }

    /// <summary>Interface names of the namespace when the watch started. Not thread-safe once <see cref="Run"/> runs.</summary>
    public IReadOnlyCollection<string> InterfaceNames => _names.All;

    /// <summary>Address messages the kernel dropped for the event socket (see <see cref="MulticastReader{T}.Lost"/>).</summary>
    public long Lost => _reader.Lost;

    public bool LostCountExact => _reader.LostCountExact;

    /// <summary>Dumps the links (RTM_GETLINK) into the name table. Call after subscribing, before <see cref="Run"/>.</summary>
    public void LoadInterfaces(CancellationToken cancel = default) =>
        _requests.Dump(InterfaceNameTable.Request(), "interface dump", (in NetlinkMessage m) =>
        {
            if (InterfaceNameTable.IsLinkMessage(m.Type)) _names.Learn(m);
        }, cancel);

    /// <summary>The addresses present now (RTM_GETADDR dump) that match the family and interfaces, as Added with Existing set.</summary>
    public List<AddressChangeEvent> DumpAddresses(CancellationToken cancel = default)
    {
        var found = new List<AddressChangeEvent>();
        var now = DateTime.Now;
        Span<byte> ifaddrmsg = stackalloc byte[Rtnl.IfAddrMsgLength];
        ifaddrmsg.Clear();
        ifaddrmsg[0] = _family switch { IPFamily.IPv4 => Rtnl.AF_INET, IPFamily.IPv6 => Rtnl.AF_INET6, _ => Rtnl.AF_UNSPEC };
        var request = new MessageBuilder(Rtnl.RTM_GETADDR, 0, bigEndian: false).Raw(ifaddrmsg);
        _requests.Dump(request, "address dump", (in NetlinkMessage m) =>
        {
            if (AddressDecoder.IsAddressMessage(m.Type) && ToEvent(m, now, existing: true) is { } e) found.Add(e);
        }, cancel);
        return found;
    }

    /// <summary>
    /// Reads address changes until <paramref name="cancel"/> fires or <paramref name="duration"/> has passed,
    /// calling <paramref name="sink"/> with each batch (empty when only <see cref="Lost"/> grew).
    /// </summary>
    public void Run(Action<AddressChangeEvent[]> sink, CancellationToken cancel, TimeSpan? duration = null) =>
        _reader.Run(sink, cancel, duration);

    private void Decode(in NetlinkMessage message, DateTime timeReceived, List<AddressChangeEvent> output)
    {
        if (InterfaceNameTable.IsLinkMessage(message.Type)) _names.Learn(message);
        else if (AddressDecoder.IsAddressMessage(message.Type) && ToEvent(message, timeReceived, existing: false) is { } e) output.Add(e);
    }

    private AddressChangeEvent? ToEvent(in NetlinkMessage message, DateTime timeReceived, bool existing)
    {
        if (AddressDecoder.Decode(message) is not AddressMessage a) return null;
        if (_family != IPFamily.All && a.Family != _family) return null;
        string? name = NameOf(a.InterfaceIndex) ?? a.Label;
        if (!_interfaceMatch(name)) return null;
        return new AddressChangeEvent
        {
            Change = a.Change,
            TimeReceived = timeReceived,
            InterfaceName = name,
            InterfaceIndex = a.InterfaceIndex,
            IP = a.Address,
            PrefixLength = a.PrefixLength,
            AddressFamily = a.Family,
            Scope = a.Scope,
            Flags = a.Flags,
            Label = a.Label ?? name,
            NetworkNamespace = _namespaceSpec,
            NetworkNamespaceId = _namespaceId,
            Existing = existing,
        };
    }

    /// <summary>
    /// The name from the table; on a miss (a link message lost to an overrun) one RTM_GETLINK for the index.
    /// Null when the interface is already gone.
    /// </summary>
    private string? NameOf(int index)
    {
        if (_names.TryGet(index, out var name)) return name;
        try
        {
            _requests.Request(InterfaceNameTable.Request(index), "interface look-up", (in NetlinkMessage m) =>
            {
                if (InterfaceNameTable.IsLinkMessage(m.Type)) _names.Learn(m);
            });
        }
        catch (NetlinkException e) when (e.Errno == Errno.ENODEV)
        {
            return null;
        }
        return _names.TryGet(index, out name) ? name : null;
    }

    public void Dispose()
    {
        _events.Dispose();
        _requests.Dispose();
    }
}
