namespace ConntrackTools;

/// <summary>Stable error ids: scripts catch them as 'Id,ConntrackTools.Commands.XxxCommand' in any language setting.</summary>
public static class ErrorIds
{
    public const string PermissionDenied = nameof(PermissionDenied);
    public const string NetworkNamespaceNotFound = nameof(NetworkNamespaceNotFound);
    public const string NetworkNamespaceError = nameof(NetworkNamespaceError);
    public const string ConntrackNotAvailable = nameof(ConntrackNotAvailable);
    public const string InvalidAddress = nameof(InvalidAddress);
    public const string InvalidPort = nameof(InvalidPort);
    public const string InvalidProtocol = nameof(InvalidProtocol);
    public const string InvalidArgument = nameof(InvalidArgument);
    public const string EntryNotFound = nameof(EntryNotFound);
    public const string EntryExists = nameof(EntryExists);
    public const string NetlinkError = nameof(NetlinkError);
    public const string DecodeError = nameof(DecodeError);
    public const string PrerequisiteMissing = nameof(PrerequisiteMissing);
    public const string LabCommandFailed = nameof(LabCommandFailed);
    public const string AddressExists = nameof(AddressExists);
    public const string InterfaceNotFound = nameof(InterfaceNotFound);
    public const string CaptureFileNotFound = nameof(CaptureFileNotFound);
    public const string InvalidCaptureFile = nameof(InvalidCaptureFile);
    public const string InvalidFilter = nameof(InvalidFilter);
    public const string CaptureFailed = nameof(CaptureFailed);
    public const string CannotWriteCaptureFile = nameof(CannotWriteCaptureFile);
    public const string CaptureFileExists = nameof(CaptureFileExists);
    public const string CaptureNotAvailable = nameof(CaptureNotAvailable);
    public const string InvalidState = nameof(InvalidState);
    public const string InvalidStatus = nameof(InvalidStatus);
    public const string InvalidTimeout = nameof(InvalidTimeout);
    public const string InvalidLabel = nameof(InvalidLabel);
    public const string ContradictorySelection = nameof(ContradictorySelection);
    public const string FileNotFound = nameof(FileNotFound);
    public const string CannotWriteFile = nameof(CannotWriteFile);
    public const string InvalidLine = nameof(InvalidLine);
}
