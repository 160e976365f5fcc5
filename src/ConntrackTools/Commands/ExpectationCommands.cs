using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Net;
using System.Net.Sockets;
using ConntrackTools.Conntrack;

using ConntrackTools.Inet;

namespace ConntrackTools.Commands;

/// <summary>Lists the expectation table (conntrack -L expect).</summary>
[Cmdlet(VerbsCommon.Get, "ConntrackExpectation")]
[OutputType(typeof(ConntrackExpectation))]
public sealed class GetConntrackExpectationCommand : NetworkNamespaceCmdlet
{
    /// <summary>Only expectations of these helpers (ftp, sip, ...).</summary>
    [Parameter(Position = 0)]
    public string[]? Helper { get; set; }

    /// <summary>Protocol of the expected connection.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(ProtocolCompleter))]
    public string? Protocol { get; set; }

    [Parameter]
    public ushort? Zone { get; set; }

    [Parameter]
    [Alias("Family")]
    public IPFamily AddressFamily { get; set; } = IPFamily.All;

    protected override void EndProcessing()
    {
        byte? proto = null;
        if (Protocol is not null)
        {
            if (!Protocols.TryParse(Protocol, out byte p))
                ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidProtocol, $"'{Protocol}' is not a protocol: use {string.Join(", ", Protocols.KnownNames)} or a number 0-255.", Protocol));
            proto = p;
        }
        List<ConntrackExpectation> all;
        try
        {
            all = new ExpectationClient(CreateClient()).Dump(Cancellation.Token);
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            Terminate(e, NetworkNamespace);
            return;
        }
        bool filtered = Helper is not null || proto is not null || Zone is not null || AddressFamily != IPFamily.All;
        WriteVerbose(filtered
            ? $"Received {all.Count} expectations; helper, protocol, zone and family are filtered in user space (ctnetlink has no expectation filter)."
            : $"Received {all.Count} expectations.");
        foreach (var x in all)
        {
            if (Helper is not null && !Helper.Any(h => string.Equals(h, x.Helper, StringComparison.OrdinalIgnoreCase))) continue;
            if (proto is byte pn && x.Expected.ProtocolNumber != pn) continue;
            if (Zone is ushort z && x.Zone != z) continue;
            if (AddressFamily != IPFamily.All && x.AddressFamily != AddressFamily) continue;
            WriteObject(x);
        }
    }
}

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

/// <summary>Deletes expectations: the ones piped in, all of a helper, or all (conntrack -D expect).</summary>
[Cmdlet(VerbsCommon.Remove, "ConntrackExpectation", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = "InputObject")]
[OutputType(typeof(void))]
public sealed class RemoveConntrackExpectationCommand : NetworkNamespaceCmdlet
{
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = "InputObject", Position = 0)]
    public ConntrackExpectation[] InputObject { get; set; } = [];

    /// <summary>Every expectation of this helper (deleted by the kernel in one request).</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Helper")]
    [ValidateNotNullOrEmpty]
    public string Helper { get; set; } = "";

    /// <summary>The whole expectation table of the namespace.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "All")]
    public SwitchParameter All { get; set; }

    private int _removed, _gone;

    protected override void ProcessRecord()
    {
        if (ParameterSetName != "InputObject") return;
        var client = new ExpectationClient(CreateClient());
        foreach (var x in InputObject)
        {
            if (!ShouldProcess(x.ToString(), "Remove conntrack expectation")) continue;
            try
            {
                if (client.Delete(x)) _removed++;
                else
                {
                    _gone++;
                    WriteError(new ErrorRecord(new ItemNotFoundException($"The expectation {x} does not exist (any more)."),
                        ErrorIds.EntryNotFound, ErrorCategory.ObjectNotFound, x));
                }
            }
            catch (Exception e) when (e is not PipelineStoppedException)
            {
                WriteEngineError(e, x);
            }
        }
    }

    protected override void EndProcessing()
    {
        if (ParameterSetName == "InputObject")
        {
            WriteVerbose($"Removed {_removed} expectations; {_gone} were already gone.");
            return;
        }
        string target = ParameterSetName == "Helper" ? $"all expectations of helper {Helper}" : "all expectations";
        if (!ShouldProcess(target + (NetworkNamespace is null ? "" : $" in {NetworkNamespace}"), "Remove conntrack expectations")) return;
        try
        {
            new ExpectationClient(CreateClient()).DeleteAll(ParameterSetName == "Helper" ? Helper : null);
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            Terminate(e, NetworkNamespace);
        }
    }
}
