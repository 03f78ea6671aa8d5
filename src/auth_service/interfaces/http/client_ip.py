"""The client's IP address, trusting `X-Forwarded-For` only from TRUSTED_PROXIES (SPEC §7)."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class ClientIpResolver:
    """Answers the address a request came from.

    The socket peer, unless it lies in a trusted network; then the right-most
    `X-Forwarded-For` entry that is not a trusted proxy. A client can prepend anything
    to that header, so only entries appended by our own proxies are ever believed.
    """

    def __init__(self, trusted_proxies: Sequence[str]) -> None:
        self._networks = tuple(ipaddress.ip_network(item.strip(), strict=False) for item in trusted_proxies)
        # Every request asks about its peer; the same few peers (clients, proxies) come back.
        self._peer = functools.lru_cache(maxsize=4096)(self._parse_peer)

    def _parse_peer(self, peer_host: str) -> tuple[IPAddress | None, str, bool]:
        peer = _parse(peer_host)
        if peer is None:
            return None, peer_host, False  # not an IP (e.g. a test client's name): never a trusted proxy
        return peer, str(peer), self.is_trusted(peer)

    def is_trusted(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net for net in self._networks)

    def resolve(self, peer_host: str | None, x_forwarded_for: str | None) -> str | None:
        if peer_host is None:
            return None
        peer, peer_text, trusted = self._peer(peer_host)
        if peer is None or not trusted or not x_forwarded_for:
            return peer_text
        closest = peer
        for entry in reversed(x_forwarded_for.split(",")):
            if not entry.strip():
                continue  # RFC 9110 §5.6.1: empty list elements are ignored
            address = _parse(entry)
            if address is None:
                # A trusted proxy wrote garbage: stop at the last hop we can vouch for,
                # rather than believe anything further left (which the client controls).
                return str(closest)
            if not self.is_trusted(address):
                return str(address)
            closest = address
        return str(closest)  # every hop is one of ours: the left-most is the client


@functools.lru_cache(maxsize=4096)  # every request parses its peer; the same few peers come back
def _parse(raw: str) -> IPAddress | None:
    """Parse `1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]` or `[::1]:443`; None when it is none of those."""
    text = raw.strip().strip('"').strip()
    if text.startswith("["):
        end = text.find("]")
        if end == -1:
            return None
        tail = text[end + 1:]
        if tail and not (tail.startswith(":") and tail[1:].isdigit()):
            return None
        text = text[1:end]
    elif text.count(":") == 1:  # IPv4 with a port; a bare IPv6 address has at least two colons
        host, _, port = text.partition(":")
        if not port.isdigit():
            return None
        text = host
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1 for trust and for rate limits
    return address
