using System;
using System.Management.Automation;
using System.Net;
using ConntrackTools.Conntrack;
using ConntrackTools.Inet;
using ConntrackTools.Namespaces;

namespace ConntrackTools.Commands;

/// <summary>Dumps the conntrack table over ctnetlink and streams the entries as they are decoded.</summary>
[Cmdlet(VerbsCommon.Get, "Conntrack")]
[OutputType(typeof(ConntrackEntry))]
public sealed class GetConntrackCommand : ConntrackFilterCmdlet
{
    /// <summary>A name, path or PID; also bound by property name from the pipeline (Get-NetworkNamespace | Get-Conntrack).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(NetworkNamespaceCompleter))]
    [Alias("NetNs", "Namespace")]
    public override string? NetworkNamespace { get; set; }

    /// <summary>Dump every network namespace of the host (Get-NetworkNamespace), several at once.</summary>
    [Parameter]
    [Alias("AllNetNs")]
    public SwitchParameter AllNetworkNamespaces { get; set; }

    /// <summary>With -AllNetworkNamespaces: how many namespaces are dumped at once (default: the number of cores).</summary>
    [Parameter]
    [ValidateRange(1, 256)]
    public int ThrottleLimit { get; set; } = NamespaceFanOut.DefaultParallelism;

    /// <summary>A socket's local address (from Get-NetTCPConnection / Get-NetUDPEndpoint by property name).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string? LocalAddress { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    public int? LocalPort { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string? RemoteAddress { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    public int? RemotePort { get; set; }

    /// <summary>A piped object (a socket from Get-NetTCPConnection or Get-NetUDPEndpoint); only its Protocol property is read.</summary>
    [Parameter(ValueFromPipeline = true)]
    public PSObject? InputObject { get; set; }

    private bool SocketGiven => LocalAddress is not null || LocalPort is not null || RemoteAddress is not null || RemotePort is not null;

    private ConntrackFilter? _filter;

    /// <summary>Cores a machine needs beyond this for Get-Conntrack to split a dump of every family in two.</summary>
    internal const int SplitFamiliesAbove = 2;

    protected override void ProcessRecord()
    {
        CheckAllNetworkNamespaces(AllNetworkNamespaces);
        if (SocketGiven)
        {
            DumpSocket();
            return;
        }
        if (_filter is null)
        {
            _filter = BuildFilter();
            WriteSelectionNotes(_filter);
        }
        if (AllNetworkNamespaces) DumpAll(_filter);
        else DumpOne(_filter, null);
    }

    /// <summary>
    /// A socket (bound by property name from Get-NetTCPConnection / Get-NetUDPEndpoint): its flow is either one this
    /// side opened (the original tuple starts at the socket) or one the peer opened (the reply tuple starts at the
    /// socket, after DNAT).
    /// </summary>
    private void DumpSocket()
    {
        var filter = BuildSocketFilter(out var local, out var remote);
        if (DumpOne(filter, null) > 0) return;
        var reply = BuildSocketFilter(out _, out _);
        reply.SourceAddress = null; reply.DestinationAddress = null; reply.SourcePort = null; reply.DestinationPort = null;
        DumpOne(reply, e => e.Reply.SourcePort == LocalPort && e.Reply.DestinationPort == RemotePort &&
                            Same(e.Reply.SourceIP, local) && Same(e.Reply.DestinationIP, remote));
    }

    private ConntrackFilter BuildSocketFilter(out IPAddress? local, out IPAddress? remote)
    {
        // Piped values change with every record: build the filter from them without touching the bound parameters.
        var f = BuildFilter();
        if (f.SourceAddress is null && LocalAddress is not null) f.SourceAddress = Parse(LocalAddress);
        if (f.DestinationAddress is null && RemoteAddress is not null) f.DestinationAddress = Parse(RemoteAddress);
        f.SourcePort ??= LocalPort;
        f.DestinationPort ??= RemotePort;
        if (f.Protocol is null && InputObject?.Properties["Protocol"]?.Value is string p && Protocols.TryParse(p, out byte n)) f.Protocol = n;
        local = f.SourceAddress?.Network.BaseAddress;
        remote = f.DestinationAddress?.Network.BaseAddress;
        return f;
    }

    private AddressMatch? Parse(string text)
    {
        try { return AddressMatch.Parse(Unmap(text)); }
        catch (InvalidValueException e)
        {
            ThrowTerminatingError(ErrorMapping.InvalidArgument(e.ErrorId, e.Message, text));
            return null;
        }
    }

    private static string Unmap(string text) =>
        IPAddress.TryParse(text, out var a) && a.IsIPv4MappedToIPv6 ? a.MapToIPv4().ToString() : text;

    private static bool Same(IPAddress a, IPAddress? b) => b is null || a.Equals(b);

    /// <summary>Dumps one namespace with <paramref name="filter"/> (and a further user-space condition); returns how many were written.</summary>
    private long DumpOne(ConntrackFilter filter, Func<ConntrackEntry, bool>? also)
    {
        // One namespace: with cores to spare, every family's dump is split in two, IPv4 and IPv6 side by side. Not
        // on two cores: there the receiving thread has one and decoding and writing the other, which a second
        // receiver would have to share (measured: no gain on a table of nine IPv4 entries in ten).
        using var session = new ConntrackSession(CreateClient(splitFamilies: Environment.ProcessorCount > SplitFamiliesAbove));
        if (filter.ExactTuple() is null || NoKernelFilter)
        {
            var plan = filter.PlanDump(session.Client.Features, !NoKernelFilter, session.Client.SplitFamilies);
            WriteVerbose($"Kernel filter: {plan.KernelPart}; user-space filter: {plan.UserPart}{(also is null ? "" : " and the socket's reply tuple")}.");
        }

        // The engine calls the sink on this thread: decoding and writing share the pipeline thread while the
        // dump's receiver thread carries the kernel's work (two busy threads, not three on a two-core node).
        DumpResult result;
        long written = 0;
        try
        {
            result = session.Select(filter, !NoKernelFilter, batch =>
            {
                foreach (var entry in batch)
                {
                    if (also is not null && !also(entry)) continue;
                    WriteObject(entry);
                    written++;
                }
            }, Cancellation.Token);
        }
        catch (OperationCanceledException) when (Cancellation.IsCancellationRequested)
        {
            return written;
        }
        catch (ConntrackToolsException e)
        {
            Terminate(e, NetworkNamespace);
            return written;
        }
        Report(result, null);   // also the kernel-filter line of a lookup, which the plan above did not write
        return written;
    }

    private void DumpAll(ConntrackFilter filter)
    {
        var namespaces = NamespaceFanOut.AllNamespaces();
        var plan = filter.PlanDump(KernelFeatures.Current, !NoKernelFilter);
        WriteVerbose($"Dumping {namespaces.Count} network namespaces, {Math.Min(ThrottleLimit, namespaces.Count)} at a time. " +
                     $"Kernel filter: {plan.KernelPart}; user-space filter: {plan.UserPart}.");
        var notes = new NamespaceNotes();
        using var queue = new ProducerQueue<ConntrackEntry>((add, token) =>
            NamespaceFanOut.ForEach(namespaces, (ns, t) =>
                {
                    using var session = new ConntrackSession(new ConntrackClient(ns));
                    var result = session.Select(filter, !NoKernelFilter, add, t);
                    notes.Verbose($"{ns.Spec} ({ns.Id}): {Summary(result)}");
                    Report(result, notes);
                }, notes.Vanished, notes.Failed, ThrottleLimit, token), Cancellation.Token);
        foreach (var batch in queue.Consume())
        {
            foreach (var entry in batch)
                WriteObject(entry);
            notes.Drain(this);
        }
        if (queue.Failure is not null) Terminate(queue.Failure, null);
        if (Cancellation.IsCancellationRequested) return;
        notes.Drain(this);
    }

    private static string Summary(DumpResult r) => r.EmptyTable
        ? EmptyTableNote
        : $"received {r.Received} entries from the kernel in {r.Datagrams} datagrams; {r.Emitted} matched.";

    private const string EmptyTableNote =
        "the kernel counts no entries in this namespace: no dump sent (a dump walks every bucket of the table all namespaces share).";

    /// <summary>The dump's verbose lines and warning, written now (one namespace) or queued (one of many).</summary>
    private void Report(DumpResult result, NamespaceNotes? notes)
    {
        void Verbose(string s) { if (notes is null) WriteVerbose(s); else notes.Verbose(s); }
        if (notes is null && result.Datagrams == 0 && result.KernelFilter.StartsWith("exact", StringComparison.Ordinal))
            Verbose($"Kernel filter: {result.KernelFilter}; user-space filter: {result.UserFilter}.");
        if (result.FallbackReason is not null) Verbose("Kernel filter refused: " + result.FallbackReason + ".");
        if (notes is null)
        {
            string summary = Summary(result);
            Verbose(char.ToUpperInvariant(summary[0]) + summary[1..]);
        }
        if (result.Retries > 0) Verbose($"The dump was interrupted by table changes and repeated {result.Retries} time(s).");
        if (result.Inconsistent)
        {
            string w = $"The kernel flagged the dump as inconsistent (NLM_F_DUMP_INTR) after {ConntrackClient.DumpRetries} retries: entries that changed during the dump may be missing.";
            if (notes is null) WriteWarning(w); else notes.Warning(w);
        }
    }
}
