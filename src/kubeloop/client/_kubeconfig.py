"""Kubeconfig files: read, merge and pick one context (client-go's clientcmd).

::

    config = load_kubeconfig("~/.kube/config", context="prod")
    config.host, config.namespace

Which files (``clientcmd.ClientConfigLoadingRules``): an explicit path, which
must exist and is read alone; else every file of ``$KUBECONFIG`` (an
``os.pathsep``-separated list, missing files skipped, at least one must
exist); else ``~/.kube/config``.

How files merge: the first file to set a cluster, user or context name wins
the whole entry (entries are not merged field by field), and the first file
that sets ``current-context`` wins. Relative paths (``certificate-authority``,
``client-certificate``, ``client-key``, ``tokenFile`` and an exec command that
contains a path separator) are resolved against the directory of the file
they appear in, before merging, so entries keep their meaning wherever they
end up.

Like client-go, every file is decoded completely (a bad base64 field anywhere
fails the load) while files on disk (CA, certificates, token files) are read
and checked only for the context in use. Every :class:`ConfigError` names the
file and the field at fault.
"""

from __future__ import annotations

import binascii
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubeloop.errors import ConfigError

KubeconfigPath = str | os.PathLike[str]

#: The cluster extension handed to exec plugins as ``spec.cluster.config``.
EXEC_CLUSTER_EXTENSION = "client.authentication.k8s.io/exec"


@dataclass(frozen=True)
class Cluster:
    name: str
    source: Path
    server: str = ""
    certificate_authority: Path | None = None
    certificate_authority_data: bytes | None = None
    insecure_skip_tls_verify: bool = False
    tls_server_name: str | None = None
    proxy_url: str | None = None
    exec_extension: Any = None


@dataclass(frozen=True)
class User:
    name: str
    source: Path
    client_certificate: Path | None = None
    client_certificate_data: bytes | None = None
    client_key: Path | None = None
    # Credentials stay out of repr(): a User or Config printed in a log line
    # or an assertion must not carry them.
    client_key_data: bytes | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    token_file: Path | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    #: Checked when the user is used (clientcmd validates only the context in use).
    exec: Fields | None = None
    auth_provider: str | None = None


@dataclass(frozen=True)
class Context:
    name: str
    source: Path
    cluster: str = ""
    user: str = ""
    namespace: str = ""


@dataclass
class Kubeconfig:
    """The merged content of one or more kubeconfig files."""

    files: list[Path]
    clusters: dict[str, Cluster] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    contexts: dict[str, Context] = field(default_factory=dict)
    current_context: str = ""

    @property
    def label(self) -> str:
        return ", ".join(str(f) for f in self.files)


# -- which files ------------------------------------------------------------


def default_kubeconfig_paths() -> tuple[list[Path], str]:
    """The candidate files of the default rules and a description of where
    they came from: ``$KUBECONFIG`` (deduplicated) or ``~/.kube/config``."""
    env = os.environ.get("KUBECONFIG", "")
    if env:
        paths = [Path(p) for p in dict.fromkeys(env.split(os.pathsep)) if p]
        if paths:
            return paths, f"$KUBECONFIG ({env})"
    home = Path(os.path.expanduser("~")) / ".kube" / "config"
    return [home], str(home)


def read_kubeconfig(path_or_paths: KubeconfigPath | Sequence[KubeconfigPath] | None) -> Kubeconfig:
    """Read and merge kubeconfig files.

    A single path must exist. A list (and ``None``, meaning the default
    rules) skips missing files but needs at least one to exist.
    """
    if path_or_paths is None:
        paths, where = default_kubeconfig_paths()
        existing = [p for p in paths if p.is_file()]
        if not existing:
            raise ConfigError(f"no kubeconfig found: {where} does not exist")
    elif isinstance(path_or_paths, str | os.PathLike):
        existing = [Path(os.path.expanduser(os.fspath(path_or_paths)))]
        if not existing[0].exists():
            raise ConfigError(f"kubeconfig {existing[0]}: file does not exist")
    else:
        paths = [Path(os.path.expanduser(os.fspath(p))) for p in path_or_paths]
        existing = [p for p in dict.fromkeys(paths) if p.exists()]
        if not existing:
            listed = ", ".join(str(p) for p in paths) or "(empty list)"
            raise ConfigError(f"no kubeconfig found: none of {listed} exists")
    return merge(parse_file(p) for p in existing)


def merge(configs: Iterable[Kubeconfig]) -> Kubeconfig:
    """clientcmd's merge: the first file to set a name or current-context wins."""
    merged = Kubeconfig(files=[])
    for config in configs:
        merged.files.extend(config.files)
        merged.clusters = config.clusters | merged.clusters
        merged.users = config.users | merged.users
        merged.contexts = config.contexts | merged.contexts
        merged.current_context = merged.current_context or config.current_context
    return merged


# -- decoding one file ------------------------------------------------------


def parse_file(path: Path) -> Kubeconfig:
    path = path.absolute()
    try:
        data = path.read_bytes()
    except (OSError, ValueError) as err:
        raise ConfigError(f"kubeconfig {path}: cannot read: {os_reason(err)}") from None
    return parse_bytes(data, path)


def parse_bytes(data: bytes, path: Path) -> Kubeconfig:
    """Decode one kubeconfig document; ``path`` names it in errors and
    anchors relative paths."""
    try:
        doc = yaml.load(data, Loader=_Loader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"kubeconfig {path}: invalid YAML{where}: {err.problem}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"kubeconfig {path}: invalid YAML: {err}") from None
    except RecursionError:
        raise ConfigError(f"kubeconfig {path}: invalid YAML: nested too deeply") from None
    except Exception as err:
        # PyYAML's constructors let plain exceptions escape for explicit tags
        # that do not fit their value ("!!int xyz": ValueError, "!!bool maybe":
        # KeyError); they are still a file that is not a kubeconfig.
        # Only the type: the message quotes the value ("invalid literal for
        # int(): 'xyz'"), and the value may be a token or a password.
        raise ConfigError(
            f"kubeconfig {path}: invalid YAML: {type(err).__name__} (a tag that does not fit "
            "its value)"
        ) from None
    config = Kubeconfig(files=[path])
    if doc is None:
        return config  # an empty file is an empty config, as in client-go
    top = Fields(doc, "", path)
    if not isinstance(doc, dict):
        raise top.fail(f"not a kubeconfig: expected a mapping at the top, got {kind_of(doc)}")
    kind = top.string("kind")
    if kind and kind != "Config":
        raise top.fail(f"not a kubeconfig: kind is {kind!r}, expected 'Config'")
    config.current_context = top.string("current-context") or ""
    for name, item in top.named_list("clusters", "cluster"):
        config.clusters[name] = _cluster(name, item)
    for name, item in top.named_list("users", "user"):
        config.users[name] = _user(name, item)
    for name, item in top.named_list("contexts", "context"):
        config.contexts[name] = Context(
            name,
            path,
            cluster=item.string("cluster") or "",
            user=item.string("user") or "",
            namespace=item.string("namespace") or "",
        )
    return config


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings: kubeconfigs hold none, and
    constructing one from an impossible date ("2001-13-45") raises ValueError."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _cluster(name: str, item: Fields) -> Cluster:
    extension = None
    for ext_name, ext in item.named_list("extensions", "extension"):
        if ext_name == EXEC_CLUSTER_EXTENSION:
            extension = ext.data
    return Cluster(
        name,
        item.path,
        server=item.string("server") or "",
        certificate_authority=item.file("certificate-authority"),
        certificate_authority_data=item.base64("certificate-authority-data"),
        insecure_skip_tls_verify=item.boolean("insecure-skip-tls-verify"),
        tls_server_name=item.string("tls-server-name"),
        proxy_url=item.string("proxy-url"),
        exec_extension=extension,
    )


def _user(name: str, item: Fields) -> User:
    provider = item.mapping("auth-provider")
    return User(
        name,
        item.path,
        client_certificate=item.file("client-certificate"),
        client_certificate_data=item.base64("client-certificate-data"),
        client_key=item.file("client-key"),
        client_key_data=item.base64("client-key-data"),
        token=item.string("token"),
        token_file=item.file("tokenFile"),
        username=item.string("username"),
        password=item.string("password"),
        exec=item.mapping("exec"),
        auth_provider=(provider.string("name") or "(unnamed)") if provider else None,
    )


class Fields:
    """Typed access to one mapping of a kubeconfig, for errors that say
    ``kubeconfig FILE: users[dev].client-key-data: invalid base64``."""

    def __init__(self, data: Any, where: str, path: Path) -> None:
        self.data = data if isinstance(data, dict) else {}
        self.where = where
        self.path = path

    def fail(self, problem: str, key: str = "") -> ConfigError:
        at = ".".join(p for p in (self.where, key) if p)
        return ConfigError(f"kubeconfig {self.path}: {at + ': ' if at else ''}{problem}")

    def _get(self, key: str, types: type | tuple[type, ...], expected: str) -> Any:
        value = self.data.get(key)
        if value is not None and not isinstance(value, types):
            raise self.fail(f"expected {expected}, got {kind_of(value)}", key)
        return value

    def string(self, key: str) -> str | None:
        value = self._get(key, str, "a string")
        return value if value else None

    def boolean(self, key: str) -> bool:
        return bool(self._get(key, bool, "true or false"))

    def list(self, key: str) -> list[Any]:
        return self._get(key, list, "a list") or []

    def mapping(self, key: str) -> Fields | None:
        value = self._get(key, dict, "a mapping")
        return None if value is None else Fields(value, f"{self.where}.{key}", self.path)

    def file(self, key: str) -> Path | None:
        value = self.string(key)
        return None if value is None else self.path.parent / value

    def base64(self, key: str) -> bytes | None:
        value = self.string(key)
        if value is None:
            return None
        # As strict as Go's base64.StdEncoding (which allows line breaks):
        # Python's strict mode still accepts excess padding ("QUJD=").
        text = "".join(value.split())
        unpadded = text.rstrip("=")
        try:
            if len(text) % 4 or len(text) - len(unpadded) > 2:
                raise ValueError("bad padding")
            return binascii.a2b_base64(text, strict_mode=True)
        except (binascii.Error, ValueError):
            raise self.fail("invalid base64", key) from None

    def named_list(self, key: str, inner: str) -> Iterable[tuple[str, Fields]]:
        """Yield ``(name, fields)`` of a ``[{name: ..., <inner>: {...}}]`` list;
        a name may appear once per file."""
        seen: set[str] = set()
        for i, item in enumerate(self.list(key)):
            entry = Fields(item, f"{key}[{i}]", self.path)
            if not isinstance(item, dict):
                raise entry.fail(f"expected a mapping, got {kind_of(item)}")
            name = entry.string("name")
            if not name:
                raise entry.fail("name is missing")
            if name in seen:
                raise entry.fail(f"duplicate name {name!r}")
            seen.add(name)
            body = entry._get(inner, dict, "a mapping")
            yield name, Fields(body, f"{key}[{name}]", self.path)


def kind_of(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(type(value), type(value).__name__)


def os_reason(err: BaseException) -> str:
    return err.strerror if isinstance(err, OSError) and err.strerror else str(err)
