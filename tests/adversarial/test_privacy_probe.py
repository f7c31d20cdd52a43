"""The privacy probe: what the coordinator and the key holder hold, log and send holds no node data.

The example chain (examples/nmc811-pack) is copied and every node file gets unique markers:
marker strings in every free-text field the node-data format allows (organisation and product
names, notes, electricity evidence, cycle-test reports, `x-` fields at every level) and marker
numbers (every activity amount, transport mass and distance, and buyer quantity changed to a
distinctive value such as 26.48163). The whole federation then runs, one process per party, with a
recording TCP relay between every party and the coordinator (both directions). Afterwards the
probe searches:

* every byte the coordinator and the key holder sent and received (the raw capture, and each
  HTTP/2 stream's reassembled DATA, where a marker cannot be split across frames),
* every file under their state folders — SQLite database, WAL, object store, staging, keys —
  before and after they stop, and their stdout/stderr logs,

for every marker string (UTF-8, UTF-16 LE/BE, hex, base64) and marker number (as text in several
formattings; packed as float64 and float32, little- and big-endian), and for each node's own
footprint figures own(p) (float64, full-precision text). Nothing may be found.

Positive controls, so a broken capture cannot pass silently: every party's relay carried its
registration (its organisation id is found in it); a product id renamed to a marker where the
coordinator must see it (a supplier product: routing needs it) IS found in the capture and the
database; and the lifetime energy the requester sends in its calculation request (a number the
coordinator is told) IS found packed as float64 by the same search. A float32 hit inside known
random material (a hash, a signature, a ciphertext chunk) is chance — 4 bytes in megabytes of
random bytes — and is reported separately, not as a leak.
"""
from __future__ import annotations

import base64
import binascii
import json
import random
import re
import shutil
import socket
import sqlite3
import struct
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
import pytest

from tanji.cli import requester
from tanji.cli.demo import Processes, onboard
from tanji.methodology import profiles
from tanji.methodology.footprint import own
from tanji.methodology.graph import build_graph
from tanji.methodology.loader import load_data_dir
from tanji.protocol import limits
from tanji.protocol.signing import SigningKey
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import objects_pb2 as opb
from tanji.v1 import requester_pb2 as rpb
from tests.harness.keys import KEY_HOLDER
from tests.harness.paths import EXAMPLES
from tests.harness.processes import wait_for_file

pytestmark = pytest.mark.integration
S = rpb.CalculationState
TARGET = ("pack-assembler", "PACK-NMC811-80")
CONTROL_SUPPLIER, CONTROL_PRODUCT = "freight-services", "PACK-DELIVERY-OEM"
REQUESTER_CLI = "requester-cli"  # `tanji calc start/status/result` as run by the pack maker, from this process
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


# ---------------------------------------------------------------------------- markers
@dataclass
class Markers:
    strings: dict[str, str] = field(default_factory=dict)   # marker -> where it was planted
    numbers: dict[float, str] = field(default_factory=dict)
    control_product: str = ""

    def __post_init__(self):
        self.rng = random.Random(20261125)

    def string(self, where: str) -> str:
        s = f"PRIVMARK{len(self.strings):03d}{self.rng.getrandbits(40):010x}"
        self.strings[s] = where
        return s

    def number(self, original: float, where: str) -> float:
        """A distinctive value 1-4 % above the original, with seven significant digits."""
        while True:
            value = float(f"{original * (1 + self.rng.uniform(0.01, 0.04)):.7g}")
            digits = repr(value).replace(".", "").replace("-", "").lstrip("0").split("e")[0]
            if len(digits) >= 6 and value not in self.numbers:
                self.numbers[value] = where
                return value


def plant(data_dir: Path) -> Markers:
    """Markers in every free-text field and amount of every node file; a marker product id as the control."""
    m = Markers()
    m.control_product = f"PRIVMARKCTRL{m.rng.getrandbits(40):010x}"  # found by the same search as the markers
    for path in sorted(data_dir.glob("*.json")):
        doc = json.loads(path.read_text())
        if doc.get("schema") != "tanji.node-data/1":
            continue  # the factor set is public: every party holds it, its hash is in every envelope
        org = doc["organisation"]["id"]
        doc["x-probe"] = m.string(f"{org}: x-probe")
        doc["organisation"]["name"] = m.string(f"{org}: organisation.name")
        doc["organisation"]["x-probe"] = m.string(f"{org}: organisation.x-probe")
        for i, p in enumerate(doc["products"]):
            here = f"{org}: products[{i}]"
            p["name"], p["note"], p["x-probe"] = (m.string(f"{here}.{k}") for k in ("name", "note", "x-probe"))
            if "declaration" in p:
                p["declaration"]["x-probe"] = m.string(f"{here}.declaration.x-probe")
                if "cycle_test_report" in p["declaration"]:
                    p["declaration"]["cycle_test_report"] = m.string(f"{here}.declaration.cycle_test_report")
            if (org, p["id"]) == (CONTROL_SUPPLIER, CONTROL_PRODUCT):
                p["id"] = m.control_product
            for j, a in enumerate(p.get("activities", [])):
                at = f"{here}.activities[{j}]"
                a["note"], a["x-probe"] = m.string(f"{at}.note"), m.string(f"{at}.x-probe")
                if "evidence" in a:  # only where it was: its presence decides a fallback
                    a["evidence"] = m.string(f"{at}.evidence")
                for key in ("amount", "mass", "distance"):
                    if a.get(key):
                        a[key] = m.number(a[key], f"{at}.{key}")
            for j, inp in enumerate(p.get("inputs", [])):
                inp["x-probe"] = m.string(f"{here}.inputs[{j}].x-probe")
                if inp["quantity"]:  # zero names no supplier: keep it zero
                    inp["quantity"] = m.number(inp["quantity"], f"{here}.inputs[{j}].quantity")
                if (inp["supplier"], inp["product"]) == (CONTROL_SUPPLIER, CONTROL_PRODUCT):
                    inp["product"] = m.control_product
        path.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    return m


# ---------------------------------------------------------------------------- the recording relay
class Relay:
    """A TCP relay in front of the coordinator for one party; records both directions of every
    connection (the coordinator's received and sent bytes, as that party saw them)."""

    def __init__(self, name: str, upstream: tuple[str, int]):
        self.name, self.upstream = name, upstream
        self.connections: list[tuple[bytearray, bytearray]] = []   # (to coordinator, from coordinator)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.open: list[socket.socket] = []
        self.threads: list[threading.Thread] = []
        threading.Thread(target=self._accept, daemon=True, name=f"relay-{name}").start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            record = (bytearray(), bytearray())
            self.connections.append(record)
            self.open += [client, server]
            for src, dst, buf in ((client, server, record[0]), (server, client, record[1])):
                t = threading.Thread(target=self._pump, args=(src, dst, buf), daemon=True)
                t.start()
                self.threads.append(t)

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, buf: bytearray):
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                buf += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self):
        self.sock.close()
        for t in self.threads:
            t.join(timeout=10)
        for s in self.open:
            s.close()


# ---------------------------------------------------------------------------- HTTP/2 and gRPC framing
def h2_streams(raw: bytes, from_client: bool) -> tuple[dict[int, bytes], bytes, int]:
    """(stream id -> its DATA payload, concatenated header blocks, bytes left unparsed at the end)."""
    pos = 0
    if from_client:
        assert raw.startswith(PREFACE), "a client capture starts with the HTTP/2 preface"
        pos = len(PREFACE)
    streams: dict[int, bytearray] = defaultdict(bytearray)
    headers = bytearray()
    while pos + 9 <= len(raw):
        n = int.from_bytes(raw[pos:pos + 3], "big")
        kind, flags = raw[pos + 3], raw[pos + 4]
        sid = int.from_bytes(raw[pos + 5:pos + 9], "big") & 0x7FFFFFFF
        if pos + 9 + n > len(raw):
            break  # the connection closed mid-frame (a process stopped)
        payload = raw[pos + 9:pos + 9 + n]
        pos += 9 + n
        if kind == 0:  # DATA
            if flags & 0x8:
                payload = payload[1:len(payload) - payload[0]]
            streams[sid] += payload
        elif kind in (1, 9):  # HEADERS, CONTINUATION (HPACK, searched raw)
            headers += payload
    return {k: bytes(v) for k, v in streams.items()}, bytes(headers), len(raw) - pos


def grpc_messages(stream: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos + 5 <= len(stream):
        compressed, n = stream[pos], int.from_bytes(stream[pos + 1:pos + 5], "big")
        assert compressed == 0, "gRPC messages travel uncompressed (so the search sees their bytes)"
        out.append(stream[pos + 5:pos + 5 + n])
        pos += 5 + n
    return out


def object_chunk(message: bytes, objects: dict[bytes, bytes]) -> bytes | None:
    """The chunk bytes if `message` is an object upload/download chunk of a known object."""
    for cls, off_field in ((opb.PushObjectRequest, "offset"), (opb.PullObjectResponse, "offset")):
        try:
            m = cls.FromString(message)
        except Exception:  # not this message type
            continue
        obj = objects.get(m.object_hash)
        off = getattr(m, off_field)
        if obj is not None and m.data and obj[off:off + len(m.data)] == m.data:
            return m.data
    return None


# ---------------------------------------------------------------------------- the search
PREFIX = "PRIVMARK"
#: a decimal number as text; not the seconds of a clock time (HH:MM:SS.ffffff, which every stored timestamp
#: has: "09:32:26.789123" once matched the marker 26.78902's form '26.789' by chance), while JSON's
#: `"amount":26.78902` still counts
NUMBER_TOKEN = re.compile(rb"(?<![0-9])(?<![0-9]{2}:)[0-9]+\.[0-9]+(?:[eE][+-]?[0-9]+)?")


def encodings(text: str) -> dict[str, bytes]:
    """`text` as UTF-8, UTF-16 (both byte orders), hex and base64 (each alignment's stable middle)."""
    raw = text.encode()
    out = {"utf-8": raw, "utf-16-le": text.encode("utf-16-le"), "utf-16-be": text.encode("utf-16-be"),
           "hex": binascii.hexlify(raw), "HEX": binascii.hexlify(raw).upper()}
    for shift in range(3):
        enc = base64.b64encode(b"\0" * shift + raw + b"\0\0\0")
        out[f"base64+{shift}"] = enc[4:4 + (len(raw) * 4) // 3 - 4]
    return out


def text_forms(x: float) -> list[str]:
    return sorted({repr(x), format(x, ".6g"), format(x, ".7g"), format(x, ".8g"), format(x, ".6e")})


@dataclass
class Haystack:
    name: str
    data: bytes


class Scanner:
    """Every marker at once: marker strings by their common prefix in each encoding; numbers as
    text (the numeric tokens of a haystack against the markers' formattings) and packed (numpy
    over every alignment, both byte orders)."""

    def __init__(self, strings: dict[str, str], numbers: dict[float, str], derived: dict[float, str]):
        self.prefixes = encodings(PREFIX)
        self.text: dict[str, str] = {}
        for x, where in numbers.items():
            for form in text_forms(x):
                self.text[form] = f"number {x!r} ({where})"
        for x, where in derived.items():
            self.text[repr(x)] = f"derived {x!r} ({where})"
        self.packed: dict[int, dict[bytes, tuple[str, str]]] = {8: {}, 4: {}}
        for x, where in {**numbers, **derived}.items():
            label = f"{'number' if x in numbers else 'derived'} {x!r} ({where})"
            for order in "<>":
                self.packed[8][struct.pack(order + "d", x)] = (label, f"float64 {order}")
                if x in numbers:
                    self.packed[4][struct.pack(order + "f", x)] = (label, f"float32 {order}")

    def scan(self, hay: Haystack, width32: bool = True):
        """[(what, form, offset)] of every marker in `hay`."""
        hits = []
        for form, pattern in self.prefixes.items():
            i = hay.data.find(pattern)
            while i != -1:
                hits.append((f"string {hay.data[i:i + 40]!r}", form, i))
                i = hay.data.find(pattern, i + 1)
        for m in NUMBER_TOKEN.finditer(hay.data):
            token = m.group().decode()
            for form, label in self.text.items():
                if form in token:
                    hits.append((label, f"text {form!r}", m.start() + token.index(form)))
        for width, table in self.packed.items():
            if width == 4 and not width32:
                continue
            hits += [(table[pat][0], table[pat][1], i) for pat, i in packed_hits(hay.data, width, table)]
        return hits


def packed_hits(data: bytes, width: int, table: dict[bytes, tuple]):
    """(pattern, offset) for every `width`-byte window of `data` equal to a key of `table` (numpy, every
    alignment: a 16-bit prefilter through a lookup table, then an exact comparison)."""
    if len(data) < width or not table:
        return []
    dtype = np.dtype(f"<u{width}")
    wanted = {int(np.frombuffer(k, dtype)[0]) for k in table}
    low = np.zeros(1 << 16, dtype=bool)
    low[[w & 0xFFFF for w in wanted]] = True
    out = []
    for shift in range(width):
        n = (len(data) - shift) // width
        if n <= 0:
            continue
        words = np.frombuffer(data, dtype, count=n, offset=shift)
        for j in np.nonzero(low[(words & 0xFFFF).astype(np.intp)])[0]:
            if int(words[j]) in wanted:
                i = shift + int(j) * width
                out.append((data[i:i + width], i))
    return out


def explained(hay: bytes, i: int, pattern: bytes, randoms: list[bytes], big: list[bytes]) -> bool:
    """A 4-byte hit at `i` lies inside a known random blob (a chance occurrence, not a leak)."""
    for blob in randoms:
        if pattern in blob:
            start = hay.find(blob, max(0, i - len(blob) + len(pattern)), i + len(blob))
            if start != -1 and start <= i and i + len(pattern) <= start + len(blob):
                return True
    windows = [hay[i:i + 64], hay[max(0, i - 60):i + 4]]
    return any(len(w) >= 32 and any(w in b for b in big) for w in windows)


# ---------------------------------------------------------------------------- the run
def state_files(folder: Path, label: str, objects: bool = True) -> list[Haystack]:
    return [Haystack(f"{label}:{p.relative_to(folder.parent)}", p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file() and (objects or "objects" not in p.parts)]


def random_material(coordinator_state: Path) -> tuple[list[bytes], list[bytes]]:
    """Hashes, signatures, ids and keys in the coordinator's database (every bytes value of 16 or
    more bytes, and those inside every stored envelope), and the stored objects (ciphertexts)."""
    from tests.harness.fuzzing import field_slots  # the same tree walk the fuzzers use

    small: set[bytes] = set()
    con = sqlite3.connect(f"file:{coordinator_state / 'coordinator.db'}?mode=ro", uri=True)
    try:
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
            for row in con.execute(f'SELECT * FROM "{table}"'):
                small.update(v for v in row if isinstance(v, bytes) and len(v) >= 16)
        bodies = [b for (b,) in con.execute("SELECT body FROM envelopes")]
    finally:
        con.close()
    for body in bodies:
        msg = epb.EnvelopeBody.FromString(body)
        for parent, f in field_slots(msg):
            if f.type == f.TYPE_BYTES:
                values = getattr(parent, f.name)
                for v in (values if f.is_repeated else [values]):
                    if len(v) >= 16:
                        small.add(bytes(v))
    big = [p.read_bytes() for p in (coordinator_state / "objects").rglob("*") if p.is_file()]
    return sorted(small, key=len), big


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    root = tmp_path_factory.mktemp("privacy")
    data_dir = root / "data"
    shutil.copytree(EXAMPLES / "nmc811-pack", data_dir)
    markers = plant(data_dir)
    data = load_data_dir(data_dir)  # the marked files are valid: the probe runs the real thing
    state = root / "state"
    fed_file, federation = onboard(state, data.nodes)
    procs = Processes(state)
    relays: dict[str, Relay] = {}
    try:
        address = procs.start_coordinator(fed_file, lease_seconds=120)
        upstream = ("127.0.0.1", int(address.rsplit(":", 1)[1]))
        for party in (KEY_HOLDER, REQUESTER_CLI, *data.nodes):
            relays[party] = Relay(party, upstream)
        procs.start_keyholder(fed_file, relays[KEY_HOLDER].address)
        for org, nd in data.nodes.items():
            procs.start_node(org, nd.file, data.factors.file, fed_file, relays[org].address)
        for org in data.nodes:
            wait_for_file(state / org / "ready", procs, f"{org} to register")
        channel = grpc.insecure_channel(relays[REQUESTER_CLI].address, options=limits.GRPC_OPTIONS)
        graph = build_graph(data, TARGET)
        spec = requester.spec_for(TARGET[0], data.nodes[TARGET[0]].model, data.factors, TARGET[1],
                                  state=state / TARGET[0], depth_bound=graph.depth(), key_holder=KEY_HOLDER,
                                  deadline_seconds=900)
        cid = requester.start(channel, SigningKey.load_or_create(state / TARGET[0] / "envelope-key.pem"), spec)
        end = time.monotonic() + 900
        while time.monotonic() < end:
            procs.check_alive()
            st = requester.status(channel, TARGET[0], cid)
            if st.state in requester.FINAL_STATES:
                break
            time.sleep(0.5)
        assert st.state == S.CALCULATION_STATE_DONE, st.failure_message
        result = json.loads(requester.result(channel, TARGET[0], cid, federation))
        channel.close()
        # while running (WAL not yet checkpointed); the object store is searched once, after the stop
        files = [h for name in ("coordinator", KEY_HOLDER) for h in state_files(state / name, "running", False)]
    finally:
        procs.stop()
        for relay in relays.values():
            relay.close()
    files += [h for name in ("coordinator", KEY_HOLDER) for h in state_files(state / name, "stopped")]
    yield {"markers": markers, "data": data, "relays": relays, "files": files, "state": state, "spec": spec,
           "result": result}


def wire_haystacks(relays: dict[str, Relay], objects: dict[bytes, bytes]):
    """Raw captures; each HTTP/2 stream reassembled; the same without known object chunks (for
    float32, whose 4 bytes turn up by chance in megabytes of ciphertext); per party, its streams."""
    raw: list[Haystack] = []
    streams: list[Haystack] = []
    without_objects: list[Haystack] = []
    per_party: dict[str, bytearray] = {}
    for party, relay in relays.items():
        assert relay.connections, f"{party} never connected through its relay"
        for n, (up, down) in enumerate(relay.connections):
            for direction, buf, from_client in (("to coordinator", up, True), ("from coordinator", down, False)):
                name = f"wire:{party}#{n} {direction}"
                raw.append(Haystack(name, bytes(buf)))
                if not buf:
                    continue
                data, headers, left = h2_streams(bytes(buf), from_client)
                assert left < 9 + 16384, f"{name}: {left} bytes do not parse as HTTP/2 frames"
                streams.append(Haystack(name + " (HPACK headers)", headers))
                for sid, payload in data.items():
                    streams.append(Haystack(f"{name} stream {sid}", payload))
                    kept = b"".join(m for m in grpc_messages(payload) if object_chunk(m, objects) is None)
                    without_objects.append(Haystack(f"{name} stream {sid} (no object chunks)", kept))
                    per_party.setdefault(party, bytearray()).extend(payload)
    return raw, streams, without_objects, per_party


def derived_figures(data) -> dict[float, str]:
    """Each node's own footprint per unit, slot by slot, under every method: what it must never send."""
    out = {}
    for org, nd in data.nodes.items():
        for product in nd.model.products:
            for profile in profiles.PROFILES.values():
                vec = own(product, org, nd.model.organisation.country, data.factors.by_id, profile).vector
                for slot, value in enumerate(vec[:6]):
                    if abs(value) > 1e-9:
                        out[float(value)] = f"own({org}/{product.id})[{slot}] under {profile.name}"
    return out


def test_no_marker_reaches_the_coordinator_or_the_key_holder(probe):
    markers: Markers = probe["markers"]
    state = probe["state"]
    objects = {bytes.fromhex(p.parent.name + p.name): p.read_bytes()
               for p in (state / "coordinator" / "objects").glob("??/*") if not p.name.startswith(".")}
    raw, streams, without_objects, per_party = wire_haystacks(probe["relays"], objects)
    files = probe["files"]

    # ---- positive controls: the capture is whole, and the search finds what the coordinator may see
    for party in probe["relays"]:
        if party != REQUESTER_CLI:
            assert party.encode() in per_party[party], f"{party}'s own id is not in its reassembled traffic"
    lifetime = probe["spec"].lifetime_energy_kwh
    seen = Scanner({}, {}, {lifetime: "the requester's declared lifetime energy"})
    forms = {(h.name.split(":")[0], form) for h in streams + files for _, form, _ in seen.scan(h, width32=False)}
    assert ("wire", "float64 <") in forms and ("running", "float64 <") in forms, forms
    assert len(objects) > 10 and sum(len(h.data) for h in raw) > 10_000_000  # the ciphertexts did cross

    # ---- the probe
    derived = derived_figures(probe["data"])
    assert len(markers.strings) > 150 and len(markers.numbers) > 80 and len(derived) > 50
    scanner = Scanner(markers.strings, markers.numbers, derived)
    leaks: list[tuple[str, str, str, int]] = []
    chance: list[tuple[str, str, str, int]] = []
    control: list[tuple[str, str, str, int]] = []
    for hay in raw + streams + files:
        for what, form, i in scanner.scan(hay, width32=False):
            is_control = what.startswith("string") and markers.control_product.encode() in hay.data[i:i + 40]
            (control if is_control else leaks).append((hay.name, what, form, i))
    # the control: a product id (a marker string, where the coordinator must see it) is found by the same scan
    where = {name for name, *_ in control}
    assert any(w.startswith("wire:") for w in where) and any("coordinator.db" in w for w in where), where
    small, big = random_material(state / "coordinator")
    for hay in without_objects + [h for h in files if "/objects/" not in h.name]:
        for what, form, i in scanner.scan(Haystack(hay.name, hay.data), width32=True):
            if not form.startswith("float32"):
                continue
            pattern = hay.data[i:i + 4]
            (chance if explained(hay.data, i, pattern, small, big) else leaks).append((hay.name, what, form, i))
    report = "\n".join(f"{what} in {name} as {form} at {i}" for name, what, form, i in leaks[:40])
    assert not leaks, f"{len(leaks)} marker occurrences found where node data must never be:\n{report}"
    print(f"searched {sum(len(h.data) for h in raw + streams + files) / 1e6:.0f} MB for {len(markers.strings)} "
          f"strings, {len(markers.numbers)} numbers and {len(derived)} own(p) figures; "
          f"{len(chance)} float32 patterns only inside random bytes (chance)")


def test_the_search_finds_a_planted_leak(probe):
    """The search itself can fail: a marker written into a copy of a haystack is found, in every form."""
    markers: Markers = probe["markers"]
    scanner = Scanner(markers.strings, markers.numbers, {})
    hay = next(h for h in probe["files"] if h.name.endswith("coordinator.db"))
    marker, number = next(iter(markers.strings)), next(iter(markers.numbers))
    for form, pattern in encodings(marker).items():
        assert any(f == form for _, f, _ in scanner.scan(Haystack("t", hay.data + b".." + pattern + b".."))), form
    packed = {f"float64 {o}": struct.pack(o + "d", number) for o in "<>"}
    packed.update({f"float32 {o}": struct.pack(o + "f", number) for o in "<>"})
    for form, pattern in packed.items():
        for pad in range(8):  # any alignment
            planted = Haystack("t", hay.data + b"\x01" * pad + pattern)
            assert any(f == form and i == len(hay.data) + pad for _, f, i in scanner.scan(planted)), (form, pad)
    for text in text_forms(number):
        assert any(f == f"text {text!r}" for _, f, _ in scanner.scan(Haystack("t", b"x=" + text.encode() + b";")))
