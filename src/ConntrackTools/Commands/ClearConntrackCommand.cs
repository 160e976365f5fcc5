using System.Management.Automation;

namespace ConntrackTools.Commands;

/// <summary>Flushes the whole conntrack table of the namespace.</summary>
[Cmdlet(VerbsCommon.Clear, "Conntrack", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(void))]
public sealed class ClearConntrackCommand : NetworkNamespaceCmdlet
{
    protected override void EndProcessing()
    {
        string where = NetworkNamespace is null ? "the current network namespace" : $"network namespace '{NetworkNamespace}'";
        try
        {
            var client = CreateClient();
            uint before = client.Statistics().Count;
            if (!ShouldProcess($"{before} entries in {where}", "Flush the conntrack table")) return;
            client.Flush();
            WriteVerbose($"Flushed the conntrack table of {where}: {before} entries were in it before the flush.");
        }
        catch (System.Exception e) when (e is not PipelineStoppedException)
        {
            Terminate(e, NetworkNamespace);
        }
    }
}
