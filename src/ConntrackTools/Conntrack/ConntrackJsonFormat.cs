using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

using ConntrackTools.Inet;

namespace ConntrackTools.Conntrack;

/// <summary>
/// A saved table as flat JSON: an array with one object per entry (one per line), every value a string, number,
/// array of numbers or null: addresses, protocol, state and status as text, timeout in seconds. Read back by
/// <see cref="Parse"/>, which reports each element with the line it starts on.
/// </summary>
/// <remarks>
/// Fields: AddressFamily, Protocol, State, Status (flag names, comma separated, as ConntrackStatus prints them),
/// TimeoutSeconds, Mark, Zone, OriginalZone, ReplyZone, SourceAddress, DestinationAddress, SourcePort,
/// DestinationPort, ReplySourceAddress, ReplyDestinationAddress, ReplySourcePort, ReplyDestinationPort, IcmpType,
/// IcmpCode, IcmpId, ReplyIcmpType, ReplyIcmpCode, ReplyIcmpId, Labels, Helper, Id. Only the protocol, both original
/// addresses and the timeout are required on reading; missing reply fields mirror the original.
/// </remarks>
public static class ConntrackJsonFormat
{
    private static readonly JsonWriterOptions WriterOptions = new() { Indented = false, SkipValidation = true };

    public static void Write(TextWriter writer, IEnumerable<ConntrackEntry> entries)
    {
        using var w = new ConntrackJsonWriter(writer);
        foreach (var e in entries) w.Add(e);
    }

    /// <summary>Writes entries one at a time (for streaming a dump); Dispose closes the array but not the writer.</summary>
    public sealed class ConntrackJsonWriter : IDisposable
    {
        private readonly TextWriter _writer;
        private readonly MemoryStream _buffer = new(512);
        private bool _first = true, _closed;

        public ConntrackJsonWriter(TextWriter writer)
        {
            _writer = writer;
            _writer.Write("[");
        }

        public void Add(ConntrackEntry e)
        {
            _buffer.SetLength(0);
            using (var w = new Utf8JsonWriter(_buffer, WriterOptions)) WriteEntry(w, e);
            _writer.Write(_first ? "\n" : ",\n");
            _writer.Write(Encoding.UTF8.GetString(_buffer.GetBuffer(), 0, (int)_buffer.Length));
            _first = false;
        }

        public void Dispose()
        {
            if (_closed) return;
            _closed = true;
            _writer.Write(_first ? "]\n" : "\n]\n");
        }
    }

    private static void WriteEntry(Utf8JsonWriter w, ConntrackEntry e)
    {
        var o = e.Original;
        var r = e.Reply;
        w.WriteStartObject();
        w.WriteString("AddressFamily", e.AddressFamily.ToString());
        w.WriteString("Protocol", o.Protocol);
        if (e.State is null) w.WriteNull("State"); else w.WriteString("State", e.State);
        w.WriteString("Status", e.Status.ToString());
        w.WriteNumber("TimeoutSeconds", (long)Math.Max(0, e.Timeout.TotalSeconds));
        w.WriteNumber("Mark", e.Mark);
        w.WriteNumber("Zone", e.Zone);
        Number(w, "OriginalZone", o.Zone);
        Number(w, "ReplyZone", r.Zone);
        w.WriteString("SourceAddress", o.SourceAddress.ToString());
        w.WriteString("DestinationAddress", o.DestinationAddress.ToString());
        Number(w, "SourcePort", o.SourcePort);
        Number(w, "DestinationPort", o.DestinationPort);
        w.WriteString("ReplySourceAddress", r.SourceAddress.ToString());
        w.WriteString("ReplyDestinationAddress", r.DestinationAddress.ToString());
        Number(w, "ReplySourcePort", r.SourcePort);
        Number(w, "ReplyDestinationPort", r.DestinationPort);
        Number(w, "IcmpType", o.IcmpType);
        Number(w, "IcmpCode", o.IcmpCode);
        Number(w, "IcmpId", o.IcmpId);
        Number(w, "ReplyIcmpType", r.IcmpType);
        Number(w, "ReplyIcmpCode", r.IcmpCode);
        Number(w, "ReplyIcmpId", r.IcmpId);
        if (e.Labels is null) w.WriteNull("Labels");
        else
        {
            w.WriteStartArray("Labels");
            foreach (var l in e.Labels) w.WriteNumberValue(l);
            w.WriteEndArray();
        }
        if (e.Helper is null) w.WriteNull("Helper"); else w.WriteString("Helper", e.Helper);
        w.WriteNumber("Id", e.Id);
        w.WriteEndObject();
    }

    private static void Number(Utf8JsonWriter w, string name, int? v)
    {
        if (v is int i) w.WriteNumber(name, i); else w.WriteNull(name);
    }

    private static void Number(Utf8JsonWriter w, string name, ushort? v)
    {
        if (v is ushort i) w.WriteNumber(name, i); else w.WriteNull(name);
    }

    /// <summary>
    /// Reads a JSON array of entries (or a single object). A document that is not JSON at all fails as a whole
    /// (one <see cref="SavedEntryLine"/> with line 1 or the line of the syntax error); an element that is JSON but not an
    /// entry gives an error for the line it starts on, and the others are read.
    /// </summary>
    public static List<SavedEntryLine> Parse(string text)
    {
        var result = new List<SavedEntryLine>();
        var bytes = Encoding.UTF8.GetBytes(text);
        var lineStarts = new List<int> { 0 };
        for (int i = 0; i < bytes.Length; i++) if (bytes[i] == (byte)'\n') lineStarts.Add(i + 1);
        int LineOf(long offset)
        {
            int idx = lineStarts.BinarySearch((int)offset);
            return (idx >= 0 ? idx : ~idx - 1) + 1;
        }
        string LineText(int line)
        {
            int start = lineStarts[line - 1];
            int end = line < lineStarts.Count ? lineStarts[line] : bytes.Length;
            return Encoding.UTF8.GetString(bytes, start, end - start).TrimEnd('\r', '\n');
        }
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        try
        {
            if (!reader.Read()) return result;
            bool array = reader.TokenType == JsonTokenType.StartArray;
            if (!array && reader.TokenType != JsonTokenType.StartObject)
            {
                result.Add(new SavedEntryLine(1, LineText(1), null, "not a JSON array or object of entries"));
                return result;
            }
            while (true)
            {
                if (array)
                {
                    if (!reader.Read()) break;
                    if (reader.TokenType == JsonTokenType.EndArray) break;
                }
                int line = LineOf(reader.TokenStartIndex);
                using var doc = JsonDocument.ParseValue(ref reader);
                ConntrackEntry? entry = null;
                string? error = null;
                try { entry = FromJson(doc.RootElement); }
                catch (FormatException e) { error = e.Message; }
                result.Add(new SavedEntryLine(line, LineText(line), entry, error));
                if (!array) break;
            }
        }
        catch (JsonException e)
        {
            int line = (int)(e.LineNumber ?? 0) + 1;
            result.Add(new SavedEntryLine(line, line <= lineStarts.Count ? LineText(line) : "", null, "not valid JSON: " + e.Message));
        }
        return result;
    }

    private static ConntrackEntry FromJson(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new FormatException("not an object");
        string? Str(string name) => e.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null
            ? v.ValueKind == JsonValueKind.String ? v.GetString() : v.GetRawText() : null;
        long? Num(string name, long max)
        {
            if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
            if (v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long n) && n >= 0 && n <= max) return n;
            if (v.ValueKind == JsonValueKind.String && long.TryParse(v.GetString(), out long s) && s >= 0 && s <= max) return s;
            throw new FormatException($"{name} {v.GetRawText()} is not a number 0-{max}");
        }
        IPAddress Addr(string name, IPAddress? fallback)
        {
            var s = Str(name);
            if (s is null) return fallback ?? throw new FormatException($"no {name}");
            if (!IPAddress.TryParse(s, out var a) || s.Contains('/') || s.StartsWith('[')) throw new FormatException($"{name} '{s}' is not an IP address");
            return a;
        }
        var protoText = Str("Protocol") ?? throw new FormatException("no Protocol");
        if (!Protocols.TryParse(protoText, out byte p)) throw new FormatException($"'{protoText}' is not a protocol");
        var src = Addr("SourceAddress", null);
        var dst = Addr("DestinationAddress", null);
        var rsrc = Addr("ReplySourceAddress", dst);
        var rdst = Addr("ReplyDestinationAddress", src);
        if (new[] { dst, rsrc, rdst }.Any(a => a.AddressFamily != src.AddressFamily))
            throw new FormatException("addresses of different families in one entry");
        bool ports = Protocols.HasPorts(p);
        int? sp = (int?)Num("SourcePort", 65535), dp = (int?)Num("DestinationPort", 65535);
        if (ports && (sp is null || dp is null)) throw new FormatException($"{Protocols.Name(p)} needs SourcePort and DestinationPort");
        if (!ports && (sp is not null || dp is not null)) throw new FormatException($"{Protocols.Name(p)} has no ports");
        var original = new FlowTuple(src, dst, p, sp, dp) { Zone = (ushort?)Num("OriginalZone", ushort.MaxValue) };
        var reply = new FlowTuple(rsrc, rdst, p, ports ? (int?)Num("ReplySourcePort", 65535) ?? dp : null,
            ports ? (int?)Num("ReplyDestinationPort", 65535) ?? sp : null) { Zone = (ushort?)Num("ReplyZone", ushort.MaxValue) };
        if (p is Protocols.Icmp or Protocols.IcmpV6)
        {
            int type = (int?)Num("IcmpType", 255) ?? (p == Protocols.Icmp ? 8 : 128);
            original.IcmpType = type;
            original.IcmpCode = (int?)Num("IcmpCode", 255) ?? 0;
            original.IcmpId = (int?)Num("IcmpId", 65535) ?? 0;
            reply.IcmpType = (int?)Num("ReplyIcmpType", 255) ?? ConntrackSaveFormat.ReplyIcmpType(p, type);
            reply.IcmpCode = (int?)Num("ReplyIcmpCode", 255) ?? original.IcmpCode;
            reply.IcmpId = (int?)Num("ReplyIcmpId", 65535) ?? original.IcmpId;
        }
        else if (Num("IcmpType", 255) is not null || Num("IcmpCode", 255) is not null || Num("IcmpId", 65535) is not null)
            throw new FormatException($"ICMP fields on a {Protocols.Name(p)} entry");
        var statusText = Str("Status");
        var status = ConntrackStatus.None;
        if (!string.IsNullOrWhiteSpace(statusText) && !Enum.TryParse(statusText, ignoreCase: true, out status))
            throw new FormatException($"Status '{statusText}' is not a set of ConntrackStatus flags");
        var state = Str("State");
        if (state is not null)
        {
            if (!Protocols.TryParseState(p, state, out byte sn)) throw new FormatException($"'{state}' is not a {Protocols.Name(p)} state");
            state = (p == Protocols.Tcp ? Protocols.TcpStates : p == Protocols.Sctp ? Protocols.SctpStates : Protocols.DccpStates)[sn];
        }
        long timeout = Num("TimeoutSeconds", uint.MaxValue) ?? throw new FormatException("no TimeoutSeconds");
        int[]? labels = null;
        if (e.TryGetProperty("Labels", out var lv) && lv.ValueKind == JsonValueKind.Array)
        {
            var list = new List<int>();
            foreach (var x in lv.EnumerateArray())
            {
                if (x.ValueKind != JsonValueKind.Number || !x.TryGetInt32(out int bit) || bit is < 0 or > 127)
                    throw new FormatException($"label {x.GetRawText()} is not a bit number 0-127");
                list.Add(bit);
            }
            list.Sort();
            labels = list.Count > 0 ? list.ToArray() : null;
        }
        return new ConntrackEntry(original, reply)
        {
            AddressFamily = src.AddressFamily == AddressFamily.InterNetworkV6 ? IPFamily.IPv6 : IPFamily.IPv4,
            State = state,
            Status = status,
            Timeout = TimeSpan.FromSeconds(timeout),
            Mark = (uint)(Num("Mark", uint.MaxValue) ?? 0),
            Zone = (ushort)(Num("Zone", ushort.MaxValue) ?? 0),
            Labels = labels,
            Helper = Str("Helper"),
        };
    }
}
