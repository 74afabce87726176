"""Server settings: command-line flags, each with an environment variable and a default."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

ENV_PREFIX = "CONTROLPLANE_"
# In the data directory: the platform administrator's API key (0600), and the addresses the
# server of that directory listens on, one per line. Clients send the key only to those.
ADMIN_KEY_FILE = "admin.key"
SERVER_ADDRESS_FILE = "server.address"


def default_data_dir() -> Path:
    return Path(
        os.environ.get(f"{ENV_PREFIX}DATA_DIR") or platformdirs.user_data_dir("controlplane")
    )


@dataclass
class Settings:
    listen: str = "127.0.0.1:7470"
    data_dir: Path | None = None
    database_url: str = ""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # With a client CA, clients must present a certificate it signed (mTLS).
    tls_client_ca: Path | None = None
    log_format: str = "json"
    log_level: str = "INFO"
    # "none" or "console"; any OpenTelemetry SDK set up by the host process is used as well.
    telemetry: str = "none"
    grace_seconds: float = 10.0
    # The artifact-store plugin by name, and the root it keeps blobs under (a directory or an
    # fsspec URL, as that plugin expects; empty: DATA_DIR/artifacts).
    artifact_store: str = "local"
    artifact_root: str = ""
    # "auto" (uvloop when installed), "uvloop" or "asyncio": see controlplane.server.event_loop.
    event_loop: str = "auto"
    # Watch streams: how often they look for changes committed by another server process,
    # and how long one lasts before the server ends it (clients resume where they were).
    watch_poll_seconds: float = 1.0
    watch_max_seconds: float = 600.0
    # How durable an acknowledged write is: "auto", "full" or "normal"
    # (controlplane.store.durability says what each promises).
    durability: str = "auto"

    def resolved_data_dir(self) -> Path:
        return self.data_dir or default_data_dir()

    def resolved_artifact_root(self) -> str:
        return self.artifact_root or str(self.resolved_data_dir() / "artifacts")

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir() / 'controlplane.db'}"

    @property
    def embedded(self) -> bool:
        return self.resolved_database_url().startswith("sqlite")

    @property
    def admin_key_path(self) -> Path:
        return self.resolved_data_dir() / ADMIN_KEY_FILE

    @property
    def server_address_path(self) -> Path:
        return self.resolved_data_dir() / SERVER_ADDRESS_FILE


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(ENV_PREFIX + name, default)
