using System;
using System.Collections.Generic;
using System.Management.Automation;
using ConntrackTools.Health;
using ConntrackTools.Lab;
using ConntrackTools.Namespaces;

namespace ConntrackTools.Commands;

/// <summary>Node checks for conntrack as HealthCheckResults: table fill, drop counters, tcp_loose, buckets, masquerade rules, VIP moves.</summary>
[Cmdlet(VerbsDiagnostic.Test, "ConntrackHealth")]
[OutputType(typeof(HealthCheckResult))]
public sealed class TestConntrackHealthCommand : NetworkNamespaceCmdlet
{
    /// <summary>A name, path or PID; also bound by property name from the pipeline (Get-NetworkNamespace | Test-ConntrackHealth).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(NetworkNamespaceCompleter))]
    [Alias("NetNs", "Namespace")]
    public override string? NetworkNamespace { get; set; }

    /// <summary>Count/Max above this fails the TableFill check (default 0.8).</summary>
    [Parameter]
    [ValidateRange(0.0, 1.0)]
    public double MaxFillRatio { get; set; } = 0.8;

    /// <summary>Also run Test-VipMigration in its sandbox and report its verdict (needs root; a few seconds).</summary>
    [Parameter]
    public SwitchParameter IncludeVipMigration { get; set; }

    /// <summary>Check every network namespace of the host, several at once.</summary>
    [Parameter]
    [Alias("AllNetNs")]
    public SwitchParameter AllNetworkNamespaces { get; set; }

    /// <summary>Judge the KernelAdvisory checks by kernel version only: do not run the CTA_FILTER probe in a private namespace.</summary>
    [Parameter]
    public SwitchParameter SkipKernelProbe { get; set; }

    // The VIP-deletion behaviour and the kernel advisories belong to the kernel, not to a namespace: once per call.
    private bool _kernelDone;

    protected override void ProcessRecord()
    {
        CheckAllNetworkNamespaces(AllNetworkNamespaces);
        try
        {
            var options = new HealthOptions { MaxFillRatio = MaxFillRatio };
            if (AllNetworkNamespaces) CheckAll(options);
            else
                foreach (var r in ConntrackHealth.Run(Namespace, options, Cancellation.Token))
                    WriteObject(r);
            if (!_kernelDone)
            {
                _kernelDone = true;
                CheckKernel();
            }
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            Terminate(e, NetworkNamespace);
        }
    }

    private void CheckKernel()
    {
        var probes = new Dictionary<string, ProbeResult>();
        if (IncludeVipMigration)
        {
            Privileges.RequireNetworkAdmin("-IncludeVipMigration (it builds a sandbox of network namespaces)");
            WriteVerbose("Running the VIP migration sandbox (Test-VipMigration).");
            var vip = new VipMigrationRunner(new VipMigrationOptions(), n => { }).RunSandbox(Cancellation.Token);
            WriteObject(ConntrackHealth.FromVipMigration(vip));
            probes["VipMigration"] = new ProbeResult(vip.Passed ? ProbeVerdict.Fixed : ProbeVerdict.Affected, vip.Verdict);
        }
        if (!SkipKernelProbe)
        {
            if (Privileges.Has(Privileges.CAP_SYS_ADMIN) && Privileges.Has(Privileges.CAP_NET_ADMIN))
            {
                WriteVerbose("Probing CTA_FILTER with IPv6 addresses in a private network namespace.");
                probes["CtaFilterIPv6"] = CtaFilterIPv6Probe.Run();
            }
            else WriteVerbose("Not probing CTA_FILTER: a private network namespace needs CAP_SYS_ADMIN and CAP_NET_ADMIN; judging by version.");
        }
        foreach (var r in KernelAdvisories.Evaluate(KernelAdvisories.Load(), KernelAdvisories.RunningRelease(), probes))
            WriteObject(r);
    }

    private void CheckAll(HealthOptions options)
    {
        var namespaces = NamespaceFanOut.AllNamespaces();
        var results = new List<HealthCheckResult>?[namespaces.Count];
        var index = new Dictionary<NetworkNamespace, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < namespaces.Count; i++) index[namespaces[i]] = i;
        var notes = new NamespaceNotes();
        WriteVerbose($"Checking {namespaces.Count} network namespaces.");
        NamespaceFanOut.ForEach(namespaces, (ns, token) => results[index[ns]] = ConntrackHealth.Run(ns, options, token),
            notes.Vanished, notes.Failed, NamespaceFanOut.DefaultParallelism, Cancellation.Token);
        foreach (var list in results)
            if (list is not null)
                foreach (var r in list) WriteObject(r);
        notes.Drain(this);
    }
}
