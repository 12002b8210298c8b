#!/usr/bin/python3
"""Print free TCP ports on loopback.

  freeport.py [N]          N distinct ports (default 1), one per line, each
                           bindable on 127.0.0.1 and (when available) ::1.
  freeport.py --closed     one port on 127.0.0.1 where nothing listens (for
                           "connection refused", exit 69). For a port that is
                           *guaranteed* closed while a test runs, use
                           `faultserver.py --scenario refused`, which holds a
                           bound, non-listening socket.

Ports come from binding port 0 and reading the number back; never 25/465/587.
"""
import socket
import sys


def have_ipv6():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def free_ports(n, v6):
    held, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            held.append(s)
            port = s.getsockname()[1]
            if port in (25, 465, 587) or port in ports:
                continue
            if v6:
                s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
                s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                try:
                    s6.bind(("::1", port))
                except OSError:
                    s6.close()
                    continue
                held.append(s6)
            ports.append(port)
    finally:
        for s in held:
            s.close()
    return ports


def main(argv):
    if argv[1:2] == ["--closed"]:
        print(free_ports(1, False)[0])
        return 0
    n = int(argv[1]) if len(argv) > 1 else 1
    for p in free_ports(n, have_ipv6()):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
