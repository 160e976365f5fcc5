using System;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace ConntrackTools.Netlink;

/// <summary>What the netlink layer needs from a socket. The real one is <see cref="NetlinkSocket"/>; tests script a fake.</summary>
public interface INetlinkTransport : IDisposable
{
    /// <summary>The port id the kernel assigned at bind time.</summary>
    uint PortId { get; }

    void Send(ReadOnlySpan<byte> message);

    /// <summary>
    /// Receives one datagram into <paramref name="buffer"/>. Returns its length, or 0 when
    /// <paramref name="timeoutMilliseconds"/> (-1: wait forever) passed without one.
    /// Throws <see cref="NetlinkOverrunException"/> when the kernel dropped messages (ENOBUFS).
    /// </summary>
    int Receive(Span<byte> buffer, int timeoutMilliseconds);

    /// <summary>
    /// Receives up to one datagram for each of <paramref name="buffers"/> in one call, the n-th into buffers[n] with
    /// its length in lengths[n]; returns how many (at least one), or 0 when the timeout passed without any. Waits
    /// only for the first. A transport that cannot do better receives one (the default).
    /// </summary>
    int ReceiveMany(ReadOnlySpan<byte[]> buffers, Span<int> lengths, int timeoutMilliseconds)
    {
        int n = Receive(buffers[0], timeoutMilliseconds);
        if (n == 0) return 0;
        lengths[0] = n;
        return 1;
    }
}

/// <summary>Netlink protocol numbers (linux/netlink.h).</summary>
public enum NetlinkProtocol
{
    Route = 0,      // NETLINK_ROUTE
    SockDiag = 4,   // NETLINK_SOCK_DIAG (NETLINK_INET_DIAG)
    Netfilter = 12, // NETLINK_NETFILTER
}

/// <summary>
/// An AF_NETLINK socket. .NET's Socket refuses AF_NETLINK, so the fd comes from socket(2) and is owned by a
/// <see cref="SafeSocketHandle"/>. A socket created on a thread inside another network namespace stays there.
/// </summary>
public sealed unsafe class NetlinkSocket : INetlinkTransport, INetlinkDropCounter
{
    private readonly SafeSocketHandle _handle;
    private readonly int _fd;

    private NetlinkSocket(int fd, uint portId)
    {
        _fd = fd;
        _handle = new SafeSocketHandle((IntPtr)fd, ownsHandle: true);
        PortId = portId;
    }

    public uint PortId { get; }

    /// <summary>Opens and binds a socket. <paramref name="groups"/> is the legacy group bitmask (groups 1..32).</summary>
    public static NetlinkSocket Open(NetlinkProtocol protocol, uint groups = 0)
    {
        int fd = Native.Socket(Native.AF_NETLINK, Native.SOCK_RAW | Native.SOCK_CLOEXEC, (int)protocol);
        if (fd < 0) throw new NetlinkException(Marshal.GetLastPInvokeError(), $"socket(AF_NETLINK, {protocol})");
        try
        {
            var sa = new Native.SockaddrNl { Family = Native.AF_NETLINK, Groups = groups };
            if (Native.Bind(fd, &sa, sizeof(Native.SockaddrNl)) != 0)
                throw new NetlinkException(Marshal.GetLastPInvokeError(), "bind(AF_NETLINK)");
            int len = sizeof(Native.SockaddrNl);
            if (Native.GetSockName(fd, &sa, &len) != 0)
                throw new NetlinkException(Marshal.GetLastPInvokeError(), "getsockname(AF_NETLINK)");
            var socket = new NetlinkSocket(fd, sa.Pid);
            fd = -1;
            // Best effort: errors with the kernel's own text, and ACKs without a copy of our request.
            socket.TrySetOption(Native.SOL_NETLINK, Native.NETLINK_EXT_ACK, 1);
            socket.TrySetOption(Native.SOL_NETLINK, Native.NETLINK_CAP_ACK, 1);
            return socket;
        }
        finally
        {
            if (fd >= 0) Native.Close(fd);
        }
    }

    /// <summary>Joins a multicast group by number (NETLINK_ADD_MEMBERSHIP).</summary>
    public void JoinGroup(int group) => SetOption(Native.SOL_NETLINK, Native.NETLINK_ADD_MEMBERSHIP, group, "join netlink group " + group);

    /// <summary>
    /// Sizes the receive buffer: SO_RCVBUFFORCE when permitted (root/CAP_NET_ADMIN ignores rmem_max),
    /// else SO_RCVBUF (capped by net.core.rmem_max). Returns the size the kernel reports afterwards.
    /// </summary>
    public int SetReceiveBuffer(int bytes)
    {
        if (!TrySetOption(Native.SOL_SOCKET, Native.SO_RCVBUFFORCE, bytes))
            TrySetOption(Native.SOL_SOCKET, Native.SO_RCVBUF, bytes);
        return ReceiveBufferSize;
    }

    /// <summary>The receive buffer size as the kernel reports it (double the requested value, as usual).</summary>
    public int ReceiveBufferSize
    {
        get
        {
            int v = 0, len = sizeof(int);
            bool added = false;
            _handle.DangerousAddRef(ref added);
            try { Native.GetSockOpt(_fd, Native.SOL_SOCKET, Native.SO_RCVBUF, &v, &len); }
            finally { if (added) _handle.DangerousRelease(); }
            return v;
        }
    }

    /// <summary>The send buffer size as the kernel reports it: a datagram may be at most this minus 32 bytes.</summary>
    public int SendBufferSize
    {
        get
        {
            int v = 0, len = sizeof(int);
            bool added = false;
            _handle.DangerousAddRef(ref added);
            try { Native.GetSockOpt(_fd, Native.SOL_SOCKET, Native.SO_SNDBUF, &v, &len); }
            finally { if (added) _handle.DangerousRelease(); }
            return v;
        }
    }

    /// <summary>
    /// Attaches a classic BPF program (SO_ATTACH_FILTER): the kernel runs it on every message before queueing it,
    /// so what it drops never takes room in the receive buffer.
    /// </summary>
    public void AttachFilter(ReadOnlySpan<SocketFilterInstruction> program)
    {
        bool added = false;
        _handle.DangerousAddRef(ref added);
        try
        {
            fixed (SocketFilterInstruction* code = program)
            {
                var prog = new Native.SockFprog { Length = checked((ushort)program.Length), Filter = code };
                if (Native.SetSockOpt(_fd, Native.SOL_SOCKET, Native.SO_ATTACH_FILTER, &prog, sizeof(Native.SockFprog)) != 0)
                    throw new NetlinkException(Marshal.GetLastPInvokeError(), "attach socket filter");
            }
        }
        finally
        {
            if (added) _handle.DangerousRelease();
        }
    }

    /// <summary>
    /// Messages the kernel dropped for this socket because its receive buffer was full (sk_drops, read with
    /// SO_MEMINFO, Linux 4.12+): netlink_overrun() counts every multicast message it could not queue.
    /// Null when the kernel does not report it.
    /// </summary>
    public long? DroppedMessages
    {
        get
        {
            // Room for more fields than this kernel has: the array grows at the end, the drops index stays.
            uint* info = stackalloc uint[16];
            int len = 16 * sizeof(uint);
            bool added = false;
            _handle.DangerousAddRef(ref added);
            try
            {
                if (Native.GetSockOpt(_fd, Native.SOL_SOCKET, Native.SO_MEMINFO, (int*)info, &len) != 0) return null;
            }
            finally
            {
                if (added) _handle.DangerousRelease();
            }
            return len > Native.SK_MEMINFO_DROPS * sizeof(uint) ? info[Native.SK_MEMINFO_DROPS] : null;
        }
    }

    public void Send(ReadOnlySpan<byte> message)
    {
        bool added = false;
        _handle.DangerousAddRef(ref added);
        try
        {
            fixed (byte* p = message)
            {
                while (true)
                {
                    nint n = Native.Send(_fd, p, message.Length, 0);
                    if (n >= 0) return;
                    int err = Marshal.GetLastPInvokeError();
                    if (err == Native.EINTR) continue;
                    throw new NetlinkException(err, "netlink send");
                }
            }
        }
        finally
        {
            if (added) _handle.DangerousRelease();
        }
    }

    public int Receive(Span<byte> buffer, int timeoutMilliseconds)
    {
        bool added = false;
        _handle.DangerousAddRef(ref added);
        try
        {
            // With a timeout, try the datagram first and poll only when none is queued: during a dump the kernel
            // has the next one ready when recv returns, so a poll before every recv would be one more system call
            // per datagram on the thread that carries the kernel's work.
            int flags = Native.MSG_TRUNC | (timeoutMilliseconds >= 0 ? Native.MSG_DONTWAIT : 0);
            while (true)
            {
                nint n;
                fixed (byte* p = buffer)
                    n = Native.Recv(_fd, p, buffer.Length, flags);
                if (n >= 0)
                {
                    CheckWhole(n, buffer.Length);
                    return (int)n;
                }
                if (!WaitAfterEmptyReceive(Marshal.GetLastPInvokeError(), timeoutMilliseconds)) return 0;
            }
        }
        finally
        {
            if (added) _handle.DangerousRelease();
        }
    }

    /// <summary>
    /// recvmmsg(2): after the first datagram it takes the rest only when they are already queued (MSG_WAITFORONE,
    /// or MSG_DONTWAIT with a timeout). During a dump each netlink recvmsg builds the next datagram before it
    /// returns, so one call receives them all and leaves the kernel once for the lot.
    /// </summary>
    public int ReceiveMany(ReadOnlySpan<byte[]> buffers, Span<int> lengths, int timeoutMilliseconds)
    {
        int count = Math.Min(buffers.Length, lengths.Length);
        if (count == 0) throw new ArgumentException("no buffer to receive into", nameof(buffers));
        const int Most = 64;
        if (count > Most) count = Most;
        Span<GCHandle> pins = stackalloc GCHandle[count];   // buffers rented from a pool: pinned for the call only
        var iov = stackalloc Native.IoVec[count];
        var messages = stackalloc Native.MMsgHdr[count];
        bool added = false;
        _handle.DangerousAddRef(ref added);
        try
        {
            for (int i = 0; i < count; i++)
            {
                pins[i] = GCHandle.Alloc(buffers[i], GCHandleType.Pinned);
                iov[i] = new Native.IoVec { Base = (byte*)pins[i].AddrOfPinnedObject(), Length = (nuint)buffers[i].Length };
                messages[i] = new Native.MMsgHdr { Header = new Native.MsgHdr { Iov = &iov[i], IovLength = 1 } };
            }
            int flags = Native.MSG_TRUNC | (timeoutMilliseconds >= 0 ? Native.MSG_DONTWAIT : Native.MSG_WAITFORONE);
            while (true)
            {
                int got = Native.RecvMMsg(_fd, messages, (uint)count, flags, null);
                if (got > 0)
                {
                    for (int i = 0; i < got; i++)
                    {
                        CheckWhole(messages[i].Length, buffers[i].Length);
                        lengths[i] = (int)messages[i].Length;
                    }
                    return got;
                }
                if (!WaitAfterEmptyReceive(got == 0 ? Native.EAGAIN : Marshal.GetLastPInvokeError(), timeoutMilliseconds)) return 0;
            }
        }
        finally
        {
            foreach (var pin in pins) if (pin.IsAllocated) pin.Free();
            if (added) _handle.DangerousRelease();
        }
    }

    /// <summary>With MSG_TRUNC the kernel reports a datagram's whole length: one longer than the buffer was cut short.</summary>
    private static void CheckWhole(long length, int bufferLength)
    {
        if (length > bufferLength)
            throw new NetlinkDecodeException($"netlink datagram of {length} bytes truncated to a {bufferLength}-byte buffer");
    }

    /// <summary>
    /// After a receive that returned no datagram with <paramref name="err"/>: true to try again (EINTR, or the socket
    /// became readable), false when <paramref name="timeoutMilliseconds"/> passed; any other error is thrown.
    /// </summary>
    private bool WaitAfterEmptyReceive(int err, int timeoutMilliseconds)
    {
        if (err == Native.EINTR) return true;
        if (err == Native.ENOBUFS) throw new NetlinkOverrunException("netlink receive");
        if (err != Native.EAGAIN || timeoutMilliseconds < 0) throw new NetlinkException(err, "netlink receive");
        var pfd = new Native.PollFd { Fd = _fd, Events = Native.POLLIN };
        int r;
        while ((r = Native.Poll(&pfd, 1, timeoutMilliseconds)) < 0)
        {
            int perr = Marshal.GetLastPInvokeError();
            if (perr != Native.EINTR) throw new NetlinkException(perr, "poll on netlink socket");
        }
        return r != 0;
    }

    private void SetOption(int level, int name, int value, string what)
    {
        if (!TrySetOption(level, name, value, out int err)) throw new NetlinkException(err, what);
    }

    private bool TrySetOption(int level, int name, int value) => TrySetOption(level, name, value, out _);

    private bool TrySetOption(int level, int name, int value, out int errno)
    {
        bool added = false;
        _handle.DangerousAddRef(ref added);
        try
        {
            int v = value;
            if (Native.SetSockOpt(_fd, level, name, &v, sizeof(int)) == 0) { errno = 0; return true; }
            errno = Marshal.GetLastPInvokeError();
            return false;
        }
        finally
        {
            if (added) _handle.DangerousRelease();
        }
    }

    public void Dispose() => _handle.Dispose();
}
