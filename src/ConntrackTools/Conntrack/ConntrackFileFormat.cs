namespace ConntrackTools;

/// <summary>File formats of Export-Conntrack and Import-Conntrack.</summary>
public enum ConntrackFileFormat
{
    /// <summary>conntrack's -o save format, one line per entry (what conntrack -R reads).</summary>
    Save,
    /// <summary>A JSON array of flat objects, one per line.</summary>
    Json,
}
