using System.Net;

namespace ConntrackTools.Capture;

/// <summary>A TCP connection as the wire names it, seen from its client (the side that sent the SYN).</summary>
internal readonly record struct FlowKey(IPAddress Client, int ClientPort, IPAddress Server, int ServerPort)
{
    /// <summary>The key of a packet, read as if its source were the client.</summary>
    public static FlowKey From(CapturedPacket p) => new(p.SourceIP, p.SourcePort ?? 0, p.DestinationIP, p.DestinationPort ?? 0);

    /// <summary>The same connection with the two ends swapped: the key a reply packet yields.</summary>
    public FlowKey Reversed => new(Server, ServerPort, Client, ClientPort);

    /// <summary>The client's connections to this server port, whichever source port they use.</summary>
    public ServiceKey Service => new(Client, Server, ServerPort);
}

/// <summary>One client's connections to one server address and port: where a remapped flow is looked for.</summary>
internal readonly record struct ServiceKey(IPAddress Client, IPAddress Server, int ServerPort);
