using System.Collections.Generic;
using System.Linq;

namespace ConntrackTools.Capture;

/// <summary>What a live capture or a capture file held: frames seen, packets made, frames skipped and why, and libpcap's drops.</summary>
internal sealed class CaptureStatistics
{
    private readonly Dictionary<int, long> _unsupported = new();

    public long Frames { get; private set; }
    public long Packets { get; private set; }
    public long NotIp { get; private set; }
    public long Undecodable { get; private set; }
    public long BadTimestamp { get; private set; }
    public long Encrypted { get; private set; }
    public long UnsupportedLinkType { get; private set; }

    /// <summary>Frames the -Filter did not pass (files only; live, the kernel filters before counting).</summary>
    public long Filtered { get; internal set; }

    /// <summary>The number (from 1) of the first frame that could not be decoded or had an impossible timestamp; null if none.</summary>
    public long? FirstBadFrame { get; private set; }

    /// <summary>Frames of each link type the decoder does not read.</summary>
    public IReadOnlyDictionary<int, long> UnsupportedLinkTypes => _unsupported;

    /// <summary>Frames that could not be decoded or had an impossible timestamp.</summary>
    public long Bad => Undecodable + BadTimestamp;

    /// <summary>Live only: packets the kernel dropped because the capture buffer was full (pcap_stats ps_drop).</summary>
    public uint? KernelDropped { get; internal set; }

    /// <summary>Live only: packets the interface or its driver dropped (pcap_stats ps_ifdrop).</summary>
    public uint? InterfaceDropped { get; internal set; }

    public void Count(FrameKind kind, int linkType = -1, long frameNumber = 0)
    {
        Frames++;
        long number = frameNumber > 0 ? frameNumber : Frames;
        switch (kind)
        {
            case FrameKind.Packet: Packets++; break;
            case FrameKind.NotIp: NotIp++; break;
            case FrameKind.Undecodable: Undecodable++; FirstBadFrame ??= number; break;
            case FrameKind.BadTimestamp: BadTimestamp++; FirstBadFrame ??= number; break;
            case FrameKind.Encrypted: Encrypted++; break;
            case FrameKind.UnsupportedLinkType:
                UnsupportedLinkType++;
                _unsupported[linkType] = _unsupported.GetValueOrDefault(linkType) + 1;
                break;
        }
    }

    public override string ToString()
    {
        var parts = new List<string> { $"{Frames} frames: {Packets} IP packets", $"{NotIp} non-IP frames skipped", $"{Undecodable} undecodable frames skipped" };
        if (BadTimestamp > 0) parts.Add($"{BadTimestamp} frames with an impossible timestamp skipped");
        if (Encrypted > 0) parts.Add($"{Encrypted} encrypted (MACsec) frames skipped");
        if (UnsupportedLinkType > 0)
            parts.Add($"{UnsupportedLinkType} frames of unsupported link types skipped ({string.Join(", ", _unsupported.Select(u => $"{PacketDecoder.LinkTypeName(u.Key)}: {u.Value}"))})");
        if (Filtered > 0) parts.Add($"{Filtered} frames not passing the filter");
        return string.Join(", ", parts)
            + (KernelDropped is null ? "" : $"; libpcap dropped {KernelDropped} (buffer full) and the interface {InterfaceDropped}");
    }
}
