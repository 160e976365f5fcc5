using System;

namespace ConntrackTools;

/// <summary>
/// What went wrong, in the terms a caller acts on. The cmdlets turn each kind into one PowerShell error category
/// (Commands/ErrorMapping.cs); the engine never needs to know PowerShell.
/// </summary>
public enum ErrorKind
{
    /// <summary>Not root, or a capability (CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_NET_RAW) is missing.</summary>
    PermissionDenied,
    /// <summary>A namespace, interface, entry or file that was named does not exist.</summary>
    NotFound,
    /// <summary>Something the kernel or the system lacks (nf_conntrack_netlink, libpcap, a program the sandbox runs).</summary>
    NotInstalled,
    /// <summary>A value given by the caller is not acceptable.</summary>
    InvalidArgument,
    /// <summary>Data read from the kernel or a file does not parse.</summary>
    InvalidData,
    /// <summary>What was to be created exists already.</summary>
    AlreadyExists,
    /// <summary>The kernel answered with an error that fits no other kind.</summary>
    ProtocolError,
    /// <summary>An operation could not be carried out in the state things are in.</summary>
    InvalidOperation,
    /// <summary>A device (capture interface) failed.</summary>
    DeviceError,
    /// <summary>A file could not be written.</summary>
    WriteError,
    /// <summary>Something the operation depended on went away while it ran (a network namespace, an interface).</summary>
    ResourceUnavailable,
}

/// <summary>
/// The one base of every exception the engine raises on purpose. It carries a stable id (scripts catch
/// 'Id,ConntrackTools.Commands.XxxCommand'), the kind of failure and the object it concerns. Any other exception
/// that leaves the engine is a bug and keeps its stack trace.
/// </summary>
/// <remarks>
/// This file and <see cref="ErrorIds"/> sit outside the parts, at the root of the project: every part may
/// reference them (the architecture test allows exactly these types), and nothing else.
/// </remarks>
public class ConntrackToolsException : Exception
{
    public ConntrackToolsException(string errorId, ErrorKind kind, string message, Exception? inner = null, object? target = null)
        : base(message, inner)
    {
        ErrorId = errorId;
        Kind = kind;
        Target = target;
    }

    /// <summary>A stable id from <see cref="ErrorIds"/>.</summary>
    public string ErrorId { get; }

    public ErrorKind Kind { get; }

    /// <summary>What the error is about (a namespace spec, an interface name, a path, an entry), or null.</summary>
    public object? Target { get; }
}

/// <summary>
/// A value the caller gave is not acceptable. <see cref="Subject"/> names the value in the engine's words (for
/// example "Connections"); a cmdlet that has a parameter of that name puts the parameter in front of the message.
/// </summary>
public sealed class InvalidValueException : ConntrackToolsException
{
    public InvalidValueException(string errorId, string message, string? subject = null, object? value = null, Exception? inner = null)
        : base(errorId, ErrorKind.InvalidArgument, message, inner, value)
    {
        Subject = subject;
    }

    /// <summary>The name of what was wrong (usually the matching parameter's name), or null.</summary>
    public string? Subject { get; }
}
