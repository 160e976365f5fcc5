using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;

using ConntrackTools.Inet;
namespace ConntrackTools.Conntrack;

/// <summary>
/// Connection label names: the connlabel.conf format of iptables/nftables (one "bit name" per line, # comments),
/// read from /etc/xtables/connlabel.conf by default. A label is given by name or by bit number 0-127.
/// </summary>
public sealed class ConnLabelMap
{
    public const string DefaultPath = "/etc/xtables/connlabel.conf";

    private readonly Dictionary<string, int> _byName = new(StringComparer.Ordinal);

    public string? Path { get; private init; }

    private static readonly Lazy<ConnLabelMap> LazyDefault = new(() => File.Exists(DefaultPath) ? Load(DefaultPath) : new ConnLabelMap());

    public static ConnLabelMap Default => LazyDefault.Value;

    public static ConnLabelMap Load(string path)
    {
        var map = new ConnLabelMap { Path = path };
        foreach (var raw in File.ReadAllLines(path))
        {
            string line = raw.Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            var parts = line.Split((char[]?)null, 2, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int bit) && bit <= ConntrackMessages.MaxLabelBit)
                map._byName.TryAdd(parts[1].Trim(), bit);
        }
        return map;
    }

    /// <summary>The bit for a name or a number; FormatException naming the file when neither.</summary>
    public int Resolve(string label)
    {
        string t = label?.Trim() ?? "";
        if (int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out int bit))
        {
            if (bit > ConntrackMessages.MaxLabelBit) throw new FormatException($"label bit {bit} is outside 0-{ConntrackMessages.MaxLabelBit}.");
            return bit;
        }
        if (t.Length > 0 && _byName.TryGetValue(t, out bit)) return bit;
        throw new FormatException($"'{label}' is not a label bit number (0-{ConntrackMessages.MaxLabelBit}) nor a name in {Path ?? DefaultPath + " (which does not exist)"}.");
    }
}
