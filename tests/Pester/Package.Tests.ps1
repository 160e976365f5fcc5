#Requires -Version 7.4
<#
    The module as users install modules: the package build.ps1 -Task Package writes (tools/New-ModulePackage.ps1,
    made here from the built module) is published to a local folder registered as a PSResourceGet repository,
    installed with Install-PSResource, imported by name in a fresh pwsh that knows nothing of this repository, and
    used there (Get-Conntrack in a private namespace, Get-Help).
    Nothing of the user's changes: every pwsh that registers, installs or imports runs with HOME and XDG_DATA_HOME
    pointed into TestDrive:, so the repository list (PSResourceRepository.xml) and the CurrentUser module folder it
    touches are temporary ones; the repository name is unique and is unregistered afterwards anyway.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1') -Force
    $script:moduleFolder = Split-Path $env:CONNTRACKTOOLS_MODULE
    $script:version = (Import-PowerShellDataFile $env:CONNTRACKTOOLS_MODULE).ModuleVersion
    $script:tempHome = Join-Path TestDrive: 'home'
    $script:tempHome = (New-Item -ItemType Directory -Path $script:tempHome -Force).FullName
    $script:feed = (New-Item -ItemType Directory -Path (Join-Path TestDrive: 'feed') -Force).FullName
    $script:repository = 'ctt-pkg-' + [guid]::NewGuid().ToString('N').Substring(0, 8)
    $script:ns = if (Test-IsRoot) { New-TestNamespace -Tag 'pkg' }

    # Runs a script in a fresh pwsh whose user folders are the temporary home; returns its output lines.
    function Invoke-FreshPwsh([string] $Script) {
        $exe, $rest = Get-PwshCommand
        [string[]] $exeArgs = @($rest | Where-Object { $_ })
        $saved = @{ HOME = $env:HOME; XDG_DATA_HOME = $env:XDG_DATA_HOME; XDG_CONFIG_HOME = $env:XDG_CONFIG_HOME; XDG_CACHE_HOME = $env:XDG_CACHE_HOME; PSModulePath = $env:PSModulePath }
        try {
            $env:HOME = $script:tempHome
            $env:XDG_DATA_HOME = Join-Path $script:tempHome '.local/share'
            $env:XDG_CONFIG_HOME = Join-Path $script:tempHome '.config'
            $env:XDG_CACHE_HOME = Join-Path $script:tempHome '.cache'
            # The fresh pwsh builds its own module path: its built-in modules and the temporary CurrentUser folder.
            Remove-Item Env:PSModulePath -ErrorAction Ignore
            $out = & $exe @exeArgs -NoProfile -NonInteractive -Command ("`$PSStyle.OutputRendering = 'PlainText'`n" + $Script) 2>&1
            [pscustomobject]@{ ExitCode = $LASTEXITCODE; Output = @($out | ForEach-Object { "$_" }) }
        }
        finally {
            foreach ($k in $saved.Keys) { if ($null -eq $saved[$k]) { Remove-Item "Env:$k" -ErrorAction Ignore } else { Set-Item "Env:$k" $saved[$k] } }
        }
    }

    $script:package = & (Join-Path $PSScriptRoot '../../tools/New-ModulePackage.ps1') -ModuleFolder $script:moduleFolder -DestinationPath (Join-Path TestDrive: 'out')
}

AfterAll {
    Invoke-FreshPwsh "Unregister-PSResourceRepository -Name '$script:repository' -ErrorAction Ignore" | Out-Null
    Remove-TestNamespace $script:ns
}

Describe 'build.ps1 -Task Package' -Tag 'Slow' {
    It 'writes ConntrackTools.<version>.nupkg with the manifest the PowerShell Gallery reads' {
        Split-Path $script:package -Leaf | Should -Be "ConntrackTools.$script:version.nupkg"
        Add-Type -AssemblyName System.IO.Compression.FileSystem
        $zip = [IO.Compression.ZipFile]::OpenRead((Resolve-Path $script:package).ProviderPath)
        try {
            $entries = @($zip.Entries.FullName)
            $entries | Should -Contain 'ConntrackTools.psd1'
            $entries | Should -Contain 'ConntrackTools.dll'
            $entries | Should -Contain 'en-US/ConntrackTools.dll-Help.xml'
            $entries | Should -Contain 'ConntrackTools.Types.ps1xml'
            $reader = [IO.StreamReader]::new(($zip.Entries | Where-Object FullName -EQ 'ConntrackTools.nuspec').Open())
            [xml] $nuspec = $reader.ReadToEnd(); $reader.Dispose()
        }
        finally { $zip.Dispose() }
        $m = $nuspec.package.metadata
        $m.id | Should -Be 'ConntrackTools'
        $m.version | Should -Be $script:version
        $m.description | Should -BeLike '*libpcap*'
        $m.tags -split ' ' | Should -Contain 'Linux'
        $m.tags -split ' ' | Should -Contain 'PSEdition_Core'
        $m.tags -split ' ' | Should -Contain 'PSModule'
        $m.projectUrl | Should -Not -BeNullOrEmpty
        $m.licenseUrl | Should -Not -BeNullOrEmpty
        $m.releaseNotes | Should -Not -BeNullOrEmpty
    }
}

Describe 'Installed from a folder repository with PSResourceGet' -Tag 'Privileged', 'Slow' {
    It 'registers the folder, puts the package there and installs it with Install-PSResource (temporary user folders)' {
        # The very file -Task Package writes goes into the feed, as a gallery would serve it.
        Copy-Item -Path $script:package -Destination $script:feed
        $null = New-Item -ItemType Directory -Path (Join-Path $script:tempHome 'tmp') -Force
        $r = Invoke-FreshPwsh @"
`$ErrorActionPreference = 'Stop'
Register-PSResourceRepository -Name '$script:repository' -Uri '$script:feed' -Trusted
Install-PSResource -Name ConntrackTools -Repository '$script:repository' -Scope CurrentUser -TrustRepository -TemporaryPath '$(Join-Path $script:tempHome 'tmp')'
(Get-InstalledPSResource -Name ConntrackTools -Scope CurrentUser).InstalledLocation
"@
        $r.Output -join "`n" | Should -Match ([regex]::Escape($script:tempHome)) -Because "it must install under the temporary home ($($r.Output -join ' '))"
        $r.ExitCode | Should -Be 0
        Get-ChildItem $script:feed -Filter "ConntrackTools.$script:version.nupkg" | Should -Not -BeNullOrEmpty
    }

    It 'imports by name in a fresh pwsh and runs Get-Conntrack in a private namespace and Get-Help there' {
        if (-not $script:ns) { Set-ItResult -Skipped -Because 'Get-Conntrack in a namespace needs root'; return }
        Invoke-InNamespace $script:ns conntrack -I -p tcp -s 10.31.0.1 -d 10.31.0.2 --sport 1234 --dport 80 --state ESTABLISHED -t 100 2>&1 | Out-Null
        $r = Invoke-FreshPwsh @"
`$ErrorActionPreference = 'Stop'
Import-Module ConntrackTools
'module=' + (Get-Module ConntrackTools).ModuleBase
Get-Conntrack -NetworkNamespace '$script:ns' | ForEach-Object { 'entry=' + `$_.SourceAddress + ':' + `$_.SourcePort }
'synopsis=' + (Get-Help Get-Conntrack).Synopsis
'examples=' + @((Get-Help Get-Conntrack -Examples).examples.example).Count
"@
        $r.ExitCode | Should -Be 0 -Because ($r.Output -join "`n")
        ($r.Output -match '^module=')[0] | Should -BeLike "module=$script:tempHome*"
        $r.Output | Should -Contain 'entry=10.31.0.1:1234'
        ($r.Output -match '^synopsis=')[0] | Should -Not -Be 'synopsis=' -Because 'the help ships in the package'
        ($r.Output -match '^examples=')[0] | Should -Not -Be 'examples=0'
    }

    It "leaves the caller's own repository list unchanged" {
        (Get-PSResourceRepository).Name | Should -Not -Contain $script:repository
    }
}
