"""Generate the Python wire code in ``tanji/v1/`` from the contract in ``proto/``.

    python -m tanji.protogen            # regenerate tanji/v1/*_pb2.py, *_pb2.pyi, *_pb2_grpc.py
    python -m tanji.protogen --check    # exit 1 naming every stale, missing or extra file,
                                        # or a wire change the lock forbids
    python -m tanji.protogen --lock     # record new fields/values/RPCs in the wire lock

``proto/`` is the source of truth; the generated modules are checked in so that
running tanji needs no compiler. Generation uses ``grpc_tools.protoc`` (pinned:
the protoc bundled in grpcio-tools decides the bytes of the output, and the
runtime-version check the output carries), always into a fresh temporary
directory with the same relative paths and argument order, so two runs give
identical bytes. ``--check`` generates into a temporary directory and compares
bytes with the checked-in files; it writes nothing.

``*_pb2_grpc.py`` is generated only for .proto files that declare a service.

The wire lock (``proto/tanji/v1/wire-lock.json``) records every field number,
enum value, extension and RPC ever published, with its name and type. It is
append-only: a field may be added (then ``--lock`` records it) or removed with
its number *and* name in ``reserved``, never renumbered, renamed, retyped or
its number reused. ``--check`` and the unit tests enforce it.
"""
from __future__ import annotations

import argparse
import importlib
import json
import re
import shutil
import sys
import tempfile
from importlib import metadata, resources
from pathlib import Path

#: grpcio-tools version the checked-in code was generated with (pyproject dev extra).
PINNED_GRPCIO_TOOLS = "1.85.1"

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO_ROOT / "proto"
#: the proto package tanji.v1 lives in proto/tanji/v1 and generates tanji/v1
PACKAGE_PATH = Path("tanji") / "v1"
GENERATED_DIR = REPO_ROOT / PACKAGE_PATH
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
LOCK_PATH = PROTO_ROOT / PACKAGE_PATH / "wire-lock.json"

_SERVICE_RE = re.compile(r"^\s*service\s+\w+\s*\{", re.MULTILINE)


class ProtogenError(RuntimeError):
    """Generation could not run (wrong grpcio-tools, protoc error)."""


def _grpcio_tools_version() -> str:
    try:
        return metadata.version("grpcio-tools")
    except metadata.PackageNotFoundError as exc:  # pragma: no cover - dev extra missing
        raise ProtogenError(
            f"grpcio-tools is not installed; install the dev extra (grpcio-tools=={PINNED_GRPCIO_TOOLS})"
        ) from exc


def require_pinned_tools() -> None:
    """Refuse to generate with another grpcio-tools: its output would differ."""
    found = _grpcio_tools_version()
    if found != PINNED_GRPCIO_TOOLS:
        raise ProtogenError(
            f"grpcio-tools {found} is installed but the contract is generated with "
            f"{PINNED_GRPCIO_TOOLS}; run `pip install grpcio-tools=={PINNED_GRPCIO_TOOLS}`"
        )


def proto_files(proto_root: Path = PROTO_ROOT) -> list[str]:
    """The contract's .proto files, relative to proto_root, sorted (posix paths)."""
    base = proto_root / PACKAGE_PATH
    return sorted(p.relative_to(proto_root).as_posix() for p in base.glob("*.proto"))


def _declares_service(path: Path) -> bool:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"//[^\n]*", "", text)  # comments may mention "service"
    return bool(_SERVICE_RE.search(text))


def _protoc(args: list[str]) -> None:
    from grpc_tools import protoc

    code = protoc.main(["grpc_tools.protoc", *args])
    if code != 0:
        raise ProtogenError(f"protoc failed (exit {code}): protoc {' '.join(args)}")


def generate(out_root: Path, proto_root: Path = PROTO_ROOT) -> list[str]:
    """Generate into out_root/tanji/v1; return the generated file names, sorted."""
    require_pinned_tools()
    files = proto_files(proto_root)
    if not files:
        raise ProtogenError(f"no .proto files under {proto_root / PACKAGE_PATH}")
    well_known = str(resources.files("grpc_tools") / "_proto")
    includes = [f"-I{proto_root}", f"-I{well_known}"]
    out_root.mkdir(parents=True, exist_ok=True)
    _protoc([*includes, f"--python_out={out_root}", f"--pyi_out={out_root}", *files])
    services = [f for f in files if _declares_service(proto_root / f)]
    if services:
        _protoc([*includes, f"--grpc_python_out={out_root}", *services])
    out_dir = out_root / PACKAGE_PATH
    return sorted(p.name for p in out_dir.iterdir() if p.name.endswith(GENERATED_SUFFIXES))


def _checked_in(generated_dir: Path) -> list[str]:
    if not generated_dir.is_dir():
        return []
    return sorted(p.name for p in generated_dir.iterdir() if p.name.endswith(GENERATED_SUFFIXES))


def check(proto_root: Path = PROTO_ROOT, generated_dir: Path = GENERATED_DIR) -> list[str]:
    """Compare a fresh generation with generated_dir; return one line per problem."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tanji-protogen-") as tmp:
        fresh_root = Path(tmp)
        fresh = generate(fresh_root, proto_root)
        present = set(_checked_in(generated_dir))
        for name in fresh:
            target = generated_dir / name
            if name not in present:
                problems.append(f"missing: {target}")
            elif target.read_bytes() != (fresh_root / PACKAGE_PATH / name).read_bytes():
                problems.append(f"stale: {target}")
        for name in sorted(present - set(fresh)):
            problems.append(f"extra (no .proto generates it): {generated_dir / name}")
    return problems


def write(proto_root: Path = PROTO_ROOT, generated_dir: Path = GENERATED_DIR) -> list[str]:
    """Regenerate generated_dir; remove generated files no .proto produces any more."""
    changed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tanji-protogen-") as tmp:
        fresh_root = Path(tmp)
        fresh = generate(fresh_root, proto_root)
        generated_dir.mkdir(parents=True, exist_ok=True)
        for name in fresh:
            src, dst = fresh_root / PACKAGE_PATH / name, generated_dir / name
            if not dst.exists() or dst.read_bytes() != src.read_bytes():
                shutil.copyfile(src, dst)
                changed.append(f"wrote {dst}")
        for name in sorted(set(_checked_in(generated_dir)) - set(fresh)):
            (generated_dir / name).unlink()
            changed.append(f"removed {generated_dir / name}")
    init = generated_dir / "__init__.py"
    if not init.exists():  # hand-written; created once, never overwritten
        init.write_text('"""Generated tanji v1 wire contract (see proto/ and tanji.protogen)."""\n')
        changed.append(f"wrote {init}")
    return changed


# --------------------------------------------------------------------------- wire lock


def _field_text(field, oneofs) -> str:  # field: FieldDescriptorProto
    from google.protobuf import descriptor_pb2 as d

    if field.type_name:
        typ = field.type_name.lstrip(".")
    else:
        typ = d.FieldDescriptorProto.Type.Name(field.type).removeprefix("TYPE_").lower()
    if field.label == d.FieldDescriptorProto.LABEL_REPEATED:
        typ = "repeated " + typ
    elif field.proto3_optional:
        typ = "optional " + typ
    text = f"{typ} {field.name}"
    if field.HasField("oneof_index") and not field.proto3_optional:
        text += f" (oneof {oneofs[field.oneof_index].name})"
    return text


def wire_snapshot() -> tuple[dict[str, str], dict[str, tuple[set[int], set[str]]]]:
    """(entries, reserved) of the imported tanji.v1 modules.

    entries: "field tanji.v1.Msg #3" -> "uint32 name", "value tanji.v1.Enum #1" ->
    "NAME [options]", "rpc tanji.v1.Svc/Method" -> "In -> Out", "extension ... #n".
    reserved: full name of a message/enum -> (reserved numbers, reserved names).
    """
    from google.protobuf import descriptor_pb2, text_format

    entries: dict[str, str] = {}
    reserved: dict[str, tuple[set[int], set[str]]] = {}

    def enum(prefix: str, e) -> None:
        name = f"{prefix}.{e.name}"
        for v in e.value:
            opts = text_format.MessageToString(v.options, as_one_line=True).strip()
            entries[f"value {name} #{v.number}"] = f"{v.name} {opts}".strip()
        numbers = {n for r in e.reserved_range for n in range(r.start, r.end + 1)}  # inclusive
        reserved[name] = (numbers, set(e.reserved_name))

    def message(prefix: str, m) -> None:
        name = f"{prefix}.{m.name}"
        for f in m.field:
            entries[f"field {name} #{f.number}"] = _field_text(f, m.oneof_decl)
        numbers = {n for r in m.reserved_range for n in range(r.start, r.end)}  # exclusive end
        reserved[name] = (numbers, set(m.reserved_name))
        for nested in m.nested_type:
            message(name, nested)
        for e in m.enum_type:
            enum(name, e)

    for rel in proto_files():
        module = importlib.import_module(f"tanji.v1.{Path(rel).stem}_pb2")
        fdp = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(fdp)
        for m in fdp.message_type:
            message(fdp.package, m)
        for e in fdp.enum_type:
            enum(fdp.package, e)
        for svc in fdp.service:
            for rpc in svc.method:
                kind = ("stream " if rpc.client_streaming else "") + rpc.input_type.lstrip(".")
                out = ("stream " if rpc.server_streaming else "") + rpc.output_type.lstrip(".")
                entries[f"rpc {fdp.package}.{svc.name}/{rpc.name}"] = f"{kind} -> {out}"
        for ext in fdp.extension:
            typ, name = _field_text(ext, []).rsplit(" ", 1)
            entries[f"extension {ext.extendee.lstrip('.')} #{ext.number}"] = f"{typ} {fdp.package}.{name}"
    return entries, reserved


def _sort_key(key: str) -> tuple[str, str, int]:
    """Order lock entries by kind, owner, then number (not as text: #2 before #10)."""
    kind, rest = key.split(" ", 1)
    owner, _, number = rest.rpartition(" #")
    return (kind, owner, int(number)) if number.isdigit() else (kind, rest, 0)


def read_lock(path: Path = LOCK_PATH) -> dict[str, str]:
    if not path.exists():
        return {}
    return dict(json.loads(path.read_text(encoding="utf-8"))["entries"])


def lock_problems(lock: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    """(breaking, unrecorded): wire changes the lock forbids, and additions not yet locked."""
    lock = read_lock() if lock is None else lock
    entries, reserved = wire_snapshot()
    breaking: list[str] = []
    for key, was in sorted(lock.items()):
        now = entries.get(key)
        if now == was:
            continue
        if now is not None:
            breaking.append(f"changed: {key}: was '{was}', now '{now}'")
            continue
        kind, rest = key.split(" ", 1)
        if kind in ("field", "value"):
            owner, number = rest.rsplit(" #", 1)
            name = was.split(" (oneof")[0].split()[-1] if kind == "field" else was.split()[0]
            numbers, names = reserved.get(owner, (set(), set()))
            if int(number) in numbers and name in names:
                continue  # removed properly: number and name reserved
            breaking.append(f"removed without reserving number {number} and name '{name}': {key} ('{was}')")
        else:
            breaking.append(f"removed: {key} ('{was}')")
    unrecorded = [f"not in the wire lock: {k} '{v}'" for k, v in sorted(entries.items()) if k not in lock]
    return breaking, unrecorded


def update_lock(path: Path = LOCK_PATH) -> list[str]:
    """Append new entries to the lock; refuse (return the problems) on a breaking change."""
    lock = read_lock(path)
    breaking, unrecorded = lock_problems(lock)
    if breaking:
        return breaking
    entries, _ = wire_snapshot()
    merged = {**lock, **{k: v for k, v in entries.items() if k not in lock}}
    doc = {
        "comment": "Append-only record of the tanji v1 wire contract; "
        "update with `python -m tanji.protogen --lock`, never by hand.",
        "entries": dict(sorted(merged.items(), key=lambda kv: _sort_key(kv[0]))),
    }
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tanji.protogen", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="compare with a fresh generation and the wire lock; write nothing")
    mode.add_argument("--lock", action="store_true",
                      help="record new wire entries in the lock (refuses breaking changes)")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = check()
            for line in problems:
                print(line, file=sys.stderr)
            if problems:
                print("generated code is out of date: run `python -m tanji.protogen`", file=sys.stderr)
                return 1
            breaking, unrecorded = lock_problems()
            for line in breaking + unrecorded:
                print(line, file=sys.stderr)
            if breaking:
                print("wire-incompatible change to tanji.v1: add fields, reserve removed ones", file=sys.stderr)
                return 1
            if unrecorded:
                print("new wire entries: run `python -m tanji.protogen --lock`", file=sys.stderr)
                return 1
            print(f"{GENERATED_DIR.relative_to(REPO_ROOT)} is up to date; wire lock holds")
            return 0
        if args.lock:
            if problems := check():
                for line in problems:
                    print(line, file=sys.stderr)
                print("regenerate first: `python -m tanji.protogen`", file=sys.stderr)
                return 1
            breaking = update_lock()
            for line in breaking:
                print(line, file=sys.stderr)
            if breaking:
                return 1
            print(f"wire lock updated: {LOCK_PATH.relative_to(REPO_ROOT)}")
            return 0
        changes = write()
        for line in changes:
            print(line)
        print(f"{GENERATED_DIR.relative_to(REPO_ROOT)}: {len(changes)} file(s) changed")
        return 0
    except ProtogenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
