using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text.RegularExpressions;

namespace ConntrackTools.Lab;

/// <summary>
/// What the lab's markers share (<see cref="SandboxOwner"/>, <see cref="VipOwner"/>): a file named by a six-digit hex id
/// in a folder under /run/conntracktools, whose line starts <c>pid PID start STARTTIME</c>. The start time (field 22 of
/// /proc/PID/stat, in clock ticks since boot) tells a live owner from an unrelated process that got the same PID later.
/// </summary>
internal abstract partial class OwnerMarker
{
    protected OwnerMarker(string id, int processId, ulong startTime)
    {
        Id = id;
        ProcessId = processId;
        StartTime = startTime;
    }

    public string Id { get; }
    public int ProcessId { get; }
    public ulong StartTime { get; }

    /// <summary>The process that wrote the marker still runs.</summary>
    private bool IsAlive() => IsRunning(ProcessId, StartTime);

    /// <summary>Process <paramref name="pid"/> runs and is the one that started at <paramref name="startTime"/> (0: any).</summary>
    internal static bool IsRunning(int pid, ulong startTime) => StartTimeOf(pid) is ulong start && (startTime == 0 || start == startTime);

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

    /// <summary>
    /// Writes marker <paramref name="id"/> in <paramref name="directory"/>, owned by this process:
    /// <c>pid PID start STARTTIME </c> and then <paramref name="details"/> on one line.
    /// </summary>
    protected static void Write(string directory, string id, string details)
    {
        System.IO.Directory.CreateDirectory(directory);
        int pid = Environment.ProcessId;
        ulong start = StartTimeOf(pid) ?? 0;
        File.WriteAllText(Path.Combine(directory, id), FormattableString.Invariant($"pid {pid} start {start} {details}\n"));
    }

    /// <summary>The markers in <paramref name="directory"/> whose owner no longer runs; <paramref name="read"/> parses one file (null: not a marker of this kind).</summary>
    protected static IEnumerable<T> Orphans<T>(string directory, Func<string, T?> read) where T : OwnerMarker
    {
        foreach (var file in Files(directory))
            if (read(file) is T owner && !owner.IsAlive()) yield return owner;
    }

    /// <summary>The marker files in <paramref name="directory"/>; none when it is missing or unreadable.</summary>
    private static string[] Files(string directory)
    {
        try { return System.IO.Directory.Exists(directory) ? System.IO.Directory.GetFiles(directory) : []; }
        catch (IOException) { return []; }
        catch (UnauthorizedAccessException) { return []; }
    }

    /// <summary>The text of a marker file named by an id, or null (another name, or unreadable): foreign files are left alone.</summary>
    protected static string? ReadText(string file, out string id)
    {
        id = Path.GetFileName(file);
        if (!IdPattern().IsMatch(id)) return null;
        try { return File.ReadAllText(file); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>Deletes marker <paramref name="id"/> in <paramref name="directory"/>, if it can.</summary>
    protected static void Delete(string directory, string id)
    {
        try { File.Delete(Path.Combine(directory, id)); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    [GeneratedRegex("^[0-9a-f]{6}$")]
    private static partial Regex IdPattern();
}
