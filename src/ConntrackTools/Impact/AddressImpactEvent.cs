namespace ConntrackTools;

/// <summary>
/// An address change as Watch-AddressChange -IncludeConntrackImpact reports it: the change, and for a removal the
/// conntrack entries destroyed within the window after it.
/// </summary>
public sealed class AddressImpactEvent : AddressChangeEvent
{
    internal AddressImpactEvent(AddressChangeEvent change, int? destroyed = null, int? unrelated = null, ConntrackEntry[]? sample = null)
        : base(change)
    {
        DestroyedEntries = destroyed;
        DestroyedUnrelated = unrelated;
        DestroyedSample = sample;
    }

    /// <summary>On removals: conntrack entries destroyed within the window. Null for additions.</summary>
    public int? DestroyedEntries { get; }

    /// <summary>
    /// On removals: destroyed entries whose translated (NAT) address is not the removed address. Non-zero right after
    /// a removal is what an unfixed kernel's masquerade flush looks like. Null for additions.
    /// </summary>
    public int? DestroyedUnrelated { get; }

    /// <summary>On removals: some of the destroyed entries, unrelated ones first. Null for additions.</summary>
    public ConntrackEntry[]? DestroyedSample { get; }
}
