#!/usr/bin/env python3
"""Writes N `conntrack -R` lines (one `-I` per line) that look like a busy Kubernetes node's table.

Usage: New-ConntrackLoad.py N > entries.txt ; ip netns exec NS conntrack -R entries.txt

Per 10 entries: 9 IPv4, 1 IPv6; about a third UDP, the rest TCP ESTABLISHED/ASSURED; one in five
source-NATed (the reply comes back to a node address on another port), one in five destination-NATed
(a service address translated to a pod). Destination port 8899 on one entry in 10,000 and mark 7 on one in
20,000, so that filtered dumps have a small, known answer. Long timeouts keep the table stable during a run.
Every original and reply tuple is unique, so the kernel accepts every line.
"""
import sys

count = int(sys.argv[1])
out = sys.stdout
service_ports = [443, 80, 8080, 6379, 5432, 9090, 3306, 443]
for i in range(count):
    block, offset = divmod(i, 60000)
    sport = 1024 + offset
    ipv6 = i % 10 == 9
    udp = i % 3 == 1
    dport = 8899 if i % 10000 == 5 else (53 if udp else service_ports[i % len(service_ports)])
    if ipv6:
        src = "fd00:10:244:%x::%x" % (block, ((i >> 8) & 0xFFFF) or 1)
        dst = "fd00:10:96::%x" % (1 + i % 200)
    else:
        src = "10.%d.%d.%d" % (244 - block, (i >> 8) & 0xFF, (i & 0xFF) or 1)
        dst = "10.96.%d.%d" % ((i >> 8) % 2, 1 + i % 200)
    line = ["-I -p", "udp" if udp else "tcp", "-s", src, "-d", dst, "--sport", str(sport), "--dport", str(dport)]
    kind = i % 5
    if kind == 0:  # masquerade: the peer sees the node address and a new port
        node = ("fd00:192:168::%x" % (10 + block)) if ipv6 else ("192.168.%d.10" % block)
        line += ["-r", dst, "-q", node, "--reply-port-src", str(dport), "--reply-port-dst", str(1024 + (i * 7919 + 12345) % 60000)]
    elif kind == 2:  # service address -> pod
        pod = ("fd00:10:245::%x" % (1 + i % 4000)) if ipv6 else ("10.245.%d.%d" % ((i >> 8) & 0xFF, 1 + i % 250))
        line += ["-r", pod, "-q", src, "--reply-port-src", "5353" if udp else "8443", "--reply-port-dst", str(sport)]
    if udp:
        line += ["-t 86400"] + (["-u SEEN_REPLY"] if i % 2 else [])
    else:
        line += ["--state ESTABLISHED -t 432000 -u SEEN_REPLY,ASSURED"]
    if i % 20000 == 7:
        line += ["-m 7"]
    out.write(" ".join(line))
    out.write("\n")
