using System;
using System.Collections.Generic;
using System.Management.Automation;

namespace ConntrackTools.Commands;

/// <summary>
/// What Watch-Conntrack, Watch-AddressChange and Watch-Packet share: the check of -Duration, the stop at -Count and the
/// wording of the loss warning. Each cmdlet keeps its own -Count and -Duration declarations (as Wait-Job and
/// Wait-Event do), with the same attributes; this is what happens to their values.
/// </summary>
internal sealed class WatchLimit
{
    private readonly int? _count;

    /// <summary>Checks -Duration (a terminating InvalidArgument unless positive) and remembers -Count.</summary>
    public WatchLimit(PSCmdlet cmdlet, int? count, TimeSpan? duration)
    {
        if (duration is TimeSpan d && d <= TimeSpan.Zero)
            cmdlet.ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidArgument,
                $"-Duration {d} must be a positive time span (a bare number is seconds).", d));
        _count = count;
    }

    /// <summary>Objects written so far.</summary>
    public long Written { get; private set; }

    /// <summary>Writes <paramref name="items"/> until -Count is reached; false once it is (the caller then stops the reader).</summary>
    public bool Write<T>(Cmdlet cmdlet, IEnumerable<T> items)
    {
        foreach (var item in items)
        {
            cmdlet.WriteObject(item);
            if (++Written == _count) return false;
        }
        return true;
    }

    /// <summary>
    /// The one text of a loss warning: "The kernel dropped N {what} because the receive buffer (size) was full (ENOBUFS);
    /// {consequence} Still watching. {advice}".
    /// </summary>
    /// <param name="what">what was lost, plural ("conntrack events")</param>
    /// <param name="amount">how many, already worded ("12", "at least 12")</param>
    /// <param name="buffer">the buffer's size as text, or null when several sockets (one per namespace) share the count</param>
    /// <param name="consequence">what the loss means for the output, ending with a full stop</param>
    /// <param name="stillWatching">the watch goes on (a warning during the watch rather than at its end)</param>
    /// <param name="advice">what helps, or null</param>
    public static string LossWarning(string what, string amount, string? buffer, string consequence, bool stillWatching, string? advice = null) =>
        $"The kernel dropped {amount} {what} because {(buffer is null ? "a receive buffer" : $"the receive buffer ({buffer})")} was full (ENOBUFS); " +
        consequence + (stillWatching ? " Still watching." : "") + (advice is null ? "" : " " + advice);
}
