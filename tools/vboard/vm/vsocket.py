"""The VM's `socket` as a board's, for the tests of slow name lookups: with VBOARD_DNS
("ip:port" of a DNS server) set, vboard_main puts this module in place of `socket`.
Everything is the VM's real socket module, except that getaddrinfo() resolves a name
the way lwIP's does on the boards: one blocking query to the interface's DNS server,
during which nothing else runs. Addresses are passed through as they are."""
import sys

_path = sys.path
sys.path = []  # so that the import below finds the built-in module, not this one
try:
    from socket import *  # noqa: F401,F403
    import socket as _socket
finally:
    sys.path = _path


def getaddrinfo(host, port, *rest):
    p = host.split(".")
    if host == "localhost" or (len(p) == 4 and all(x.isdigit() for x in p)):
        return _socket.getaddrinfo(host, port, *rest)
    import os
    ip, _, dns_port = os.getenv("VBOARD_DNS").partition(":")
    q = bytearray(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00")
    for label in p:
        q.append(len(label))
        q.extend(label.encode())
    q.extend(b"\x00\x00\x01\x00\x01")
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        s.settimeout(10)
        s.sendto(q, _socket.getaddrinfo(ip, int(dns_port))[0][-1])
        r = s.recv(512)  # blocks, as on a board
    finally:
        s.close()
    if r[3] & 15 or not (r[6] or r[7]):
        raise OSError(-2)  # no such name
    return _socket.getaddrinfo("%d.%d.%d.%d" % tuple(r[-4:]), port, *rest)
