using System;
using System.Management.Automation;
using ConntrackTools.Inet;
using ConntrackTools.Conntrack;

namespace ConntrackTools.Commands;

/// <summary>Dumps the conntrack table over ctnetlink and streams the entries as they are decoded.</summary>
[Cmdlet(VerbsCommon.Get, "Conntrack")]
[OutputType(typeof(ConntrackEntry))]
public sealed class GetConntrackCommand : ConntrackFilterCmdlet
{
    protected override void EndProcessing()
    {
        var filter = BuildFilter();
        WriteSelectionNotes(filter);
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
        if (result is not null)
        {
            if (result.Datagrams == 0 && result.KernelFilter.StartsWith("exact", StringComparison.Ordinal))
                WriteVerbose($"Kernel filter: {result.KernelFilter}; user-space filter: {result.UserFilter}.");
            if (result.FallbackReason is not null) WriteVerbose("Kernel filter refused: " + result.FallbackReason + ".");
            WriteVerbose($"Received {result.Received} entries from the kernel in {result.Datagrams} datagrams; {result.Emitted} matched.");
            if (result.Retries > 0) WriteVerbose($"The dump was interrupted by table changes and repeated {result.Retries} time(s).");
            if (result.Inconsistent)
                WriteWarning($"The kernel flagged the dump as inconsistent (NLM_F_DUMP_INTR) after {ConntrackClient.DumpRetries} retries: entries that changed during the dump may be missing.");
        }
    }
}
