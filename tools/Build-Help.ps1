param([string]$ModulePath, [string]$DocsPath, [string]$OutputPath)
if (-not (Get-ChildItem $DocsPath -Filter '*-*.md' -ErrorAction Ignore)) { return }
