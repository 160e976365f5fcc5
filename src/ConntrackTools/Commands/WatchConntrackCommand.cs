using System;
using System.Threading;
using System.Diagnostics;
using System.Linq;
using System.Management.Automation;
using System.Collections.Concurrent;
using ConntrackTools.Conntrack;
using ConntrackTools.Namespaces;

namespace ConntrackTools.Commands;

/// <summary>Streams conntrack events (New, Update, Destroy) as ConntrackEvent objects until -Count, -Duration or Ctrl+C.</summary>
[Cmdlet(VerbsCommon.Watch, "Conntrack")]
[OutputType(typeof(ConntrackEvent))]
public sealed class WatchConntrackCommand : ConntrackFilterCmdlet
{
    // During a burst of losses, one warning per interval rather than one per overrun.
    private static readonly TimeSpan LossWarningInterval = TimeSpan.FromSeconds(1);

    /// <summary>Which events to receive; each kind is its own multicast group, so unwanted kinds never reach the socket.</summary>
    [Parameter]
    [Alias("EventTypes")]
    [ValidateNotNullOrEmpty]
    public ConntrackEventType[] EventType { get; set; } = [ConntrackEventType.New, ConntrackEventType.Update, ConntrackEventType.Destroy];

    /// <summary>Stop after this many events have been written.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int? Count { get; set; }

    /// <summary>Stop after this time; a bare number is seconds.</summary>
    [Parameter]
    [SecondsToTimeSpan]
    public TimeSpan? Duration { get; set; }

    /// <summary>Receive buffer to request for the event socket, in bytes.</summary>
    [Parameter]
    [ValidateRange(64 * 1024, 1024 * 1024 * 1024)]
    public int ReceiveBufferSize { get; set; } = ConntrackEventListener.DefaultReceiveBufferBytes;

    /// <summary>Name of a variable that receives the number of events the kernel dropped (0 when none).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? LostEventVariable { get; set; }

    /// <summary>Watch every network namespace of the host, including those created while the watch runs.</summary>
    [Parameter]
    [Alias("AllNetNs")]
    public SwitchParameter AllNetworkNamespaces { get; set; }

    protected override void EndProcessing()
    {
        CheckAllNetworkNamespaces(AllNetworkNamespaces);
        var filter = BuildFilter();
        if (Duration is TimeSpan d && d <= TimeSpan.Zero)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidArgument, $"-Duration {d} must be positive.", d));
        if (filter.MatchesNothing)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidArgument,
                "The filters contradict each other (for example an IPv4 address with -AddressFamily IPv6): no event could ever match.", null));

        var types = EventType.Distinct().OrderBy(t => t).ToArray();
        if (AllNetworkNamespaces)
        {
            WatchAll(types, filter);
            return;
        }
        ConntrackEventListener? listener = null;
        try
        {
            listener = ConntrackEventListener.Open(Namespace, types, filter, ReceiveBufferSize, kernelFiltering: !NoKernelFilter);
            Announce(listener, types);
            Stream(listener);
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            Terminate(e, NetworkNamespace);
        }
        finally
        {
            if (LostEventVariable is not null) SessionState.PSVariable.Set(LostEventVariable, listener?.Lost ?? 0L);
            listener?.Dispose();
        }
    }

    private void Announce(ConntrackEventListener listener, ConntrackEventType[] types)
    {
        string where = NetworkNamespace is null ? "the current network namespace" : $"network namespace '{NetworkNamespace}'";
        WriteVerbose($"Listening for {string.Join(", ", types)} events in {where}; receive buffer {Bytes(listener.ReceiveBufferSize)}.");
        WriteVerbose($"Kernel filter (socket filter on the event socket): {listener.KernelFilter}; user-space filter: {listener.UserFilter}.");
        if (!listener.ReceiveBufferGranted)
            WriteWarning($"The kernel granted a receive buffer of {Bytes(listener.ReceiveBufferSize)} instead of {Bytes(listener.RequestedReceiveBufferSize)} " +
                         "(SO_RCVBUFFORCE needs CAP_NET_ADMIN; without it net.core.rmem_max is the limit): bursts may lose events.");
        WarnIfEventsHidden(types);
    }

    /// <summary>nf_conntrack_events decides whether the kernel reports an entry at all; say so when it hides some.</summary>
    private void WarnIfEventsHidden(ConntrackEventType[] types)
    {
        int? setting = ConntrackSysctl.ReadEvents(Namespace);
        string fix = $"To report every entry, run: {ConntrackSysctl.EnableEventsCommand(Namespace)}";
        if (setting == 0)
        {
            WriteWarning($"{ConntrackSysctl.EventsName} is 0 in this namespace: the kernel generates no conntrack events, so nothing will be seen. {fix}");
            return;
        }
        if (setting != 2 || !types.Any(t => t is ConntrackEventType.Update or ConntrackEventType.Destroy)) return;
        // With 2, only entries created while some listener existed carry the event extension. Now that ours exists,
        // new entries do; the ones already in the table may not.
        uint existing = CreateClient().Statistics().Count;
        if (existing == 0) return;
        string text = $"{ConntrackSysctl.EventsName} is 2 in this namespace: the {existing} entries already in the table may have been created " +
                      $"while no event listener existed, and such entries never report Update or Destroy. {fix}";
        // Once per namespace per PowerShell process: a script that watches in a loop would otherwise repeat it on every call.
        if (EventsWarned.TryAdd(NamespaceIdentity.Of(Namespace), true)) WriteWarning(text);
        else WriteVerbose(text + " (warned before in this process)");
    }

    /// <summary>The namespaces (kernel identity) whose nf_conntrack_events=2 warning this process has shown.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> EventsWarned = new();

    private void Stream(ConntrackEventListener listener)
    {
        long written = 0, lostWarned = 0;
        var sinceWarning = Stopwatch.StartNew();
        using (var queue = new ProducerQueue<ConntrackEvent>((add, token) => listener.Run(add, token, Duration), Cancellation.Token,
                   name: "Watch-Conntrack reader"))
        {
            foreach (var batch in queue.Consume())
            {
                foreach (var e in batch)
                {
                    WriteObject(e);
                    if (++written == Count) break;
                }
                if (written == Count)
                {
                    queue.Cancel();
                    break;
                }
                if (listener.Lost > lostWarned && sinceWarning.Elapsed >= LossWarningInterval)
                {
                    lostWarned = WarnLoss(listener, lostWarned);
                    sinceWarning.Restart();
                }
            }
            if (queue.Failure is not null) Terminate(queue.Failure, NetworkNamespace);
        }
        if (listener.Lost > lostWarned) WarnLoss(listener, lostWarned);
        WriteVerbose($"Received {listener.Received} events from the kernel; {listener.Matched} matched the filters, {written} written; " +
                     $"{listener.Lost} lost ({listener.Overruns} overruns).");
    }

    /// <summary>
    /// One listener per namespace, each on its own thread, all into one queue; namespaces that appear are added and
    /// those that vanish let go (NamespaceWatch), with a verbose line for each.
    /// </summary>
    private void WatchAll(ConntrackEventType[] types, ConntrackFilter filter)
    {
        var notes = new NamespaceNotes();
        var listeners = new ConcurrentDictionary<ConntrackEventListener, byte>();
        long lostClosed = 0, receivedClosed = 0, written = 0, lostWarned = 0;
        long Lost() => Interlocked.Read(ref lostClosed) + listeners.Keys.Sum(l => l.Lost);
        var sinceWarning = Stopwatch.StartNew();
        WriteVerbose($"Listening for {string.Join(", ", types)} events in every network namespace; new namespaces are picked up as they appear.");
        using (var queue = new ProducerQueue<ConntrackEvent>((add, token) =>
               {
                   void WatchOne(NetworkNamespace ns, CancellationToken t)
                   {
                       using var listener = ConntrackEventListener.Open(ns, types, filter, ReceiveBufferSize, kernelFiltering: !NoKernelFilter);
                       listeners[listener] = 0;
                       try
                       {
                           notes.Verbose($"Listening in {ns.Spec} ({ns.Id}); kernel filter: {listener.KernelFilter}.");
                           add([]); // wake the pipeline thread to write the note
                           listener.Run(add, t);
                       }
                       finally
                       {
                           listeners.TryRemove(listener, out _);
                           Interlocked.Add(ref lostClosed, listener.Lost);
                           Interlocked.Add(ref receivedClosed, listener.Received);
                       }
                   }
                   void Changed(NamespaceChange c)
                   {
                       notes.Verbose(c.Added ? $"Network namespace {c.Namespace.Spec} ({c.Namespace.Id}) appeared: watching it too."
                                             : $"Network namespace {c.Namespace.Spec} ({c.Namespace.Id}) is gone: {c.Reason}; stopped watching it.");
                       try { add([]); } catch (OperationCanceledException) { } // wake the pipeline thread to write the note
                   }
                   void Failed(NetworkNamespace ns, Exception e)
                   {
                       notes.Failed(ns, e);
                       try { add([]); } catch (OperationCanceledException) { }
                   }
                   using var watch = new NamespaceWatch(WatchOne, Changed, Failed);
                   watch.Run(token, Duration);
               }, Cancellation.Token, name: "Watch-Conntrack namespaces"))
        {
            foreach (var batch in queue.Consume())
            {
                foreach (var e in batch)
                {
                    WriteObject(e);
                    if (++written == Count) break;
                }
                notes.Drain(this);
                if (written == Count)
                {
                    queue.Cancel();
                    break;
                }
                long lost = Lost();
                if (lost > lostWarned && sinceWarning.Elapsed >= LossWarningInterval)
                {
                    WriteWarning($"The kernel dropped {lost - lostWarned} conntrack events because a receive buffer was full (ENOBUFS); {lost} lost so far. Still watching.");
                    lostWarned = lost;
                    sinceWarning.Restart();
                }
            }
            if (queue.Failure is not null) Terminate(queue.Failure, null);
        }
        notes.Drain(this);
        long total = Lost();
        if (total > lostWarned) WriteWarning($"The kernel dropped {total - lostWarned} conntrack events because a receive buffer was full (ENOBUFS); {total} lost in all.");
        if (LostEventVariable is not null) SessionState.PSVariable.Set(LostEventVariable, total);
        WriteVerbose($"Received {Interlocked.Read(ref receivedClosed)} events from the kernel in all namespaces; {written} written; {total} lost.");
    }

    private long WarnLoss(ConntrackEventListener listener, long alreadyWarned)
    {
        long lost = listener.Lost;
        string amount = listener.LostCountExact ? $"{lost - alreadyWarned}" : $"at least {lost - alreadyWarned}";
        WriteWarning($"The kernel dropped {amount} conntrack events because the receive buffer ({Bytes(listener.ReceiveBufferSize)}) was full (ENOBUFS); " +
                     $"{(listener.LostCountExact ? "" : "at least ")}{lost} lost so far. Still watching. " +
                     "A larger -ReceiveBufferSize, narrower filters or a faster consumer of the output help; -LostEventVariable gives the total to a script.");
        return lost;
    }

    private static string Bytes(long bytes) => bytes >= 1 << 20 ? $"{bytes / (1 << 20)} MiB" : $"{bytes / 1024} KiB";
}
