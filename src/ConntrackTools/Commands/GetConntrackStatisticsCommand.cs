using System.Management.Automation;
using ConntrackTools.Conntrack;

namespace ConntrackTools.Commands;

/// <summary>Table count and limit, and the kernel's conntrack counters (summed, or per CPU).</summary>
[Cmdlet(VerbsCommon.Get, "ConntrackStatistics")]
[OutputType(typeof(ConntrackStatistics))]
public sealed class GetConntrackStatisticsCommand : NetworkNamespaceCmdlet
{
    /// <summary>One object per CPU instead of the sum.</summary>
    [Parameter]
    public SwitchParameter PerCpu { get; set; }

    protected override void EndProcessing()
    {
        try
        {
            var (count, max, cpus) = CreateClient().Statistics();
            if (PerCpu)
                foreach (var c in cpus) WriteObject(c);
            else
                WriteObject(ConntrackClient.Sum(count, max, cpus, NetworkNamespace));
        }
        catch (System.Exception e)
        {
            Terminate(e, NetworkNamespace);
        }
    }
}
