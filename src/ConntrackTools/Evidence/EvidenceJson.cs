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
