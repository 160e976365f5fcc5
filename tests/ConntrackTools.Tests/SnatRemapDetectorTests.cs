using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using ConntrackTools.Capture;
using Xunit;

namespace ConntrackTools.Tests;

/// <summary>
/// The remap signature on synthetic packet sequences, for both address families: what must be found (a flow continued
/// from a new source port, answered or not by RST) and what must not (own handshakes, reuse after close,
/// retransmissions, unrelated flows), when findings come out, and that memory stays bounded.
/// </summary>
public class SnatRemapDetectorTests
{
    public static TheoryData<string> Families => new() { "IPv4", "IPv6" };

    private static (string Client, string Server) Addresses(string family) => family == "IPv4" ? TcpSession.IPv4 : TcpSession.IPv6;

    private sealed class Run
    {
        public Run(TimeSpan? resetTimeout = null, TimeSpan? idleTimeout = null, int maxFlows = 1000) =>
            Detector = new SnatRemapDetector(resetTimeout ?? TimeSpan.FromSeconds(2), idleTimeout ?? TimeSpan.FromHours(1), maxFlows, Findings.Add);

        public SnatRemapDetector Detector { get; }
        public List<SnatRemapFinding> Findings { get; } = new();
        public WireClock Clock { get; } = new();

        public void Feed(params CapturedPacket[] packets)
        {
            foreach (var p in packets) Detector.Add(p);
        }

        public List<SnatRemapFinding> Complete()
        {
            Detector.Complete();
            return Findings;
        }
    }

    /// <summary>An established flow that exchanged some data: the state the incident's flows were in.</summary>
    private static TcpSession Established(Run run, string family, int clientPort = 31445, uint clientIsn = 1_000_000, int? windowScale = 7)
    {
        var s = new TcpSession(run.Clock, Addresses(family), clientPort, clientIsn, windowScale: windowScale);
        run.Feed(s.Handshake());
        run.Feed(s.ClientSends(10), s.ServerAcks(), s.ServerSends(20), s.ClientAcks());
        return s;
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void ContinuedOnNewPort_AndReset_IsOneFindingWithItsEvidence(string family)
    {
        var run = new Run();
        var s = new TcpSession(run.Clock, Addresses(family), 31445);
        var handshake = s.Handshake();
        run.Feed(handshake);
        run.Feed(s.ClientSends(10), s.ServerAcks());
        var remapped = s.ClientSends(1, fromPort: 35051);
        var reset = s.ServerResets(35051);
        run.Feed(remapped, reset);

        var f = Assert.Single(run.Complete());
        Assert.Equal(IPAddress.Parse(Addresses(family).Client).ToString(), f.ClientAddress);
        Assert.Equal(IPAddress.Parse(Addresses(family).Server).ToString(), f.ServerAddress);
        Assert.Equal(8899, f.ServerPort);
        Assert.Equal(31445, f.OldSourcePort);
        Assert.Equal(35051, f.NewSourcePort);
        Assert.Equal(remapped.Sequence, f.Sequence);
        Assert.Equal(remapped.Timestamp, f.Time);
        Assert.True(f.ResetSeen);
        Assert.Equal(reset.Timestamp, f.ResetTime);
        Assert.Equal([.. handshake, remapped, reset], f.Packets);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Finding_IsReportedWhenTheResetArrives_NotAtTheEnd(string family)
    {
        var run = new Run();
        var s = Established(run, family);
        run.Feed(s.ClientSends(1, fromPort: 35051));
        Assert.Empty(run.Findings);
        run.Feed(s.ServerResets(35051));
        Assert.True(Assert.Single(run.Findings).ResetSeen);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void WithoutAnswer_TheFindingComesAfterTheResetTimeout_OnTheCaptureClock(string family)
    {
        var run = new Run(resetTimeout: TimeSpan.FromSeconds(2));
        var s = Established(run, family);
        var other = new TcpSession(run.Clock, Addresses(family), 40000, serverPort: 443);
        run.Feed(s.ClientSends(1, fromPort: 35051));
        run.Clock.Advance(TimeSpan.FromSeconds(1));
        run.Feed(other.Syn());
        Assert.Empty(run.Findings);
        run.Clock.Advance(TimeSpan.FromSeconds(1));
        run.Feed(other.SynAck());
        var f = Assert.Single(run.Findings);
        Assert.False(f.ResetSeen);
        Assert.Null(f.ResetTime);
        Assert.Equal(4, f.Packets.Length);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void WithoutAnswer_TheFindingComesAtTheEndOfInput(string family)
    {
        var run = new Run();
        var s = Established(run, family);
        run.Feed(s.ClientSends(1, fromPort: 35051));
        Assert.Empty(run.Findings);
        Assert.False(Assert.Single(run.Complete()).ResetSeen);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void ServerAnswerWithoutReset_IsReportedAtOnce_WithoutReset(string family)
    {
        var run = new Run();
        var s = Established(run, family);
        run.Feed(s.ClientSends(1, fromPort: 35051));
        var accepted = new TcpSession(run.Clock, Addresses(family), 35051, serverPort: 8899);
        run.Feed(accepted.ServerAcks());
        Assert.False(Assert.Single(run.Findings).ResetSeen);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void RetransmittedRemap_IsOneFinding(string family)
    {
        var run = new Run();
        var s = Established(run, family);
        var remapped = s.ClientSends(1, fromPort: 35051);
        run.Feed(remapped, s.ServerResets(35051), s.Again(remapped), s.ServerResets(35051), s.Again(remapped));
        Assert.Single(run.Complete());
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void OnlyTheDisturbedFlowsOfAService_AreReported(string family)
    {
        var run = new Run();
        var flows = new[] { 31445, 31446, 31447 }.Select((port, i) => Established(run, family, port, clientIsn: 1_000_000u * (uint)(i + 1))).ToArray();
        run.Feed(flows[0].ClientSends(5), flows[0].ServerAcks());
        run.Feed(flows[1].ClientSends(5, fromPort: 40001), flows[1].ServerResets(40001));
        run.Feed(flows[2].ClientSends(5, fromPort: 40002), flows[2].ServerResets(40002));
        var findings = run.Complete();
        Assert.Equal(new[] { (31446, 40001), (31447, 40002) }, findings.Select(f => (f.OldSourcePort, f.NewSourcePort)));
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void NewConnectionWithItsOwnHandshake_IsNoFinding(string family)
    {
        var run = new Run();
        Established(run, family);
        var second = new TcpSession(run.Clock, Addresses(family), 35051);
        run.Feed(second.Handshake());
        run.Feed(second.ClientSends(100), second.ServerAcks());
        Assert.Empty(run.Complete());
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void PortReuseAfterCleanClose_IsNoFinding(string family)
    {
        var run = new Run();
        var first = Established(run, family);
        run.Feed(first.ClientFin(), first.ServerFin(), first.ClientAcks());
        var again = Established(run, family, clientIsn: 5_000_000);
        run.Feed(again.ClientSends(10), again.ServerAcks());
        Assert.Empty(run.Complete());
        Assert.Equal(1, run.Detector.TrackedFlows);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void ClosedFlow_IsNotContinued_EvenBySegmentsThatWouldFitIt(string family)
    {
        var run = new Run();
        var s = Established(run, family);
        run.Feed(s.ClientFin(), s.ServerFin(), s.ClientAcks());
        run.Feed(s.ClientSends(1, fromPort: 35051));
        Assert.Empty(run.Complete());
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void ResetFlow_IsNotContinued(string family)
    {
        var run = new Run();
        var s = Established(run, family);
        run.Feed(s.ServerResets(s.ClientPort));
        run.Feed(s.ClientSends(1, fromPort: 35051));
        Assert.Empty(run.Complete());
        Assert.Equal(0, run.Detector.TrackedFlows);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void RetransmissionsOnTheOriginalPort_AreNoFinding(string family)
    {
        var run = new Run();
        var s = Established(run, family);
        var data = s.ClientSends(100);
        run.Feed(data, s.Again(data), s.Again(data), s.ServerAcks(), s.Again(data));
        Assert.Empty(run.Complete());
    }

    public static TheoryData<string, string> Unrelated => new()
    {
        { "IPv4", "another server port" }, { "IPv6", "another server port" },
        { "IPv4", "sequence outside the send window" }, { "IPv6", "sequence outside the send window" },
        { "IPv4", "sequence already acknowledged" }, { "IPv6", "sequence already acknowledged" },
        { "IPv4", "acknowledges data the server never sent" }, { "IPv6", "acknowledges data the server never sent" },
        { "IPv4", "without ACK" }, { "IPv6", "without ACK" },
        { "IPv4", "a RST" }, { "IPv6", "a RST" },
    };

    [Theory]
    [MemberData(nameof(Unrelated))]
    public void SegmentsThatDoNotContinueTheFlow_AreNoFinding(string family, string variant)
    {
        var run = new Run();
        var s = Established(run, family);
        // What the flow has reached: the next byte the client sends, and what it acknowledges of the server's stream.
        var probe = s.ClientAcks();
        run.Feed(probe);
        uint next = probe.Sequence!.Value, acked = probe.Acknowledgment!.Value;
        var segment = variant switch
        {
            "another server port" => new TcpSession(run.Clock, Addresses(family), 35051, serverPort: 443).Segment(TcpFlags.Ack, next, acked, 1),
            "sequence outside the send window" => s.Segment(TcpFlags.Ack, next + 502u * 128 + 10_000, acked, 1, fromPort: 35051),
            "sequence already acknowledged" => s.Segment(TcpFlags.Ack, next - 5, acked, 1, fromPort: 35051),
            "acknowledges data the server never sent" => s.Segment(TcpFlags.Ack, next, acked + 1000, 1, fromPort: 35051),
            "without ACK" => s.Segment(TcpFlags.Psh, next, 0, 1, fromPort: 35051),
            "a RST" => s.Segment(TcpFlags.Rst | TcpFlags.Ack, next, acked, 0, fromPort: 35051),
            _ => throw new ArgumentOutOfRangeException(nameof(variant)),
        };
        run.Feed(segment);
        Assert.Empty(run.Complete());
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void ClientFromAnotherAddress_IsNoFinding(string family)
    {
        var run = new Run();
        var s = Established(run, family);
        var probe = s.ClientAcks();
        run.Feed(probe);
        var otherClient = family == "IPv4" ? ("192.168.11.9", TcpSession.IPv4.Server) : ("fd00:11::9", TcpSession.IPv6.Server);
        run.Feed(new TcpSession(run.Clock, otherClient, 35051).Segment(TcpFlags.Ack, probe.Sequence!.Value, probe.Acknowledgment!.Value, 1));
        Assert.Empty(run.Complete());
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void FlowWhoseHandshakeWasNotCaptured_IsNotFollowed(string family)
    {
        var run = new Run();
        var s = new TcpSession(run.Clock, Addresses(family), 31445);
        s.Handshake();  // happened before the capture started
        run.Feed(s.ClientSends(10), s.ServerAcks());
        run.Feed(s.ClientSends(1, fromPort: 35051), s.ServerResets(35051));
        Assert.Empty(run.Complete());
        Assert.Equal(0, run.Detector.TrackedFlows);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void WindowScaling_WidensTheSendWindow_OnlyWhenBothSidesOfferedIt(string family)
    {
        // The server advertises 502 << 7 = 64,256 bytes when scaling is on, 502 bytes when it is off.
        foreach (var (windowScale, expected) in new[] { ((int?)7, 1), (null, 0) })
        {
            var run = new Run();
            var s = Established(run, family, windowScale: windowScale);
            var probe = s.ClientAcks();
            run.Feed(probe);
            run.Feed(s.Segment(TcpFlags.Ack, probe.Sequence!.Value + 30_000, probe.Acknowledgment!.Value, 1, fromPort: 35051));
            Assert.Equal(expected, run.Complete().Count);
        }
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void SequenceNumbersWrappingPast2To32_StillMatch(string family)
    {
        var run = new Run();
        var s = Established(run, family, clientIsn: uint.MaxValue - 5);   // the first data crosses zero
        run.Feed(s.ClientSends(1, fromPort: 35051), s.ServerResets(35051));
        Assert.True(Assert.Single(run.Complete()).ResetSeen);
    }

    [Fact]
    public void ClosedFlows_AreForgotten_AndTheirPortsExpire()
    {
        var run = new Run();
        for (int i = 0; i < 500; i++)
        {
            var s = Established(run, "IPv4", 20000 + i);
            run.Feed(s.ClientFin(), s.ServerFin(), s.ClientAcks());
        }
        Assert.Equal(0, run.Detector.TrackedFlows);
        Assert.Equal(500, run.Detector.RememberedPorts);
        run.Clock.Advance(SnatRemapDetector.Linger);
        run.Feed(new TcpSession(run.Clock, TcpSession.IPv4, 9).Syn());
        Assert.Equal(0, run.Detector.RememberedPorts);
    }

    [Fact]
    public void IdleFlows_AreForgottenAfterTheIdleTimeout()
    {
        var run = new Run(idleTimeout: TimeSpan.FromMinutes(10));
        for (int i = 0; i < 100; i++) Established(run, "IPv6", 20000 + i);
        Assert.Equal(100, run.Detector.TrackedFlows);
        run.Clock.Advance(TimeSpan.FromMinutes(10));
        var fresh = Established(run, "IPv6", 30000);
        Assert.Equal(1, run.Detector.TrackedFlows);
        // A flow forgotten while idle cannot be matched any more: memory is bounded at the price of old flows.
        run.Feed(fresh.ClientSends(1, fromPort: 35051), fresh.ServerResets(35051));
        Assert.Single(run.Complete());
    }

    [Fact]
    public void MaxFlows_CapsTheTable_DroppingTheLongestIdle()
    {
        var run = new Run(maxFlows: 50);
        var sessions = Enumerable.Range(0, 200).Select(i => Established(run, "IPv4", 20000 + i, clientIsn: 1_000_000u * (uint)(i + 1))).ToArray();
        Assert.Equal(50, run.Detector.TrackedFlows);
        // The most recent flows are the ones kept.
        run.Feed(sessions[^1].ClientSends(1, fromPort: 35051), sessions[^1].ServerResets(35051));
        run.Feed(sessions[0].ClientSends(1, fromPort: 35052), sessions[0].ServerResets(35052));
        Assert.Equal(new[] { 20199 }, run.Complete().Select(f => f.OldSourcePort));
    }

    [Fact]
    public void NonTcpPackets_OnlyAdvanceTheClock()
    {
        var run = new Run(resetTimeout: TimeSpan.FromSeconds(1));
        var s = Established(run, "IPv4");
        run.Feed(s.ClientSends(1, fromPort: 35051));
        run.Clock.Advance(TimeSpan.FromSeconds(2));
        run.Feed(new CapturedPacket { Timestamp = run.Clock.Tick(), ProtocolNumber = 17, SourcePort = 1, DestinationPort = 2 });
        Assert.Single(run.Findings);
    }

    // Issue 11, item 8: under NAT port pressure the new port of a remapped flow is often one a connection closed
    // seconds before (or one whose connection the capture still believes open); the segment is judged by the live flow
    // it continues, whatever the port's history.

    [Theory]
    [MemberData(nameof(Families))]
    public void RemapOntoAPortClosedSecondsBefore_IsFound_AndAChallengeAckIsNoReset(string family)
    {
        var run = new Run();
        var live = Established(run, family, 31445, clientIsn: 1_000_000);
        var closed = Established(run, family, 40000, clientIsn: 3_000_000_000);
        run.Feed(closed.ClientFin(), closed.ServerFin(), closed.ClientAcks());
        // The server's TIME_WAIT socket answers a segment it does not expect with an ACK of its own old numbers.
        var challenge = closed.ServerAcks();
        run.Feed(live.ClientSends(5, fromPort: 40000), challenge);
        var finding = Assert.Single(run.Complete());
        Assert.Equal(31445, finding.OldSourcePort);
        Assert.Equal(40000, finding.NewSourcePort);
        Assert.False(finding.ResetSeen);
        Assert.Equal(challenge.Timestamp, finding.Packets[^1].Timestamp);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void RemapOntoAPortWhoseCloseWasNotCaptured_IsFound(string family)
    {
        var run = new Run();
        var live = Established(run, family, 31445, clientIsn: 1_000_000);
        var lost = Established(run, family, 40000, clientIsn: 3_000_000_000);
        run.Feed(lost.ClientFin());   // the server's FIN was lost: the capture still follows the connection on 40000
        run.Feed(live.ClientSends(5, fromPort: 40000), lost.ServerResets(40000));
        var finding = Assert.Single(run.Complete());
        Assert.Equal((31445, 40000, true), (finding.OldSourcePort, finding.NewSourcePort, finding.ResetSeen));
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void RemapOntoAPortSeenOnlyMidStream_IsFound(string family)
    {
        var run = new Run();
        var live = Established(run, family, 31445, clientIsn: 1_000_000);
        var before = new TcpSession(run.Clock, Addresses(family), 40000, clientIsn: 3_000_000_000, serverIsn: 2_000_000_000);
        before.Handshake();   // before the capture began
        run.Feed(before.ClientSends(10), before.ServerAcks(), before.ClientSends(10));
        run.Feed(live.ClientSends(5, fromPort: 40000), before.ServerResets(40000));
        Assert.Single(run.Complete());
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void ReusedPortsTrafficOfTheirOwn_IsSilent(string family)
    {
        var run = new Run();
        var live = Established(run, family, 31445, clientIsn: 1_000_000);
        // A closed connection's stragglers: its last ACK again, a retransmitted FIN.
        var closed = Established(run, family, 40000, clientIsn: 3_000_000_000);
        var fin = closed.ClientFin();
        run.Feed(fin, closed.ServerFin(), closed.ClientAcks(), closed.Again(fin), closed.ClientAcks());
        // TIME_WAIT reuse: a new handshake on the same port, with its data, retransmissions and keepalives.
        var again = Established(run, family, 40000, clientIsn: 3_500_000_000);
        var data = again.ClientSends(100);
        run.Feed(data, again.Again(data), again.ServerAcks(), again.ClientAcks());
        var keepalive = again.ClientAcks();
        run.Feed(again.Segment(TcpFlags.Ack, keepalive.Sequence!.Value - 1, keepalive.Acknowledgment!.Value, 0), again.ServerAcks());
        // A mid-stream connection's own segments on another port.
        var midStream = new TcpSession(run.Clock, Addresses(family), 40001, clientIsn: 2_000_000_000);
        midStream.Handshake();
        run.Feed(midStream.ClientSends(10), midStream.ServerAcks(), midStream.ClientSends(10), midStream.ClientAcks());
        run.Feed(live.ClientSends(1), live.ServerAcks());
        Assert.Empty(run.Complete());
    }
}
