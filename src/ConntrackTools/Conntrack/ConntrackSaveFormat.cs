using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Text;

using ConntrackTools.Inet;

namespace ConntrackTools.Conntrack;

/// <summary>One line of a saved table: its number (from 1), and the entry it describes or why it does not parse.</summary>
public sealed class SavedEntryLine
{
    public SavedEntryLine(int lineNumber, string text, ConntrackEntry? entry, string? error)
    {
        LineNumber = lineNumber;
        Text = text;
        Entry = entry;
        Error = error;
    }

    public int LineNumber { get; }
    public string Text { get; }
    public ConntrackEntry? Entry { get; }
    public string? Error { get; }
}

/// <summary>
/// conntrack's <c>-o save</c> format: one line per entry, written as conntrack-tools 1.4.7 prints it
/// (<c>conntrack -L -o save</c>) and read as <c>conntrack -R</c> reads it. Public for other engine parts
/// (evidence bundles) and the cmdlets.
/// </summary>
/// <remarks>
/// The line is the command-line options that would create the entry:
/// <c>-A -t TIMEOUT -u STATUS [-w ZONE] [--orig-zone Z] [--reply-zone Z] -s SRC -d DST (-g|-r) X (-n|-q) Y -p PROTO ...</c>,
/// with <c>-g</c>/<c>-n</c> (--dst-nat/--src-nat) in place of <c>-r</c>/<c>-q</c> when the entry is destination/source
/// NATed (status *_NAT_DONE and the reply address differs: conntrack compares the first 32 bits of the address, for
/// IPv6 too, and so do we), and the protocol's options after <c>-p</c>: ports, reply ports and state for tcp/udp/
/// udplite/sctp/dccp, <c>--icmp-type/--icmp-code/--icmp-id</c> for ICMP. Status lists only SEEN_REPLY, ASSURED,
/// FIXED_TIMEOUT and EXPECTED (or UNSET), as conntrack does.
/// conntrack's save output drops the mark and the labels; we add <c>-m MARK</c> (non-zero marks) and <c>-l LABELS</c>
/// after the zones, which conntrack -R reads too (labels by name from /etc/xtables/connlabel.conf; a label bit
/// without a name there is written as its number, which only our reader takes). Entries without mark and labels are
/// written byte for byte as conntrack writes them.
/// </remarks>
public static class ConntrackSaveFormat
{
    public const string LabelConfigPath = "/etc/xtables/connlabel.conf";

    /// <summary>Writes one line per entry.</summary>
    public static void Write(TextWriter writer, IEnumerable<ConntrackEntry> entries, IReadOnlyDictionary<int, string>? labelNames = null)
    {
        labelNames ??= ReadLabelNames(LabelConfigPath);
        var sb = new StringBuilder(256);
        foreach (var e in entries)
        {
            sb.Clear();
            Append(sb, e, labelNames);
            sb.Append('\n');
            writer.Write(sb);
        }
    }

    /// <summary>The save line of one entry (no newline).</summary>
    public static string Format(ConntrackEntry entry, IReadOnlyDictionary<int, string>? labelNames = null)
    {
        var sb = new StringBuilder(256);
        Append(sb, entry, labelNames ?? ReadLabelNames(LabelConfigPath));
        return sb.ToString();
    }

    private static readonly (ConntrackStatus Bit, string Name)[] SavedStatus =
    [
        (ConntrackStatus.Expected, "EXPECTED"),
        (ConntrackStatus.SeenReply, "SEEN_REPLY"),
        (ConntrackStatus.Assured, "ASSURED"),
        (ConntrackStatus.FixedTimeout, "FIXED_TIMEOUT"),
    ];

    private static void Append(StringBuilder sb, ConntrackEntry e, IReadOnlyDictionary<int, string> labelNames)
    {
        var inv = CultureInfo.InvariantCulture;
        var o = e.Original;
        var r = e.Reply;
        sb.Append("-A -t ").Append(((long)Math.Max(0, e.Timeout.TotalSeconds)).ToString(inv));
        sb.Append(" -u ");
        bool any = false;
        foreach (var (bit, name) in SavedStatus)
        {
            if ((e.Status & bit) == 0) continue;
            if (any) sb.Append(',');
            sb.Append(name);
            any = true;
        }
        if (!any) sb.Append("UNSET");
        if (e.Zone != 0) sb.Append(" -w ").Append(e.Zone.ToString(inv));
        if (o.Zone is ushort oz) sb.Append(" --orig-zone ").Append(oz.ToString(inv));
        if (r.Zone is ushort rz) sb.Append(" --reply-zone ").Append(rz.ToString(inv));
        if (e.Mark != 0) sb.Append(" -m ").Append(e.Mark.ToString(inv));
        if (e.Labels is { Length: > 0 } labels)
        {
            sb.Append(" -l ");
            for (int i = 0; i < labels.Length; i++)
            {
                if (i > 0) sb.Append(',');
                sb.Append(labelNames.TryGetValue(labels[i], out var n) ? n : labels[i].ToString(inv));
            }
        }
        bool dnat = (e.Status & ConntrackStatus.DestinationNatDone) != 0 && !First32BitsEqual(r.SourceIP, o.DestinationIP);
        bool snat = (e.Status & ConntrackStatus.SourceNatDone) != 0 && !First32BitsEqual(r.DestinationIP, o.SourceIP);
        sb.Append(" -s ").Append(o.SourceAddress);
        sb.Append(" -d ").Append(o.DestinationAddress);
        sb.Append(dnat ? " -g " : " -r ").Append(r.SourceAddress);
        sb.Append(snat ? " -n " : " -q ").Append(r.DestinationAddress);
        byte p = o.ProtocolNumber;
        sb.Append(" -p ").Append(Protocols.Name(p));
        switch (p)
        {
            case Protocols.Tcp:
            case Protocols.Udp:
            case Protocols.UdpLite:
            case Protocols.Sctp:
            case Protocols.Dccp:
                if (o.SourcePort is int sp) sb.Append(" --sport ").Append(sp.ToString(inv));
                if (o.DestinationPort is int dp) sb.Append(" --dport ").Append(dp.ToString(inv));
                if (r.SourcePort is int rsp) sb.Append(" --reply-port-src ").Append(rsp.ToString(inv));
                if (r.DestinationPort is int rdp) sb.Append(" --reply-port-dst ").Append(rdp.ToString(inv));
                if (e.State is not null && p != Protocols.Udp && p != Protocols.UdpLite)
                    sb.Append(" --state ").Append(SavedState(p, e.State));
                break;
            case Protocols.Icmp:
                if (o.IcmpType is int t) sb.Append(" --icmp-type ").Append(t.ToString(inv));
                if (o.IcmpCode is int c) sb.Append(" --icmp-code ").Append(c.ToString(inv));
                if (o.IcmpId is int id) sb.Append(" --icmp-id ").Append(id.ToString(inv));
                break;
            case Protocols.IcmpV6:
                if (o.IcmpType is int t6) sb.Append(" --icmpv6-type ").Append(t6.ToString(inv));
                if (o.IcmpCode is int c6) sb.Append(" --icmpv6-code ").Append(c6.ToString(inv));
                if (o.IcmpId is int id6) sb.Append(" --icmpv6-id ").Append(id6.ToString(inv));
                break;
        }
    }

    /// <summary>conntrack names TCP state 9 (SYN_SENT2 in the kernel) LISTEN.</summary>
    private static string SavedState(byte protocol, string state)
    {
        if (protocol == Protocols.Tcp && Protocols.TryParseState(protocol, state, out byte n) && n == 9) return "LISTEN";
        return state;
    }

    private static bool First32BitsEqual(IPAddress a, IPAddress b)
    {
        Span<byte> x = stackalloc byte[16], y = stackalloc byte[16];
        a.TryWriteBytes(x, out _);
        b.TryWriteBytes(y, out _);
        return x[..4].SequenceEqual(y[..4]);
    }

    /// <summary>Reads every line; blank lines and lines starting with '#' are skipped. Never throws for bad content.</summary>
    public static IEnumerable<SavedEntryLine> Parse(TextReader reader, IReadOnlyDictionary<int, string>? labelNames = null)
    {
        labelNames ??= ReadLabelNames(LabelConfigPath);
        Dictionary<string, int>? byName = null;
        int number = 0;
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            number++;
            var trimmed = line.Trim();
            if (trimmed.Length == 0 || trimmed[0] == '#') continue;
            byName ??= InvertLabels(labelNames);
            ConntrackEntry? entry = null;
            string? error = null;
            try { entry = ParseLine(trimmed, byName); }
            catch (FormatException e) { error = e.Message; }
            yield return new SavedEntryLine(number, line, entry, error);
        }
    }

    /// <summary>
    /// The lines of a whole file's text, as <see cref="Parse"/> gives them and in the same order; a large file is parsed
    /// on every core (lines are independent), which is most of an import's own work.
    /// </summary>
    public static List<SavedEntryLine> ParseText(string text, IReadOnlyDictionary<int, string>? labelNames = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        labelNames ??= ReadLabelNames(LabelConfigPath);
        var byName = InvertLabels(labelNames);
        var raw = text.Split('\n');
        var parsed = new SavedEntryLine?[raw.Length];
        void One(int i)
        {
            string line = raw[i].TrimEnd('\r');
            var trimmed = line.Trim();
            if (trimmed.Length == 0 || trimmed[0] == '#') return;
            ConntrackEntry? entry = null;
            string? error = null;
            try { entry = ParseLine(trimmed, byName); }
            catch (FormatException e) { error = e.Message; }
            parsed[i] = new SavedEntryLine(i + 1, line, entry, error);
        }
        if (raw.Length < 10_000 || Environment.ProcessorCount == 1)
        {
            for (int i = 0; i < raw.Length; i++) One(i);
        }
        else
        {
            System.Threading.Tasks.Parallel.ForEach(System.Collections.Concurrent.Partitioner.Create(0, raw.Length, 4096), range =>
            {
                for (int i = range.Item1; i < range.Item2; i++) One(i);
            });
        }
        var lines = new List<SavedEntryLine>(raw.Length);
        foreach (var l in parsed) if (l is not null) lines.Add(l);
        return lines;
    }

    /// <summary>Parses one save line into an entry; throws <see cref="FormatException"/> saying what is wrong.</summary>
    public static ConntrackEntry ParseLine(string line, IReadOnlyDictionary<string, int>? labelsByName = null)
    {
        var tok = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        IPAddress? src = null, dst = null, rsrc = null, rdst = null;
        int? sport = null, dport = null, rsport = null, rdport = null, natSrcPort = null, natDstPort = null;
        int? icmpType = null, icmpCode = null, icmpId = null;
        ushort zone = 0;
        ushort? origZone = null, replyZone = null;
        uint mark = 0;
        long? timeout = null;
        ConntrackStatus status = ConntrackStatus.None;
        string? state = null;
        byte? proto = null;
        List<int>? labels = null;
        for (int i = 0; i < tok.Length; i++)
        {
            string opt = tok[i];
            string Value()
            {
                if (i + 1 >= tok.Length || (tok[i + 1].StartsWith('-') && tok[i + 1].Length > 1 && !char.IsDigit(tok[i + 1][1])))
                    throw new FormatException($"option {opt} needs a value");
                return tok[++i];
            }
            switch (opt)
            {
                case "-A": case "--add": case "-I": case "--create":
                    if (i != 0) throw new FormatException($"{opt} must come first");
                    break;
                case "-D": case "--delete": case "-U": case "--update": case "-F": case "--flush": case "-E": case "--event":
                case "-L": case "--dump": case "-G": case "--get": case "-R": case "--load-file":
                    throw new FormatException($"{opt} is not an entry to create (only -A/-I lines are imported)");
                case "-t": case "--timeout": timeout = ParseUInt(opt, Value(), uint.MaxValue); break;
                case "-u": case "--status": status |= ParseStatus(Value()); break;
                case "-c": case "--secmark": ParseUInt(opt, Value(), uint.MaxValue); break; // obsolete; not kept
                case "-w": case "--zone": zone = (ushort)ParseUInt(opt, Value(), ushort.MaxValue); break;
                case "--orig-zone": origZone = (ushort)ParseUInt(opt, Value(), ushort.MaxValue); break;
                case "--reply-zone": replyZone = (ushort)ParseUInt(opt, Value(), ushort.MaxValue); break;
                case "-m": case "--mark": mark = (uint)ParseUInt(opt, Value(), uint.MaxValue); break;
                case "-l": case "--label":
                    foreach (var l in Value().Split(','))
                    {
                        int bit;
                        if (labelsByName is not null && labelsByName.TryGetValue(l, out int named)) bit = named;
                        else if (int.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n < 128) bit = n;
                        else throw new FormatException($"unknown label '{l}' (not a bit number 0-127 nor a name in {LabelConfigPath})");
                        (labels ??= new()).Add(bit);
                    }
                    break;
                case "-s": case "--src": case "--orig-src": src = ParseAddress(opt, Value()); break;
                case "-d": case "--dst": case "--orig-dst": dst = ParseAddress(opt, Value()); break;
                case "-r": case "--reply-src": rsrc = ParseAddress(opt, Value()); break;
                case "-q": case "--reply-dst": rdst = ParseAddress(opt, Value()); break;
                case "-g": case "--dst-nat": (rsrc, natDstPort) = ParseNat(opt, Value()); status |= ConntrackStatus.DestinationNat | ConntrackStatus.DestinationNatDone; break;
                case "-n": case "--src-nat": (rdst, natSrcPort) = ParseNat(opt, Value()); status |= ConntrackStatus.SourceNat | ConntrackStatus.SourceNatDone; break;
                case "-p": case "--protonum":
                    {
                        string v = Value();
                        if (!Protocols.TryParse(v, out byte pn)) throw new FormatException($"'{v}' is not a protocol");
                        proto = pn;
                        break;
                    }
                case "--sport": case "--orig-port-src": sport = (int)ParsePort(opt, Value()); break;
                case "--dport": case "--orig-port-dst": dport = (int)ParsePort(opt, Value()); break;
                case "--reply-port-src": rsport = (int)ParsePort(opt, Value()); break;
                case "--reply-port-dst": rdport = (int)ParsePort(opt, Value()); break;
                case "--state": state = Value(); break;
                case "--icmp-type": case "--icmpv6-type": icmpType = (int)ParseUInt(opt, Value(), 255); break;
                case "--icmp-code": case "--icmpv6-code": icmpCode = (int)ParseUInt(opt, Value(), 255); break;
                case "--icmp-id": case "--icmpv6-id": icmpId = (int)ParseUInt(opt, Value(), ushort.MaxValue); break;
                case "--orig-vtag": case "--reply-vtag": ParseUInt(opt, Value(), uint.MaxValue); break; // SCTP tags: not kept
                default: throw new FormatException($"unknown option '{opt}'");
            }
        }
        if (proto is not byte p) throw new FormatException("no protocol (-p)");
        if (src is null || dst is null) throw new FormatException("no original source and destination (-s, -d)");
        if (src.AddressFamily != dst.AddressFamily
            || (rsrc is not null && rsrc.AddressFamily != src.AddressFamily)
            || (rdst is not null && rdst.AddressFamily != src.AddressFamily))
            throw new FormatException("addresses of different families on one line");
        if (timeout is null) throw new FormatException("no timeout (-t)");
        if (Protocols.HasPorts(p))
        {
            if (sport is null || dport is null) throw new FormatException($"{Protocols.Name(p)} needs --sport and --dport");
        }
        else if (sport is not null || dport is not null || rsport is not null || rdport is not null)
            throw new FormatException($"{Protocols.Name(p)} has no ports");
        bool icmp = p is Protocols.Icmp or Protocols.IcmpV6;
        if (!icmp && (icmpType is not null || icmpCode is not null || icmpId is not null))
            throw new FormatException($"ICMP options on a {Protocols.Name(p)} line");
        if (state is not null)
        {
            if (p is Protocols.Udp or Protocols.UdpLite || !Protocols.HasPorts(p))
                throw new FormatException($"{Protocols.Name(p)} has no state");
            string s = p == Protocols.Tcp && string.Equals(state, "LISTEN", StringComparison.OrdinalIgnoreCase) ? "SYN_SENT2" : state;
            if (!Protocols.TryParseState(p, s, out byte sn)) throw new FormatException($"'{state}' is not a {Protocols.Name(p)} state");
            state = (p == Protocols.Tcp ? Protocols.TcpStates : p == Protocols.Sctp ? Protocols.SctpStates : Protocols.DccpStates)[sn];
        }

        var original = new FlowTuple(src, dst, p, sport, dport) { Zone = origZone };
        var reply = new FlowTuple(rsrc ?? dst, rdst ?? src, p, rsport ?? natDstPort ?? dport, rdport ?? natSrcPort ?? sport) { Zone = replyZone };
        if (!Protocols.HasPorts(p)) { reply.SourcePort = null; reply.DestinationPort = null; }
        if (icmp)
        {
            byte type = (byte)(icmpType ?? (p == Protocols.Icmp ? 8 : 128));
            original.IcmpType = type;
            original.IcmpCode = icmpCode ?? 0;
            original.IcmpId = icmpId ?? 0;
            reply.IcmpType = ReplyIcmpType(p, type);
            reply.IcmpCode = icmpCode ?? 0;
            reply.IcmpId = icmpId ?? 0;
        }
        // The save format has no NAT status bits and prints -q/-r (not -n/-g) when only a port is translated, as
        // masquerade usually does. A reply that does not mirror the original comes from NAT in real traffic: say so, so
        // that the entry is re-created with its NAT binding (conntrack -R loses translated ports).
        if (!reply.DestinationIP.Equals(src) || reply.DestinationPort != original.SourcePort || (icmp && reply.IcmpId != original.IcmpId))
            status |= ConntrackStatus.SourceNat;
        if (!reply.SourceIP.Equals(dst) || reply.SourcePort != original.DestinationPort)
            status |= ConntrackStatus.DestinationNat;
        // (Only IPS_*_NAT: the *_NAT_DONE bits, which -n/-g set, are the kernel's once the binding exists, and the
        // line is written back as it was read.)
        if (labels is not null) labels.Sort();
        return new ConntrackEntry(original, reply)
        {
            AddressFamily = src.AddressFamily == AddressFamily.InterNetworkV6 ? IPFamily.IPv6 : IPFamily.IPv4,
            Timeout = TimeSpan.FromSeconds(timeout.Value),
            Status = status,
            Mark = mark,
            Zone = zone,
            State = state,
            Labels = labels?.ToArray(),
        };
    }

    /// <summary>The reply type of an ICMP query (echo, timestamp, info, address mask; ICMPv6 echo, node info), as the kernel inverts it.</summary>
    public static int ReplyIcmpType(byte protocol, int type) => protocol == Protocols.Icmp
        ? type switch { 8 => 0, 13 => 14, 15 => 16, 17 => 18, 0 => 8, 14 => 13, 16 => 15, 18 => 17, _ => type }
        : type switch { 128 => 129, 129 => 128, 139 => 140, 140 => 139, _ => type };

    private static ConntrackStatus ParseStatus(string text)
    {
        var s = ConntrackStatus.None;
        foreach (var part in text.Split(','))
        {
            s |= part.ToUpperInvariant() switch
            {
                "ASSURED" => ConntrackStatus.Assured,
                "SEEN_REPLY" => ConntrackStatus.SeenReply,
                "UNSET" => ConntrackStatus.None,
                "FIXED_TIMEOUT" => ConntrackStatus.FixedTimeout,
                "EXPECTED" => ConntrackStatus.Expected,
                "OFFLOAD" => ConntrackStatus.Offload,
                "HW_OFFLOAD" => ConntrackStatus.HardwareOffload,
                _ => throw new FormatException($"unknown status '{part}' (use ASSURED, SEEN_REPLY, FIXED_TIMEOUT, EXPECTED, OFFLOAD, HW_OFFLOAD or UNSET)"),
            };
        }
        return s;
    }

    private static long ParseUInt(string opt, string text, long max)
    {
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long v) || v > max)
            throw new FormatException($"{opt} '{text}' is not a number 0-{max}");
        return v;
    }

    private static long ParsePort(string opt, string text)
    {
        long v = ParseUInt(opt, text, ushort.MaxValue);
        return v;
    }

    private static IPAddress ParseAddress(string opt, string text)
    {
        if (!IPAddress.TryParse(text, out var a) || text.Contains('/') || text.StartsWith('['))
            throw new FormatException($"{opt} '{text}' is not an IP address");
        if (a.IsIPv4MappedToIPv6 && !text.Contains(':')) a = a.MapToIPv4();
        return a;
    }

    /// <summary>--src-nat/--dst-nat take ADDR or ADDR:PORT (IPv6 with a port as [ADDR]:PORT).</summary>
    private static (IPAddress, int?) ParseNat(string opt, string text)
    {
        if (text.StartsWith('['))
        {
            int close = text.IndexOf(']');
            if (close < 0) throw new FormatException($"{opt} '{text}' is not an address");
            var a6 = ParseAddress(opt, text[1..close]);
            if (close == text.Length - 1) return (a6, null);
            if (text[close + 1] != ':') throw new FormatException($"{opt} '{text}' is not an address");
            return (a6, (int)ParsePort(opt, text[(close + 2)..]));
        }
        int colon = text.IndexOf(':');
        if (colon > 0 && text.IndexOf(':', colon + 1) < 0)
            return (ParseAddress(opt, text[..colon]), (int)ParsePort(opt, text[(colon + 1)..]));
        return (ParseAddress(opt, text), null);
    }

    /// <summary>
    /// Label names from connlabel.conf (lines "BIT NAME", '#' comments), as iptables/nft and conntrack read them;
    /// empty when the file does not exist.
    /// </summary>
    public static IReadOnlyDictionary<int, string> ReadLabelNames(string path)
    {
        var map = new Dictionary<int, string>();
        if (!File.Exists(path)) return map;
        try
        {
            foreach (var raw in File.ReadLines(path))
            {
                var line = raw;
                int hash = line.IndexOf('#');
                if (hash >= 0) line = line[..hash];
                var parts = line.Split((char[]?)null, 2, StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int bit) && bit < 128)
                    map.TryAdd(bit, parts[1].Trim());
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return map;
    }

    private static Dictionary<string, int> InvertLabels(IReadOnlyDictionary<int, string> names)
    {
        var d = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (bit, name) in names) d.TryAdd(name, bit);
        return d;
    }
}
