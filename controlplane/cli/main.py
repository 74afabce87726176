"""``mlctl``: runs the server, manages its database, and calls the API.

Only argparse is imported here: each command imports what it needs when it runs, so
``mlctl --help`` and the client commands never load the server (SQLAlchemy, alembic, ...).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

ENV_PREFIX = "CONTROLPLANE_"

Handler = Callable[[argparse.Namespace], int]


def _lazy(module: str, function: str) -> Handler:
    """A handler that imports ``controlplane.cli.<module>`` only when it runs."""

    def handler(args: argparse.Namespace) -> int:
        loaded = importlib.import_module(f"controlplane.cli.{module}")
        result: int = getattr(loaded, function)(args)
        return result

    handler.__name__ = function
    return handler


def _env_help(name: str, default: Any = None) -> str:
    text = f"env {ENV_PREFIX}{name}"
    if default is not None:
        text += f"; default {default}"
    return text


def _client_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The options of every client command. They are accepted before the command and after
    it; on the subcommands their default is SUPPRESS so they never undo a value given before."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("connection and output")
    group.add_argument(
        "--target",
        default=default(None),
        metavar="HOST:PORT",
        help="server address (" + _env_help("TARGET", "127.0.0.1:7470") + ")",
    )
    group.add_argument(
        "--token",
        default=default(None),
        help="API key ("
        + _env_help("TOKEN")
        + "; else the local server's admin.key, sent only when --target is that server)",
    )
    group.add_argument(
        "--tls-ca",
        default=default(None),
        metavar="PEM",
        help="use TLS, trusting this CA certificate (" + _env_help("TLS_CA") + ")",
    )
    group.add_argument(
        "--tls",
        action="store_true",
        default=default(False),
        help="use TLS with the system's root certificates",
    )
    group.add_argument(
        "--timeout",
        type=float,
        default=default(30.0),
        metavar="SECONDS",
        help="deadline of each call (default 30)",
    )
    group.add_argument(
        "-o",
        "--output",
        choices=["text", "json"],
        default=default(None),
        help="output format (" + _env_help("OUTPUT", "text") + ")",
    )


class _Builder:
    """Adds leaf commands that all carry the client options."""

    def __init__(self) -> None:
        self.common = argparse.ArgumentParser(add_help=False)
        _client_options(self.common, suppress=True)

    def group(self, subparsers: Any, name: str, help_text: str) -> Any:
        parser = subparsers.add_parser(name, help=help_text, description=help_text)
        return parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND", required=True)

    def command(
        self, subparsers: Any, name: str, help_text: str, function: str, module: str = "commands"
    ) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = subparsers.add_parser(
            name, help=help_text, description=help_text, parents=[self.common]
        )
        parser.set_defaults(handler=_lazy(module, function))
        return parser


def _add_server(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "server",
        help="run the server until SIGTERM or SIGINT",
        description="Runs the server until SIGTERM or SIGINT. Each option can also be set by "
        "its environment variable; the option wins over the variable, the variable over the "
        "default.",
    )
    parser.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="address to listen on (" + _env_help("LISTEN", "127.0.0.1:7470") + ")",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="embedded database and admin.key (" + _env_help("DATA_DIR") + ")",
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="sqlite:///... or postgresql://... (" + _env_help("DATABASE_URL") + ")",
    )
    parser.add_argument(
        "--artifact-store",
        metavar="NAME",
        help="artifact-store plugin ("
        + _env_help("ARTIFACT_STORE", "local")
        + "; `mlctl plugins list` shows them)",
    )
    parser.add_argument(
        "--artifact-root",
        metavar="PATH_OR_URL",
        help="where the artifact store keeps blobs: a directory, or an fsspec URL for the fsspec "
        "store (" + _env_help("ARTIFACT_ROOT", "DATA_DIR/artifacts") + ")",
    )
    parser.add_argument(
        "--tls-cert", metavar="PEM", help="server certificate chain (" + _env_help("TLS_CERT") + ")"
    )
    parser.add_argument(
        "--tls-key", metavar="PEM", help="server private key (" + _env_help("TLS_KEY") + ")"
    )
    parser.add_argument(
        "--tls-client-ca",
        metavar="PEM",
        help="require client certificates signed by this CA (" + _env_help("TLS_CLIENT_CA") + ")",
    )
    parser.add_argument(
        "--log-format",
        choices=["json", "text"],
        help="log format on stderr (" + _env_help("LOG_FORMAT", "json") + ")",
    )
    parser.add_argument(
        "--log-level",
        metavar="LEVEL",
        help="DEBUG, INFO, WARNING, ERROR (" + _env_help("LOG_LEVEL", "INFO") + ")",
    )
    parser.add_argument(
        "--telemetry",
        choices=["none", "console"],
        help="OpenTelemetry exporter (" + _env_help("TELEMETRY", "none") + ")",
    )
    parser.add_argument(
        "--event-loop",
        choices=["auto", "uvloop", "asyncio"],
        help="asyncio event loop; auto: uvloop when installed ("
        + _env_help("EVENT_LOOP", "auto")
        + ")",
    )
    parser.add_argument(
        "--grace-seconds",
        type=float,
        metavar="SECONDS",
        help="time in-flight calls get on shutdown (" + _env_help("GRACE_SECONDS", 10) + ")",
    )
    parser.add_argument(
        "--watch-poll-seconds",
        type=float,
        metavar="SECONDS",
        help="how often watch streams look for changes made through other servers, where "
        "PostgreSQL's notices do not tell them (" + _env_help("WATCH_POLL_SECONDS", 1) + ")",
    )
    parser.add_argument(
        "--watch-max-seconds",
        type=float,
        metavar="SECONDS",
        help="how long a watch stream lasts before the server ends it; clients resume ("
        + _env_help("WATCH_MAX_SECONDS", 600)
        + ")",
    )
    parser.add_argument(
        "--durability",
        choices=("auto", "full", "normal"),
        help="full: an acknowledged write survives a power loss (the store syncs to disk on "
        "every commit); normal: it survives a crash of the server process, the last commits "
        "before a power loss may be lost; auto: normal on the embedded SQLite store, full on "
        "PostgreSQL (" + _env_help("DURABILITY", "auto") + ")",
    )
    parser.set_defaults(handler=_lazy("server_commands", "server"))


def _add_db(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "db",
        help="manage the database schema",
        description="Manages the database schema (alembic migrations).",
    )
    commands = parser.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    for name, help_text, function in [
        ("upgrade", "upgrade the schema to the newest revision", "db_upgrade"),
        ("current", "print the database's revision and the newest one", "db_current"),
    ]:
        command = commands.add_parser(name, help=help_text, description=help_text)
        where = command.add_mutually_exclusive_group()
        where.add_argument("--database-url", metavar="URL", help=_env_help("DATABASE_URL"))
        where.add_argument(
            "--data-dir",
            metavar="DIR",
            help="the embedded database in DIR (" + _env_help("DATA_DIR") + ")",
        )
        command.add_argument("-o", "--output", choices=["text", "json"], default=argparse.SUPPRESS)
        command.set_defaults(handler=_lazy("server_commands", function))


def _add_tenants(build: _Builder, subparsers: Any) -> None:
    commands = build.group(subparsers, "tenants", "manage tenants (platform administrators)")
    p = build.command(commands, "create", "create a tenant", "tenants_create")
    p.add_argument("tenant_id", metavar="ID")
    p.add_argument("--display-name", default="")
    p.add_argument("--description", default="")
    p = build.command(commands, "list", "list the tenants the caller can see", "tenants_list")
    p.add_argument("--filter", default="")
    p.add_argument("--order-by", default="")
    p = build.command(commands, "get", "show a tenant", "tenants_get")
    p.add_argument("tenant", metavar="ID")
    p = build.command(commands, "delete", "delete an empty tenant", "tenants_delete")
    p.add_argument("tenant", metavar="ID")


def _add_principals(build: _Builder, subparsers: Any) -> None:
    commands = build.group(subparsers, "principals", "manage the principals of a tenant")
    p = build.command(commands, "create", "create a user or a service account", "principals_create")
    p.add_argument("tenant", metavar="TENANT")
    p.add_argument("principal_id", metavar="ID")
    p.add_argument("--display-name", default="")
    p.add_argument(
        "--service-account", action="store_true", help="a service account rather than a user"
    )
    p = build.command(commands, "list", "list a tenant's principals", "principals_list")
    p.add_argument("tenant", metavar="TENANT")
    p.add_argument("--filter", default="")
    p.add_argument("--order-by", default="")
    for name, help_text, function in [
        ("get", "show a principal", "principals_get"),
        ("disable", "disable a principal (its keys stop working at once)", "principals_disable"),
        ("enable", "enable a disabled principal", "principals_enable"),
        ("delete", "delete a principal with its keys and role bindings", "principals_delete"),
    ]:
        p = build.command(commands, name, help_text, function)
        p.add_argument("name", metavar="NAME", help="tenants/{tenant}/principals/{principal}")


def _add_keys(build: _Builder, subparsers: Any) -> None:
    commands = build.group(subparsers, "keys", "manage API keys")
    p = build.command(
        commands, "create", "create an API key; its secret is shown once", "keys_create"
    )
    p.add_argument("principal", metavar="PRINCIPAL_NAME")
    p.add_argument("--display-name", default="")
    p.add_argument("--expires-in-days", type=float, metavar="N")
    p = build.command(commands, "list", "list a principal's API keys", "keys_list")
    p.add_argument("principal", metavar="PRINCIPAL_NAME")
    p = build.command(commands, "revoke", "revoke an API key", "keys_revoke")
    p.add_argument("name", metavar="KEY_NAME")


def _add_roles(build: _Builder, subparsers: Any) -> None:
    commands = build.group(subparsers, "roles", "manage role bindings")
    p = build.command(commands, "grant", "grant a role to a principal in a tenant", "roles_grant")
    p.add_argument("tenant", metavar="TENANT")
    p.add_argument(
        "principal",
        metavar="PRINCIPAL_NAME",
        help="the principal's resource name, or its id in TENANT",
    )
    p.add_argument(
        "role",
        metavar="ROLE",
        help="viewer, editor, maintainer, approver, admin (or ROLE_EDITOR, ...)",
    )
    p = build.command(commands, "list", "list a tenant's role bindings", "roles_list")
    p.add_argument("tenant", metavar="TENANT")
    p.add_argument("--filter", default="")
    p = build.command(commands, "revoke", "remove a role binding", "roles_revoke")
    p.add_argument("name", metavar="BINDING_NAME")


def _add_experiments(build: _Builder, subparsers: Any) -> None:
    commands = build.group(subparsers, "experiments", "manage experiments")
    p = build.command(commands, "create", "create an experiment", "experiments_create")
    p.add_argument("tenant", metavar="TENANT")
    p.add_argument("experiment_id", metavar="ID")
    p.add_argument("--display-name", default="")
    p.add_argument("--description", default="")
    p = build.command(commands, "list", "list a tenant's experiments", "experiments_list")
    p.add_argument("tenant", metavar="TENANT")
    p.add_argument("--filter", default="")
    p.add_argument("--order-by", default="")
    p = build.command(commands, "get", "show an experiment", "experiments_get")
    p.add_argument("name", metavar="NAME")
    p = build.command(
        commands, "delete", "delete an experiment with its runs", "experiments_delete"
    )
    p.add_argument("name", metavar="NAME")


def _add_runs(build: _Builder, subparsers: Any) -> None:
    commands = build.group(subparsers, "runs", "search and show runs")
    p = build.command(commands, "search", "search runs", "runs_search")
    p.add_argument(
        "parent",
        metavar="PARENT",
        help="an experiment's resource name, or a tenant for all its experiments",
    )
    p.add_argument(
        "--filter", default="", help='for example: metrics.loss < 0.5 AND params.lr = "0.01"'
    )
    p.add_argument("--order-by", default="", help='for example: "metrics.loss desc"')
    p.add_argument("--limit", type=int, metavar="N", help="at most N runs")
    p = build.command(commands, "get", "show a run", "runs_get")
    p.add_argument("name", metavar="NAME")
    p = build.command(commands, "history", "print every point of one metric", "runs_history")
    p.add_argument("run", metavar="RUN_NAME")
    p.add_argument("key", metavar="KEY")


def _add_lineage(build: _Builder, subparsers: Any) -> None:
    p = build.command(
        subparsers, "lineage", "show the lineage graph around an artifact or execution", "lineage"
    )
    p.add_argument("node", metavar="NODE_NAME")
    p.add_argument("--direction", choices=["upstream", "downstream", "both"], default="both")
    p.add_argument(
        "--max-hops", type=int, default=0, metavar="N", help="edges to follow (default 20)"
    )


def _add_artifacts(build: _Builder, subparsers: Any) -> None:
    commands = build.group(subparsers, "artifacts", "move artifact content; quotas and cleanup")
    module = "artifact_commands"
    p = build.command(
        commands,
        "upload",
        "upload a file as an artifact's content (creating the artifact if missing)",
        "artifacts_upload",
        module,
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument("artifact", metavar="ARTIFACT_NAME", help="tenants/TENANT/artifacts/ID")
    p.add_argument("--type", default="File", help="the artifact's type when it is created")
    p.add_argument("--media-type", default="", help="default application/octet-stream")
    p = build.command(
        commands,
        "download",
        "download an artifact's content to a file (sha256 verified)",
        "artifacts_download",
        module,
    )
    p.add_argument("artifact", metavar="ARTIFACT_NAME")
    p.add_argument("file", metavar="FILE")
    p = build.command(commands, "info", "describe an artifact's content", "artifacts_info", module)
    p.add_argument("artifact", metavar="ARTIFACT_NAME")
    p = build.command(
        commands,
        "quota",
        "show a tenant's artifact quota and use, or set its limit (platform administrators)",
        "artifacts_quota",
        module,
    )
    p.add_argument("tenant", metavar="TENANT")
    p.add_argument("--set-limit", type=int, metavar="BYTES", help="0 removes the limit")
    p = build.command(
        commands,
        "gc",
        "delete blobs no artifact references (platform administrators)",
        "artifacts_gc",
        module,
    )
    p.add_argument("--dry-run", action="store_true", help="report without deleting")


def _add_audit(build: _Builder, subparsers: Any) -> None:
    commands = build.group(subparsers, "audit", "read the audit trail (tenant administrators)")
    p = build.command(
        commands,
        "list",
        "list a tenant's audit events, newest first",
        "audit_list",
        "audit_commands",
    )
    p.add_argument("tenant", metavar="TENANT")
    p.add_argument(
        "--filter", default="", help='for example: resource = "tenants/acme/models/churn"'
    )
    p.add_argument("--limit", type=int, metavar="N", help="at most N events")


def _add_models(build: _Builder, subparsers: Any) -> None:
    module = "model_commands"
    commands = build.group(subparsers, "models", "manage registered models, versions and aliases")
    _add_governance(build, commands)
    p = build.command(commands, "create", "create a registered model", "models_create", module)
    p.add_argument("tenant", metavar="TENANT")
    p.add_argument("model_id", metavar="MODEL_ID")
    p.add_argument("--display-name", default="")
    p.add_argument("--description", default="")
    p = build.command(commands, "list", "list a tenant's models", "models_list", module)
    p.add_argument("tenant", metavar="TENANT")
    p.add_argument("--filter", default="", help='for example: tags.team = "growth"')
    p.add_argument("--order-by", default="")
    p.add_argument("--limit", type=int, metavar="N", help="at most N models")
    p = build.command(commands, "get", "show a model", "models_get", module)
    p.add_argument("model", metavar="MODEL", help="tenants/{tenant}/models/{model}")

    versions = build.group(commands, "versions", "list and show model versions")
    p = build.command(versions, "list", "list a model's versions", "versions_list", module)
    p.add_argument("model", metavar="MODEL", help="a model name, or tenants/{tenant}/models/-")
    p.add_argument("--filter", default="", help="for example: state = STATE_REGISTERED")
    p.add_argument("--order-by", default="")
    p.add_argument("--limit", type=int, metavar="N", help="at most N versions")
    p = build.command(versions, "get", "show a version", "versions_get", module)
    p.add_argument("version", metavar="VERSION", help="tenants/{t}/models/{m}/versions/{n}")

    aliases = build.group(commands, "alias", "point aliases at versions, with history")
    for name, help_text, function in (
        ("set", "create or move an alias", "alias_set"),
        ("get", "show an alias", "alias_get"),
        ("delete", "delete an alias", "alias_delete"),
        ("history", "list an alias's moves, newest first", "alias_history"),
    ):
        p = build.command(aliases, name, help_text, function, module)
        p.add_argument("model", metavar="MODEL", help="tenants/{tenant}/models/{model}")
        p.add_argument("alias", metavar="ALIAS")
        if name == "set":
            p.add_argument("version", metavar="VERSION", help="a version number or name")
        if name in ("set", "delete"):
            p.add_argument("--etag", default="", help='the etag read, or "new" (create only)')
            p.add_argument("--reason", default="", help="why, for the history")
        if name == "history":
            p.add_argument("--limit", type=int, metavar="N", help="at most N changes")
    p = build.command(aliases, "list", "list a model's aliases", "alias_list", module)
    p.add_argument("model", metavar="MODEL", help="tenants/{tenant}/models/{model}")
    p = build.command(
        aliases, "watch", "print alias changes as they happen (Ctrl-C ends)", "alias_watch", module
    )
    p.add_argument("model", metavar="MODEL", help="a model name, or tenants/{tenant}/models/-")
    p.add_argument("alias", metavar="ALIAS", nargs="?", help="only this alias")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--after", default="", metavar="CHANGE", help="start after this change")
    start.add_argument(
        "--from-beginning", action="store_true", help="start with every recorded change"
    )
    p.add_argument("--limit", type=int, metavar="N", help="end after N changes")

    online = build.group(commands, "online", "results measured while a version serves")
    p = build.command(
        online, "record", "record a version's online results", "online_record", module
    )
    p.add_argument("version", metavar="VERSION", help="tenants/{t}/models/{m}/versions/{n}")
    p.add_argument("results", metavar="KEY=VALUE", nargs="+", help="for example ctr=0.031")
    p.add_argument("--split", default="online", help="the split of every result (default online)")
    p.add_argument("--slice", default="", help="the slice, for example country=fr (default: all)")
    p.add_argument("--window-start", metavar="TIME", help="RFC 3339: when the results start")
    p.add_argument("--window-end", metavar="TIME", help="RFC 3339 (default: now)")
    p = build.command(online, "list", "list a version's online results", "online_list", module)
    p.add_argument("version", metavar="VERSION", help="tenants/{t}/models/{m}/versions/{n}")
    p.add_argument("--limit", type=int, metavar="N", help="at most N records")

    # Model cards (controlplane/cli/card_commands.py).
    p = build.command(
        commands, "card", "render a version's model card", "card_render", "card_commands"
    )
    p.add_argument("version", metavar="VERSION_NAME", help="tenants/{t}/models/{m}/versions/{n}")
    p.add_argument("--html", action="store_true", help="one self-contained HTML page")
    p.add_argument("--output-file", metavar="PATH", help="write here instead of to stdout")
    p = build.command(
        commands, "card-edit", "write a version's model card fields", "card_edit", "card_commands"
    )
    p.add_argument("version", metavar="VERSION_NAME", help="tenants/{t}/models/{m}/versions/{n}")
    for option in (
        "intended-use",
        "out-of-scope-use",
        "limitations",
        "ethical-considerations",
        "training-data-description",
        "caveats-and-recommendations",
    ):
        p.add_argument(f"--{option}", metavar="TEXT", help="the text, or @FILE to read it")
    p.add_argument("--etag", default="", help="the card's etag read (empty: overwrite)")


def _add_governance(build: _Builder, commands: Any) -> None:
    """Review and release of model versions, under ``mlctl models`` (governance_commands)."""
    module = "governance_commands"
    version_help = "tenants/{t}/models/{m}/versions/{n}"
    for name, help_text in (
        ("submit", "submit a version for review"),
        ("approve", "approve a version (approver role; never its author)"),
        ("reject", "reject a version, saying why (approver role)"),
        ("release", "release an approved version: the policy is checked, an alias moves"),
        ("retire", "take a version out of use for good"),
    ):
        p = build.command(commands, name, help_text, name, module)
        p.add_argument("version", metavar="VERSION_NAME", help=version_help)
        p.add_argument("--reason", default="", required=name == "reject", help="why")
        if name == "release":
            p.add_argument("--alias", default="", help='the alias to move (default "champion")')
    p = build.command(
        commands, "rollback", "point an alias back at its previous release", "rollback", module
    )
    p.add_argument("alias", metavar="ALIAS_NAME", help="tenants/{t}/models/{m}/aliases/{a}")
    p.add_argument("--reason", required=True, help="why, for the alias history")
    policy = build.group(commands, "policy", "show or change a tenant's release policy")
    p = build.command(policy, "get", "show the release policy", "policy_get", module)
    p.add_argument("tenant", metavar="TENANT")
    p = build.command(policy, "set", "change the release policy", "policy_set", module)
    p.add_argument("tenant", metavar="TENANT")
    p.add_argument("--file", required=True, help="a JSON ReleasePolicy; fields it names change")
    p.add_argument("--mask", default="", help="comma-separated fields to change instead")
    p.add_argument("--etag", default="", help="the etag read (refused if it changed since)")
    p = build.command(
        commands, "evaluate", "check a version against the policy", "evaluate", module
    )
    p.add_argument("version", metavar="VERSION_NAME", help=version_help)
    p = build.command(commands, "compare", "two versions side by side", "compare", module)
    p.add_argument("candidate", metavar="CANDIDATE")
    p.add_argument("baseline", metavar="BASELINE")
    p = build.command(commands, "events", "list governance events, oldest first", "events", module)
    p.add_argument("parent", metavar="PARENT", help="a version, a model, or tenants/{t}/models/-")
    p.add_argument("--filter", default="", help='for example: action = "release"')
    p.add_argument("--limit", type=int, metavar="N", help="at most N events")
    p = build.command(
        commands,
        "watch",
        "print governance events as they are recorded (Ctrl-C ends)",
        "watch",
        module,
    )
    p.add_argument("parent", metavar="PARENT", help="a version, a model, or tenants/{t}/models/-")
    p.add_argument("--filter", default="", help='for example: action = "release"')
    start = p.add_mutually_exclusive_group()
    start.add_argument("--after", default="", metavar="EVENT", help="start after this event")
    start.add_argument(
        "--from-beginning", action="store_true", help="start with every recorded event"
    )
    p.add_argument("--limit", type=int, metavar="N", help="end after N events")


def _add_plugins(build: _Builder, subparsers: Any) -> None:
    commands = build.group(subparsers, "plugins", "show the plugins")
    p = build.command(
        commands,
        "list",
        "list the server's plugins, their kinds, versions and sources",
        "plugins_list",
        "artifact_commands",
    )
    p.add_argument(
        "--local",
        action="store_true",
        help="list what this installation would load, without asking a server",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlctl",
        description="The control plane's command line: run the server, manage its database, "
        "and call its API.",
    )
    _client_options(parser, suppress=False)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_server(subparsers)
    _add_db(subparsers)
    build = _Builder()
    build.command(subparsers, "whoami", "show the calling principal and its roles", "whoami")
    _add_tenants(build, subparsers)
    _add_principals(build, subparsers)
    _add_keys(build, subparsers)
    _add_roles(build, subparsers)
    _add_experiments(build, subparsers)
    _add_runs(build, subparsers)
    _add_lineage(build, subparsers)
    _add_artifacts(build, subparsers)
    _add_plugins(build, subparsers)
    _add_models(build, subparsers)
    _add_audit(build, subparsers)
    return parser


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command and returns its exit status: 0 on success, 1 when the call failed,
    2 for a usage error (or a database schema the server refuses)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return _exit_code(exit_.code)
    if getattr(args, "output", None) is None:
        args.output = os.environ.get(ENV_PREFIX + "OUTPUT") or "text"
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``mlctl runs history ... | head``); nothing left to say.
        with contextlib.suppress(OSError):
            # Keeps the interpreter's final flush of stdout quiet.
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0
    except SystemExit as exit_:
        return _exit_code(exit_.code)


if __name__ == "__main__":
    sys.exit(main())
