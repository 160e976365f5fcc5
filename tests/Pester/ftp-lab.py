#!/usr/bin/env python3
"""A tiny FTP control connection for conntrack helper tests (no data connection is ever opened).

  ftp-lab.py server ADDR PORT            listens; answers 220, then each 'PASV n' with 227 (IPv4) or 229 (IPv6)
                                         announcing data port n, as a passive FTP server does
  ftp-lab.py client ADDR PORT DATAPORT   connects, sends 'PASV DATAPORT', prints the reply and the local
                                         address and port, then holds the connection until stdin closes

The kernel's FTP helper reads the 227/229 reply and creates the expectation for the data connection.
Run both inside test network namespaces only.
"""
import socket
import sys


def serve(addr, port):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(8)
    print("listening", flush=True)
    while True:
        c, _ = s.accept()
        c.sendall(b"220 ctt test server\r\n")
        buf = b""
        while True:
            data = c.recv(4096)
            if not data:
                break
            buf += data
            while b"\r\n" in buf:
                line, buf = buf.split(b"\r\n", 1)
                words = line.decode().split()
                if words and words[0].upper() == "PASV":
                    dport = int(words[1]) if len(words) > 1 else 50000
                    if fam == socket.AF_INET:
                        h = c.getsockname()[0].replace(".", ",")
                        c.sendall(("227 Entering Passive Mode (%s,%d,%d)\r\n" % (h, dport >> 8, dport & 255)).encode())
                    else:
                        c.sendall(("229 Entering Extended Passive Mode (|||%d|)\r\n" % dport).encode())
                elif words and words[0].upper() == "QUIT":
                    c.sendall(b"221 bye\r\n")
        c.close()


def client(addr, port, dport):
    c = socket.create_connection((addr, port), timeout=10)
    f = c.makefile("rb")
    f.readline()
    c.sendall(("PASV %d\r\n" % dport).encode())
    reply = f.readline().decode().strip()
    local = c.getsockname()
    print("%s\t%s\t%d" % (reply, local[0], local[1]), flush=True)
    sys.stdin.read()
    c.close()


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
