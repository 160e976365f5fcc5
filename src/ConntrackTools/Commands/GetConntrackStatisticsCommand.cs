using System.Collections.Generic;
using System.Management.Automation;
using ConntrackTools.Conntrack;
using ConntrackTools.Namespaces;

namespace ConntrackTools.Commands;

/// <summary>Table count and limit, and the kernel's conntrack counters (summed, or per CPU).</summary>
[Cmdlet(VerbsCommon.Get, "ConntrackStatistics")]
[OutputType(typeof(ConntrackStatistics))]
public sealed class GetConntrackStatisticsCommand : NetworkNamespaceCmdlet
{
    /// <summary>A name, path or PID; also bound by property name from the pipeline (Get-NetworkNamespace | Get-ConntrackStatistics).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(NetworkNamespaceCompleter))]
    [Alias("NetNs", "Namespace")]
    public override string? NetworkNamespace { get; set; }

    /// <summary>One object per CPU instead of the sum.</summary>
    [Parameter]
    public SwitchParameter PerCpu { get; set; }

    /// <summary>Read every network namespace of the host, several at once.</summary>
    [Parameter]
    [Alias("AllNetNs")]
    public SwitchParameter AllNetworkNamespaces { get; set; }

    protected override void ProcessRecord()
    {
        CheckAllNetworkNamespaces(AllNetworkNamespaces);
        if (AllNetworkNamespaces)
        {
            ReadAll();
            return;
        }
        try
        {
            var client = CreateClient();
            var (count, max, cpus) = client.Statistics();
            if (PerCpu)
                foreach (var c in cpus) WriteObject(c);
            else
                WriteObject(ConntrackClient.Sum(count, max, cpus, NetworkNamespace, client.Namespace?.Id));
        }
        catch (System.Exception e)
        {
            Terminate(e, NetworkNamespace);
        }
    }

    private void ReadAll()
    {
        var namespaces = NamespaceFanOut.AllNamespaces();
        var results = new List<ConntrackStatistics>?[namespaces.Count];
        var index = new Dictionary<NetworkNamespace, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < namespaces.Count; i++) index[namespaces[i]] = i;
        var notes = new NamespaceNotes();
        WriteVerbose($"Reading the statistics of {namespaces.Count} network namespaces.");
        try
        {
            NamespaceFanOut.ForEach(namespaces, (ns, _) =>
            {
                var (count, max, cpus) = new ConntrackClient(ns).Statistics();
                results[index[ns]] = PerCpu ? cpus : [ConntrackClient.Sum(count, max, cpus, ns.Spec, ns.Id)];
            }, notes.Vanished, notes.Failed, NamespaceFanOut.DefaultParallelism, Cancellation.Token);
        }
        catch (System.OperationCanceledException e)
        {
            Terminate(e, null);
        }
        foreach (var list in results)
            if (list is not null)
                foreach (var s in list) WriteObject(s);
        notes.Drain(this);
    }
}
