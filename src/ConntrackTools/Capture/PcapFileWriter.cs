using System;
using System.Buffers.Binary;
using System.IO;
using Microsoft.Win32.SafeHandles;

namespace ConntrackTools.Capture;

/// <summary>
/// Writes a classic pcap file (microsecond timestamps, this host's byte order, as tcpdump -w does). The file is created
/// with mode 0600, since captures hold payload; never through a symbolic link (O_NOFOLLOW), and never over an existing
/// file unless asked (O_EXCL otherwise). The header is written and flushed at once, so a path that cannot be written
/// fails here rather than silently later.
/// </summary>
internal sealed class PcapFileWriter : IDisposable
{
    private const int Mode = 0x180; // 0600
    private readonly FileStream _stream;
    private readonly byte[] _header = new byte[16];

    private PcapFileWriter(string path, FileStream stream)
    {
        Path = path;
        _stream = stream;
    }

    public string Path { get; }

    /// <summary>
    /// Creates <paramref name="path"/>. Throws <see cref="CaptureFileExistsException"/> when it exists and
    /// <paramref name="overwrite"/> is false, and <see cref="CaptureFileWriteException"/> for a symbolic link, a path that
    /// is not a regular file, or one that cannot be written.
    /// </summary>
    public static PcapFileWriter Create(string path, int linkType, int snapLength, bool overwrite)
    {
        var kind = FileNative.KindOf(path, followLinks: false);
        if (kind == FileKind.Symlink) throw new CaptureFileWriteException(path, "it is a symbolic link, which is never followed for a capture file");
        if (kind is not (FileKind.Missing or FileKind.Regular))
            throw new CaptureFileWriteException(path, kind == FileKind.Directory ? "it is a directory" : "it is not a regular file");
        if (kind == FileKind.Regular && !overwrite) throw new CaptureFileExistsException(path);

        int flags = FileNative.O_WRONLY | FileNative.O_CREAT | FileNative.O_NOFOLLOW | FileNative.O_NONBLOCK
            | (overwrite ? FileNative.O_TRUNC : FileNative.O_EXCL);
        int fd = FileNative.OpenFile(path, flags, Mode);
        if (fd == -FileNative.EEXIST) throw new CaptureFileExistsException(path);
        if (fd < 0) throw new CaptureFileWriteException(path, FileNative.Errno(-fd));
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        FileStream? stream = null;
        try
        {
            // An existing file keeps its mode through O_TRUNC: narrow it too.
            if (FileNative.Fchmod(fd, Mode) != 0) throw new CaptureFileWriteException(path, "its mode cannot be set to 0600");
            stream = new FileStream(handle, FileAccess.Write, bufferSize: 1 << 16);
            var header = new byte[24];
            BinaryPrimitives.WriteUInt32LittleEndian(header, 0xa1b2c3d4);
            BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(4), 2);
            BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(6), 4);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(16), (uint)snapLength);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(20), (uint)linkType);
            stream.Write(header);
            stream.Flush();
            return new PcapFileWriter(path, stream);
        }
        catch (IOException e)
        {
            stream?.Dispose();
            handle.Dispose();
            throw new CaptureFileWriteException(path, e.Message.TrimEnd('.'), e);
        }
        catch
        {
            stream?.Dispose();
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Appends one frame; throws <see cref="CaptureFileWriteException"/> when the file cannot take it (disk full).</summary>
    public void Write(ReadOnlySpan<byte> frame, ulong seconds, ulong microseconds, uint wireLength)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_header, (uint)seconds);
        BinaryPrimitives.WriteUInt32LittleEndian(_header.AsSpan(4), (uint)microseconds);
        BinaryPrimitives.WriteUInt32LittleEndian(_header.AsSpan(8), (uint)frame.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(_header.AsSpan(12), wireLength);
        try
        {
            _stream.Write(_header);
            _stream.Write(frame);
        }
        catch (IOException e)
        {
            throw new CaptureFileWriteException(Path, e.Message.TrimEnd('.'), e);
        }
    }

    public void Dispose()
    {
        try { _stream.Flush(); }
        catch (IOException) { }  // the frames that fit were written; disposing must not throw
        _stream.Dispose();
    }
}
