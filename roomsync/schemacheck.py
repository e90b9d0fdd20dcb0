"""A fast yes/no check of a document against roomsync's JSON Schemas.

jsonschema resolves every $ref and tracks unevaluated properties node by node: right for
messages, but seconds for a config of 20,000 rooms. This compiles the same schema files into
plain Python closures for the keywords they use, to answer only "valid or not"; config.py asks
jsonschema for the messages when the answer is no. A keyword this does not know makes the
compile fail (CompileError), and config.py then uses jsonschema alone: the schema files stay the
only statement of the rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]
Schema = Mapping[str, Any]
IGNORED = {"$schema", "$id", "$defs", "title", "description", "$comment", "default", "examples"}


class CompileError(Exception):
    """The schema uses something this module does not compile."""


def _is_type(name: str, value: Any) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, {"string": str, "boolean": bool, "array": list, "object": dict, "null": type(None)}[name])


def _json_equal(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1, and containers compare element by element."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


class Compiler:
    """Compiles schemas of a registry ({$id: schema}) into checks; $refs may cross files."""

    def __init__(self, schemas: Mapping[str, Mapping[str, Any]]):
        self.schemas = schemas
        self.compiled: dict[tuple[str, str], Check] = {}

    def compile(self, base: str, pointer: str = "") -> Check:
        key = (base, pointer)
        if key not in self.compiled:
            cell: list[Check] = []
            self.compiled[key] = lambda value: cell[0](value)  # recursion-safe placeholder
            cell.append(self._node(base, self._resolve(base, pointer)))
            self.compiled[key] = cell[0]
        return self.compiled[key]

    def _resolve(self, base: str, pointer: str) -> Any:
        node: Any = self.schemas[base]
        for part in (p for p in pointer.split("/") if p):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def _ref(self, base: str, ref: str) -> tuple[str, str]:
        target, _, pointer = ref.partition("#")
        return (target or base), pointer

    def evaluated_keys(self, base: str, schema: Mapping[str, Any]) -> set[str]:
        """Property names a schema (and its allOf and $ref) declares: what unevaluatedProperties
        leaves alone when every one of those subschemas holds."""
        keys = set(schema.get("properties", {}))
        if "$ref" in schema:
            target = self._ref(base, schema["$ref"])
            keys |= self.evaluated_keys(target[0], self._resolve(*target))
        for sub in schema.get("allOf", []):
            keys |= self.evaluated_keys(base, sub)
        return keys

    def _node(self, base: str, schema: Any) -> Check:
        if schema is True:
            return lambda value: True
        if schema is False:
            return lambda value: False
        unknown = set(schema) - IGNORED - set(_KEYWORDS)
        if unknown:
            raise CompileError(f"cannot compile {sorted(unknown)}")
        if "unevaluatedProperties" in schema and (schema.get("anyOf") or schema.get("oneOf")):
            raise CompileError("unevaluatedProperties next to anyOf")
        compiled = (_KEYWORDS[k](self, base, schema, v) for k, v in schema.items() if k in _KEYWORDS)
        checks = [c for c in compiled if c is not None]
        if len(checks) == 1:
            return checks[0]
        return lambda value: all(check(value) for check in checks)


def _type(c: Compiler, base: str, schema: Schema, names: Any) -> Check:
    names = names if isinstance(names, list) else [names]
    return lambda value: any(_is_type(n, value) for n in names)


def _enum(c: Compiler, base: str, schema: Schema, choices: list[Any]) -> Check:
    return lambda value: any(_json_equal(value, choice) for choice in choices)


def _pattern(c: Compiler, base: str, schema: Schema, pattern: str) -> Check:
    search = re.compile(pattern).search
    return lambda value: not isinstance(value, str) or search(value) is not None


def _min_length(c: Compiler, base: str, schema: Schema, n: int) -> Check:
    return lambda value: not isinstance(value, str) or len(value) >= n


def _max_length(c: Compiler, base: str, schema: Schema, n: int) -> Check:
    return lambda value: not isinstance(value, str) or len(value) <= n


def _minimum(c: Compiler, base: str, schema: Schema, n: float) -> Check:
    return lambda value: not _is_type("number", value) or value >= n


def _maximum(c: Compiler, base: str, schema: Schema, n: float) -> Check:
    return lambda value: not _is_type("number", value) or value <= n


def _min_items(c: Compiler, base: str, schema: Schema, n: int) -> Check:
    return lambda value: not isinstance(value, list) or len(value) >= n


def _required(c: Compiler, base: str, schema: Schema, names: list[str]) -> Check:
    return lambda value: not isinstance(value, dict) or all(n in value for n in names)


def _properties(c: Compiler, base: str, schema: Schema, properties: Schema) -> Check:
    checks = {name: c._node(base, sub) for name, sub in properties.items()}
    return lambda value: not isinstance(value, dict) or all(checks[k](v) for k, v in value.items() if k in checks)


def _additional(c: Compiler, base: str, schema: Schema, extra: Any) -> Check:
    known = set(schema.get("properties", {}))
    if extra is False:
        return lambda value: not isinstance(value, dict) or known.issuperset(value)
    check = c._node(base, extra)
    return lambda value: not isinstance(value, dict) or all(check(v) for k, v in value.items() if k not in known)


def _unevaluated(c: Compiler, base: str, schema: Schema, extra: Any) -> Check:
    if extra is not False:
        raise CompileError("unevaluatedProperties other than false")
    known = c.evaluated_keys(base, schema)
    return lambda value: not isinstance(value, dict) or known.issuperset(value)


def _items(c: Compiler, base: str, schema: Schema, items: Any) -> Check:
    check = c._node(base, items)
    return lambda value: not isinstance(value, list) or all(check(v) for v in value)


def _unique(c: Compiler, base: str, schema: Schema, unique: bool) -> Check | None:
    if not unique:
        return None

    def check(value: Any) -> bool:
        if not isinstance(value, list):
            return True
        return not any(_json_equal(a, b) for i, a in enumerate(value) for b in value[i + 1 :])

    return check


def _any_of(c: Compiler, base: str, schema: Schema, branches: list[Any]) -> Check:
    checks = [c._node(base, b) for b in branches]
    return lambda value: any(check(value) for check in checks)


def _all_of(c: Compiler, base: str, schema: Schema, branches: list[Any]) -> Check:
    checks = [c._node(base, b) for b in branches]
    return lambda value: all(check(value) for check in checks)


def _dollar_ref(c: Compiler, base: str, schema: Schema, ref: str) -> Check:
    return c.compile(*c._ref(base, ref))


_KEYWORDS: dict[str, Callable[[Compiler, str, Schema, Any], Check | None]] = {
    "type": _type,
    "enum": _enum,
    "pattern": _pattern,
    "minLength": _min_length,
    "maxLength": _max_length,
    "minimum": _minimum,
    "maximum": _maximum,
    "minItems": _min_items,
    "required": _required,
    "properties": _properties,
    "additionalProperties": _additional,
    "unevaluatedProperties": _unevaluated,
    "items": _items,
    "uniqueItems": _unique,
    "anyOf": _any_of,
    "allOf": _all_of,
    "$ref": _dollar_ref,
}
