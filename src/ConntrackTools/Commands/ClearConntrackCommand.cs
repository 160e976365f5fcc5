using System.Management.Automation;
using ConntrackTools.Conntrack;
using ConntrackTools.Namespaces;
using ConntrackTools.Netlink;

namespace ConntrackTools.Commands;

/// <summary>Flushes the whole conntrack table of the namespace.</summary>
[Cmdlet(VerbsCommon.Clear, "Conntrack", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(void))]
public sealed class ClearConntrackCommand : NetworkNamespaceCmdlet
{
    /// <summary>Flush only the entries of this family (conntrack -F -f ipv4); All (the default) flushes everything.</summary>
    [Parameter]
    [Alias("Family")]
    public IPFamily AddressFamily { get; set; } = IPFamily.All;

    protected override void EndProcessing()
    {
        string where = NetworkNamespace is null ? "the current network namespace" : $"network namespace '{NetworkNamespace}'";
        if (AddressFamily != IPFamily.All) where = $"the {AddressFamily} entries of {where}";
        try
        {
            var client = CreateClient();
            uint before;
            try { before = client.Statistics().Count; }
            catch (NetlinkException n) when (n.Errno is Errno.EPERM or Errno.EACCES)
            {
                // The count for the confirmation is read first; say what was refused, not which request met the refusal.
                throw new InsufficientPrivilegeException($"Flushing the conntrack table of {where} needs CAP_NET_ADMIN: run Clear-Conntrack as root.", n);
            }
            if (!ShouldProcess(AddressFamily == IPFamily.All ? $"{before} entries in {where}" : where, "Flush the conntrack table")) return;
            using (var session = new ConntrackSession(client)) session.Flush(AddressFamily);
            WriteVerbose($"Flushed the conntrack table of {where}: {before} entries were in it before the flush.");
        }
        catch (System.Exception e) when (e is not PipelineStoppedException)
        {
            Terminate(e, NetworkNamespace);
        }
    }
}
