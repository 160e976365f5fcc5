using System;
using System.IO;
using System.Net;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ConntrackTools.Evidence;

/// <summary>
/// The bundle's JSON: indented, enums and addresses as text, times in ISO 8601, so a colleague can read the files
/// with any tool. Written by reflection over the public properties of our output types; read back field by field
/// by <see cref="EvidenceImporter"/> (our types are immutable to users, so no serializer sets them).
/// </summary>
internal static class EvidenceJson
{
    public static readonly JsonSerializerOptions Options = Create();

    private static JsonSerializerOptions Create()
    {
        var o = new JsonSerializerOptions
        {
            WriteIndented = true,
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        };
        o.Converters.Add(new JsonStringEnumConverter());
        o.Converters.Add(new AddressConverter());
        return o;
    }

    /// <summary>Options for one element per line of a large array (no indentation inside the element).</summary>
    public static readonly JsonSerializerOptions Compact = new(Options) { WriteIndented = false };

    /// <summary>
    /// Writes a JSON array with one element per line, as the elements come (a table of a million entries never sits
    /// in memory, and the file stays readable with jq or grep). Returns the number of elements written.
    /// </summary>
    public static int WriteLines<T>(string path, Action<Action<T>> produce)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var writer = new StreamWriter(path, append: false, new System.Text.UTF8Encoding(false), 1 << 16);
        int n = 0;
        writer.Write('[');
        produce(item =>
        {
            writer.Write(n++ == 0 ? "\n" : ",\n");
            writer.Write(JsonSerializer.Serialize(item, item?.GetType() ?? typeof(T), Compact));
        });
        writer.Write(n == 0 ? "]\n" : "\n]\n");
        return n;
    }

    public static void Write<T>(string path, T value)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var stream = File.Create(path);
        JsonSerializer.Serialize(stream, value, value?.GetType() ?? typeof(T), Options);
    }

    /// <summary>IPAddress as its canonical text (the serializer would otherwise reflect over it, and ScopeId throws for IPv4).</summary>
    private sealed class AddressConverter : JsonConverter<IPAddress>
    {
        public override IPAddress Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            IPAddress.Parse(reader.GetString() ?? throw new JsonException("address is null"));

        public override void Write(Utf8JsonWriter writer, IPAddress value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
    }
}
