#Requires -Version 7.4
<#
    Differential test: every TCP and UDP packet Read-PacketCapture writes is compared field by field with what
    tshark prints for the same frame (addresses, ports, flags, sequence, ack, window, payload length, wire and
    captured length, timestamp), over a folder of captures. In CI the folder is our own recordings
    (tests/ConntrackTools.Tests/Captures); CTT_CAPTURE_CORPUS names more folders (';'-separated), for example a local
    copy of tcpdump's tests/ directory. Any mismatch fails the test and is listed.
#>

BeforeDiscovery {
    $folders = @(@{ Folder = (Join-Path $PSScriptRoot '../ConntrackTools.Tests/Captures') })
    if ($env:CTT_CAPTURE_CORPUS) { $folders += @($env:CTT_CAPTURE_CORPUS -split ';' | Where-Object { $_ } | ForEach-Object { @{ Folder = $_ } }) }
}

BeforeAll {
    Import-Module $env:CONNTRACKTOOLS_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot 'TsharkCompare.psm1') -Force
    $tshark = Get-Command tshark -ErrorAction Ignore
}

Describe 'Read-PacketCapture against tshark over <Folder>' -ForEach $folders {
    BeforeAll {
        if (-not $tshark) { return }
        $result = Compare-CaptureFolder -Path $Folder
        Write-Host ("    {0}: {1} files, {2} TCP/UDP packets compared, {3} mismatches, {4} files refused, {5} warnings" -f
            $Folder, $result.Files, $result.Packets, $result.Mismatches.Count, $result.Errors.Count, $result.Warnings)
    }
    BeforeEach { if (-not $tshark) { Set-ItResult -Skipped -Because 'tshark is not installed (build.ps1 -Task Test installs it)' } }

    It 'compares packets' {
        $result.Files | Should -BeGreaterThan 0
        $result.Packets | Should -BeGreaterThan 0
    }

    It 'matches tshark on every field of every TCP and UDP packet' {
        $result.Mismatches | Select-Object -First 20 | Format-Table -AutoSize | Out-String -Width 200 | Write-Host
        $result.Mismatches.Count | Should -Be 0
    }

    It 'refuses no file with an exception of its own (only our error ids)' {
        @($result.Errors | Where-Object { $_.ErrorId -notmatch '^(InvalidCaptureFile|CaptureFileNotFound|PermissionDenied),' }).Count | Should -Be 0
    }
}
