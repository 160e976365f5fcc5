using System;
using System.Linq;
using System.Management.Automation;
using System.Net;
using System.Net.Sockets;
using ConntrackTools.Conntrack;
using ConntrackTools.Inet;

namespace ConntrackTools.Commands;

/// <summary>
/// Creates a conntrack entry (conntrack -I; with -Force create-or-update, conntrack -A): the original tuple, the reply
/// tuple, or both (the missing one is the inverse of the other; a reply that differs describes NAT), timeout, mark,
/// zone, state, status, labels. Takes ConntrackEntry objects from the pipeline by property name, so an exported table
/// can be created again.
/// </summary>
[Cmdlet(VerbsCommon.New, "Conntrack", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(ConntrackEntry))]
public sealed class NewConntrackCommand : NetworkNamespaceCmdlet
{
    /// <summary>Status bits an entry read from the kernel carries but that the kernel derives itself: accepted, not sent.</summary>
    private const ConntrackStatus Derived = ConntrackStatus.Confirmed | ConntrackStatus.SourceNat | ConntrackStatus.DestinationNat |
        ConntrackStatus.SourceNatDone | ConntrackStatus.DestinationNatDone | ConntrackStatus.SequenceAdjust | ConntrackStatus.Helper;

    private ConntrackSession? _session;
    private int _created, _failed;

    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(ProtocolCompleter))]
    public string Protocol { get; set; } = "";

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("Source", "Src")]
    public string? SourceAddress { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("Destination", "Dst")]
    public string? DestinationAddress { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("SPort")]
    public int? SourcePort { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("DPort")]
    public int? DestinationPort { get; set; }

    /// <summary>Reply tuple; each defaults to the inverted original. Set them to describe NAT (DNAT: where it really goes).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("TranslatedDestinationAddress")]
    public string? ReplySourceAddress { get; set; }

    /// <summary>SNAT: the source the peer sees.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("TranslatedSourceAddress")]
    public string? ReplyDestinationAddress { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("TranslatedDestinationPort")]
    public int? ReplySourcePort { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("TranslatedSourcePort")]
    public int? ReplyDestinationPort { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)] public byte? IcmpType { get; set; }
    [Parameter(ValueFromPipelineByPropertyName = true)] public byte? IcmpCode { get; set; }
    [Parameter(ValueFromPipelineByPropertyName = true)] public ushort? IcmpId { get; set; }

    /// <summary>Whole tuples (as ConntrackEntry.Original/Reply): the ICMP fields of piped entries come from here.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true, DontShow = true)]
    public FlowTuple? Original { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true, DontShow = true)]
    public FlowTuple? Reply { get; set; }

    /// <summary>Lifetime of the entry; a bare number is seconds. Default 120 s (conntrack -I requires -t).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [SecondsToTimeSpan]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(120);

    [Parameter(ValueFromPipelineByPropertyName = true)][MarkBits] public uint Mark { get; set; }
    [Parameter(ValueFromPipelineByPropertyName = true)] public ushort Zone { get; set; }

    /// <summary>Zone of the original direction only (conntrack --orig-zone).</summary>
    [Parameter] public ushort? OriginalZone { get; set; }

    /// <summary>Zone of the reply direction only (conntrack --reply-zone).</summary>
    [Parameter] public ushort? ReplyZone { get; set; }

    /// <summary>TCP/SCTP/DCCP state, e.g. ESTABLISHED (LISTEN is TCP state 9, shown as SYN_SENT2).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(StateCompleter))]
    public string? State { get; set; }

    /// <summary>SeenReply, Assured, FixedTimeout (Confirmed is always set; NAT flags come from the reply tuple).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public ConntrackStatus Status { get; set; } = ConntrackStatus.None;

    /// <summary>Labels: names from /etc/xtables/connlabel.conf (or -LabelMap) or bit numbers 0-127.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("Labels")]
    public string[]? Label { get; set; }

    [Parameter]
    public string? LabelMap { get; set; }

    /// <summary>Update the entry when one with this tuple exists (conntrack -A) instead of failing with EntryExists.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Write the entry as the kernel now holds it (one lookup by tuple).</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void BeginProcessing() => _session = new ConntrackSession(CreateClient());

    protected override void ProcessRecord()
    {
        var entry = BuildEntry();
        if (entry is null) return;
        if (!ShouldProcess(entry.ToString(), Force ? "Create or update conntrack entry" : "Create conntrack entry")) return;
        try
        {
            _session!.Create(entry, exclusive: !Force);
            _created++;
            if (PassThru && _session.Lookup(entry.Original, reply: false, entry.Zone) is ConntrackEntry made)
            {
                made.NetworkNamespace = NetworkNamespace;
                WriteObject(made);
            }
        }
        catch (ConntrackToolsException e)
        {
            _failed++;
            var record = ErrorMapping.ToErrorRecord(e, entry, MyInvocation);
            if (e is ConntrackRequestException { Errno: Netlink.Errno.EEXIST })
                record.ErrorDetails = new ErrorDetails(e.Message + " Use -Force to update it.");
            if (MyInvocation.ExpectingInput) WriteError(record); else ThrowTerminatingError(record);
        }
    }

    protected override void EndProcessing()
    {
        _session?.Dispose();
        _session = null;
        if (MyInvocation.ExpectingInput) WriteVerbose($"Created {_created} conntrack entries; {_failed} refused.");
    }

    /// <summary>Validates the parameters of one record and builds the entry; on a bad value writes the error and returns null.</summary>
    private ConntrackEntry? BuildEntry()
    {
        try { return Build(); }
        catch (InvalidEntryException bad)
        {
            var record = ErrorMapping.InvalidArgument(bad.Id, bad.Message, bad.Target);
            if (MyInvocation.ExpectingInput) { _failed++; WriteError(record); return null; }
            ThrowTerminatingError(record);
            return null;
        }
    }

    private sealed class InvalidEntryException(string id, string message, object? target) : Exception(message)
    {
        public string Id { get; } = id;
        public object? Target { get; } = target;
    }

    private static InvalidEntryException Bad(string id, string message, object? target) => new(id, message, target);

    private ConntrackEntry Build()
    {
        if (!Protocols.TryParse(Protocol, out byte proto))
            throw Bad(ErrorIds.InvalidProtocol, $"'{Protocol}' is not a protocol: use a name from /etc/protocols or a number 0-255.", Protocol);
        var src = Address(SourceAddress, nameof(SourceAddress));
        var dst = Address(DestinationAddress, nameof(DestinationAddress));
        var rsrc = Address(ReplySourceAddress, nameof(ReplySourceAddress));
        var rdst = Address(ReplyDestinationAddress, nameof(ReplyDestinationAddress));
        bool haveOriginal = src is not null && dst is not null, haveReply = rsrc is not null && rdst is not null;
        if (!haveOriginal && !haveReply)
            throw Bad(ErrorIds.InvalidAddress, "Give the original tuple (-SourceAddress and -DestinationAddress) or the reply tuple (-ReplySourceAddress and -ReplyDestinationAddress).", null);
        var family = (src ?? rsrc)!.AddressFamily;
        foreach (var (a, name) in new[] { (src, nameof(SourceAddress)), (dst, nameof(DestinationAddress)), (rsrc, nameof(ReplySourceAddress)), (rdst, nameof(ReplyDestinationAddress)) })
            if (a is not null && a.AddressFamily != family)
                throw Bad(ErrorIds.InvalidAddress, $"-{name} {a} is {Fam(a)} while the entry is {Fam((src ?? rsrc)!)}: one entry has one address family.", a);
        if (proto == Protocols.Icmp && family == AddressFamily.InterNetworkV6) throw Bad(ErrorIds.InvalidProtocol, "icmp is IPv4 only: use icmpv6 with IPv6 addresses.", Protocol);
        if (proto == Protocols.IcmpV6 && family == AddressFamily.InterNetwork) throw Bad(ErrorIds.InvalidProtocol, "icmpv6 is IPv6 only: use icmp with IPv4 addresses.", Protocol);

        bool ports = Protocols.HasPorts(proto), icmp = proto is Protocols.Icmp or Protocols.IcmpV6;
        bool fromTuples = Original is not null && MyInvocation.ExpectingInput;
        foreach (var (port, name) in new[] { (SourcePort, nameof(SourcePort)), (DestinationPort, nameof(DestinationPort)), (ReplySourcePort, nameof(ReplySourcePort)), (ReplyDestinationPort, nameof(ReplyDestinationPort)) })
        {
            if (port is null) continue;
            if (!ports) throw Bad(ErrorIds.InvalidPort, $"-{name}: {Protocols.Name(proto)} has no ports.", port);
            if (port is < 1 or > 65535) throw Bad(ErrorIds.InvalidPort, $"-{name} {port} is not a port: use 1 to 65535.", port);
        }
        if (!icmp && (IcmpType is not null || IcmpCode is not null || IcmpId is not null))
            throw Bad(ErrorIds.InvalidArgument, $"-IcmpType, -IcmpCode and -IcmpId are for icmp and icmpv6, not {Protocols.Name(proto)}.", Protocol);
        if (ports && !(SourcePort is not null && DestinationPort is not null) && !(ReplySourcePort is not null && ReplyDestinationPort is not null))
            throw Bad(ErrorIds.InvalidPort, $"{Protocols.Name(proto)} needs -SourcePort and -DestinationPort (or -ReplySourcePort and -ReplyDestinationPort).", null);
        if (Timeout < TimeSpan.FromSeconds(1) || Timeout.TotalSeconds > int.MaxValue)
            throw Bad(ErrorIds.InvalidTimeout, $"-Timeout {Timeout} is out of range: use 1 to {int.MaxValue} seconds.", Timeout);
        string? state = string.IsNullOrEmpty(State) ? null : State;
        if (state is not null && !Protocols.TryParseState(proto, state, out _))
            throw Bad(ErrorIds.InvalidState, $"-State '{State}' is not a {Protocols.Name(proto)} state.", State);
        var owned = ConntrackMessages.KernelOwned(Status) & ~Derived;
        if (owned != ConntrackStatus.None)
            throw Bad(ErrorIds.InvalidStatus, $"-Status {owned}: the kernel owns these flags; an entry can be created with {ConntrackMessages.UserSettableStatus}.", Status);
        var status = Status & ConntrackMessages.UserSettableStatus;
        if ((Status & Derived & ~ConntrackStatus.Confirmed) != 0)
            WriteVerbose($"Status {Status & Derived & ~ConntrackStatus.Confirmed} is derived by the kernel (NAT from the reply tuple): not sent.");
        int[]? labels = null;
        if (Label is { Length: > 0 })
        {
            try
            {
                var map = LabelMap is null ? ConnLabelMap.Default : ConnLabelMap.Load(SessionState.Path.GetUnresolvedProviderPathFromPSPath(LabelMap));
                labels = Label.Select(map.Resolve).Distinct().ToArray();
            }
            catch (Exception e) when (e is FormatException or System.IO.IOException or UnauthorizedAccessException)
            {
                throw Bad(ErrorIds.InvalidLabel, "-Label: " + e.Message, Label);
            }
        }

        FlowTuple? original = haveOriginal ? new FlowTuple(src!, dst!, proto, ports ? SourcePort : null, ports ? DestinationPort : null) : null;
        bool anyReply = rsrc is not null || rdst is not null || ReplySourcePort is not null || ReplyDestinationPort is not null;
        FlowTuple? reply = haveReply || (haveOriginal && anyReply)
            ? new FlowTuple(rsrc ?? dst!, rdst ?? src!, proto, ports ? ReplySourcePort : null, ports ? ReplyDestinationPort : null) : null;
        if (original is not null && ports && (original.SourcePort is null || original.DestinationPort is null))
        {
            // Ports only on the reply side: the original's ports are the reply's, swapped.
            original.SourcePort ??= ReplyDestinationPort;
            original.DestinationPort ??= ReplySourcePort;
        }
        if (icmp)
        {
            var source = original ?? reply!;
            byte type = IcmpType ?? (byte)(fromTuples ? Original!.IcmpType ?? 0 : proto == Protocols.Icmp ? 8 : 128);  // echo request
            source.IcmpType = type;
            source.IcmpCode = IcmpCode ?? (fromTuples ? Original!.IcmpCode ?? 0 : 0);
            source.IcmpId = IcmpId ?? (fromTuples ? Original!.IcmpId ?? 0 : 0);
        }
        original ??= reply!.Inverted();
        if (!haveOriginal && (src is not null || dst is not null))
        {
            original.SourceIP = src ?? original.SourceIP;
            original.DestinationIP = dst ?? original.DestinationIP;
        }
        var inverse = original.Inverted();
        if (reply is null) reply = inverse;
        else
        {
            if (ports)
            {
                reply.SourcePort ??= inverse.SourcePort;
                reply.DestinationPort ??= inverse.DestinationPort;
            }
            if (icmp)
            {
                bool piped = fromTuples && Reply is not null;
                reply.IcmpType = piped ? Reply!.IcmpType : inverse.IcmpType;
                reply.IcmpCode = piped ? Reply!.IcmpCode : inverse.IcmpCode;
                reply.IcmpId = piped ? Reply!.IcmpId : inverse.IcmpId;
            }
        }
        if (OriginalZone is ushort oz) original.Zone = oz;
        else if (fromTuples && Original!.Zone is ushort poz) original.Zone = poz;
        if (ReplyZone is ushort rz) reply.Zone = rz;
        else if (fromTuples && Reply?.Zone is ushort prz) reply.Zone = prz;
        return new ConntrackEntry(original, reply)
        {
            AddressFamily = family == AddressFamily.InterNetworkV6 ? IPFamily.IPv6 : IPFamily.IPv4,
            Timeout = Timeout,
            Mark = Mark,
            Zone = Zone,
            State = state is null ? null : (Protocols.TryParseState(proto, state, out byte n) && proto == Protocols.Tcp ? Protocols.TcpStates[n] : state.ToUpperInvariant()),
            Status = status,
            Labels = labels,
            NetworkNamespace = NetworkNamespace,
        };
    }

    private static string Fam(IPAddress a) => a.AddressFamily == AddressFamily.InterNetworkV6 ? "IPv6" : "IPv4";

    private static IPAddress? Address(string? text, string parameter)
    {
        if (string.IsNullOrEmpty(text)) return null;
        string t = text.Trim();
        if (t.Contains('[') || t.Contains(']') || t.Contains('/') || t.Contains('%') || !IPAddress.TryParse(t, out var a) ||
            a.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
            throw Bad(ErrorIds.InvalidAddress, $"-{parameter} '{text}' is not an IPv4 or IPv6 address (write IPv6 without brackets).", text);
        return a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;
    }
}
