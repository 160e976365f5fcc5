#Requires -Version 7.4
<#
.SYNOPSIS
    Checks the repository's PowerShell scripts with PowerShell's own parser (PSScriptAnalyzer is not served by
    our package registries, so this is the small part of it we rely on).
.DESCRIPTION
    For every .ps1, .psm1 and .psd1 under the repository (out/, bin/, obj/ and TestDrive folders excluded):
      ParseError           the file does not parse.
      Alias                a command is called by an alias (% ? select where foreach ls ...), not by its name.
      PositionalParameters a cmdlet, or a function the scripts define with a param block, gets three or more
                           positional arguments (PSScriptAnalyzer's AvoidUsingPositionalParameters threshold).
                           Functions written to pass $args through to native programs are not PowerShell
                           parameters and are left alone.
      UnapprovedVerb       a function named Verb-Noun uses a verb Get-Verb does not list.
    Writes one line per finding ("path:line: Rule: text") and exits 1 when there is any.
#>
[CmdletBinding()]
param(
    [string] $Path = (Split-Path -Parent $PSScriptRoot)
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0

$files = @(Get-ChildItem -LiteralPath $Path -Recurse -File -Include '*.ps1', '*.psm1', '*.psd1' |
    Where-Object { $_.FullName -notmatch '[\\/](out|bin|obj|\.git|BenchmarkDotNet\.Artifacts)[\\/]' })

$approved = [System.Collections.Generic.HashSet[string]]::new([string[]]@(Get-Verb | ForEach-Object -MemberName Verb), [StringComparer]::OrdinalIgnoreCase)
$aliases = @{}
foreach ($a in Get-Alias) { $aliases[$a.Name] = $a.Definition }

$parsed = foreach ($f in $files) {
    $tokens = $null; $errors = $null
    $ast = [System.Management.Automation.Language.Parser]::ParseFile($f.FullName, [ref] $tokens, [ref] $errors)
    [pscustomobject]@{ File = $f; Ast = $ast; Errors = $errors }
}

# Functions the scripts define: which take PowerShell parameters (and which of those are switches).
$functions = @{}
foreach ($p in $parsed) {
    $defs = $p.Ast.FindAll({ param($n) $n -is [System.Management.Automation.Language.FunctionDefinitionAst] }, $true)
    foreach ($d in $defs) {
        $paramBlock = $d.Body.ParamBlock
        $declared = @(if ($paramBlock) { $paramBlock.Parameters } elseif ($d.Parameters) { $d.Parameters })
        if ($declared.Count -eq 0) { continue }   # $args pass-through: arguments belong to a native program
        $switches = @($declared | Where-Object { $_.StaticType -eq [switch] } | ForEach-Object { $_.Name.VariablePath.UserPath })
        $functions[$d.Name] = $switches
    }
}

$findings = [System.Collections.Generic.List[string]]::new()
function Add-Finding([System.IO.FileInfo] $File, [int] $Line, [string] $Rule, [string] $Text) {
    $relative = [System.IO.Path]::GetRelativePath($Path, $File.FullName)
    $findings.Add("${relative}:${Line}: ${Rule}: $Text")
}

function Get-SwitchParameterName([string] $Command) {
    if ($functions.ContainsKey($Command)) { return $functions[$Command] }
    $info = Get-Command -Name $Command -CommandType Cmdlet -ErrorAction Ignore
    if (-not $info) { return $null }
    @($info.Parameters.Values | Where-Object SwitchParameter | ForEach-Object -MemberName Name)
}

foreach ($p in $parsed) {
    foreach ($e in $p.Errors) { Add-Finding $p.File $e.Extent.StartLineNumber 'ParseError' $e.Message }

    foreach ($d in $p.Ast.FindAll({ param($n) $n -is [System.Management.Automation.Language.FunctionDefinitionAst] }, $true)) {
        if ($d.Name -match '^([A-Za-z]+)-\w' -and -not $approved.Contains($Matches[1])) {
            Add-Finding $p.File $d.Extent.StartLineNumber 'UnapprovedVerb' "function $($d.Name): '$($Matches[1])' is not an approved verb (Get-Verb)"
        }
    }

    $commands = $p.Ast.FindAll({ param($n) $n -is [System.Management.Automation.Language.CommandAst] }, $true)
    foreach ($c in $commands) {
        $name = $c.GetCommandName()
        if (-not $name) { continue }
        if ($aliases.ContainsKey($name) -and -not $functions.ContainsKey($name)) {
            Add-Finding $p.File $c.Extent.StartLineNumber 'Alias' "'$name' is an alias of $($aliases[$name]): use the command's name"
            continue
        }
        $switches = Get-SwitchParameterName $name
        if ($null -eq $switches) { continue }   # a native program or an unknown command
        $positional = 0
        $elements = $c.CommandElements
        for ($i = 1; $i -lt $elements.Count; $i++) {
            $el = $elements[$i]
            if ($el -is [System.Management.Automation.Language.CommandParameterAst]) {
                # -Name value: the next element is the value unless the parameter is a switch or has -Name:value.
                if ($null -eq $el.Argument -and $switches -notcontains $el.ParameterName -and $i + 1 -lt $elements.Count -and
                    $elements[$i + 1] -isnot [System.Management.Automation.Language.CommandParameterAst]) { $i++ }
                continue
            }
            if ($el -is [System.Management.Automation.Language.VariableExpressionAst] -and $el.Splatted) { $positional = -1; break }
            $positional++
        }
        if ($positional -ge 3) {
            Add-Finding $p.File $c.Extent.StartLineNumber 'PositionalParameters' "$name gets $positional positional arguments: name them"
        }
    }
}

$findings | ForEach-Object { Write-Output $_ }
Write-Output "$($files.Count) scripts checked, $($findings.Count) findings."
if ($findings.Count -gt 0) { exit 1 }
