using System;
using System.Threading;

namespace ConntrackTools.Netlink;

/// <summary>
/// The bounded hand-off between a dump's receiving threads and the thread that decodes (several producers, one
/// consumer). Unlike a BlockingCollection it wakes a waiting consumer only when a batch of datagrams is
/// queued, a dump's last one arrives, or adding has ended: on a two-core node the consumer decodes faster than the
/// kernel builds a dump and would otherwise sleep and be woken (a futex call on the receiving thread, whose time is
/// the dump's time) for every datagram. A consumer never waits longer than <see cref="MaxBatchWaitMilliseconds"/>
/// for a batch once something is queued, so a slow dump's first entries still come at once.
/// </summary>
internal sealed class DatagramQueue : IDisposable
{
    private readonly object _lock = new();
    private readonly (int Source, byte[] Data, int Length)[] _items;
    private readonly int _wakeBatch;
    private int _head, _count, _producers;
    private bool _consumerWaiting, _flush;

    /// <summary>How long a consumer with something queued waits for the rest of a batch.</summary>
    public const int MaxBatchWaitMilliseconds = 20;
    private int _producersWaiting;
    private readonly CancellationTokenRegistration _cancelRegistration;
    private readonly CancellationToken _cancel;

    /// <param name="capacity">Datagrams queued at most; a producer waits when the queue is full.</param>
    /// <param name="producers">Producers that will call <see cref="CompleteAdding"/>, each once.</param>
    /// <param name="wakeBatch">Datagrams a waiting consumer is left to sleep for.</param>
    /// <param name="cancel">Wakes every waiter, who then throws <see cref="OperationCanceledException"/>.</param>
    public DatagramQueue(int capacity, int producers, int wakeBatch, CancellationToken cancel)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(producers, 1);
        _items = new (int, byte[], int)[capacity];
        _producers = producers;
        _wakeBatch = Math.Clamp(wakeBatch, 1, capacity);
        _cancel = cancel;
        _cancelRegistration = cancel.Register(() =>
        {
            lock (_lock) Monitor.PulseAll(_lock);
        });
    }

    /// <summary>Queues a datagram; waits while the queue is full. <paramref name="last"/>: the end of its dump, so the consumer is woken.</summary>
    public void Add(int source, byte[] data, int length, bool last)
    {
        lock (_lock)
        {
            while (_count == _items.Length)
            {
                _cancel.ThrowIfCancellationRequested();
                _producersWaiting++;
                try { Monitor.Wait(_lock); }
                finally { _producersWaiting--; }
            }
            _cancel.ThrowIfCancellationRequested();
            _items[(_head + _count) % _items.Length] = (source, data, length);
            _count++;
            if (last) _flush = true;
            if (_consumerWaiting && (_count >= _wakeBatch || last)) Monitor.PulseAll(_lock);
        }
    }

    /// <summary>One producer is done (normally or not); the last one ends the queue.</summary>
    public void CompleteAdding()
    {
        lock (_lock)
        {
            if (_producers > 0) _producers--;
            _flush = true;
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>
    /// The next datagram, in the order added; false when every producer has completed and nothing is left. Waits
    /// for the wake batch (or the end) when none is queued.
    /// </summary>
    public bool TryTake(out (int Source, byte[] Data, int Length) item)
    {
        lock (_lock)
        {
            while (_count == 0)
            {
                if (_producers == 0)
                {
                    _cancel.ThrowIfCancellationRequested();
                    item = default;
                    return false;   // every producer has completed
                }
                _consumerWaiting = true;
                try
                {
                    // Woken by Add at the batch or a dump's end, by CompleteAdding, or by cancellation; after
                    // MaxBatchWaitMilliseconds it takes what has come.
                    while (_count < _wakeBatch && _producers > 0 && !_flush)
                    {
                        _cancel.ThrowIfCancellationRequested();
                        if (!Monitor.Wait(_lock, MaxBatchWaitMilliseconds) && _count > 0) break;
                    }
                }
                finally { _consumerWaiting = false; }
                _flush = false;
                _cancel.ThrowIfCancellationRequested();
            }
            item = _items[_head];
            _items[_head] = default;
            _head = (_head + 1) % _items.Length;
            _count--;
            // A full queue drained to half: the waiting producers go on (not after every take, for the same reason).
            if (_producersWaiting > 0 && _count <= _items.Length / 2) Monitor.PulseAll(_lock);
            return true;
        }
    }

    /// <summary>What is still queued, without waiting (to give the buffers back).</summary>
    public bool TryTakeLeft(out (int Source, byte[] Data, int Length) item)
    {
        lock (_lock)
        {
            if (_count == 0)
            {
                item = default;
                return false;
            }
            item = _items[_head];
            _items[_head] = default;
            _head = (_head + 1) % _items.Length;
            _count--;
            Monitor.PulseAll(_lock);
            return true;
        }
    }

    public void Dispose() => _cancelRegistration.Dispose();
}
