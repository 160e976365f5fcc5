using System;
using System.Collections.Generic;

namespace ConntrackTools.Capture;

/// <summary>The errors the capture engine raises on purpose; the cmdlets turn each kind into its own error id.</summary>
public abstract class CaptureException : ConntrackToolsException
{
    protected CaptureException(string errorId, ErrorKind kind, string message, Exception? inner = null, object? target = null)
        : base(errorId, kind, message, inner, target) { }
}

/// <summary>The capture file does not exist.</summary>
public sealed class CaptureFileNotFoundException : CaptureException
{
    public CaptureFileNotFoundException(string path) : base(ErrorIds.CaptureFileNotFound, ErrorKind.NotFound, $"Capture file '{path}' was not found.", target: path) => Path = path;

    public string Path { get; }
}

/// <summary>The file exists but is not a pcap or pcapng capture that can be read (or is a directory, a device).</summary>
public sealed class InvalidCaptureFileException : CaptureException
{
    public InvalidCaptureFileException(string path, string reason)
        : base(ErrorIds.InvalidCaptureFile, ErrorKind.InvalidData, $"'{path}' is not a capture file that can be read (pcap or pcapng): {reason}.", target: path) => Path = path;

    public string Path { get; }
}

/// <summary>No interface of that name exists in the namespace the capture runs in.</summary>
public sealed class CaptureInterfaceNotFoundException : CaptureException
{
    public CaptureInterfaceNotFoundException(string name, string where, IReadOnlyCollection<string> available)
        : base(ErrorIds.InterfaceNotFound, ErrorKind.NotFound, $"Interface '{name}' was not found in {where}. Interfaces there: {string.Join(", ", available)}.", target: name) => InterfaceName = name;

    public string InterfaceName { get; }
}

/// <summary>libpcap rejected the BPF filter expression.</summary>
public sealed class InvalidCaptureFilterException : CaptureException
{
    public InvalidCaptureFilterException(string filter, string reason)
        : base(ErrorIds.InvalidFilter, ErrorKind.InvalidArgument, $"The capture filter '{filter}' is not valid: {reason}. The syntax is tcpdump's (man 7 pcap-filter).", target: filter) => Filter = filter;

    public string Filter { get; }
}

/// <summary>libpcap could not open or read the capture device (for example, the interface is down).</summary>
public sealed class CaptureDeviceException : CaptureException
{
    public CaptureDeviceException(string message, Exception? inner = null) : base(ErrorIds.CaptureFailed, ErrorKind.DeviceError, message, inner) { }
}

/// <summary>The -OutFile capture file could not be created.</summary>
public sealed class CaptureFileWriteException : CaptureException
{
    public CaptureFileWriteException(string path, string reason, Exception? inner = null)
        : base(ErrorIds.CannotWriteCaptureFile, ErrorKind.WriteError, $"Cannot write the capture file '{path}': {reason}.", inner, path) => Path = path;

    public string Path { get; }
}

/// <summary>The -OutFile capture file exists and overwriting it was not asked for.</summary>
public sealed class CaptureFileExistsException : CaptureException
{
    public CaptureFileExistsException(string path)
        : base(ErrorIds.CaptureFileExists, ErrorKind.AlreadyExists, $"The capture file '{path}' exists; it is not overwritten unless that is asked for.", target: path) => Path = path;

    public string Path { get; }
}

/// <summary>libpcap is not installed, so nothing can be captured or read.</summary>
public sealed class CaptureUnavailableException : CaptureException
{
    public CaptureUnavailableException(Exception inner)
        : base(ErrorIds.CaptureNotAvailable, ErrorKind.NotInstalled, "libpcap was not found. Install it (Debian/Ubuntu: apt-get install libpcap0.8) to capture or read packets.", inner) { }
}
