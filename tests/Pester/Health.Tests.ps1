#Requires -Version 7.4
<#
    Test-ConntrackHealth's KernelAdvisory checks against the running kernel: the table, the status by version, and the
    probes (CTA_FILTER IPv6 in a private namespace; the VIP-migration sandbox with -IncludeVipMigration).
#>

BeforeAll {
    Import-Module $env:CONNTRACKTOOLS_MODULE -Force
    Import-Module (Join-Path $PSScriptRoot 'TestLab.psm1') -Force
    # Test-ConntrackHealth reads the conntrack statistics: without root every test skips with the reason.
    $script:SkipReason = Get-MissingPrerequisite -Root -Because 'Test-ConntrackHealth reads the conntrack statistics (CAP_NET_ADMIN) and its probes build network namespaces'
    $script:Release = (Get-Content /proc/sys/kernel/osrelease).Trim()
}

Describe 'KernelAdvisory checks' {
    BeforeEach { Assert-Prerequisite -Reason $script:SkipReason }
    BeforeAll {
        if ($script:SkipReason) { return }
        $script:Adv = @{}
        Test-ConntrackHealth | Where-Object Name -like 'KernelAdvisory.*' | ForEach-Object { $script:Adv[$_.Name] = $_ }
        $script:ByVersion = @{}
        Test-ConntrackHealth -SkipKernelProbe | Where-Object Name -like 'KernelAdvisory.*' | ForEach-Object { $script:ByVersion[$_.Name] = $_ }
    }

    It 'reports one check per row of the table, with its source, fix and this kernel''s version' {
        $Adv.Keys | Sort-Object | Should -Be (@('CtaFilterIPv6Inverted', 'HelperAutoAssignRemoved', 'MasqueradeFlushOnAddressDelete', 'RandomFullyVxlanChecksum', 'UdpInsertClash') | ForEach-Object { "KernelAdvisory.$_" })
        foreach ($r in $Adv.Values) {
            $r.Advisory.KernelVersion | Should -Be $Release
            $r.Advisory.Sources.Count | Should -BeGreaterThan 0
            $r.Message | Should -Match ([regex]::Escape($Release))
        }
        $Adv['KernelAdvisory.MasqueradeFlushOnAddressDelete'].Advisory.FixedIn | Should -Be @('5.0', '4.19.85', '4.14.155')
        $Adv['KernelAdvisory.MasqueradeFlushOnAddressDelete'].Message | Should -Match '097f95d319f8'
    }

    It 'judges this 6.x kernel by version: the fixed defects fixed, the 6.0 change applying' {
        $ByVersion['KernelAdvisory.MasqueradeFlushOnAddressDelete'].Value | Should -Be 'Fixed (version)'
        $ByVersion['KernelAdvisory.RandomFullyVxlanChecksum'].Value | Should -Be 'Fixed (version)'
        $ByVersion['KernelAdvisory.UdpInsertClash'].Value | Should -Be 'Fixed (version)'
        $ByVersion['KernelAdvisory.HelperAutoAssignRemoved'].Value | Should -Be 'Applies (version)'
        $ByVersion['KernelAdvisory.CtaFilterIPv6Inverted'].Advisory.ProbeVerdict | Should -Be 'NotRun'
        $ByVersion['KernelAdvisory.MasqueradeFlushOnAddressDelete'].Message | Should -Match 'only a hint'
    }

    It 'lets the CTA_FILTER probe decide, and its verdict matches a filtered dump made here' {
        Assert-Prerequisite -Command conntrack, python3 -CommandBecause 'for the independent check'
        $r = $Adv['KernelAdvisory.CtaFilterIPv6Inverted']
        $r.Advisory.ProbeVerdict | Should -BeIn @('Fixed', 'Affected')
        # Independent check in a ctt- namespace: a python client sends ctnetlink a dump filtered in the kernel (CTA_FILTER,
        # IPv6 source fd00::1) and prints the sources it gets back (conntrack -L cannot be used: it re-checks in user space).
        $ns = New-TestNamespace adv
        try {
            foreach ($src in 'fd00::1', 'fd00::2') {
                Invoke-InNamespace $ns conntrack -I -p udp -s $src -d fd00::9 --sport 40000 --dport 53 -t 60 2>&1 | Out-Null
            }
            $py = @'
import socket, struct
def attr(t, v): l = 4 + len(v); return struct.pack('<HH', l, t) + v + b'\0' * ((4 - l % 4) % 4)
def nest(t, v): return attr(t | 0x8000, v)
ip = nest(1, attr(3, socket.inet_pton(socket.AF_INET6, 'fd00::1')))      # CTA_TUPLE_IP { CTA_IP_V6_SRC }
proto = nest(2, attr(1, b'\x11'))                                        # CTA_TUPLE_PROTO { CTA_PROTO_NUM udp }
flt = nest(25, attr(1, struct.pack('<I', 1 | 8)) + attr(2, struct.pack('<I', 0)))   # CTA_FILTER: IP_SRC | PROTO_NUM
body = struct.pack('>BBH', socket.AF_INET6, 0, 0) + nest(1, ip + proto) + flt
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12); s.bind((0, 0))
s.send(struct.pack('<IHHII', 16 + len(body), 0x0101, 0x301, 1, 0) + body)
while True:
    d = s.recv(1 << 16); off = 0; done = False
    while off < len(d):
        ln, typ = struct.unpack_from('<IH', d, off)
        if typ in (2, 3): done = True
        elif typ == 0x0100:
            m = d[off + 20: off + ln]; i = m.find(struct.pack('<HH', 20, 3))   # CTA_IP_V6_SRC in the original tuple
            print(socket.inet_ntop(socket.AF_INET6, m[i + 4: i + 20]))
        off += (ln + 3) & ~3
    if done: break
'@
            $kernelAnswer = @(Invoke-InNamespace $ns python3 -c $py)
            $ours = @(Get-Conntrack -NetworkNamespace $ns -SourceAddress fd00::1)
        }
        finally { Remove-TestNamespace $ns }
        $ours.Count | Should -Be 1       # ConntrackTools filters IPv6 in user space: always right
        $ours[0].SourceAddress | Should -Be 'fd00::1'
        $inverted = ($kernelAnswer.Count -eq 1 -and $kernelAnswer[0] -eq 'fd00::2')
        $correct = ($kernelAnswer.Count -eq 1 -and $kernelAnswer[0] -eq 'fd00::1')
        ($inverted -or $correct) | Should -BeTrue -Because "the kernel answered '$($kernelAnswer -join ', ')'"
        $r.Advisory.ProbeVerdict | Should -Be $(if ($inverted) { 'Affected' } else { 'Fixed' })
        $r.Passed | Should -Be $correct
        $r.Value | Should -Be "$(if ($inverted) { 'Affected' } else { 'Fixed' }) (probe)"
    }

    It 'takes the VIP-migration sandbox as the masquerade flush probe' {
        $all = @(Test-ConntrackHealth -IncludeVipMigration -SkipKernelProbe)
        $vip = $all | Where-Object Name -eq 'VipMigration'
        $adv = $all | Where-Object Name -eq 'KernelAdvisory.MasqueradeFlushOnAddressDelete'
        $adv.Advisory.ProbeVerdict | Should -Be $(if ($vip.Passed) { 'Fixed' } else { 'Affected' })
        $adv.Passed | Should -Be $vip.Passed
        $adv.Value | Should -Match '\(probe\)$'
    }
}
