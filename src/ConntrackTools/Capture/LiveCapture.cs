using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading;
using ConntrackTools.Namespaces;
using PacketDotNet;
using SharpPcap;
using SharpPcap.LibPcap;

namespace ConntrackTools.Capture;

/// <summary>
/// A live capture on one interface through libpcap, optionally saved to a pcap file as it runs. The device is opened on
/// a thread inside the network namespace, so its packet socket belongs there; reading works from any thread afterwards.
/// </summary>
internal sealed class LiveCapture : IDisposable
{
    /// <summary>
    /// The longest a packet waits in the kernel's capture ring before libpcap hands it over (the read timeout, which
    /// retires a partly filled block), and the longest the reader waits before it looks at cancellation and the
    /// deadline again: libpcap 1.10 on Linux can block in pcap_next_ex until a packet comes whatever the read timeout,
    /// and SharpPcap's GetNextPacket polls for 500 ms, so the device is non-blocking and waits in poll(2) instead.
    /// </summary>
    private static readonly TimeSpan WaitSlice = TimeSpan.FromMilliseconds(100);

    /// <summary>tcpdump's default snap length: whole packets, so -OutFile keeps everything.</summary>
    private const int SnapLength = 262144;

    /// <summary>Packets handed over at once at most; a batch also ends whenever libpcap has nothing more waiting.</summary>
    private const int MaxBatch = 256;

    private readonly WaitableDevice _device;
    private readonly PcapFileWriter? _writer;

    private LiveCapture(string interfaceName, WaitableDevice device, PcapFileWriter? writer)
    {
        InterfaceName = interfaceName;
        _device = device;
        _writer = writer;
    }

    public string InterfaceName { get; }

    private bool _decapsulate;

    public int LinkType => (int)_device.LinkType;

    /// <summary>
    /// Opens <paramref name="interfaceName"/> in <paramref name="ns"/> (null: the caller's namespace), applies the BPF
    /// <paramref name="filter"/>, and creates <paramref name="outFile"/> (pcap, mode 0600, see <see cref="PcapFileWriter"/>)
    /// when given. <c>nflog:N</c> opens NFLOG group N (what iptables/nft 'log group N' sends), as tcpdump -i nflog:N does.
    /// </summary>
    public static LiveCapture Open(NetworkNamespace? ns, string interfaceName, string? filter, string? outFile, bool overwrite = false, bool decapsulate = false)
    {
        var device = NetworkNamespace.Run(ns, () => OpenDevice(ns, interfaceName));
        PcapFileWriter? writer = null;
        try
        {
            if (!string.IsNullOrWhiteSpace(filter)) Libpcap.ApplyFilter(device, filter);
            if (outFile is not null) writer = PcapFileWriter.Create(outFile, (int)device.LinkType, SnapLength, overwrite);
            return new LiveCapture(interfaceName, device, writer) { _decapsulate = decapsulate };
        }
        catch
        {
            writer?.Dispose();
            device.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Captures until <paramref name="count"/> IP packets were emitted, <paramref name="duration"/> passed, or the token
    /// is cancelled, handing packets to <paramref name="emit"/> in batches. Runs on the caller's thread.
    /// </summary>
    public CaptureStatistics Run(Action<CapturedPacket[]> emit, int? count, TimeSpan? duration, CancellationToken token)
    {
        var statistics = new CaptureStatistics();
        long? deadline = duration is { } d ? Stopwatch.GetTimestamp() + (long)(d.TotalSeconds * Stopwatch.Frequency) : null;
        var resolution = _device.TimestampResolution;
        var linkType = (int)_device.LinkType;
        var batch = new List<CapturedPacket>(MaxBatch);
        IntPtr header = IntPtr.Zero, data = IntPtr.Zero;

        void Flush()
        {
            if (batch.Count == 0) return;
            emit(batch.ToArray());
            batch.Clear();
        }

        while (!token.IsCancellationRequested && statistics.Packets < count.GetValueOrDefault(int.MaxValue))
        {
            var remaining = deadline is long end ? Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), end) : WaitSlice;
            if (remaining <= TimeSpan.Zero) break;
            int result = _device.GetNextPacketPointers(ref header, ref data);
            if (result == 0)
            {
                // Nothing waiting: hand over what we have, then sleep until a packet comes or the slice ends.
                Flush();
                _device.WaitForPacket(remaining < WaitSlice ? remaining : WaitSlice);
                continue;
            }
            if (result != 1) throw new CaptureDeviceException($"Capturing on '{InterfaceName}' failed: {_device.LastError}.");

            var pcapHeader = PcapHeader.FromPointer(header, resolution);
            var frame = new byte[pcapHeader.CaptureLength];
            Marshal.Copy(data, frame, 0, frame.Length);
            _writer?.Write(frame, pcapHeader.Timeval.Seconds, pcapHeader.Timeval.MicroSeconds, pcapHeader.PacketLength);
            var time = DateTime.UnixEpoch.AddTicks((long)pcapHeader.Timeval.Seconds * TimeSpan.TicksPerSecond + (long)pcapHeader.Timeval.MicroSeconds * 10).ToLocalTime();
            var kind = PacketDecoder.Decode(linkType, frame, time, (int)pcapHeader.PacketLength, InterfaceName, out var packet, _decapsulate, statistics.Frames + 1);
            statistics.Count(kind, linkType);
            if (packet is null) continue;
            batch.Add(packet);
            if (batch.Count == MaxBatch) Flush();
        }
        Flush();
        (_, statistics.KernelDropped, statistics.InterfaceDropped) = PcapStats.Read(_device);
        return statistics;
    }

    public void Dispose()
    {
        _writer?.Dispose();
        _device.Dispose();
    }

    private static WaitableDevice OpenDevice(NetworkNamespace? ns, string name)
    {
        // New(), not the cached Instance: listed on this thread, it holds the interfaces of the namespace the thread is in.
        var all = Libpcap.Call(LibPcapLiveDeviceList.New);
        var found = all.FirstOrDefault(d => d.Name == name) ?? NflogGroup(all, name)
            ?? throw new CaptureInterfaceNotFoundException(name, ns is null ? "this network namespace" : $"network namespace '{ns}'", all.Select(d => d.Name).ToArray());
        var device = new WaitableDevice((PcapInterface)found.Interface!);
        try
        {
            // Not immediate mode: it would hand each packet over at once, but libpcap then uses a ring of
            // snap-length-sized slots (a few dozen); measured here it lost half of a 100,000 packet/s flood, against
            // 3-6 % with the default ring of blocks, which costs at most WaitSlice of latency.
            device.Open(new DeviceConfiguration { Snaplen = SnapLength, ReadTimeout = (int)WaitSlice.TotalMilliseconds, Immediate = false });
            device.NonBlockingMode = true;
            device.KeepFromChildProcesses();
            return device;
        }
        catch (PcapException e)
        {
            device.Dispose();
            throw e.Error switch
            {
                PcapError.PermissionDenied or PcapError.PromiscuousPermissionDenied =>
                    new InsufficientPrivilegeException($"Capturing on '{name}' needs CAP_NET_RAW: run as root.", e),
                PcapError.InterfaceNotUp => new CaptureDeviceException($"Cannot capture on '{name}': the interface is down.", e),
                _ => new CaptureDeviceException($"Cannot capture on '{name}': {Libpcap.Reason(e.Message)} (libpcap error {(int)e.Error}).", e),
            };
        }
        catch
        {
            device.Dispose();
            throw;
        }
    }

    /// <summary>
    /// libpcap lists NFLOG as the device "nflog" and opens a group by the name "nflog:N". SharpPcap only opens listed
    /// interfaces, so the listed one is renamed to the group's name before it is opened (its Name has no public setter).
    /// </summary>
    private static LibPcapLiveDevice? NflogGroup(LibPcapLiveDeviceList all, string name)
    {
        if (!name.StartsWith("nflog:", StringComparison.Ordinal) || !ushort.TryParse(name.AsSpan(6), out _)) return null;
        var nflog = all.FirstOrDefault(d => d.Name == "nflog");
        if (nflog?.Interface is not PcapInterface pcapInterface) return null;
        var setter = typeof(PcapInterface).GetProperty(nameof(PcapInterface.Name))?.GetSetMethod(nonPublic: true);
        if (setter is null) return null;
        setter.Invoke(pcapInterface, [name]);
        return nflog;
    }

    /// <summary>SharpPcap's live device with a bounded wait for the next packet, and a socket child processes do not inherit.</summary>
    private sealed class WaitableDevice(PcapInterface pcapInterface) : LibPcapLiveDevice(pcapInterface)
    {
        public void WaitForPacket(TimeSpan limit) => PollFileDescriptor((int)Math.Ceiling(limit.TotalMilliseconds));

        /// <summary>
        /// libpcap creates its packet socket without SOCK_CLOEXEC, so a process started while the capture runs
        /// (Start-Process, a job) would inherit it and keep the capture open after Watch-Packet has closed it.
        /// </summary>
        public void KeepFromChildProcesses() => CloseOnExec.Set(FileDescriptor, $"capture socket of '{Name}'");
    }
}
