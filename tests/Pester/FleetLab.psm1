<#
.SYNOPSIS
    A fleet in network namespaces for the remoting tests: one controller namespace with a bridge and N node
    namespaces on it (198.18.14.0/24, the benchmarking range; addresses exist only inside these namespaces), each
    node running its own sshd (own config, host key, pid file, ListenAddress, key authentication, and the
    PowerShell subsystem). Every packet of the fleet stays inside these namespaces: ssh-keyscan and the client
    pwsh run inside the controller namespace (Invoke-FromController).
#>
Set-StrictMode -Version 3.0
Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1')

$script:Subnet = '198.18.14'

function Get-SubsystemPwsh {
    <#
        The pwsh executable of the restored local tool, in the NuGet package folder (this process's $PSHOME when
        it runs as 'dotnet pwsh'). 'dotnet pwsh' cannot serve as an sshd subsystem: sshd needs one executable.
    #>
    $exe = Join-Path $PSHOME 'pwsh'
    if (-not (Test-Path $exe)) { throw "No pwsh executable at ${exe}: run the tests through the restored local tool (dotnet pwsh)." }
    (Resolve-Path $exe).ProviderPath
}

function Wait-File {
    param([string] $Path, [string] $Because, [int] $TimeoutSeconds = 15)
    Wait-Until -Condition { (Test-Path $Path) -and (Get-Item $Path).Length -gt 0 } -Because $Because -TimeoutSeconds $TimeoutSeconds
}

function New-FleetLab {
    <# Builds the fleet; returns a description; remove with Remove-FleetLab (also called here on failure). #>
    param([int] $NodeCount = 3)
    $tag = [guid]::NewGuid().ToString('N').Substring(0, 6)
    $lab = [pscustomobject]@{
        Controller = $null; Nodes = [System.Collections.Generic.List[object]]::new(); Root = "/tmp/ctt-fleet-$tag"
        KeyFile = $null; KnownHosts = $null; HostsDir = $null; CreatedRunSshd = $false; Pwsh = $null; ModulePath = $null
    }
    try {
        $null = New-Item -ItemType Directory -Path $lab.Root
        & chmod 700 $lab.Root
        $lab.Controller = New-TestNamespace 'flc'
        $bridge = "br$tag"
        Invoke-Checked ip -n $lab.Controller link add $bridge type bridge | Out-Null
        Invoke-Checked ip -n $lab.Controller addr add "$script:Subnet.1/24" dev $bridge | Out-Null
        Invoke-Checked ip -n $lab.Controller link set $bridge up | Out-Null

        # Names for the nodes, resolved only inside the controller namespace: ip netns exec bind-mounts
        # /etc/netns/<namespace>/hosts over /etc/hosts for the commands it runs.
        $lab.HostsDir = "/etc/netns/$($lab.Controller)"
        $null = New-Item -ItemType Directory -Path $lab.HostsDir
        $hosts = @('127.0.0.1 localhost')

        # Client key (key authentication only) and the pwsh the subsystem runs.
        $lab.KeyFile = Join-Path $lab.Root 'client_ed25519'
        Invoke-Checked ssh-keygen -q -t ed25519 -N '' -C 'ctt-fleet-client' -f $lab.KeyFile | Out-Null
        Copy-Item "$($lab.KeyFile).pub" (Join-Path $lab.Root 'authorized_keys')
        $lab.Pwsh = Get-SubsystemPwsh
        if (-not (Test-Path /run/sshd)) { $null = New-Item -ItemType Directory /run/sshd; $lab.CreatedRunSshd = $true }

        for ($i = 1; $i -le $NodeCount; $i++) {
            $name = "n$i"
            $address = "$script:Subnet.$(10 + $i)"
            $ns = New-TestNamespace "fl$i"
            $dir = Join-Path $lab.Root $name
            $node = [pscustomobject]@{ Name = $name; Namespace = $ns; Address = $address; Dir = $dir; PidFile = (Join-Path $dir 'sshd.pid'); SshdPid = $null }
            $lab.Nodes.Add($node)
            $null = New-Item -ItemType Directory -Path $dir, (Join-Path $dir 'data'), (Join-Path $dir 'config'), (Join-Path $dir 'cache')
            $up = "fu$i$tag"; $down = "fd$i$tag"
            Invoke-Checked ip link add $up netns $lab.Controller type veth peer name $down netns $ns | Out-Null
            Invoke-Checked ip -n $lab.Controller link set $up master $bridge | Out-Null
            Invoke-Checked ip -n $lab.Controller link set $up up | Out-Null
            Invoke-Checked ip -n $ns addr add "$address/24" dev $down | Out-Null
            Invoke-Checked ip -n $ns link set $down up | Out-Null
            $hosts += "$address $name"

            $hostKey = Join-Path $dir 'ssh_host_ed25519_key'
            Invoke-Checked ssh-keygen -q -t ed25519 -N '' -C "ctt-fleet-$name" -f $hostKey | Out-Null
            $config = Join-Path $dir 'sshd_config'
            # XDG_* give each node its own user module path ($XDG_DATA_HOME/powershell/Modules), so a module copied
            # there with Copy-Item -ToSession is found by name on that node only.
            @(
                "ListenAddress $address"
                'Port 22'
                "HostKey $hostKey"
                "PidFile $($node.PidFile)"
                "AuthorizedKeysFile $(Join-Path $lab.Root 'authorized_keys')"
                'PermitRootLogin prohibit-password'
                'PubkeyAuthentication yes'
                'PasswordAuthentication no'
                'KbdInteractiveAuthentication no'
                'UsePAM no'
                # The key folder lies under /tmp (world-writable): sshd refuses it unless StrictModes is off.
                'StrictModes no'
                'LogLevel VERBOSE'
                "SetEnv XDG_DATA_HOME=$dir/data XDG_CONFIG_HOME=$dir/config XDG_CACHE_HOME=$dir/cache"
                "Subsystem powershell $($lab.Pwsh) -sshs -NoLogo -NoProfile"
            ) | Set-Content $config
            Invoke-Checked /usr/sbin/sshd -t -f $config | Out-Null
            # sshd daemonizes and writes its pid file once it listens.
            Invoke-Checked ip netns exec $ns /usr/sbin/sshd -f $config -E (Join-Path $dir 'sshd.log') | Out-Null
            Wait-File $node.PidFile "sshd of $name to write its pid file"
            $node.SshdPid = [int](Get-Content $node.PidFile -Raw).Trim()
        }
        $hosts | Set-Content (Join-Path $lab.HostsDir 'hosts')

        # Host keys from inside the controller namespace, by name, as the client will look them up.
        $lab.KnownHosts = Join-Path $lab.Root 'known_hosts'
        $names = @($lab.Nodes.Name)
        Wait-Until -TimeoutSeconds 20 -Because 'ssh-keyscan to reach every node' -Condition {
            $keys = @(& ip netns exec $lab.Controller ssh-keyscan -T 3 -t ed25519 @names 2>$null | Where-Object { $_ -match '^\S+ ssh-ed25519 ' })
            if ($keys.Count -eq $names.Count) { $keys | Set-Content $lab.KnownHosts; $true } else { $false }
        }
        $lab
    }
    catch {
        Remove-FleetLab $lab
        throw
    }
}

function Remove-FleetLab {
    <# Stops every sshd by its PID, removes the namespaces, the hosts file folder and the lab folder; never throws. #>
    param($Lab)
    if (-not $Lab) { return }
    foreach ($node in $Lab.Nodes) {
        $sshdPid = $node.SshdPid
        if (-not $sshdPid -and (Test-Path $node.PidFile)) { $sshdPid = [int](Get-Content $node.PidFile -Raw).Trim() }
        if ($sshdPid) {
            # Only if that PID is still our sshd (its command line names our config).
            $cmdline = Get-Content "/proc/$sshdPid/cmdline" -Raw -ErrorAction Ignore
            if ($cmdline -and $cmdline.Contains($node.Dir)) {
                & kill -TERM $sshdPid 2>$null
                $deadline = [datetime]::UtcNow.AddSeconds(5)
                while ((Test-Path "/proc/$sshdPid") -and [datetime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
                if (Test-Path "/proc/$sshdPid") { & kill -KILL $sshdPid 2>$null }
            }
        }
    }
    # Remove-TestNamespace also ends what is left in the namespaces (session pwsh processes of sshd's children).
    Remove-TestNamespace (@($Lab.Nodes.Namespace) + @($Lab.Controller))
    if ($Lab.HostsDir -and (Test-Path $Lab.HostsDir)) { Remove-Item $Lab.HostsDir -Recurse -Force -ErrorAction Ignore }
    if ($Lab.CreatedRunSshd -and (Test-Path /run/sshd) -and -not (Get-ChildItem /run/sshd -Force)) { Remove-Item /run/sshd -Force -ErrorAction Ignore }
    if ($Lab.Root -and $Lab.Root.StartsWith('/tmp/ctt-fleet-') -and (Test-Path $Lab.Root)) { Remove-Item $Lab.Root -Recurse -Force -ErrorAction Ignore }
}

function Invoke-FromController {
    <#
        Runs a script in a new pwsh inside the controller namespace (the operator's machine) and returns what it
        returned, through Export-Clixml. The script sees $Nodes (host names), $SshOptions (the -Options hashtable),
        $KeyFile, $ModuleSource (the built module folder) and $Lab. Throws with the client's error output on failure.
    #>
    param([Parameter(Mandatory)] $Lab, [Parameter(Mandatory)] [string] $Script, [int] $TimeoutSeconds = 120)
    $id = [guid]::NewGuid().ToString('N').Substring(0, 8)
    $file = Join-Path $Lab.Root "client-$id.ps1"
    $result = Join-Path $Lab.Root "client-$id.xml"
    $labFile = Join-Path $Lab.Root "client-$id.lab.xml"
    $Lab | Export-Clixml $labFile
    @"
`$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
`$Lab = Import-Clixml '$labFile'
`$Nodes = @(`$Lab.Nodes | ForEach-Object Name)
`$KeyFile = `$Lab.KeyFile
`$ModuleSource = '$(Split-Path $env:CONNTRACKTOOLS_MODULE -Parent)'
`$SshOptions = @{ UserKnownHostsFile = `$Lab.KnownHosts; StrictHostKeyChecking = 'yes'; BatchMode = 'yes' }
`$out = & {
$Script
}
,@(`$out) | Export-Clixml -Depth 4 '$result'
"@ | Set-Content $file
    $pwsh = Get-PwshCommand
    $psi = [System.Diagnostics.ProcessStartInfo]::new('ip')
    foreach ($a in @('netns', 'exec', $Lab.Controller) + $pwsh + @('-NoProfile', '-NonInteractive', '-File', $file)) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $p = [System.Diagnostics.Process]::Start($psi)
    try {
        $stdout = $p.StandardOutput.ReadToEndAsync()
        $stderr = $p.StandardError.ReadToEndAsync()
        if (-not $p.WaitForExit($TimeoutSeconds * 1000)) { $p.Kill($true); throw "The controller's pwsh did not finish in $TimeoutSeconds s." }
        $p.WaitForExit()
        if ($p.ExitCode -ne 0 -or -not (Test-Path $result)) {
            $logs = foreach ($node in $Lab.Nodes) { "--- sshd of $($node.Name):"; Get-Content (Join-Path $node.Dir 'sshd.log') -Tail 8 -ErrorAction Ignore }
            throw "The controller's pwsh failed ($($p.ExitCode)): $($stderr.Result) $($stdout.Result)`n$($logs -join "`n")"
        }
        Import-Clixml $result
    }
    finally {
        if (-not $p.HasExited) { $p.Kill($true) }
        $p.Dispose()
        Remove-Item $file, $result, $labFile -ErrorAction Ignore
    }
}

Export-ModuleMember -Function New-FleetLab, Remove-FleetLab, Invoke-FromController, Get-SubsystemPwsh
