using System;
using System.Collections.Generic;
using System.IO;
using PacketDotNet;
using SharpPcap;
using SharpPcap.LibPcap;

namespace ConntrackTools.Capture;

/// <summary>
/// Reads a pcap or pcapng file (tcpdump's, tshark's, Watch-Packet's) through libpcap and decodes its frames.
/// A file damaged part-way (cut short, a corrupt block) yields the packets before the damage; <see cref="Damage"/> says what was wrong.
/// </summary>
internal sealed class CaptureFileReader : IDisposable
{
    private readonly CaptureFileReaderDevice _device;

    private CaptureFileReader(string path, CaptureFileReaderDevice device)
    {
        Path = path;
        _device = device;
    }

    public string Path { get; }

    public LinkLayers LinkType => _device.LinkType;

    public CaptureStatistics Statistics { get; } = new();

    /// <summary>libpcap's description of the damage that ended reading early; null when the file was read to its end.</summary>
    public string? Damage { get; private set; }

    /// <summary>
    /// Opens a capture file, with an optional BPF <paramref name="filter"/> applied as it is read. Throws
    /// <see cref="CaptureFileNotFoundException"/>, <see cref="InvalidCaptureFileException"/> or <see cref="InvalidCaptureFilterException"/>.
    /// </summary>
    public static CaptureFileReader Open(string path, string? filter = null)
    {
        if (!File.Exists(path)) throw new CaptureFileNotFoundException(path);
        // libpcap reports an unreadable file in the same words as a damaged one; opening it here first turns
        // a permission problem into its own error.
        try
        {
            using (File.OpenRead(path)) { }
        }
        catch (UnauthorizedAccessException e)
        {
            throw new Namespaces.InsufficientPrivilegeException($"Cannot read the capture file '{path}': permission denied.", e);
        }
        var device = new CaptureFileReaderDevice(path);
        try
        {
            Libpcap.Call(() => device.Open(new DeviceConfiguration { TimestampResolution = TimestampResolution.Nanosecond }));
        }
        catch (PcapException e)
        {
            device.Dispose();
            throw new InvalidCaptureFileException(path, Libpcap.Reason(e.Message));
        }
        try
        {
            if (!string.IsNullOrWhiteSpace(filter)) Libpcap.ApplyFilter(device, filter);
        }
        catch
        {
            device.Dispose();
            throw;
        }
        return new CaptureFileReader(path, device);
    }

    /// <summary>The IP packets of the file in order; non-IP and malformed frames are counted in <see cref="Statistics"/> and skipped.</summary>
    public IEnumerable<CapturedPacket> ReadPackets()
    {
        while (true)
        {
            var status = _device.GetNextPacket(out PacketCapture capture);
            if (status == GetPacketStatus.NoRemainingPackets) yield break;
            if (status != GetPacketStatus.PacketRead)
            {
                Damage = _device.LastError;
                yield break;
            }
            var raw = capture.GetPacket();
            var kind = PacketDecoder.Decode(raw.LinkLayerType, raw.Data, raw.Timeval.Date.ToLocalTime(), raw.PacketLength, interfaceName: null, out var packet);
            Statistics.Count(kind);
            if (packet is not null) yield return packet;
        }
    }

    public void Dispose() => _device.Dispose();
}
