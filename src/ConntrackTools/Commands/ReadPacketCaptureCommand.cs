using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using ConntrackTools.Capture;

namespace ConntrackTools.Commands;

/// <summary>Reads pcap and pcapng files (or a FIFO, or standard input as '-') and writes a CapturedPacket for each IP packet in them.</summary>
[Cmdlet(VerbsCommunications.Read, "PacketCapture", DefaultParameterSetName = PathSet)]
[OutputType(typeof(CapturedPacket))]
public sealed class ReadPacketCaptureCommand : PSCmdlet, IDisposable
{
    private const string PathSet = "Path";
    private const string LiteralPathSet = "LiteralPath";
    private readonly CancellationTokenSource _stop = new();

    /// <summary>Capture files; wildcards are expanded; '-' is standard input.</summary>
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

    /// <summary>Report the IP packet inside GRE, VXLAN and Geneve tunnels instead of the tunnel's own packet.</summary>
    [Parameter]
    public SwitchParameter Decapsulate { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var file in ResolveFiles())
        {
            if (_stop.IsCancellationRequested) return;
            Read(file);
        }
    }

    protected override void StopProcessing() => _stop.Cancel();

    public void Dispose() => _stop.Dispose();

    private IEnumerable<string> ResolveFiles()
    {
        if (ParameterSetName == LiteralPathSet)
        {
            foreach (var p in LiteralPath) yield return p == CaptureFileReader.StandardInput ? p : SessionState.Path.GetUnresolvedProviderPathFromPSPath(p);
            yield break;
        }
        foreach (var p in Path)
        {
            if (p == CaptureFileReader.StandardInput)
            {
                yield return p;
                continue;
            }
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
        string name = file == CaptureFileReader.StandardInput ? "standard input" : file;
        CaptureFileReader? reader = null;
        try
        {
            reader = CaptureFileReader.Open(file, Filter, _stop.Token);
            while (true)
            {
                var packet = reader.Next(Decapsulate, out bool end);
                if (end) break;
                if (packet is not null) WriteObject(packet);
            }
        }
        catch (OperationCanceledException)
        {
            return;   // stopped (Ctrl+C): PowerShell ends the pipeline itself
        }
        catch (InvalidCaptureFilterException e)
        {
            ThrowTerminatingError(ErrorMapping.ToErrorRecord(e, Filter));
        }
        catch (ConntrackToolsException e)
        {
            // One file that cannot be read does not end the others: a non-terminating error naming it.
            WriteError(ErrorMapping.ToErrorRecord(e, file));
            return;
        }
        finally
        {
            reader?.Dispose();
        }
        Report(name, reader!);
    }

    private void Report(string name, CaptureFileReader reader)
    {
        var s = reader.Statistics;
        string links = string.Join(", ", reader.LinkTypes.Select(PacketDecoder.LinkTypeName));
        WriteVerbose($"{name} (link type {(links.Length == 0 ? "none" : links)}): {s}.");
        if (s.Bad > 0)
            WriteWarning($"{name}: {s.Bad} of {s.Frames} frames could not be decoded ({s.Undecodable} malformed or cut short, {s.BadTimestamp} with an impossible timestamp) and were skipped; the first is frame {s.FirstBadFrame}.");
        if (reader.Damage is not null)
            WriteWarning($"{name} is damaged after {s.Frames} frames ({reader.Damage}); the {s.Packets} IP packets before the damage were read.");
        if (s.Packets == 0 && s.Frames > 0)
        {
            string why = s.UnsupportedLinkType == s.Frames
                ? $"its link type ({string.Join(", ", s.UnsupportedLinkTypes.Keys.Select(PacketDecoder.LinkTypeName))}) is not supported"
                : s.Encrypted > 0 ? "its IP traffic is encrypted (MACsec)"
                : s.UnsupportedLinkType > 0 ? $"its frames are not IP or of unsupported link types ({string.Join(", ", s.UnsupportedLinkTypes.Keys.Select(PacketDecoder.LinkTypeName))})"
                : $"none of its frames is an IP packet (link type {links})";
            WriteWarning($"{name} yielded no IP packet: {why}.");
        }
    }
}
