using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using ConntrackTools.Namespaces;

namespace ConntrackTools.Lab;

/// <summary>What happened to one connection when data was pushed on it.</summary>
public enum PushOutcome : long
{
    /// <summary>The server echoed the data: the connection is alive.</summary>
    Echoed,
    /// <summary>The peer answered with RST: ECONNRESET.</summary>
    Reset,
    /// <summary>Neither an echo nor a reset within the wait.</summary>
    NoAnswer,
}

/// <summary>One long-lived TCP connection of the lab, from the client node to the pod.</summary>
public sealed class LabConnection
{
    internal LabConnection(int index, Socket socket)
    {
        Index = index;
        Socket = socket;
        var local = (IPEndPoint)socket.LocalEndPoint!;
        LocalPort = local.Port;
    }

    public int Index { get; }

    /// <summary>The client socket's own port (what ss shows); MASQUERADE maps it to another on the wire.</summary>
    public int LocalPort { get; }

    internal Socket Socket { get; }
}

/// <summary>
/// An echo server in one namespace and long-lived TCP connections to it from another, all in this process:
/// sockets are created on a thread inside their namespace (see <see cref="NetworkNamespace.Run{T}"/>) and are
/// used from any thread afterwards. Nothing outlives <see cref="Dispose"/>.
/// </summary>
public sealed class LabConnections : IDisposable
{
    private readonly Socket _listener;
    private readonly List<Socket> _accepted = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;

    private LabConnections(Socket listener)
    {
        _listener = listener;
        _acceptLoop = Task.Run(AcceptLoop);
    }

    public IReadOnlyList<LabConnection> Connections { get; private set; } = Array.Empty<LabConnection>();

    /// <summary>Starts the echo server in <paramref name="serverNs"/> and opens <paramref name="count"/> connections from <paramref name="clientNs"/>.</summary>
    public static LabConnections Open(NetworkNamespace serverNs, IPAddress serverAddress, int port, NetworkNamespace clientNs, int count, CancellationToken cancel)
    {
        var listener = NetworkNamespace.Run(serverNs, () =>
        {
            var s = new Socket(serverAddress.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            s.Bind(new IPEndPoint(serverAddress, port));
            s.Listen(256);
            return s;
        });
        var lab = new LabConnections(listener);
        try
        {
            var list = new List<LabConnection>(count);
            lab.Connections = list; // so that Dispose closes the ones opened so far when a later one fails or Ctrl+C comes
            for (int i = 0; i < count; i++)
            {
                cancel.ThrowIfCancellationRequested();
                var socket = NetworkNamespace.Run(clientNs, () =>
                {
                    var s = new Socket(serverAddress.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    s.Connect(new IPEndPoint(serverAddress, port));
                    return s;
                });
                var c = new LabConnection(i, socket);
                list.Add(c);
                // A first exchange, so every connection is ESTABLISHED and ASSURED before the VIP moves.
                if (Push(c, "hello", TimeSpan.FromSeconds(3)) != PushOutcome.Echoed)
                    throw new InvalidOperationException($"Lab connection {i} did not get its first echo.");
            }
            return lab;
        }
        catch
        {
            lab.Dispose();
            throw;
        }
    }

    /// <summary>Sends a line and waits for its echo; a reset at send or receive time is <see cref="PushOutcome.Reset"/>.</summary>
    public static PushOutcome Push(LabConnection c, string text, TimeSpan wait)
    {
        var payload = Encoding.ASCII.GetBytes(text + "\n");
        var buffer = new byte[4096];
        try
        {
            c.Socket.Send(payload);
            int got = 0;
            var deadline = DateTime.UtcNow + wait;
            while (got < payload.Length)
            {
                int left = (int)Math.Max(0, (deadline - DateTime.UtcNow).TotalMilliseconds);
                if (left == 0 || !c.Socket.Poll(left * 1000, SelectMode.SelectRead)) return PushOutcome.NoAnswer;
                int n = c.Socket.Receive(buffer);
                if (n == 0) return PushOutcome.Reset;     // orderly close is not expected either; treat as lost
                got += n;
            }
            return PushOutcome.Echoed;
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown)
        {
            return PushOutcome.Reset;
        }
    }

    private async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket s;
            try { s = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException) { return; }
            lock (_accepted) _accepted.Add(s);
            _ = Task.Run(() => Echo(s));
        }
    }

    private async Task Echo(Socket s)
    {
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                int n = await s.ReceiveAsync(buffer, SocketFlags.None, _stop.Token).ConfigureAwait(false);
                if (n == 0) return;
                await s.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, _stop.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        foreach (var c in Connections) c.Socket.Dispose();
        _listener.Dispose();
        // After the accept loop has ended nothing is added any more: a connection accepted during Dispose is closed too.
        try { _acceptLoop.Wait(TimeSpan.FromSeconds(2)); } catch (AggregateException) { }
        lock (_accepted) foreach (var s in _accepted) s.Dispose();
        _stop.Dispose();
    }
}
