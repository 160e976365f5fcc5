namespace ConntrackTools.Capture;

/// <summary>
/// TCP sequence-number arithmetic (RFC 9293 section 3.4): numbers live on a 32-bit circle, so "before" and "after"
/// are decided by the signed distance, which stays right when a stream wraps past 2^32.
/// </summary>
internal static class SequenceSpace
{
    /// <summary>True when <paramref name="a"/> is at or before <paramref name="b"/>.</summary>
    public static bool AtOrBefore(uint a, uint b) => unchecked((int)(b - a)) >= 0;

    /// <summary>True when <paramref name="value"/> lies in [<paramref name="first"/>, <paramref name="last"/>].</summary>
    public static bool Within(uint value, uint first, uint last) => AtOrBefore(first, value) && AtOrBefore(value, last);

    /// <summary>The later of two sequence numbers.</summary>
    public static uint Latest(uint a, uint b) => AtOrBefore(a, b) ? b : a;
}
