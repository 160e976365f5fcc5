using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using ConntrackTools.Inet;
using ConntrackTools.Conntrack;
using ConntrackTools.Sockets;

namespace ConntrackTools.Commands;

/// <summary>TCP sockets over NETLINK_SOCK_DIAG, with NetTCPIP's names, owners and the NAT view from conntrack.</summary>
[Cmdlet(VerbsCommon.Get, "NetTCPConnection")]
[OutputType(typeof(NetTCPConnection))]
public sealed class GetNetTCPConnectionCommand : SocketCmdlet
{
    /// <summary>Any of these states (NetTCPIP's names: Listen, Established, TimeWait, ...).</summary>
    [Parameter]
    public TcpState[]? State { get; set; }

    protected override void ProcessRecord() =>
        ReadAndWrite(State, "TCP sockets", (reader, query, result) => reader.Tcp(query, !NoKernelFilter, result, Cancellation.Token));
}
