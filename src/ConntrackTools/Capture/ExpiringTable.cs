using System;
using System.Collections.Generic;

namespace ConntrackTools.Capture;

/// <summary>
/// A dictionary that keeps its entries in order of last use, so that entries idle for too long are dropped at O(1)
/// each and the size can be capped by dropping the longest idle. This is what keeps the detector's memory bounded.
/// The times passed in must never go back (the detector passes its monotonic capture clock).
/// </summary>
internal sealed class ExpiringTable<TKey, TValue> where TKey : notnull
{
    private sealed class Entry(TKey key, TValue value, DateTime lastUsed)
    {
        public TKey Key { get; } = key;
        public TValue Value { get; set; } = value;
        public DateTime LastUsed { get; set; } = lastUsed;
    }

    private readonly Dictionary<TKey, LinkedListNode<Entry>> _map = new();
    private readonly LinkedList<Entry> _byLastUse = new();

    public int Count => _map.Count;

    /// <summary>Looks an entry up and, when found, marks it used at <paramref name="now"/>.</summary>
    public bool TryUse(TKey key, DateTime now, out TValue value)
    {
        if (!_map.TryGetValue(key, out var node))
        {
            value = default!;
            return false;
        }
        MarkUsed(node, now);
        value = node.Value.Value;
        return true;
    }

    /// <summary>Adds or replaces an entry, used at <paramref name="now"/>.</summary>
    public void Set(TKey key, TValue value, DateTime now)
    {
        if (_map.TryGetValue(key, out var node))
        {
            node.Value.Value = value;
            MarkUsed(node, now);
            return;
        }
        _map.Add(key, _byLastUse.AddLast(new Entry(key, value, now)));
    }

    public bool Remove(TKey key)
    {
        if (!_map.Remove(key, out var node)) return false;
        _byLastUse.Remove(node);
        return true;
    }

    /// <summary>Drops the entries not used for longer than <paramref name="maxIdle"/>, telling <paramref name="dropped"/> about each.</summary>
    public void DropIdle(DateTime now, TimeSpan maxIdle, Action<TValue> dropped)
    {
        while (_byLastUse.First is { } oldest && now - oldest.Value.LastUsed > maxIdle) Drop(oldest, dropped);
    }

    /// <summary>Drops the longest idle entries until at most <paramref name="capacity"/> remain.</summary>
    public void DropBeyond(int capacity, Action<TValue> dropped)
    {
        while (_map.Count > capacity && _byLastUse.First is { } oldest) Drop(oldest, dropped);
    }

    private void MarkUsed(LinkedListNode<Entry> node, DateTime now)
    {
        node.Value.LastUsed = now;
        _byLastUse.Remove(node);
        _byLastUse.AddLast(node);
    }

    private void Drop(LinkedListNode<Entry> node, Action<TValue> dropped)
    {
        _map.Remove(node.Value.Key);
        _byLastUse.Remove(node);
        dropped(node.Value.Value);
    }
}
