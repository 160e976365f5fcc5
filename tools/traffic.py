#!/usr/bin/env python3
"""The one traffic generator of the demo and the tests: real TCP and UDP flows, always run inside a test network
namespace (ip netns exec ctt-... python3 traffic.py ...), never from the host's own namespace.

  serve ADDRS PORTS [--udp] [--mode echo|sink|hold] [--once] [--udp-echo PORT]
        Listens on each address of ADDRS and each port of PORTS (comma lists). TCP: echo answers each read with the same bytes, sink reads and
        discards, hold keeps the connection open without reading until the peer closes. UDP: echo answers each
        datagram. --once: one connection (or datagram) per port, then exit. --udp-echo adds a UDP echo on that port
        of the first address. Prints 'ready' once listening.
  ping ADDR PORTS [--udp]
        One message per port: TCP connect, send 'ping', read the answer, close; UDP send 'ping', read the answer.
  send ADDR PORT [--count N] [--interval S] [--spread] [--connect] [--hold] [--payload TEXT]
        UDP datagrams of TEXT ('x') without waiting for answers: N of them (0: until killed), S seconds apart, to PORT, or with
        --spread to PORT, PORT+1, ... (one flow each). --connect uses a connected socket; --hold prints 'sent' and
        keeps the socket until stdin closes.
  flood ADDR PORT
        UDP datagrams as fast as they go, in rounds of 1,000; each line on stdin adds a round of 200,000 at once and
        answers 'flooded' (a burst no capture ring holds). Runs until killed.
  exchange ADDR PORT
        A TCP server and client in this one process: one connection, one round trip, closed by the client.
  pair ADDR TCPPORT UDPPORT
        Holds sockets of every kind on ADDR: a TCP listener, both ends of a TCP connection to it, a bound UDP socket
        and a connected UDP socket that has sent to it. Prints 'ready'; holds until stdin closes.
  client ADDR PORT [--hello] [--name NAME]
        Reads commands on stdin and answers each with one line:
          open N [A] opens N TCP connections (to address A instead of ADDR; each sends 'hello' and reads the echo with
                    --hello); answers their local ports. Connections are numbered from 0 in the order opened
          send I    sends one byte on connection I: 'sent' or the error's name
          push I    sends 'more' on connection I and reads: 'echo', 'closed' or the error's name
          state I   'reset' once the peer has reset connection I (ECONNRESET), 'open' otherwise
          close I   closes connection I (this side closes first: TIME_WAIT here): 'closed'
          udp A P   a connected UDP socket to A:P, kept open, sends 'q' and waits for the answer: 'answered'
          burst N   N short connections (connect, 200 bytes, read, close) from 16 threads: answers how many completed
        --name sets the process name (/proc/PID/comm), as a stand-in for a named program (nc).
"""
import argparse
import socket
import sys
import threading
import time


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def ports(text):
    return [int(p) for p in str(text).split(",") if p]


def serve(a):
    socks = []
    endpoints = [(addr, p, a.udp) for addr in a.addr.split(",") for p in ports(a.ports)]
    if a.udp_echo:
        endpoints.append((a.addr.split(",")[0], a.udp_echo, True))
    for addr, p, udp in endpoints:
        s = socket.socket(family(addr), socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, p))
        if not udp:
            s.listen(512)
        socks.append(s)
    held = []

    def answer(c):
        try:
            while True:
                if a.mode == "hold":
                    if not c.recv(100):
                        break
                    continue
                d = c.recv(65536)
                if not d:
                    break
                if a.mode == "echo":
                    c.sendall(d)
        except OSError:
            pass
        finally:
            c.close()

    def run(s):
        while True:
            if s.type == socket.SOCK_DGRAM:
                d, peer = s.recvfrom(65536)
                s.sendto(d, peer)
            else:
                c, _ = s.accept()
                held.append(c)
                if a.once:
                    answer(c)
                else:
                    threading.Thread(target=answer, args=(c,), daemon=True).start()
            if a.once:
                return

    threads = [threading.Thread(target=run, args=(s,), daemon=not a.once) for s in socks]
    for t in threads:
        t.start()
    print("ready", flush=True)
    for t in threads:
        t.join()


def ping(a):
    for p in ports(a.ports):
        kind = socket.SOCK_DGRAM if a.udp else socket.SOCK_STREAM
        s = socket.socket(family(a.addr), kind)
        s.settimeout(5)
        if a.udp:
            s.sendto(b"ping", (a.addr, p))
            s.recv(100)
        else:
            s.connect((a.addr, p))
            s.sendall(b"ping")
            s.recv(100)
        s.close()


def send(a):
    s = socket.socket(family(a.addr), socket.SOCK_DGRAM)
    if a.connect:
        s.connect((a.addr, a.port))
    i = 0
    while a.count == 0 or i < a.count:
        target = (a.addr, a.port + i if a.spread else a.port)
        try:
            if a.connect:
                s.send(a.payload.encode())
            else:
                s.sendto(a.payload.encode(), target)
        except OSError:
            if a.count:
                raise
            # endless: the link goes away first when the namespaces are removed
        i += 1
        if a.interval:
            time.sleep(a.interval)
    if a.hold:
        print("sent", flush=True)
        sys.stdin.read()


def flood(a):
    import select
    s = socket.socket(family(a.addr), socket.SOCK_DGRAM)

    def burst(n):
        for _ in range(n):
            try:
                s.sendto(b"flood", (a.addr, a.port))
            except OSError:
                pass  # the send buffer is full for a moment

    while True:
        burst(1000)
        if select.select([sys.stdin], [], [], 0)[0]:
            sys.stdin.readline()
            burst(200000)
            print("flooded", flush=True)


def exchange(a):
    srv = socket.socket(family(a.addr), socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((a.addr, a.port))
    srv.listen(1)

    def one():
        c, _ = srv.accept()
        c.sendall(c.recv(100))
        c.close()

    t = threading.Thread(target=one)
    t.start()
    cl = socket.create_connection((a.addr, a.port), timeout=5)
    cl.sendall(b"ping")
    cl.recv(100)
    cl.close()
    t.join()
    srv.close()


def pair(a):
    fam = family(a.addr)
    listener = socket.socket(fam, socket.SOCK_STREAM)
    listener.bind((a.addr, a.tcpport))
    listener.listen(8)
    near = socket.create_connection((a.addr, a.tcpport))
    far, _ = listener.accept()
    bound = socket.socket(fam, socket.SOCK_DGRAM)
    bound.bind((a.addr, a.udpport))
    connected = socket.socket(fam, socket.SOCK_DGRAM)
    connected.connect((a.addr, a.udpport))
    connected.send(b"x")
    print("ready", flush=True)
    sys.stdin.read()
    for s in (near, far, listener, bound, connected):
        s.close()


def client(a):
    if a.name:
        import ctypes
        ctypes.CDLL(None).prctl(15, a.name.encode(), 0, 0, 0)  # PR_SET_NAME
    conns, reset, udps = [], set(), []

    def short(n, done):
        for _ in range(n):
            try:
                c = socket.create_connection((a.addr, a.port), timeout=3)
                c.sendall(b"x" * 200)
                c.recv(1000)
                c.close()
                done.append(1)
            except OSError:
                pass

    for line in sys.stdin:
        cmd, *args = line.split()
        try:
            if cmd == "open":
                to = args[1] if len(args) > 1 else a.addr
                opened = []
                for _ in range(int(args[0])):
                    c = socket.create_connection((to, a.port), timeout=5)
                    if a.hello:
                        c.sendall(b"hello")
                        c.recv(100)
                    c.settimeout(None)
                    opened.append(c)
                conns.extend(opened)
                print(" ".join(str(c.getsockname()[1]) for c in opened), flush=True)
            elif cmd == "send":
                conns[int(args[0])].send(b"x")
                print("sent", flush=True)
            elif cmd == "push":
                c = conns[int(args[0])]
                c.sendall(b"more")
                c.settimeout(3)
                print("echo" if c.recv(100) else "closed", flush=True)
                c.settimeout(None)
            elif cmd == "state":
                i = int(args[0])
                if i not in reset:
                    try:
                        conns[i].recv(1, socket.MSG_DONTWAIT)
                    except BlockingIOError:
                        pass
                    except ConnectionResetError:
                        reset.add(i)  # the kernel reports a reset once; remember it
                print("reset" if i in reset else "open", flush=True)
            elif cmd == "close":
                conns[int(args[0])].close()
                time.sleep(0.2)  # the peer's FIN arrives: this side is in TIME_WAIT
                print("closed", flush=True)
            elif cmd == "udp":
                u = socket.socket(family(args[0]), socket.SOCK_DGRAM)
                u.connect((args[0], int(args[1])))
                u.send(b"q")
                u.settimeout(5)
                u.recv(10)
                udps.append(u)
                print("answered", flush=True)
            elif cmd == "burst":
                done = []
                ts = [threading.Thread(target=short, args=(int(args[0]) // 16, done)) for _ in range(16)]
                for t in ts:
                    t.start()
                for t in ts:
                    t.join()
                print(len(done), flush=True)
            else:
                print("error UnknownCommand", flush=True)
        except OSError as e:
            print(type(e).__name__, flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve")
    s.add_argument("addr")
    s.add_argument("ports")
    s.add_argument("--udp", action="store_true")
    s.add_argument("--mode", choices=["echo", "sink", "hold"], default="echo")
    s.add_argument("--once", action="store_true")
    s.add_argument("--udp-echo", type=int)
    s = sub.add_parser("ping")
    s.add_argument("addr")
    s.add_argument("ports")
    s.add_argument("--udp", action="store_true")
    s = sub.add_parser("send")
    s.add_argument("addr")
    s.add_argument("port", type=int)
    s.add_argument("--count", type=int, default=1)
    s.add_argument("--interval", type=float, default=0)
    s.add_argument("--spread", action="store_true")
    s.add_argument("--connect", action="store_true")
    s.add_argument("--hold", action="store_true")
    s.add_argument("--payload", default="x")
    s = sub.add_parser("flood")
    s.add_argument("addr")
    s.add_argument("port", type=int)
    s = sub.add_parser("exchange")
    s.add_argument("addr")
    s.add_argument("port", type=int)
    s = sub.add_parser("pair")
    s.add_argument("addr")
    s.add_argument("tcpport", type=int)
    s.add_argument("udpport", type=int)
    s = sub.add_parser("client")
    s.add_argument("addr")
    s.add_argument("port", type=int)
    s.add_argument("--hello", action="store_true")
    s.add_argument("--name")
    a = p.parse_args()
    {"serve": serve, "ping": ping, "send": send, "flood": flood, "exchange": exchange, "pair": pair, "client": client}[a.command](a)


if __name__ == "__main__":
    main()
