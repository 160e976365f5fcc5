using System;
using System.Linq;
using System.Management.Automation;
using ConntrackTools.Inet;
using ConntrackTools.Conntrack;

namespace ConntrackTools.Commands;

/// <summary>
/// The selection parameters shared by Get-, Remove-, Set- and Watch-Conntrack: the original tuple, the reply tuple,
/// the translation (the output properties of the same names), ICMP fields, zones, state, status, labels, NAT type.
/// Several values of one parameter mean any of them; different parameters must all match.
/// </summary>
public abstract class ConntrackSelectorCmdlet : NetworkNamespaceCmdlet
{
    [Parameter(Position = 0)]
    [ArgumentCompleter(typeof(ProtocolCompleter))]
    [Alias("Proto", "p")]
    public string[]? Protocol { get; set; }

    /// <summary>Original source address or CIDR prefix.</summary>
    [Parameter]
    [Alias("Source", "Src", "s")]
    public string? SourceAddress { get; set; }

    /// <summary>Original destination address or CIDR prefix.</summary>
    [Parameter]
    [Alias("Destination", "Dst", "d")]
    public string? DestinationAddress { get; set; }

    [Parameter]
    [Alias("SPort")]
    public int[]? SourcePort { get; set; }

    [Parameter]
    [Alias("DPort")]
    public int[]? DestinationPort { get; set; }

    /// <summary>Reply tuple source (conntrack -r).</summary>
    [Parameter]
    public string? ReplySourceAddress { get; set; }

    /// <summary>Reply tuple destination (conntrack -q).</summary>
    [Parameter]
    public string? ReplyDestinationAddress { get; set; }

    [Parameter]
    public int[]? ReplySourcePort { get; set; }

    [Parameter]
    public int[]? ReplyDestinationPort { get; set; }

    /// <summary>The source the peer sees (Reply.DestinationAddress; with -NatType Source as conntrack --src-nat ADDR).</summary>
    [Parameter]
    public string? TranslatedSourceAddress { get; set; }

    [Parameter]
    public int[]? TranslatedSourcePort { get; set; }

    /// <summary>Where the connection really goes (Reply.SourceAddress; with -NatType Destination as conntrack --dst-nat ADDR).</summary>
    [Parameter]
    public string? TranslatedDestinationAddress { get; set; }

    [Parameter]
    public int[]? TranslatedDestinationPort { get; set; }

    [Parameter]
    [ValidateRange(0, 255)]
    public int[]? IcmpType { get; set; }

    [Parameter]
    [ValidateRange(0, 255)]
    public int[]? IcmpCode { get; set; }

    [Parameter]
    [ValidateRange(0, 65535)]
    public int[]? IcmpId { get; set; }

    [Parameter]
    [ArgumentCompleter(typeof(StateCompleter))]
    public string[]? State { get; set; }

    [Parameter]
    public ushort? Zone { get; set; }

    [Parameter]
    public ushort? OriginalZone { get; set; }

    [Parameter]
    public ushort? ReplyZone { get; set; }

    /// <summary>Labels that must all be set: names from /etc/xtables/connlabel.conf (or -LabelMap) or bit numbers.</summary>
    [Parameter]
    public string[]? Label { get; set; }

    /// <summary>A connlabel.conf-style file (lines "bit name") to read label names from.</summary>
    [Parameter]
    public string? LabelMap { get; set; }

    [Parameter]
    [Alias("Family")]
    public IPFamily AddressFamily { get; set; } = IPFamily.All;

    [Parameter]
    public NatType[]? NatType { get; set; }

    /// <summary>Filter every entry in user space instead of asking the kernel to (for diagnosis and comparison).</summary>
    [Parameter]
    public SwitchParameter NoKernelFilter { get; set; }

    /// <summary>The selection as an engine filter; every bad or contradictory value is a terminating InvalidArgument error.</summary>
    protected ConntrackFilter BuildSelection()
    {
        var f = new ConntrackFilter { Family = AddressFamily, Zone = Zone, OriginalZone = OriginalZone, ReplyZone = ReplyZone };
        if (Protocol is not null)
        {
            var numbers = Protocol.Select(ParseProtocol).Distinct().ToArray();
            if (numbers.Length == 1) f.Protocol = numbers[0]; else f.AnyProtocol = numbers;
        }
        f.SourceAddress = ParseAddress(SourceAddress, nameof(SourceAddress));
        f.DestinationAddress = ParseAddress(DestinationAddress, nameof(DestinationAddress));
        f.ReplySourceAddress = ParseAddress(ReplySourceAddress, nameof(ReplySourceAddress));
        f.ReplyDestinationAddress = ParseAddress(ReplyDestinationAddress, nameof(ReplyDestinationAddress));
        f.TranslatedSourceAddress = ParseAddress(TranslatedSourceAddress, nameof(TranslatedSourceAddress));
        f.TranslatedDestinationAddress = ParseAddress(TranslatedDestinationAddress, nameof(TranslatedDestinationAddress));
        var sp = CheckPorts(SourcePort, nameof(SourcePort));
        if (sp is [int one]) f.SourcePort = one; else f.AnySourcePort = sp;
        var dp = CheckPorts(DestinationPort, nameof(DestinationPort));
        if (dp is [int oneD]) f.DestinationPort = oneD; else f.AnyDestinationPort = dp;
        f.ReplySourcePort = CheckPorts(ReplySourcePort, nameof(ReplySourcePort));
        f.ReplyDestinationPort = CheckPorts(ReplyDestinationPort, nameof(ReplyDestinationPort));
        f.TranslatedSourcePort = CheckPorts(TranslatedSourcePort, nameof(TranslatedSourcePort));
        f.TranslatedDestinationPort = CheckPorts(TranslatedDestinationPort, nameof(TranslatedDestinationPort));
        f.IcmpType = Distinct(IcmpType);
        f.IcmpCode = Distinct(IcmpCode);
        f.IcmpId = Distinct(IcmpId);
        if (NatType is not null)
        {
            var n = NatType.Distinct().ToArray();
            if (n.Length == 1) f.NatType = n[0]; else f.AnyNatType = n;
        }
        if (State is not null) f.State = State.Select(CheckState).Distinct().ToArray();
        if (Label is not null) f.Labels = ResolveLabels(Label, nameof(Label));
        else if (LabelMap is not null)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidArgument, "-LabelMap names the labels of -Label: give -Label too.", LabelMap));

        if (f.Contradiction() is string why)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.ContradictorySelection, $"The selection can never match: {why}.", null));
        return f;
    }

    /// <summary>-Verbose notes on what was read differently from how it was written (prefixes with host bits).</summary>
    protected void WriteSelectionNotes(ConntrackFilter f)
    {
        foreach (var a in new[] { f.SourceAddress, f.DestinationAddress, f.ReplySourceAddress, f.ReplyDestinationAddress, f.TranslatedSourceAddress, f.TranslatedDestinationAddress })
            if (a?.HostBitsCleared is string given)
                WriteVerbose($"'{given}' has bits set after the prefix length; selecting {a} (as conntrack does).");
    }

    protected int[] ResolveLabels(string[] labels, string parameter)
    {
        try
        {
            var map = LabelMap is null ? ConnLabelMap.Default : ConnLabelMap.Load(SessionState.Path.GetUnresolvedProviderPathFromPSPath(LabelMap));
            return labels.Select(map.Resolve).Distinct().ToArray();
        }
        catch (Exception e) when (e is FormatException or System.IO.IOException or UnauthorizedAccessException)
        {
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidLabel, $"-{parameter}: {e.Message}", labels));
            return [];
        }
    }

    private static int[]? Distinct(int[]? v) => v?.Distinct().ToArray();

    protected byte ParseProtocol(string text)
    {
        if (!Protocols.TryParse(text, out byte p))
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidProtocol,
                $"'{text}' is not a protocol: use a name from /etc/protocols ({string.Join(", ", Protocols.KnownNames)}, igmp, ...) or a number 0-255.", text));
        return p;
    }

    private string CheckState(string s)
    {
        string t = s?.Trim() ?? "";
        bool known = t.Length > 0 && (Protocols.TryParseState(Protocols.Tcp, t, out _) || Protocols.TryParseState(Protocols.Sctp, t, out _) ||
                                      Protocols.TryParseState(Protocols.Dccp, t, out _));
        if (!known)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidState,
                $"-State '{s}' is not a connection state: use a TCP state ({string.Join(", ", Protocols.TcpStates)}, {Protocols.TcpListen}), an SCTP or a DCCP state.", s));
        // LISTEN is conntrack's name for TCP state 9, which entries show as SYN_SENT2.
        return string.Equals(t, Protocols.TcpListen, StringComparison.OrdinalIgnoreCase) ? Protocols.TcpStates[9] : t.ToUpperInvariant();
    }

    protected AddressMatch? ParseAddress(string? text, string parameter)
    {
        if (text is null) return null;
        try { return AddressMatch.Parse(text); }
        catch (InvalidValueException e)
        {
            ThrowTerminatingError(ErrorMapping.InvalidArgument(e.ErrorId, $"-{parameter}: {e.Message}", text));
            return null;
        }
    }

    protected int[]? CheckPorts(int[]? ports, string parameter)
    {
        if (ports is null) return null;
        foreach (int port in ports)
            if (port is < 1 or > 65535)
                ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidPort, $"-{parameter} {port} is not a port: use 1 to 65535.", port));
        return ports.Distinct().ToArray();
    }
}
