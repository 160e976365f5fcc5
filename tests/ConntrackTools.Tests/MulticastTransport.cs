using System;
using System.Collections.Generic;
using ConntrackTools.Netlink;

namespace ConntrackTools.Tests;

/// <summary>
/// A fake subscribed netlink socket: it hands out scripted datagrams one per receive, can report an overrun
/// (ENOBUFS) at a scripted point, and counts drops like the kernel's SO_MEMINFO when asked to. When the script is
/// used up it behaves like a quiet socket (receive returns 0 after the timeout).
/// </summary>
internal sealed class MulticastTransport : INetlinkTransport, INetlinkDropCounter
{
    private readonly Queue<Func<byte[]?>> _script = new();
    private readonly bool _countsDrops;
    private long _drops;

    public MulticastTransport(bool countsDrops = true) => _countsDrops = countsDrops;

    public uint PortId => 4242;
    public bool Disposed { get; private set; }
    public int Receives { get; private set; }

    /// <summary>Called when the script is used up (a test can cancel here).</summary>
    public Action? OnIdle { get; set; }

    public long? DroppedMessages => _countsDrops ? _drops : null;

    public MulticastTransport Datagram(byte[] datagram)
    {
        _script.Enqueue(() => datagram);
        return this;
    }

    /// <summary>The kernel dropped <paramref name="messages"/> messages and reports ENOBUFS on the next receive.</summary>
    public MulticastTransport Overrun(int messages)
    {
        _script.Enqueue(() =>
        {
            _drops += messages;
            throw new NetlinkOverrunException("netlink receive");
        });
        return this;
    }

    public void Send(ReadOnlySpan<byte> message) => throw new NotSupportedException("an event socket sends nothing");

    public int Receive(Span<byte> buffer, int timeoutMilliseconds)
    {
        Receives++;
        if (_script.Count == 0)
        {
            OnIdle?.Invoke();
            return 0;
        }
        var d = _script.Dequeue()()!;
        d.CopyTo(buffer);
        return d.Length;
    }

    public void Dispose() => Disposed = true;
}
