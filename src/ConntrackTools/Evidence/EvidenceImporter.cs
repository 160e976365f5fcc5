using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Net;
using System.Text.Json;
using System.Threading.Tasks;
using ConntrackTools.Capture;
using ConntrackTools.Impact;
using ConntrackTools.Conntrack;

namespace ConntrackTools.Evidence;

/// <summary>
/// Reads an evidence bundle back into typed objects: entries, statistics, health results, events, address changes,
/// routes, masquerade rules; packets through the capture reader, and the SNAT remaps by running the detector over them
/// again. One <see cref="ConntrackEvidence"/> per namespace in the bundle.
/// </summary>
public static class EvidenceImporter
{
    public static List<ConntrackEvidence> Import(string path)
    {
        if (!File.Exists(path)) throw new ConntrackToolsException(ErrorIds.EvidenceFileNotFound, ErrorKind.NotFound, $"There is no file '{path}'.", target: path);
        ZipArchive zip;
        try { zip = ZipFile.OpenRead(path); }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException) { throw new InvalidEvidenceBundleException(path, e.Message, e); }
        using (zip)
        {
            try
            {
                var summaryDoc = Read(zip, "summary.json") ?? throw new InvalidEvidenceBundleException(path, "it has no summary.json.");
                var kernelDoc = Read(zip, "kernel.json");
                var summary = Summary(summaryDoc.RootElement);
                var list = new List<ConntrackEvidence>();
                foreach (var label in summary.NetworkNamespaces)
                {
                    string Dir(string file) => $"{label}/{file}";
                    using var sysctl = Read(zip, Dir("sysctl.json"));
                    var sysctls = new Dictionary<string, string>(StringComparer.Ordinal);
                    if (sysctl is not null) foreach (var p in sysctl.RootElement.EnumerateObject()) sysctls[p.Name] = p.Value.GetString() ?? "";
                    using var nsDoc = Read(zip, Dir("namespace.json"));
                    string? ns = Str(nsDoc?.RootElement, "NetworkNamespace");
                    var entries = Array(zip, Dir("conntrack.json"), Entry);
                    using var stats = Read(zip, Dir("statistics.json"));
                    var (packets, remaps) = ReadCapture(zip, Dir("capture.pcap"));
                    var health = Array(zip, Dir("health.json"), Health);
                    list.Add(new ConntrackEvidence
                    {
                        NetworkNamespace = ns,
                        Summary = summary,
                        Kernel = new KernelEvidence
                        {
                            KernelVersion = Str(kernelDoc?.RootElement, "KernelVersion") ?? summary.KernelVersion,
                            Version = Str(kernelDoc?.RootElement, "Version") ?? "",
                            Hostname = Str(kernelDoc?.RootElement, "Hostname") ?? summary.Hostname,
                            Sysctls = sysctls,
                        },
                        Statistics = stats is null ? [] : stats.RootElement.GetProperty("PerCpu").EnumerateArray().Select(Statistics).ToArray(),
                        Entries = entries,
                        EntriesAfter = Array(zip, Dir("conntrack-after.json"), Entry),
                        Addresses = Array(zip, Dir("addresses.json"), AddressChange),
                        Routes = Array(zip, Dir("routes.json"), Route),
                        MasqueradeRules = Array(zip, Dir("masquerade-rules.json"), e => new MasqueradeRule(Str(e, "Family")!, Str(e, "Table")!, Str(e, "Chain")!,
                            e.GetProperty("Handle").GetUInt64(), Str(e, "Kind")!, e.GetProperty("RandomFully").GetBoolean())),
                        Health = health,
                        ConntrackEvents = Array(zip, Dir("conntrack-events.json"), e => new ConntrackEvent(
                            EnumOf<ConntrackEventType>(e, "EventType"), e.GetProperty("TimeReceived").GetDateTime(), Entry(e.GetProperty("Entry")))),
                        AddressChanges = Array(zip, Dir("address-changes.json"), AddressChange),
                        Packets = packets,
                        Remaps = remaps,
                    });
                }
                kernelDoc?.Dispose();
                summaryDoc.Dispose();
                return list;
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or FormatException or InvalidOperationException or ArgumentException or InvalidDataException)
            {
                throw new InvalidEvidenceBundleException(path, e.Message, e);
            }
        }
    }

    private static JsonDocument? Read(ZipArchive zip, string name)
    {
        var entry = zip.GetEntry(name);
        if (entry is null) return null;
        using var s = entry.Open();
        return JsonDocument.Parse(s);
    }

    /// <summary>An array file, element by element (a table of a million entries is larger than one JsonDocument may be).</summary>
    private static T[] Array<T>(ZipArchive zip, string name, Func<JsonElement, T> map)
    {
        var entry = zip.GetEntry(name);
        if (entry is null) return [];
        using var s = entry.Open();
        return JsonSerializer.DeserializeAsyncEnumerable<JsonElement>(s).ToBlockingEnumerable().Select(map).ToArray();
    }

    private static (CapturedPacket[], SnatRemapFinding[]) ReadCapture(ZipArchive zip, string name)
    {
        var entry = zip.GetEntry(name);
        if (entry is null) return ([], []);
        string temp = Path.Combine(Path.GetTempPath(), "ctt-evidence-" + Guid.NewGuid().ToString("N")[..8] + ".pcap");
        try
        {
            entry.ExtractToFile(temp);
            CapturedPacket[] packets;
            using (var reader = CaptureFileReader.Open(temp)) packets = reader.ReadPackets().ToArray();
            var remaps = new List<SnatRemapFinding>();
            var detector = new SnatRemapDetector(TimeSpan.FromSeconds(2), TimeSpan.FromHours(1), 100_000, remaps.Add);
            foreach (var p in packets) detector.Add(p);
            detector.Complete();
            return (packets, remaps.ToArray());
        }
        finally
        {
            File.Delete(temp);
        }
    }

    private static ConntrackEvidenceSummary Summary(JsonElement e) => new()
    {
        Path = Str(e, "Path") ?? "",
        Created = e.GetProperty("Created").GetDateTime(),
        Hostname = Str(e, "Hostname") ?? "",
        KernelVersion = Str(e, "KernelVersion") ?? "",
        Duration = Str(e, "Duration") is { } d ? TimeSpan.Parse(d, CultureInfo.InvariantCulture) : null,
        NetworkNamespaces = Strings(e, "NetworkNamespaces"),
        CaptureInterface = Str(e, "CaptureInterface"),
        Entries = e.GetProperty("Entries").GetInt32(),
        EntriesAfter = Int(e, "EntriesAfter"),
        ConntrackEvents = e.GetProperty("ConntrackEvents").GetInt64(),
        DestroyEvents = e.GetProperty("DestroyEvents").GetInt64(),
        EventsLost = e.GetProperty("EventsLost").GetInt64(),
        Flushes = e.GetProperty("Flushes").GetInt32(),
        Remaps = e.GetProperty("Remaps").GetInt32(),
        Packets = e.GetProperty("Packets").GetInt64(),
        FailedChecks = Strings(e, "FailedChecks"),
        Findings = Strings(e, "Findings"),
        Notes = Strings(e, "Notes"),
        Files = Strings(e, "Files"),
    };

    internal static ConntrackEntry Entry(JsonElement e) => new(Tuple(e.GetProperty("Original")), Tuple(e.GetProperty("Reply")))
    {
        Id = e.GetProperty("Id").GetUInt32(),
        AddressFamily = EnumOf<IPFamily>(e, "AddressFamily"),
        State = Str(e, "State"),
        Timeout = TimeSpan.Parse(Str(e, "Timeout")!, CultureInfo.InvariantCulture),
        Status = EnumOf<ConntrackStatus>(e, "Status"),
        Mark = e.GetProperty("Mark").GetUInt32(),
        Zone = e.GetProperty("Zone").GetUInt16(),
        Use = e.GetProperty("Use").GetUInt32(),
        OriginalPackets = ULong(e, "OriginalPackets"),
        OriginalBytes = ULong(e, "OriginalBytes"),
        ReplyPackets = ULong(e, "ReplyPackets"),
        ReplyBytes = ULong(e, "ReplyBytes"),
        StartTime = Has(e, "StartTime") ? e.GetProperty("StartTime").GetDateTime() : null,
        Helper = Str(e, "Helper"),
        Labels = Has(e, "Labels") ? e.GetProperty("Labels").EnumerateArray().Select(x => x.GetInt32()).ToArray() : null,
        NetworkNamespace = Str(e, "NetworkNamespace"),
    };

    private static FlowTuple Tuple(JsonElement e) => new()
    {
        SourceIP = IPAddress.Parse(Str(e, "SourceAddress")!),
        DestinationIP = IPAddress.Parse(Str(e, "DestinationAddress")!),
        SourcePort = Int(e, "SourcePort"),
        DestinationPort = Int(e, "DestinationPort"),
        ProtocolNumber = e.GetProperty("ProtocolNumber").GetByte(),
        IcmpType = Int(e, "IcmpType"),
        IcmpCode = Int(e, "IcmpCode"),
        IcmpId = Int(e, "IcmpId"),
        Zone = Has(e, "Zone") ? e.GetProperty("Zone").GetUInt16() : null,
    };

    private static ConntrackStatistics Statistics(JsonElement e) => new()
    {
        Count = e.GetProperty("Count").GetUInt32(),
        Max = e.GetProperty("Max").GetUInt32(),
        Cpu = Int(e, "Cpu"),
        Found = ULong(e, "Found"),
        Invalid = ULong(e, "Invalid"),
        Insert = ULong(e, "Insert"),
        InsertFailed = ULong(e, "InsertFailed"),
        Drop = ULong(e, "Drop"),
        EarlyDrop = ULong(e, "EarlyDrop"),
        Error = ULong(e, "Error"),
        SearchRestart = ULong(e, "SearchRestart"),
        ClashResolve = ULong(e, "ClashResolve"),
        ChainTooLong = ULong(e, "ChainTooLong"),
        NetworkNamespace = Str(e, "NetworkNamespace"),
    };

    private static HealthCheckResult Health(JsonElement e) =>
        new(Str(e, "Name")!, e.GetProperty("Passed").GetBoolean(), Value(e, "Value"), Value(e, "Threshold"), Str(e, "Message") ?? "")
        {
            NetworkNamespace = Str(e, "NetworkNamespace"),
        };

    /// <summary>An address change; a removal with its recorded impact comes back as the AddressImpactEvent it was.</summary>
    private static AddressChangeEvent AddressChange(JsonElement e)
    {
        var change = PlainAddressChange(e);
        if (!Has(e, "DestroyedEntries") && !Has(e, "DestroyedUnrelated") && !Has(e, "DestroyedSample")) return change;
        return new AddressImpactEvent(change, Int(e, "DestroyedEntries"), Int(e, "DestroyedUnrelated"),
            Has(e, "DestroyedSample") ? e.GetProperty("DestroyedSample").EnumerateArray().Select(Entry).ToArray() : null);
    }

    private static AddressChangeEvent PlainAddressChange(JsonElement e) => new()
    {
        Change = EnumOf<AddressChange>(e, "Change"),
        TimeReceived = e.GetProperty("TimeReceived").GetDateTime(),
        InterfaceName = Str(e, "InterfaceName"),
        InterfaceIndex = e.GetProperty("InterfaceIndex").GetInt32(),
        IP = IPAddress.Parse(Str(e, "Address")!),
        PrefixLength = e.GetProperty("PrefixLength").GetInt32(),
        AddressFamily = EnumOf<IPFamily>(e, "AddressFamily"),
        Scope = EnumOf<AddressScope>(e, "Scope"),
        Flags = EnumOf<AddressFlags>(e, "Flags"),
        Label = Str(e, "Label"),
        NetworkNamespace = Str(e, "NetworkNamespace"),
        Existing = e.GetProperty("Existing").GetBoolean(),
    };

    private static RouteEntry Route(JsonElement e) => new()
    {
        AddressFamily = EnumOf<IPFamily>(e, "AddressFamily"),
        Destination = Str(e, "Destination") ?? "default",
        Gateway = Str(e, "Gateway"),
        InterfaceName = Str(e, "InterfaceName"),
        InterfaceIndex = Int(e, "InterfaceIndex"),
        PreferredSource = Str(e, "PreferredSource"),
        Table = e.GetProperty("Table").GetUInt32(),
        Type = Str(e, "Type") ?? "",
        Protocol = Str(e, "Protocol") ?? "",
        Scope = Str(e, "Scope") ?? "",
        Metric = Has(e, "Metric") ? e.GetProperty("Metric").GetUInt32() : null,
        NetworkNamespace = Str(e, "NetworkNamespace"),
    };

    /// <summary>An enum written by name ("SeenReply, Assured") or, for a value without a name, as its number.</summary>
    private static T EnumOf<T>(JsonElement e, string name) where T : struct, Enum
    {
        var v = e.GetProperty(name);
        return v.ValueKind == JsonValueKind.Number
            ? (T)Enum.ToObject(typeof(T), v.GetInt64())
            : Enum.Parse<T>(v.GetString() ?? throw new FormatException($"{name} is null"));
    }

    private static bool Has(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null;

    private static string? Str(JsonElement? e, string name) =>
        e is JsonElement el && el.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static int? Int(JsonElement e, string name) => Has(e, name) ? e.GetProperty(name).GetInt32() : null;

    private static ulong? ULong(JsonElement e, string name) => Has(e, name) ? e.GetProperty(name).GetUInt64() : null;

    private static string[] Strings(JsonElement e, string name) =>
        Has(e, name) ? e.GetProperty(name).EnumerateArray().Select(x => x.GetString() ?? "").ToArray() : [];

    /// <summary>A health value: integers as long (unsigned beyond long), fractions as double, text as text.</summary>
    private static object? Value(JsonElement e, string name)
    {
        if (!Has(e, name)) return null;
        var v = e.GetProperty(name);
        return v.ValueKind switch
        {
            JsonValueKind.Number when v.TryGetInt64(out long l) => l,
            JsonValueKind.Number when v.TryGetUInt64(out ulong u) => u,
            JsonValueKind.Number => v.GetDouble(),
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => v.GetString(),
        };
    }
}
