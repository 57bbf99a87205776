import pytest

from vegsales.api import accepts_gzip


@pytest.mark.parametrize(
    ("header", "gzip"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("GZIP;q=0.5", True),
        ("identity", False),
        ("", False),
        ("*", True),
        ("*;q=0.5, gzip;q=0", False),
        ("gzip;q=0.", False),
        ("gzip;q=0.000", False),
        ("gzip;q=abc", False),
        ("br, *;q=0", False),
        ("deflate, gzip ; q=0.1", True),
    ],
)
def test_accept_encoding_decides_gzip(header, gzip):
    assert accepts_gzip(header) is gzip
