using System;
using System.Net;

namespace ConntrackTools.Tests;

/// <summary>The capture's clock for synthetic packets: every packet is a little later than the one before.</summary>
internal sealed class WireClock
{
    public DateTime Now { get; private set; } = new(2026, 11, 25, 12, 54, 10, DateTimeKind.Local);

    public DateTime Tick() => Now = Now.AddMilliseconds(1);

    public void Advance(TimeSpan span) => Now += span;
}

/// <summary>
/// A scripted TCP connection as a capture between client and server shows it (after the client's source NAT).
/// Each method returns the next packet and keeps both sides' sequence numbers the way a real stack would.
/// </summary>
internal sealed class TcpSession
{
    public static readonly (string Client, string Server) IPv4 = ("192.168.11.7", "10.232.3.28");
    public static readonly (string Client, string Server) IPv6 = ("fd00:11::7", "fd00:232:3::28");

    private readonly WireClock _clock;
    private readonly IPAddress _client, _server;
    private readonly int? _windowScale;
    private readonly uint _clientIsn, _serverIsn;
    private uint _clientNext, _serverNext;

    public TcpSession(WireClock clock, (string Client, string Server) addresses, int clientPort, uint clientIsn = 1_000_000, uint serverIsn = 7_000_000,
        int serverPort = 8899, int? windowScale = 7)
    {
        _clock = clock;
        _client = IPAddress.Parse(addresses.Client);
        _server = IPAddress.Parse(addresses.Server);
        ClientPort = clientPort;
        ServerPort = serverPort;
        _windowScale = windowScale;
        _clientIsn = clientIsn;
        _serverIsn = serverIsn;
        _clientNext = clientIsn;
        _serverNext = serverIsn;
    }

    public int ClientPort { get; }
    public int ServerPort { get; }

    /// <summary>The window field the server advertises after the handshake (scaled by 2^7 when window scaling is on).</summary>
    public ushort ServerWindow { get; set; } = 502;

    public CapturedPacket Syn() => FromClient(TcpFlags.Syn, _clientIsn, 0, 0, 64240, _windowScale);

    public CapturedPacket SynAck() => FromServer(TcpFlags.Syn | TcpFlags.Ack, _serverIsn, _clientIsn + 1, 0, 65160, _windowScale);

    public CapturedPacket Ack() => FromClient(TcpFlags.Ack, _clientIsn + 1, _serverIsn + 1, 0, 502);

    public CapturedPacket[] Handshake() => [Syn(), SynAck(), Ack()];

    /// <summary>Client data; <paramref name="fromPort"/> sends it from another source port, as after a lost NAT mapping.</summary>
    public CapturedPacket ClientSends(int bytes, int? fromPort = null) => FromClient(TcpFlags.Psh | TcpFlags.Ack, Next(bytes), _serverNext + 1, bytes, 502, port: fromPort);

    public CapturedPacket ServerSends(int bytes) => FromServer(TcpFlags.Psh | TcpFlags.Ack, NextServer(bytes), _clientNext + 1, bytes, ServerWindow);

    public CapturedPacket ServerAcks() => FromServer(TcpFlags.Ack, _serverNext + 1, _clientNext + 1, 0, ServerWindow);

    public CapturedPacket ClientAcks() => FromClient(TcpFlags.Ack, _clientNext + 1, _serverNext + 1, 0, 502);

    public CapturedPacket ClientFin() => FromClient(TcpFlags.Fin | TcpFlags.Ack, Next(1), _serverNext + 1, 0, 502);

    public CapturedPacket ServerFin() => FromServer(TcpFlags.Fin | TcpFlags.Ack, NextServer(1), _clientNext + 1, 0, ServerWindow);

    /// <summary>The server's answer to a segment for a port it has no connection on: RST, sequence number taken from the segment's ACK.</summary>
    public CapturedPacket ServerResets(int port) => FromServer(TcpFlags.Rst, _serverNext + 1, 0, 0, 0, port: port);

    /// <summary>Any client segment with chosen numbers, for the cases a well-behaved stack would not send.</summary>
    public CapturedPacket Segment(TcpFlags flags, uint sequence, uint acknowledgment, int bytes, int? fromPort = null) =>
        FromClient(flags, sequence, acknowledgment, bytes, 502, port: fromPort);

    /// <summary>The same packet captured again later (a retransmission).</summary>
    public CapturedPacket Again(CapturedPacket p) => Make(p.SourceIP, p.SourcePort!.Value, p.DestinationIP, p.DestinationPort!.Value,
        p.TcpFlags!.Value, p.Sequence!.Value, p.Acknowledgment!.Value, p.PayloadLength, p.Window!.Value, p.WindowScale);

    private uint Next(int bytes)
    {
        uint seq = _clientNext + 1;
        _clientNext += (uint)bytes;
        return seq;
    }

    private uint NextServer(int bytes)
    {
        uint seq = _serverNext + 1;
        _serverNext += (uint)bytes;
        return seq;
    }

    private CapturedPacket FromClient(TcpFlags flags, uint seq, uint ack, int bytes, int window, int? windowScale = null, int? port = null) =>
        Make(_client, port ?? ClientPort, _server, ServerPort, flags, seq, ack, bytes, window, windowScale);

    private CapturedPacket FromServer(TcpFlags flags, uint seq, uint ack, int bytes, int window, int? windowScale = null, int? port = null) =>
        Make(_server, ServerPort, _client, port ?? ClientPort, flags, seq, ack, bytes, window, windowScale);

    private CapturedPacket Make(IPAddress source, int sourcePort, IPAddress destination, int destinationPort, TcpFlags flags, uint seq, uint ack, int bytes, int window, int? windowScale) =>
        new()
        {
            Timestamp = _clock.Tick(),
            AddressFamily = source.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? IPFamily.IPv6 : IPFamily.IPv4,
            SourceIP = source,
            DestinationIP = destination,
            SourcePort = sourcePort,
            DestinationPort = destinationPort,
            ProtocolNumber = 6,
            TcpFlags = flags,
            Sequence = seq,
            Acknowledgment = ack,
            Window = window,
            WindowScale = windowScale,
            PayloadLength = bytes,
            Length = 54 + bytes,
        };
}
