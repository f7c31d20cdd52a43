"""Fuzzing budgets and hypothesis strategies that mutate protobuf messages field by field.

`FAST` is the fast suite's budget (derandomised: the same examples every run, so CI does not
flake on a new find); `SLOW` explores afresh each time (`.venv/bin/pytest -m slow tests/fuzz`).

Random bytes mostly die in the protobuf decoder; a mutated *valid* message reaches the code
behind it. `mutate(data, msg)` applies one to three mutations anywhere in the message tree:
set a field to a hostile value of its type (boundaries, unknown enum numbers, NaN, ids and
hashes the test world knows), clear it, add or drop a repeated element. `byte_mutations`
does the same at the byte level (bit flips, truncation, insertion, splices).
"""
from __future__ import annotations

from google.protobuf.descriptor import FieldDescriptor as F
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

_TOLERATED = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
#: the fast suite's budget: a fixed number of examples per property, no per-example deadline
FAST = settings(max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=_TOLERATED)
#: the `slow` budget: many more examples, new ones each run
SLOW = settings(max_examples=3000, deadline=None, suppress_health_check=_TOLERATED)

INT_BOUNDS = {
    F.TYPE_INT32: (-2**31, 2**31 - 1), F.TYPE_SINT32: (-2**31, 2**31 - 1), F.TYPE_SFIXED32: (-2**31, 2**31 - 1),
    F.TYPE_INT64: (-2**63, 2**63 - 1), F.TYPE_SINT64: (-2**63, 2**63 - 1), F.TYPE_SFIXED64: (-2**63, 2**63 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1), F.TYPE_FIXED32: (0, 2**32 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1), F.TYPE_FIXED64: (0, 2**64 - 1),
}


def scalar(field, strings=(), blobs=()) -> st.SearchStrategy:
    """A hostile value for one scalar field: its type's boundaries, small numbers, known ids/hashes."""
    t = field.type
    if t in INT_BOUNDS:
        lo, hi = INT_BOUNDS[t]
        return st.one_of(st.sampled_from(sorted({lo, hi, 0, 1, max(lo, -1), 2**31 - 1 if hi > 2**31 else hi})),
                         st.integers(lo, hi), st.integers(max(lo, -3), min(hi, 70)))
    if t == F.TYPE_BOOL:
        return st.booleans()
    if t in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return st.floats(allow_nan=True, allow_infinity=True, width=64 if t == F.TYPE_DOUBLE else 32)
    if t == F.TYPE_ENUM:
        top = max(v.number for v in field.enum_type.values)
        return st.integers(-1, top + 2)
    if t == F.TYPE_STRING:
        return st.one_of(st.sampled_from(list(strings) or [""]), st.text(max_size=40),
                         st.text(alphabet="a", min_size=64, max_size=300))
    if t == F.TYPE_BYTES:
        return st.one_of(st.sampled_from(list(blobs) or [b""]), st.binary(max_size=70),
                         st.just(b""), st.binary(min_size=32, max_size=32))
    raise TypeError(f"no strategy for field type {t}")  # pragma: no cover - every scalar type is above


def field_slots(msg, depth: int = 0, out=None) -> list:
    """(message, field) pairs anywhere in the tree: every field of every present sub-message."""
    out = [] if out is None else out
    for field in msg.DESCRIPTOR.fields:
        out.append((msg, field))
        if field.type == F.TYPE_MESSAGE and depth < 4:
            if field.is_repeated:
                for item in getattr(msg, field.name):
                    field_slots(item, depth + 1, out)
            elif msg.HasField(field.name):
                field_slots(getattr(msg, field.name), depth + 1, out)
    return out


def mutate(data: st.DataObject, msg, strings=(), blobs=(), max_mutations: int = 3):
    """Mutate `msg` in place (one to `max_mutations` field-level changes); returns it."""
    for _ in range(data.draw(st.integers(1, max_mutations), label="mutations")):
        slots = field_slots(msg)
        parent, field = data.draw(st.sampled_from(slots), label="field")
        action = data.draw(st.sampled_from(["set", "set", "clear", "add"]), label="action")
        name = field.name
        if field.type == F.TYPE_MESSAGE:
            if field.is_repeated:
                box = getattr(parent, name)
                if action == "clear" and len(box):
                    del box[data.draw(st.integers(0, len(box) - 1))]
                elif action == "add" and len(box):
                    box.add().CopyFrom(box[data.draw(st.integers(0, len(box) - 1))])  # a duplicate element
                else:
                    box.add()
            elif action == "clear":
                parent.ClearField(name)
            else:
                getattr(parent, name).SetInParent()
            continue
        value = data.draw(scalar(field, strings, blobs), label=name)
        if field.is_repeated:
            box = getattr(parent, name)
            if action == "clear" and len(box):
                del box[data.draw(st.integers(0, len(box) - 1))]
            elif action == "set" and len(box):
                box[data.draw(st.integers(0, len(box) - 1))] = value
            else:
                box.append(value)
        elif action == "clear":
            parent.ClearField(name)
        else:
            try:
                setattr(parent, name, value)
            except ValueError:  # a float32 field cannot hold every double; an invalid UTF-8 surrogate
                pass
    return msg


@st.composite
def byte_mutations(draw, base: bytes, max_edits: int = 4) -> bytes:
    """`base` with a few byte-level edits: bit flips, overwritten bytes, insertions, deletions."""
    out = bytearray(base)
    for _ in range(draw(st.integers(1, max_edits))):
        kind = draw(st.sampled_from(["flip", "byte", "insert", "delete", "truncate"]))
        if not out:
            out += draw(st.binary(min_size=1, max_size=8))
            continue
        i = draw(st.integers(0, len(out) - 1))
        if kind == "flip":
            out[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte":
            out[i] = draw(st.integers(0, 255))
        elif kind == "insert":
            out[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del out[i:i + draw(st.integers(1, 16))]
        else:
            del out[i:]
    return bytes(out)
