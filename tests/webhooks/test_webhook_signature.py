"""verify_signature: GitHub's documented example, one changed byte, str and bytes secrets."""

import pytest

from webhooks.signature import sign, verify_signature

SECRET = "It's a Secret to Everybody"
BODY = b"Hello, World!"
HEADER = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


@pytest.mark.parametrize("secret", [SECRET, SECRET.encode()])
def test_githubs_documented_example_verifies_with_a_str_or_bytes_secret(secret):
    assert verify_signature(secret, BODY, HEADER)
    assert sign(secret, BODY) == HEADER


def test_a_one_byte_change_anywhere_fails():
    # given the documented example, changed by one byte in the body, the secret or the digest
    assert not verify_signature(SECRET, b"Hello, World?", HEADER)
    assert not verify_signature(SECRET, BODY + b"\n", HEADER)
    assert not verify_signature(SECRET + " ", BODY, HEADER)
    assert not verify_signature(SECRET, BODY, HEADER[:-1] + "f")


@pytest.mark.parametrize(
    "header",
    [None, "", "sha256=", "sha1=757107ea0eb2509fc211221cce984b8a37570b6d", HEADER.upper(), "sha256=é" * 3],
)
def test_missing_malformed_or_other_algorithm_headers_never_verify(header):
    assert not verify_signature(SECRET, BODY, header)


def test_an_empty_secret_never_verifies_even_a_matching_digest():
    assert not verify_signature("", BODY, sign(b"", BODY))
