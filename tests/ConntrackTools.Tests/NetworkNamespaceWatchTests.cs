using System;
using System.Diagnostics;
using System.IO;
using System.Threading;
using ConntrackTools.Conntrack;
using ConntrackTools.Namespaces;
using Xunit;

namespace ConntrackTools.Tests;

/// <summary>
/// The check that a watcher's namespace is still there. Without root a plain file stands in for a namespace file (the
/// check compares device and inode, which every file has), and a child process's own /proc/PID/ns/net for a PID.
/// </summary>
public class NetworkNamespaceWatchTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ctt-nswatch-").FullName;

    public void Dispose()
    {
        Directory.Delete(_dir, recursive: true);
        GC.SuppressFinalize(this);
    }

    private string NewFile(string name = "ns")
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, "");
        return path;
    }

    [Fact]
    public void Path_StaysWhileTheFileIsThere_AndIsGoneWhenDeleted()
    {
        var path = NewFile();
        var watch = new NetworkNamespaceWatch(NetworkNamespace.Resolve(path), TimeSpan.Zero);
        Assert.Null(watch.Check());
        watch.ThrowIfGone();
        File.Delete(path);
        var e = Assert.Throws<NetworkNamespaceGoneException>(watch.ThrowIfGone);
        Assert.Equal(path, e.Spec);
        Assert.Contains("no longer exists", e.Message);
        Assert.True(watch.IsGone);
    }

    [Fact]
    public void Path_RecreatedUnderTheSameName_IsAnotherNamespace()
    {
        var path = NewFile();
        var watch = new NetworkNamespaceWatch(NetworkNamespace.Resolve(path), TimeSpan.Zero);
        var keep = Path.Combine(_dir, "kept"); // keep the old inode alive, so the new file cannot reuse its number
        File.Move(path, keep);
        NewFile();
        Assert.NotEqual(watch.Identity, NetworkNamespaceWatch.Identify(path));
        var reason = watch.Check();
        Assert.NotNull(reason);
        Assert.Contains("another network namespace", reason);
        // Once gone, it stays gone, even if the original file came back.
        File.Delete(path);
        File.Move(keep, path);
        Assert.NotNull(watch.Check());
    }

    [Fact]
    public void Interval_LimitsHowOftenTheFileIsLookedAt()
    {
        var path = NewFile();
        var watch = new NetworkNamespaceWatch(NetworkNamespace.Resolve(path), TimeSpan.FromHours(1));
        File.Delete(path);
        watch.ThrowIfGone(); // not due for an hour: no look yet
        Assert.False(watch.IsGone);
        Assert.NotNull(watch.Check()); // an explicit check looks at once
        Assert.Throws<NetworkNamespaceGoneException>(watch.ThrowIfGone);
    }

    [Fact]
    public void Pid_IsGoneWhenTheProcessExits()
    {
        using var child = Process.Start(new ProcessStartInfo("sleep", "60") { UseShellExecute = false })!;
        try
        {
            var ns = NetworkNamespace.Resolve(child.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            var watch = new NetworkNamespaceWatch(ns, TimeSpan.Zero);
            Assert.Equal(NetworkNamespaceWatch.Identify("/proc/self/ns/net"), watch.Identity);
            Assert.Null(watch.Check());
            child.Kill();
            child.WaitForExit();
            var e = Assert.Throws<NetworkNamespaceGoneException>(watch.ThrowIfGone);
            Assert.Contains($"process {child.Id} has exited", e.Message);
        }
        finally
        {
            if (!child.HasExited) child.Kill();
        }
    }

    [Fact]
    public void NoNamespace_NoWatch() => Assert.Null(NetworkNamespaceWatch.For(null));

    [Fact]
    public void Listener_EndsWithinAboutASecond_WhenItsNamespaceGoes()
    {
        var path = NewFile();
        var watch = new NetworkNamespaceWatch(NetworkNamespace.Resolve(path));
        var transport = new MulticastTransport().Datagram(Fixture.Messages("event-new")[0]);
        var listener = new ConntrackEventListener(transport, new ConntrackFilter(), path, gone: watch);
        int events = 0;
        transport.OnIdle = () => { if (events > 0 && File.Exists(path)) File.Delete(path); };
        using var safety = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        Assert.Throws<NetworkNamespaceGoneException>(() => listener.Run(b => events += b.Length, safety.Token));
        Assert.False(safety.IsCancellationRequested, "the listener ran until the safety timeout instead of noticing");
        Assert.Equal(1, events);
    }
}
