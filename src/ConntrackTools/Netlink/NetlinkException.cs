using System;

namespace ConntrackTools.Netlink;

/// <summary>The kernel (or a netlink system call) answered with an errno.</summary>
public class NetlinkException : ConntrackToolsException
{
    public NetlinkException(int errno, string operation, string? extendedAck = null)
        : base(IdOf(errno), KindOf(errno), Format(errno, operation, extendedAck))
    {
        Errno = errno;
        Operation = operation;
        ExtendedAck = extendedAck;
    }

    /// <summary>The same errno with a message of the caller's, for a layer that can say what the kernel refused.</summary>
    protected NetlinkException(int errno, string operation, string? extendedAck, string message, Exception? inner)
        : base(IdOf(errno), KindOf(errno), message, inner)
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
        if (!string.IsNullOrEmpty(ack)) msg += ": " + ack;
        return errno switch
        {
            Netlink.Errno.EPERM or Netlink.Errno.EACCES => msg + ". This needs CAP_NET_ADMIN: run as root.",
            Netlink.Errno.EOPNOTSUPP or Netlink.Errno.EPROTONOSUPPORT or Netlink.Errno.EAFNOSUPPORT =>
                msg + ". The kernel does not offer this netlink operation (is nf_conntrack_netlink loaded?).",
            _ => msg,
        };
    }

    // The one place where an errno becomes an error id and kind.
    private static string IdOf(int errno) => errno switch
    {
        Netlink.Errno.EPERM or Netlink.Errno.EACCES => ErrorIds.PermissionDenied,
        Netlink.Errno.ENOENT => ErrorIds.EntryNotFound,
        Netlink.Errno.EEXIST => ErrorIds.EntryExists,
        Netlink.Errno.EINVAL or Netlink.Errno.ERANGE or Netlink.Errno.EBUSY or Netlink.Errno.ENOSPC => ErrorIds.InvalidArgument,
        Netlink.Errno.EOPNOTSUPP or Netlink.Errno.EPROTONOSUPPORT or Netlink.Errno.EAFNOSUPPORT => ErrorIds.ConntrackNotAvailable,
        _ => ErrorIds.NetlinkError,
    };

    private static ErrorKind KindOf(int errno) => errno switch
    {
        Netlink.Errno.EPERM or Netlink.Errno.EACCES => ErrorKind.PermissionDenied,
        Netlink.Errno.ENOENT => ErrorKind.NotFound,
        Netlink.Errno.EEXIST => ErrorKind.AlreadyExists,
        Netlink.Errno.EINVAL or Netlink.Errno.ERANGE or Netlink.Errno.EBUSY => ErrorKind.InvalidArgument,
        Netlink.Errno.ENOSPC => ErrorKind.InvalidOperation,
        Netlink.Errno.EOPNOTSUPP or Netlink.Errno.EPROTONOSUPPORT or Netlink.Errno.EAFNOSUPPORT => ErrorKind.NotInstalled,
        _ => ErrorKind.ProtocolError,
    };
}

/// <summary>A netlink message or attribute that does not parse. The only exception decoders raise.</summary>
public sealed class NetlinkDecodeException : ConntrackToolsException
{
    public NetlinkDecodeException(string message) : base(ErrorIds.DecodeError, ErrorKind.InvalidData, message) { }
}

/// <summary>The receive buffer overflowed (ENOBUFS): the kernel dropped messages for this socket.</summary>
public sealed class NetlinkOverrunException : NetlinkException
{
    public NetlinkOverrunException(string operation) : base(Netlink.Errno.ENOBUFS, operation) { }
}
