using System;
using System.Collections.Generic;
using System.Management.Automation;
using ConntrackTools.Capture;

namespace ConntrackTools.Commands;

/// <summary>Reads pcap and pcapng files and writes a CapturedPacket for each IP packet in them.</summary>
[Cmdlet(VerbsCommunications.Read, "PacketCapture", DefaultParameterSetName = PathSet)]
[OutputType(typeof(CapturedPacket))]
public sealed class ReadPacketCaptureCommand : PSCmdlet
{
    private const string PathSet = "Path";
    private const string LiteralPathSet = "LiteralPath";

    /// <summary>Capture files; wildcards are expanded.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = PathSet)]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = [];

    /// <summary>Capture files, taken as written (no wildcards); binds FullName/PSPath from Get-ChildItem.</summary>
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = LiteralPathSet)]
    [ValidateNotNullOrEmpty]
    [Alias("PSPath", "LP")]
    public string[] LiteralPath { get; set; } = [];

    /// <summary>A BPF filter in tcpdump's syntax, applied as the file is read.</summary>
    [Parameter(Position = 1)]
    public string? Filter { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var file in ResolveFiles()) Read(file);
    }

    private IEnumerable<string> ResolveFiles()
    {
        if (ParameterSetName == LiteralPathSet)
        {
            foreach (var p in LiteralPath) yield return SessionState.Path.GetUnresolvedProviderPathFromPSPath(p);
            yield break;
        }
        foreach (var p in Path)
        {
            if (!WildcardPattern.ContainsWildcardCharacters(p))
            {
                yield return SessionState.Path.GetUnresolvedProviderPathFromPSPath(p);
                continue;
            }
            var matches = ExpandWildcard(p);
            if (matches.Count == 0)
                WriteError(ErrorMapping.ToErrorRecord(new CaptureFileNotFoundException(p), p));
            foreach (var m in matches) yield return m;
        }
    }

    private System.Collections.ObjectModel.Collection<string> ExpandWildcard(string pattern)
    {
        try { return GetResolvedProviderPathFromPSPath(pattern, out _); }
        catch (ItemNotFoundException) { return new System.Collections.ObjectModel.Collection<string>(); }
    }

    private void Read(string file)
    {
        CaptureFileReader reader;
        try { reader = CaptureFileReader.Open(file, Filter); }
        catch (ConntrackToolsException e)
        {
            if (e is InvalidCaptureFilterException) ThrowTerminatingError(ErrorMapping.ToErrorRecord(e, Filter));
            WriteError(ErrorMapping.ToErrorRecord(e, file));
            return;
        }
        using (reader)
        {
            foreach (var packet in reader.ReadPackets()) WriteObject(packet);
            WriteVerbose($"{file} (link type {reader.LinkType}): {reader.Statistics}.");
            if (reader.Damage is not null)
                WriteWarning($"{file} is damaged after {reader.Statistics.Frames} frames ({reader.Damage}); the packets before the damage were read.");
        }
    }
}
