using System;
using System.Runtime.InteropServices;

namespace ConntrackTools.Netlink;

/// <summary>The few libc calls .NET does not offer for AF_NETLINK sockets and namespaces.</summary>
internal static unsafe partial class Native
{
    internal const int AF_NETLINK = 16;
    internal const int SOCK_RAW = 3;
    internal const int SOCK_CLOEXEC = 0x80000;
    internal const int SOL_SOCKET = 1;
    internal const int SOL_NETLINK = 270;
    internal const int SO_RCVBUF = 8;
    internal const int SO_SNDBUF = 7;
    internal const int SO_RCVBUFFORCE = 33;
    internal const int SO_ATTACH_FILTER = 26;
    internal const int SO_MEMINFO = 55;
    internal const int SK_MEMINFO_DROPS = 8;   // index in the SO_MEMINFO array (enum sk_meminfo, linux/sock_diag.h)
    internal const int NETLINK_ADD_MEMBERSHIP = 1;
    internal const int NETLINK_DROP_MEMBERSHIP = 2;
    internal const int NETLINK_NO_ENOBUFS = 5;
    internal const int NETLINK_CAP_ACK = 10;
    internal const int NETLINK_EXT_ACK = 11;
    internal const int NETLINK_GET_STRICT_CHK = 12;
    internal const int MSG_TRUNC = 0x20;
    internal const int MSG_DONTWAIT = 0x40;
    internal const int MSG_WAITFORONE = 0x10000;
    internal const short POLLIN = 0x1;

    internal const int EINTR = 4;
    internal const int EAGAIN = 11;
    internal const int ENOBUFS = 105;

    [StructLayout(LayoutKind.Sequential)]
    internal struct SockaddrNl
    {
        public ushort Family;
        public ushort Pad;
        public uint Pid;
        public uint Groups;
    }

    /// <summary>struct sock_fprog: instruction count and a pointer to the program.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct SockFprog
    {
        public ushort Length;
        public SocketFilterInstruction* Filter;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    /// <summary>struct iovec.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct IoVec
    {
        public byte* Base;
        public nuint Length;
    }

    /// <summary>struct msghdr (no address, no control data here).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    /// <summary>struct mmsghdr: a msghdr and the length recvmmsg received into it.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct MMsgHdr
    {
        public MsgHdr Header;
        public uint Length;
    }

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    internal static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "bind", SetLastError = true)]
    internal static partial int Bind(int fd, SockaddrNl* addr, int addrlen);

    [LibraryImport("libc", EntryPoint = "getsockname", SetLastError = true)]
    internal static partial int GetSockName(int fd, SockaddrNl* addr, int* addrlen);

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    internal static partial int SetSockOpt(int fd, int level, int optname, int* optval, int optlen);

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    internal static partial int SetSockOpt(int fd, int level, int optname, SockFprog* optval, int optlen);

    [LibraryImport("libc", EntryPoint = "getsockopt", SetLastError = true)]
    internal static partial int GetSockOpt(int fd, int level, int optname, int* optval, int* optlen);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    internal static partial nint Send(int fd, byte* buf, nint len, int flags);

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    internal static partial nint Recv(int fd, byte* buf, nint len, int flags);

    [LibraryImport("libc", EntryPoint = "recvmmsg", SetLastError = true)]
    internal static partial int RecvMMsg(int fd, MMsgHdr* messages, uint count, int flags, void* timeout);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    internal static partial int Poll(PollFd* fds, nuint nfds, int timeout);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);
}
