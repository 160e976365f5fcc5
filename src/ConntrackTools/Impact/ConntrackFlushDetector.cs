// Part Impact: what a change did to the conntrack table. Arrows: Impact -> Conntrack, Routing.
using System;
using System.Collections.Generic;
using System.Linq;
using ConntrackTools.Inet;
using ConntrackTools.Conntrack;

namespace ConntrackTools.Impact;

/// <summary>Thresholds of <see cref="ConntrackFlushDetector"/>.</summary>
public sealed class ConntrackFlushOptions
{
    /// <summary>A burst with fewer Destroy events is not reported.</summary>
    public int MinimumEntries { get; init; } = 100;

    /// <summary>Destroy events further apart than this belong to different bursts; address changes this long before a burst, or after its end, coincide with it.</summary>
    public TimeSpan Window { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Entries kept in each finding's Sample.</summary>
    public int SampleSize { get; init; } = 5;

    /// <summary>A Destroy this close to (or after) the expiry the entry's last New/Update event announced counts as a timeout.</summary>
    public TimeSpan ExpiryTolerance { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Bound on the expiries remembered from New/Update events.</summary>
    public int MaxTrackedEntries { get; init; } = 1_000_000;
}

/// <summary>
/// Finds bursts of Destroy events (flushes) in a time-ordered stream of conntrack events and address changes.
/// Destroy events are grouped per requester (the netlink port id in the event header; 0 = the kernel) into bursts
/// whose consecutive events are at most Window apart. Timeouts are not flushes: when a New or Update event told the
/// entry's timeout, a later Destroy by the kernel at or after that expiry is counted as expired and left out.
/// Feed events in the order they were received; findings come out when their burst is over (an event more than
/// Window later, or <see cref="Complete"/>).
/// </summary>
public sealed class ConntrackFlushDetector
{
    private readonly ConntrackFlushOptions _o;
    private readonly Dictionary<ConntrackEntryKey, DateTime> _expiry = new();
    private readonly Dictionary<uint, Burst> _open = new();
    private readonly List<AddressChangeEvent> _changes = new();

    public ConntrackFlushDetector(ConntrackFlushOptions options)
    {
        if (options.MinimumEntries < 1) throw new ArgumentException("The minimum number of entries must be at least 1.");
        if (options.Window <= TimeSpan.Zero) throw new ArgumentException("The window must be longer than zero.");
        _o = options;
    }

    /// <summary>Destroy events left out because the entry had reached its announced timeout.</summary>
    public long ExpiredIgnored { get; private set; }

    /// <summary>Destroy events seen.</summary>
    public long Destroyed { get; private set; }

    private sealed class Burst
    {
        public DateTime First, Last;
        public int Count, Expired;
        public uint PortId;
        public int? Pid;
        public string? Name;
        public readonly List<ConntrackEntry> Sample = new();
        public string? Protocol; public bool ProtocolMixed;
        public NatType? Nat; public bool NatMixed;
        public string? TSrc; public bool TSrcMixed;
        public string? TDst; public bool TDstMixed;
        public ushort? Zone; public bool ZoneMixed;
        public string? Ns; public bool NsMixed;
    }

    public IEnumerable<ConntrackFlushFinding> Add(AddressChangeEvent change)
    {
        var closed = CloseBefore(change.TimeReceived);
        _changes.Add(change);
        // Only changes that can still coincide with a future burst are kept.
        _changes.RemoveAll(c => c.TimeReceived < change.TimeReceived - _o.Window - _o.Window);
        return closed;
    }

    public IEnumerable<ConntrackFlushFinding> Add(ConntrackEvent e)
    {
        var closed = CloseBefore(e.TimeReceived);
        var key = ConntrackEntryKey.Of(e.Entry);
        if (e.EventType != ConntrackEventType.Destroy)
        {
            if (e.Entry.Timeout > TimeSpan.Zero && (_expiry.Count < _o.MaxTrackedEntries || _expiry.ContainsKey(key)))
                _expiry[key] = e.TimeReceived + e.Entry.Timeout;
            return closed;
        }
        Destroyed++;
        bool expired = e.InitiatorPortId == 0 && _expiry.TryGetValue(key, out var at) && e.TimeReceived >= at - _o.ExpiryTolerance;
        _expiry.Remove(key);
        if (!_open.TryGetValue(e.InitiatorPortId, out var b))
        {
            if (expired) { ExpiredIgnored++; return closed; }
            b = new Burst { First = e.TimeReceived, Last = e.TimeReceived, PortId = e.InitiatorPortId };
            _open[e.InitiatorPortId] = b;
        }
        if (expired) { ExpiredIgnored++; b.Expired++; return closed; }
        b.Last = e.TimeReceived;
        b.Count++;
        b.Pid ??= e.InitiatorProcessId;
        b.Name ??= e.InitiatorProcessName;
        if (b.Sample.Count < _o.SampleSize) b.Sample.Add(e.Entry);
        var en = e.Entry;
        Track(ref b.Protocol, ref b.ProtocolMixed, en.Protocol, b.Count);
        Track(ref b.Nat, ref b.NatMixed, en.NatType, b.Count);
        Track(ref b.TSrc, ref b.TSrcMixed, en.TranslatedSourceAddress.ToString(), b.Count);
        Track(ref b.TDst, ref b.TDstMixed, en.TranslatedDestinationAddress.ToString(), b.Count);
        Track(ref b.Zone, ref b.ZoneMixed, en.Zone, b.Count);
        Track(ref b.Ns, ref b.NsMixed, en.NetworkNamespace, b.Count);
        return closed;
    }

    /// <summary>Closes every open burst (end of input).</summary>
    public IEnumerable<ConntrackFlushFinding> Complete() => CloseBefore(DateTime.MaxValue);

    private static void Track<T>(ref T? value, ref bool mixed, T v, int count)
    {
        if (mixed) return;
        if (count == 1) { value = v; return; }
        if (!EqualityComparer<T?>.Default.Equals(value, v)) { mixed = true; value = default; }
    }

    private static void Track<T>(ref T? value, ref bool mixed, T v, int count) where T : struct
    {
        if (mixed) return;
        if (count == 1) { value = v; return; }
        if (!Nullable.Equals(value, v)) { mixed = true; value = null; }
    }

    private List<ConntrackFlushFinding> CloseBefore(DateTime now)
    {
        var found = new List<ConntrackFlushFinding>();
        if (_open.Count == 0) return found;
        foreach (var (port, b) in _open.ToList())
        {
            if (now != DateTime.MaxValue && now - b.Last <= _o.Window) continue;
            _open.Remove(port);
            if (b.Count >= _o.MinimumEntries) found.Add(ToFinding(b));
        }
        found.Sort((x, y) => x.Time.CompareTo(y.Time));
        return found;
    }

    private ConntrackFlushFinding ToFinding(Burst b)
    {
        // The change that coincided: the latest one from Window before the burst to Window after its end (removals
        // preferred). After, too: the address event and the Destroy events come on different sockets, read by different
        // threads, and the kernel may report the whole burst before its address notification is read.
        var change = _changes.Where(c => c.TimeReceived >= b.First - _o.Window && c.TimeReceived <= b.Last + _o.Window)
            .OrderByDescending(c => c.Change == AddressChange.Removed).ThenByDescending(c => c.TimeReceived).FirstOrDefault();
        return new ConntrackFlushFinding
        {
            Time = b.First,
            Entries = b.Count,
            Window = b.Last - b.First,
            InitiatorPortId = b.PortId,
            Initiator = b.PortId == 0 ? ConntrackInitiator.Kernel : b.Pid is null ? ConntrackInitiator.Unknown : ConntrackInitiator.Process,
            InitiatorProcessId = b.Pid,
            InitiatorProcessName = b.Name,
            Common = new ConntrackFlushCommon
            {
                Protocol = b.Protocol,
                NatType = b.Nat,
                TranslatedSourceAddress = b.TSrc,
                TranslatedDestinationAddress = b.TDst,
                Zone = b.Zone,
                NetworkNamespace = b.Ns,
                InterfaceName = change?.InterfaceName,
            },
            AddressChange = change,
            Sample = b.Sample.ToArray(),
            ExpiredIgnored = b.Expired,
        };
    }
}
