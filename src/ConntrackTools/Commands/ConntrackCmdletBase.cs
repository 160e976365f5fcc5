using System;
using System.Management.Automation;
using System.Threading;
using ConntrackTools.Conntrack;
using ConntrackTools.Inet;
using ConntrackTools.Namespaces;

namespace ConntrackTools.Commands;

/// <summary>Every cmdlet that talks to the kernel: -NetworkNamespace, cancellation, error mapping.</summary>
public abstract class NetworkNamespaceCmdlet : PSCmdlet, IDisposable
{
    private NetworkNamespace? _ns;
    private bool _resolved;

    /// <summary>A name under /var/run/netns, an absolute path to a namespace file, or a PID.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(NetworkNamespaceCompleter))]
    [Alias("NetNs", "Namespace")]
    public string? NetworkNamespace { get; set; }

    /// <summary>Cancelled by Ctrl+C (StopProcessing) and when the cmdlet is disposed.</summary>
    protected CancellationTokenSource Cancellation { get; } = new();

    protected NetworkNamespace? Namespace
    {
        get
        {
            if (!_resolved)
            {
                if (NetworkNamespace is not null)
                {
                    try { _ns = Namespaces.NetworkNamespace.Resolve(NetworkNamespace); }
                    catch (ConntrackToolsException e) { ThrowTerminatingError(ErrorMapping.ToErrorRecord(e, NetworkNamespace, MyInvocation)); }
                }
                _resolved = true;
            }
            return _ns;
        }
    }

    protected ConntrackClient CreateClient() => new(Namespace);

    protected override void StopProcessing() => Cancellation.Cancel();

    /// <summary>Maps an engine exception to a terminating error; anything else is a bug and is rethrown as is.</summary>
    protected void Terminate(Exception e, object? target)
    {
        if (e is OperationCanceledException) throw new PipelineStoppedException();
        if (e is not ConntrackToolsException engine) { System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e); return; }
        ThrowTerminatingError(ErrorMapping.ToErrorRecord(engine, target, MyInvocation));
    }

    private NetworkNamespaceGoneException? _namespaceGone;

    /// <summary>
    /// True when <paramref name="failure"/> says the namespace went away (remembered for <see cref="ReportNamespaceGone"/>):
    /// the cmdlet then stops, releases what it holds, and reports.
    /// </summary>
    protected bool NoteNamespaceGone(Exception? failure)
    {
        if (failure is not NetworkNamespaceGoneException gone) return false;
        _namespaceGone = gone;
        return true;
    }

    /// <summary>After the watcher's sockets and handles are released: a warning and a non-terminating NetworkNamespaceGone error.</summary>
    protected void ReportNamespaceGone()
    {
        if (_namespaceGone is not { } gone) return;
        _namespaceGone = null;
        WriteWarning($"{gone.Message} Stopped watching and released its sockets.");
        WriteError(ErrorMapping.ToErrorRecord(gone, gone.Spec));
    }

    protected void WriteEngineError(Exception e, object? target)
    {
        if (e is not ConntrackToolsException engine) { System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e); return; }
        WriteError(ErrorMapping.ToErrorRecord(engine, target, MyInvocation));
    }

    public void Dispose()
    {
        Cancellation.Cancel();
        Cancellation.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>The selection parameters shared by Get-, Remove- and Watch-Conntrack.</summary>
public abstract class ConntrackFilterCmdlet : NetworkNamespaceCmdlet
{
    [Parameter(Position = 0)]
    [ArgumentCompleter(typeof(ProtocolCompleter))]
    [Alias("Proto", "p")]
    public string? Protocol { get; set; }

    /// <summary>Original source address or CIDR prefix.</summary>
    [Parameter]
    [Alias("Source", "Src", "s")]
    public string? SourceAddress { get; set; }

    /// <summary>Original destination address or CIDR prefix.</summary>
    [Parameter]
    [Alias("Destination", "Dst", "d")]
    public string? DestinationAddress { get; set; }

    [Parameter]
    [Alias("SPort")]
    public int? SourcePort { get; set; }

    [Parameter]
    [Alias("DPort")]
    public int? DestinationPort { get; set; }

    [Parameter]
    [ArgumentCompleter(typeof(StateCompleter))]
    public string[]? State { get; set; }

    [Parameter]
    public ConntrackStatus? Status { get; set; }

    [Parameter]
    public uint? Mark { get; set; }

    [Parameter]
    public uint? MarkMask { get; set; }

    [Parameter]
    public ushort? Zone { get; set; }

    [Parameter]
    [Alias("Family")]
    public IPFamily AddressFamily { get; set; } = IPFamily.All;

    [Parameter]
    public NatType? NatType { get; set; }

    /// <summary>Filter every entry in user space instead of asking the kernel to (for diagnosis and comparison).</summary>
    [Parameter]
    public SwitchParameter NoKernelFilter { get; set; }

    /// <summary>Builds the engine filter; bad values are terminating InvalidArgument errors.</summary>
    protected ConntrackFilter BuildFilter()
    {
        var f = new ConntrackFilter { Family = AddressFamily, State = State, Status = Status, Zone = Zone, NatType = NatType };
        if (Protocol is not null)
        {
            if (!Protocols.TryParse(Protocol, out byte p))
                ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidProtocol,
                    $"'{Protocol}' is not a protocol: use {string.Join(", ", Protocols.KnownNames)} or a number 0-255.", Protocol));
            f.Protocol = p;
        }
        f.SourceAddress = ParseAddress(SourceAddress, nameof(SourceAddress));
        f.DestinationAddress = ParseAddress(DestinationAddress, nameof(DestinationAddress));
        f.SourcePort = CheckPort(SourcePort, nameof(SourcePort));
        f.DestinationPort = CheckPort(DestinationPort, nameof(DestinationPort));
        if (MarkMask is not null && Mark is null)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidArgument, "-MarkMask needs -Mark.", MarkMask));
        f.Mark = Mark;
        f.MarkMask = MarkMask;
        return f;
    }

    private AddressMatch? ParseAddress(string? text, string parameter)
    {
        if (text is null) return null;
        try { return AddressMatch.Parse(text); }
        catch (InvalidValueException e)
        {
            ThrowTerminatingError(ErrorMapping.InvalidArgument(e.ErrorId, $"-{parameter}: {e.Message}", text));
            return null;
        }
    }

    private int? CheckPort(int? port, string parameter)
    {
        if (port is null) return null;
        if (port < 0 || port > 65535)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidPort, $"-{parameter} {port} is not a port: use 0 to 65535.", port));
        return port;
    }
}
