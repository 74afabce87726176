"""Resource names (AIP-122): parsing, validation and formatting in one place."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from controlplane.errors import InvalidArgument

# A resource id: lowercase letters, digits and hyphens, 1-63 characters, not ending in a hyphen.
ID_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# Tenant ids start with a letter so they never look like generated ids.
TENANT_ID_RE = re.compile(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# A name is at most this long; longer input is refused before any regex runs.
MAX_NAME_LENGTH = 512
# SearchRuns over every experiment of a tenant.
WILDCARD = "-"


@dataclass(frozen=True)
class Pattern:
    """A resource pattern such as ``tenants/{tenant}/experiments/{experiment}``."""

    template: str

    @property
    def collections(self) -> tuple[str, ...]:
        return tuple(self.template.split("/")[0::2])

    def parse(self, name: str, field: str, *, allow_wildcard_last: bool = False) -> tuple[str, ...]:
        """Returns the ids in ``name``, or raises INVALID_ARGUMENT naming ``field``."""
        if not name:
            raise InvalidArgument.for_field(field, "is required")
        if len(name) > MAX_NAME_LENGTH:
            raise InvalidArgument.for_field(field, f"is longer than {MAX_NAME_LENGTH} characters")
        parts = name.split("/")
        if len(parts) != 2 * len(self.collections) or tuple(parts[0::2]) != self.collections:
            raise InvalidArgument.for_field(field, f"must have the form {self.template}")
        ids = tuple(parts[1::2])
        for position, value in enumerate(ids):
            last = position == len(ids) - 1
            if last and allow_wildcard_last and value == WILDCARD:
                continue
            regex = TENANT_ID_RE if position == 0 else ID_RE
            if not regex.match(value):
                raise InvalidArgument.for_field(
                    field, f"{value!r} is not a valid id in the form {self.template}"
                )
        return ids

    def format(self, *ids: str) -> str:
        parts: list[str] = []
        for collection, value in zip(self.collections, ids, strict=True):
            parts += [collection, value]
        return "/".join(parts)


@dataclass(frozen=True)
class Singleton:
    """A resource that exists once per parent, named ``{parent}/{suffix}`` (AIP-156), such as
    ``tenants/{tenant}/releasePolicy``."""

    parent: Pattern
    suffix: str

    @property
    def template(self) -> str:
        return f"{self.parent.template}/{self.suffix}"

    def parent_name(self, name: str, field: str) -> str:
        """The parent's name in ``name``, or INVALID_ARGUMENT naming ``field``."""
        if not name:
            raise InvalidArgument.for_field(field, "is required")
        if not name.endswith("/" + self.suffix):
            raise InvalidArgument.for_field(field, f"must have the form {self.template}")
        return name[: -len(self.suffix) - 1]

    def parse(self, name: str, field: str) -> tuple[str, ...]:
        """The parent's ids in ``name``, or INVALID_ARGUMENT naming ``field``."""
        return self.parent.parse(self.parent_name(name, field), field)

    def format(self, *ids: str) -> str:
        return f"{self.parent.format(*ids)}/{self.suffix}"


TENANT = Pattern("tenants/{tenant}")
PRINCIPAL = Pattern("tenants/{tenant}/principals/{principal}")
API_KEY = Pattern("tenants/{tenant}/principals/{principal}/apiKeys/{api_key}")
ROLE_BINDING = Pattern("tenants/{tenant}/roleBindings/{role_binding}")
ARTIFACT = Pattern("tenants/{tenant}/artifacts/{artifact}")
EXECUTION = Pattern("tenants/{tenant}/executions/{execution}")
CONTEXT = Pattern("tenants/{tenant}/contexts/{context}")
EXPERIMENT = Pattern("tenants/{tenant}/experiments/{experiment}")
RUN = Pattern("tenants/{tenant}/experiments/{experiment}/runs/{run}")
MODEL = Pattern("tenants/{tenant}/models/{model}")
MODEL_VERSION = Pattern("tenants/{tenant}/models/{model}/versions/{version}")
MODEL_ALIAS = Pattern("tenants/{tenant}/models/{model}/aliases/{alias}")
MODEL_ALIAS_CHANGE = Pattern("tenants/{tenant}/models/{model}/aliases/{alias}/changes/{change}")
GOVERNANCE_EVENT = Pattern("tenants/{tenant}/models/{model}/versions/{version}/events/{event}")
ARTIFACT_QUOTA = Singleton(TENANT, "artifactQuota")
RELEASE_POLICY = Singleton(TENANT, "releasePolicy")
MODEL_CARD = Singleton(MODEL_VERSION, "card")


def tenant_of(name: str) -> str | None:
    """The tenant id a resource name starts with, or None when it does not name one."""
    if not name.startswith("tenants/"):
        return None
    tenant = name[len("tenants/") :].split("/", 1)[0]
    return tenant if TENANT_ID_RE.match(tenant) else None


def validate_new_id(value: str, field: str, *, tenant: bool = False) -> str:
    """Checks a caller-chosen id; an empty one is generated (except for tenants)."""
    if not value:
        if tenant:
            raise InvalidArgument.for_field(field, "is required")
        return new_id()
    regex = TENANT_ID_RE if tenant else ID_RE
    if not regex.match(value):
        rule = "start with a letter, " if tenant else ""
        raise InvalidArgument.for_field(
            field,
            f"must {rule}use lowercase letters, digits and hyphens, 1-63 characters, "
            "and not end with a hyphen",
        )
    return value


def new_id() -> str:
    return uuid.uuid4().hex
