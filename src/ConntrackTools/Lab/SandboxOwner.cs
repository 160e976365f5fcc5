using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.RegularExpressions;

namespace ConntrackTools.Lab;

/// <summary>
/// The marker that ties a sandbox to the process that made it: /run/conntracktools/sandbox/ID, one line
/// <c>pid PID start STARTTIME namespaces NS1 NS2 ...</c> (see <see cref="OwnerMarker"/>).
/// </summary>
internal sealed partial class SandboxOwner : OwnerMarker
{
    public const string Directory = "/run/conntracktools/sandbox";

    private SandboxOwner(string id, int processId, ulong startTime, string[] namespaces)
        : base(id, processId, startTime) => Namespaces = namespaces;

    public string[] Namespaces { get; }

    /// <summary>Writes the marker for sandbox <paramref name="id"/>, owned by this process, before any namespace exists.</summary>
    public static void Record(string id, IEnumerable<string> namespaces) => Write(Directory, id, $"namespaces {string.Join(' ', namespaces)}");

    public static void Forget(string id) => Delete(Directory, id);

    public void Delete() => Forget(Id);

    /// <summary>Markers whose owner no longer runs. Unreadable or foreign files are left alone.</summary>
    public static IEnumerable<SandboxOwner> FindOrphans() => Orphans(Directory, Read);

    private static SandboxOwner? Read(string file)
    {
        if (ReadText(file, out string id) is not string text) return null;
        var m = MarkerPattern().Match(text);
        if (!m.Success) return null;
        // Only this sandbox's own namespaces, whatever else the file may say.
        var names = m.Groups["ns"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Where(n => n.StartsWith($"ctt-vip-{id}-", StringComparison.Ordinal) && NamePattern().IsMatch(n)).ToArray();
        return new SandboxOwner(id, int.Parse(m.Groups["pid"].Value, CultureInfo.InvariantCulture),
            ulong.Parse(m.Groups["start"].Value, CultureInfo.InvariantCulture), names);
    }

    [GeneratedRegex("^ctt-vip-[0-9a-f]{6}-(client|router|pod)$")]
    private static partial Regex NamePattern();

    [GeneratedRegex(@"^pid (?<pid>\d{1,9}) start (?<start>\d{1,20}) namespaces (?<ns>[^\n]*)\n?$")]
    private static partial Regex MarkerPattern();
}
