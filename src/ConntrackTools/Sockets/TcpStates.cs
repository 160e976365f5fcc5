using System;
using System.Collections.Generic;

namespace ConntrackTools.Sockets;

/// <summary>Kernel TCP state numbers (include/net/tcp_states.h) and their <see cref="TcpState"/> names.</summary>
public static class TcpStates
{
    public const byte TCP_ESTABLISHED = 1;
    public const byte TCP_SYN_SENT = 2;
    public const byte TCP_SYN_RECV = 3;
    public const byte TCP_FIN_WAIT1 = 4;
    public const byte TCP_FIN_WAIT2 = 5;
    public const byte TCP_TIME_WAIT = 6;
    public const byte TCP_CLOSE = 7;
    public const byte TCP_CLOSE_WAIT = 8;
    public const byte TCP_LAST_ACK = 9;
    public const byte TCP_LISTEN = 10;
    public const byte TCP_CLOSING = 11;
    public const byte TCP_NEW_SYN_RECV = 12;
    public const byte TCP_BOUND_INACTIVE = 13;

    /// <summary>Every state bit: the kernel skips a state whose bit is clear in idiag_states.</summary>
    public const uint AllStates = uint.MaxValue;

    public static TcpState FromKernel(byte state) => state switch
    {
        TCP_ESTABLISHED => TcpState.Established,
        TCP_SYN_SENT => TcpState.SynSent,
        TCP_SYN_RECV or TCP_NEW_SYN_RECV => TcpState.SynReceived,
        TCP_FIN_WAIT1 => TcpState.FinWait1,
        TCP_FIN_WAIT2 => TcpState.FinWait2,
        TCP_TIME_WAIT => TcpState.TimeWait,
        TCP_CLOSE => TcpState.Closed,
        TCP_CLOSE_WAIT => TcpState.CloseWait,
        TCP_LAST_ACK => TcpState.LastAck,
        TCP_LISTEN => TcpState.Listen,
        TCP_CLOSING => TcpState.Closing,
        TCP_BOUND_INACTIVE => TcpState.Bound,
        _ => TcpState.Closed,
    };

    /// <summary>The kernel state numbers behind one <see cref="TcpState"/> (none for DeleteTCB).</summary>
    public static IEnumerable<byte> ToKernel(TcpState state) => state switch
    {
        TcpState.Established => [TCP_ESTABLISHED],
        TcpState.SynSent => [TCP_SYN_SENT],
        TcpState.SynReceived => [TCP_SYN_RECV, TCP_NEW_SYN_RECV],
        TcpState.FinWait1 => [TCP_FIN_WAIT1],
        TcpState.FinWait2 => [TCP_FIN_WAIT2],
        TcpState.TimeWait => [TCP_TIME_WAIT],
        TcpState.Closed => [TCP_CLOSE],
        TcpState.CloseWait => [TCP_CLOSE_WAIT],
        TcpState.LastAck => [TCP_LAST_ACK],
        TcpState.Listen => [TCP_LISTEN],
        TcpState.Closing => [TCP_CLOSING],
        TcpState.Bound => [TCP_BOUND_INACTIVE],
        _ => Array.Empty<byte>(),
    };

    /// <summary>The idiag_states mask for a set of states (all states when null or empty).</summary>
    public static uint Mask(IReadOnlyCollection<TcpState>? states)
    {
        if (states is null || states.Count == 0) return AllStates;
        uint mask = 0;
        foreach (var s in states)
            foreach (var k in ToKernel(s)) mask |= 1u << k;
        return mask;
    }
}
