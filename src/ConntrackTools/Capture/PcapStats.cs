using System;
using System.Runtime.InteropServices;
using SharpPcap.LibPcap;

namespace ConntrackTools.Capture;

/// <summary>
/// pcap_stats(3), called directly. SharpPcap 6.3.1 declares struct pcap_stat with pointer-sized fields, so on 64-bit
/// Linux its DroppedPackets reads ps_ifdrop and padding and is always 0 (seen here: tcpdump counted 424,063 kernel
/// drops on a capture of which SharpPcap reported none), and its InterfaceDroppedPackets is never filled in.
/// </summary>
internal static unsafe class PcapStats
{
    /// <summary>struct pcap_stat (pcap/pcap.h): three u_int counters outside Windows.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct PcapStat
    {
        public uint Received;
        public uint Dropped;
        public uint InterfaceDropped;
    }

    // The names SharpPcap itself loads libpcap by, so this finds the library already in the process.
    private static readonly string[] LibraryNames = ["libpcap.so", "libpcap.so.0", "libpcap.so.0.8", "libpcap.so.1"];

    private static readonly Lazy<IntPtr> PcapStatsFunction = new(Resolve);

    /// <summary>libpcap's counters for an open live device: packets received, dropped for want of buffer space, and dropped by the interface.</summary>
    public static (uint Received, uint Dropped, uint InterfaceDropped) Read(PcapDevice device)
    {
        var stat = default(PcapStat);
        bool added = false;
        device.Handle.DangerousAddRef(ref added);
        try
        {
            var pcapStats = (delegate* unmanaged<IntPtr, PcapStat*, int>)PcapStatsFunction.Value;
            if (pcapStats(device.Handle.DangerousGetHandle(), &stat) != 0)
                throw new CaptureDeviceException($"Reading the capture statistics of '{device.Name}' failed: {device.LastError}.");
        }
        finally
        {
            if (added) device.Handle.DangerousRelease();
        }
        return (stat.Received, stat.Dropped, stat.InterfaceDropped);
    }

    private static IntPtr Resolve()
    {
        foreach (var name in LibraryNames)
            if (NativeLibrary.TryLoad(name, out var library) && NativeLibrary.TryGetExport(library, "pcap_stats", out var function))
                return function;
        throw new CaptureUnavailableException(new DllNotFoundException($"None of {string.Join(", ", LibraryNames)} exports pcap_stats."));
    }
}
