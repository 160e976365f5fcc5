using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;

namespace ConntrackTools.Capture;

/// <summary>
/// A BPF filter in tcpdump's syntax run over frames read from a file: compiled by libpcap (pcap_open_dead +
/// pcap_compile) once per link type the file holds, and run by libpcap's own interpreter (pcap_offline_filter), so a
/// filter means in Read-PacketCapture exactly what it means to tcpdump -r.
/// </summary>
internal sealed unsafe class OfflineFilter : IDisposable
{
    private const int SnapLength = 262144;
    private const uint NetmaskUnknown = 0xffffffff;

    [StructLayout(LayoutKind.Sequential)]
    private struct BpfProgram
    {
        public uint Length;
        public IntPtr Instructions;
    }

    /// <summary>struct pcap_pkthdr: struct timeval (two longs on 64-bit Linux), caplen, len.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct PacketHeader
    {
        public long Seconds;
        public long Microseconds;
        public uint CapturedLength;
        public uint Length;
    }

    private sealed class Compiled(IntPtr pcap, BpfProgram program)
    {
        public IntPtr Pcap = pcap;
        public BpfProgram Program = program;
    }

    private readonly string _expression;
    private readonly Dictionary<int, Compiled> _byLinkType = new();

    private OfflineFilter(string expression) => _expression = expression;

    /// <summary>A filter checked for syntax now (against Ethernet); null for no filter.</summary>
    public static OfflineFilter? Create(string? expression)
    {
        if (string.IsNullOrWhiteSpace(expression)) return null;
        var filter = new OfflineFilter(expression);
        try
        {
            filter.For(PacketDecoder.LinkEthernet);
            return filter;
        }
        catch (TypeInitializationException e) when (e.InnerException is CaptureUnavailableException missing)
        {
            filter.Dispose();
            throw missing;
        }
        catch
        {
            filter.Dispose();
            throw;
        }
    }

    /// <summary>True when the frame passes the filter.</summary>
    public bool Matches(int linkType, ReadOnlySpan<byte> frame, int wireLength)
    {
        var compiled = For(linkType);
        var header = new PacketHeader { CapturedLength = (uint)frame.Length, Length = (uint)Math.Max(wireLength, frame.Length) };
        fixed (byte* data = frame)
        fixed (BpfProgram* program = &compiled.Program)
            return Native.OfflineFilter(program, &header, data) != 0;
    }

    private Compiled For(int linkType)
    {
        if (_byLinkType.TryGetValue(linkType, out var compiled)) return compiled;
        IntPtr pcap = Native.OpenDead(Dlt(linkType), SnapLength);
        if (pcap == IntPtr.Zero) throw new InvalidCaptureFilterException(_expression, $"libpcap does not know link type {linkType}");
        var program = default(BpfProgram);
        if (Native.Compile(pcap, &program, _expression, 1, NetmaskUnknown) != 0)
        {
            string reason = Marshal.PtrToStringUTF8(Native.GetError(pcap)) ?? "it does not compile";
            Native.Close(pcap);
            string on = linkType == PacketDecoder.LinkEthernet ? "" : $" (for link type {PacketDecoder.LinkTypeName(linkType)})";
            throw new InvalidCaptureFilterException(_expression, reason + on);
        }
        compiled = new Compiled(pcap, program);
        _byLinkType.Add(linkType, compiled);
        return compiled;
    }

    /// <summary>
    /// pcap_open_dead takes a DLT_ value: the file's LINKTYPE_ value is the same for nearly every link type, except the
    /// few whose DLT_ numbers differ between systems (libpcap's linktype_to_dlt, which it does not export).
    /// </summary>
    private static int Dlt(int linkType) => linkType switch
    {
        PacketDecoder.LinkRaw => PacketDecoder.LinkRawDlt, 100 => 11, 102 => 15, 103 => 16, 106 => 19,
        _ => linkType,
    };

    public void Dispose()
    {
        foreach (var compiled in _byLinkType.Values)
        {
            fixed (BpfProgram* program = &compiled.Program) Native.FreeCode(program);
            Native.Close(compiled.Pcap);
        }
        _byLinkType.Clear();
    }

    /// <summary>libpcap's entry points, resolved by the names SharpPcap loads it by.</summary>
    private static class Native
    {
        private static readonly string[] LibraryNames = ["libpcap.so", "libpcap.so.0", "libpcap.so.0.8", "libpcap.so.1"];
        private static readonly IntPtr Library = Load();

        public static readonly delegate* unmanaged<int, int, IntPtr> OpenDead = (delegate* unmanaged<int, int, IntPtr>)Export("pcap_open_dead");
        public static readonly delegate* unmanaged<IntPtr, BpfProgram*, byte*, int, uint, int> CompileFunction =
            (delegate* unmanaged<IntPtr, BpfProgram*, byte*, int, uint, int>)Export("pcap_compile");
        public static readonly delegate* unmanaged<BpfProgram*, PacketHeader*, byte*, int> OfflineFilter =
            (delegate* unmanaged<BpfProgram*, PacketHeader*, byte*, int>)Export("pcap_offline_filter");
        public static readonly delegate* unmanaged<BpfProgram*, void> FreeCode = (delegate* unmanaged<BpfProgram*, void>)Export("pcap_freecode");
        public static readonly delegate* unmanaged<IntPtr, IntPtr> GetError = (delegate* unmanaged<IntPtr, IntPtr>)Export("pcap_geterr");
        public static readonly delegate* unmanaged<IntPtr, void> Close = (delegate* unmanaged<IntPtr, void>)Export("pcap_close");

        public static int Compile(IntPtr pcap, BpfProgram* program, string expression, int optimize, uint netmask)
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(expression + "\0");
            fixed (byte* text = bytes) return CompileFunction(pcap, program, text, optimize, netmask);
        }

        private static IntPtr Load()
        {
            foreach (var name in LibraryNames)
                if (NativeLibrary.TryLoad(name, out var library)) return library;
            throw new CaptureUnavailableException(new DllNotFoundException($"None of {string.Join(", ", LibraryNames)} could be loaded."));
        }

        private static IntPtr Export(string name) => NativeLibrary.GetExport(Library, name);
    }
}
