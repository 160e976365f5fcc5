using System;
using System.Collections.Generic;
using System.Management.Automation;
using ConntrackTools.Capture;

namespace ConntrackTools.Commands;

/// <summary>Captures live on one interface through libpcap and writes a CapturedPacket for each IP packet as it arrives.</summary>
[Cmdlet(VerbsCommon.Watch, "Packet")]
[OutputType(typeof(CapturedPacket))]
public sealed class WatchPacketCommand : NetworkNamespaceCmdlet
{
    /// <summary>The interface to capture on, in -NetworkNamespace; 'any' captures on all of them.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    [Alias("Interface")]
    [ArgumentCompleter(typeof(InterfaceNameCompleter))]
    public string InterfaceName { get; set; } = string.Empty;

    /// <summary>A BPF filter in tcpdump's syntax, evaluated in the kernel.</summary>
    [Parameter(Position = 1)]
    public string? Filter { get; set; }

    /// <summary>Stop after this many IP packets.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int? Count { get; set; }

    /// <summary>Stop after this long; a bare number is seconds.</summary>
    [Parameter]
    [SecondsToTimeSpan]
    public TimeSpan? Duration { get; set; }

    /// <summary>Also save every captured frame (the filter applies, non-IP frames included) to this pcap file, created with mode 0600.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? OutFile { get; set; }

    /// <summary>Overwrite an existing -OutFile (never through a symbolic link).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Report the IP packet inside GRE, VXLAN and Geneve tunnels instead of the tunnel's own packet.</summary>
    [Parameter]
    public SwitchParameter Decapsulate { get; set; }

    protected override void EndProcessing()
    {
        if (Duration is { } duration && duration <= TimeSpan.Zero)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidArgument, $"-Duration {duration} is not a positive time span.", duration));
        string? outFile = OutFile is null ? null : SessionState.Path.GetUnresolvedProviderPathFromPSPath(OutFile);

        using (var capture = OpenCapture(outFile))
        {
            var details = new List<string> { $"link type {PacketDecoder.LinkTypeName(capture.LinkType)}" };
            if (!PacketDecoder.IsSupported(capture.LinkType))
                WriteWarning($"{InterfaceName} has link type {PacketDecoder.LinkTypeName(capture.LinkType)}, which is not supported: no packets will be decoded (-OutFile still saves them).");
            if (!string.IsNullOrWhiteSpace(Filter)) details.Add($"filter '{Filter}'");
            if (outFile is not null) details.Add($"saving to {outFile}");
            string where = Namespace is null ? "" : $" in network namespace '{Namespace}'";
            WriteVerbose($"Capturing on {InterfaceName}{where} ({string.Join(", ", details)}).");
            CaptureStatistics? statistics = null;
            using (var queue = new ProducerQueue<CapturedPacket>(
                (add, token) => statistics = capture.Run(add, Count, Duration, token), Cancellation.Token, name: "ConntrackTools capture"))
            {
                foreach (var batch in queue.Consume())
                    foreach (var packet in batch)
                        WriteObject(packet);
                if (queue.Failure is not null) Terminate(queue.Failure, InterfaceName);
            }
            if (Cancellation.IsCancellationRequested || statistics is null) return;
            WriteVerbose($"Captured on {InterfaceName}: {statistics}.");
            if (statistics.KernelDropped > 0 || statistics.InterfaceDropped > 0)
                WriteWarning($"libpcap reports {statistics.KernelDropped} packets dropped because the capture buffer was full and {statistics.InterfaceDropped} dropped by the interface: the capture is incomplete. A narrower -Filter or a faster pipeline helps.");
        }
    }

    private LiveCapture OpenCapture(string? outFile)
    {
        try
        {
            return LiveCapture.Open(Namespace, InterfaceName, Filter, outFile, Force, Decapsulate);
        }
        catch (ConntrackToolsException e)
        {
            Terminate(e, InterfaceName);
            throw; // not reached: Terminate always throws
        }
    }
}
