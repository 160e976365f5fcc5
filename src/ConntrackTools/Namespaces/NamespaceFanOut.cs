using System;
using System.Collections.Generic;
using System.Threading;

namespace ConntrackTools.Namespaces;

/// <summary>
/// Runs one piece of work per network namespace, several at once, for the -AllNetworkNamespaces cmdlets. The kernel
/// keeps one conntrack table for all namespaces and a dump in one of them walks the whole table, so the work is bound
/// by CPU: parallelism defaults to the number of cores. Each piece runs on a dedicated thread (the work enters its
/// namespace itself, through <see cref="NetworkNamespace.Run{T}"/> or by opening sockets there); results are tagged by
/// the work with the namespace it was given.
/// </summary>
public static class NamespaceFanOut
{
    /// <summary>One piece of work per core.</summary>
    public static int DefaultParallelism => Math.Max(1, Environment.ProcessorCount);

    /// <summary>The host's namespaces now, ready to be entered (see <see cref="NamespaceInventory.Scan"/>).</summary>
    public static List<NetworkNamespace> AllNamespaces()
    {
        var found = NamespaceInventory.Scan();
        var list = new List<NetworkNamespace>(found.Count);
        foreach (var f in found) list.Add(f.ToNamespace());
        return list;
    }

    /// <summary>
    /// Calls <paramref name="work"/> for every namespace, at most <paramref name="parallelism"/> at a time, and returns
    /// when all are done or <paramref name="cancel"/> fires. A namespace that vanished before or during its work (its
    /// process exited, its name was deleted) goes to <paramref name="vanished"/>; any other failure to
    /// <paramref name="failed"/>, and the other namespaces carry on. Both callbacks run on the worker threads.
    /// </summary>
    public static void ForEach(IReadOnlyList<NetworkNamespace> namespaces, Action<NetworkNamespace, CancellationToken> work,
        Action<NetworkNamespace, NetworkNamespaceNotFoundException> vanished, Action<NetworkNamespace, Exception> failed,
        int parallelism, CancellationToken cancel)
    {
        if (parallelism < 1) throw new ArgumentOutOfRangeException(nameof(parallelism), "At least one namespace at a time.");
        int next = -1;
        void Worker()
        {
            while (!cancel.IsCancellationRequested)
            {
                int i = Interlocked.Increment(ref next);
                if (i >= namespaces.Count) return;
                var ns = namespaces[i];
                try
                {
                    work(ns, cancel);
                }
                catch (OperationCanceledException) when (cancel.IsCancellationRequested)
                {
                    return;
                }
                catch (NetworkNamespaceNotFoundException e)
                {
                    vanished(ns, e);
                }
                catch (Exception e)
                {
                    failed(ns, e);
                }
            }
        }
        int count = Math.Min(parallelism, namespaces.Count);
        var threads = new Thread[count];
        for (int t = 0; t < count; t++)
        {
            threads[t] = new Thread(Worker) { IsBackground = true, Name = "netns fan-out " + t };
            threads[t].Start();
        }
        foreach (var t in threads) t.Join();
        cancel.ThrowIfCancellationRequested();
    }
}
