#Requires -Version 7.4
<#
    A watcher whose network namespace goes away says so and ends (issue 13, item 1): Watch-Conntrack,
    Watch-AddressChange and Watch-Packet, with the namespace given by name, by path and by PID. As root, in private
    ctt-* namespaces. The watched namespace is joined by a veth pair to a second test namespace (the "holder"); the
    kernel removes the holder's end only once the watched namespace is really freed, so its disappearance proves the
    watcher released every socket and capture handle it had there.
#>

BeforeDiscovery {
    $script:Cases = foreach ($command in 'Watch-Conntrack', 'Watch-AddressChange', 'Watch-Packet') {
        foreach ($given in 'Name', 'Path', 'Pid') { @{ Command = $command; Given = $given } }
    }
    $script:Cases += @{ Command = 'Watch-AddressChange'; Given = 'Name'; Impact = $true }
}

BeforeAll {
    Import-Module $env:CONNTRACKTOOLS_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'WatchLab.psm1') -Force
    $script:Root = Test-IsRoot
    $script:HaveUnshare = [bool](Get-Command unshare -ErrorAction Ignore)
}

Describe 'A watcher whose network namespace goes away' -Tag 'Privileged' {
    BeforeEach {
        $script:holder = $null; $script:watched = $null; $script:owner = $null; $script:w = $null
    }
    AfterEach {
        Remove-Watcher $script:w
        if ($script:owner -and -not $script:owner.HasExited) { $script:owner.Kill(); $script:owner.WaitForExit(2000) | Out-Null }
        if ($script:owner) { $script:owner.Dispose() }
        Remove-TestNamespace $script:watched, $script:holder
    }

    It '<Command> given by <Given> warns, releases the namespace and ends with NetworkNamespaceGone' -ForEach $Cases {
        if (-not $script:Root) { Set-ItResult -Skipped -Because 'namespaces and watchers need root'; return }
        if ($Given -eq 'Pid' -and -not $script:HaveUnshare) { Set-ItResult -Skipped -Because 'unshare (util-linux) is not installed'; return }
        $script:holder = New-TestNamespace -Tag 'gh'
        $tag = $holder.Substring($holder.Length - 6)
        $near = "gn$tag"; $far = "gf$tag"
        if ($Given -eq 'Pid') {
            # A namespace with no name: only this process keeps it, so the PID is the only way to reach it.
            $psi = [System.Diagnostics.ProcessStartInfo]::new('unshare')
            foreach ($a in '--net', '--', 'sleep', '600') { $psi.ArgumentList.Add($a) }
            $script:owner = [System.Diagnostics.Process]::Start($psi)
            Wait-Until -Condition { Test-Path "/proc/$($owner.Id)/ns/net" } -Because 'the namespace owner runs'
            Wait-Until -Condition { (& readlink "/proc/$($owner.Id)/ns/net") -ne (& readlink /proc/self/ns/net) } -Because 'unshare made its namespace'
            $spec = "$($owner.Id)"
            Invoke-Checked ip -n $holder link add $far type veth peer name $near netns $owner.Id | Out-Null
            Invoke-Checked nsenter "--net=/proc/$($owner.Id)/ns/net" ip link set lo up | Out-Null
            Invoke-Checked nsenter "--net=/proc/$($owner.Id)/ns/net" ip link set $near up | Out-Null
        }
        else {
            $script:watched = New-TestNamespace -Tag 'gw'
            $spec = if ($Given -eq 'Name') { $watched } else { "/run/netns/$watched" }
            Invoke-Checked ip -n $holder link add $far type veth peer name $near netns $watched | Out-Null
            Invoke-Checked ip -n $watched link set $near up | Out-Null
        }
        $parameters = @{ NetworkNamespace = $spec }
        if ($Command -eq 'Watch-Packet') { $parameters.InterfaceName = $near }
        if ($Impact) { $parameters.IncludeConntrackImpact = $true }
        $script:w = Start-Watcher -Command $Command -Parameters $parameters
        # With -IncludeConntrackImpact, 'Listening' comes before the conntrack side opens: wait for its snapshot.
        Wait-WatcherReady -Watcher $w -Pattern $(if ($Impact) { '^Conntrack table snapshot' } else { '^(Listening|Capturing)' })

        # The namespace goes away under the watcher.
        if ($Given -eq 'Pid') { $owner.Kill(); $owner.WaitForExit(5000) | Out-Null }
        else { Invoke-Checked ip netns del $watched | Out-Null }
        # Its sockets kept it alive: the holder still sees its end of the veth pair until the watcher lets go.
        if (-not $w.Async.AsyncWaitHandle.WaitOne([timespan]::FromSeconds(15))) { throw "$Command still runs 15 s after its namespace went away." }
        $null = $w.PowerShell.EndInvoke($w.Async)

        $w.PowerShell.InvocationStateInfo.State | Should -Be 'Completed'   # ended by itself, not terminated
        $errors = @($w.PowerShell.Streams.Error)
        $errors | Should -HaveCount 1
        $errors[0].FullyQualifiedErrorId | Should -Be ("NetworkNamespaceGone,ConntrackTools.Commands.{0}Command" -f ($Command -replace '-', ''))
        "$($errors[0].CategoryInfo.Category)" | Should -Be 'ResourceUnavailable'
        $errors[0].TargetObject | Should -Be $spec
        $expected = if ($Given -eq 'Pid') { "process $spec has exited" } else { 'no longer exists' }
        "$($errors[0])" | Should -Match ([regex]::Escape($expected))
        @($w.PowerShell.Streams.Warning.Message) -match 'is gone' | Should -HaveCount 1

        # End state: the kernel freed the namespace (its veth end went with it), nothing of it is left.
        Wait-Until -Condition { -not (& ip -n $holder link show $far 2>$null) } -Because "the watched namespace is freed once $Command let go (veth $far disappears)"
        if ($Given -ne 'Pid') { Test-Path "/run/netns/$watched" | Should -BeFalse }
    }

    It 'keeps watching while the namespace stays' {
        if (-not $script:Root) { Set-ItResult -Skipped -Because 'namespaces and watchers need root'; return }
        $script:watched = New-TestNamespace -Tag 'gs'
        $script:w = Start-Watcher -Command Watch-Conntrack -Parameters @{ NetworkNamespace = $watched; Duration = 2.5 }
        $events = Complete-Watcher -Watcher $w
        $events | Should -BeNullOrEmpty
        $w.PowerShell.InvocationStateInfo.State | Should -Be 'Completed'
        @($w.PowerShell.Streams.Error) | Should -HaveCount 0
    }
}
