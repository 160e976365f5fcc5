using System;
using System.Management.Automation;
using System.Net;
using ConntrackTools.Inet;
using ConntrackTools.Conntrack;

namespace ConntrackTools.Commands;

/// <summary>Dumps the conntrack table over ctnetlink and streams the entries as they are decoded.</summary>
[Cmdlet(VerbsCommon.Get, "Conntrack")]
[OutputType(typeof(ConntrackEntry))]
public sealed class GetConntrackCommand : ConntrackFilterCmdlet
{
    /// <summary>A socket's local address (from Get-NetTCPConnection / Get-NetUDPEndpoint by property name).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string? LocalAddress { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    public int? LocalPort { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string? RemoteAddress { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    public int? RemotePort { get; set; }

    /// <summary>A piped object (a socket from Get-NetTCPConnection or Get-NetUDPEndpoint); only its Protocol property is read.</summary>
    [Parameter(ValueFromPipeline = true)]
    public PSObject? InputObject { get; set; }

    private bool SocketGiven => LocalAddress is not null || LocalPort is not null || RemoteAddress is not null || RemotePort is not null;

    protected override void ProcessRecord()
    {
        if (!MyInvocation.ExpectingInput) return;
        if (!SocketGiven)
        {
            Run(BuildFilter(), null);
            return;
        }
        // A socket: its flow is either one this side opened (the original tuple starts at the socket) or one the
        // peer opened (the reply tuple starts at the socket, after DNAT).
        var filter = BuildSocketFilter(out var local, out var remote);
        if (Run(filter, null) > 0) return;
        var reply = BuildSocketFilter(out _, out _);
        reply.SourceAddress = null; reply.DestinationAddress = null; reply.SourcePort = null; reply.DestinationPort = null;
        Run(reply, e => e.Reply.SourcePort == LocalPort && e.Reply.DestinationPort == RemotePort &&
                        Same(e.Reply.SourceIP, local) && Same(e.Reply.DestinationIP, remote));
    }

    protected override void EndProcessing()
    {
        if (MyInvocation.ExpectingInput) return;
        if (SocketGiven) { ProcessSocketWithoutPipeline(); return; }
        Run(BuildFilter(), null);
    }

    private void ProcessSocketWithoutPipeline()
    {
        var filter = BuildSocketFilter(out _, out _);
        Run(filter, null);
    }

    private ConntrackFilter BuildSocketFilter(out IPAddress? local, out IPAddress? remote)
    {
        // Piped values change with every record: build the filter from them without touching the bound parameters.
        var f = BuildFilter();
        if (f.SourceAddress is null && LocalAddress is not null) f.SourceAddress = Parse(LocalAddress);
        if (f.DestinationAddress is null && RemoteAddress is not null) f.DestinationAddress = Parse(RemoteAddress);
        f.SourcePort ??= LocalPort;
        f.DestinationPort ??= RemotePort;
        if (f.Protocol is null && InputObject?.Properties["Protocol"]?.Value is string p && Protocols.TryParse(p, out byte n)) f.Protocol = n;
        local = f.SourceAddress?.Network.BaseAddress;
        remote = f.DestinationAddress?.Network.BaseAddress;
        return f;
    }

    private AddressMatch? Parse(string text)
    {
        try { return AddressMatch.Parse(Unmap(text)); }
        catch (InvalidValueException e)
        {
            ThrowTerminatingError(ErrorMapping.InvalidArgument(e.ErrorId, e.Message, text));
            return null;
        }
    }

    private static string Unmap(string text) =>
        IPAddress.TryParse(text, out var a) && a.IsIPv4MappedToIPv6 ? a.MapToIPv4().ToString() : text;

    private static bool Same(IPAddress a, IPAddress? b) => b is null || a.Equals(b);

    /// <summary>Dumps with <paramref name="filter"/> (and a further user-space condition) and writes the entries; returns how many.</summary>
    private long Run(ConntrackFilter filter, Func<ConntrackEntry, bool>? also)
    {
        var client = CreateClient();
        var plan = filter.PlanDump(client.Features, !NoKernelFilter);
        WriteVerbose($"Kernel filter: {plan.KernelPart}; user-space filter: {plan.UserPart}{(also is null ? "" : " and the socket's reply tuple")}.");

        DumpResult? result = null;
        long written = 0;
        using var queue = new ProducerQueue<ConntrackEntry>(
            (add, token) => result = client.Dump(filter, !NoKernelFilter, add, token), Cancellation.Token);
        foreach (var batch in queue.Consume())
            foreach (var entry in batch)
            {
                if (also is not null && !also(entry)) continue;
                WriteObject(entry);
                written++;
            }
        if (queue.Failure is not null) Terminate(queue.Failure, NetworkNamespace);
        if (Cancellation.IsCancellationRequested) return written;
        if (result is not null)
        {
            if (result.FallbackReason is not null) WriteVerbose("Kernel filter refused: " + result.FallbackReason + ".");
            WriteVerbose($"Received {result.Received} entries from the kernel in {result.Datagrams} datagrams; {result.Emitted} matched.");
            if (result.Retries > 0) WriteVerbose($"The dump was interrupted by table changes and repeated {result.Retries} time(s).");
            if (result.Inconsistent)
                WriteWarning($"The kernel flagged the dump as inconsistent (NLM_F_DUMP_INTR) after {ConntrackClient.DumpRetries} retries: entries that changed during the dump may be missing.");
        }
        return written;
    }
}
