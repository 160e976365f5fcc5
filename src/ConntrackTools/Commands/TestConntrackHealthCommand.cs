using System;
using System.Management.Automation;
using ConntrackTools.Health;
using ConntrackTools.Lab;

namespace ConntrackTools.Commands;

/// <summary>Node checks for conntrack as HealthCheckResults: table fill, drop counters, tcp_loose, buckets, masquerade rules, VIP moves.</summary>
[Cmdlet(VerbsDiagnostic.Test, "ConntrackHealth")]
[OutputType(typeof(HealthCheckResult))]
public sealed class TestConntrackHealthCommand : NetworkNamespaceCmdlet
{
    /// <summary>Count/Max above this fails the TableFill check (default 0.8).</summary>
    [Parameter]
    [ValidateRange(0.0, 1.0)]
    public double MaxFillRatio { get; set; } = 0.8;

    /// <summary>Also run Test-VipMigration in its sandbox and report its verdict (needs root; a few seconds).</summary>
    [Parameter]
    public SwitchParameter IncludeVipMigration { get; set; }

    protected override void EndProcessing()
    {
        try
        {
            foreach (var r in ConntrackHealth.Run(Namespace, new HealthOptions { MaxFillRatio = MaxFillRatio }, Cancellation.Token))
                WriteObject(r);
            if (IncludeVipMigration)
            {
                Namespaces.Privileges.RequireNetworkAdmin("-IncludeVipMigration (it builds a sandbox of network namespaces)");
                WriteVerbose("Running the VIP migration sandbox (Test-VipMigration).");
                var vip = new VipMigrationRunner(new VipMigrationOptions(), n => { }).RunSandbox(Cancellation.Token);
                WriteObject(ConntrackHealth.FromVipMigration(vip));
            }
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            Terminate(e, NetworkNamespace);
        }
    }
}
