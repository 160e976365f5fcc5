using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;

using ConntrackTools.Inet;
namespace ConntrackTools.Inet;

/// <summary>
/// Protocol names from /etc/protocols (as conntrack -p takes them: igmp, esp, ...), read once. Names and aliases
/// are case-insensitive; a missing or unreadable file leaves only the built-in names and numbers.
/// </summary>
public static class ProtocolDatabase
{
    private static readonly Lazy<Dictionary<string, byte>> Table = new(() => Load("/etc/protocols"));

    public static bool TryLookup(string name, out byte number) => Table.Value.TryGetValue(name, out number);

    /// <summary>Every name known here (built-in names first), for completion.</summary>
    public static IEnumerable<string> Names =>
        Protocols.KnownNames.Concat(Table.Value.Keys.Where(k => !Protocols.KnownNames.Contains(k, StringComparer.OrdinalIgnoreCase))
            .OrderBy(k => k, StringComparer.Ordinal));

    internal static Dictionary<string, byte> Load(string path)
    {
        var d = new Dictionary<string, byte>(StringComparer.OrdinalIgnoreCase);
        string[] lines;
        try { lines = File.ReadAllLines(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return d; }
        foreach (var raw in lines)
        {
            int hash = raw.IndexOf('#');
            var fields = (hash >= 0 ? raw[..hash] : raw).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 2 || !byte.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out byte n)) continue;
            d.TryAdd(fields[0], n);
            for (int i = 2; i < fields.Length; i++) d.TryAdd(fields[i], n);
        }
        return d;
    }
}
