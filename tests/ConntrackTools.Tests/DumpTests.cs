using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using ConntrackTools.Conntrack;
using ConntrackTools.Netlink;
using Xunit;

using ConntrackTools.Inet;

namespace ConntrackTools.Tests;

/// <summary>Dump logic over a scripted transport: multipart, errors, NLM_F_DUMP_INTR retries, families.</summary>
public class DumpTests
{
    private static readonly KernelFeatures Modern = KernelFeatures.For(new Version(6, 18));
    private static List<byte[]> Golden => Fixture.Messages("dump-datagram");

    /// <param name="statsReply">What the entry count asked before a dump gets (null: the transport's default, three entries).</param>
    private static ConntrackClient Client(Func<byte[], int, IEnumerable<byte[]>> answer, List<ScriptedTransport>? opened = null,
        IReadOnlyList<byte[]>? statsReply = null, bool skipEmptyTable = true) =>
        new(() =>
        {
            var t = statsReply is null ? new ScriptedTransport(answer) : new ScriptedTransport(answer) { StatsReply = statsReply };
            opened?.Add(t);
            return t;
        }, Modern) { SkipEmptyTable = skipEmptyTable };

    /// <summary>The golden dump in one datagram, whatever the request.</summary>
    private static IEnumerable<byte[]> WholeTable(byte[] request, int n) => [ScriptedTransport.Concat(Golden.ToArray()), ScriptedTransport.Done()];

    [Fact]
    public void MultipartDumpAcrossDatagrams_EmitsEveryEntryOnce()
    {
        var g = Golden;
        var client = Client((req, n) => new[]
        {
            ScriptedTransport.Concat(g.Take(3).ToArray()),
            ScriptedTransport.Concat(g.Skip(3).ToArray()),
            ScriptedTransport.Done(),
        });
        var got = new List<ConntrackEntry>();
        var r = client.Dump(new ConntrackFilter(), true, got.AddRange);
        Assert.Equal(g.Count, got.Count);
        Assert.Equal(g.Count, r.Received);
        Assert.Equal(3, r.Datagrams);
        Assert.False(r.Inconsistent);
    }

    [Fact]
    public void PipelinedDump_TakesOneDatagramFirst_ThenTwiceAsManyACall_AndKeepsTheirOrder()
    {
        // The first entries come after one datagram (a Select-Object -First need not wait for a batch); later calls
        // take up to ReceiveBatch datagrams, and the entries still come out in the kernel's order.
        var g = Golden;
        const int Datagrams = 100;
        var opened = new List<ScriptedTransport>();
        var client = Client((req, n) => Enumerable.Range(0, Datagrams).Select(i => ScriptedTransport.Concat(g[i % g.Count]))
            .Append(ScriptedTransport.Done()), opened);
        var got = new List<ConntrackEntry>();
        var r = client.Dump(new ConntrackFilter(), true, got.AddRange);
        Assert.Equal(Datagrams, got.Count);
        Assert.Equal(Enumerable.Range(0, Datagrams).Select(i => ConntrackDecoder.Decode(g[i % g.Count].AsSpan(Nlmsg.HeaderLength)).Id),
            got.Select(e => e.Id));
        Assert.Equal(Datagrams + 1, r.Datagrams);
        var asked = Assert.Single(opened).BatchesAsked;
        int most = NetlinkConnection.ReceiveBatch;
        Assert.Equal(Enumerable.Range(0, asked.Count).Select(i => Math.Min(1 << Math.Min(i, 30), most)), asked);
        Assert.Equal(most, asked[^1]);
    }

    [Fact]
    public void KernelError_BecomesNetlinkExceptionWithErrno()
    {
        var client = Client((req, n) => new[] { ScriptedTransport.Error(Errno.EPERM) });
        var ex = Assert.Throws<NetlinkException>(() => client.Dump(new ConntrackFilter(), true, _ => { }));
        Assert.Equal(Errno.EPERM, ex.Errno);
        Assert.Equal("EPERM", ex.ErrnoName);
    }

    [Fact]
    public void RepliesToOtherSequenceNumbers_AreIgnored()
    {
        var g = Golden;
        // Leftovers of an earlier, abandoned request arrive first and in the same datagram: they must be skipped.
        var transport = new ScriptedTransport((req, n) => new[]
        {
            ScriptedTransport.Concat(ScriptedTransport.Stale(g[1]), ScriptedTransport.Stale(ScriptedTransport.Done())),
            ScriptedTransport.Concat(ScriptedTransport.Stale(g[2]), g[0]),
            ScriptedTransport.Done(),
        });
        using var conn = new NetlinkConnection(transport);
        int count = 0;
        var summary = conn.Dump(new MessageBuilder(0x101, 0, true).NfGenMsg(0), "test", (in NetlinkMessage m) => count++);
        Assert.Equal(1, count);
        Assert.Equal(1, summary.Messages);
    }

    [Fact]
    public void InterruptedDump_IsRepeated_AndEntriesAreNotDuplicated()
    {
        var g = Golden;
        // First answer: the first half, flagged NLM_F_DUMP_INTR. Second answer: the whole table.
        var client = Client((req, n) => n == 0
            ? new[] { ScriptedTransport.Concat(g.Take(4).Select(m => ScriptedTransport.WithFlags(m, Nlmsg.F_DUMP_INTR)).ToArray()), ScriptedTransport.Done() }
            : new[] { ScriptedTransport.Concat(g.ToArray()), ScriptedTransport.Done() });
        var got = new List<ConntrackEntry>();
        var r = client.Dump(new ConntrackFilter(), true, got.AddRange);
        Assert.Equal(1, r.Retries);
        Assert.False(r.Inconsistent);
        Assert.Equal(g.Count, got.Count);
        Assert.Equal(got.Count, got.Select(e => e.Id).Distinct().Count());
    }

    [Fact]
    public void DumpThatStaysInterrupted_IsReportedInconsistent()
    {
        var g = Golden;
        var client = Client((req, n) => new[] { ScriptedTransport.Concat(g.Select(m => ScriptedTransport.WithFlags(m, Nlmsg.F_DUMP_INTR)).ToArray()), ScriptedTransport.Done() });
        var got = new List<ConntrackEntry>();
        var r = client.Dump(new ConntrackFilter(), true, got.AddRange);
        Assert.True(r.Inconsistent);
        Assert.Equal(ConntrackClient.DumpRetries, r.Retries);
        Assert.Equal(g.Count, got.Count);
    }

    [Fact]
    public void TupleFilterForAllFamilies_RunsOneDumpPerFamily_OnTwoSockets()
    {
        var g = Golden;
        var opened = new List<ScriptedTransport>();
        var client = Client((req, n) =>
        {
            byte family = req[16];
            var mine = g.Where(m => m[16] == family).ToArray();
            return new[] { ScriptedTransport.Concat(mine), ScriptedTransport.Done() };
        }, opened);
        var got = new List<ConntrackEntry>();
        var r = client.Dump(new ConntrackFilter { Protocol = Protocols.Tcp }, true, got.AddRange);
        Assert.Equal(2, opened.Count);
        Assert.All(opened, t => Assert.True(t.Disposed));
        Assert.Equal(new byte[] { 2, 10 }, opened.Select(t => t.Requests[0][16]).OrderBy(x => x));
        Assert.Equal(g.Select(Decode).Count(e => e.Protocol == "tcp"), got.Count);
        Assert.All(got, e => Assert.Equal("tcp", e.Protocol));
    }

    [Fact]
    public void ParallelFamilyDumps_CallTheSinkOnTheCallingThreadOnly()
    {
        // A cmdlet writes objects from the sink: it must run on the thread that asked, whichever socket read the batch.
        var g = Golden;
        var client = Client((req, n) => new[] { ScriptedTransport.Concat(g.Where(m => m[16] == req[16]).ToArray()), ScriptedTransport.Done() });
        var threads = new HashSet<int>();
        int batches = 0;
        client.Dump(new ConntrackFilter { Protocol = Protocols.Tcp }, true, b => { threads.Add(Environment.CurrentManagedThreadId); batches++; });
        Assert.True(batches >= 1, "the sink was never called");
        Assert.Equal(new[] { Environment.CurrentManagedThreadId }, threads);
    }

    [Fact]
    public void SinkThatThrows_StopsBothFamilyDumps_AndItsExceptionReachesTheCaller()
    {
        var g = Golden;
        var opened = new List<ScriptedTransport>();
        var client = Client((req, n) => new[] { ScriptedTransport.Concat(g.Where(m => m[16] == req[16]).ToArray()), ScriptedTransport.Done() }, opened);
        var ex = Assert.Throws<InvalidOperationException>(() =>
            client.Dump(new ConntrackFilter { Protocol = Protocols.Tcp }, true, _ => throw new InvalidOperationException("downstream stopped")));
        Assert.Equal("downstream stopped", ex.Message);
        Assert.Equal(2, opened.Count);
        Assert.All(opened, t => Assert.True(t.Disposed));
    }

    [Fact]
    public void OneFamilyDumpFailing_ReportsItsError_NotTheSiblingsCancellation()
    {
        var g = Golden;
        var client = Client((req, n) => req[16] == 10
            ? new[] { ScriptedTransport.Error(Errno.EPERM) }
            : new[] { ScriptedTransport.Concat(g.Where(m => m[16] == 2).ToArray()), ScriptedTransport.Done() });
        var ex = Assert.Throws<NetlinkException>(() => client.Dump(new ConntrackFilter { Protocol = Protocols.Tcp }, true, _ => { }));
        Assert.Equal(Errno.EPERM, ex.Errno);
    }

    [Fact]
    public void SplitFamilies_DumpsIPv4AndIPv6OnTwoSockets_AndTogetherTheyAreOneDump()
    {
        var g = Golden;
        IEnumerable<byte[]> Answer(byte[] req, int n) => new[]
        {
            // Family 0 is every entry; 2 or 10 only that family's, as the kernel filters them.
            ScriptedTransport.Concat(g.Where(m => req[16] == 0 || m[16] == req[16]).ToArray()),
            ScriptedTransport.Done(),
        };
        var opened = new List<ScriptedTransport>();
        var split = new ConntrackClient(() => { var t = new ScriptedTransport(Answer); opened.Add(t); return t; }, Modern) { SplitFamilies = true };
        var got = new List<ConntrackEntry>();
        var r = split.Dump(new ConntrackFilter(), true, got.AddRange);
        Assert.Equal(new byte[] { 2, 10 }, opened.Select(t => t.Requests[0][16]).OrderBy(x => x));
        Assert.All(opened, t => Assert.True(t.Disposed));
        Assert.Contains("IPv4 and IPv6", r.KernelFilter);
        var single = new List<ConntrackEntry>();
        Client(Answer).Dump(new ConntrackFilter(), true, single.AddRange);
        Assert.Equal(g.Count, single.Count);
        Assert.Equal(single.Count, got.Count);
        Assert.True(single.Select(ConntrackIdentity.Of).ToHashSet().SetEquals(got.Select(ConntrackIdentity.Of)), "the split dumps gave other entries than one dump");
        // Not split without kernel filtering (one plain dump), nor for one family.
        Assert.Single(new ConntrackFilter().PlanDump(Modern, kernelFiltering: false, splitFamilies: true).Requests);
        Assert.Single(new ConntrackFilter { Family = IPFamily.IPv6 }.PlanDump(Modern, kernelFiltering: true, splitFamilies: true).Requests);
    }

    [Fact]
    public void SplitFamilies_ManyDatagramsOnBothSockets_EveryEntryArrivesOnce()
    {
        // Two receivers and the decoding thread share one buffer pool, and each dump ends on its own NLMSG_DONE: every
        // datagram of both is decoded once, and the dump ends only when both have ended. (The receivers look at a
        // datagram before handing it over; a race there, seen once on the real kernel, is too narrow for this test.)
        var g = Golden;
        const int Datagrams = 400;
        IEnumerable<byte[]> Answer(byte[] req, int n)
        {
            var mine = g.Where(m => m[16] == req[16]).ToArray();
            for (int i = 0; i < Datagrams; i++) yield return ScriptedTransport.Concat(mine);
            yield return ScriptedTransport.Done();
        }
        for (int round = 0; round < 5; round++)
        {
            var client = new ConntrackClient(() => new ScriptedTransport(Answer), Modern) { SplitFamilies = true };
            long entries = 0;
            var r = client.Dump(new ConntrackFilter(), true, b => { entries += b.Length; Thread.SpinWait(200); });
            Assert.Equal((long)g.Count * Datagrams, r.Received);
        }
    }

    [Fact]
    public void RefusedKernelFilter_FallsBackToUserSpace()
    {
        var g = Golden;
        var client = Client((req, n) => n == 0 && req.Length > 20
            ? new[] { ScriptedTransport.Error(Errno.EOPNOTSUPP) }
            : new[] { ScriptedTransport.Concat(g.ToArray()), ScriptedTransport.Done() });
        var got = new List<ConntrackEntry>();
        var r = client.Dump(new ConntrackFilter { Mark = 7 }, true, got.AddRange);
        Assert.NotNull(r.FallbackReason);
        Assert.Equal(g.Select(Decode).Count(e => e.Mark == 7), got.Count);
    }

    [Fact]
    public void Cancellation_StopsAWaitingDump()
    {
        var client = Client((req, n) => Array.Empty<byte[]>());  // the kernel never answers
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        Assert.ThrowsAny<OperationCanceledException>(() => client.Dump(new ConntrackFilter(), true, _ => { }, cts.Token));
    }

    // The empty-table check (ConntrackClient.SkipEmptyTable): the count is asked first on the dump's socket, with the
    // kernel's own replies recorded by Fixtures/record-stats-fixtures.py (stats-empty.hex: 0, stats-three.hex: 3).

    [Fact]
    public void GlobalStats_AsTheKernelSendsThem_GiveCountAndMax()
    {
        Assert.Equal(((uint?)0, (uint?)262144), ConntrackClient.DecodeGlobalStats(Fixture.Messages("stats-empty")[0].AsSpan(Nlmsg.HeaderLength)));
        Assert.Equal(((uint?)3, (uint?)262144), ConntrackClient.DecodeGlobalStats(Fixture.Messages("stats-three")[0].AsSpan(Nlmsg.HeaderLength)));
    }

    [Theory]
    [InlineData(false)]   // every family on one socket
    [InlineData(true)]    // a port filter: one CTA_FILTER dump per family, two sockets
    public void EmptyTable_NoDumpIsSent(bool perFamily)
    {
        var opened = new List<ScriptedTransport>();
        var client = Client(WholeTable, opened, Fixture.Messages("stats-empty"));
        var filter = perFamily ? new ConntrackFilter { Protocol = Protocols.Tcp, DestinationPort = 8899 } : new ConntrackFilter();
        var got = new List<ConntrackEntry>();
        var r = client.Dump(filter, true, got.AddRange);
        Assert.True(r.EmptyTable);
        Assert.Empty(got);
        Assert.Equal(0, r.Datagrams);
        Assert.Equal(perFamily ? 2 : 1, opened.Count);
        Assert.All(opened, t => Assert.Empty(t.Requests));   // no dump request on any socket
        Assert.All(opened, t => Assert.True(t.Disposed));
        var asked = Assert.Single(opened.SelectMany(t => t.StatsRequests));
        Assert.Equal(Nlmsg.F_REQUEST | Nlmsg.F_ACK, BitConverter.ToUInt16(asked, 6));
        Assert.Equal(0, asked[16]);   // AF_UNSPEC: the namespace's whole count
    }

    [Fact]
    public void CountedEntries_TheDumpRuns()
    {
        var opened = new List<ScriptedTransport>();
        var client = Client(WholeTable, opened);
        var got = new List<ConntrackEntry>();
        var r = client.Dump(new ConntrackFilter(), true, got.AddRange);
        Assert.False(r.EmptyTable);
        Assert.Equal(Golden.Count, got.Count);
        var t = Assert.Single(opened);
        Assert.Single(t.StatsRequests);
        Assert.Single(t.Requests);
    }

    [Fact]
    public void RefusedCount_TheDumpRunsAnyway()
    {
        var client = Client(WholeTable, statsReply: [ScriptedTransport.Error(Errno.EOPNOTSUPP)]);
        var got = new List<ConntrackEntry>();
        var r = client.Dump(new ConntrackFilter(), true, got.AddRange);
        Assert.False(r.EmptyTable);
        Assert.Equal(Golden.Count, got.Count);
    }

    [Fact]
    public void CountMissingFromTheReply_TheDumpRunsAnyway()
    {
        // The kernel's reply for an empty table without its CTA_STATS_GLOBAL_ENTRIES (the first attribute, 8 bytes):
        // no count is not a count of 0.
        var reply = Fixture.Messages("stats-empty");
        var stats = reply[0].AsSpan(0, Nlmsg.HeaderLength + 4).ToArray().Concat(reply[0].AsSpan(Nlmsg.HeaderLength + 4 + 8).ToArray()).ToArray();
        BitConverter.TryWriteBytes(stats.AsSpan(0, 4), (uint)stats.Length);
        Assert.Equal(((uint?)null, (uint?)262144), ConntrackClient.DecodeGlobalStats(stats.AsSpan(Nlmsg.HeaderLength)));
        var client = Client(WholeTable, statsReply: [stats, reply[1]]);
        var got = new List<ConntrackEntry>();
        var r = client.Dump(new ConntrackFilter(), true, got.AddRange);
        Assert.False(r.EmptyTable);
        Assert.Equal(Golden.Count, got.Count);
    }

    [Fact]
    public void Cancellation_StopsAWaitingCount()
    {
        // The count is asked before the dump: a kernel that never answers it must not outlast Ctrl+C.
        var client = Client(WholeTable, statsReply: []);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var dump = System.Threading.Tasks.Task.Run(() => client.Dump(new ConntrackFilter(), true, _ => { }, cts.Token));
        Assert.True(((IAsyncResult)dump).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(20)), "the count ignored the cancellation");
        Assert.IsAssignableFrom<OperationCanceledException>(Assert.Throws<AggregateException>(() => dump.Wait()).InnerException);
    }

    [Fact]
    public void SkipEmptyTableOff_NoCountIsAsked()
    {
        var opened = new List<ScriptedTransport>();
        var client = Client(WholeTable, opened, Fixture.Messages("stats-empty"), skipEmptyTable: false);
        var got = new List<ConntrackEntry>();
        client.Dump(new ConntrackFilter(), true, got.AddRange);
        Assert.Equal(Golden.Count, got.Count);
        Assert.Empty(Assert.Single(opened).StatsRequests);
    }

    private static ConntrackEntry Decode(byte[] m) => ConntrackDecoder.Decode(m.AsSpan(Nlmsg.HeaderLength));
}
