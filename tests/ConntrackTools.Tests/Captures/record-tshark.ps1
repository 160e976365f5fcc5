# Records, beside each capture of this folder, the fields tshark prints for it (<file>.tshark.tsv): the golden
# data the xunit tests compare Read-PacketCapture's decoder with. Run after make-captures.py; needs tshark.
Import-Module (Join-Path $PSScriptRoot '../../Pester/TsharkCompare.psm1') -Force
$fields = Get-TsharkField
Get-ChildItem -LiteralPath $PSScriptRoot -File | Where-Object Name -Match '\.pcap(ng)?$' | ForEach-Object {
    $arguments = @('-n', '-r', $_.FullName, '-o', 'ip.defragment:FALSE', '-o', 'ipv6.defragment:FALSE', '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=f')
    foreach ($f in $fields) { $arguments += @('-e', $f) }
    $lines = @(& tshark @arguments 2>$null)
    $header = '# ' + ($fields -join "`t") + "`n# tshark " + ((& tshark --version | Select-Object -First 1) -replace '^TShark \(Wireshark\) ', '')
    Set-Content -LiteralPath "$($_.FullName).tshark.tsv" -Value (@($header) + $lines) -Encoding utf8NoBOM
}
