using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Management.Automation;
using ConntrackTools.Evidence;
using ConntrackTools.Namespaces;

namespace ConntrackTools.Commands;

/// <summary>
/// Gathers one archive with everything an incident needs (kernel, sysctls, statistics, table, addresses, routes,
/// masquerade rules, health; with -Duration events, address changes and a capture) and what the detectors found.
/// </summary>
[Cmdlet(VerbsData.Export, "ConntrackEvidence", DefaultParameterSetName = OneSet)]
[OutputType(typeof(ConntrackEvidenceSummary))]
public sealed class ExportConntrackEvidenceCommand : NetworkNamespaceCmdlet
{
    private const string OneSet = "One";
    private const string AllSet = "All";

    /// <summary>The zip file to write.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>Record events (and packets with -InterfaceName) for this long; a bare number is seconds.</summary>
    [Parameter]
    [SecondsToTimeSpan]
    public TimeSpan? Duration { get; set; }

    /// <summary>Every named network namespace and the current one.</summary>
    [Parameter(ParameterSetName = AllSet)]
    public SwitchParameter AllNetworkNamespaces { get; set; }

    /// <summary>Capture packets on this interface during -Duration.</summary>
    [Parameter(ParameterSetName = OneSet)]
    [ValidateNotNullOrEmpty]
    public string? InterfaceName { get; set; }

    /// <summary>BPF filter of the capture.</summary>
    [Parameter(ParameterSetName = OneSet)]
    [ValidateNotNullOrEmpty]
    public string? Filter { get; set; }

    /// <summary>Replace an existing file.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Write the bundle's summary to the pipeline.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void EndProcessing()
    {
        string path = GetUnresolvedProviderPathFromPSPath(Path);
        if (File.Exists(path) && !Force)
            ThrowTerminatingError(new ErrorRecord(new IOException($"'{path}' exists: use -Force to replace it."), ErrorIds.FileExists, ErrorCategory.ResourceExists, path));
        if (Duration is TimeSpan d && d <= TimeSpan.Zero)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidArgument, $"-Duration {d} must be positive.", d));
        if (InterfaceName is not null && Duration is null)
            WriteWarning("-InterfaceName captures only during -Duration: no capture without it.");
        if (AllNetworkNamespaces && NetworkNamespace is not null)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidArgument, "-NetworkNamespace and -AllNetworkNamespaces exclude each other.", NetworkNamespace));

        var namespaces = new List<NetworkNamespace?>();
        try
        {
            if (AllNetworkNamespaces)
            {
                // The caller's own namespace is "current"; every other one, named or held only by a process, follows.
                ulong? own = NamespaceNative.Inode("/proc/thread-self/ns/net");
                namespaces.Add(null);
                foreach (var found in NamespaceInventory.Scan())
                    if (found.Id != own) namespaces.Add(found.ToNamespace());
                WriteVerbose($"Namespaces: the current one and {namespaces.Count - 1} others (named and held only by processes).");
            }
            else namespaces.Add(Namespace);

            var request = new EvidenceRequest
            {
                Path = path,
                Namespaces = namespaces,
                Duration = Duration,
                InterfaceName = Duration is null ? null : InterfaceName,
                CaptureFilter = Filter,
                SkipUnreadable = AllNetworkNamespaces,
            };
            var summary = EvidenceExporter.Export(request, WriteVerbose, Cancellation.Token);
            foreach (var f in summary.Findings) WriteVerbose("Finding: " + f);
            if (PassThru) WriteObject(summary);
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            Terminate(e, path);
        }
    }
}
