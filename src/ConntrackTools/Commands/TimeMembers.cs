using System;
using System.Globalization;
using System.Management.Automation;

namespace ConntrackTools.Commands;

/// <summary>
/// The getters behind the CodeProperty members of ConntrackTools.Types.ps1xml: every DateTime property of an output
/// type is read through them, so a time keeps its milliseconds wherever PowerShell turns it into text.
/// </summary>
/// <remarks>
/// Export-Csv writes <c>value.ToString()</c>, which for a DateTime is the culture's short date and long time: the
/// milliseconds that order the events of one flush are lost. Each getter returns the same DateTime wrapped in a
/// PSObject whose ToString() gives ISO 8601 round-trip text (<c>2026-12-01T12:54:10.1230000Z</c>); a
/// <c>ToString('HH:mm')</c> with a format still formats as DateTime does. The value stays a DateTime for everything
/// else: comparison, Sort-Object, <c>.AddSeconds()</c>, <c>GetType()</c>, ConvertTo-Json (ISO 8601 already) and
/// Export-Clixml (a DateTime element). Objects read back with Import-Clixml carry plain DateTimes again.
/// </remarks>
public static class TimeMembers
{
    private static readonly System.Reflection.MethodInfo FormatMethod = typeof(TimeMembers).GetMethod(nameof(Format))!;

    public static object? TimeReceived(PSObject instance) => instance.BaseObject switch
    {
        ConntrackEvent e => Wrap(e.TimeReceived),
        AddressChangeEvent a => Wrap(a.TimeReceived),
        _ => null,
    };

    public static object? StartTime(PSObject instance) => instance.BaseObject switch
    {
        ConntrackEntry e => Wrap(e.StartTime),
        ConntrackEvent e => Wrap(e.StartTime),
        _ => null,
    };

    public static object? Timestamp(PSObject instance) =>
        instance.BaseObject is CapturedPacket p ? Wrap(p.Timestamp) : null;

    public static object? Time(PSObject instance) => instance.BaseObject switch
    {
        SnatRemapFinding f => Wrap(f.Time),
        VipMigrationStep s => Wrap(s.Time),
        _ => null,
    };

    public static object? ResetTime(PSObject instance) =>
        instance.BaseObject is SnatRemapFinding f ? Wrap(f.ResetTime) : null;

    /// <summary>ToString of a wrapped time: ISO 8601 without a format, DateTime's own formatting with one.</summary>
    public static string Format(PSObject instance, string? format = null, IFormatProvider? provider = null)
    {
        var time = (DateTime)instance.BaseObject;
        return format is null
            ? time.ToString("o", CultureInfo.InvariantCulture)
            : time.ToString(format, provider ?? CultureInfo.CurrentCulture);
    }

    private static PSObject? Wrap(DateTime? time)
    {
        if (time is not DateTime t) return null;
        var wrapped = new PSObject(t);
        wrapped.Methods.Add(new PSCodeMethod("ToString", FormatMethod));
        return wrapped;
    }
}
