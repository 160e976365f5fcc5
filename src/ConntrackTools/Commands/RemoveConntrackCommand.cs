using System;
using System.Collections.Generic;
using System.Management.Automation;
using ConntrackTools.Conntrack;
using ConntrackTools.Netlink;

namespace ConntrackTools.Commands;

/// <summary>Deletes entries piped in (from Get-Conntrack) or selected with the Get-Conntrack filters.</summary>
[Cmdlet(VerbsCommon.Remove, "Conntrack", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = FilterSet)]
[OutputType(typeof(ConntrackEntry))]
public sealed class RemoveConntrackCommand : ConntrackFilterCmdlet
{
    private const string FilterSet = "Filter";
    private const string InputSet = "InputObject";

    private ConntrackClient? _client;
    private NetlinkConnection? _conn;
    private ConntrackFilter? _filter;
    private int _removed, _gone, _skipped;

    /// <summary>Entries to delete; filters given as well narrow them further.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = InputSet)]
    public ConntrackEntry[] InputObject { get; set; } = Array.Empty<ConntrackEntry>();

    /// <summary>Write each removed entry to the pipeline.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void BeginProcessing()
    {
        _filter = BuildFilter();
        if (ParameterSetName == FilterSet && _filter.IsEmpty)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidArgument,
                "Give at least one filter (for example -DestinationPort 8899) or pipe entries in. To delete every entry use Clear-Conntrack.", null));
        _client = CreateClient();
    }

    protected override void ProcessRecord()
    {
        if (ParameterSetName != InputSet) return;
        foreach (var entry in InputObject)
        {
            if (entry is null) continue;
            if (!_filter!.Matches(entry)) { _skipped++; continue; }
            RemoveOne(entry);
        }
    }

    protected override void EndProcessing()
    {
        try
        {
            if (ParameterSetName == FilterSet)
            {
                // Collect first, then delete: deleting while the kernel walks the table would disturb the dump.
                var victims = new List<ConntrackEntry>();
                var result = _client!.Dump(_filter!, !NoKernelFilter, batch => victims.AddRange(batch), Cancellation.Token);
                WriteVerbose($"Kernel filter: {result.KernelFilter}; user-space filter: {result.UserFilter}. {victims.Count} entries selected.");
                foreach (var e in victims)
                {
                    if (Cancellation.IsCancellationRequested) break;
                    RemoveOne(e);
                }
            }
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            Terminate(e, NetworkNamespace);
        }
        finally
        {
            _conn?.Dispose();
            _conn = null;
        }
        string extra = _gone > 0 ? $"; {_gone} were already gone" : "";
        if (_skipped > 0) extra += $"; {_skipped} piped entries did not match the filters";
        WriteVerbose($"Removed {_removed} conntrack entries{extra}.");
    }

    private void RemoveOne(ConntrackEntry entry)
    {
        if (!ShouldProcess(entry.ToString(), "Remove conntrack entry")) return;
        try
        {
            _conn ??= _client!.Connect();
            if (_client!.Delete(entry, _conn))
            {
                _removed++;
                if (PassThru) WriteObject(entry);
            }
            else
            {
                _gone++;
                WriteVerbose($"Already gone: {entry}");
            }
        }
        catch (ConntrackToolsException e)
        {
            WriteEngineError(e, entry);
        }
    }
}
