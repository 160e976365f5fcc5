using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using ConntrackTools.Netlink;
using Xunit;

namespace ConntrackTools.Tests;

/// <summary>The hand-off between a pipelined dump's receiving threads and its decoding thread.</summary>
public class DatagramQueueTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private static byte[] D(int n) => [(byte)n];

    /// <summary>On a thread of its own: the queue blocks, and the pool's threads are not for that.</summary>
    private static Task<T> OnThread<T>(Func<T> f) => Task.Factory.StartNew(f, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private static Task OnThread(Action a) => Task.Factory.StartNew(a, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    [Fact]
    public async Task TwoProducers_AreTakenInTheOrderEachAdded_AndTheQueueEndsWhenBothComplete()
    {
        using var q = new DatagramQueue(capacity: 8, producers: 2, wakeBatch: 4, CancellationToken.None);
        var producers = new[] { 0, 1 }.Select(p => OnThread(() =>
        {
            for (int i = 0; i < 100; i++) q.Add(p, D(i), 1, last: i == 99);
            q.CompleteAdding();
        })).ToArray();
        var seen = new List<int>[] { new(), new() };
        while (q.TryTake(out var item)) seen[item.Source].Add(item.Data[0]);
        await Task.WhenAll(producers).WaitAsync(Patience);
        Assert.Equal(Enumerable.Range(0, 100), seen[0]);
        Assert.Equal(Enumerable.Range(0, 100), seen[1]);
        Assert.False(q.TryTake(out _));
    }

    [Fact]
    public async Task OneDatagramBelowTheBatch_StillReachesAWaitingConsumer()
    {
        // The consumer sleeps for a batch of four, but not for ever: what has come is taken after the batch wait.
        using var q = new DatagramQueue(capacity: 8, producers: 1, wakeBatch: 4, CancellationToken.None);
        var taker = OnThread(() => q.TryTake(out var item) ? item.Data[0] : -1);
        await Task.Delay(50);
        q.Add(0, D(7), 1, last: false);
        Assert.Equal(7, await taker.WaitAsync(Patience));
    }

    [Fact]
    public async Task TheLastDatagramOfADump_IsHandedOverWithoutWaitingForABatch()
    {
        using var q = new DatagramQueue(capacity: 8, producers: 2, wakeBatch: 8, CancellationToken.None);
        q.Add(0, D(1), 1, last: true);
        Assert.True(q.TryTake(out var item));
        Assert.Equal(1, item.Data[0]);
        // The other dump goes on: an empty queue with a producer left waits (and is ended by it).
        var taker = OnThread(() => q.TryTake(out _));
        await Task.Delay(50);
        Assert.False(taker.IsCompleted);
        q.CompleteAdding();
        q.CompleteAdding();
        Assert.False(await taker.WaitAsync(Patience));
    }

    [Fact]
    public async Task AFullQueue_HoldsTheProducerUntilItIsHalfEmpty()
    {
        using var q = new DatagramQueue(capacity: 4, producers: 1, wakeBatch: 1, CancellationToken.None);
        for (int i = 0; i < 4; i++) q.Add(0, D(i), 1, last: false);
        var adder = OnThread(() => q.Add(0, D(4), 1, last: false));
        await Task.Delay(50);
        Assert.False(adder.IsCompleted, "a fifth datagram went into a queue of four");
        Assert.True(q.TryTake(out _));
        await Task.Delay(50);
        Assert.False(adder.IsCompleted, "the producer went on before the queue was half empty");
        Assert.True(q.TryTake(out _));
        await adder.WaitAsync(Patience);
        var rest = new List<int>();
        q.CompleteAdding();
        while (q.TryTake(out var item)) rest.Add(item.Data[0]);
        Assert.Equal([2, 3, 4], rest);
    }

    [Fact]
    public async Task Cancellation_WakesAWaitingConsumerAndABlockedProducer()
    {
        using var cts = new CancellationTokenSource();
        using var q = new DatagramQueue(capacity: 1, producers: 2, wakeBatch: 1, cts.Token);
        q.Add(0, D(0), 1, last: false);
        var producer = OnThread(() => q.Add(1, D(1), 1, last: false));
        using var empty = new DatagramQueue(capacity: 1, producers: 1, wakeBatch: 1, cts.Token);
        var consumer = OnThread(() => empty.TryTake(out _));
        await Task.Delay(50);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => producer.WaitAsync(Patience));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => consumer.WaitAsync(Patience));
        // What was queued can still be given back.
        Assert.True(q.TryTakeLeft(out var left));
        Assert.Equal(0, left.Data[0]);
        Assert.False(q.TryTakeLeft(out _));
    }
}
