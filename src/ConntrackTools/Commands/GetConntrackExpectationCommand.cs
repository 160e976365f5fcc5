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
