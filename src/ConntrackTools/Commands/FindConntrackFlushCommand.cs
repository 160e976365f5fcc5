using System;
using System.Management.Automation;
using ConntrackTools.Impact;

namespace ConntrackTools.Commands;

/// <summary>Reads ConntrackEvents (and AddressChangeEvents) from the pipeline and reports each burst of Destroy events as a ConntrackFlushFinding.</summary>
[Cmdlet(VerbsCommon.Find, "ConntrackFlush")]
[OutputType(typeof(ConntrackFlushFinding))]
public sealed class FindConntrackFlushCommand : PSCmdlet
{
    private ConntrackFlushDetector? _detector;
    private long _ignored;

    /// <summary>ConntrackEvent objects from Watch-Conntrack, and AddressChangeEvent objects from Watch-AddressChange, in time order.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true)]
    [AllowNull]
    public object? InputObject { get; set; }

    /// <summary>Smallest burst reported (default 100 Destroy events).</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int MinimumEntries { get; set; } = 100;

    /// <summary>Largest gap between two Destroy events of one burst, and how long before a burst an address change still coincides with it (default 1 second).</summary>
    [Parameter]
    [SecondsToTimeSpan]
    public TimeSpan Window { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Entries kept in each finding's Sample (default 5).</summary>
    [Parameter]
    [ValidateRange(0, 10000)]
    public int SampleSize { get; set; } = 5;

    protected override void BeginProcessing()
    {
        if (Window <= TimeSpan.Zero)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidArgument, "-Window must be longer than zero.", Window));
        _detector = new ConntrackFlushDetector(new ConntrackFlushOptions { MinimumEntries = MinimumEntries, Window = Window, SampleSize = SampleSize });
    }

    protected override void ProcessRecord()
    {
        object? o = InputObject is PSObject pso ? pso.BaseObject : InputObject;
        switch (o)
        {
            case null: return;
            case ConntrackEvent e: Write(_detector!.Add(e)); break;
            case AddressChangeEvent a: Write(_detector!.Add(a)); break;
            case ConntrackEntry: _ignored++; break; // a table dump has no Destroy events
            default:
                WriteError(new ErrorRecord(new ArgumentException($"Find-ConntrackFlush reads ConntrackEvent and AddressChangeEvent objects, not {o.GetType().Name}."),
                    ErrorIds.InvalidArgument, ErrorCategory.InvalidType, o));
                break;
        }
    }

    protected override void EndProcessing()
    {
        Write(_detector!.Complete());
        WriteVerbose($"{_detector.Destroyed} Destroy events read; {_detector.ExpiredIgnored} were timeouts (the entry had reached the timeout its last New/Update event announced) and were not counted." +
                     (_ignored > 0 ? $" {_ignored} table entries ignored (pipe Watch-Conntrack events)." : ""));
    }

    private void Write(System.Collections.Generic.IEnumerable<ConntrackFlushFinding> findings)
    {
        foreach (var f in findings) WriteObject(f);
    }
}
