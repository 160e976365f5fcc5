using System;

namespace ConntrackTools.Netlink;

/// <summary>The kernel (or a netlink system call) answered with an errno.</summary>
public class NetlinkException : Exception
{
    public NetlinkException(int errno, string operation, string? extendedAck = null)
        : base(Format(errno, operation, extendedAck))
    {
        Errno = errno;
        Operation = operation;
        ExtendedAck = extendedAck;
    }

    /// <summary>The same errno with a message of the caller's, for a layer that can say what the kernel refused.</summary>
    protected NetlinkException(int errno, string operation, string? extendedAck, string message, Exception? inner)
        : base(message, inner)
    {
        Errno = errno;
        Operation = operation;
        ExtendedAck = extendedAck;
    }

    /// <summary>Positive errno value (EPERM = 1, ENOENT = 2, ...).</summary>
    public int Errno { get; }

    /// <summary>What we were doing, e.g. "conntrack dump".</summary>
    public string Operation { get; }

    /// <summary>The kernel's extended-ack message (NLMSGERR_ATTR_MSG), when it sent one.</summary>
    public string? ExtendedAck { get; }

    public string ErrnoName => Netlink.Errno.Name(Errno);

    private static string Format(int errno, string operation, string? ack)
    {
        string text = new System.ComponentModel.Win32Exception(errno).Message;
        string msg = $"{operation} failed: {text} ({Netlink.Errno.Name(errno)})";
        return string.IsNullOrEmpty(ack) ? msg : msg + ": " + ack;
    }
}

/// <summary>A netlink message or attribute that does not parse. The only exception decoders raise.</summary>
public sealed class NetlinkDecodeException : Exception
{
    public NetlinkDecodeException(string message) : base(message) { }
}

/// <summary>The receive buffer overflowed (ENOBUFS): the kernel dropped messages for this socket.</summary>
public sealed class NetlinkOverrunException : NetlinkException
{
    public NetlinkOverrunException(string operation) : base(Netlink.Errno.ENOBUFS, operation) { }
}
