using System;
using System.Management.Automation;
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

    private ConntrackFilter? _filter;

    protected override void ProcessRecord()
    {
        CheckAllNetworkNamespaces(AllNetworkNamespaces);
        if (_filter is null)
        {
            _filter = BuildFilter();
            WriteSelectionNotes(_filter);
        }
        if (AllNetworkNamespaces) DumpAll(_filter);
        else DumpOne(_filter);
    }

    private void DumpOne(ConntrackFilter filter)
    {
        using var session = new ConntrackSession(CreateClient());
        if (filter.ExactTuple() is null || NoKernelFilter)
        {
            var plan = filter.PlanDump(session.Client.Features, !NoKernelFilter);
            WriteVerbose($"Kernel filter: {plan.KernelPart}; user-space filter: {plan.UserPart}.");
        }

        DumpResult? result = null;
        using var queue = new ProducerQueue<ConntrackEntry>(
            (add, token) => result = session.Select(filter, !NoKernelFilter, add, token), Cancellation.Token);
        foreach (var batch in queue.Consume())
            foreach (var entry in batch)
                WriteObject(entry);
        if (queue.Failure is not null) Terminate(queue.Failure, NetworkNamespace);
        if (Cancellation.IsCancellationRequested) return;
        if (result is null) return;
        if (result.Datagrams == 0 && result.KernelFilter.StartsWith("exact", StringComparison.Ordinal))
            WriteVerbose($"Kernel filter: {result.KernelFilter}; user-space filter: {result.UserFilter}.");
        Report(result, null);
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

    private static string Summary(DumpResult r) =>
        $"received {r.Received} entries from the kernel in {r.Datagrams} datagrams; {r.Emitted} matched.";

    /// <summary>The dump's verbose lines and warning, written now (one namespace) or queued (one of many).</summary>
    private void Report(DumpResult result, NamespaceNotes? notes)
    {
        void Verbose(string s) { if (notes is null) WriteVerbose(s); else notes.Verbose(s); }
        if (notes is null && result.Datagrams == 0 && result.KernelFilter.StartsWith("exact", StringComparison.Ordinal))
            Verbose($"Kernel filter: {result.KernelFilter}; user-space filter: {result.UserFilter}.");
        if (result.FallbackReason is not null) Verbose("Kernel filter refused: " + result.FallbackReason + ".");
        if (notes is null) Verbose($"Received {result.Received} entries from the kernel in {result.Datagrams} datagrams; {result.Emitted} matched.");
        if (result.Retries > 0) Verbose($"The dump was interrupted by table changes and repeated {result.Retries} time(s).");
        if (result.Inconsistent)
        {
            string w = $"The kernel flagged the dump as inconsistent (NLM_F_DUMP_INTR) after {ConntrackClient.DumpRetries} retries: entries that changed during the dump may be missing.";
            if (notes is null) WriteWarning(w); else notes.Warning(w);
        }
    }
}
