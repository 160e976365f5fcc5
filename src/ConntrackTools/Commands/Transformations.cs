using System;
using System.Globalization;
using System.Management.Automation;

namespace ConntrackTools.Commands;

/// <summary>
/// Lets a [TimeSpan] parameter take a bare number as seconds (-Duration 30 is 30 s, not 30 ticks), while
/// '00:01:30' and (New-TimeSpan -Minutes 2) keep working.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class SecondsToTimeSpanAttribute : ArgumentTransformationAttribute
{
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        object v = inputData is PSObject pso ? pso.BaseObject : inputData;
        switch (v)
        {
            case null: return null!;
            case TimeSpan: return v;
            case int or long or short or byte or uint or ulong or ushort or sbyte:
                return TimeSpan.FromSeconds(Convert.ToDouble(v, CultureInfo.InvariantCulture));
            case double d: return TimeSpan.FromSeconds(d);
            case float f: return TimeSpan.FromSeconds(f);
            case decimal m: return TimeSpan.FromSeconds((double)m);
            case string s:
                if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double secs)) return TimeSpan.FromSeconds(secs);
                if (TimeSpan.TryParse(s, CultureInfo.InvariantCulture, out var ts)) return ts;
                throw new ArgumentTransformationMetadataException($"'{s}' is neither a number of seconds nor a time span such as '00:01:30'.");
            default:
                return v;
        }
    }
}
