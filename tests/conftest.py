"""Shared test settings: no test may reach the network."""
import socket

import pytest


@pytest.fixture(scope="session", autouse=True)
def no_internet():
    """Refuse (and remember) any connection that is not to this machine; fail if one was tried.

    Local stand-ins (an HTTP server on 127.0.0.1, a fake Hugging Face cache in tmp) replace the
    internet in every test.
    """
    attempts: list = []
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def local(host) -> bool:
        return host in ("127.0.0.1", "::1", "localhost", "", None)

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not local(address[0]):
            attempts.append(address)
            raise ConnectionRefusedError(f"tests must not use the network (tried {address})")
        return real_connect(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not local(host.decode() if isinstance(host, bytes) else host):
            attempts.append(host)
            raise socket.gaierror(f"tests must not use the network (tried to resolve {host})")
        return real_getaddrinfo(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", connect)
        mp.setattr(socket, "getaddrinfo", getaddrinfo)
        yield
    assert not attempts, f"a test tried to reach the network: {attempts}"
