using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using ConntrackTools.Namespaces;
using ConntrackTools.Netlink;
using ConntrackTools.Routing;
using Xunit;

namespace ConntrackTools.Tests;

/// <summary>Pod UIDs from /proc/PID/cgroup lines, in the forms the kubelet writes them.</summary>
public class KubernetesCgroupTests
{
    // The kubelet names a pod's cgroup "pod" + UID (cgroupfs driver) or "kubepods-<qos>-pod<UID with '_'>.slice"
    // (systemd driver); container runtimes add their own scope below. The lines below follow those patterns;
    // the last group is this machine's own /proc/self/cgroup (no pod).
    public static TheoryData<string, string[], string?> Cases => new()
    {
        { "cgroup v1, cgroupfs driver, burstable", [
            "12:pids:/kubepods/burstable/pod0d4a5c9f-6e1b-4b7a-9c2d-3e4f5a6b7c8d/8f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4",
            "11:memory:/kubepods/burstable/pod0d4a5c9f-6e1b-4b7a-9c2d-3e4f5a6b7c8d/8f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4",
            "1:name=systemd:/kubepods/burstable/pod0d4a5c9f-6e1b-4b7a-9c2d-3e4f5a6b7c8d/8f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4",
        ], "0d4a5c9f-6e1b-4b7a-9c2d-3e4f5a6b7c8d" },
        { "cgroup v2, cgroupfs driver, guaranteed (no QoS level)", [
            "0::/kubepods/pod11111111-2222-3333-4444-555555555555/abcdef0123456789",
        ], "11111111-2222-3333-4444-555555555555" },
        { "cgroup v2, systemd driver, besteffort, containerd", [
            "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod9a8b7c6d_5e4f_4a3b_8c2d_1e0f9a8b7c6d.slice/cri-containerd-0123456789abcdef.scope",
        ], "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d" },
        { "cgroup v2, systemd driver, guaranteed, CRI-O", [
            "0::/kubepods.slice/kubepods-podAABBCCDD_EEFF_0011_2233_445566778899.slice/crio-0123456789abcdef.scope",
        ], "aabbccdd-eeff-0011-2233-445566778899" },
        { "cgroup v1, systemd driver, pause container of a pod (the netns holder)", [
            "4:memory:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0d4a5c9f_6e1b_4b7a_9c2d_3e4f5a6b7c8d.slice/cri-containerd-aa.scope",
            "0::/",
        ], "0d4a5c9f-6e1b-4b7a-9c2d-3e4f5a6b7c8d" },
        { "static pod: the UID is a 32-digit config hash", [
            "0::/kubepods/burstable/pod6b2b0e8a9c7d4f1e3a5b7c9d1e3f5a7b/cafe",
        ], "6b2b0e8a9c7d4f1e3a5b7c9d1e3f5a7b" },
        { "a docker container outside Kubernetes", [
            "0::/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope",
        ], null },
        { "kubepods but no pod segment (the QoS slice itself)", [
            "0::/kubepods.slice/kubepods-burstable.slice",
        ], null },
        { "a 'pod' word that is not a UID", [
            "0::/kubepods/podcast/123",
        ], null },
        { "this machine (cgroup v1 and v2 lines, no Kubernetes)", [
            "9:name=systemd:/", "4:memory:/process_api/eff4aeb7892faddeacf04334d2a5ec1e", "1:cpu:/", "0::/",
        ], null },
        { "a malformed line is skipped", [
            "garbage without colons", "0::/kubepods/pod11111111-2222-3333-4444-555555555555",
        ], "11111111-2222-3333-4444-555555555555" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Finds_the_pod_uid(string what, string[] lines, string? expected)
    {
        Assert.True(what.Length > 0);
        Assert.Equal(expected, KubernetesCgroup.PodUid(lines));
    }
}

/// <summary>RTM_NEWNSID replies recorded from this kernel (Fixtures/record-nsid-fixtures.py).</summary>
public class NetNsIdTests
{
    [Theory]
    [InlineData("nsid-assigned", 42)]
    [InlineData("nsid-none", -1)]
    public void Decodes_the_recorded_reply(string fixture, int expected)
    {
        var msg = Fixture.Messages(fixture).Single();
        Assert.Equal((ushort)88, BitConverter.ToUInt16(msg, 4)); // RTM_NEWNSID
        Assert.Equal(expected, NetNsIds.Decode(msg.AsSpan(Nlmsg.HeaderLength)));
    }

    [Fact]
    public void A_truncated_reply_is_a_decode_error()
    {
        var msg = Fixture.Messages("nsid-assigned").Single();
        Assert.Throws<NetlinkDecodeException>(() => NetNsIds.Decode(msg.AsSpan(Nlmsg.HeaderLength, 2)));
        Assert.Throws<NetlinkDecodeException>(() => NetNsIds.Decode(msg.AsSpan(Nlmsg.HeaderLength, 10)));
    }
}

public class NamespaceFanOutTests
{
    private static List<NetworkNamespace> Fake(int n) =>
        Enumerable.Range(0, n).Select(i => NetworkNamespace.Found($"ns{i}", $"/nonexistent/ns{i}", (ulong)(1000 + i))).ToList();

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    public void Runs_every_namespace_once_and_never_more_at_once_than_asked(int parallelism)
    {
        var all = Fake(23);
        var seen = new ConcurrentDictionary<string, int>();
        int running = 0, peak = 0;
        NamespaceFanOut.ForEach(all, (ns, _) =>
        {
            int now = Interlocked.Increment(ref running);
            int p;
            while ((p = Volatile.Read(ref peak)) < now && Interlocked.CompareExchange(ref peak, now, p) != p) { }
            Thread.Sleep(5);
            seen.AddOrUpdate(ns.Spec, 1, (_, c) => c + 1);
            Interlocked.Decrement(ref running);
        }, (_, e) => throw new Xunit.Sdk.XunitException("vanished " + e.Message), (_, e) => throw new Xunit.Sdk.XunitException("failed " + e.Message),
            parallelism, CancellationToken.None);
        Assert.Equal(all.Select(n => n.Spec).OrderBy(s => s), seen.Keys.OrderBy(s => s));
        Assert.All(seen.Values, c => Assert.Equal(1, c));
        Assert.True(peak <= parallelism, $"peak {peak} > {parallelism}");
        if (parallelism > 1) Assert.True(peak > 1, "never ran two at once");
    }

    [Fact]
    public void A_vanished_or_failing_namespace_does_not_stop_the_others()
    {
        var all = Fake(6);
        var done = new ConcurrentBag<string>();
        var vanished = new ConcurrentBag<string>();
        var failed = new ConcurrentBag<string>();
        NamespaceFanOut.ForEach(all, (ns, _) =>
        {
            if (ns.Spec == "ns1") throw new NetworkNamespaceNotFoundException(ns.Spec, ns.Path);
            if (ns.Spec == "ns4") throw new NetlinkException(Errno.EPERM, "dump");
            done.Add(ns.Spec);
        }, (ns, _) => vanished.Add(ns.Spec), (ns, _) => failed.Add(ns.Spec), 2, CancellationToken.None);
        Assert.Equal(["ns0", "ns2", "ns3", "ns5"], done.OrderBy(s => s));
        Assert.Equal(["ns1"], vanished);
        Assert.Equal(["ns4"], failed);
    }

    [Fact]
    public void Entering_a_path_that_now_leads_to_another_namespace_is_not_found()
    {
        // The caller's own namespace file, but expecting another inode (a PID reused by a process elsewhere).
        ulong real = NamespaceNative.Inode("/proc/thread-self/ns/net") ?? throw new InvalidOperationException("no nsfs");
        var stale = NetworkNamespace.Found("/proc/self/ns/net", "/proc/self/ns/net", real + 1);
        var e = Assert.Throws<NetworkNamespaceNotFoundException>(() => NetworkNamespace.Run(stale, () => 0));
        Assert.Contains("no longer leads", e.Message);
    }

    [Fact]
    public void Cancellation_stops_the_fan_out()
    {
        using var cts = new CancellationTokenSource();
        int started = 0;
        Assert.ThrowsAny<OperationCanceledException>(() => NamespaceFanOut.ForEach(Fake(50), (_, token) =>
        {
            if (Interlocked.Increment(ref started) == 3) cts.Cancel();
            token.WaitHandle.WaitOne(50);
        }, (_, _) => { }, (_, _) => { }, 2, cts.Token));
        Assert.True(started < 50);
    }
}

public class NamespaceWatchTests
{
    private static NamespaceInventory.Found F(ulong id, string? name, params int[] pids) =>
        new(id, name, name is null ? null : "/run/netns/" + name, pids);

    [Fact]
    public void Picks_up_new_namespaces_and_lets_go_of_vanished_ones()
    {
        // Scripted scans: start with a and b; c appears by name; b vanishes; d appears held only by a process.
        var scans = new Queue<List<NamespaceInventory.Found>>([
            [F(1, "a"), F(2, "b")],
            [F(1, "a"), F(2, "b"), F(3, "c")],
            [F(1, "a"), F(3, "c")],
            [F(1, "a"), F(3, "c"), F(4, null, 77)],
            [F(1, "a"), F(3, "c"), F(4, null, 77)],
        ]);
        List<NamespaceInventory.Found> last = scans.Peek();
        List<NamespaceInventory.Found> Scan()
        {
            lock (scans) { if (scans.Count > 0) last = scans.Dequeue(); return last; }
        }
        var watching = new ConcurrentDictionary<string, int>();
        var stopped = new ConcurrentBag<string>();
        var changes = new ConcurrentQueue<NamespaceChange>();
        using var cts = new CancellationTokenSource();
        using var watch = new NamespaceWatch((ns, token) =>
        {
            watching[ns.Spec] = 1;
            token.WaitHandle.WaitOne();
            stopped.Add(ns.Spec);
        }, changes.Enqueue, (ns, e) => throw new Xunit.Sdk.XunitException(ns.Spec + ": " + e), Scan);
        var run = new Thread(() => watch.Run(cts.Token, TimeSpan.FromSeconds(30)));
        run.Start();
        Assert.True(SpinWait.SpinUntil(() => watching.ContainsKey("/proc/77/ns/net") && stopped.Contains("b"), TimeSpan.FromSeconds(20)),
            "the watch did not follow the scans: " + string.Join(", ", changes.Select(c => $"{c.Namespace.Spec} {c.Added}")));
        cts.Cancel();
        run.Join();
        Assert.Equal(["/proc/77/ns/net", "a", "b", "c"], watching.Keys.OrderBy(k => k, StringComparer.Ordinal));
        Assert.Equal(["/proc/77/ns/net", "a", "b", "c"], stopped.OrderBy(k => k, StringComparer.Ordinal));
        var c = changes.ToArray();
        Assert.Contains(c, x => x.Added && x.Namespace.Spec == "c");
        Assert.Contains(c, x => !x.Added && x.Namespace.Spec == "b" && x.Namespace.Id == 2);
        Assert.Contains(c, x => x.Added && x.Namespace.Spec == "/proc/77/ns/net");
        Assert.DoesNotContain(c, x => !x.Added && x.Namespace.Spec != "b");
    }
}
