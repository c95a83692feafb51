"""Ports picked for services are never ones the kernel may give an outgoing connection."""

from __future__ import annotations

import socket

from stack.processes import EPHEMERAL_RANGE, free_port


def test_a_free_port_is_outside_the_ephemeral_range_and_can_be_bound() -> None:
    low, high = (int(n) for n in EPHEMERAL_RANGE.read_text().split())
    for _ in range(50):
        port = free_port()
        assert not low <= port <= high
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_in_use_is_not_picked() -> None:
    taken = []
    try:
        for _ in range(20):
            sock = socket.socket()
            sock.bind(("127.0.0.1", free_port()))
            sock.listen()
            taken.append(sock)
        assert len({s.getsockname()[1] for s in taken}) == 20
    finally:
        for sock in taken:
            sock.close()


def test_a_port_handed_out_lately_is_not_handed_out_again_before_it_is_bound() -> None:
    ports = [free_port() for _ in range(500)]
    assert len(set(ports)) == len(ports)
