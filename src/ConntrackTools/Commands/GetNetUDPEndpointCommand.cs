using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using ConntrackTools.Inet;
using ConntrackTools.Conntrack;
using ConntrackTools.Sockets;

namespace ConntrackTools.Commands;

/// <summary>UDP sockets over NETLINK_SOCK_DIAG, with NetTCPIP's names, owners and the NAT view from conntrack.</summary>
[Cmdlet(VerbsCommon.Get, "NetUDPEndpoint")]
[OutputType(typeof(NetUDPEndpoint))]
public sealed class GetNetUDPEndpointCommand : SocketCmdlet
{
    protected override void ProcessRecord()
    {
        var query = BuildQuery(null);
        var result = new SocketDumpResult();
        List<NetUDPEndpoint> list;
        try
        {
            list = new SocketReader(Namespace).Udp(query, !NoKernelFilter, result, Cancellation.Token);
        }
        catch (Exception e)
        {
            Terminate(e, NetworkNamespace);
            return;
        }
        Report(result, "UDP sockets");
        foreach (var c in list) WriteObject(c);
    }
}
