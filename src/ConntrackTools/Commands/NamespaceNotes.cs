using System;
using System.Collections.Concurrent;
using System.Management.Automation;
using ConntrackTools.Namespaces;

namespace ConntrackTools.Commands;

/// <summary>
/// What the per-namespace workers of an -AllNetworkNamespaces run have to say (a namespace dumped, gone, failed),
/// queued from their threads and written by the pipeline thread, the only one allowed to write.
/// </summary>
internal sealed class NamespaceNotes
{
    private readonly ConcurrentQueue<(string? Verbose, string? Warning, NetworkNamespace? Namespace, Exception? Failure)> _notes = new();

    public void Verbose(string text) => _notes.Enqueue((text, null, null, null));

    public void Warning(string text) => _notes.Enqueue((null, text, null, null));

    /// <summary>A namespace whose work failed: written as a non-terminating error; the other namespaces carry on.</summary>
    public void Failed(NetworkNamespace ns, Exception e) => _notes.Enqueue((null, null, ns, e));

    public void Vanished(NetworkNamespace ns, Exception e) =>
        Verbose($"Network namespace {ns.Spec} ({ns.Id}) went away before it could be read: skipped ({e.Message}).");

    /// <summary>Writes what is queued. An exception that is not an engine error is a bug: rethrown as is.</summary>
    public void Drain(PSCmdlet cmdlet)
    {
        while (_notes.TryDequeue(out var n))
        {
            if (n.Verbose is not null) cmdlet.WriteVerbose(n.Verbose);
            else if (n.Warning is not null) cmdlet.WriteWarning(n.Warning);
            else if (n.Failure is not null)
            {
                if (n.Failure is OperationCanceledException) continue;
                if (n.Failure is not ConntrackToolsException engine) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(n.Failure);
                else cmdlet.WriteError(ErrorMapping.ToErrorRecord(engine, n.Namespace?.Spec, cmdlet.MyInvocation));
            }
        }
    }
}
