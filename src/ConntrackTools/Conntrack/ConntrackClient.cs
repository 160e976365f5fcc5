using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;
using ConntrackTools.Namespaces;
using ConntrackTools.Netlink;

namespace ConntrackTools.Conntrack;

/// <summary>How a dump went, for -Verbose and warnings.</summary>
public sealed class DumpResult
{
    public long Received { get; set; }
    public long Emitted { get; set; }
    public int Datagrams { get; set; }
    public int Retries { get; set; }
    /// <summary>The kernel still flagged the dump NLM_F_DUMP_INTR after the retries: it may miss or repeat entries.</summary>
    public bool Inconsistent { get; set; }
    public string KernelFilter { get; set; } = "none";
    public string UserFilter { get; set; } = "none";
    /// <summary>Set when the kernel refused the filtered request and the dump was repeated unfiltered.</summary>
    public string? FallbackReason { get; set; }
    /// <summary>The kernel counted no entries in the namespace, so no dump was sent (see <see cref="ConntrackClient.SkipEmptyTable"/>).</summary>
    public bool EmptyTable { get; set; }
}

/// <summary>
/// The conntrack engine: dump, create, update, delete, flush and statistics over ctnetlink, in the caller's
/// or a given network namespace. Raises engine exceptions only (NetlinkException and friends).
/// </summary>
public sealed class ConntrackClient
{
    public const int DumpRetries = 3;

    private readonly Func<INetlinkTransport> _open;

    public ConntrackClient(NetworkNamespace? ns, KernelFeatures? features = null)
    {
        Namespace = ns;
        Features = features ?? KernelFeatures.Current;
        _open = () => NetworkNamespace.Run<INetlinkTransport>(ns, OpenSocket);
    }

    /// <summary>For tests: a client over scripted transports.</summary>
    public ConntrackClient(Func<INetlinkTransport> open, KernelFeatures features)
    {
        _open = open;
        Features = features;
    }

    public NetworkNamespace? Namespace { get; }
    public KernelFeatures Features { get; }

    /// <summary>
    /// Dump IPv4 and IPv6 side by side on two sockets when the selection is of every family: the kernel's work then
    /// runs on two cores. Worth it for one namespace on a machine with cores to spare; not for many namespaces at
    /// once, where each extra dump walks the whole shared table again.
    /// </summary>
    public bool SplitFamilies { get; init; }

    /// <summary>
    /// Ask the namespace's entry count (IPCTNL_MSG_CT_GET_STATS, one request on the dump's first socket) before a dump,
    /// and send no dump when it is 0. The kernel keeps one hash table for every namespace and a dump walks all of its
    /// buckets (net.netfilter.nf_conntrack_buckets), however few entries are this namespace's: measured here, 44 ns a
    /// bucket, 11 ms for the 262,144 the kernel gives a machine of over 4 GiB, twice that for a filter that needs a walk per family.
    /// A namespace without a ruleset that uses conntrack (most pod namespaces) tracks nothing and has an empty table.
    /// The count covers every entry the dump could return (each entry in the table is counted from its allocation to
    /// its release), so 0 means the dump would be empty; an entry created after the count is one a dump could have
    /// missed as well, the walk having passed its bucket. The count costs one round trip; when the kernel refuses it,
    /// the dump is sent anyway.
    /// </summary>
    public bool SkipEmptyTable { get; init; } = true;
    private string? NamespaceSpec => Namespace?.Spec;
    private ulong? NamespaceId => Namespace?.Id;

    /// <summary>Opens a NETLINK_NETFILTER socket in the current thread's namespace.</summary>
    public static NetlinkSocket OpenSocket()
    {
        try
        {
            return NetlinkSocket.Open(NetlinkProtocol.Netfilter);
        }
        catch (NetlinkException e) when (e.Errno is Errno.EPROTONOSUPPORT or Errno.EAFNOSUPPORT)
        {
            throw new ConntrackUnavailableException("The kernel has no netfilter netlink interface (nfnetlink): connection tracking cannot be read. Load nf_conntrack and nf_conntrack_netlink.", e);
        }
    }

    public NetlinkConnection Connect() => new(_open());

    /// <summary>
    /// Dumps the table, handing matching entries to <paramref name="sink"/> in batches as they are decoded. The sink
    /// runs on the calling thread only (a cmdlet writes from it), also when both families are dumped in parallel.
    /// </summary>
    public DumpResult Dump(ConntrackFilter filter, bool kernelFiltering, Action<ConntrackEntry[]> sink, CancellationToken cancel = default)
    {
        var result = new DumpResult();
        if (filter.MatchesNothing)
        {
            result.UserFilter = "contradictory filters: nothing can match";
            return result;
        }
        var plan = filter.PlanDump(Features, kernelFiltering, SplitFamilies);
        result.KernelFilter = plan.KernelPart;
        result.UserFilter = plan.UserPart;
        try
        {
            RunPlan(plan, filter, sink, result, SkipEmptyTable, cancel);
        }
        catch (NetlinkException e) when (kernelFiltering && result.Received == 0 && plan.KernelPart != "none" &&
                                         e.Errno is Errno.EOPNOTSUPP or Errno.EINVAL)
        {
            // An older or differently built kernel refused a filter attribute: filter everything here instead.
            var plain = filter.PlanDump(Features, kernelFiltering: false);
            result.FallbackReason = $"the kernel refused the filtered dump ({e.ErrnoName}); filtering in user space";
            result.KernelFilter = plain.KernelPart;
            result.UserFilter = plain.UserPart;
            RunPlan(plain, filter, sink, result, checkEmpty: false, cancel);
        }
        return result;
    }

    /// <summary>
    /// Runs the plan's requests at once, each on a socket of its own (the kernel builds each dump inside its reader's
    /// recv, so two sockets put its work on two cores), decoding every datagram on the calling thread.
    /// </summary>
    private void RunPlan(ConntrackFilter.DumpPlan plan, ConntrackFilter filter, Action<ConntrackEntry[]> sink, DumpResult result,
        bool checkEmpty, CancellationToken cancel)
    {
        var requests = plan.Requests;
        var connections = new List<NetlinkConnection>(requests.Count);
        try
        {
            foreach (var _ in requests) connections.Add(Connect());
            if (checkEmpty && CountOrNull(connections[0], cancel) == 0)
            {
                result.EmptyTable = true;
                return;
            }
            // What was passed on, by (zone, original tuple): the id is a 32-bit hash and two live entries may share it.
            using var seen = new IdentityLog();
            HashSet<ConntrackIdentity>? skip = null;
            var batch = new List<ConntrackEntry>(BatchLength);
            string? ns = NamespaceSpec;
            ulong? nsId = NamespaceId;
            bool prefilter = filter.HasTupleConditions;
            // A full dump keeps every entry: no user-space test per entry.
            bool everything = filter.IsEmpty;
            for (int attempt = 0; ; attempt++)
            {
                long received = 0;
                void OnMessage(in NetlinkMessage m)
                {
                    received++;
                    if (prefilter && !filter.MightMatch(m.Payload)) return;
                    var entry = ConntrackDecoder.Decode(m.Payload, ns, nsId);
                    var identity = ConntrackIdentity.Of(entry);
                    if (skip is not null && skip.Contains(identity)) return;
                    if (!everything && !filter.Matches(entry)) return;
                    seen.Add(identity);
                    batch.Add(entry);
                    if (batch.Count >= BatchLength) Flush();
                }
                void Flush()
                {
                    // Counted before the sink runs: a sink that stops the dump (a downstream Select-Object -First)
                    // has still been given these.
                    result.Emitted += batch.Count;
                    var handed = batch.ToArray();
                    batch.Clear();
                    sink(handed);
                }
                var summary = NetlinkConnection.DumpPipelined(connections, requests, "conntrack dump", OnMessage, cancel);
                if (batch.Count > 0) Flush();
                result.Received += received;
                result.Datagrams += summary.Datagrams;
                if (!summary.Interrupted) return;
                if (attempt >= DumpRetries)
                {
                    result.Inconsistent = true;
                    return;
                }
                // The table changed under the dump: dump again and pass on only entries not yet seen.
                result.Retries++;
                skip = seen.ToHashSet();
            }
        }
        finally
        {
            foreach (var c in connections) c.Dispose();
        }
    }

    /// <summary>Entries handed to the sink at a time.</summary>
    private const int BatchLength = 128;

    /// <summary>
    /// An append-only list in fixed chunks, so remembering a million identities never copies or doubles them. The
    /// chunks live outside the managed heap (about 48 MB for a million entries, freed when the dump ends): the
    /// garbage collector neither allocates, zeroes, nor walks them.
    /// </summary>
    private sealed unsafe class IdentityLog : IDisposable
    {
        private const int ChunkLength = 16384;
        private readonly List<IntPtr> _chunks = new();
        private int _used = ChunkLength;

        public void Add(in ConntrackIdentity identity)
        {
            if (_used == ChunkLength)
            {
                _chunks.Add((IntPtr)NativeMemory.Alloc(ChunkLength, (nuint)sizeof(ConntrackIdentity)));
                _used = 0;
            }
            ((ConntrackIdentity*)_chunks[^1])[_used++] = identity;
        }

        public HashSet<ConntrackIdentity> ToHashSet()
        {
            int count = _chunks.Count == 0 ? 0 : (_chunks.Count - 1) * ChunkLength + _used;
            var set = new HashSet<ConntrackIdentity>(count);
            for (int c = 0; c < _chunks.Count; c++)
            {
                int n = c == _chunks.Count - 1 ? _used : ChunkLength;
                var chunk = (ConntrackIdentity*)_chunks[c];
                for (int i = 0; i < n; i++) set.Add(chunk[i]);
            }
            return set;
        }

        public void Dispose()
        {
            foreach (var chunk in _chunks) NativeMemory.Free((void*)chunk);
            _chunks.Clear();
            _used = ChunkLength;
        }
    }

    /// <summary>Creates an entry (IPCTNL_MSG_CT_NEW with NLM_F_CREATE|NLM_F_EXCL).</summary>
    public void Create(ConntrackEntry entry)
    {
        var b = ConntrackRequests.New(entry, create: true);
        using var conn = Connect();
        conn.Execute(b, "conntrack create");
    }

    /// <summary>Changes mark and/or timeout of an existing entry (IPCTNL_MSG_CT_NEW without NLM_F_CREATE).</summary>
    public void Update(ConntrackEntry entry, uint? mark, TimeSpan? timeout, NetlinkConnection? conn = null)
    {
        var b = ConntrackRequests.Update(entry, mark, timeout);
        if (conn is not null) { conn.Execute(b, "conntrack update"); return; }
        using var c = Connect();
        c.Execute(b, "conntrack update");
    }

    /// <summary>Deletes one entry by its original tuple, zone and id. Returns false when it was already gone.</summary>
    public bool Delete(ConntrackEntry entry, NetlinkConnection? conn = null)
    {
        var b = ConntrackRequests.Delete(entry);
        try
        {
            if (conn is not null) conn.Execute(b, "conntrack delete");
            else
            {
                using var c = Connect();
                c.Execute(b, "conntrack delete");
            }
            return true;
        }
        catch (NetlinkException e) when (e.Errno == Errno.ENOENT)
        {
            return false;
        }
    }

    /// <summary>Flushes the whole table (both families).</summary>
    public void Flush()
    {
        var b = new MessageBuilder(Cta.MessageType(Cta.IPCTNL_MSG_CT_DELETE), 0, bigEndian: true).NfGenMsg(0);
        using var conn = Connect();
        conn.Execute(b, "conntrack flush");
    }

    /// <summary>Count and max (IPCTNL_MSG_CT_GET_STATS), plus per-CPU counters (IPCTNL_MSG_CT_GET_STATS_CPU dump).</summary>
    public (uint Count, uint Max, List<ConntrackStatistics> PerCpu) Statistics()
    {
        using var conn = Connect();
        var (counted, limit) = CountAndMax(conn);
        uint count = counted ?? 0, max = limit ?? 0;
        var cpus = new List<ConntrackStatistics>();
        var perCpu = new MessageBuilder(Cta.MessageType(Cta.IPCTNL_MSG_CT_GET_STATS_CPU), 0, bigEndian: true).NfGenMsg(0);
        conn.Dump(perCpu, "conntrack per-CPU statistics", (in NetlinkMessage m) => cpus.Add(DecodeCpuStats(m.Payload)));
        foreach (var c in cpus)
        {
            c.Count = count;
            c.Max = max;
            c.NetworkNamespace = NamespaceSpec;
            c.NetworkNamespaceId = NamespaceId;
        }
        return (count, max, cpus);
    }

    /// <summary>The namespace's entry count and limit (IPCTNL_MSG_CT_GET_STATS: CTA_STATS_GLOBAL_ENTRIES, _MAX_ENTRIES), null where the reply has none.</summary>
    private static (uint? Count, uint? Max) CountAndMax(NetlinkConnection conn, CancellationToken cancel = default)
    {
        uint? count = null, max = null;
        var global = new MessageBuilder(Cta.MessageType(Cta.IPCTNL_MSG_CT_GET_STATS), 0, bigEndian: true).NfGenMsg(0);
        conn.Request(global, "conntrack statistics", (in NetlinkMessage m) => (count, max) = DecodeGlobalStats(m.Payload), cancel);
        return (count, max);
    }

    internal static (uint? Count, uint? Max) DecodeGlobalStats(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < ConntrackDecoder.NfGenMsgLength) throw new NetlinkDecodeException("conntrack statistics without nfgenmsg");
        uint? count = null, max = null;
        var ad = new AttributeDecoder(payload[ConntrackDecoder.NfGenMsgLength..], bigEndian: true);
        while (ad.Next())
        {
            if (ad.Type == Cta.STATS_GLOBAL_ENTRIES) count = ad.UInt32();
            else if (ad.Type == Cta.STATS_GLOBAL_MAX_ENTRIES) max = ad.UInt32();
        }
        if (ad.Error is not null) throw new NetlinkDecodeException("conntrack statistics: " + ad.Error);
        return (count, max);
    }

    /// <summary>
    /// The entry count, or null when the kernel refused it or its reply does not say (the caller then dumps anyway:
    /// the count only spares a walk, and a missing count is not an empty table).
    /// </summary>
    private static uint? CountOrNull(NetlinkConnection conn, CancellationToken cancel)
    {
        try
        {
            return CountAndMax(conn, cancel).Count;
        }
        catch (Exception e) when (e is NetlinkException or NetlinkDecodeException)
        {
            return null;
        }
    }

    internal static ConntrackStatistics DecodeCpuStats(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < ConntrackDecoder.NfGenMsgLength) throw new NetlinkDecodeException("per-CPU statistics without nfgenmsg");
        var s = new ConntrackStatistics { Cpu = System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(payload[2..]) };
        var ad = new AttributeDecoder(payload[ConntrackDecoder.NfGenMsgLength..], bigEndian: true);
        while (ad.Next())
        {
            ulong v = ad.Length == 8 ? ad.UInt64() : ad.UInt32();
            switch (ad.Type)
            {
                case Cta.STATS_FOUND: s.Found = v; break;
                case Cta.STATS_INVALID: s.Invalid = v; break;
                case Cta.STATS_INSERT: s.Insert = v; break;
                case Cta.STATS_INSERT_FAILED: s.InsertFailed = v; break;
                case Cta.STATS_DROP: s.Drop = v; break;
                case Cta.STATS_EARLY_DROP: s.EarlyDrop = v; break;
                case Cta.STATS_ERROR: s.Error = v; break;
                case Cta.STATS_SEARCH_RESTART: s.SearchRestart = v; break;
                case Cta.STATS_CLASH_RESOLVE: s.ClashResolve = v; break;
                case Cta.STATS_CHAIN_TOOLONG: s.ChainTooLong = v; break;
            }
        }
        if (ad.Error is not null) throw new NetlinkDecodeException("per-CPU statistics: " + ad.Error);
        return s;
    }

    /// <summary>Sums per-CPU counters; a counter stays null only when no CPU reported it.</summary>
    public static ConntrackStatistics Sum(uint count, uint max, IEnumerable<ConntrackStatistics> cpus, string? ns, ulong? nsId = null)
    {
        var t = new ConntrackStatistics { Count = count, Max = max, NetworkNamespace = ns, NetworkNamespaceId = nsId };
        static ulong? Add(ulong? a, ulong? b) => a is null ? b : b is null ? a : a + b;
        foreach (var c in cpus)
        {
            t.Found = Add(t.Found, c.Found);
            t.Invalid = Add(t.Invalid, c.Invalid);
            t.Insert = Add(t.Insert, c.Insert);
            t.InsertFailed = Add(t.InsertFailed, c.InsertFailed);
            t.Drop = Add(t.Drop, c.Drop);
            t.EarlyDrop = Add(t.EarlyDrop, c.EarlyDrop);
            t.Error = Add(t.Error, c.Error);
            t.SearchRestart = Add(t.SearchRestart, c.SearchRestart);
            t.ClashResolve = Add(t.ClashResolve, c.ClashResolve);
            t.ChainTooLong = Add(t.ChainTooLong, c.ChainTooLong);
        }
        return t;
    }
}
