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
    private string? _resolvedSpec;

    /// <summary>A name under /var/run/netns, an absolute path to a namespace file, or a PID.</summary>
    /// <remarks>Virtual so that cmdlets which accept namespaces from the pipeline can declare it ValueFromPipelineByPropertyName.</remarks>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(NetworkNamespaceCompleter))]
    [Alias("NetNs", "Namespace")]
    public virtual string? NetworkNamespace { get; set; }

    /// <summary>Cancelled by Ctrl+C (StopProcessing) and when the cmdlet is disposed.</summary>
    protected CancellationTokenSource Cancellation { get; } = new();

    protected NetworkNamespace? Namespace
    {
        get
        {
            if (!_resolved || _resolvedSpec != NetworkNamespace)
            {
                _ns = null;
                _resolvedSpec = NetworkNamespace;
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

    /// <summary>A client for the cmdlet's namespace; <paramref name="splitFamilies"/> as <see cref="ConntrackClient.SplitFamilies"/>.</summary>
    protected ConntrackClient CreateClient(bool splitFamilies = false) => new(Namespace) { SplitFamilies = splitFamilies };

    protected override void StopProcessing() => Cancellation.Cancel();

    /// <summary>-AllNetworkNamespaces and -NetworkNamespace exclude each other: a terminating InvalidArgument error when both are given.</summary>
    protected void CheckAllNetworkNamespaces(bool all)
    {
        if (all && NetworkNamespace is not null)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidArgument,
                "-AllNetworkNamespaces and -NetworkNamespace exclude each other: give one of them.", NetworkNamespace));
    }

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

/// <summary>Get-, Remove- and Watch-Conntrack: the selectors plus -Mark/-MarkMask as a selector.</summary>
public abstract class ConntrackFilterCmdlet : ConntrackSelectorCmdlet
{
    /// <summary>Entries whose mark (under -MarkMask) equals this.</summary>
    [Parameter]
    [MarkBits]
    public uint? Mark { get; set; }

    [Parameter]
    [MarkBits]
    public uint? MarkMask { get; set; }

    /// <summary>Entries with all of these status flags.</summary>
    [Parameter]
    public ConntrackStatus? Status { get; set; }

    /// <summary>Builds the engine filter; bad values are terminating InvalidArgument errors.</summary>
    protected ConntrackFilter BuildFilter()
    {
        if (MarkMask is not null && Mark is null)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidArgument, "-MarkMask needs -Mark.", MarkMask));
        var f = BuildSelection();
        f.Mark = Mark;
        f.MarkMask = MarkMask;
        f.Status = Status;
        return f;
    }
}
