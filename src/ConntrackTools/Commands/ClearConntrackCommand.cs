using System.Management.Automation;
using ConntrackTools.Namespaces;
using ConntrackTools.Netlink;

namespace ConntrackTools.Commands;

/// <summary>Flushes the whole conntrack table of the namespace.</summary>
[Cmdlet(VerbsCommon.Clear, "Conntrack", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(void))]
public sealed class ClearConntrackCommand : NetworkNamespaceCmdlet
{
    protected override void EndProcessing()
    {
        string where = NetworkNamespace is null ? "the current network namespace" : $"network namespace '{NetworkNamespace}'";
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
            if (!ShouldProcess($"{before} entries in {where}", "Flush the conntrack table")) return;
            client.Flush();
            WriteVerbose($"Flushed the conntrack table of {where}: {before} entries were in it before the flush.");
        }
        catch (System.Exception e) when (e is not PipelineStoppedException)
        {
            Terminate(e, NetworkNamespace);
        }
    }
}
