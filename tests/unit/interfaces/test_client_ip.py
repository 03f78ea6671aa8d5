from __future__ import annotations

import pytest

from auth_service.interfaces.http.client_ip import ClientIpResolver

PROXIES = ClientIpResolver(["10.0.0.0/8", "192.168.1.5", "fd00::/8"])


def test_an_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    assert PROXIES.resolve("203.0.113.7", "198.51.100.1") == "203.0.113.7"


def test_without_trusted_proxies_the_peer_is_always_the_client() -> None:
    resolver = ClientIpResolver([])

    assert resolver.resolve("10.0.0.1", "198.51.100.1") == "10.0.0.1"


def test_a_trusted_peer_passes_on_the_right_most_forwarded_address() -> None:
    assert PROXIES.resolve("192.168.1.5", "198.51.100.1") == "198.51.100.1"


def test_a_client_cannot_spoof_its_address_by_prepending_entries() -> None:
    assert PROXIES.resolve("10.1.2.3", "1.1.1.1, 198.51.100.1") == "198.51.100.1"


def test_a_chain_of_trusted_proxies_is_skipped_from_the_right() -> None:
    forwarded = "1.1.1.1, 198.51.100.1, 10.0.0.9, 192.168.1.5"

    assert PROXIES.resolve("10.0.0.2", forwarded) == "198.51.100.1"


def test_cidr_membership_is_exact() -> None:
    assert PROXIES.resolve("11.0.0.1", "198.51.100.1") == "11.0.0.1"
    assert PROXIES.resolve("192.168.1.6", "198.51.100.1") == "192.168.1.6"


def test_when_every_hop_is_trusted_the_left_most_is_the_client() -> None:
    assert PROXIES.resolve("10.0.0.1", "10.0.0.3, 10.0.0.2") == "10.0.0.3"


def test_a_trusted_peer_without_forwarded_header_is_the_client() -> None:
    assert PROXIES.resolve("10.0.0.1", None) == "10.0.0.1"
    assert PROXIES.resolve("10.0.0.1", "") == "10.0.0.1"


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("198.51.100.1:5678", "198.51.100.1"),
        ('"198.51.100.1"', "198.51.100.1"),
        ("  198.51.100.1  ", "198.51.100.1"),
        ("::ffff:198.51.100.1", "198.51.100.1"),
        ("2001:db8::1, fd00::5", "2001:db8::1"),
    ],
)
def test_forwarded_addresses_are_read_in_their_usual_spellings(forwarded: str, expected: str) -> None:
    assert PROXIES.resolve("fd00::1", forwarded) == expected


def test_an_ipv4_mapped_peer_is_matched_against_ipv4_networks() -> None:
    assert PROXIES.resolve("::ffff:10.0.0.1", "198.51.100.1") == "198.51.100.1"


@pytest.mark.parametrize(
    "forwarded", ["unknown", "not an ip", "300.1.1.1", "1.2.3.4:http", "[2001:db8::1", "[::1]x", ",", " , "]
)
def test_a_garbled_right_most_entry_leaves_the_peer_as_the_client(forwarded: str) -> None:
    assert PROXIES.resolve("10.0.0.1", forwarded) == "10.0.0.1"


def test_garbage_behind_a_trusted_hop_stops_at_that_hop() -> None:
    assert PROXIES.resolve("10.0.0.1", "198.51.100.1, garbage, 10.0.0.7") == "10.0.0.7"


def test_empty_list_elements_are_ignored() -> None:
    assert PROXIES.resolve("10.0.0.1", "198.51.100.1,, ") == "198.51.100.1"


def test_a_missing_or_non_ip_peer_is_returned_as_is() -> None:
    assert PROXIES.resolve(None, "198.51.100.1") is None
    assert PROXIES.resolve("testclient", "198.51.100.1") == "testclient"
