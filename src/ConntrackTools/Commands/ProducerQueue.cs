using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;

namespace ConntrackTools.Commands;

/// <summary>
/// The pattern every streaming cmdlet uses: a producer (netlink reader, capture loop) runs on its own thread and
/// adds batches to a bounded queue; the pipeline thread drains it and is the only one that writes objects.
/// Bounded, so memory stays flat however large the table; a slow pipeline slows the reader, not the other way.
/// </summary>
internal sealed class ProducerQueue<T> : IDisposable
{
    private readonly BlockingCollection<T[]> _queue;
    private readonly CancellationTokenSource _cancel;
    private readonly Thread _thread;
    private Exception? _failure;

    public ProducerQueue(Action<Action<T[]>, CancellationToken> producer, CancellationToken outer, int capacity = 64, string name = "ConntrackTools reader")
    {
        _queue = new BlockingCollection<T[]>(new ConcurrentQueue<T[]>(), capacity);
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(outer);
        var token = _cancel.Token;
        _thread = new Thread(() =>
        {
            try
            {
                producer(batch => _queue.Add(batch, token), token);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                _failure = e;
            }
            finally
            {
                _queue.CompleteAdding();
            }
        })
        {
            IsBackground = true,
            Name = name,
        };
        _thread.Start();
    }

    /// <summary>Batches as they come; ends when the producer finishes or is cancelled.</summary>
    public IEnumerable<T[]> Consume()
    {
        var token = _cancel.Token;
        while (true)
        {
            T[] batch;
            try
            {
                if (!_queue.TryTake(out batch!, Timeout.Infinite, token)) break;
            }
            catch (OperationCanceledException)
            {
                break;
            }
            yield return batch;
        }
    }

    /// <summary>Rethrows the producer's failure, if any (call after <see cref="Consume"/> ends).</summary>
    public Exception? Failure => _failure;

    public void Cancel() => _cancel.Cancel();

    public void Dispose()
    {
        _cancel.Cancel();
        _thread.Join();
        _queue.Dispose();
        _cancel.Dispose();
    }
}
