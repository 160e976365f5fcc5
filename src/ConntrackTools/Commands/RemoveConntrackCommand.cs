using System;
using System.Collections.Generic;
using System.Management.Automation;
using ConntrackTools.Inet;
using ConntrackTools.Conntrack;

namespace ConntrackTools.Commands;

/// <summary>Deletes entries piped in (from Get-Conntrack) or selected with the Get-Conntrack selectors.</summary>
[Cmdlet(VerbsCommon.Remove, "Conntrack", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = FilterSet)]
[OutputType(typeof(ConntrackEntry))]
public sealed class RemoveConntrackCommand : ConntrackFilterCmdlet
{
    private const string FilterSet = "Filter";
    private const string InputSet = "InputObject";

    private ConntrackSession? _session;
    private ConntrackFilter? _filter;
    private int _received, _removed, _gone, _declined;

    /// <summary>Entries to delete; they are the selection (selectors cannot be given with them).</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = InputSet)]
    public ConntrackEntry[] InputObject { get; set; } = Array.Empty<ConntrackEntry>();

    /// <summary>Write each removed entry to the pipeline.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void BeginProcessing()
    {
        _filter = BuildFilter();
        WriteSelectionNotes(_filter);
        if (ParameterSetName == FilterSet && _filter.IsEmpty)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidArgument,
                "Give at least one selector (for example -DestinationPort 8899) or pipe entries in. To delete every entry use Clear-Conntrack.", null));
        if (ParameterSetName == InputSet && !_filter.IsEmpty)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidArgument,
                "Piped entries are the selection: give either entries from the pipeline or selectors, not both (filter the pipeline with Where-Object, or select with Get-Conntrack's parameters).", null));
        _session = new ConntrackSession(CreateClient());
    }

    protected override void ProcessRecord()
    {
        if (ParameterSetName != InputSet) return;
        foreach (var entry in InputObject)
        {
            if (entry is null) continue;
            _received++;
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
                var result = _session!.Select(_filter!, !NoKernelFilter, batch => { lock (victims) victims.AddRange(batch); }, Cancellation.Token);
                WriteVerbose($"Kernel filter: {result.KernelFilter}; user-space filter: {result.UserFilter}. {victims.Count} entries selected.");
                _received = victims.Count;
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
            _session?.Dispose();
            _session = null;
        }
        string extra = _gone > 0 ? $"; {_gone} were already gone (expired or deleted meanwhile)" : "";
        WriteVerbose($"Removed {_removed} conntrack entries{extra}.");
        if (_removed == 0 && _declined == 0 && !Cancellation.IsCancellationRequested && (ParameterSetName == FilterSet || _received > 0))
            WriteError(NothingMatched.Record(_received == 0 ? "No conntrack entry matches the selection." :
                $"None of the {_received} selected conntrack entries exists any more: nothing was removed.", NetworkNamespace));
    }

    private void RemoveOne(ConntrackEntry entry)
    {
        if (!ShouldProcess(entry.ToString(), "Remove conntrack entry")) { _declined++; return; }
        try
        {
            if (_session!.Delete(entry))
            {
                _removed++;
                if (PassThru) WriteObject(entry);
            }
            else
            {
                _gone++;
            }
        }
        catch (ConntrackToolsException e)
        {
            WriteEngineError(e, entry);
        }
    }
}

/// <summary>The non-terminating ObjectNotFound a change cmdlet writes when its selection matched nothing (conntrack exits 1 there).</summary>
internal static class NothingMatched
{
    public static ErrorRecord Record(string message, object? target) =>
        new(new ItemNotFoundException(message), ErrorIds.EntryNotFound, ErrorCategory.ObjectNotFound, target);
}
