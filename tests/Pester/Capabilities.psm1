<#
.SYNOPSIS
    Drops one capability from the calling thread only (capset(2) acts on the calling thread). A test reads what it
    needs with every capability, then drops one and runs the cmdlet under test on the same thread: sockets opened
    afterwards carry the reduced credentials, and threads started afterwards inherit them.
#>
Set-StrictMode -Version 3.0

Add-Type -TypeDefinition @'
using System;
using System.Runtime.InteropServices;
public static class CttThreadCapability
{
    [StructLayout(LayoutKind.Sequential)] private struct Header { public uint Version; public int Pid; }
    [StructLayout(LayoutKind.Sequential)] private struct Data { public uint Effective, Permitted, Inheritable; }
    [DllImport("libc", SetLastError = true)] private static extern int capget(ref Header h, [In, Out] Data[] d);
    [DllImport("libc", SetLastError = true)] private static extern int capset(ref Header h, [In] Data[] d);
    public static void Drop(int capability)
    {
        var h = new Header { Version = 0x20080522, Pid = 0 };   // _LINUX_CAPABILITY_VERSION_3, this thread
        var d = new Data[2];
        if (capget(ref h, d) != 0) throw new InvalidOperationException("capget failed: errno " + Marshal.GetLastWin32Error());
        uint bit = 1u << (capability % 32);
        d[capability / 32].Effective &= ~bit;
        d[capability / 32].Permitted &= ~bit;
        if (capset(ref h, d) != 0) throw new InvalidOperationException("capset failed: errno " + Marshal.GetLastWin32Error());
    }
}
'@

function Remove-ThreadCapability {
    param([Parameter(Mandatory)] [int] $Capability)
    [CttThreadCapability]::Drop($Capability)
}

Export-ModuleMember -Function Remove-ThreadCapability
