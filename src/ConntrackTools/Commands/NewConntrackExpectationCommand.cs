using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Net;
using System.Net.Sockets;
using ConntrackTools.Conntrack;
using ConntrackTools.Inet;

namespace ConntrackTools.Commands;

/// <summary>Creates an expectation related to a master connection (conntrack -I expect).</summary>
[Cmdlet(VerbsCommon.New, "ConntrackExpectation", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(ConntrackExpectation))]
public sealed class NewConntrackExpectationCommand : NetworkNamespaceCmdlet
{
    /// <summary>The master connection, e.g. from Get-Conntrack (its original tuple and zone are used).</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true)]
    public ConntrackEntry Master { get; set; } = null!;

    /// <summary>Protocol of the expected connection; the master's by default.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(ProtocolCompleter))]
    public string? Protocol { get; set; }

    /// <summary>Source of the expected connection; the master's original source by default.</summary>
    [Parameter]
    [Alias("Source", "Src")]
    public string? SourceAddress { get; set; }

    /// <summary>Destination of the expected connection; the master's original destination by default.</summary>
    [Parameter]
    [Alias("Destination", "Dst")]
    public string? DestinationAddress { get; set; }

    /// <summary>Source port; omitted, any source port matches (mask 0).</summary>
    [Parameter]
    [Alias("SPort")]
    public int? SourcePort { get; set; }

    [Parameter]
    [Alias("DPort")]
    public int? DestinationPort { get; set; }

    /// <summary>Address mask for the source, e.g. 255.255.255.0; all ones by default.</summary>
    [Parameter]
    public string? SourceMask { get; set; }

    [Parameter]
    public string? DestinationMask { get; set; }

    /// <summary>How long the expectation waits for its connection; a bare number is seconds.</summary>
    [Parameter(Mandatory = true)]
    [SecondsToTimeSpan]
    public TimeSpan Timeout { get; set; }

    /// <summary>Helper that owns the expectation; by default the master's helper.</summary>
    [Parameter]
    public string? Helper { get; set; }

    /// <summary>The zone; the master's by default.</summary>
    [Parameter]
    public ushort? Zone { get; set; }

    [Parameter]
    public uint Class { get; set; }

    [Parameter]
    public ConntrackExpectationFlags Flags { get; set; }

    /// <summary>Write the expectation as the kernel now holds it.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var m = Master.Original;
        byte proto = m.ProtocolNumber;
        if (Protocol is not null && !Protocols.TryParse(Protocol, out proto))
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidProtocol, $"'{Protocol}' is not a protocol.", Protocol));
        var family = m.SourceIP.AddressFamily;
        IPAddress Addr(string? text, IPAddress fallback, string name)
        {
            if (text is null) return fallback;
            if (!IPAddress.TryParse(text, out var a) || text.Contains('/') || text.StartsWith('['))
                ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidAddress, $"-{name} '{text}' is not an IP address.", text));
            if (a!.AddressFamily != family)
                ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidAddress, $"-{name} {a} is not of the master connection's family ({Master.AddressFamily}).", text));
            return a;
        }
        var src = Addr(SourceAddress, m.SourceIP, nameof(SourceAddress));
        var dst = Addr(DestinationAddress, m.DestinationIP, nameof(DestinationAddress));
        var ones = family == AddressFamily.InterNetworkV6 ? IPAddress.Parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") : IPAddress.Broadcast;
        var srcMask = Addr(SourceMask, ones, nameof(SourceMask));
        var dstMask = Addr(DestinationMask, ones, nameof(DestinationMask));
        foreach (var (port, name) in new[] { (SourcePort, nameof(SourcePort)), (DestinationPort, nameof(DestinationPort)) })
            if (port is < 1 or > 65535)
                ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidPort, $"-{name} {port} is not a port: use 1 to 65535.", port));
        bool ports = Protocols.HasPorts(proto);
        if (ports && DestinationPort is null)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidPort, $"An expected {Protocols.Name(proto)} connection needs -DestinationPort.", null));
        if (!ports && (SourcePort is not null || DestinationPort is not null))
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidPort, $"{Protocols.Name(proto)} has no ports.", null));
        if (Timeout < TimeSpan.FromSeconds(1) || Timeout.TotalSeconds > int.MaxValue)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidArgument, $"-Timeout {Timeout} is out of range: use 1 s to {int.MaxValue} s.", Timeout));

        var x = new ConntrackExpectation
        {
            AddressFamily = Master.AddressFamily,
            Master = m,
            Expected = new FlowTuple(src, dst, proto, ports ? SourcePort ?? 0 : null, ports ? DestinationPort : null),
            Mask = new FlowTuple(srcMask, dstMask, proto, ports ? (SourcePort is null ? 0 : 0xffff) : null, ports ? 0xffff : null),
            Timeout = Timeout,
            Helper = Helper,
            Zone = Zone ?? Master.Zone,
            Class = Class,
            Flags = Flags,
            NetworkNamespace = NetworkNamespace,
        };
        if (!ShouldProcess($"{x.Protocol} {x.Expected} (master {m.Protocol} {m})", "Create conntrack expectation")) return;
        try
        {
            var client = new ExpectationClient(CreateClient());
            client.Create(x);
            if (PassThru)
                foreach (var e in client.Dump(Cancellation.Token))
                    if (e.Zone == x.Zone && e.Expected.ProtocolNumber == proto && e.Expected.SourceIP.Equals(src)
                        && e.Expected.DestinationIP.Equals(dst) && e.Expected.DestinationPort == x.Expected.DestinationPort)
                        WriteObject(e);
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            WriteEngineError(e, x);
        }
    }
}
