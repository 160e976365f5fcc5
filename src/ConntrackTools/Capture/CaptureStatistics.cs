namespace ConntrackTools.Capture;

/// <summary>What a live capture or a capture file held: frames seen, packets made, frames skipped, and libpcap's drops.</summary>
internal sealed class CaptureStatistics
{
    public long Frames { get; private set; }
    public long Packets { get; private set; }
    public long NotIp { get; private set; }
    public long Undecodable { get; private set; }

    /// <summary>Live only: packets the kernel dropped because the capture buffer was full (pcap_stats ps_drop).</summary>
    public uint? KernelDropped { get; internal set; }

    /// <summary>Live only: packets the interface or its driver dropped (pcap_stats ps_ifdrop).</summary>
    public uint? InterfaceDropped { get; internal set; }

    public void Count(FrameKind kind)
    {
        Frames++;
        switch (kind)
        {
            case FrameKind.Packet: Packets++; break;
            case FrameKind.NotIp: NotIp++; break;
            case FrameKind.Undecodable: Undecodable++; break;
        }
    }

    public override string ToString() =>
        $"{Frames} frames: {Packets} IP packets, {NotIp} non-IP frames skipped, {Undecodable} undecodable frames skipped"
        + (KernelDropped is null ? "" : $"; libpcap dropped {KernelDropped} (buffer full) and the interface {InterfaceDropped}");
}
