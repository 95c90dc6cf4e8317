"""Grafana's dashboard schema as JSON Schema, from the Grafana Foundation SDK's Go module.

No registry this project reaches serves the dashboard kind as JSON Schema (the SDK's repository
has one; its npm and PyPI packages hold code only). Its Go module, on the Go module proxy
(Apache-2.0), holds the same kind as Go types that Grafana generates from its schemas, with an
``UnmarshalJSONStrict`` for each that refuses what the schema forbids. The module is downloaded
once into ``.cache/grafana-schema/`` and checked against a pinned SHA-256 (a failed download is
an error with the reason, never a skip: CI reaches the proxy), and :func:`dashboard_schema`
translates its types into JSON Schema with the strict unmarshalling's rules:

* a struct is an object that refuses unknown fields; a field without ``omitempty`` is required;
* Go's numeric types keep their ranges, a named type its constants as an enum (as the SDK's own
  JSON Schema does), ``Validate()``'s simple bounds (``gridPos.w <= 24``) become min/max;
* a union (``PanelOrRowPanel``) is chosen by its discriminator field as the Go code does, or is
  any of its members;
* a panel's ``options`` and ``fieldConfig.defaults.custom`` follow its panel plugin's types, and
  its ``targets`` its datasource's query type, for every plugin the SDK registers by default.

Stricter than Go in one way: a ``null`` is refused where Go would read it as absent.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.request
import zipfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = ROOT / ".cache" / "grafana-schema"

MODULE = "github.com/grafana/grafana-foundation-sdk/go"
VERSION = "v0.0.22"
MODULE_URL = f"https://proxy.golang.org/{MODULE}/@v/{VERSION}.zip"
MODULE_SHA256 = "e5c91d565539a2ec1ef2f491a697faeb4c74cf55e125d501156fd84bb2d78b7b"
_PREFIX = f"{MODULE}@{VERSION}/"

_BASIC: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "bool": {"type": "boolean"},
    "float32": {"type": "number"},
    "float64": {"type": "number"},
    "int": {"type": "integer"},
    "int8": {"type": "integer", "minimum": -(2**7), "maximum": 2**7 - 1},
    "int16": {"type": "integer", "minimum": -(2**15), "maximum": 2**15 - 1},
    "int32": {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1},
    "int64": {"type": "integer"},
    "uint8": {"type": "integer", "minimum": 0, "maximum": 2**8 - 1},
    "uint16": {"type": "integer", "minimum": 0, "maximum": 2**16 - 1},
    "uint32": {"type": "integer", "minimum": 0, "maximum": 2**32 - 1},
    "uint64": {"type": "integer", "minimum": 0},
    "any": {},
    "time.Time": {"type": "string", "format": "date-time"},
}
_BLOCK = re.M | re.S
_STRUCT = re.compile(r"^type (\w+) struct \{\n(.*?)^\}", re.M | re.S)
_FIELD = re.compile(r"^\t(\w+)\s+(\S+)\s+`json:\"([^\"]+)\"`", re.M)
_ALIAS = re.compile(r"^type (\w+) = ([\w.]+)$", re.M)
_NAMED = re.compile(r"^type (\w+) ([a-z\[][^\s=]*)$", re.M)
_CONSTS = re.compile(r"^const \(\n(.*?)^\)", re.M | re.S)
_CONST = re.compile(r"^\t\w+\s+(\w+) = (.+)$", re.M)
_UNION = re.compile(r"^func \(resource (\w+)\) MarshalJSON\(\)", re.M)
_CASE = re.compile(r'(?:case "([^"]+)"|(default)):\s*\n\s*\w+ := &(\w+)\{\}')
_CHECK = re.compile(r"if !\((len\(\[\]rune\()?\*?resource\.(\w+)\)*\s*(<=|<|>=|>)\s*([\w.]+)\)")
_REGISTERED = re.compile(
    r"runtime\.Register(Panelcfg|Dataquery)Variant\((\w+)\.VariantConfig\(\)\)"
)
_NUMERIC_BOUND = {
    ">=": "minimum",
    ">": "exclusiveMinimum",
    "<=": "maximum",
    "<": "exclusiveMaximum",
}


class SchemaUnavailableError(RuntimeError):
    """The SDK's module could not be obtained; the message says why and what to do."""


def module_zip() -> Path:
    """The SDK's Go module as the proxy serves it, downloaded into the cache the first time."""
    path = CACHE_DIR / f"grafana-foundation-sdk-go-{VERSION}.zip"
    if path.exists() and _sha256(path.read_bytes()) == MODULE_SHA256:
        return path
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(MODULE_URL, timeout=120) as response:
            data = response.read()
    except OSError as error:
        raise SchemaUnavailableError(
            f"cannot download Grafana's dashboard schema ({MODULE_URL}): {error}. The dashboard "
            f"tests need it; with no network, put the module's zip at {path}."
        ) from error
    if _sha256(data) != MODULE_SHA256:
        raise SchemaUnavailableError(
            f"{MODULE_URL} has SHA-256 {_sha256(data)}, expected {MODULE_SHA256}"
        )
    partial = path.with_suffix(f".{os.getpid()}.part")
    partial.write_bytes(data)
    partial.replace(path)
    return path


@cache
def dashboard_schema() -> dict[str, Any]:
    """The dashboard kind (schema version :func:`schema_version`) as a JSON Schema document."""
    with zipfile.ZipFile(module_zip()) as archive:
        return _Converter(archive).dashboard()


@cache
def schema_version() -> int:
    """The ``schemaVersion`` a new dashboard of this SDK has: the one our files declare."""
    with zipfile.ZipFile(module_zip()) as archive:
        source = archive.read(_PREFIX + "dashboard/types_gen.go").decode()
    found = re.search(
        r"func NewDashboard\(\) \*Dashboard \{.*?SchemaVersion:\s+(\d+),", source, re.S
    )
    assert found, "the SDK's NewDashboard sets no schemaVersion"
    return int(found.group(1))


def dashboard_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(dashboard_schema())


def schema_errors(validator: jsonschema.Draft202012Validator, document: Any) -> list[str]:
    """Every violation as ``path: message`` (the most specific cause of each), sorted."""
    found = []
    for error in validator.iter_errors(document):
        cause = jsonschema.exceptions.best_match([error])
        found.append(f"{cause.json_path}: {cause.message[:300]}")
    return sorted(set(found))


@dataclass
class _Package:
    # struct name: (Go field, JSON name, Go type, required) per field
    structs: dict[str, list[tuple[str, str, str, bool]]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    named: dict[str, str] = field(default_factory=dict)
    enums: dict[str, list[Any]] = field(default_factory=dict)
    unions: set[str] = field(default_factory=set)
    source: str = ""


class _Converter:
    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self.packages: dict[str, _Package] = {}
        self.defs: dict[str, Any] = {}

    def dashboard(self) -> dict[str, Any]:
        registered = _REGISTERED.findall(self._read("cog/plugins/variants.go"))
        panels = [pkg for kind, pkg in registered if kind == "Panelcfg"]
        queries = [pkg for kind, pkg in registered if kind == "Dataquery"]
        root = self._ref("dashboard", "Dashboard")
        # A query is read as its datasource's type says, by the panel's datasource first.
        query_rules = [
            _when({"datasource": _when_type(identifier)}, self._ref(pkg, name))
            for identifier, pkg, name in self._variants(queries, "Dataquery", "dataquery")
        ]
        self.defs["dataquery"] = {"type": "object", "allOf": query_rules}
        panel = self.defs["dashboard.Panel"]
        panel["allOf"] = [
            _when(
                {"datasource": _when_type(identifier)},
                {"properties": {"targets": {"items": self._ref(pkg, name)}}},
            )
            for identifier, pkg, name in self._variants(queries, "Dataquery", "dataquery")
        ]
        for identifier, pkg, name in self._variants(panels, "Options", "options"):
            rule: dict[str, Any] = {"properties": {"options": self._ref(pkg, name)}}
            custom = self._variant_type(pkg, "FieldConfig", "fieldConfig")
            if custom:
                defaults = {"properties": {"custom": self._ref(pkg, custom)}}
                rule["properties"]["fieldConfig"] = {"properties": {"defaults": defaults}}
            panel["allOf"].append(_when({"type": {"const": identifier}}, rule))
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$comment": f"converted from {MODULE}@{VERSION} (tests/monitoring/grafana_schema.py)",
            **root,
            "$defs": self.defs,
        }

    def _variants(
        self, packages: list[str], kind: str, variable: str
    ) -> list[tuple[str, str, str]]:
        found = []
        for pkg in packages:
            source = self._package(pkg).source
            identifier = re.search(r'Identifier:\s+"([^"]+)"', source)
            name = self._variant_type(pkg, kind, variable)
            assert identifier, f"{pkg}: no variant identifier"
            assert name, f"{pkg}: no {kind} type"
            found.append((identifier.group(1), pkg, name))
        return found

    def _variant_type(self, pkg: str, kind: str, variable: str) -> str | None:
        source = self._package(pkg).source
        found = re.search(
            rf"Strict{kind}Unmarshaler: func.*?\n\s*{variable} := &(\w+)\{{\}}", source
        )
        return found.group(1) if found else None

    def _read(self, path: str) -> str:
        return self.archive.read(_PREFIX + path).decode()

    def _package(self, pkg: str) -> _Package:
        if pkg in self.packages:
            return self.packages[pkg]
        source = self._read(f"{pkg}/types_gen.go")
        parsed = _Package(source=source, unions=set(_UNION.findall(source)))
        for name, body in _STRUCT.findall(source):
            fields = []
            for go_field, go_type, tag in _FIELD.findall(body):
                json_name, _, flags = tag.partition(",")
                fields.append((go_field, json_name, go_type, "omitempty" not in flags))
            parsed.structs[name] = fields
        parsed.aliases = dict(_ALIAS.findall(source))
        parsed.named = dict(_NAMED.findall(source))
        for block in _CONSTS.findall(source):
            for type_name, literal in _CONST.findall(block):
                parsed.enums.setdefault(type_name, []).append(_literal(literal))
        self.packages[pkg] = parsed
        return parsed

    def _ref(self, pkg: str, name: str) -> dict[str, Any]:
        key = f"{pkg}.{name}"
        if key not in self.defs:
            self.defs[key] = {}  # a placeholder while a recursive type converts
            self.defs[key] = self._declaration(pkg, name)
        return {"$ref": f"#/$defs/{key}"}

    def _declaration(self, pkg: str, name: str) -> dict[str, Any]:
        parsed = self._package(pkg)
        if name in parsed.aliases:
            return self._type(pkg, parsed.aliases[name])
        if name in parsed.named:
            schema = self._type(pkg, parsed.named[name])
            if name in parsed.enums:
                schema["enum"] = parsed.enums[name]
            return schema
        if name in parsed.unions:
            return self._union(pkg, name)
        if name in parsed.structs:
            return self._struct(pkg, name)
        raise LookupError(f"no type {pkg}.{name} in {MODULE}@{VERSION}")

    def _type(self, pkg: str, go_type: str) -> dict[str, Any]:
        if go_type.startswith("*"):
            return self._type(pkg, go_type[1:])
        if go_type.startswith("[]"):
            return {"type": "array", "items": self._type(pkg, go_type[2:])}
        if go_type.startswith("map[string]"):
            return {"type": "object", "additionalProperties": self._type(pkg, go_type[11:])}
        if go_type in _BASIC:
            return dict(_BASIC[go_type])
        if go_type == "variants.Dataquery":
            return {"$ref": "#/$defs/dataquery"}
        if "." in go_type:
            other, name = go_type.split(".", 1)
            return self._ref(other, name)
        if not re.fullmatch(r"[A-Z]\w*", go_type):
            raise ValueError(f"{pkg}: a Go type this converter does not know: {go_type}")
        return self._ref(pkg, go_type)

    def _struct(self, pkg: str, name: str) -> dict[str, Any]:
        fields = self._package(pkg).structs[name]
        properties = {json_name: self._type(pkg, go_type) for _, json_name, go_type, _ in fields}
        names = {go_field: json_name for go_field, json_name, _, _ in fields}
        for go_field, (operator, bound), length in self._checks(pkg, name):
            target = properties[names[go_field]]
            if length:
                minimum = {">=": bound, ">": bound + 1}.get(operator)
                maximum = {"<=": bound, "<": bound - 1}.get(operator)
                target.update({"minLength": minimum} if minimum is not None else {})
                target.update({"maxLength": maximum} if maximum is not None else {})
            else:
                target[_NUMERIC_BOUND[operator]] = bound
        schema: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
        }
        required = [json_name for _, json_name, _, needed in fields if needed]
        if required:
            schema["required"] = required
        return schema

    def _checks(self, pkg: str, name: str) -> list[tuple[str, tuple[str, Any], bool]]:
        """``Validate()``'s bounds on a field: ``if !(resource.W <= 24)``."""
        source = self._package(pkg).source
        body = re.search(
            rf"^func \(resource {name}\) Validate\(\) error \{{\n(.*?)^\}}", source, re.M | re.S
        )
        if not body:
            return []
        return [
            (go_field, (operator, _literal(bound)), bool(length))
            for length, go_field, operator, bound in _CHECK.findall(body.group(1))
        ]

    def _union(self, pkg: str, name: str) -> dict[str, Any]:
        source = self._package(pkg).source
        strict = re.search(
            rf"^func \(resource \*{name}\) UnmarshalJSONStrict\(raw \[\]byte\) error "
            r"\{\n(.*?)^\}",
            source,
            _BLOCK,
        )
        assert strict, f"{pkg}.{name}: a union without a strict unmarshalling"
        key = re.search(r'parsedAsMap\["(\w+)"\]', strict.group(1))
        if key is None:  # no discriminator: the first member that reads it
            members = self._package(pkg).structs[name]
            return {"anyOf": [self._type(pkg, go_type) for _, _, go_type, _ in members]}
        cases = _CASE.findall(strict.group(1))
        chosen: dict[str, Any] | bool = next(
            (self._ref(pkg, member) for _, default, member in cases if default), False
        )
        for value, default, member in reversed(cases):
            if not default:
                chosen = {
                    "if": {"properties": {key.group(1): {"const": value}}},
                    "then": self._ref(pkg, member),
                    "else": chosen,
                }
        return {"type": "object", "required": [key.group(1)], "allOf": [chosen]}


def _when(properties: dict[str, Any], then: dict[str, Any]) -> dict[str, Any]:
    return {
        "if": {"properties": properties, "required": sorted(properties)},
        "then": then,
    }


def _when_type(identifier: str) -> dict[str, Any]:
    return {"properties": {"type": {"const": identifier}}, "required": ["type"]}


def _literal(text: str) -> Any:
    text = text.strip()
    if text.startswith('"'):
        return json.loads(text)
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text, 0)
    except ValueError:
        return float(text)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
