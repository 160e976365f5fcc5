using System;
using System.Globalization;
using System.Net;
using ConntrackTools.Inet;

namespace ConntrackTools;

/// <summary>
/// A TCP connection that continued on a new source port: a segment without SYN, from the client of an established
/// flow to the same server address and port, from another source port, carrying the sequence number that continues
/// the flow's stream. Behind a source NAT this is the trace of a lost conntrack entry (see about_ConntrackTools).
/// </summary>
public sealed class SnatRemapFinding
{
    internal SnatRemapFinding() { }

    /// <summary>When the segment from the new source port was captured.</summary>
    public DateTime Time { get; internal init; }

    public string ClientAddress => Addresses.Canonical(Client);
    public string ServerAddress => Addresses.Canonical(Server);

    /// <summary>The addresses as the detector compares them.</summary>
    internal IPAddress Client { get; init; } = IPAddress.None;
    internal IPAddress Server { get; init; } = IPAddress.None;
    public int ServerPort { get; internal init; }

    /// <summary>The source port of the flow's handshake.</summary>
    public int OldSourcePort { get; internal init; }

    /// <summary>The source port the flow continued on, without a handshake of its own.</summary>
    public int NewSourcePort { get; internal init; }

    /// <summary>The sequence number of the segment from the new port, which continues the old flow's stream.</summary>
    public uint Sequence { get; internal init; }

    /// <summary>True when the server answered the new port with RST.</summary>
    public bool ResetSeen { get; internal init; }

    /// <summary>When the server's RST was captured; null when ResetSeen is false.</summary>
    public DateTime? ResetTime { get; internal init; }

    /// <summary>The evidence, in capture order: the old flow's handshake as captured, the segment from the new port, and the RST.</summary>
    public CapturedPacket[] Packets { get; internal init; } = [];

    /// <summary><c>192.168.11.7:31445 -> 10.232.3.28:8899 continued from port 35051 at seq 123, reset</c>.</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture,
            $"{Addresses.Endpoint(Client, OldSourcePort)} -> {Addresses.Endpoint(Server, ServerPort)} continued from port {NewSourcePort} at seq {Sequence}{(ResetSeen ? ", reset" : "")}");
}
