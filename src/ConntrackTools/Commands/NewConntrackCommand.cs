using System;
using System.Management.Automation;
using System.Net;
using ConntrackTools.Conntrack;
using ConntrackTools.Inet;

namespace ConntrackTools.Commands;

/// <summary>Creates a conntrack entry: original tuple, optional reply tuple (for NAT), timeout, mark, zone, state.</summary>
[Cmdlet(VerbsCommon.New, "Conntrack", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(ConntrackEntry))]
public sealed class NewConntrackCommand : NetworkNamespaceCmdlet
{
    [Parameter(Mandatory = true, Position = 0)]
    [ArgumentCompleter(typeof(ProtocolCompleter))]
    public string Protocol { get; set; } = "";

    [Parameter(Mandatory = true)]
    [Alias("Source", "Src")]
    public IPAddress SourceAddress { get; set; } = IPAddress.None;

    [Parameter(Mandatory = true)]
    [Alias("Destination", "Dst")]
    public IPAddress DestinationAddress { get; set; } = IPAddress.None;

    [Parameter]
    [Alias("SPort")]
    public int? SourcePort { get; set; }

    [Parameter]
    [Alias("DPort")]
    public int? DestinationPort { get; set; }

    /// <summary>Reply tuple; each defaults to the inverted original. Set them to describe NAT.</summary>
    [Parameter]
    public IPAddress? ReplySourceAddress { get; set; }

    [Parameter]
    public IPAddress? ReplyDestinationAddress { get; set; }

    [Parameter]
    public int? ReplySourcePort { get; set; }

    [Parameter]
    public int? ReplyDestinationPort { get; set; }

    [Parameter] public byte? IcmpType { get; set; }
    [Parameter] public byte? IcmpCode { get; set; }
    [Parameter] public ushort? IcmpId { get; set; }

    /// <summary>Lifetime of the entry; a bare number is seconds. Default 120 s.</summary>
    [Parameter]
    [SecondsToTimeSpan]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(120);

    [Parameter] public uint Mark { get; set; }
    [Parameter] public ushort Zone { get; set; }

    /// <summary>TCP/SCTP/DCCP state, e.g. ESTABLISHED.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(StateCompleter))]
    public string? State { get; set; }

    [Parameter]
    public ConntrackStatus Status { get; set; } = ConntrackStatus.None;

    /// <summary>Write the entry as the kernel now holds it.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void EndProcessing()
    {
        if (!Protocols.TryParse(Protocol, out byte proto))
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidProtocol, $"'{Protocol}' is not a protocol.", Protocol));
        if (SourceAddress.AddressFamily != DestinationAddress.AddressFamily)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidAddress, "Source and destination must be of the same address family.", DestinationAddress));
        foreach (var (port, name) in new[] { (SourcePort, "SourcePort"), (DestinationPort, "DestinationPort"), (ReplySourcePort, "ReplySourcePort"), (ReplyDestinationPort, "ReplyDestinationPort") })
            if (port is < 0 or > 65535)
                ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidPort, $"-{name} {port} is not a port: use 0 to 65535.", port));
        bool ports = Protocols.HasPorts(proto);
        if (ports && (SourcePort is null || DestinationPort is null))
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidPort, $"{Protocols.Name(proto)} needs -SourcePort and -DestinationPort.", null));
        if (State is not null && !Protocols.TryParseState(proto, State, out _))
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidArgument, $"'{State}' is not a {Protocols.Name(proto)} state.", State));

        var original = new FlowTuple(SourceAddress, DestinationAddress, proto, ports ? SourcePort : null, ports ? DestinationPort : null);
        var reply = new FlowTuple(ReplySourceAddress ?? DestinationAddress, ReplyDestinationAddress ?? SourceAddress, proto,
            ports ? ReplySourcePort ?? DestinationPort : null, ports ? ReplyDestinationPort ?? SourcePort : null);
        if (proto is Protocols.Icmp or Protocols.IcmpV6)
        {
            byte type = IcmpType ?? (byte)(proto == Protocols.Icmp ? 8 : 128);  // echo request
            original.IcmpType = type;
            original.IcmpCode = IcmpCode ?? 0;
            original.IcmpId = IcmpId ?? 0;
            reply.IcmpType = proto == Protocols.Icmp ? (type == 8 ? 0 : type) : (type == 128 ? 129 : type); // echo reply
            reply.IcmpCode = IcmpCode ?? 0;
            reply.IcmpId = IcmpId ?? 0;
        }
        var entry = new ConntrackEntry
        {
            AddressFamily = SourceAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? IPFamily.IPv6 : IPFamily.IPv4,
            Original = original,
            Reply = reply,
            Timeout = Timeout,
            Mark = Mark,
            Zone = Zone,
            State = State?.ToUpperInvariant(),
            Status = Status,
            NetworkNamespace = NetworkNamespace,
        };
        if (!ShouldProcess(entry.ToString(), "Create conntrack entry")) return;
        try
        {
            var client = CreateClient();
            client.Create(entry);
            if (PassThru)
            {
                var f = new ConntrackFilter
                {
                    Protocol = proto,
                    SourceAddress = AddressMatch.Parse(SourceAddress.ToString()),
                    DestinationAddress = AddressMatch.Parse(DestinationAddress.ToString()),
                    SourcePort = original.SourcePort,
                    DestinationPort = original.DestinationPort,
                    Zone = Zone,
                };
                // Collected first: a dump may call back from a worker thread, and only this thread may write.
                var created = new System.Collections.Generic.List<ConntrackEntry>();
                client.Dump(f, true, created.AddRange, Cancellation.Token);
                foreach (var e in created) WriteObject(e);
            }
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            Terminate(e, entry);
        }
    }
}
