using System;
using System.Globalization;
using System.Management.Automation;

namespace ConntrackTools.Commands;

/// <summary>
/// Lets a 32-bit mark parameter take what conntrack takes: 0xffffffff (which PowerShell reads as the int -1),
/// 0xffff0000, and '0x2a' as text. Negative int32 values are their two's-complement bit pattern.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class MarkBitsAttribute : ArgumentTransformationAttribute
{
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        object v = inputData is PSObject pso ? pso.BaseObject : inputData;
        return v switch
        {
            int i => unchecked((uint)i),
            long l when l is >= int.MinValue and <= uint.MaxValue => unchecked((uint)l),
            string s when s.Trim().StartsWith("0x", StringComparison.OrdinalIgnoreCase) &&
                          uint.TryParse(s.Trim()[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out uint h) => h,
            _ => v!,
        };
    }
}
