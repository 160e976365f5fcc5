using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;

namespace ConntrackTools.Lab;

/// <summary>
/// The marker that ties a sandbox to the process that made it: /run/conntracktools/sandbox/ID, one line
/// <c>pid PID start STARTTIME namespaces NS1 NS2 ...</c>. The start time (field 22 of /proc/PID/stat, in clock ticks
/// since boot) tells a live owner from an unrelated process that got the same PID later.
/// </summary>
internal sealed partial class SandboxOwner
{
    public const string Directory = "/run/conntracktools/sandbox";

    private SandboxOwner(string id, int processId, ulong startTime, string[] namespaces)
    {
        Id = id;
        ProcessId = processId;
        StartTime = startTime;
        Namespaces = namespaces;
    }

    public string Id { get; }
    public int ProcessId { get; }
    public ulong StartTime { get; }
    public string[] Namespaces { get; }

    /// <summary>Writes the marker for sandbox <paramref name="id"/>, owned by this process, before any namespace exists.</summary>
    public static void Record(string id, IEnumerable<string> namespaces)
    {
        System.IO.Directory.CreateDirectory(Directory);
        int pid = Environment.ProcessId;
        ulong start = StartTimeOf(pid) ?? 0;
        File.WriteAllText(PathOf(id), $"pid {pid} start {start} namespaces {string.Join(' ', namespaces)}\n");
    }

    public static void Forget(string id)
    {
        try { File.Delete(PathOf(id)); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    public void Delete() => Forget(Id);

    /// <summary>Markers whose owner no longer runs. Unreadable or foreign files are left alone.</summary>
    public static IEnumerable<SandboxOwner> FindOrphans()
    {
        IEnumerable<string> files;
        try { files = System.IO.Directory.Exists(Directory) ? System.IO.Directory.EnumerateFiles(Directory).ToArray() : []; }
        catch (IOException) { yield break; }
        catch (UnauthorizedAccessException) { yield break; }
        foreach (var file in files)
        {
            var owner = Read(file);
            if (owner is not null && !owner.IsAlive()) yield return owner;
        }
    }

    private bool IsAlive() => IsRunning(ProcessId, StartTime);

    /// <summary>Process <paramref name="pid"/> runs and is the one that started at <paramref name="startTime"/> (0: any).</summary>
    internal static bool IsRunning(int pid, ulong startTime) => StartTimeOf(pid) is ulong start && (startTime == 0 || start == startTime);

    private static SandboxOwner? Read(string file)
    {
        string id = Path.GetFileName(file);
        if (!IdPattern().IsMatch(id)) return null;
        string text;
        try { text = File.ReadAllText(file); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
        var m = MarkerPattern().Match(text);
        if (!m.Success) return null;
        // Only this sandbox's own namespaces, whatever else the file may say.
        var names = m.Groups["ns"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Where(n => n.StartsWith($"ctt-vip-{id}-", StringComparison.Ordinal) && NamePattern().IsMatch(n)).ToArray();
        return new SandboxOwner(id, int.Parse(m.Groups["pid"].Value, CultureInfo.InvariantCulture),
            ulong.Parse(m.Groups["start"].Value, CultureInfo.InvariantCulture), names);
    }

    /// <summary>Field 22 of /proc/PID/stat (after the command name in parentheses, which may itself hold spaces); null when there is no such process.</summary>
    internal static ulong? StartTimeOf(int pid)
    {
        string stat;
        try { stat = File.ReadAllText($"/proc/{pid}/stat"); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
        int close = stat.LastIndexOf(')');
        if (close < 0) return null;
        var fields = stat[(close + 2)..].Split(' ');
        // fields[0] is field 3 (state), so field 22 is fields[19].
        return fields.Length > 19 && ulong.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var start) ? start : null;
    }

    private static string PathOf(string id) => Path.Combine(Directory, id);

    [GeneratedRegex("^[0-9a-f]{6}$")]
    private static partial Regex IdPattern();

    [GeneratedRegex("^ctt-vip-[0-9a-f]{6}-(client|router|pod)$")]
    private static partial Regex NamePattern();

    [GeneratedRegex(@"^pid (?<pid>\d{1,9}) start (?<start>\d{1,20}) namespaces (?<ns>[^\n]*)\n?$")]
    private static partial Regex MarkerPattern();
}
