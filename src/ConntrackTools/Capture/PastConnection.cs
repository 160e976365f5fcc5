namespace ConntrackTools.Capture;

/// <summary>
/// What the detector remembers of a port that is not followed from a handshake: a remap onto it, the connection that
/// closed on it, or the numbers of a connection seen only mid-stream. The last two tell that connection's own
/// segments (stragglers, retransmissions, keepalives) from another connection's continuing on the same port.
/// </summary>
internal sealed class PastConnection
{
    private readonly TcpFlow? _closed;
    private uint _sequence, _acknowledgment;
    private bool _acknowledges;

    private PastConnection(SnatRemap? remap, TcpFlow? closed)
    {
        Remap = remap;
        _closed = closed;
    }

    /// <summary>The remap reported onto this port, or null.</summary>
    public SnatRemap? Remap { get; }

    public static PastConnection RemappedBy(SnatRemap remap) => new(remap, null);

    public static PastConnection ClosedAs(TcpFlow flow) => new(null, flow);

    public static PastConnection MidStream(CapturedPacket segment)
    {
        var past = new PastConnection(null, null);
        past.Saw(segment);
        return past;
    }

    /// <summary>True when a client segment on this port belongs to the connection remembered here.</summary>
    public bool Owns(CapturedPacket segment)
    {
        if (_closed is not null) return _closed.Owns(segment);
        if (!TcpFlow.Near(segment.Sequence!.Value, _sequence)) return false;
        return !_acknowledges || !segment.TcpFlags!.Value.HasFlag(TcpFlags.Ack) || TcpFlow.Near(segment.Acknowledgment!.Value, _acknowledgment);
    }

    /// <summary>A mid-stream connection's numbers follow its latest segment.</summary>
    public void Saw(CapturedPacket segment)
    {
        if (_closed is not null) return;
        _sequence = segment.Sequence!.Value;
        if (segment.TcpFlags!.Value.HasFlag(TcpFlags.Ack))
        {
            _acknowledgment = segment.Acknowledgment!.Value;
            _acknowledges = true;
        }
    }
}
