<#
.SYNOPSIS
    Turns docs/<Cmdlet>.md and docs/about_*.md into the module's help (MAML + about_*.help.txt).
.DESCRIPTION
    Runs in a child pwsh (build.ps1 calls it) so that the freshly built module can be imported to read the
    cmdlets' real parameter metadata: types, positions, pipeline input and aliases come from the code, the prose
    comes from docs/. The build fails when the two disagree: an exported cmdlet without a page, a parameter without
    a section, a section for a parameter that does not exist, or a page without an example.

    Page layout (one per cmdlet), in this order:
        # Verb-Noun
        ## SYNOPSIS            one paragraph
        ## DESCRIPTION         paragraphs
        ## EXAMPLES            ### Example N: title, a ```powershell block, then remarks
        ## PARAMETERS          ### -Name, then its description
        ## INPUTS / ## OUTPUTS ### Type name, then text
        ## NOTES               paragraphs
        ## RELATED LINKS       - [Name](file.md) lines
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $DocsPath,
    [Parameter(Mandatory)] [string] $OutputPath
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0

$module = Import-Module $ModulePath -PassThru -Force
$common = [System.Management.Automation.PSCmdlet]::CommonParameters
New-Item -ItemType Directory -Force $OutputPath | Out-Null
$problems = [System.Collections.Generic.List[string]]::new()

function Split-Section {
    # Splits markdown text into an ordered map of heading -> body for headings of the given level.
    param([string] $Text, [int] $Level)
    $map = [ordered]@{}
    $prefix = ('#' * $Level) + ' '
    $current = $null
    $buffer = [System.Collections.Generic.List[string]]::new()
    $inCode = $false
    foreach ($line in $Text -split "`r?`n") {
        if ($line.StartsWith('```')) { $inCode = -not $inCode }
        if (-not $inCode -and $line.StartsWith($prefix)) {
            if ($null -ne $current) { $map[$current] = ($buffer -join "`n").Trim() }
            $current = $line.Substring($prefix.Length).Trim()
            $buffer.Clear()
            continue
        }
        $buffer.Add($line)
    }
    if ($null -ne $current) { $map[$current] = ($buffer -join "`n").Trim() }
    $map
}

function Get-Paragraph {
    # Markdown prose -> paragraphs (blank-line separated), code fences kept as one paragraph each.
    param([string] $Text)
    if (-not $Text) { return @() }
    $paras = [System.Collections.Generic.List[string]]::new()
    $buffer = [System.Collections.Generic.List[string]]::new()
    $inCode = $false
    foreach ($line in $Text -split "`n") {
        if ($line.StartsWith('```')) {
            if ($inCode) { $paras.Add(($buffer -join "`n")); $buffer.Clear(); $inCode = $false }
            else { if ($buffer.Count) { $paras.Add(($buffer -join ' ')); $buffer.Clear() }; $inCode = $true }
            continue
        }
        if ($inCode) { $buffer.Add('    ' + $line); continue }
        if ($line.Trim() -eq '') { if ($buffer.Count) { $paras.Add(($buffer -join ' ')); $buffer.Clear() }; continue }
        if ($line -match '^\s*[-*] ' -and $buffer.Count) { $paras.Add(($buffer -join ' ')); $buffer.Clear() }
        $buffer.Add($line.Trim())
    }
    if ($buffer.Count) { $paras.Add(($buffer -join ' ')) }
    $paras | ForEach-Object { $_ -replace '`([^`]+)`', '$1' -replace '\*\*([^*]+)\*\*', '$1' -replace '\[([^\]]+)\]\([^)]+\)', '$1' }
}

function Write-Para {
    param([System.Xml.XmlWriter] $W, [string[]] $Paragraphs)
    foreach ($p in $Paragraphs) { $W.WriteElementString('maml', 'para', 'http://schemas.microsoft.com/maml/2004/10', $p) }
    if (-not $Paragraphs) { $W.WriteElementString('maml', 'para', 'http://schemas.microsoft.com/maml/2004/10', '') }
}

$ns = @{
    maml    = 'http://schemas.microsoft.com/maml/2004/10'
    command = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
    dev     = 'http://schemas.microsoft.com/maml/dev/2004/10'
}

$settings = [System.Xml.XmlWriterSettings]::new()
$settings.Indent = $true
$settings.Encoding = [System.Text.UTF8Encoding]::new($false)
$mamlFile = Join-Path $OutputPath 'ConntrackTools.dll-Help.xml'
$w = [System.Xml.XmlWriter]::Create($mamlFile, $settings)
$w.WriteStartDocument()
$w.WriteStartElement('helpItems', 'http://msh')
$w.WriteAttributeString('schema', 'maml')

foreach ($name in ($module.ExportedCmdlets.Keys | Sort-Object)) {
    $cmd = Get-Command $name -Module $module.Name
    $page = Join-Path $DocsPath "$name.md"
    if (-not (Test-Path $page)) { $problems.Add("$name has no page $page"); continue }
    $top = Split-Section (Get-Content $page -Raw) 2
    foreach ($required in 'SYNOPSIS', 'DESCRIPTION', 'EXAMPLES', 'PARAMETERS') {
        if (-not $top.Contains($required) -or -not $top[$required]) { $problems.Add("$name.md: section '## $required' is missing or empty") }
    }
    if ($problems.Count) { continue }
    $paramDocs = Split-Section $top['PARAMETERS'] 3
    $realParams = $cmd.Parameters.Values | Where-Object { $_.Name -notin $common }
    foreach ($p in $realParams) {
        if (-not $paramDocs.Contains("-$($p.Name)")) { $problems.Add("$name.md: parameter -$($p.Name) is not documented") }
    }
    foreach ($k in $paramDocs.Keys) {
        if ($k.TrimStart('-') -notin $realParams.Name) { $problems.Add("$name.md: documents '$k', which $name does not have") }
    }
    $examples = Split-Section $top['EXAMPLES'] 3
    if ($examples.Count -eq 0) { $problems.Add("$name.md: no '### Example' under EXAMPLES") }

    $w.WriteStartElement('command', 'command', $ns.command)
    $w.WriteAttributeString('xmlns', 'maml', $null, $ns.maml)
    $w.WriteAttributeString('xmlns', 'dev', $null, $ns.dev)
    $w.WriteStartElement('command', 'details', $ns.command)
    $w.WriteElementString('command', 'name', $ns.command, $name)
    $w.WriteElementString('command', 'verb', $ns.command, $cmd.Verb)
    $w.WriteElementString('command', 'noun', $ns.command, $cmd.Noun)
    $w.WriteStartElement('maml', 'description', $ns.maml); Write-Para $w (Get-Paragraph $top['SYNOPSIS']); $w.WriteEndElement()
    $w.WriteEndElement()
    $w.WriteStartElement('maml', 'description', $ns.maml); Write-Para $w (Get-Paragraph $top['DESCRIPTION']); $w.WriteEndElement()

    $writeParam = {
        param($p, $setParam, [bool] $full)
        $isSwitch = $p.ParameterType -eq [System.Management.Automation.SwitchParameter]
        $w.WriteStartElement('command', 'parameter', $ns.command)
        $mandatory = $setParam ? $setParam.IsMandatory : [bool]($p.ParameterSets.Values | Where-Object IsMandatory)
        $position = $setParam ? $setParam.Position : ($p.ParameterSets.Values | Select-Object -First 1).Position
        $byValue = [bool]($p.ParameterSets.Values | Where-Object ValueFromPipeline)
        $byName = [bool]($p.ParameterSets.Values | Where-Object ValueFromPipelineByPropertyName)
        $pipeline = if ($byValue -and $byName) { 'True (ByValue, ByPropertyName)' } elseif ($byValue) { 'True (ByValue)' } elseif ($byName) { 'True (ByPropertyName)' } else { 'False' }
        $w.WriteAttributeString('required', $mandatory.ToString().ToLowerInvariant())
        $w.WriteAttributeString('variableLength', 'true')
        $w.WriteAttributeString('globbing', 'false')
        $w.WriteAttributeString('pipelineInput', $pipeline)
        $w.WriteAttributeString('position', $(if ($position -ge 0) { "$position" } else { 'named' }))
        $w.WriteAttributeString('aliases', $(if ($p.Aliases.Count) { $p.Aliases -join ', ' } else { 'none' }))
        $w.WriteElementString('maml', 'name', $ns.maml, $p.Name)
        $w.WriteStartElement('maml', 'description', $ns.maml); Write-Para $w (Get-Paragraph $paramDocs["-$($p.Name)"]); $w.WriteEndElement()
        $typeName = $p.ParameterType.Name -replace '^Nullable`1$', ($p.ParameterType.GenericTypeArguments | Select-Object -First 1 -ExpandProperty Name)
        if (-not $isSwitch) {
            $w.WriteStartElement('command', 'parameterValue', $ns.command)
            $w.WriteAttributeString('required', 'true')
            $w.WriteAttributeString('variableLength', 'false')
            $w.WriteString($typeName)
            $w.WriteEndElement()
        }
        if ($full) {
            $w.WriteStartElement('dev', 'type', $ns.dev); $w.WriteElementString('maml', 'name', $ns.maml, ($p.ParameterType.FullName -replace '`1\[\[([^,]+),.*$', '[$1]')); $w.WriteEndElement()
            $w.WriteElementString('dev', 'defaultValue', $ns.dev, 'None')
        }
        $w.WriteEndElement()
    }

    $w.WriteStartElement('command', 'syntax', $ns.command)
    foreach ($set in $cmd.ParameterSets) {
        $w.WriteStartElement('command', 'syntaxItem', $ns.command)
        $w.WriteElementString('maml', 'name', $ns.maml, $name)
        foreach ($sp in ($set.Parameters | Where-Object { $_.Name -notin $common } | Sort-Object { if ($_.Position -ge 0) { $_.Position } else { 1000 } })) {
            & $writeParam $cmd.Parameters[$sp.Name] $sp $false
        }
        $w.WriteEndElement()
    }
    $w.WriteEndElement()

    $w.WriteStartElement('command', 'parameters', $ns.command)
    foreach ($p in $realParams) { & $writeParam $p $null $true }
    $w.WriteEndElement()

    foreach ($kind in @(@('INPUTS', 'inputTypes', 'inputType'), @('OUTPUTS', 'returnValues', 'returnValue'))) {
        if (-not $top.Contains($kind[0])) { continue }
        $w.WriteStartElement('command', $kind[1], $ns.command)
        $types = Split-Section $top[$kind[0]] 3
        foreach ($t in $types.Keys) {
            $w.WriteStartElement('command', $kind[2], $ns.command)
            $w.WriteStartElement('dev', 'type', $ns.dev); $w.WriteElementString('maml', 'name', $ns.maml, $t); $w.WriteEndElement()
            $w.WriteStartElement('maml', 'description', $ns.maml); Write-Para $w (Get-Paragraph $types[$t]); $w.WriteEndElement()
            $w.WriteEndElement()
        }
        $w.WriteEndElement()
    }
    if ($top.Contains('NOTES') -and $top['NOTES']) {
        $w.WriteStartElement('maml', 'alertSet', $ns.maml)
        $w.WriteStartElement('maml', 'alert', $ns.maml); Write-Para $w (Get-Paragraph $top['NOTES']); $w.WriteEndElement()
        $w.WriteEndElement()
    }
    $w.WriteStartElement('command', 'examples', $ns.command)
    foreach ($title in $examples.Keys) {
        $body = $examples[$title]
        $code = if ($body -match '(?s)```(?:powershell)?\s*\n(.*?)\n```') { $Matches[1] } else { $problems.Add("$name.md: '$title' has no code block"); '' }
        $remarks = ($body -replace '(?s)```.*?```', '').Trim()
        $w.WriteStartElement('command', 'example', $ns.command)
        $w.WriteElementString('maml', 'title', $ns.maml, "--------- $title ---------")
        $w.WriteElementString('dev', 'code', $ns.dev, $code)
        $w.WriteStartElement('dev', 'remarks', $ns.dev); Write-Para $w (Get-Paragraph $remarks); $w.WriteEndElement()
        $w.WriteEndElement()
    }
    $w.WriteEndElement()
    if ($top.Contains('RELATED LINKS')) {
        $w.WriteStartElement('command', 'relatedLinks', $ns.command)
        foreach ($m in [regex]::Matches($top['RELATED LINKS'], '\[([^\]]+)\]\(([^)]*)\)')) {
            $w.WriteStartElement('maml', 'navigationLink', $ns.maml)
            $w.WriteElementString('maml', 'linkText', $ns.maml, $m.Groups[1].Value)
            $w.WriteElementString('maml', 'uri', $ns.maml, $(if ($m.Groups[2].Value -match '^https?:') { $m.Groups[2].Value } else { '' }))
            $w.WriteEndElement()
        }
        $w.WriteEndElement()
    }
    $w.WriteEndElement() # command
}
$w.WriteEndElement()
$w.WriteEndDocument()
$w.Dispose()

# about_ topics: plain text, headings upper-cased as Get-Help shows them.
foreach ($about in Get-ChildItem $DocsPath -Filter 'about_*.md') {
    $lines = foreach ($line in Get-Content $about.FullName) {
        if ($line -match '^#+\s+(.*)$') { $Matches[1].ToUpperInvariant() } else { $line }
    }
    Set-Content -Path (Join-Path $OutputPath ($about.BaseName + '.help.txt')) -Value $lines -Encoding utf8
}

if ($problems.Count) {
    $problems | ForEach-Object { Write-Host "help: $_" -ForegroundColor Red }
    throw "Help and code disagree in $($problems.Count) place(s); see the lines above."
}
Write-Host "Help written: $mamlFile"
