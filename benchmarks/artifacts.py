"""Artifact transfer benchmark: a large artifact up and down through the API, on loopback.

Starts ``mlctl server`` (SQLite, the local artifact store) in a fresh temporary folder, writes
a file of pseudo-random bytes, then uploads it with ``UploadArtifactContent`` and downloads it
with ``DownloadArtifactContent`` through the project's Python client (``Client.upload_artifact``
and ``Client.download_artifact``: file to file, sha256 computed and verified by the client), a
few times each. It reports the median throughput and the peak resident memory of the server
and of the client process (VmHWM), next to the issue's targets: at least 500 MB/s and flat
memory for a 1 GiB artifact. It runs twice: with every file (the server's data dir, the source,
the downloaded copies) on disk, and on tmpfs (/dev/shm), with the machine's raw file-write speed
measured in the same run, because on a small VM the disk, not the API, can be the ceiling.

    .venv/bin/python benchmarks/artifacts.py              # 1 GiB, 3 rounds
    .venv/bin/python benchmarks/artifacts.py --size-mib 256 --rounds 2

Throughput is bytes / wall time of the whole call, including the client's hashing: the upload
hashes the file first (the header carries its sha256), the download hashes as it writes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import HOST, free_port, rss_kb

from controlplane.client import Client
from controlplane.client.artifacts import download_to
from controlplane.v1 import artifact_service_pb2 as ar
from controlplane.v1 import metadata_service_pb2 as md

MiB = 1024 * 1024
TARGET_MB_S = 500.0
RESULTS = Path(__file__).resolve().parent / "results"


def peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident set) of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def write_file(path: Path, size: int) -> None:
    rng = np.random.default_rng(7)
    with path.open("wb") as out:
        remaining = size
        while remaining:
            n = min(remaining, 16 * MiB)
            out.write(rng.integers(0, 256, n, dtype=np.uint8).tobytes())
            remaining -= n


class HashOnly:
    """A sink for ``download_to``: the client still hashes every byte and checks the sha256,
    but writes nothing, to separate the API's throughput from this machine's page cache."""

    def write(self, data: bytes) -> int:
        return len(data)


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    address = f"{HOST}:{port}"
    mlctl = Path(sys.executable).with_name("mlctl")
    command = [str(mlctl)] if mlctl.exists() else [sys.executable, "-m", "controlplane.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROLPLANE_")}
    process = subprocess.Popen(
        [
            *command,
            "server",
            "--listen",
            address,
            "--data-dir",
            str(data_dir),
            "--log-level",
            "WARNING",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    key_file = data_dir / "admin.key"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        if key_file.exists():
            with contextlib.suppress(Exception), Client(address, key_file.read_text().strip()) as c:
                c.whoami()
                return process, address
        time.sleep(0.1)
    raise RuntimeError("the server did not start")


def disk_write_mib_s(folder: Path, size_mib: int = 256) -> float:
    """How fast this machine writes a file into ``folder`` (page cache plus fsync): the ceiling
    for any upload that stores, or download that saves, its bytes there."""
    block = os.urandom(MiB)
    path = folder / "disk-probe.bin"
    t0 = time.perf_counter()
    with path.open("wb") as out:
        for _ in range(size_mib):
            out.write(block)
        out.flush()
        os.fsync(out.fileno())
    elapsed = time.perf_counter() - t0
    path.unlink()
    return size_mib / elapsed


def run(size_mib: int, rounds: int, place: str) -> dict[str, Any]:
    """One server and one client whose files (server data dir, source and downloaded copies)
    live in a temporary folder under ``place``."""
    size = size_mib * MiB
    with tempfile.TemporaryDirectory(prefix="cp-artifacts-bench-", dir=place) as tmp_name:
        tmp = Path(tmp_name)
        source = tmp / "source.bin"
        disk = disk_write_mib_s(tmp)
        print(
            f"{place}: raw file write {disk:.0f} MiB/s; writing a {size_mib} MiB file",
            file=sys.stderr,
        )
        write_file(source, size)
        server, address = start_server(tmp / "data")
        try:
            token = (tmp / "data" / "admin.key").read_text().strip()
            idle_server_mb = rss_kb(server.pid) / 1024.0
            uploads, downloads, sink_downloads = [], [], []
            with Client(address, token, tenant="platform") as client:
                # Round 0 warms up (the first touch of fresh memory is slow on a VM) and is
                # not counted.
                for index in range(rounds + 1):
                    name = f"tenants/platform/artifacts/bench-{index}"
                    client.metadata.CreateArtifact(
                        md.CreateArtifactRequest(
                            parent="tenants/platform",
                            artifact_id=f"bench-{index}",
                            artifact=md.Artifact(type="Model"),
                        )
                    )
                    # Each round uploads different bytes, so content addressing can never turn
                    # an upload into a hash-only check.
                    with source.open("r+b") as patch:
                        patch.write(index.to_bytes(8, "little"))
                    t0 = time.perf_counter()
                    content = client.upload_artifact(name, source)
                    upload = size / MiB / (time.perf_counter() - t0)
                    copy = tmp / f"copy-{index}.bin"
                    t0 = time.perf_counter()
                    client.download_artifact(name, copy)
                    download = size / MiB / (time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    download_to(client.artifacts, name, HashOnly())  # type: ignore[arg-type]
                    verified = size / MiB / (time.perf_counter() - t0)
                    if index > 0:
                        uploads.append(upload)
                        downloads.append(download)
                        sink_downloads.append(verified)
                    if copy.stat().st_size != size or content.size_bytes != size:
                        raise RuntimeError("the downloaded copy has the wrong size")
                    copy.unlink()
                    # Free the round's blob (delete the artifact, collect garbage), as a
                    # long-running server would: otherwise every round writes into memory the
                    # VM has never touched, and first touches are what gets measured.
                    client.metadata.DeleteArtifact(md.DeleteArtifactRequest(name=name))
                    client.artifacts.CollectArtifactGarbage(ar.CollectArtifactGarbageRequest())
                    print(
                        f"round {index}{' (warm-up)' if index == 0 else ''}: upload "
                        f"{upload:.0f} MiB/s, download {download:.0f} MiB/s, download to a "
                        f"verifying sink {verified:.0f} MiB/s",
                        file=sys.stderr,
                    )
            server_peak = peak_rss_mb(server.pid)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    return {
        "place": place,
        "file_write_mib_s": disk,
        "size_mib": size_mib,
        "rounds": rounds,
        "upload_mib_s": uploads,
        "download_mib_s": downloads,
        "upload_mib_s_median": statistics.median(uploads),
        "download_mib_s_median": statistics.median(downloads),
        "sink_download_mib_s": sink_downloads,
        "sink_download_mib_s_median": statistics.median(sink_downloads),
        "server_idle_rss_mb": idle_server_mb,
        "server_peak_rss_mb": server_peak,
        "client_peak_rss_mb": peak_rss_mb(os.getpid()),
    }


MB = 1.048576  # MiB/s -> MB/s


def _verdict(value: float) -> str:
    return "met" if value >= TARGET_MB_S else "**missed**"


def report(results: list[dict[str, Any]]) -> str:
    first = results[0]
    lines = [
        f"# Artifact transfer: {first['size_mib']} MiB through the API, median of "
        f"{first['rounds']} rounds per placement",
        "",
        "| metric | " + " | ".join(f"files on {r['place']}" for r in results) + " | target |",
        "|---|" + "---:|" * len(results) + "---|",
    ]

    def row(label: str, cells: list[str], target: str) -> None:
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")

    up = [r["upload_mib_s_median"] * MB for r in results]
    down = [r["download_mib_s_median"] * MB for r in results]
    row(
        "upload (file -> UploadArtifactContent)",
        [f"{v:,.0f} MB/s" for v in up],
        ">= 500 MB/s (" + ", ".join(_verdict(v) for v in up) + ")",
    )
    row(
        "download (DownloadArtifactContent -> file)",
        [f"{v:,.0f} MB/s" for v in down],
        ">= 500 MB/s (" + ", ".join(_verdict(v) for v in down) + ")",
    )
    sink = [r["sink_download_mib_s_median"] * MB for r in results]
    row(
        "download, sha256-verified, not saved to a file",
        [f"{v:,.0f} MB/s" for v in sink],
        ">= 500 MB/s (" + ", ".join(_verdict(v) for v in sink) + ")",
    )
    row(
        "server peak RSS (VmHWM)",
        [
            f"{r['server_peak_rss_mb']:,.0f} MB (idle {r['server_idle_rss_mb']:,.0f})"
            for r in results
        ],
        "flat",
    )
    row("client peak RSS (VmHWM)", [f"{r['client_peak_rss_mb']:,.0f} MB" for r in results], "flat")
    row(
        "raw file write here, same run (MB/s)",
        [f"{r['file_write_mib_s'] * MB:,.0f} MB/s" for r in results],
        "information",
    )
    lines.append("")
    for r in results:
        lines.append(
            f"Rounds on {r['place']} (upload/download/not saved, MB/s): "
            + ", ".join(
                f"{u * MB:,.0f}/{d * MB:,.0f}/{v * MB:,.0f}"
                for u, d, v in zip(
                    r["upload_mib_s"], r["download_mib_s"], r["sink_download_mib_s"], strict=True
                )
            )
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--places",
        default=f"{tempfile.gettempdir()},/dev/shm",
        help="comma-separated folders to put the files in (default: the temp dir, on disk, "
        "and /dev/shm, in memory, to separate the API from the disk)",
    )
    args = parser.parse_args()
    result = [
        run(args.size_mib, args.rounds, place)
        for place in args.places.split(",")
        if place and os.path.isdir(place)
    ]
    text = report(result)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "artifacts.md").write_text(text + "\n")
    (RESULTS / "artifacts.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
