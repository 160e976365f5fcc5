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
    protected override void ProcessRecord() =>
        ReadAndWrite(null, "UDP sockets", (reader, query, result) => reader.Udp(query, !NoKernelFilter, result, Cancellation.Token));
}
