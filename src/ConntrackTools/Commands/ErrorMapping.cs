using System;
using System.Management.Automation;
using ConntrackTools.Capture;
using ConntrackTools.Conntrack;
using ConntrackTools.Lab;
using ConntrackTools.Namespaces;
using ConntrackTools.Netlink;
using ConntrackTools.Routing;

namespace ConntrackTools.Commands;

/// <summary>Turns engine exceptions into ErrorRecords with a category and a stable id.</summary>
internal static class ErrorMapping
{
    public static ErrorRecord ToErrorRecord(Exception e, object? target)
    {
        switch (e)
        {
            case InsufficientPrivilegeException:
                return new ErrorRecord(e, ErrorIds.PermissionDenied, ErrorCategory.PermissionDenied, target);
            case NetworkNamespaceNotFoundException nf:
                return new ErrorRecord(e, ErrorIds.NetworkNamespaceNotFound, ErrorCategory.ObjectNotFound, nf.Spec);
            case NetworkNamespaceGoneException gone:
                return new ErrorRecord(e, ErrorIds.NetworkNamespaceGone, ErrorCategory.ResourceUnavailable, gone.Spec);
            case ConntrackUnavailableException:
                return new ErrorRecord(e, ErrorIds.ConntrackNotAvailable, ErrorCategory.NotInstalled, target);
            case NetlinkDecodeException:
                return new ErrorRecord(e, ErrorIds.DecodeError, ErrorCategory.InvalidData, target);
            case NetlinkException ne:
                return ne.Errno switch
                {
                    Errno.EPERM or Errno.EACCES => new ErrorRecord(
                        new InsufficientPrivilegeException($"{ne.Message}. Reading or changing connection tracking needs CAP_NET_ADMIN: run as root.", ne),
                        ErrorIds.PermissionDenied, ErrorCategory.PermissionDenied, target),
                    Errno.ENOENT => new ErrorRecord(ne, ErrorIds.EntryNotFound, ErrorCategory.ObjectNotFound, target),
                    Errno.EEXIST => new ErrorRecord(ne, ErrorIds.EntryExists, ErrorCategory.ResourceExists, target),
                    Errno.EINVAL or Errno.ERANGE => new ErrorRecord(ne, ErrorIds.InvalidArgument, ErrorCategory.InvalidArgument, target),
                    Errno.EOPNOTSUPP or Errno.EPROTONOSUPPORT or Errno.EAFNOSUPPORT => new ErrorRecord(
                        new ConntrackUnavailableException($"{ne.Message}. The kernel does not offer this conntrack netlink operation (is nf_conntrack_netlink loaded?).", ne),
                        ErrorIds.ConntrackNotAvailable, ErrorCategory.NotInstalled, target),
                    _ => new ErrorRecord(ne, ErrorIds.NetlinkError, ErrorCategory.ProtocolError, target),
                };
            case LabPrerequisiteException:
                return new ErrorRecord(e, ErrorIds.PrerequisiteMissing, ErrorCategory.NotInstalled, target);
            case LabCommandException:
                return new ErrorRecord(e, ErrorIds.LabCommandFailed, ErrorCategory.InvalidOperation, target);
            case AddressInUseException:
                return new ErrorRecord(e, ErrorIds.AddressExists, ErrorCategory.ResourceExists, target);
            case InterfaceNotFoundException inf:
                return new ErrorRecord(e, ErrorIds.InterfaceNotFound, ErrorCategory.ObjectNotFound, inf.InterfaceName);
            case FormatException or ArgumentException:
                return new ErrorRecord(e, ErrorIds.InvalidArgument, ErrorCategory.InvalidArgument, target);
            case UnauthorizedAccessException:
                return new ErrorRecord(e, ErrorIds.PermissionDenied, ErrorCategory.PermissionDenied, target);
            case CaptureException ce:
                return CaptureErrorRecord(ce, target);
            default:
                return new ErrorRecord(e, e.GetType().Name, ErrorCategory.NotSpecified, target);
        }
    }

    public static ErrorRecord InvalidArgument(string id, string message, object? target) =>
        new(new ArgumentException(message), id, ErrorCategory.InvalidArgument, target);

    /// <summary>Exceptions the engine raises on purpose; anything else is a bug and keeps its stack trace.</summary>
    public static bool IsEngineError(Exception e) =>
        e is NetlinkException or NetlinkDecodeException or NetworkNamespaceNotFoundException or InsufficientPrivilegeException
          or ConntrackUnavailableException or FormatException or ArgumentException or UnauthorizedAccessException
          or LabPrerequisiteException or LabCommandException or AddressInUseException or InterfaceNotFoundException
          or CaptureException
          or NetworkNamespaceGoneException;

    private static ErrorRecord CaptureErrorRecord(CaptureException e, object? target) => e switch
    {
        CaptureFileNotFoundException nf => new ErrorRecord(e, ErrorIds.CaptureFileNotFound, ErrorCategory.ObjectNotFound, nf.Path),
        InvalidCaptureFileException bad => new ErrorRecord(e, ErrorIds.InvalidCaptureFile, ErrorCategory.InvalidData, bad.Path),
        CaptureInterfaceNotFoundException nf => new ErrorRecord(e, ErrorIds.InterfaceNotFound, ErrorCategory.ObjectNotFound, nf.InterfaceName),
        InvalidCaptureFilterException bad => new ErrorRecord(e, ErrorIds.InvalidFilter, ErrorCategory.InvalidArgument, bad.Filter),
        CaptureFileWriteException w => new ErrorRecord(e, ErrorIds.CannotWriteCaptureFile, ErrorCategory.WriteError, w.Path),
        CaptureUnavailableException => new ErrorRecord(e, ErrorIds.CaptureNotAvailable, ErrorCategory.NotInstalled, target),
        _ => new ErrorRecord(e, ErrorIds.CaptureFailed, ErrorCategory.DeviceError, target),
    };
}
