using System;

namespace ConntrackTools;

/// <summary>
/// The TCP header's control bits (RFC 9293, RFC 3168 for Ece/Cwr), with the values they have in the header's flags byte.
/// 64-bit so that ConvertTo-Json writes the names, not a number (it does so for long-based enums).
/// </summary>
[Flags]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1711", Justification = "Contract name (CapturedPacket.TcpFlags).")]
public enum TcpFlags : long
{
    None = 0,
    Fin = 1 << 0,
    Syn = 1 << 1,
    Rst = 1 << 2,
    Psh = 1 << 3,
    Ack = 1 << 4,
    Urg = 1 << 5,
    /// <summary>ECN echo.</summary>
    Ece = 1 << 6,
    /// <summary>Congestion window reduced.</summary>
    Cwr = 1 << 7,
}
