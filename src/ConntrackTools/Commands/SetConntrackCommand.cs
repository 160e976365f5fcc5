using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using ConntrackTools.Inet;
using ConntrackTools.Conntrack;

namespace ConntrackTools.Commands;

/// <summary>
/// Changes the timeout, mark (under a mask), status flags and labels of entries piped in from Get-Conntrack or
/// selected with the Get-Conntrack selectors (conntrack -U). Piped objects are left as they are; -PassThru writes
/// each entry as the kernel holds it after the change.
/// </summary>
[Cmdlet(VerbsCommon.Set, "Conntrack", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = FilterSet)]
[OutputType(typeof(ConntrackEntry))]
public sealed class SetConntrackCommand : ConntrackSelectorCmdlet
{
    private const string FilterSet = "Filter";
    private const string InputSet = "InputObject";

    private ConntrackSession? _session;
    private ConntrackChange? _change;
    private string _what = "";
    private int _received, _changed, _gone, _declined;

    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = InputSet)]
    public ConntrackEntry[] InputObject { get; set; } = Array.Empty<ConntrackEntry>();

    /// <summary>New mark; with -MarkMask only the bits of the mask change (conntrack -U --mark V/M).</summary>
    [Parameter]
    [MarkBits]
    public uint? Mark { get; set; }

    [Parameter]
    [MarkBits]
    public uint? MarkMask { get; set; }

    /// <summary>New timeout; a bare number is seconds.</summary>
    [Parameter]
    [SecondsToTimeSpan]
    public TimeSpan? Timeout { get; set; }

    /// <summary>Status flags to add (SeenReply, Assured, FixedTimeout); the kernel never clears status flags.</summary>
    [Parameter]
    public ConntrackStatus? Status { get; set; }

    /// <summary>Labels to set: names from /etc/xtables/connlabel.conf (or -LabelMap) or bit numbers 0-127.</summary>
    [Parameter]
    public string[]? AddLabel { get; set; }

    [Parameter]
    public string[]? RemoveLabel { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void BeginProcessing()
    {
        var filter = BuildSelection();
        if (ParameterSetName == InputSet && !filter.IsEmpty)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidArgument,
                "Piped entries are the selection: give either entries from the pipeline or selectors, not both.", null));
        if (ParameterSetName == FilterSet && filter.IsEmpty)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidArgument,
                "Pipe entries in or give at least one selector (for example -DestinationPort 8899).", null));
        if (MarkMask is not null && Mark is null)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidArgument, "-MarkMask needs -Mark.", MarkMask));
        if (Timeout is TimeSpan t && (t < TimeSpan.FromSeconds(1) || t.TotalSeconds > int.MaxValue))
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidTimeout, $"-Timeout {t} is out of range: use 1 to {int.MaxValue} seconds.", t));
        if (Status is ConntrackStatus st && (st & ~ConntrackMessages.UserSettableStatus) != 0)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidStatus,
                $"-Status {st & ~ConntrackMessages.UserSettableStatus}: only {ConntrackMessages.UserSettableStatus} can be added; the kernel owns the other flags.", st));
        _change = new ConntrackChange
        {
            Timeout = Timeout,
            Mark = Mark,
            MarkMask = MarkMask,
            AddStatus = Status,
            AddLabels = AddLabel is null ? null : ResolveLabels(AddLabel, nameof(AddLabel)),
            RemoveLabels = RemoveLabel is null ? null : ResolveLabels(RemoveLabel, nameof(RemoveLabel)),
        };
        if (_change.IsEmpty)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidArgument, "Give what to change: -Mark, -Timeout, -Status, -AddLabel or -RemoveLabel.", null));
        _what = Describe(_change);
        _session = new ConntrackSession(CreateClient());
        if (ParameterSetName == FilterSet)
        {
            try
            {
                var selected = new List<ConntrackEntry>();
                var result = _session.Select(filter, !NoKernelFilter, selected.AddRange, Cancellation.Token);
                WriteVerbose($"Kernel filter: {result.KernelFilter}; user-space filter: {result.UserFilter}. {selected.Count} entries selected.");
                foreach (var e in selected)
                {
                    if (Cancellation.IsCancellationRequested) break;
                    _received++;
                    SetOne(e);
                }
            }
            catch (Exception e) when (e is not PipelineStoppedException)
            {
                Terminate(e, NetworkNamespace);
            }
        }
    }

    protected override void ProcessRecord()
    {
        if (ParameterSetName != InputSet) return;
        foreach (var entry in InputObject)
        {
            if (entry is null) continue;
            _received++;
            SetOne(entry);
        }
    }

    private void SetOne(ConntrackEntry entry)
    {
        if (!ShouldProcess(entry.ToString(), "Set " + _what)) { _declined++; return; }
        try
        {
            // Status is one word the kernel compares whole: start from the entry as it is now, not as it was piped.
            var current = _change!.AddStatus is not null ? _session!.Refresh(entry) : entry;
            if (current is null || !_session!.Update(current, _change))
            {
                _gone++;
                return;
            }
            _changed++;
            if (PassThru && _session.Refresh(current) is ConntrackEntry fresh)
            {
                fresh.NetworkNamespace = NetworkNamespace;
                WriteObject(fresh);
            }
        }
        catch (Exception e) when (ErrorMapping.IsEngineError(e))
        {
            WriteEngineError(e, entry);
        }
    }

    protected override void EndProcessing()
    {
        _session?.Dispose();
        _session = null;
        string extra = _gone > 0 ? $"; {_gone} were gone (expired or deleted meanwhile)" : "";
        WriteVerbose($"Changed {_changed} conntrack entries{extra}.");
        if (_changed == 0 && _declined == 0 && !Cancellation.IsCancellationRequested && (ParameterSetName == FilterSet || _received > 0))
            WriteError(NothingMatched.Record(_received == 0 ? "No conntrack entry matches the selection." :
                $"None of the {_received} selected conntrack entries exists any more: nothing was changed.", NetworkNamespace));
    }

    private static string Describe(ConntrackChange c)
    {
        var parts = new List<string>();
        if (c.Mark is uint m) parts.Add(c.MarkMask is uint mm ? $"mark 0x{m:x}/0x{mm:x}" : $"mark {m}");
        if (c.Timeout is TimeSpan t) parts.Add($"timeout {t.TotalSeconds:0}s");
        if (c.AddStatus is ConntrackStatus s) parts.Add($"status +{s}");
        if (c.AddLabels is not null) parts.Add("labels +" + string.Join(",", c.AddLabels));
        if (c.RemoveLabels is not null) parts.Add("labels -" + string.Join(",", c.RemoveLabels));
        return string.Join(" and ", parts);
    }
}
