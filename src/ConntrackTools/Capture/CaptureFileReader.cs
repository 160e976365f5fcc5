using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using Microsoft.Win32.SafeHandles;

namespace ConntrackTools.Capture;

/// <summary>
/// Reads a pcap or pcapng capture (tcpdump's, tshark's, dumpcap's, Watch-Packet's) from a regular file, a FIFO or
/// standard input ("-") and decodes its frames. The formats (draft-ietf-opsawg-pcap, draft-ietf-opsawg-pcapng) are
/// read here rather than by libpcap, so that: 32-bit seconds are unsigned (dates up to 2106); a timestamp that cannot
/// be a time, or a frame that cannot be decoded, is skipped and counted rather than ending the file; a pcapng file may
/// mix link types; a FIFO or a pipe that stays quiet can be given up on (<see cref="CancellationToken"/>); and the
/// damage that ends a file early (cut short, a record claiming gigabytes) is described in <see cref="Damage"/> after
/// the packets before it were read.
/// </summary>
internal sealed class CaptureFileReader : IDisposable
{
    /// <summary>The path that means standard input, as for tcpdump -r.</summary>
    public const string StandardInput = "-";

    /// <summary>The largest record accepted: far above any snap length in use (libpcap's own limit is 256 KiB, 256 MiB for D-Bus).</summary>
    internal const int MaxRecord = 256 * 1024 * 1024;

    private const uint PcapMicro = 0xa1b2c3d4, PcapNano = 0xa1b23c4d, PcapModified = 0xa1b2cd34, PcapngSection = 0x0A0D0D0A,
        PcapngByteOrder = 0x1A2B3C4D;

    private readonly Source _source;
    private readonly OfflineFilter? _filter;
    private readonly CancellationToken _token;
    private readonly Format _format;
    private bool _bigEndian;
    private int _pcapLinkType;
    private bool _nanoseconds;
    private readonly List<Interface> _interfaces = new();
    private readonly HashSet<int> _linkTypes = new();

    private enum Format { Pcap, ModifiedPcap, Pcapng }

    /// <summary>A pcapng interface: its link type and how its timestamps count.</summary>
    private sealed record Interface(int LinkType, ulong UnitsPerSecond, bool BinaryResolution, int BinaryShift, long OffsetSeconds);

    private CaptureFileReader(string path, Source source, Format format, OfflineFilter? filter, CancellationToken token)
    {
        Path = path;
        _source = source;
        _format = format;
        _filter = filter;
        _token = token;
    }

    public string Path { get; }

    public CaptureStatistics Statistics { get; } = new();

    /// <summary>The link types of the frames read so far (pcap: the file's one; pcapng: every interface's).</summary>
    public IReadOnlyCollection<int> LinkTypes => _linkTypes;

    /// <summary>What was wrong with the file where reading stopped early; null when it was read to its end.</summary>
    public string? Damage { get; private set; }

    /// <summary>
    /// Opens a capture: a regular file, a FIFO, or standard input for "-". Throws <see cref="CaptureFileNotFoundException"/>,
    /// <see cref="InvalidCaptureFileException"/> (also for a directory or a device), <see cref="Namespaces.InsufficientPrivilegeException"/>,
    /// <see cref="InvalidCaptureFilterException"/>, or <see cref="OperationCanceledException"/> while waiting for a FIFO's first bytes.
    /// </summary>
    public static CaptureFileReader Open(string path, string? filter = null, CancellationToken token = default)
    {
        var source = Source.Open(path, token);
        OfflineFilter? compiled = null;
        try
        {
            compiled = OfflineFilter.Create(filter);
            var reader = new CaptureFileReader(path, source, ReadFormat(path, source, out bool bigEndian), compiled, token) { _bigEndian = bigEndian };
            reader.ReadHeader();
            return reader;
        }
        catch
        {
            compiled?.Dispose();
            source.Dispose();
            throw;
        }
    }

    private static Format ReadFormat(string path, Source source, out bool bigEndian)
    {
        var magic = source.Peek(4);
        if (magic.Length < 4) throw new InvalidCaptureFileException(path, magic.Length == 0 ? "it is empty" : "it ends inside the file header");
        uint little = BinaryPrimitives.ReadUInt32LittleEndian(magic);
        uint big = BinaryPrimitives.ReadUInt32BigEndian(magic);
        if (little == PcapngSection) { bigEndian = false; return Format.Pcapng; }
        foreach (bool be in new[] { false, true })
        {
            uint m = be ? big : little;
            bigEndian = be;
            if (m is PcapMicro or PcapNano) return Format.Pcap;
            if (m == PcapModified) return Format.ModifiedPcap;
        }
        throw new InvalidCaptureFileException(path, "unknown file format (neither pcap nor pcapng)");
    }

    private void ReadHeader()
    {
        if (_format == Format.Pcapng) return;   // the section header is read as the first block
        var header = _source.Take(24);
        if (header.Length < 24) throw new InvalidCaptureFileException(Path, "it ends inside the file header");
        _nanoseconds = U32(header) == PcapNano;
        int major = U16(header[4..]);
        if (major != 2) throw new InvalidCaptureFileException(Path, $"pcap version {major}.{U16(header[6..])} is not 2.x");
        // The low 16 bits are the link type; the bits above carry the FCS length, which the link layer ignores here.
        _pcapLinkType = (int)(U32(header[20..]) & 0xffff);
    }

    /// <summary>The IP packets of the file in order. Frames that are not IP or cannot be decoded are counted in <see cref="Statistics"/> and skipped.</summary>
    public IEnumerable<CapturedPacket> ReadPackets(bool decapsulate = false)
    {
        while (true)
        {
            var packet = Next(decapsulate, out bool end);
            if (end) yield break;
            if (packet is not null) yield return packet;
        }
    }

    /// <summary>The next IP packet, or null for a frame skipped (and counted) or a block that holds none; <paramref name="end"/> at the end.</summary>
    public CapturedPacket? Next(bool decapsulate, out bool end)
    {
        _token.ThrowIfCancellationRequested();
        end = !(_format == Format.Pcapng ? NextBlock(out var frame) : NextRecord(out frame));
        if (end && _source.ReadError is { } error) Damage = $"reading it failed after frame {Statistics.Frames}: {error}";
        if (end || frame.LinkType == NoFrame) return null;
        return Decode(frame, decapsulate);
    }

    /// <summary>The link type of the frame a block that is not a packet yields.</summary>
    private const int NoFrame = int.MinValue;

    /// <summary>One frame of the file; <see cref="Skip"/> other than Packet means it is counted but not decoded.</summary>
    private readonly ref struct Frame(int linkType, ReadOnlySpan<byte> data, int wireLength, long ticks, FrameKind skip = FrameKind.Packet)
    {
        public int LinkType { get; } = linkType;
        public ReadOnlySpan<byte> Data { get; } = data;
        public int WireLength { get; } = wireLength;
        public long Ticks { get; } = ticks;
        public FrameKind Skip { get; } = skip;
    }

    private long _frameNumber;

    private CapturedPacket? Decode(in Frame frame, bool decapsulate)
    {
        long number = ++_frameNumber;
        if (_filter is not null && frame.Skip == FrameKind.Packet && !_filter.Matches(frame.LinkType, frame.Data, frame.WireLength))
        {
            Statistics.Filtered++;
            return null;
        }
        _linkTypes.Add(frame.LinkType);
        if (frame.Skip != FrameKind.Packet)
        {
            Statistics.Count(frame.Skip, frame.LinkType, number);
            return null;
        }
        var time = new DateTime(DateTime.UnixEpoch.Ticks + frame.Ticks, DateTimeKind.Utc).ToLocalTime();
        var kind = PacketDecoder.Decode(frame.LinkType, frame.Data, time, frame.WireLength, interfaceName: null, out var packet, decapsulate, number);
        Statistics.Count(kind, frame.LinkType, number);
        return packet;
    }

    private static readonly long MaxTicks = DateTime.MaxValue.Ticks - DateTime.UnixEpoch.Ticks;

    private bool NextRecord(out Frame frame)
    {
        frame = default;
        int headerLength = _format == Format.ModifiedPcap ? 24 : 16;
        var header = _source.Take(headerLength);
        if (header.Length == 0) return false;
        if (header.Length < headerLength) return Stop($"it is cut short inside the header of frame {Statistics.Frames + 1}");
        uint seconds = U32(header), fraction = U32(header[4..]), captured = U32(header[8..]), wire = U32(header[12..]);
        if (captured > MaxRecord)
            return Stop($"frame {Statistics.Frames + 1} claims {captured} captured bytes, more than a capture record can hold");
        var data = _source.Take((int)captured);
        if (data.Length < captured)
            return Stop($"it is cut short inside frame {Statistics.Frames + 1} ({data.Length} of {captured} bytes)");
        int wireLength = (int)Math.Min(int.MaxValue, wire);
        uint perSecond = _nanoseconds ? 1_000_000_000u : 1_000_000u;
        if (fraction >= perSecond)
        {
            frame = new Frame(_pcapLinkType, data, wireLength, 0, FrameKind.BadTimestamp);
            return true;
        }
        long ticks = seconds * TimeSpan.TicksPerSecond + (_nanoseconds ? fraction / 100 : fraction * 10L);
        frame = new Frame(_pcapLinkType, data, wireLength, ticks);
        return true;
    }

    private bool NextBlock(out Frame frame)
    {
        frame = new Frame(NoFrame, default, 0, 0);
        var head = _source.Peek(8);
        if (head.Length == 0) return false;
        if (head.Length < 8) return Stop($"it is cut short inside a block header after frame {Statistics.Frames}");
        uint type = BinaryPrimitives.ReadUInt32LittleEndian(head);
        if (type == PcapngSection)
        {
            // A section header sets the byte order for everything up to the next one, its own length included.
            var order = _source.Peek(12);
            if (order.Length < 12) return Stop("it is cut short inside a section header");
            uint magic = BinaryPrimitives.ReadUInt32LittleEndian(order[8..]);
            if (magic == PcapngByteOrder) _bigEndian = false;
            else if (BinaryPrimitives.ReadUInt32BigEndian(order[8..]) == PcapngByteOrder) _bigEndian = true;
            else return Stop("a section header has no valid byte-order magic");
            _interfaces.Clear();
        }
        uint total = U32(_source.Peek(8)[4..]);
        if (total < 12 || total % 4 != 0 || total > MaxRecord)
            return Stop($"the block after frame {Statistics.Frames} claims a length of {total} bytes");
        var block = _source.Take((int)total);
        if (block.Length < total)
            return Stop($"it is cut short inside the block after frame {Statistics.Frames} ({block.Length} of {total} bytes)");
        var body = block[8..^4];
        switch (type)
        {
            case PcapngSection:
                if (body.Length < 8 || U16(body[4..]) != 1) return Stop($"a section header has version {U16(body[4..])}.{U16(body[6..])}, not 1.x");
                return true;
            case 1:   // interface description
                if (body.Length < 8) return Stop("an interface description block is too short");
                _interfaces.Add(ReadInterface(body));
                return true;
            case 6:   // enhanced packet
            {
                if (body.Length < 20) return Stop($"frame {Statistics.Frames + 1} is an enhanced packet block too short for its header");
                uint id = U32(body), high = U32(body[4..]), low = U32(body[8..]), captured = U32(body[12..]), wire = U32(body[16..]);
                return PacketBlock(body[20..], id, ((ulong)high << 32) | low, captured, wire, out frame);
            }
            case 2:   // packet (obsolete): a 16-bit interface id and a drops count
            {
                if (body.Length < 20) return Stop($"frame {Statistics.Frames + 1} is a packet block too short for its header");
                uint id = (uint)U16(body), high = U32(body[4..]), low = U32(body[8..]), captured = U32(body[12..]), wire = U32(body[16..]);
                return PacketBlock(body[20..], id, ((ulong)high << 32) | low, captured, wire, out frame);
            }
            case 3:   // simple packet: interface 0, no timestamp, the captured length implied by the block
            {
                if (body.Length < 4) return Stop($"frame {Statistics.Frames + 1} is a simple packet block too short for its header");
                uint wire = U32(body);
                uint captured = (uint)Math.Min(wire, (uint)(body.Length - 4));
                return PacketBlock(body[4..], 0, null, captured, wire, out frame);
            }
            default:  // name resolution, statistics, custom, decryption secrets, ...: nothing for us
                return true;
        }
    }

    private bool PacketBlock(ReadOnlySpan<byte> rest, uint interfaceId, ulong? units, uint captured, uint wire, out Frame frame)
    {
        frame = default;
        if (captured > rest.Length) return Stop($"frame {Statistics.Frames + 1} claims {captured} captured bytes, more than its block holds");
        var data = rest[..(int)captured];
        int wireLength = (int)Math.Min(int.MaxValue, wire);
        if (interfaceId >= _interfaces.Count)
        {
            frame = new Frame(-1, data, wireLength, 0, FrameKind.Undecodable);
            return true;
        }
        var iface = _interfaces[(int)interfaceId];
        long? ticks = units is ulong u ? Ticks(iface, u) : 0;
        frame = ticks is long t ? new Frame(iface.LinkType, data, wireLength, t) : new Frame(iface.LinkType, data, wireLength, 0, FrameKind.BadTimestamp);
        return true;
    }

    /// <summary>A pcapng timestamp in ticks since the epoch, or null when it is no representable time.</summary>
    private static long? Ticks(Interface iface, ulong units)
    {
        UInt128 ticks;
        if (iface.BinaryResolution) ticks = ((UInt128)units * TimeSpan.TicksPerSecond) >> iface.BinaryShift;
        else ticks = (UInt128)units * TimeSpan.TicksPerSecond / iface.UnitsPerSecond;
        Int128 withOffset = (Int128)ticks + (Int128)iface.OffsetSeconds * TimeSpan.TicksPerSecond;
        if (withOffset < 0 || withOffset > MaxTicks) return null;
        return (long)withOffset;
    }

    private Interface ReadInterface(ReadOnlySpan<byte> body)
    {
        int linkType = U16(body);
        ulong perSecond = 1_000_000;
        bool binary = false;
        int shift = 0;
        long offset = 0;
        var options = body[8..];
        while (options.Length >= 4)
        {
            int code = U16(options), length = U16(options[2..]);
            if (code == 0 || options.Length < 4 + length) break;
            var value = options.Slice(4, length);
            if (code == 9 && length >= 1)
            {
                // if_tsresol: 10^-n, or 2^-n when the top bit is set.
                int n = value[0] & 0x7f;
                if ((value[0] & 0x80) != 0) { binary = n <= 63; shift = n; }
                else if (n <= 19) perSecond = (ulong)Math.Pow(10, n);
            }
            else if (code == 14 && length >= 8)
            {
                offset = _bigEndian ? BinaryPrimitives.ReadInt64BigEndian(value) : BinaryPrimitives.ReadInt64LittleEndian(value);
            }
            options = options[Math.Min(options.Length, 4 + ((length + 3) & ~3))..];
        }
        return new Interface(linkType, perSecond, binary, shift, offset);
    }

    /// <summary>Notes why reading stops here and ends the file.</summary>
    private bool Stop(string damage)
    {
        Damage = damage;
        return false;
    }

    private uint U32(ReadOnlySpan<byte> b) => _bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(b) : BinaryPrimitives.ReadUInt32LittleEndian(b);
    private int U16(ReadOnlySpan<byte> b) => _bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(b) : BinaryPrimitives.ReadUInt16LittleEndian(b);

    public void Dispose()
    {
        _filter?.Dispose();
        _source.Dispose();
    }

    /// <summary>
    /// The bytes of the capture through one buffer: spans handed out stay valid until the next call. A regular file is
    /// read with plain reads; a FIFO or standard input waits for data with poll(2) in slices, so it can be given up on.
    /// </summary>
    private sealed class Source : IDisposable
    {
        private readonly Stream _stream;
        private byte[] _buffer = new byte[1 << 20];
        private int _start, _end;
        private bool _eof;

        /// <summary>Why the input ended early, when a read failed (EIO, a network file system gone); null otherwise.</summary>
        public string? ReadError { get; private set; }

        private Source(Stream stream) => _stream = stream;

        public static Source Open(string path, CancellationToken token)
        {
            if (path == StandardInput)
            {
                if (FileNative.IsATty(0) == 1) throw new InvalidCaptureFileException("standard input", "it is a terminal, not a capture piped in");
                return new Source(new FileNative.PollingStream(new SafeFileHandle(0, ownsHandle: false), token));
            }
            switch (FileNative.KindOf(path))
            {
                case FileKind.Missing:
                    if (FileNative.KindOf(path, followLinks: false) == FileKind.Symlink)
                        throw new InvalidCaptureFileException(path, "it is a symbolic link to nothing");
                    throw new CaptureFileNotFoundException(path);
                case FileKind.Directory:
                    throw new InvalidCaptureFileException(path, "it is a directory");
                case FileKind.Regular:
                    try
                    {
                        return new Source(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0, FileOptions.SequentialScan));
                    }
                    catch (UnauthorizedAccessException e)
                    {
                        throw new Namespaces.InsufficientPrivilegeException($"Cannot read the capture file '{path}': permission denied.", e);
                    }
                    catch (IOException e)
                    {
                        throw new InvalidCaptureFileException(path, e.Message.TrimEnd('.'));
                    }
                case FileKind.Fifo:
                {
                    // O_NONBLOCK: opening a FIFO for reading would otherwise wait, unstoppably, for a writer.
                    int fd = FileNative.OpenFile(path, FileNative.O_RDONLY | FileNative.O_NONBLOCK, 0);
                    if (fd == -FileNative.EACCES) throw new Namespaces.InsufficientPrivilegeException($"Cannot read the capture file '{path}': permission denied.");
                    if (fd < 0) throw new InvalidCaptureFileException(path, FileNative.Errno(-fd));
                    return new Source(new FileNative.PollingStream(new SafeFileHandle(fd, ownsHandle: true), token));
                }
                case var kind:
                    throw new InvalidCaptureFileException(path, kind switch
                    {
                        FileKind.CharacterDevice => "it is a character device, not a file",
                        FileKind.BlockDevice => "it is a block device, not a file",
                        FileKind.Socket => "it is a socket, not a file",
                        _ => "it is not a regular file or FIFO",
                    });
            }
        }

        /// <summary>The next <paramref name="count"/> bytes without consuming them (fewer at the end of the input).</summary>
        public ReadOnlySpan<byte> Peek(int count)
        {
            Fill(count);
            return _buffer.AsSpan(_start, Math.Min(count, _end - _start));
        }

        /// <summary>The next <paramref name="count"/> bytes, consumed (fewer at the end of the input).</summary>
        public ReadOnlySpan<byte> Take(int count)
        {
            Fill(count);
            int n = Math.Min(count, _end - _start);
            var span = _buffer.AsSpan(_start, n);
            _start += n;
            return span;
        }

        private void Fill(int count)
        {
            if (_end - _start >= count || _eof) return;
            if (count > _buffer.Length)
            {
                var larger = new byte[Math.Max(count, _buffer.Length * 2)];
                Buffer.BlockCopy(_buffer, _start, larger, 0, _end - _start);
                _end -= _start;
                _start = 0;
                _buffer = larger;
            }
            else if (_buffer.Length - _start < count)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
            while (_end - _start < count)
            {
                int n;
                try
                {
                    n = _stream.Read(_buffer, _end, _buffer.Length - _end);
                }
                catch (IOException e)
                {
                    ReadError = e.Message.TrimEnd('.');
                    n = 0;
                }
                if (n == 0)
                {
                    _eof = true;
                    return;
                }
                _end += n;
            }
        }

        public void Dispose() => _stream.Dispose();
    }
}
