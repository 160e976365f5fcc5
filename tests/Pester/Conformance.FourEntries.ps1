<#
    conntrack-tools' suite's four entries (tcp, tcp from its reply tuple, IPv6 tcp, ICMP echo) and the steps built from
    them, shared by the conformance areas that use them (Conformance.Batch, Conformance.DumpOptions). Dot-sourced in
    BeforeDiscovery: defines $four and the step builders Ps, CreateBatch, CreateOne and DeleteOne.
#>

# The suite's four entries (tcp, tcp from its reply tuple, IPv6 tcp, ICMP echo): conntrack's line, the same
# entry as a property bag (what New-Conntrack takes from the pipeline), and the selection that deletes it.
$four = @(
    @{ Ct = '-s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'
        Bag = "@{ Protocol = 'tcp'; SourceAddress = '1.1.1.1'; DestinationAddress = '2.2.2.2'; SourcePort = 10; DestinationPort = 20; State = 'LISTEN'; Status = 'SeenReply'; Timeout = 50 }"
        DelCt = '-s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20'
        Sel = "-Protocol tcp -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -SourcePort 10 -DestinationPort 20"; Family = 'IPv4' }
    @{ Ct = '-r 2.2.2.2 -q 1.1.1.1 -p tcp --reply-port-src 11 --reply-port-dst 21 --state LISTEN -u SEEN_REPLY -t 50'
        Bag = "@{ Protocol = 'tcp'; ReplySourceAddress = '2.2.2.2'; ReplyDestinationAddress = '1.1.1.1'; ReplySourcePort = 11; ReplyDestinationPort = 21; State = 'LISTEN'; Status = 'SeenReply'; Timeout = 50 }"
        DelCt = '-r 2.2.2.2 -q 1.1.1.1 -p tcp --reply-port-src 11 --reply-port-dst 21'
        Sel = "-Protocol tcp -ReplySourceAddress 2.2.2.2 -ReplyDestinationAddress 1.1.1.1 -ReplySourcePort 11 -ReplyDestinationPort 21"; Family = 'IPv4' }
    @{ Ct = '-s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50'
        Bag = "@{ Protocol = 'tcp'; SourceAddress = '2001:DB8::1.1.1.1'; DestinationAddress = '2001:DB8::2.2.2.2'; SourcePort = 10; DestinationPort = 20; State = 'LISTEN'; Status = 'SeenReply'; Timeout = 50 }"
        DelCt = '-s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 -p tcp --sport 10 --dport 20'
        Sel = "-Protocol tcp -SourceAddress 2001:DB8::1.1.1.1 -DestinationAddress 2001:DB8::2.2.2.2 -SourcePort 10 -DestinationPort 20"; Family = 'IPv6' }
    @{ Ct = '-t 29 -u SEEN_REPLY -s 1.1.1.1 -d 2.2.2.2 -r 2.2.2.2 -q 1.1.1.1 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 1226'
        Bag = "@{ Protocol = 'icmp'; SourceAddress = '1.1.1.1'; DestinationAddress = '2.2.2.2'; ReplySourceAddress = '2.2.2.2'; ReplyDestinationAddress = '1.1.1.1'; IcmpType = 8; IcmpCode = 0; IcmpId = 1226; Status = 'SeenReply'; Timeout = 29 }"
        DelCt = '-u SEEN_REPLY -s 1.1.1.1 -d 2.2.2.2 -r 2.2.2.2 -q 1.1.1.1 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 1226'
        Sel = "-Status SeenReply -SourceAddress 1.1.1.1 -DestinationAddress 2.2.2.2 -ReplySourceAddress 2.2.2.2 -ReplyDestinationAddress 1.1.1.1 -Protocol icmp -IcmpType 8 -IcmpCode 0 -IcmpId 1226"; Family = 'IPv4' }
)
function Ps([string] $text) { [scriptblock]::Create("param(`$n) $text") }
# A batch (conntrack -R -) of creates: the bags piped into New-Conntrack.
function CreateBatch($entries, [string] $zone = '', [string] $option = '-I', [string] $expect = 'OK') {
    $w = if ($zone) { "-w $zone " } else { '' }
    $force = if ($option -eq '-A') { ' -Force' } else { '' }
    $z = if ($zone) { " -Zone $zone" } else { '' }
    @{ Ct = '-R -'; Stdin = @($entries | ForEach-Object { "$option $w$($_.Ct)" }); Expect = $expect; ErrorId = 'EntryExists'
        Ps = Ps "@($(($entries | ForEach-Object Bag) -join ', ')) | ForEach-Object { [pscustomobject]`$_ } | New-Conntrack -NetworkNamespace `$n$z$force" }
}
function CreateOne($e, [string] $zone = '', [string] $expect = 'BAD') {
    $w = if ($zone) { "-w $zone " } else { '' }
    $z = if ($zone) { " -Zone $zone" } else { '' }
    @{ Ct = "-I $w$($e.Ct)"; Expect = $expect; ErrorId = 'EntryExists'; Ps = Ps "[pscustomobject]$($e.Bag) | New-Conntrack -NetworkNamespace `$n$z" }
}
function DeleteOne($e, [string] $zone = '', [string] $expect = 'OK', [switch] $WithState) {
    $w = if ($zone) { "-w $zone " } else { '' }
    $z = if ($zone) { " -Zone $zone" } else { '' }
    $st = if ($WithState -and $e.Ct -match 'LISTEN') { ' --state LISTEN -u SEEN_REPLY' } else { '' }
    $ps = if ($st) { ' -State LISTEN -Status SeenReply' } else { '' }
    @{ Ct = "-D $w$($e.DelCt)$st"; Expect = $expect; ErrorId = 'EntryNotFound'; Ps = Ps "Remove-Conntrack -NetworkNamespace `$n$z $($e.Sel)$ps" }
}
