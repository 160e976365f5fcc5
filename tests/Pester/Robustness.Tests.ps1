#Requires -Version 7.4
<#
    Fault tests (issue 13): a sandbox stranded by kill -9 is removed by the next run, which says so; twenty Ctrl+C
    stops of each long-running cmdlet leave no descriptor and no thread behind. As root, in private ctt-* namespaces.
#>

BeforeDiscovery {
    # Each long-running cmdlet, with the verbose line after which it is stopped. Test-VipMigration is stopped at every
    # phase in turn (the sandbox being built, the capture started, connections opening, the table read, the VIP held).
    $script:StopCases = @(
        @{ Command = 'Watch-Conntrack'; Parameters = @{}; Phases = @('^Listening') }
        @{ Command = 'Watch-AddressChange'; Parameters = @{ IncludeConntrackImpact = $true }; Phases = @('^Conntrack table snapshot') }
        @{ Command = 'Watch-Packet'; Parameters = @{ InterfaceName = 'lo' }; Phases = @('^Capturing') }
        @{ Command = 'Test-VipMigration'; Parameters = @{ Connections = 4; HoldTime = 0.5 }; Sandbox = $true
           Phases = @('^Build sandbox', '^Start capture', '^Open connections', '^Conntrack before', '^Add VIP', '^Delete VIP') }
    )
}

BeforeAll {
    Import-Module $env:CONNTRACKTOOLS_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'WatchLab.psm1') -Force
    $script:Root = Test-IsRoot
    $script:HaveNft = [bool](Get-Command nft -ErrorAction Ignore)

    # Our process's descriptors, and its threads except those the runtime starts and retires by its own rules (pool
    # workers, the background GC). Every thread the module starts has a name of its own, or is a '.NET Long Running
    # Task', and is counted.
    function Get-ProcessResource {
        $threads = @(Get-ChildItem "/proc/$PID/task" | ForEach-Object { (Get-Content "$($_.FullName)/comm" -ErrorAction Ignore) })
        # An assembly loaded for the first time keeps its file open for the life of the process (assemblies are never
        # unloaded): that is not a leak, so .dll files are left out of the count.
        $fds = @(Get-ChildItem "/proc/$PID/fd" | Where-Object { $_.Target -notlike '*.dll' })
        [pscustomobject]@{
            Fds     = $fds.Count
            Threads = @($threads | Where-Object { $_ -notin '.NET TP Worker', '.NET TP Gate', '.NET TP Wait', '.NET BGC' }).Count
            Names   = $threads
        }
    }
    function Get-FdKind {
        Get-ChildItem "/proc/$PID/fd" | Where-Object { $_.Target -notlike '*.dll' } | ForEach-Object {
            try { [IO.File]::ResolveLinkTarget($_.FullName, $false).Name -replace '\[\d+\]', '' } catch { '?' }
        } | Group-Object | ForEach-Object { "$($_.Count) $($_.Name)" }
    }
    function Get-SandboxMarker([int] $OwnerPid) {
        Get-ChildItem /run/conntracktools/sandbox -File -ErrorAction Ignore | Where-Object { (Get-Content $_.FullName -Raw) -match "^pid $OwnerPid " }
    }
}

Describe 'Test-VipMigration after kill -9' -Tag 'Privileged', 'Slow' {
    BeforeAll { $script:child = $null; $script:stranded = @() }
    AfterAll {
        if ($script:child -and -not $script:child.HasExited) { $script:child.Kill() }
        Remove-TestNamespace $script:stranded
        if ($script:child) { Get-SandboxMarker $script:child.Id | Remove-Item -ErrorAction Ignore; $script:child.Dispose() }
    }

    It 'leaves the sandbox behind, and the next run removes it and says so' {
        if (-not $script:Root) { Set-ItResult -Skipped -Because 'the sandbox needs root'; return }
        if (-not $script:HaveNft) { Set-ItResult -Skipped -Because 'nft is not installed'; return }
        $pwsh = @(Get-PwshCommand)
        $psi = [System.Diagnostics.ProcessStartInfo]::new($pwsh[0])
        $code = "Import-Module '$env:CONNTRACKTOOLS_MODULE'; Test-VipMigration -Connections 2 -HoldTime 600 | Out-Null"
        foreach ($a in @($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-Command', $code)) { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardOutput = $true
        $script:child = [System.Diagnostics.Process]::Start($psi)
        # In the hold: the marker names the owner, and the VIP is on the client node's uplink.
        Wait-Until -TimeoutSeconds 60 -Because 'the child run reaches the hold with the VIP added' -Condition {
            $m = Get-SandboxMarker $child.Id
            if (-not $m) { return $false }
            $script:stranded = @(((Get-Content $m.FullName -Raw) -split '\s+') -like 'ctt-vip-*')
            $script:stranded.Count -eq 3 -and [bool](& ip -n $stranded[0] -o addr show 2>$null | Select-String '192\.168\.11\.100')
        }
        $child.Kill()   # SIGKILL: no cleanup can run
        $child.WaitForExit()
        foreach ($n in $stranded) { Test-Path "/run/netns/$n" | Should -BeTrue -Because 'kill -9 strands the sandbox' }
        (& ip netns exec $stranded[0] nft list tables) -join ' ' | Should -Match 'ctt-lab'

        $result = Test-VipMigration -Connections 1 -HoldTime 0 -WarningVariable warnings -WarningAction SilentlyContinue
        $result.Passed | Should -Not -BeNullOrEmpty
        @($warnings.Message) -match "left behind by process $($child.Id)" | Should -HaveCount 1
        foreach ($n in $stranded) {
            Test-Path "/run/netns/$n" | Should -BeFalse
            @($warnings.Message) -match [regex]::Escape($n) | Should -HaveCount 1
        }
        Get-SandboxMarker $child.Id | Should -BeNullOrEmpty
        @(Get-ChildItem /run/netns -Filter "ctt-vip-*" | Where-Object { Get-SandboxMarker $PID }) | Should -BeNullOrEmpty -Because 'our own run cleaned up too'
    }
}

Describe 'Test-VipMigration -InterfaceName after kill -9' -Tag 'Privileged', 'Slow' {
    BeforeAll {
        $script:child = $null
        $script:ns = if ($script:Root) { New-TestNamespace -Tag 'vk' } else { $null }
        if ($script:ns) {
            Invoke-Checked ip -n $script:ns link add ctt-vk0 type veth peer name ctt-vk1 | Out-Null
            Invoke-Checked ip -n $script:ns link set ctt-vk0 up | Out-Null
            Invoke-Checked ip -n $script:ns link set ctt-vk1 up | Out-Null
        }
        function Get-VipMarker([int] $OwnerPid) {
            Get-ChildItem /run/conntracktools/vip -File -ErrorAction Ignore | Where-Object { (Get-Content $_.FullName -Raw) -match "^pid $OwnerPid " }
        }
    }
    AfterAll {
        if ($script:child -and -not $script:child.HasExited) { $script:child.Kill() }
        if ($script:child) { Get-VipMarker $script:child.Id | Remove-Item -ErrorAction Ignore; $script:child.Dispose() }
        Remove-TestNamespace $script:ns
    }

    It 'leaves the address on the interface, and the next run deletes it and says so' {
        if (-not $script:Root) { Set-ItResult -Skipped -Because 'adding an address needs root'; return }
        $pwsh = @(Get-PwshCommand)
        $psi = [System.Diagnostics.ProcessStartInfo]::new($pwsh[0])
        $code = "Import-Module '$env:CONNTRACKTOOLS_MODULE'; Test-VipMigration -NetworkNamespace $($script:ns) -InterfaceName ctt-vk0 -Address 192.168.55.9/32 -HoldTime 600 -Confirm:`$false | Out-Null"
        foreach ($a in @($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-Command', $code)) { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardOutput = $true
        $script:child = [System.Diagnostics.Process]::Start($psi)
        Wait-Until -TimeoutSeconds 60 -Because 'the child run reaches the hold with the address added' -Condition {
            (Get-VipMarker $child.Id) -and [bool](& ip -n $script:ns -o addr show dev ctt-vk0 2>$null | Select-String '192\.168\.55\.9/32')
        }
        $child.Kill()   # SIGKILL: no cleanup can run
        $child.WaitForExit()
        @(& ip -n $script:ns -o addr show dev ctt-vk0 | Select-String '192\.168\.55\.9/32').Count | Should -Be 1 -Because 'kill -9 strands the address'

        $result = Test-VipMigration -NetworkNamespace $script:ns -InterfaceName ctt-vk0 -Address 192.168.55.9/32 -HoldTime 0 -Confirm:$false -WarningVariable warnings -WarningAction SilentlyContinue
        @($warnings.Message) -match "Removed the address 192\.168\.55\.9/32 .*left by process $($child.Id)" | Should -HaveCount 1
        $result.Passed | Should -Not -BeNullOrEmpty -Because 'the address was free again for this run'
        @(& ip -n $script:ns -o addr show dev ctt-vk0 | Select-String '192\.168\.55\.9/32').Count | Should -Be 0
        Get-VipMarker $child.Id | Should -BeNullOrEmpty
        Get-VipMarker $PID | Should -BeNullOrEmpty -Because 'our own run removed its marker after deleting the address'
    }
}

Describe 'Twenty Ctrl+C stops leave nothing behind' -Tag 'Privileged', 'Slow' {
    BeforeAll {
        $script:ns = if ($script:Root) { New-TestNamespace -Tag 'lk' } else { $null }
    }
    AfterAll { Remove-TestNamespace $script:ns }

    It '<Command>: descriptors and threads return to where they were' -ForEach $StopCases {
        if (-not $script:Root) { Set-ItResult -Skipped -Because 'the watchers and the sandbox need root'; return }
        if ($Sandbox -and -not $script:HaveNft) { Set-ItResult -Skipped -Because 'nft is not installed'; return }
        $p = $Parameters.Clone()
        if (-not $Sandbox) { $p.NetworkNamespace = $script:ns }
        $stop = {
            param([string] $Phase)
            $w = Start-Watcher -Command $Command -Parameters $p
            try {
                Wait-WatcherReady -Watcher $w -Pattern $Phase
                Stop-Watcher -Watcher $w
                $w.PowerShell.InvocationStateInfo.State | Should -BeIn 'Stopped', 'Completed'
            }
            finally { Remove-Watcher $w }
        }
        # Warm-up, through every phase once: the first runs load code and assemblies and fill caches.
        for ($i = 0; $i -lt [Math]::Max(3, $Phases.Count); $i++) { & $stop $Phases[$i % $Phases.Count] }
        [GC]::Collect(); [GC]::WaitForPendingFinalizers()
        $before = Get-ProcessResource
        $kinds = Get-FdKind
        for ($i = 0; $i -lt 20; $i++) { & $stop $Phases[$i % $Phases.Count] }
        # No garbage collection here: what is released only by a finalizer counts as left behind.
        $after = Get-ProcessResource
        $leftFds = Compare-Object $kinds (Get-FdKind) | ForEach-Object { "$($_.SideIndicator) $($_.InputObject)" }
        $after.Fds | Should -Be $before.Fds -Because "descriptors changed: $($leftFds -join '; ')"
        $after.Threads | Should -Be $before.Threads -Because "threads before: $($before.Names -join ', '); after: $($after.Names -join ', ')"
        if ($Sandbox) { @(Get-ChildItem /run/netns -Filter 'ctt-vip-*' | Where-Object { Get-SandboxMarker $PID }) | Should -BeNullOrEmpty }
    }
}
