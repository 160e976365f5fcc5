using System;
using System.Linq;
using System.Management.Automation;
using ConntrackTools.Namespaces;
using ConntrackTools.Routing;

namespace ConntrackTools.Commands;

/// <summary>Every network namespace of the host: named ones (/run/netns, cni-* included) and the ones held only by a process.</summary>
[Cmdlet(VerbsCommon.Get, "NetworkNamespace")]
[OutputType(typeof(NetworkNamespaceInfo))]
public sealed class GetNetworkNamespaceCommand : PSCmdlet
{
    /// <summary>Only namespaces whose name matches (wildcards allowed); unnamed namespaces have no name and never match.</summary>
    [Parameter(Position = 0)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(NetworkNamespaceCompleter))]
    public string[]? Name { get; set; }

    protected override void EndProcessing()
    {
        var patterns = Name?.Select(n => WildcardPattern.Get(n, WildcardOptions.IgnoreCase)).ToArray();
        if (!Privileges.Has(Privileges.CAP_SYS_ADMIN))
            WriteWarning("Not running as root: only the namespaces of your own processes and the named ones are visible, and hostnames cannot be read.");
        try
        {
            using var ids = NetNsIds.Open();
            var all = NamespaceInventory.List(ids.Of);
            WriteVerbose($"Found {all.Count} network namespaces: {all.Count(n => n.Name is not null)} named (in {string.Join(", ", NamespaceInventory.ExistingNamedDirectories())}), " +
                         $"{all.Count(n => n.Name is null)} held only by processes.");
            foreach (var ns in all)
                if (patterns is null || (ns.Name is not null && patterns.Any(p => p.IsMatch(ns.Name))))
                    WriteObject(ns);
        }
        catch (ConntrackToolsException e)
        {
            ThrowTerminatingError(ErrorMapping.ToErrorRecord(e, null, MyInvocation));
        }
    }
}
