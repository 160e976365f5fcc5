using System.Management.Automation;
using ConntrackTools.Evidence;

namespace ConntrackTools.Commands;

/// <summary>Reads an evidence bundle back into objects, one ConntrackEvidence per namespace in it.</summary>
[Cmdlet(VerbsData.Import, "ConntrackEvidence")]
[OutputType(typeof(ConntrackEvidence))]
public sealed class ImportConntrackEvidenceCommand : PSCmdlet
{
    /// <summary>The zip written by Export-ConntrackEvidence.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    protected override void ProcessRecord()
    {
        string path = GetUnresolvedProviderPathFromPSPath(Path);
        try
        {
            foreach (var evidence in EvidenceImporter.Import(path)) WriteObject(evidence);
        }
        catch (ConntrackToolsException e)
        {
            WriteError(ErrorMapping.ToErrorRecord(e, path, MyInvocation));
        }
    }
}
