using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using ConntrackTools.Namespaces;
using ConntrackTools.Netlink;

namespace ConntrackTools.Conntrack;

/// <summary>
/// Listens to ctnetlink events on a socket of its own and hands decoded, filtered events to a sink in batches.
/// Built to lose nothing it could keep: a large receive buffer (SO_RCVBUFFORCE, falling back to SO_RCVBUF), and
/// a loop that only reads and decodes, so the kernel's queue drains as fast as the machine allows. When the kernel
/// still drops messages (ENOBUFS), the loss is counted from the socket's drop counter, never ignored.
/// </summary>
public sealed class ConntrackEventListener : IDisposable
{
    /// <summary>
    /// Requested receive buffer: 128 MiB holds a burst of well over 100,000 events (a flush of a large table)
    /// while the reader catches up. Kernel memory is only used while events wait to be read.
    /// </summary>
    public const int DefaultReceiveBufferBytes = 128 << 20;

    private readonly INetlinkTransport _transport;
    private readonly ConntrackFilter _filter;
    private readonly string? _namespaceSpec;
    private readonly ulong? _namespaceId;
    private readonly MulticastReader<ConntrackEvent> _reader;
    private long _received, _matched;

    /// <summary>Listens on an already subscribed transport (tests pass a scripted one).</summary>
    /// <param name="gone">Watches the namespace the socket is in; <see cref="Run"/> then ends with
    /// <see cref="NetworkNamespaceGoneException"/> when it goes away.</param>
    public ConntrackEventListener(INetlinkTransport transport, ConntrackFilter filter, string? networkNamespace = null, ulong? networkNamespaceId = null, NetworkNamespaceWatch? gone = null)
    {
        _namespaceId = networkNamespaceId;
        _transport = transport;
        _filter = filter;
        _namespaceSpec = networkNamespace;
        _reader = new MulticastReader<ConntrackEvent>(transport, Decode, gone is null ? null : gone.ThrowIfGone);
        // SO_RCVBUF reports twice what was set (the kernel's allowance for bookkeeping); use the unit of the request.
        ReceiveBufferSize = ((transport as NetlinkSocket)?.ReceiveBufferSize ?? 0) / 2;
    }

    /// <summary>
    /// Opens a NETLINK_NETFILTER socket inside <paramref name="ns"/>, attaches the kernel part of
    /// <paramref name="filter"/> as a socket filter (unless <paramref name="kernelFiltering"/> is false), subscribes
    /// to the groups of <paramref name="eventTypes"/> and sizes its receive buffer. Events start queueing at once.
    /// </summary>
    public static ConntrackEventListener Open(NetworkNamespace? ns, IEnumerable<ConntrackEventType> eventTypes, ConntrackFilter filter,
        int receiveBufferBytes = DefaultReceiveBufferBytes, bool kernelFiltering = true)
    {
        var groups = eventTypes.Distinct().ToArray();
        var program = kernelFiltering ? ConntrackEventFilter.Compile(filter) : null;
        var gone = NetworkNamespaceWatch.For(ns);
        string? refused = null;
        var socket = NetworkNamespace.Run(ns, () =>
        {
            var s = ConntrackClient.OpenSocket();
            try
            {
                // Filter and size first: events for the new membership may arrive the moment we join.
                if (program is not null)
                {
                    // A kernel that refuses the program only costs speed: user space checks every event anyway.
                    try { s.AttachFilter(program.Instructions); }
                    catch (NetlinkException e) { refused = e.ErrnoName; }
                }
                s.SetReceiveBuffer(receiveBufferBytes);
                foreach (var g in groups) s.JoinGroup((int)g); // the enum values are the NFNLGRP_CONNTRACK_* numbers
                return s;
            }
            catch
            {
                s.Dispose();
                throw;
            }
        });
        if (refused is not null) program = null;
        return new ConntrackEventListener(socket, filter, ns?.Spec, ns?.Id, gone)
        {
            RequestedReceiveBufferSize = receiveBufferBytes,
            KernelFilter = refused is null ? program?.KernelPart ?? "none" : $"none (the kernel refused the socket filter: {refused})",
            UserFilter = program?.UserPart ?? filter.PlanDump(KernelFeatures.Current, kernelFiltering: false).UserPart,
        };
    }

    /// <summary>
    /// Names the process behind a requesting netlink port id (see <see cref="ConntrackEvent.InitiatorPortId"/>), called on
    /// the reader thread as each event is read, before it is decoded and filtered, so the requester is looked up while its
    /// socket is still open.
    /// Null: events keep only the port id.
    /// </summary>
    public Func<uint, (int ProcessId, string ProcessName)?>? ResolveInitiator { get; set; }

    /// <summary>The filters the kernel applies to the socket, in words ("none" when all run in user space).</summary>
    public string KernelFilter { get; private init; } = "none";

    /// <summary>The filters only user space applies, in words. Every event is checked in user space either way.</summary>
    public string UserFilter { get; private init; } = "none";

    /// <summary>The receive buffer that was asked for, in bytes.</summary>
    public int RequestedReceiveBufferSize { get; private init; }

    /// <summary>The receive buffer the kernel granted, in the unit of the request (0 for a scripted transport).</summary>
    public int ReceiveBufferSize { get; }

    /// <summary>False when the kernel would not grant the requested size (no CAP_NET_ADMIN and net.core.rmem_max lower).</summary>
    public bool ReceiveBufferGranted => ReceiveBufferSize >= RequestedReceiveBufferSize;

    /// <summary>Conntrack event messages read from the socket.</summary>
    public long Received => Interlocked.Read(ref _received);

    /// <summary>Events that passed the filter and went to the sink.</summary>
    public long Matched => Interlocked.Read(ref _matched);

    /// <summary>Events the kernel dropped because the receive buffer was full (see <see cref="MulticastReader{T}.Lost"/>).</summary>
    public long Lost => _reader.Lost;

    /// <summary>How many times the kernel reported an overrun (ENOBUFS).</summary>
    public int Overruns => _reader.Overruns;

    /// <summary>True when <see cref="Lost"/> is the kernel's own count rather than a lower bound.</summary>
    public bool LostCountExact => _reader.LostCountExact;

    /// <summary>
    /// Reads events until <paramref name="cancel"/> fires or <paramref name="duration"/> has passed, calling
    /// <paramref name="sink"/> with each batch; an empty batch signals that <see cref="Lost"/> grew.
    /// Raises engine exceptions only (<see cref="NetlinkException"/>, <see cref="NetlinkDecodeException"/>, and
    /// <see cref="NetworkNamespaceGoneException"/> within a second of the namespace going away).
    /// </summary>
    public void Run(Action<ConntrackEvent[]> sink, CancellationToken cancel, TimeSpan? duration = null) =>
        _reader.Run(batch =>
        {
            Interlocked.Add(ref _matched, batch.Length);
            sink(batch);
        }, cancel, duration);

    private void Decode(in NetlinkMessage message, DateTime timeReceived, List<ConntrackEvent> output)
    {
        if (ConntrackEventDecoder.Classify(message.Type, message.Flags) is null) return;   // not a conntrack event
        // The requester first, before decoding: its socket may close a few milliseconds after the first event of a
        // flush. An answer for an event the filter then drops costs one cached lookup.
        var who = message.PortId != 0 ? ResolveInitiator?.Invoke(message.PortId) : null;
        var e = ConntrackEventDecoder.Decode(message, timeReceived, _namespaceSpec, _namespaceId);
        if (e is null) return;
        Interlocked.Increment(ref _received);
        if (!_filter.Matches(e.Entry)) return;
        if (who is { } w)
        {
            e.InitiatorProcessId = w.ProcessId;
            e.InitiatorProcessName = w.ProcessName;
        }
        output.Add(e);
    }

    public void Dispose() => _transport.Dispose();
}
