using System;
using System.Management.Automation;
using ConntrackTools.Conntrack;
using ConntrackTools.Netlink;

namespace ConntrackTools.Commands;

/// <summary>Changes the mark and/or timeout of entries piped in from Get-Conntrack.</summary>
[Cmdlet(VerbsCommon.Set, "Conntrack", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(ConntrackEntry))]
public sealed class SetConntrackCommand : NetworkNamespaceCmdlet
{
    private ConntrackClient? _client;
    private NetlinkConnection? _conn;
    private int _changed;

    [Parameter(Mandatory = true, ValueFromPipeline = true, Position = 0)]
    public ConntrackEntry[] InputObject { get; set; } = Array.Empty<ConntrackEntry>();

    [Parameter]
    public uint? Mark { get; set; }

    /// <summary>New timeout; a bare number is seconds.</summary>
    [Parameter]
    [SecondsToTimeSpan]
    public TimeSpan? Timeout { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void BeginProcessing()
    {
        if (Mark is null && Timeout is null)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidArgument, "Give -Mark and/or -Timeout.", null));
        if (Timeout is TimeSpan t && (t < TimeSpan.Zero || t.TotalSeconds > uint.MaxValue))
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidArgument, $"-Timeout {t} is out of range.", t));
        _client = CreateClient();
    }

    protected override void ProcessRecord()
    {
        foreach (var entry in InputObject)
        {
            if (entry is null) continue;
            string what = Mark is null ? $"timeout {Timeout!.Value.TotalSeconds:0}s"
                : Timeout is null ? $"mark {Mark}" : $"mark {Mark} and timeout {Timeout.Value.TotalSeconds:0}s";
            if (!ShouldProcess(entry.ToString(), "Set " + what)) continue;
            try
            {
                _conn ??= _client!.Connect();
                _client!.Update(entry, Mark, Timeout, _conn);
                _changed++;
                // The piped object stays as it was read; -PassThru writes a new one with the values now set.
                if (PassThru) WriteObject(entry.With(Mark, Timeout));
            }
            catch (ConntrackToolsException e)
            {
                WriteEngineError(e, entry);
            }
        }
    }

    protected override void EndProcessing()
    {
        _conn?.Dispose();
        WriteVerbose($"Changed {_changed} conntrack entries.");
    }
}
