"""Avro binary decoding by generated Python: ``fastavro.schemaless_reader`` for one writer schema, faster.

fastavro interprets the schema for every value it reads or skips, whether the value is kept or not. A ZTF
alert carries ~2,000 such fields, most of them in prv_candidates, of which ingest keeps a few dozen. ``compile_decoder`` writes straight-line Python source for one writer schema (one function
per named record to read it, one to skip it) and compiles it once, so that skipping a nullable double is a
tuple lookup and reading one is a comparison and a ``struct`` call.

What it returns is what fastavro 1.13.1's ``schemaless_reader(stream, writer, reader)`` returns when ``reader``
is the writer schema with fields removed the way ``labeling.ingest.avro.reader_schema`` removes them. Where the two
could differ, ``compile_decoder`` declines (returns None) and the caller keeps fastavro: a logical type in
anything that is read (fastavro converts those), ``error`` records and unknown types, duplicate field names,
and the union and alias cases where fastavro's schema resolution would change a value.

Malformed input raises (IndexError, ValueError, EOFError, struct.error, UnicodeDecodeError,
RecursionError) and never loops or allocates more than the buffer's length can justify. It is stricter than
fastavro where fastavro makes something up: a negative union or enum index (fastavro counts from the end of
the list), a varint longer than 10 bytes or beyond 64 bits (fastavro wraps it round), an array of zero-width
items (nulls) longer than ``ZERO_WIDTH_ITEM_LIMIT`` (fastavro builds it, however long).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping

import fastavro

__all__ = ["ZERO_WIDTH_ITEM_LIMIT", "compile_decoder"]

Decoder = Callable[[bytes | bytearray | memoryview, int], tuple[object, int]]

# The byte count of an array block bounds how many items it can hold, except when an item takes no bytes.
ZERO_WIDTH_ITEM_LIMIT = 1 << 20

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_FIXED_WIDTH = {"null": 0, "boolean": 1, "float": 4, "double": 8}
_NAMED = frozenset({"record", "enum", "fixed"})
# What fastavro's match_types lets a writer type resolve to (and then converts the value).
_PROMOTIONS = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}


class _Unsupported(Exception):
    """The schema holds something the generated code would not decode exactly as fastavro does."""


def _varint(buf, pos):
    """The unsigned value of the varint at ``pos`` and the position after it (generated code inlines 1 byte).

    Unrolled: ZTF ids take 5 to 9 bytes, and a loop costs half as much again."""
    b = buf[pos]
    if b < 128:
        return b, pos + 1
    n = b & 0x7F
    b = buf[pos + 1]
    if b < 128:
        return n | b << 7, pos + 2
    n |= (b & 0x7F) << 7
    b = buf[pos + 2]
    if b < 128:
        return n | b << 14, pos + 3
    n |= (b & 0x7F) << 14
    b = buf[pos + 3]
    if b < 128:
        return n | b << 21, pos + 4
    n |= (b & 0x7F) << 21
    b = buf[pos + 4]
    if b < 128:
        return n | b << 28, pos + 5
    n |= (b & 0x7F) << 28
    b = buf[pos + 5]
    if b < 128:
        return n | b << 35, pos + 6
    n |= (b & 0x7F) << 35
    b = buf[pos + 6]
    if b < 128:
        return n | b << 42, pos + 7
    n |= (b & 0x7F) << 42
    b = buf[pos + 7]
    if b < 128:
        return n | b << 49, pos + 8
    n |= (b & 0x7F) << 49
    b = buf[pos + 8]
    if b < 128:
        return n | b << 56, pos + 9
    n |= (b & 0x7F) << 56
    b = buf[pos + 9]
    if b > 1:  # an 11th byte, or bits past the 64th
        raise ValueError("varint longer than 64 bits")
    return n | b << 63, pos + 10


def _skip_union(buf, pos, widths):
    """Past a union whose branches all have a fixed width. The generated code's one-byte lookup handles the
    usual index bytes (0x00, 0x02); this reads the index as any varint, overlong encodings included."""
    u, pos = _varint(buf, pos)
    if u & 1 or u >> 1 >= len(widths):
        raise IndexError("union branch index out of range")
    return pos + widths[u >> 1]


def _skip_varint(buf, pos):
    last = pos + 9
    while buf[pos] & 0x80:
        if pos >= last:
            raise ValueError("varint longer than 10 bytes")
        pos += 1
    return pos + 1


def compile_decoder(
    writer_schema: dict | list | str,
    top_fields: Iterable[str] | None = None,
    nested: Mapping[str, Iterable[str]] | None = None,
) -> Decoder | None:
    """A function ``decode(buf, pos) -> (value, new_pos)`` for data written with ``writer_schema``, or None.

    ``writer_schema`` is the schema as JSON gives it (a parsed fastavro schema works too). When it is a record,
    ``top_fields`` names the fields kept (None: all) and ``nested`` maps a kept field to the fields kept of the
    record items of its array, written inline in that field: ``{"type": "array", "items": {record}}``, the
    array or the items possibly in a union (Fink's ``["null", {record}]``). Fields not kept are skipped and
    absent from the dicts, as with fastavro given ``labeling.ingest.avro.reader_schema(writer)`` as reader schema.

    ``decode`` reads one datum starting at ``pos`` of a bytes-like ``buf`` and returns it with the position
    just after it. Returns None when the schema cannot be decoded exactly as fastavro does (see the module
    docstring); callers then keep fastavro. The caller caches: each call parses and compiles afresh.
    """
    try:
        return _Generator(writer_schema, top_fields, nested or {}).build()
    except (_Unsupported, RecursionError, SyntaxError):  # the last two: nesting deeper than Python compiles
        return None
    except (KeyError, TypeError, ValueError, AttributeError):  # a schema shape fastavro lets through, unforeseen here
        return None


class _Generator:
    def __init__(self, schema, top_fields, nested):
        try:
            self.root = fastavro.parse_schema(schema)
        except Exception as exc:
            raise _Unsupported(f"fastavro cannot parse the schema ({exc})") from exc
        self.defs: dict[str, dict] = {}  # full name -> definition, as parse_schema leaves them
        self.in_reader: dict[str, bool] = {}  # full name -> whether its definition survives the field cuts
        self.keep: dict[str, frozenset] = {}  # record full name -> fields kept
        self.consts: dict[object, str] = {}
        self.namespace: dict[str, object] = {
            "_varint": _varint,
            "_skip_varint": _skip_varint,
            "_skip_union": _skip_union,
            "_unpack_f": struct.Struct("<f").unpack_from,
            "_unpack_d": struct.Struct("<d").unpack_from,
            "_ZERO_WIDTH_ITEM_LIMIT": ZERO_WIDTH_ITEM_LIMIT,
        }
        self.functions: dict[tuple[str, str], str] = {}
        self.todo: list[tuple[str, str]] = []
        self.counter = 0
        self._set_keep(top_fields, nested)
        self._index(self.root, True)
        # fastavro drops the reader schema when it equals the writer's; otherwise it resolves every value.
        self.resolving = any(
            any(f["name"] not in keep for f in self.defs[name]["fields"]) for name, keep in self.keep.items()
        )
        if self.resolving:
            self._check_aliases()

    # -- the schema ------------------------------------------------------------------------------------

    def _set_keep(self, top_fields, nested):
        root = self.root
        if not (isinstance(root, dict) and root.get("type") == "record"):
            return  # reader_schema gives no reader schema for anything but a record: all is read
        if top_fields is not None:
            self.keep[root["name"]] = frozenset(top_fields)
        for f in root.get("fields", []):
            if f["name"] not in nested or (top_fields is not None and f["name"] not in top_fields):
                continue
            ftype = f["type"]
            # The same walk as reader_schema: only a record written inline as the array's items is cut.
            for branch in ftype if isinstance(ftype, list) else [ftype]:
                items = branch.get("items") if isinstance(branch, dict) and branch.get("type") == "array" else None
                for item in items if isinstance(items, list) else [items]:
                    if isinstance(item, dict) and item.get("type") == "record":
                        self.keep[item["name"]] = frozenset(nested[f["name"]])

    def _index(self, t, in_reader):
        if isinstance(t, list):
            for branch in t:
                self._index(branch, in_reader)
        elif isinstance(t, dict):
            kind = t.get("type")
            if kind in _NAMED:
                name = t["name"]
                if name in self.defs:
                    raise _Unsupported(f"{name} defined twice")
                self.defs[name] = t
                self.in_reader[name] = in_reader
                # The schema comes from the file being read: what goes into the generated source has to be
                # a plain int or a repr()'d str (fastavro checks neither a fixed's size nor a field's name).
                if kind == "fixed" and (type(t.get("size")) is not int or t["size"] < 0):
                    raise _Unsupported(f"the size of {name} is not a count of bytes")
                if kind == "record":
                    names = [f["name"] for f in t["fields"]]
                    if not all(type(n) is str for n in names):
                        raise _Unsupported(f"a field name of {name} is not a string")
                    if len(set(names)) != len(names):
                        raise _Unsupported(f"duplicate field names in {name}")
                    keep = self.keep.get(name)
                    for f in t["fields"]:
                        self._index(f["type"], in_reader and (keep is None or f["name"] in keep))
            elif kind == "array":
                self._index(t["items"], in_reader)
            elif kind == "map":
                self._index(t["values"], in_reader)

    def _check_aliases(self):
        # fastavro looks a writer field up among the reader's aliases when its name is not a reader field:
        # a dropped field named like an alias of a kept one would be read into the kept one.
        for name, keep in self.keep.items():
            fields = self.defs[name]["fields"]
            dropped = {f["name"] for f in fields if f["name"] not in keep}
            for f in fields:
                if f["name"] in keep and dropped.intersection(f.get("aliases") or ()):
                    raise _Unsupported(f"an alias of {name}.{f['name']} names a dropped field")

    def _deref(self, t, reading):
        """A primitive type name, a list (union) or a dict (complex type), named references resolved."""
        if isinstance(t, str):
            if t in _PRIMITIVES:
                return t
            if t not in self.defs:
                raise _Unsupported(f"unknown type {t!r}")
            if reading and not self.in_reader[t]:
                # Its definition sits in a dropped field: the cut reader schema would not parse, so ingest
                # reads such packets with the writer schema alone.
                raise _Unsupported(f"{t} is read but defined in a dropped field")
            t = self.defs[t]
        if isinstance(t, dict):
            kind = t.get("type")
            if reading and "logicalType" in t:
                raise _Unsupported("logical types are converted by fastavro")
            if kind in _PRIMITIVES:
                return kind
            if kind not in _NAMED and kind not in ("array", "map"):
                raise _Unsupported(f"unsupported type {kind!r}")
            return t
        if isinstance(t, list):
            if any(isinstance(b, list) for b in t):
                raise _Unsupported("union inside a union")
            return t
        raise _Unsupported(f"unsupported type {t!r}")

    def _kind(self, t):
        return t if isinstance(t, str) else "union" if isinstance(t, list) else t["type"]

    def _fixed_width(self, t, seen=()):
        """Bytes every value of ``t`` takes, or None when that varies."""
        t = self._deref(t, False)
        kind = self._kind(t)
        if kind in _FIXED_WIDTH:
            return _FIXED_WIDTH[kind]
        if kind == "fixed":
            return t["size"]
        if kind == "record" and t["name"] not in seen:
            widths = [self._fixed_width(f["type"], (*seen, t["name"])) for f in t["fields"]]
            return None if None in widths else sum(widths)
        return None

    def _min_width(self, t, seen=()):
        """The fewest bytes a value of ``t`` takes (a recursive record counts its recursion as 0)."""
        t = self._deref(t, False)
        kind = self._kind(t)
        if kind in _FIXED_WIDTH:
            return _FIXED_WIDTH[kind]
        if kind == "fixed":
            return t["size"]
        if kind == "record":
            if t["name"] in seen:
                return 0
            return sum(self._min_width(f["type"], (*seen, t["name"])) for f in t["fields"])
        if kind == "union":
            return 1 + min((self._min_width(b, seen) for b in t), default=0)
        return 1  # int, long, enum, string, bytes: a varint; array, map: the closing zero count

    def _may_resolve_to(self, writer, reader):
        """Whether fastavro's match_types could pick union branch ``reader`` for a value of ``writer``."""
        w, r = self._deref(writer, False), self._deref(reader, False)
        wk, rk = self._kind(w), self._kind(r)
        if wk in _PRIMITIVES and rk in _PRIMITIVES:
            return wk == rk or rk in _PROMOTIONS.get(wk, ())
        if wk == rk and wk in ("array", "map"):
            return True
        if wk == rk and wk in _NAMED:
            return w["name"].rsplit(".", 1)[-1] == r["name"].rsplit(".", 1)[-1] or bool(r.get("aliases"))
        return False

    # -- code ------------------------------------------------------------------------------------------

    def _fresh(self, prefix):
        self.counter += 1
        return f"{prefix}{self.counter}"

    def _const(self, value, prefix):
        key = (prefix, repr(value))
        if key not in self.consts:
            name = f"_{prefix}{len(self.consts)}"
            self.consts[key] = name
            self.namespace[name] = value
        return self.consts[key]

    def _function(self, kind, record_name):
        key = (kind, record_name)
        if key not in self.functions:
            self.functions[key] = f"_{kind}{len(self.functions)}"
            self.todo.append(key)
        return self.functions[key]

    @staticmethod
    def _uvarint(var, ind, out):
        out += [f"{ind}{var} = buf[pos]", f"{ind}if {var} < 128:", f"{ind}    pos += 1", f"{ind}else:"]
        out.append(f"{ind}    {var}, pos = _varint(buf, pos)")

    def _block_count(self, var, ind, out):
        """A block count into ``var``; ``break`` on the closing zero. A negative count comes with a byte size,
        which fastavro ignores when it reads the items."""
        self._uvarint("u", ind, out)
        out += [f"{ind}if u == 0:", f"{ind}    break", f"{ind}if u & 1:", f"{ind}    {var} = (u >> 1) + 1"]
        self._uvarint("u", ind + "    ", out)
        out += [f"{ind}else:", f"{ind}    {var} = u >> 1"]

    def _count_limit(self, var, min_width, what, ind, out):
        if min_width:
            out.append(f"{ind}if {var} > (len(buf) - pos) // {min_width}:")
            out.append(f"{ind}    raise ValueError('{what} block count exceeds the bytes left')")
        else:
            out.append(f"{ind}if {var} > _ZERO_WIDTH_ITEM_LIMIT:")
            out.append(f"{ind}    raise ValueError('{what} block count over ZERO_WIDTH_ITEM_LIMIT')")

    def _length(self, ind, out):
        """A string/bytes length: leaves the end offset in ``e``, checked against the buffer."""
        self._uvarint("u", ind, out)
        out += [f"{ind}if u & 1:", f"{ind}    raise ValueError('negative length')", f"{ind}e = pos + (u >> 1)"]
        out += [f"{ind}if e > len(buf):", f"{ind}    raise EOFError('value runs past the end of the buffer')"]

    def _read(self, t, tgt, ind, out):
        """Code that reads a value of ``t`` into the local ``tgt`` and moves ``pos`` past it."""
        t = self._deref(t, True)
        kind = self._kind(t)
        if kind == "null":
            out.append(f"{ind}{tgt} = None")
        elif kind == "boolean":
            # fastavro reads any byte but 0 as true.
            out += [f"{ind}{tgt} = buf[pos] != 0", f"{ind}pos += 1"]
        elif kind in ("int", "long"):
            # fastavro does not range-check an int either.
            self._uvarint("u", ind, out)
            out.append(f"{ind}{tgt} = (u >> 1) ^ -(u & 1)")
        elif kind == "float":
            out += [f"{ind}{tgt} = _unpack_f(buf, pos)[0]", f"{ind}pos += 4"]
        elif kind == "double":
            out += [f"{ind}{tgt} = _unpack_d(buf, pos)[0]", f"{ind}pos += 8"]
        elif kind in ("string", "bytes"):
            self._length(ind, out)
            conv = "str(buf[pos:e], 'utf-8')" if kind == "string" else "bytes(buf[pos:e])"
            out += [f"{ind}{tgt} = {conv}", f"{ind}pos = e"]
        elif kind == "fixed":
            out += [f"{ind}e = pos + {t['size']}", f"{ind}if e > len(buf):"]
            out += [f"{ind}    raise EOFError('fixed runs past the end of the buffer')"]
            out += [f"{ind}{tgt} = bytes(buf[pos:e])", f"{ind}pos = e"]
        elif kind == "enum":
            symbols = self._const(tuple(t["symbols"]), "symbols")
            self._uvarint("u", ind, out)
            out += [f"{ind}if u & 1:", f"{ind}    raise IndexError('negative enum index')"]
            out.append(f"{ind}{tgt} = {symbols}[u >> 1]")
        elif kind == "record":
            out.append(f"{ind}{tgt}, pos = {self._function('r', t['name'])}(buf, pos)")
        elif kind in ("array", "map"):
            self._read_container(t, kind, tgt, ind, out)
        else:
            self._read_union(t, tgt, ind, out)

    def _read_container(self, t, kind, tgt, ind, out):
        acc, count, item = self._fresh("acc"), self._fresh("count"), self._fresh("item")
        inner = ind + "        "
        out += [f"{ind}{acc} = {'[]' if kind == 'array' else '{}'}", f"{ind}while True:"]
        self._block_count(count, ind + "    ", out)
        if kind == "array":
            self._count_limit(count, self._min_width(t["items"]), "array", ind + "    ", out)
            out.append(f"{ind}    for _ in range({count}):")
            self._read(t["items"], item, inner, out)
            out.append(f"{inner}{acc}.append({item})")
        else:
            key = self._fresh("key")
            self._count_limit(count, 1 + self._min_width(t["values"]), "map", ind + "    ", out)
            out.append(f"{ind}    for _ in range({count}):")
            self._read("string", key, inner, out)  # fastavro decodes keys strictly too
            self._read(t["values"], item, inner, out)
            out.append(f"{inner}{acc}[{key}] = {item}")
        out.append(f"{ind}{tgt} = {acc}")

    def _read_union(self, branches, tgt, ind, out):
        if self.resolving:
            for i, writer in enumerate(branches):
                if any(self._may_resolve_to(writer, reader) for reader in branches[:i]):
                    raise _Unsupported("a union branch that fastavro would resolve to an earlier one")
        self._uvarint("u", ind, out)
        for i, branch in enumerate(branches):
            out.append(f"{ind}{'if' if i == 0 else 'elif'} u == {2 * i}:")
            self._read(branch, tgt, ind + "    ", out)
        out += [f"{ind}else:", f"{ind}    raise IndexError('union branch index out of range')"]

    def _skip(self, t, ind, out):
        """Code that moves ``pos`` past a value of ``t``, with the checks fastavro makes when skipping."""
        t = self._deref(t, False)
        kind = self._kind(t)
        width = self._fixed_width(t)
        if width is not None:
            if width:
                out.append(f"{ind}pos += {width}")
        elif kind in ("int", "long", "enum"):
            out += [f"{ind}if buf[pos] < 128:", f"{ind}    pos += 1", f"{ind}else:"]
            out.append(f"{ind}    pos = _skip_varint(buf, pos)")
        elif kind in ("string", "bytes"):
            # The end is not checked: no value comes of it, and decode() refuses a final position past the end.
            self._uvarint("u", ind, out)
            out += [f"{ind}if u & 1:", f"{ind}    raise ValueError('negative length')", f"{ind}pos += u >> 1"]
        elif kind == "record":
            out.append(f"{ind}pos = {self._function('s', t['name'])}(buf, pos)")
        elif kind in ("array", "map"):
            self._skip_container(t, kind, ind, out)
        else:
            self._skip_union(t, ind, out)

    def _skip_container(self, t, kind, ind, out):
        count = self._fresh("count")
        values = t["items"] if kind == "array" else t["values"]
        width = self._fixed_width(values)
        out.append(f"{ind}while True:")
        self._uvarint("u", ind + "    ", out)
        out += [f"{ind}    if u == 0:", f"{ind}        break", f"{ind}    if u & 1:"]
        # fastavro's compiled reader skips a block with a byte size by that size, without looking at the
        # items: a wrong size takes it elsewhere, and it must take this code to the same place.
        self._uvarint("u", ind + "        ", out)
        out += [f"{ind}        if u & 1:", f"{ind}            raise ValueError('negative block size')"]
        out += [f"{ind}        pos += u >> 1", f"{ind}        continue", f"{ind}    {count} = u >> 1"]
        if kind == "array" and width is not None:
            if width:
                self._count_limit(count, width, kind, ind + "    ", out)
                out.append(f"{ind}    pos += {count} * {width}")
            return
        self._count_limit(count, self._min_width(values) + (kind == "map"), kind, ind + "    ", out)
        out.append(f"{ind}    for _ in range({count}):")
        if kind == "map":
            self._skip("string", ind + "        ", out)
        self._skip(values, ind + "        ", out)
        out.append(f"{ind}        pass")  # the loop may have nothing else (a map of nulls)

    def _skip_union(self, branches, ind, out):
        widths = [self._fixed_width(b) for b in branches]
        if None not in widths and branches:
            # A nullable double costs one tuple lookup (cheaper than a dict's, or a comparison chain). A byte that is not a one-byte branch index (a longer varint, which fastavro accepts,
            # or garbage) finds None or nothing there, and _skip_union reads the index properly. The try
            # costs nothing until it catches (Python 3.11).
            steps = [None] * (2 * len(widths) - 1)
            steps[::2] = [1 + w for w in widths]
            table = self._const(tuple(steps), "steps")
            out += [f"{ind}try:", f"{ind}    pos += {table}[buf[pos]]", f"{ind}except (IndexError, TypeError):"]
            out.append(f"{ind}    pos = _skip_union(buf, pos, {self._const(tuple(widths), 'widths')})")
            return
        self._uvarint("u", ind, out)
        first = True
        for i, branch in enumerate(branches):
            if self._fixed_width(branch) == 0:
                continue  # nothing to skip: only the index has to be valid
            out.append(f"{ind}{'if' if first else 'elif'} u == {2 * i}:")
            self._skip(branch, ind + "    ", out)
            first = False
        empty = [2 * i for i, w in enumerate(widths) if w == 0]
        if empty:
            test = f"u != {empty[0]}" if len(empty) == 1 else f"u not in {tuple(empty)}"
            out.append(f"{ind}{'if' if first else 'elif'} {test}:")
            out.append(f"{ind}    raise IndexError('union branch index out of range')")
        else:
            out += [f"{ind}else:", f"{ind}    raise IndexError('union branch index out of range')"]

    # -- assembly --------------------------------------------------------------------------------------

    def _record_function(self, kind, record_name):
        record = self.defs[record_name]
        body: list[str] = []
        if kind == "r":
            keep = self.keep.get(record_name)
            kept = []
            for i, f in enumerate(record["fields"]):
                if keep is None or f["name"] in keep:
                    kept.append((f["name"], f"v{i}"))
                    self._read(f["type"], f"v{i}", "    ", body)
                else:
                    self._skip(f["type"], "    ", body)
            result = "{" + ", ".join(f"{name!r}: {var}" for name, var in kept) + "}, pos"
        else:
            for f in record["fields"]:
                self._skip(f["type"], "    ", body)
            result = "pos"
        lines = [f"def {self.functions[(kind, record_name)]}(buf, pos):", *body, f"    return {result}"]
        return "\n".join(_merge_steps(lines))

    def build(self):
        body: list[str] = []
        self._read(self.root, "value", "    ", body)
        entry = [
            "def decode(buf, pos=0):",
            *body,
            "    if pos > len(buf):",
            "        raise EOFError('the datum runs past the end of the buffer')",
            "    return value, pos",
        ]
        sources = ["\n".join(_merge_steps(entry))]
        while self.todo:
            sources.append(self._record_function(*self.todo.pop()))
        source = "\n\n".join(sources) + "\n"
        code = compile(source, "<avro_fast decoder>", "exec")
        namespace = dict(self.namespace)
        exec(code, namespace)
        decode = namespace["decode"]
        decode.source = source  # for reading when something goes wrong
        return decode


def _merge_steps(lines):
    """Join runs of ``pos += <constant>`` at one indentation: consecutive lines at the same indentation are
    one straight run of code, so the sum is the same step."""
    merged: list[str] = []
    for line in lines:
        stripped = line.lstrip()
        if stripped.startswith("pos += ") and stripped[7:].isdigit() and merged:
            prev = merged[-1].lstrip()
            indent = line[: len(line) - len(stripped)]
            if prev.startswith("pos += ") and prev[7:].isdigit() and merged[-1].startswith(indent + "p"):
                merged[-1] = f"{indent}pos += {int(prev[7:]) + int(stripped[7:])}"
                continue
        merged.append(line)
    return merged
