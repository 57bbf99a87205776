"""Deflate and CRC-32 libraries for the cached gzip bodies, compared on the service's own pieces.

python bench/compression.py [--out bench/results/compression.md]

After a post, a GET with gzip re-compresses the pieces that changed (PIECE_ROWS rows each, a
fresh compressor per piece, sync-flushed) and computes the CRC-32 of the body from the first
changed piece on (src/vegsales/json_bodies.py). This renders get_raw_sales and get_monthly_sales
for the sample file, then times both operations with the standard library's zlib, zlib-ng
(python-zlib-ng) and ISA-L (python-isal), each at the level the service would use, all in one
run (the best of 7 repeats), and gives the size of the whole gzip body each produces.
"""

import argparse
import datetime as dt
import os
import platform
import tempfile
import timeit
import zlib
from functools import partial
from pathlib import Path
from types import ModuleType

import orjson
from fastapi.testclient import TestClient
from isal import isal_zlib
from zlib_ng import zlib_ng

from vegsales.json_bodies import PIECE_ROWS
from vegsales.server import Settings, build_app

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES: dict[str, tuple[ModuleType, int]] = {
    "zlib (stdlib)": (zlib, 1),
    "zlib-ng": (zlib_ng, 1),
    "isal": (isal_zlib, 1),
}


def sample_pieces() -> dict[str, list[bytes]]:
    """Each hot table's JSON body for the sample file, cut into pieces of PIECE_ROWS rows."""
    with tempfile.TemporaryDirectory() as folder:
        app = build_app(Settings(backend="sqlite", location=f"{folder}/sales.db"))
        with TestClient(app) as client:
            rows = (ROOT / "data" / "sample_sales.csv").read_text(encoding="utf-8").splitlines()[1:]
            records = [dict(zip(("date", "vegetable", "kilo_sold"), row.split(","), strict=True)) for row in rows]
            for start in range(0, len(records), 500):
                client.post("/post_sales", content=orjson.dumps(records[start : start + 500]))
            tables = {path: client.get(path).json() for path in ("/get_raw_sales", "/get_monthly_sales")}
    return {
        path: [orjson.dumps(rows[i : i + PIECE_ROWS]) for i in range(0, len(rows), PIECE_ROWS)]
        for path, rows in tables.items()
    }


def deflated(module: ModuleType, level: int, piece: bytes) -> bytes:
    compressor = module.compressobj(level, module.DEFLATED, -module.MAX_WBITS)
    return compressor.compress(piece) + compressor.flush(module.Z_SYNC_FLUSH)


def deflate_all(module: ModuleType, level: int, pieces: list[bytes]) -> list[bytes]:
    return [deflated(module, level, piece) for piece in pieces]


def best_micros(work, number: int) -> float:
    return min(timeit.repeat(work, number=number, repeat=7)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "compression.md")
    args = parser.parse_args()
    tables = sample_pieces()
    lines = [
        "# Deflate and CRC-32 for the cached gzip bodies",
        "",
        f"{dt.datetime.now():%Y-%m-%d %H:%M}, {platform.node()}, {os.cpu_count()} cores; bench/compression.py.",
        f"The sample file's bodies in pieces of {PIECE_ROWS} rows; best of 7 repeats, one run.",
        "",
        "| table | library | deflate one piece (µs) | CRC-32 of the body (µs) | gzip body (bytes) |",
        "|---|---|---:|---:|---:|",
    ]
    for path, pieces in tables.items():
        body = b"".join(pieces)
        for name, (module, level) in CANDIDATES.items():
            deflate = best_micros(partial(deflate_all, module, level, pieces), 20)
            crc = best_micros(partial(module.crc32, body), 200)
            size = sum(len(deflated(module, level, piece)) for piece in pieces) + 20  # header and trailer
            lines.append(
                f"| {path} ({len(body):,} B, {len(pieces)} pieces) | {name} (level {level}) "
                f"| {deflate / len(pieces):.1f} | {crc:.1f} | {size:,} |"
            )
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
