using System;
using System.Collections.Generic;

namespace ConntrackTools.Capture;

/// <summary>
/// Finds TCP connections that continue on a new source port, the trace a lost source-NAT (masquerade) mapping leaves
/// on the wire: the client's next segment leaves from another port, carries the sequence number that continues the
/// stream, has no handshake of its own, and the server, which has never seen that port, answers RST.
/// <para>
/// Packets are fed in capture order. Connections are followed from their handshake. A client segment that is not
/// its own connection's (an unknown port, a port whose connection closed or was seen only mid-stream, or a tracked
/// connection's port whose numbers it does not fit) and continues another established connection from the same
/// client to the same server address and port is a remap, whatever that port's history: on a busy node with a small
/// NAT port pool the new port is often one a connection closed seconds before, and the server may then answer with
/// a challenge ACK of its old TIME_WAIT connection instead of a RST. It is reported as soon as the server answers the new port (ResetSeen when with RST), or, without an
/// answer, once <c>resetTimeout</c> has passed on the capture's clock (or at <see cref="Complete"/>).
/// </para>
/// <para>
/// Memory is bounded: closed connections are forgotten at once (their ports for <see cref="Linger"/>), idle ones
/// after <c>idleTimeout</c>, and each table holds at most <c>maxFlows</c>, dropping the longest idle first.
/// </para>
/// </summary>
internal sealed class SnatRemapDetector
{
    /// <summary>
    /// How long the ports of a closed connection, of a connection seen without its handshake, or of a remap are
    /// remembered: stray segments after a close (the last ACK, retransmissions) are then recognised as such, and a
    /// connection first seen mid-stream is examined once, not on every segment.
    /// </summary>
    internal static readonly TimeSpan Linger = TimeSpan.FromMinutes(2);

    private readonly TimeSpan _resetTimeout;
    private readonly TimeSpan _idleTimeout;
    private readonly int _maxFlows;
    private readonly Action<SnatRemapFinding> _report;

    // Connections followed from their SYN until they close or go idle.
    private readonly ExpiringTable<FlowKey, TcpFlow> _flows = new();
    // Everything else seen recently: a remap of an established flow, a closed connection, or one seen only mid-stream.
    private readonly ExpiringTable<FlowKey, PastConnection> _others = new();
    // The established flows, by client and server address and port: where a segment from an unknown port is matched.
    private readonly Dictionary<ServiceKey, List<TcpFlow>> _established = new();
    // Remaps not reported yet, oldest first, for the reset timeout.
    private readonly Queue<SnatRemap> _pending = new();
    private DateTime _now = DateTime.MinValue;

    public SnatRemapDetector(TimeSpan resetTimeout, TimeSpan idleTimeout, int maxFlows, Action<SnatRemapFinding> report)
    {
        if (resetTimeout < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(resetTimeout), "The reset timeout cannot be negative.");
        if (idleTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(idleTimeout), "The idle timeout must be positive.");
        if (maxFlows < 1) throw new ArgumentOutOfRangeException(nameof(maxFlows), "At least one flow must be tracked.");
        _resetTimeout = resetTimeout;
        _idleTimeout = idleTimeout;
        _maxFlows = maxFlows;
        _report = report;
    }

    /// <summary>Connections followed from their handshake right now.</summary>
    public int TrackedFlows => _flows.Count;

    /// <summary>Ports of closed, unrelated or remapped connections remembered right now.</summary>
    public int RememberedPorts => _others.Count;

    /// <summary>Takes the next captured packet; findings it completes are reported before it returns.</summary>
    public void Add(CapturedPacket packet)
    {
        if (packet.Timestamp > _now)
        {
            _now = packet.Timestamp;
            Expire();
        }
        if (packet.TcpFlags is not TcpFlags flags || packet.SourcePort is null || packet.DestinationPort is null) return;

        var key = FlowKey.From(packet);
        bool newSyn = flags.HasFlag(TcpFlags.Syn) && !flags.HasFlag(TcpFlags.Ack);
        if (_flows.TryUse(key, _now, out var flow))
        {
            if (newSyn && !flow.IsSameSyn(packet)) Start(key, packet);
            // A segment that does not fit its port's own connection may continue another one: the port was reused.
            else if (flags.HasFlag(TcpFlags.Syn) || flow.Owns(packet) || !TryRemap(key, packet, except: flow)) Update(flow, flow.FromClient, packet);
        }
        else if (_flows.TryUse(key.Reversed, _now, out flow))
        {
            Update(flow, flow.FromServer, packet);
        }
        else if (newSyn)
        {
            Start(key, packet);
        }
        else if (_others.TryUse(key.Reversed, _now, out var answered))
        {
            if (answered.Remap is { Reported: false } remap) Answer(remap, packet);
        }
        else if (flags.HasFlag(TcpFlags.Syn))
        {
            // A SYN-ACK of a connection whose SYN was not captured: nothing to follow.
        }
        else if (_others.TryUse(key, _now, out var past))
        {
            // The port's earlier connection (closed, or seen only mid-stream) explains its own segments; anything
            // else is judged by the live flow it continues.
            if (past.Remap is null && !past.Owns(packet) && !TryRemap(key, packet, except: null)) past.Saw(packet);
        }
        else if (!TryRemap(key, packet, except: null))
        {
            Remember(key, PastConnection.MidStream(packet));
        }
    }

    /// <summary>The input has ended: reports the remaps still waiting for an answer (without reset).</summary>
    public void Complete()
    {
        while (_pending.TryDequeue(out var remap))
            if (!remap.Reported) _report(remap.Report());
    }

    private void Start(FlowKey key, CapturedPacket syn)
    {
        if (_flows.TryUse(key, _now, out var previous)) Forget(previous);
        _others.Remove(key);
        _flows.Set(key, new TcpFlow(key, syn), _now);
        _flows.DropBeyond(_maxFlows, Forget);
    }

    private void Update(TcpFlow flow, Action<CapturedPacket> direction, CapturedPacket packet)
    {
        var before = flow.State;
        direction(packet);
        if (flow.State == before) return;
        if (flow.State == TcpFlowState.Established)
        {
            var service = flow.Key.Service;
            if (!_established.TryGetValue(service, out var list)) _established.Add(service, list = new List<TcpFlow>(1));
            list.Add(flow);
        }
        else if (flow.State == TcpFlowState.Closed)
        {
            _flows.Remove(flow.Key);
            Forget(flow);
            Remember(flow.Key, PastConnection.ClosedAs(flow));
        }
    }

    /// <summary>
    /// Reports <paramref name="segment"/> as a remap when it continues an established flow of its client and service
    /// other than <paramref name="except"/>; the port then belongs to the remap (a connection tracked on it is dropped).
    /// </summary>
    private bool TryRemap(FlowKey key, CapturedPacket segment, TcpFlow? except)
    {
        if (!_established.TryGetValue(key.Service, out var candidates)) return false;
        foreach (var flow in candidates)
        {
            if (ReferenceEquals(flow, except) || !flow.Continues(segment)) continue;
            // A port already reported for this flow is a retransmission that outlived its memory, not a new finding.
            if (!flow.RemappedPorts.Add(key.ClientPort)) return false;
            var remap = new SnatRemap(flow, segment);
            if (except is not null)
            {
                _flows.Remove(key);
                Forget(except);
            }
            Remember(key, PastConnection.RemappedBy(remap));
            _pending.Enqueue(remap);
            return true;
        }
        return false;
    }

    private void Answer(SnatRemap remap, CapturedPacket reply)
    {
        remap.AnsweredBy(reply);
        _report(remap.Report());
    }

    private void Remember(FlowKey key, PastConnection past)
    {
        _others.Set(key, past, _now);
        _others.DropBeyond(_maxFlows, ReportIfPending);
    }

    private void Expire()
    {
        while (_pending.TryPeek(out var remap) && (remap.Reported || _now - remap.Segment.Timestamp >= _resetTimeout))
        {
            _pending.Dequeue();
            if (!remap.Reported) _report(remap.Report());
        }
        _flows.DropIdle(_now, _idleTimeout, Forget);
        _others.DropIdle(_now, Linger, ReportIfPending);
    }

    /// <summary>Takes a flow that left the table out of the established index.</summary>
    private void Forget(TcpFlow flow)
    {
        if (!_established.TryGetValue(flow.Key.Service, out var list)) return;
        list.Remove(flow);
        if (list.Count == 0) _established.Remove(flow.Key.Service);
    }

    /// <summary>A remap is never lost: one that leaves the table before its answer came is reported without it.</summary>
    private void ReportIfPending(PastConnection past)
    {
        if (past.Remap is { Reported: false } remap) _report(remap.Report());
    }
}
