<#
.SYNOPSIS
    The packet tests' helpers on the incident's lab (New-NatLab -Router: a client node that masquerades
    --random-fully towards a pod network, a router, and a server): a TCP server and a scriptable TCP client in it
    (tools/traffic.py), and captures run as an operator runs them. Builds on TestLab.psm1.
#>
Set-StrictMode -Version 3.0
Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1')

function Read-ProcessLine {
    <# The next line the process writes, waiting at most -TimeoutSeconds. #>
    param([Parameter(Mandatory)] [System.Diagnostics.Process] $Process, [int] $TimeoutSeconds = 10)
    $line = $Process.StandardOutput.ReadLineAsync()
    if (-not $line.Wait([timespan]::FromSeconds($TimeoutSeconds))) { throw "No answer from process $($Process.Id) within $TimeoutSeconds s." }
    $line.Result
}

function Start-LabServer {
    <# The TCP server on the lab's server address and port (reads and discards); returns once it listens. #>
    param([Parameter(Mandatory)] $Lab)
    Start-Traffic $Lab.Server @('serve', $Lab.ServerAddress, "$($Lab.ServerPort)", '--mode', 'sink') -Ready
}

function Start-LabClient {
    <# The scriptable TCP client in the client node (tools/traffic.py client: 'open 3', 'send 1', 'state 1'). #>
    param([Parameter(Mandatory)] $Lab)
    Start-Traffic $Lab.Client @('client', $Lab.ServerAddress, "$($Lab.ServerPort)")
}

function Invoke-ProcessCommand {
    <# Writes one command line to a scripted process (the lab client: 'open 3', 'send 1', 'state 1') and returns its answer. #>
    param([Parameter(Mandatory)] [System.Diagnostics.Process] $Process, [Parameter(Mandatory)] [string] $Command, [int] $TimeoutSeconds = 10)
    $Process.StandardInput.WriteLine($Command)
    $Process.StandardInput.Flush()
    Read-ProcessLine $Process $TimeoutSeconds
}

function Start-CaptureJob {
    <#
    .SYNOPSIS
        Runs a capture pipeline in a thread job, as an operator runs it in a console, and returns once Watch-Packet
        reports (-Verbose) that its device is open. The script block gets the module path first, then -ArgumentList.
        Stop-Job stops it the way Ctrl+C does.
    #>
    param([Parameter(Mandatory)] [scriptblock] $ScriptBlock, [object[]] $ArgumentList = @())
    $job = Start-ThreadJob -ScriptBlock $ScriptBlock -ArgumentList (@($env:CONNTRACKTOOLS_MODULE) + $ArgumentList)
    Wait-Until { @($job.Verbose | Where-Object Message -Like 'Capturing on*').Count -gt 0 -or $job.State -in 'Completed', 'Failed', 'Stopped' } 'the capture device to open'
    if ($job.State -ne 'Running') { throw "The capture did not start: $($job.Error)" }
    $job
}

function Get-PacketSocketCount {
    <# The packet (capture) sockets open in a namespace: /proc/net/packet has a header line, then one line each. #>
    param([Parameter(Mandatory)] [string] $Namespace)
    @(Invoke-Checked ip netns exec $Namespace cat /proc/net/packet).Count - 1
}

Export-ModuleMember -Function Read-ProcessLine, Start-LabServer, Start-LabClient,
    Invoke-ProcessCommand, Start-CaptureJob, Get-PacketSocketCount
