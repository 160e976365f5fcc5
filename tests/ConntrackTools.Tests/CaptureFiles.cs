using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace ConntrackTools.Tests;

/// <summary>One frame of a capture file: when, the bytes kept, and its length on the wire (larger when cut by a snap length).</summary>
internal sealed record CaptureFrame(DateTime Time, byte[] Data, int? WireLength = null);

/// <summary>
/// Writes pcap and pcapng files the way tcpdump, tshark and dumpcap do (formats per draft-ietf-opsawg-pcap and
/// draft-ietf-opsawg-pcapng), so the reader is tested on files these tools produce without needing them installed.
/// </summary>
internal static class CaptureFiles
{
    public const int LinkEthernet = 1, LinkRaw = 101, LinkLinuxSll = 113, LinkLinuxSll2 = 276;

    /// <summary>A pcap file: microsecond or nanosecond timestamps, little- or big-endian (as written on such a host).</summary>
    public static byte[] Pcap(int linkType, IEnumerable<CaptureFrame> frames, bool nanoseconds = false, bool bigEndian = false)
    {
        var w = new Writer(bigEndian);
        w.U32(nanoseconds ? 0xa1b23c4d : 0xa1b2c3d4).U16(2).U16(4).U32(0).U32(0).U32(262144).U32((uint)linkType);
        foreach (var f in frames)
        {
            var (seconds, fraction) = Split(f.Time, nanoseconds ? 1_000_000_000 : 1_000_000);
            w.U32((uint)seconds).U32((uint)fraction).U32((uint)f.Data.Length).U32((uint)(f.WireLength ?? f.Data.Length)).Bytes(f.Data);
        }
        return w.ToArray();
    }

    /// <summary>
    /// A pcapng file as tshark writes it: a section header, one interface description per link type given (named,
    /// with nanosecond timestamps), and an enhanced packet block per frame on the interface of its index.
    /// </summary>
    public static byte[] Pcapng(IReadOnlyList<int> interfaceLinkTypes, IEnumerable<(int Interface, CaptureFrame Frame)> frames)
    {
        var w = new Writer(bigEndian: false);
        Block(w, 0x0A0D0D0A, b => b.U32(0x1A2B3C4D).U16(1).U16(0).U64(ulong.MaxValue));
        for (int i = 0; i < interfaceLinkTypes.Count; i++)
        {
            int index = i;
            Block(w, 1, b =>
            {
                b.U16((ushort)interfaceLinkTypes[index]).U16(0).U32(262144);
                b.Option(2, Encoding.ASCII.GetBytes($"veth{index}"));  // if_name
                b.Option(9, [9]);                                      // if_tsresol: 10^-9 s
                b.U16(0).U16(0);                                       // opt_endofopt
            });
        }
        foreach (var (iface, f) in frames)
        {
            var (seconds, fraction) = Split(f.Time, 1_000_000_000);
            ulong units = (ulong)seconds * 1_000_000_000UL + (ulong)fraction;
            Block(w, 6, b => b.U32((uint)iface).U32((uint)(units >> 32)).U32((uint)units)
                .U32((uint)f.Data.Length).U32((uint)(f.WireLength ?? f.Data.Length)).Bytes(f.Data).Pad());
        }
        return w.ToArray();
    }

    private static void Block(Writer w, uint type, Action<Writer> body)
    {
        var b = new Writer(bigEndian: false);
        body(b);
        var content = b.ToArray();
        uint total = (uint)(12 + content.Length);
        w.U32(type).U32(total).Bytes(content).U32(total);
    }

    private static (long Seconds, long Fraction) Split(DateTime time, long unitsPerSecond)
    {
        long ticks = (time.ToUniversalTime() - DateTime.UnixEpoch).Ticks;
        return (ticks / TimeSpan.TicksPerSecond, ticks % TimeSpan.TicksPerSecond * unitsPerSecond / TimeSpan.TicksPerSecond);
    }

    private sealed class Writer(bool bigEndian) : IDisposable
    {
        private readonly MemoryStream _s = new();

        public void Dispose() => _s.Dispose();

        public Writer U16(ushort v) => Bytes(Order(BitConverter.GetBytes(v)));
        public Writer U32(uint v) => Bytes(Order(BitConverter.GetBytes(v)));
        public Writer U64(ulong v) => Bytes(Order(BitConverter.GetBytes(v)));

        public Writer Bytes(byte[] b)
        {
            _s.Write(b);
            return this;
        }

        /// <summary>A pcapng option: code, length, value padded to 32 bits.</summary>
        public Writer Option(ushort code, byte[] value) => U16(code).U16((ushort)value.Length).Bytes(value).Pad();

        public Writer Pad()
        {
            while (_s.Length % 4 != 0) _s.WriteByte(0);
            return this;
        }

        public byte[] ToArray() => _s.ToArray();

        private byte[] Order(byte[] littleEndian)
        {
            if (bigEndian == BitConverter.IsLittleEndian) Array.Reverse(littleEndian);
            return littleEndian;
        }
    }
}

/// <summary>A file under the temp directory that is deleted when the test ends.</summary>
internal sealed class TempFile : IDisposable
{
    public TempFile(byte[] content, string extension = ".pcap")
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"ctt-{Guid.NewGuid():N}{extension}");
        File.WriteAllBytes(Path, content);
    }

    public string Path { get; }

    public void Dispose() => File.Delete(Path);
}
