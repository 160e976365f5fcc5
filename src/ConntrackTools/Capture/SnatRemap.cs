using System.Linq;

namespace ConntrackTools.Capture;

/// <summary>
/// A flow seen continuing on a new source port, between that segment and its report: the detector waits for the
/// server's answer to the new port (RST or not) before it reports.
/// </summary>
internal sealed class SnatRemap(TcpFlow flow, CapturedPacket segment)
{
    private readonly CapturedPacket[] _handshake = flow.Handshake.ToArray();

    public FlowKey OldFlow { get; } = flow.Key;

    /// <summary>The first segment from the new source port.</summary>
    public CapturedPacket Segment { get; } = segment;

    /// <summary>The server's RST to the new port, once seen.</summary>
    public CapturedPacket? Reset { get; private set; }

    /// <summary>True once the finding was handed out; later packets of the new port change nothing.</summary>
    public bool Reported { get; private set; }

    /// <summary>The server's first answer to the new port: a RST, or (a TIME_WAIT connection on that port) a challenge ACK.</summary>
    public CapturedPacket? Answer { get; private set; }

    public void AnsweredBy(CapturedPacket reply)
    {
        Answer = reply;
        if (reply.TcpFlags!.Value.HasFlag(TcpFlags.Rst)) Reset = reply;
    }

    public SnatRemapFinding Report()
    {
        Reported = true;
        var evidence = Answer is null ? _handshake.Append(Segment) : _handshake.Append(Segment).Append(Answer);
        return new SnatRemapFinding
        {
            Time = Segment.Timestamp,
            Client = OldFlow.Client,
            Server = OldFlow.Server,
            ServerPort = OldFlow.ServerPort,
            OldSourcePort = OldFlow.ClientPort,
            NewSourcePort = Segment.SourcePort!.Value,
            Sequence = Segment.Sequence!.Value,
            ResetSeen = Reset is not null,
            ResetTime = Reset?.Timestamp,
            Packets = evidence.ToArray(),
        };
    }
}
