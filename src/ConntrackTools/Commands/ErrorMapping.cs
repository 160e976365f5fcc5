using System;
using System.Management.Automation;

namespace ConntrackTools.Commands;

/// <summary>
/// Turns the engine's exceptions into ErrorRecords. Every engine exception derives from
/// <see cref="ConntrackToolsException"/> and carries its id and kind; this is the one list from kind to category.
/// </summary>
internal static class ErrorMapping
{
    public static ErrorRecord ToErrorRecord(ConntrackToolsException e, object? target, InvocationInfo? invocation = null)
    {
        var record = new ErrorRecord(e, e.ErrorId, Category(e.Kind), e.Target ?? target);
        // The engine names a value in its own words; where the cmdlet has a parameter of that name, say so.
        if (e is InvalidValueException { Subject: string subject } && invocation?.MyCommand?.Parameters?.ContainsKey(subject) == true)
            record.ErrorDetails = new ErrorDetails($"-{subject}: {e.Message}");
        return record;
    }

    public static ErrorCategory Category(ErrorKind kind) => kind switch
    {
        ErrorKind.PermissionDenied => ErrorCategory.PermissionDenied,
        ErrorKind.NotFound => ErrorCategory.ObjectNotFound,
        ErrorKind.NotInstalled => ErrorCategory.NotInstalled,
        ErrorKind.InvalidArgument => ErrorCategory.InvalidArgument,
        ErrorKind.InvalidData => ErrorCategory.InvalidData,
        ErrorKind.AlreadyExists => ErrorCategory.ResourceExists,
        ErrorKind.ProtocolError => ErrorCategory.ProtocolError,
        ErrorKind.InvalidOperation => ErrorCategory.InvalidOperation,
        ErrorKind.DeviceError => ErrorCategory.DeviceError,
        ErrorKind.WriteError => ErrorCategory.WriteError,
        ErrorKind.ResourceUnavailable => ErrorCategory.ResourceUnavailable,
        _ => ErrorCategory.NotSpecified,
    };

    /// <summary>A cmdlet's own validation failure: InvalidArgument with our id.</summary>
    public static ErrorRecord InvalidArgument(string id, string message, object? target) =>
        new(new InvalidValueException(id, message, value: target), id, ErrorCategory.InvalidArgument, target);

    /// <summary>Exceptions the engine raises on purpose; anything else is a bug and keeps its stack trace.</summary>
    public static bool IsEngineError(Exception e) => e is ConntrackToolsException;
}
