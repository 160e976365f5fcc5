using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using ConntrackTools.Namespaces;
using ConntrackTools.Conntrack;
using ConntrackTools.Impact;
using ConntrackTools.Routing;

namespace ConntrackTools.Commands;

/// <summary>
/// Streams address additions and removals (rtnetlink) as AddressChangeEvent objects; with -IncludeConntrackImpact
/// each removal also tells how many conntrack entries were destroyed right after it.
/// </summary>
[Cmdlet(VerbsCommon.Watch, "AddressChange")]
[OutputType(typeof(AddressChangeEvent), typeof(AddressImpactEvent))]
public sealed class WatchAddressChangeCommand : NetworkNamespaceCmdlet
{
    /// <summary>Only these interfaces (wildcards allowed).</summary>
    [Parameter(Position = 0)]
    [ValidateNotNullOrEmpty]
    [Alias("Interface", "Dev")]
    [ArgumentCompleter(typeof(InterfaceNameCompleter))]
    public string[]? InterfaceName { get; set; }

    [Parameter]
    [Alias("Family")]
    public IPFamily AddressFamily { get; set; } = IPFamily.All;

    /// <summary>Stop after this many events have been written.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int? Count { get; set; }

    /// <summary>Stop after this time; a bare number is seconds.</summary>
    [Parameter]
    [SecondsToTimeSpan]
    public TimeSpan? Duration { get; set; }

    /// <summary>First write the addresses present now.</summary>
    [Parameter]
    public SwitchParameter IncludeExisting { get; set; }

    /// <summary>Count the conntrack entries destroyed in a window after each removal.</summary>
    [Parameter]
    public SwitchParameter IncludeConntrackImpact { get; set; }

    /// <summary>How long after a removal destroyed entries are counted; a bare number is seconds.</summary>
    [Parameter]
    [SecondsToTimeSpan]
    public TimeSpan ImpactWindow { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Watch every network namespace of the host, including those created while the watch runs.</summary>
    [Parameter]
    [Alias("AllNetNs")]
    public SwitchParameter AllNetworkNamespaces { get; set; }

    private long _written;

    protected override void EndProcessing()
    {
        CheckAllNetworkNamespaces(AllNetworkNamespaces);
        if (Duration is TimeSpan d && d <= TimeSpan.Zero)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidArgument, $"-Duration {d} must be positive.", d));
        if (ImpactWindow <= TimeSpan.Zero)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidArgument, $"-ImpactWindow {ImpactWindow} must be positive.", ImpactWindow));
        if (MyInvocation.BoundParameters.ContainsKey(nameof(ImpactWindow)) && !IncludeConntrackImpact)
            WriteWarning("-ImpactWindow has no effect without -IncludeConntrackImpact.");

        var patterns = InterfaceName?.Select(n => WildcardPattern.Get(n, WildcardOptions.IgnoreCase)).ToArray();
        Predicate<string?>? match = patterns is null ? null : name => name is not null && patterns.Any(p => p.IsMatch(name));
        if (AllNetworkNamespaces)
        {
            WatchAll(match);
            return;
        }
        AddressMonitor? monitor = null;
        AddressImpactWatcher? impact = null;
        try
        {
            monitor = AddressMonitor.Open(Namespace, AddressFamily, match, Cancellation.Token);
            string families = AddressFamily == IPFamily.All ? "IPv4 and IPv6" : AddressFamily.ToString();
            string interfaces = InterfaceName is null ? "any interface" : string.Join(", ", InterfaceName);
            WriteVerbose($"Listening for {families} address changes on {interfaces} in {Where()}.");
            RefuseUnknownInterfaces(monitor);
            if (IncludeConntrackImpact)
            {
                WarnIfConntrackEventsOff();
                impact = AddressImpactWatcher.Open(monitor, Namespace, ImpactWindow, Cancellation.Token);
                WriteVerbose($"Conntrack table snapshot: {impact.SnapshotEntries} entries. Each removal is reported when its {ImpactWindow.TotalSeconds:0.###} s window closes.");
            }
            if (IncludeExisting && !WriteAll(monitor.DumpAddresses(Cancellation.Token))) return;
            Stream(monitor, impact);
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            Terminate(e, NetworkNamespace);
        }
        finally
        {
            // The impact watcher owns the monitor once it exists.
            if (impact is not null) impact.Dispose();
            else monitor?.Dispose();
        }
    }

    private void Stream(AddressMonitor monitor, AddressImpactWatcher? impact)
    {
        long lostWarned = 0;
        using (var queue = new ProducerQueue<AddressChangeEvent>((add, token) =>
               {
                   if (impact is null) monitor.Run(add, token, Duration);
                   else impact.Run(add, token, Duration);
               }, Cancellation.Token, name: "Watch-AddressChange reader"))
        {
            foreach (var batch in queue.Consume())
            {
                if (!WriteAll(batch))
                {
                    queue.Cancel();
                    break;
                }
                if (monitor.Lost > lostWarned) lostWarned = WarnLoss(monitor, lostWarned);
            }
            if (queue.Failure is not null) Terminate(queue.Failure, NetworkNamespace);
        }
        if (monitor.Lost > lostWarned) WarnLoss(monitor, lostWarned);
        if (impact is not null)
            WriteVerbose($"Destroyed entries found by re-checking the table (no Destroy event reached us): {impact.CountedByRecheck}; " +
                         $"conntrack events lost: {impact.ConntrackEventsLost}.");
    }

    /// <summary>One monitor per namespace, each on its own thread, all into one queue; namespaces come and go (NamespaceWatch).</summary>
    private void WatchAll(Predicate<string?>? match)
    {
        var notes = new NamespaceNotes();
        long lost = 0;
        string families = AddressFamily == IPFamily.All ? "IPv4 and IPv6" : AddressFamily.ToString();
        WriteVerbose($"Listening for {families} address changes in every network namespace; new namespaces are picked up as they appear.");
        using (var queue = new ProducerQueue<AddressChangeEvent>((add, token) =>
               {
                   void Wake()
                   {
                       try { add([]); } catch (OperationCanceledException) { }
                   }
                   void WatchOne(NetworkNamespace ns, CancellationToken t)
                   {
                       var monitor = AddressMonitor.Open(ns, AddressFamily, match, t);
                       AddressImpactWatcher? impact = null;
                       try
                       {
                           if (IncludeConntrackImpact) impact = AddressImpactWatcher.Open(monitor, ns, ImpactWindow, t);
                           notes.Verbose($"Listening in {ns.Spec} ({ns.Id}).");
                           add([]); // wake the pipeline thread to write the note
                           if (IncludeExisting) add(monitor.DumpAddresses(t).ToArray());
                           if (impact is null) monitor.Run(add, t, null);
                           else impact.Run(add, t, null);
                       }
                       finally
                       {
                           Interlocked.Add(ref lost, monitor.Lost);
                           if (impact is not null) impact.Dispose();
                           else monitor.Dispose();
                       }
                   }
                   void Changed(NamespaceChange c)
                   {
                       notes.Verbose(c.Added ? $"Network namespace {c.Namespace.Spec} ({c.Namespace.Id}) appeared: watching it too."
                                             : $"Network namespace {c.Namespace.Spec} ({c.Namespace.Id}) is gone: {c.Reason}; stopped watching it.");
                       Wake();
                   }
                   void Failed(NetworkNamespace ns, Exception e)
                   {
                       notes.Failed(ns, e);
                       Wake();
                   }
                   using var watch = new NamespaceWatch(WatchOne, Changed, Failed);
                   watch.Run(token, Duration);
               }, Cancellation.Token, name: "Watch-AddressChange namespaces"))
        {
            foreach (var batch in queue.Consume())
            {
                bool more = WriteAll(batch);
                notes.Drain(this);
                if (!more)
                {
                    queue.Cancel();
                    break;
                }
            }
            if (queue.Failure is not null) Terminate(queue.Failure, null);
        }
        notes.Drain(this);
        if (Interlocked.Read(ref lost) > 0)
            WriteWarning($"The kernel dropped {Interlocked.Read(ref lost)} rtnetlink messages because a receive buffer was full (ENOBUFS); some address changes may be missing.");
    }

    /// <summary>Writes events until -Count is reached; false once it is.</summary>
    private bool WriteAll(IEnumerable<AddressChangeEvent> events)
    {
        foreach (var e in events)
        {
            WriteObject(e);
            if (++_written == Count) return false;
        }
        return true;
    }

    private long WarnLoss(AddressMonitor monitor, long alreadyWarned)
    {
        long lost = monitor.Lost;
        string amount = monitor.LostCountExact ? $"{lost - alreadyWarned}" : $"at least {lost - alreadyWarned}";
        WriteWarning($"The kernel dropped {amount} rtnetlink messages (address or link changes) because the receive buffer was full (ENOBUFS); " +
                     "some address changes may be missing. Still watching.");
        return lost;
    }

    /// <summary>A name without wildcards must exist now (as Watch-Packet requires); a wildcard may match interfaces made later.</summary>
    private void RefuseUnknownInterfaces(AddressMonitor monitor)
    {
        if (InterfaceName is null) return;
        foreach (var name in InterfaceName.Where(n => !WildcardPattern.ContainsWildcardCharacters(n)))
            if (!monitor.InterfaceNames.Contains(name, StringComparer.OrdinalIgnoreCase))
                throw new InterfaceNotFoundException(name, NetworkNamespace);
    }

    /// <summary>With nf_conntrack_events=0 the kernel reports no entry, so entries created during the watch cannot be counted.</summary>
    private void WarnIfConntrackEventsOff()
    {
        if (ConntrackSysctl.ReadEvents(Namespace) == 0)
            WriteWarning($"{ConntrackSysctl.EventsName} is 0 in {Where()}: entries created during the watch are not seen, so only entries present at " +
                         $"the start are counted. To count every entry, run: {ConntrackSysctl.EnableEventsCommand(Namespace)}");
    }

    private string Where() => NetworkNamespace is null ? "the current network namespace" : $"network namespace '{NetworkNamespace}'";
}
