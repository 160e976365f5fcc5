namespace ConntrackTools;

/// <summary>
/// TCP connection state under the names and numbers of Windows' NetTCPIP (Get-NetTCPConnection's State), so
/// scripts written for Windows read the same. The kernel's states (include/net/tcp_states.h) map onto them; the
/// enum is long-based so that ConvertTo-Json writes the names.
/// </summary>
public enum TcpState : long
{
    /// <summary>TCP_CLOSE: a socket that is closed, or bound and not listening (ss: UNCONN / CLOSE).</summary>
    Closed = 1,
    /// <summary>TCP_LISTEN.</summary>
    Listen = 2,
    /// <summary>TCP_SYN_SENT.</summary>
    SynSent = 3,
    /// <summary>TCP_SYN_RECV and TCP_NEW_SYN_RECV (a request socket waiting for the handshake's last ACK).</summary>
    SynReceived = 4,
    /// <summary>TCP_ESTABLISHED.</summary>
    Established = 5,
    /// <summary>TCP_FIN_WAIT1.</summary>
    FinWait1 = 6,
    /// <summary>TCP_FIN_WAIT2.</summary>
    FinWait2 = 7,
    /// <summary>TCP_CLOSE_WAIT.</summary>
    CloseWait = 8,
    /// <summary>TCP_CLOSING.</summary>
    Closing = 9,
    /// <summary>TCP_LAST_ACK.</summary>
    LastAck = 10,
    /// <summary>TCP_TIME_WAIT.</summary>
    TimeWait = 11,
    /// <summary>Windows only (a TCB being deleted); never reported on Linux.</summary>
    DeleteTCB = 12,
    /// <summary>TCP_BOUND_INACTIVE (Linux 6.8+): bound to a port, neither listening nor connected.</summary>
    Bound = 100,
}
