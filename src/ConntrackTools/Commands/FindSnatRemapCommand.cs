using System;
using System.Management.Automation;
using ConntrackTools.Capture;

namespace ConntrackTools.Commands;

/// <summary>
/// Watches CapturedPackets from the pipeline for TCP flows that continue on a new source port (a lost source-NAT
/// mapping) and writes a SnatRemapFinding for each, as soon as the server's answer shows whether it reset the flow.
/// </summary>
[Cmdlet(VerbsCommon.Find, "SnatRemap")]
[OutputType(typeof(SnatRemapFinding))]
public sealed class FindSnatRemapCommand : PSCmdlet
{
    private SnatRemapDetector? _detector;
    private long _packets;

    /// <summary>Packets in capture order, from Watch-Packet or Read-PacketCapture.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true)]
    [AllowEmptyCollection]
    public CapturedPacket[] InputObject { get; set; } = [];

    /// <summary>How long to wait for the server to answer the new port before reporting without a reset; a bare number is seconds.</summary>
    [Parameter]
    [SecondsToTimeSpan]
    public TimeSpan ResetTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Connections idle for longer are forgotten; a bare number is seconds.</summary>
    [Parameter]
    [SecondsToTimeSpan]
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromHours(1);

    /// <summary>The most connections followed at once; beyond it the longest idle are forgotten.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int MaxFlows { get; set; } = 100_000;

    protected override void BeginProcessing()
    {
        if (ResetTimeout < TimeSpan.Zero)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidArgument, $"-ResetTimeout {ResetTimeout} is negative.", ResetTimeout));
        if (IdleTimeout <= TimeSpan.Zero)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidArgument, $"-IdleTimeout {IdleTimeout} is not a positive time span.", IdleTimeout));
        _detector = new SnatRemapDetector(ResetTimeout, IdleTimeout, MaxFlows, finding => WriteObject(finding));
    }

    protected override void ProcessRecord()
    {
        foreach (var packet in InputObject)
        {
            if (packet is null) continue;
            _packets++;
            _detector!.Add(packet);
        }
    }

    protected override void EndProcessing()
    {
        _detector!.Complete();
        WriteVerbose($"Examined {_packets} packets; {_detector.TrackedFlows} connections were still followed at the end.");
    }
}
