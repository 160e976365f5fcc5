using System.Collections.Generic;

namespace ConntrackTools.Capture;

/// <summary>Where a followed TCP connection is in its life, as far as the capture shows.</summary>
internal enum TcpFlowState
{
    /// <summary>The client's SYN was seen.</summary>
    SynSent,
    /// <summary>The server's SYN-ACK was seen.</summary>
    SynReceived,
    /// <summary>The client acknowledged the SYN-ACK: the handshake is complete.</summary>
    Established,
    /// <summary>Both sides sent FIN, or either sent RST.</summary>
    Closed,
}

/// <summary>
/// A TCP connection followed from its handshake: how far each side's byte stream has got and what each side has
/// acknowledged, which is what tells whether a segment from another source port continues it.
/// </summary>
internal sealed class TcpFlow
{
    private readonly uint _clientIsn;
    private readonly int? _clientWindowScale;
    private int _serverWindowShift;
    private bool _clientFin, _serverFin;

    public TcpFlow(FlowKey key, CapturedPacket syn)
    {
        Key = key;
        _clientIsn = syn.Sequence!.Value;
        _clientWindowScale = syn.WindowScale;
        ClientNext = _clientIsn + 1;
        Handshake.Add(syn);
    }

    public FlowKey Key { get; }

    public TcpFlowState State { get; private set; } = TcpFlowState.SynSent;

    /// <summary>The SYN, the SYN-ACK and the ACK that completed the handshake, as far as they were captured.</summary>
    public List<CapturedPacket> Handshake { get; } = new(3);

    /// <summary>Source ports this flow was already reported as continuing on.</summary>
    public HashSet<int> RemappedPorts { get; } = new();

    /// <summary>The sequence number after the last byte (or SYN/FIN) the client sent.</summary>
    public uint ClientNext { get; private set; }

    /// <summary>The highest acknowledgment the client sent: how much of the server's stream it has received.</summary>
    public uint ClientAcknowledged { get; private set; }

    /// <summary>The sequence number after the last byte (or SYN/FIN) the server sent.</summary>
    public uint ServerNext { get; private set; }

    /// <summary>The highest acknowledgment the server sent: the start of the client's send window (SND.UNA).</summary>
    public uint ServerAcknowledged { get; private set; }

    /// <summary>The window the server last advertised, scaled: the size of the client's send window (SND.WND).</summary>
    public long ServerWindow { get; private set; }

    /// <summary>True for a SYN that starts the same connection again (a retransmission), false for a new one on the same ports.</summary>
    public bool IsSameSyn(CapturedPacket syn) => syn.Sequence == _clientIsn;

    public void FromClient(CapturedPacket p)
    {
        var flags = p.TcpFlags!.Value;
        if (flags.HasFlag(TcpFlags.Rst))
        {
            State = TcpFlowState.Closed;
            return;
        }
        // Before the SYN-ACK only the SYN (and its retransmissions) belong to the handshake.
        if (State == TcpFlowState.SynSent) return;
        ClientNext = SequenceSpace.Latest(ClientNext, EndOf(p));
        if (flags.HasFlag(TcpFlags.Ack))
        {
            ClientAcknowledged = SequenceSpace.Latest(ClientAcknowledged, p.Acknowledgment!.Value);
            if (State == TcpFlowState.SynReceived)
            {
                State = TcpFlowState.Established;
                Handshake.Add(p);
            }
        }
        if (flags.HasFlag(TcpFlags.Fin)) _clientFin = true;
        CloseWhenBothFinished();
    }

    public void FromServer(CapturedPacket p)
    {
        var flags = p.TcpFlags!.Value;
        if (flags.HasFlag(TcpFlags.Rst))
        {
            State = TcpFlowState.Closed;
            return;
        }
        if (flags.HasFlag(TcpFlags.Syn))
        {
            // Only the SYN-ACK that answers our SYN starts the server's side; anything else is stale.
            if (State != TcpFlowState.SynSent || !flags.HasFlag(TcpFlags.Ack) || p.Acknowledgment != _clientIsn + 1) return;
            State = TcpFlowState.SynReceived;
            ServerNext = p.Sequence!.Value + 1;
            ServerAcknowledged = p.Acknowledgment.Value;
            ClientAcknowledged = ServerNext;
            // RFC 7323: windows are scaled only when both SYNs carried the option; the SYN-ACK's own window never is.
            _serverWindowShift = _clientWindowScale is not null && p.WindowScale is int shift ? shift : 0;
            ServerWindow = p.Window!.Value;
            Handshake.Add(p);
            return;
        }
        if (State == TcpFlowState.SynSent) return;
        ServerNext = SequenceSpace.Latest(ServerNext, EndOf(p));
        if (flags.HasFlag(TcpFlags.Ack))
        {
            ServerAcknowledged = SequenceSpace.Latest(ServerAcknowledged, p.Acknowledgment!.Value);
            ServerWindow = (long)p.Window!.Value << _serverWindowShift;
        }
        if (flags.HasFlag(TcpFlags.Fin)) _serverFin = true;
        CloseWhenBothFinished();
    }

    /// <summary>
    /// True when <paramref name="segment"/>, sent by this flow's client from another source port, continues this flow:
    /// its sequence number lies in the client's send window (from what the server acknowledged to the end of the
    /// window it advertised, or to what the client already sent) and it acknowledges a point of the server's stream
    /// between what the client had acknowledged and what the server had sent. Both tests together make an accidental
    /// match with an unrelated connection about as likely as guessing two 32-bit numbers.
    /// </summary>
    public bool Continues(CapturedPacket segment)
    {
        if (State != TcpFlowState.Established) return false;
        var flags = segment.TcpFlags!.Value;
        if ((flags & (TcpFlags.Syn | TcpFlags.Rst)) != 0 || !flags.HasFlag(TcpFlags.Ack)) return false;
        uint windowEnd = unchecked(ServerAcknowledged + (uint)System.Math.Clamp(ServerWindow, 1, int.MaxValue));
        uint sendLimit = SequenceSpace.Latest(ClientNext, windowEnd);
        return SequenceSpace.Within(segment.Sequence!.Value, ServerAcknowledged, sendLimit)
            && SequenceSpace.Within(segment.Acknowledgment!.Value, ClientAcknowledged, ServerNext);
    }

    /// <summary>
    /// How far from a connection's own numbers its segments may lie and still be its own (retransmissions, keepalives,
    /// the window ahead): 16 MiB each way. A segment of another connection lands inside by chance with a probability of
    /// 2^25/2^32 for the sequence number, and again for the acknowledgment.
    /// </summary>
    internal const uint Slack = 1u << 24;

    /// <summary>
    /// True when a segment from this connection's client port fits this connection's own streams: its sequence number
    /// near what the client sent, its acknowledgment near what the server sent. A segment that does not is of another
    /// connection that reuses the port.
    /// </summary>
    public bool Owns(CapturedPacket segment)
    {
        if (!Near(segment.Sequence!.Value, ClientNext)) return false;
        if (State == TcpFlowState.SynSent || !segment.TcpFlags!.Value.HasFlag(TcpFlags.Ack)) return true;
        return SequenceSpace.Within(segment.Acknowledgment!.Value, unchecked(ClientAcknowledged - Slack), unchecked(ServerNext + Slack));
    }

    /// <summary>True when <paramref name="value"/> lies within <see cref="Slack"/> of <paramref name="anchor"/>.</summary>
    internal static bool Near(uint value, uint anchor) => SequenceSpace.Within(value, unchecked(anchor - Slack), unchecked(anchor + Slack));

    /// <summary>The sequence number after a segment: its data, plus one each for SYN and FIN.</summary>
    private static uint EndOf(CapturedPacket p)
    {
        var flags = p.TcpFlags!.Value;
        int control = (flags.HasFlag(TcpFlags.Syn) ? 1 : 0) + (flags.HasFlag(TcpFlags.Fin) ? 1 : 0);
        return unchecked(p.Sequence!.Value + (uint)p.PayloadLength + (uint)control);
    }

    private void CloseWhenBothFinished()
    {
        if (_clientFin && _serverFin) State = TcpFlowState.Closed;
    }
}
