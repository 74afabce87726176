"""``mlctl models`` against the real server, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from controlplane.server.app import RunningServer
from tests.conftest import TenantWorld
from tests.test_cli import Cli, _clean_environment  # noqa: F401  (an autouse fixture)
from tests.test_registry import artifact, version


async def test_models_versions_and_aliases(
    server: RunningServer, world: TenantWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = Cli(server, world["maintainer"].token, capsys)
    created = await cli.json("models", "create", world.tenant_id, "churn", "--display-name", "C")
    model = created["name"]
    assert model == f"{world.name}/models/churn"
    file = await artifact(world["editor"], world)
    v1 = await version(world["editor"], model, file)
    v2 = await version(world["editor"], model, file)
    listed = await cli.json("models", "list", world.tenant_id)
    assert [m["name"] for m in listed["registered_models"]] == [model]
    versions = await cli.json("models", "versions", "list", model, "--order-by", "version desc")
    assert [v["name"] for v in versions["model_versions"]] == [v2.name, v1.name]
    shown = await cli.json("models", "versions", "get", v1.name)
    assert shown["files"][0]["artifact"] == file
    alias = await cli.json("models", "alias", "set", model, "champion", "1", "--etag", "new")
    assert alias["version"] == v1.name
    code, _, err = await cli.run("models", "alias", "set", model, "champion", "2", "--etag", "new")
    assert code == 1 and "ABORTED" in err
    moved = await cli.json(
        "models",
        "alias",
        "set",
        model,
        "champion",
        v2.name,
        "--etag",
        alias["etag"],
        "--reason",
        "better",
    )
    assert moved["version"] == v2.name
    got = await cli.json("models", "get", model)
    assert got["aliases"] == {"champion": "2"}
    aliases = await cli.json("models", "alias", "list", model)
    assert [a["name"] for a in aliases["aliases"]] == [f"{model}/aliases/champion"]
    code, out, _ = await cli.run("models", "alias", "get", model, "champion")
    assert code == 0 and v2.name in out
    await cli.json("models", "alias", "delete", model, "champion", "--reason", "done")
    history = await cli.json("models", "alias", "history", model, "champion")
    assert [(c.get("previousVersion", ""), c.get("version", "")) for c in history["changes"]] == [
        (v2.name, ""),
        (v1.name, v2.name),
        ("", v1.name),
    ]
    code, out, _ = await cli.run("models", "alias", "history", model, "champion")
    assert code == 0 and "better" in out and "done" in out
