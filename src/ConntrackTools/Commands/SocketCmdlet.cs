using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using ConntrackTools.Inet;
using ConntrackTools.Conntrack;
using ConntrackTools.Sockets;

namespace ConntrackTools.Commands;

/// <summary>The selection parameters of Get-NetTCPConnection and Get-NetUDPEndpoint (NetTCPIP's names).</summary>
public abstract class SocketCmdlet : NetworkNamespaceCmdlet
{
    /// <summary>Local addresses or CIDR prefixes (any of them).</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("SourceAddress")]
    public string[]? LocalAddress { get; set; }

    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)]
    [Alias("SourcePort")]
    public int[]? LocalPort { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("DestinationAddress")]
    public string[]? RemoteAddress { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("DestinationPort")]
    public int[]? RemotePort { get; set; }

    /// <summary>Only sockets held by these processes (resolves owners).</summary>
    [Parameter]
    public uint[]? OwningProcess { get; set; }

    [Parameter]
    [Alias("Family")]
    public IPFamily AddressFamily { get; set; } = IPFamily.All;

    /// <summary>Fill OwningProcess and OwningProcessName from /proc/*/fd.</summary>
    [Parameter]
    public SwitchParameter IncludeProcess { get; set; }

    /// <summary>Do not read the conntrack table (ConntrackEntry and the Translated* properties stay null).</summary>
    [Parameter]
    public SwitchParameter NoConntrack { get; set; }

    /// <summary>Filter every socket in user space instead of asking the kernel to.</summary>
    [Parameter]
    public SwitchParameter NoKernelFilter { get; set; }

    private SocketQuery BuildQuery(IReadOnlyList<TcpState>? states)
    {
        return new SocketQuery
        {
            Family = AddressFamily,
            LocalAddress = ParseAddresses(LocalAddress, nameof(LocalAddress)),
            RemoteAddress = ParseAddresses(RemoteAddress, nameof(RemoteAddress)),
            LocalPort = CheckPorts(LocalPort, nameof(LocalPort)),
            RemotePort = CheckPorts(RemotePort, nameof(RemotePort)),
            State = states,
            OwningProcess = OwningProcess,
            IncludeProcess = IncludeProcess,
            IncludeConntrack = !NoConntrack,
        };
    }

    /// <summary>Reads the sockets with <paramref name="read"/> (one engine call), says in -Verbose how, and writes them.</summary>
    protected void ReadAndWrite<T>(IReadOnlyList<TcpState>? states, string what,
        Func<SocketReader, SocketQuery, SocketDumpResult, List<T>> read)
    {
        var query = BuildQuery(states);
        var result = new SocketDumpResult();
        List<T> list;
        try
        {
            list = read(new SocketReader(Namespace), query, result);
        }
        catch (Exception e)
        {
            Terminate(e, NetworkNamespace);
            return;
        }
        Report(result, what);
        foreach (var s in list) WriteObject(s);
    }

    private void Report(SocketDumpResult r, string what)
    {
        if (r.ConntrackDenied)
            WriteWarning("Reading the conntrack table needs CAP_NET_ADMIN: ConntrackEntry and the Translated* properties are empty. " +
                         "Run as root for the NAT view, or use -NoConntrack to leave it out.");
        if (r.FallbackReason is not null) WriteVerbose("Kernel filter refused: " + r.FallbackReason + ".");
        WriteVerbose($"Kernel filter: {r.KernelFilter}; user-space filter: {r.UserFilter}.");
        WriteVerbose($"Received {r.Received} {what} from the kernel; {r.Emitted} matched" +
                     (IncludeProcess || OwningProcess is not null ? $"; {r.OwnersResolved} owners found in /proc/*/fd" : "") +
                     (NoConntrack ? "." : $"; {r.ConntrackMatched} joined to conntrack entries ({r.ConntrackEntriesRead} entries read)."));
    }

    private AddressMatch[]? ParseAddresses(string[]? texts, string parameter)
    {
        if (texts is null || texts.Length == 0) return null;
        var list = new List<AddressMatch>();
        foreach (var t in texts)
        {
            try { list.Add(AddressMatch.Parse(t)); }
            catch (InvalidValueException e)
            {
                ThrowTerminatingError(ErrorMapping.InvalidArgument(e.ErrorId, $"-{parameter}: {e.Message}", t));
            }
        }
        return list.ToArray();
    }

    private int[]? CheckPorts(int[]? ports, string parameter)
    {
        if (ports is null || ports.Length == 0) return null;
        foreach (var p in ports)
            if (p < 0 || p > 65535)
                ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidPort, $"-{parameter} {p} is not a port: use 0 to 65535.", p));
        return ports;
    }
}
