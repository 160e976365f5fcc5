using System;
using System.Management.Automation;
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
        var client = CreateClient();
        var plan = filter.PlanDump(client.Features, !NoKernelFilter);
        WriteVerbose($"Kernel filter: {plan.KernelPart}; user-space filter: {plan.UserPart}.");

        DumpResult? result = null;
        using var queue = new ProducerQueue<ConntrackEntry>(
            (add, token) => result = client.Dump(filter, !NoKernelFilter, add, token), Cancellation.Token);
        foreach (var batch in queue.Consume())
            foreach (var entry in batch)
                WriteObject(entry);
        if (queue.Failure is not null) Terminate(queue.Failure, NetworkNamespace);
        if (Cancellation.IsCancellationRequested) return;
        if (result is not null)
        {
            if (result.FallbackReason is not null) WriteVerbose("Kernel filter refused: " + result.FallbackReason + ".");
            WriteVerbose($"Received {result.Received} entries from the kernel in {result.Datagrams} datagrams; {result.Emitted} matched.");
            if (result.Retries > 0) WriteVerbose($"The dump was interrupted by table changes and repeated {result.Retries} time(s).");
            if (result.Inconsistent)
                WriteWarning($"The kernel flagged the dump as inconsistent (NLM_F_DUMP_INTR) after {ConntrackClient.DumpRetries} retries: entries that changed during the dump may be missing.");
        }
    }
}
