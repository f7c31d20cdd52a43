"""`tanji demo`: a whole federation on this machine — one process per party, on loopback.

The driver (this process: the operator, and the requester's console) reads no organisation's
node-data file (decision 0018): it lists the data folder and reads the public factor set; each
organisation checks its own file in a process of its own and reports its id (`organisations`).
Every party then makes its own keys and join request in its own state folder, the driver acts as
the operator's registry that adds them (`onboard`), starts the coordinator, the key holder and one
node per organisation as separate processes, has the requester's own party start the calculation
(`tanji calc start`), follows it as the requester, writes result.json, and always stops every
process it started.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from tanji.cli import citations, requester
from tanji.errors import DataError, TanjiError
from tanji.he.presets import PRESETS
from tanji.infra import lifeline
from tanji.infra import metrics as metrics_
from tanji.infra.runtime import private_folder, write_private
from tanji.methodology.graph import parse_target
from tanji.methodology.loader import load_factor_set
from tanji.protocol import limits
from tanji.protocol.federation import Federation
from tanji.protocol.signing import SigningKey
from tanji.v1 import requester_pb2 as rpb

KEY_HOLDER = "keyholder"
DEMO_LEASE_SECONDS = 6.0  # short, so that an offline supplier is declared dead within seconds
COORDINATOR = "coordinator"
S = rpb.CalculationState
#: the data folder's factor set, found by name: finding it by its schema would open every file
FACTORS_FILE = "factors.json"
#: the depth bound a requester declares when it says none (decision 0018): the deepest chain the
#: N=16384 preset serves, the preset every chain of 3 to 7 tiers needs anyway
DEFAULT_DEPTH_BOUND = max(p.max_depth for p in PRESETS.values() if p.poly_modulus_degree == 16384)


class DemoFailed(TanjiError):
    pass


@dataclass
class Processes:
    root: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, args: list[str]) -> subprocess.Popen:
        folder = private_folder(self.root / name)  # a party's state is its own (0700)
        log = os.fdopen(os.open(folder / "log.txt", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab")
        proc = subprocess.Popen([sys.executable, "-m", "tanji", *args], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=lifeline.child_environment(), start_new_session=True)
        self.procs[name] = proc
        return proc

    def start_coordinator(self, fed_file: Path, listen: str = "127.0.0.1:0",
                          lease_seconds: float = DEMO_LEASE_SECONDS, database: str | None = None,
                          name: str = COORDINATOR) -> str:
        """Start (or restart) the coordinator on its state folder; returns its address. `database`: its
        SQLAlchemy URL (default SQLite in the folder); `name`: another replica on the same database
        (its folder gets a copy of the coordinator's key, the one the federation lists)."""
        folder = self.root / name
        if name != COORDINATOR and not (folder / "envelope-key.pem").exists():
            private_folder(folder)
            for kept in ("envelope-key.pem", "trust-anchor.pub"):
                write_private(folder / kept, (self.root / COORDINATOR / kept).read_bytes())
        port_file = folder / "port"
        port_file.unlink(missing_ok=True)
        args = ["coordinator", "serve", "--state", str(folder), "--federation", str(fed_file), "--listen", listen,
                "--port-file", str(port_file), "--lease-seconds", str(lease_seconds)]
        self.start(name, args + (["--database", database] if database else []))
        return f"127.0.0.1:{_wait_for(port_file, self, f'{name} to listen')}"

    def start_keyholder(self, fed_file: Path, address: str) -> None:
        self.start(KEY_HOLDER, ["keyholder", "serve", "--id", KEY_HOLDER, "--state", str(self.root / KEY_HOLDER),
                                "--federation", str(fed_file), "--coordinator", address])

    def start_node(self, org: str, data_file: str, factors_file: str, fed_file: Path, address: str) -> None:
        """`tanji node serve` of `org`. The demo writes every node's policy first (closed_policy); a test's
        federation that wrote none says so on the command line: --answer-everyone."""
        from tanji.node.policy import POLICY_FILE

        (self.root / org / "ready").unlink(missing_ok=True)
        everyone = [] if (self.root / org / POLICY_FILE).exists() else ["--answer-everyone"]
        self.start(org, ["node", "serve", "--org", org, "--state", str(self.root / org), "--federation", str(fed_file),
                         "--coordinator", address, "--data", data_file, "--factors", factors_file, *everyone])

    def kill(self, name: str) -> None:
        """Take a party down as a power cut would (SIGKILL); it is no longer watched."""
        proc = self.procs.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = (self.root / name / "log.txt").read_text(errors="replace").strip().splitlines()[-5:]
                raise DemoFailed(f"{name} exited with code {proc.returncode}:\n  " + "\n  ".join(tail))

    def stop(self, grace: float = 5.0) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()


def onboard(state: Path, organisations, hosts: list[str] | None = None) -> tuple[Path, Federation]:
    """How a federation comes into being (issue #12), every party in its own folder under `state`: each
    party makes its own keys and join request (`tanji … init`), the operator's registry
    (state/registry) adds each request, and each party installs the signed list, its certificate and
    the trust anchor (`tanji … join`). The registry reads join requests only. Returns the published
    list (state/federation.json, its signature beside it), where every daemon reads it."""
    from tanji.protocol.joining import JOIN_FILE, init_party, install
    from tanji.protocol.membership import REGISTRY_KEY, RegistryDir

    state.mkdir(parents=True, exist_ok=True)
    parties = {COORDINATOR: "coordinator", KEY_HOLDER: "key_holder", **{org: "node" for org in organisations}}
    for name, role in parties.items():
        init_party(state / name, name, role, hosts)
    folder = state / "registry"
    if (folder / REGISTRY_KEY).exists() and not (folder / "federation.json").exists():
        raise DemoFailed(f"{state} was onboarded by an earlier tanji (one tree of every party's keys): "
                         "remove it and run again")
    reg = RegistryDir(folder) if (folder / REGISTRY_KEY).exists() else RegistryDir.init(folder)
    listed = reg.federation()
    for name in parties:
        key = SigningKey.load_or_create(state / name / "envelope-key.pem").public_raw
        if listed.key_of(name) != key:
            reg.add(state / name / JOIN_FILE)
    fed_file = publish(reg, state)
    for name in parties:
        install(state / name, fed_file, fed_file.with_suffix(".sig"), reg.anchor_file, reg.issued(name),
                folder / "ca.crt")
    return fed_file, reg.federation()


def publish(reg, state: Path) -> Path:
    """The operator publishes the registry's signed list where the parties fetch it (state/federation.json)."""
    fed_file = state / "federation.json"
    for src, dst in ((reg.list_file, fed_file), (reg.signature_file, fed_file.with_suffix(".sig"))):
        tmp = dst.with_name(dst.name + ".tmp")
        tmp.write_bytes(src.read_bytes())
        tmp.replace(dst)
    return fed_file


def closed_policy(state: Path, org: str) -> None:
    """A node's policy before it knows its customers: it answers nobody (kept if it has one)."""
    from tanji.node.customers import DEFAULT_RATE_LIMIT
    from tanji.node.policy import POLICY_FILE

    path = state / org / POLICY_FILE
    if not path.exists():
        calculations, days = DEFAULT_RATE_LIMIT
        path.write_text("# no customer approved yet: see `tanji node customers`\napproved_customers = []\n"
                        f"[rate_limit]\ncalculations = {calculations}\ndays = {days}\n")


def approve_customers(state: Path, org: str, channel, rate_limit: int | None = None) -> None:
    """As the supplier's own operator: ask who named it (`tanji node customers`) and approve them, unless
    a policy approving customers was already written by hand."""
    from tanji.node.customers import default_policy, refresh
    from tanji.node.policy import POLICY_FILE

    named = refresh(state / org, org, channel)
    path = state / org / POLICY_FILE
    if path.read_text().startswith("# no customer"):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(default_policy(named, org, rate_limit))
        tmp.replace(path)


def _tanji(args: list[str], timeout: float = 300.0) -> subprocess.CompletedProcess:
    """A one-off `tanji` command in a process of its own (a party acting on its own files)."""
    return subprocess.run([sys.executable, "-m", "tanji", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=lifeline.child_environment(), timeout=timeout)


def _error_of(proc: subprocess.CompletedProcess) -> str:
    """The error a failed `tanji` command printed (its `error:` lines, else its last line)."""
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    ours = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
    return "\n".join(ours or lines[-1:]) or f"exit code {proc.returncode}"


def organisations(data_dir: Path, factors_file: Path) -> dict[str, Path]:
    """Organisation id → its node-data file. The driver only lists the folder: every `*.json` but the
    factor set is checked whole against the factor set by a process acting as its organisation
    (`tanji node check --org-only`), which reports the id and nothing else. Every problem of every
    refused file is named (file, record, field); so is an organisation with two files."""
    files = sorted(p for p in data_dir.iterdir() if p.suffix == ".json" and p.is_file() and p != factors_file)
    if not files:
        raise DataError(str(data_dir), "(directory)", f"no node-data file (*.json besides {FACTORS_FILE})")

    def check(path: Path) -> subprocess.CompletedProcess:
        return _tanji(["node", "check", str(path), "--factors", str(factors_file), "--org-only"])

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        checked = list(pool.map(check, files))
    found: dict[str, Path] = {}
    problems: list[str] = []
    for path, proc in zip(files, checked, strict=True):
        if proc.returncode != 0:  # `node check` lists a refused file's problems on stdout, one a line
            problems += proc.stdout.strip().splitlines() or [_error_of(proc)]
        elif (org := proc.stdout.strip()) in found:
            problems.append(str(DataError(str(path), "organisation.id",
                                          f"organisation {org!r} already comes from {found[org]}")))
        else:
            found[org] = path
    if problems:
        raise DemoFailed("\n".join(problems))
    return found


def start_calculation(state: Path, fed_file: Path, address: str, products: list[str], depth_bound: int,
                      deadline_seconds: float, method: str | None) -> list[str]:
    """As the requester's own party: `tanji calc start` in its state folder builds the request from the
    data its node imported, commits to its quantities and signs it. `products`: ORG/PRODUCT each, or
    [] for every declared product (`--all`). Returns the calculation ids (a catalogue larger than a
    preset holds is split)."""
    named = [a for p in products for a in ("--product", p)] or ["--all"]
    proc = _tanji(["calc", "start", "--state", str(state), "--federation", str(fed_file), "--coordinator", address,
                   *named, "--depth", str(depth_bound), "--key-holder", KEY_HOLDER,
                   "--deadline", str(deadline_seconds), "--json", *(["--method", method] if method else [])])
    if proc.returncode != 0:
        raise DemoFailed(_error_of(proc))
    return [str(c) for c in json.loads(proc.stdout.strip().splitlines()[-1])["calculation_ids"]]


def requester_of(products: list[str], every: str | None) -> str:
    """The one organisation a demo calculates for: every --product's, or --all's."""
    if every is not None and products:
        raise DemoFailed("give --product or --all, not both")
    if every is not None:
        return every
    if not products:
        raise DemoFailed("name a target (--product ORG/PRODUCT) or a catalogue (--all ORG)")
    orgs = {parse_target(p)[0] for p in products}
    if len(orgs) != 1:
        raise DemoFailed(f"--product names {len(orgs)} organisations ({', '.join(sorted(orgs))}): "
                         "one calculation is one requester's")
    return orgs.pop()


def _terminate(signum, frame):
    raise KeyboardInterrupt  # unwinds through `finally`, which stops every party process


def _wait_for_text(path: Path, text: str, fed: Processes, what: str, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists() and path.read_text().strip() == text:
            return
        fed.check_alive()
        time.sleep(0.05)
    raise DemoFailed(f"timed out waiting for {what}")


def _wait_for(path: Path, fed: Processes, what: str, timeout: float = 300.0) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        fed.check_alive()
        time.sleep(0.05)
    raise DemoFailed(f"timed out waiting for {what}")


def run_demo(data_dir: Path, product: str | list[str], out: Path, console: Console, deadline_seconds: float = 600.0,
             depth_bound: int | None = None, offline: frozenset[str] = frozenset(),
             database: str | None = None, method: str | None = None, every: str | None = None,
             rate_limit: int | None = None) -> dict:
    """The demo; returns the (first) product's result. Several products, or `every` (an organisation:
    all its declared products), are one catalogue calculation (OUT/results/<PRODUCT>.json)."""
    products = [product] if isinstance(product, str) else list(product)
    target = (requester_of(products, every), "")
    product = ", ".join(products) or f"every declared product of {every}"
    if not data_dir.is_dir():
        raise DataError(str(data_dir), "(directory)", "not a directory")
    factors = load_factor_set(data_dir / FACTORS_FILE)  # public: every party holds the same one
    nodes = organisations(data_dir, data_dir / FACTORS_FILE)  # bad data: refused here, before any process starts
    if target[0] not in nodes:
        raise DemoFailed(f"--product {product}: no node-data file of {data_dir} is {target[0]!r}'s")
    unknown = sorted(offline - set(nodes))
    if unknown or target[0] in offline:
        raise DemoFailed(f"--offline names {', '.join(unknown) or target[0]}: "
                         "only a supplier organisation of the data can be offline")
    if depth_bound is None:  # the requester knows its own suppliers, not the chain's depth
        depth_bound = DEFAULT_DEPTH_BOUND

    state = out / "state"
    fed_file, federation = onboard(state, nodes)
    for org in nodes:
        closed_policy(state, org)

    console.print(f"[bold]tanji demo[/]: {len(nodes)} organisations, target {product}, "
                  f"depth bound {depth_bound}; parties talk over loopback [yellow]without TLS[/] (local demo only)")
    fed = Processes(state)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        address = fed.start_coordinator(fed_file, database=database)
        fed.start_keyholder(fed_file, address)
        for org, file in nodes.items():  # each node imports its own file (and refuses it, named, if bad)
            fed.start_node(org, str(file), factors.file, fed_file, address)
        for org in nodes:
            _wait_for(state / org / "ready", fed, f"node {org} to register")
        channel = grpc.insecure_channel(address, options=limits.GRPC_OPTIONS)
        approve_all(state, nodes, channel, fed, rate_limit)
        for org in sorted(offline):
            fed.kill(org)
            console.print(f"[yellow]{org} is offline[/]: its lease expires in {DEMO_LEASE_SECONDS:g} s; "
                          "its buyers will answer with their fallback factors")
        cids = start_calculation(state / target[0], fed_file, address, products, depth_bound, deadline_seconds,
                                 method)
        started = time.monotonic()  # the calculation's time, from its acceptance (not calc start's own start-up)
        docs = collect_results(channel, target[0], cids, federation,
                               lambda cid: follow_progress(channel, target[0], cid, fed, console))
        elapsed = time.monotonic() - started
        written = requester.write_results(docs, out)
        doc = json.loads(docs[0])
        metrics = {"calculation": cids[0], "calculations": cids, "products": len(docs), "seconds": round(elapsed, 2),
                   "peak_rss_mib": {name: metrics_.peak_rss_mib(p.pid) for name, p in fed.procs.items()},
                   "bytes_sent": {org: metrics_.node_bytes_sent(state / org / "node.db") for org in nodes}}
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        # the factor provider's view: counts per factor, no amounts, no citing node
        tally = citations.fetch(channel, factors, federation)
        (out / "citations.json").write_text(json.dumps(tally.to_json(), indent=2) + "\n")
        if len(docs) == 1:
            per_kwh = "" if doc["per_kwh_kgco2e"] is None else f", {doc['per_kwh_kgco2e']} kgCO2e/kWh"
            console.print(f"[green]done[/] in {elapsed:.1f} s: {doc['total_kgco2e']} kgCO2e{per_kwh} → "
                          f"{written[0]} (costs: {out / 'metrics.json'})")
        else:
            show_catalogue([json.loads(d) for d in docs], console)
            console.print(f"[green]done[/] in {elapsed:.1f} s: {len(docs)} products in {len(cids)} "
                          f"calculation{'s' if len(cids) > 1 else ''} → {written[0].parent}/ "
                          f"(costs: {out / 'metrics.json'})")
        console.print(f"factor provider {tally.provider}: {sum(n for n, _ in tally.factors.values())} citations of "
                      f"{sum(1 for n, _ in tally.factors.values() if n)} factors → {out / 'citations.json'}")
    finally:
        fed.stop()
        signal.signal(signal.SIGTERM, previous)
    for bundle in write_bundles(  # after the coordinator stopped: a quiet database
state, cids, fed_file, out, database):
        console.print(f"audit bundle: {bundle} — check it with "
                      f"`tanji audit verify {bundle} --trust {state / 'registry' / 'anchor.pub'}`")
    return doc


def approve_all(state: Path, orgs, channel, fed: Processes, rate_limit: int | None = None) -> None:
    """Each supplier approves the buyers that named it, and the coordinator routes by those approvals
    once each node registered its new policy: only then may a calculation start."""
    for org in orgs:
        approve_customers(state, org, channel, rate_limit)
    for org in orgs:
        policy = hashlib.sha256((state / org / "policy.toml").read_bytes()).hexdigest()
        _wait_for_text(state / org / "registered-policy", policy, fed, f"node {org} to register its policy")


def collect_results(channel, requester_id: str, cids: list[str], federation, follow) -> list[bytes]:
    """Follow each calculation to its end (`follow(cid)` returns its last status) and fetch its signed
    documents, in order; a calculation that did not end DONE stops the run by name."""
    docs: list[bytes] = []
    for cid in cids:
        st = follow(cid)
        if st.state != S.CALCULATION_STATE_DONE:
            raise DemoFailed(f"calculation {cid} {S.Name(st.state)}: {st.failure_message}")
        docs += requester.results(channel, requester_id, cid, federation)
    return docs


def write_bundles(state: Path, cids: list[str], fed_file: Path, out: Path, database: str | None) -> list[Path]:
    """Each calculation's audit bundle, once the coordinator stopped (a quiet database): OUT/bundle.tar,
    then OUT/bundle-2.tar … for a catalogue split over several calculations."""
    from tanji.coordinator.bundle import write_bundle

    bundles = []
    for i, cid in enumerate(cids):
        bundle = out / ("bundle.tar" if i == 0 else f"bundle-{i + 1}.tar")
        write_bundle(state / COORDINATOR, cid, fed_file, bundle, database)
        bundles.append(bundle)
    return bundles


def show_catalogue(docs: list[dict], console: Console) -> None:
    """One line per product of a catalogue calculation."""
    from rich.table import Table

    table = Table("product", "kgCO2e", "kgCO2e/kWh", "warnings", box=None)
    for d in docs:
        table.add_row(d["product"], f"{d['total_kgco2e']:.6g}",
                      "—" if d["per_kwh_kgco2e"] is None else f"{d['per_kwh_kgco2e']:.6g}", str(d["warnings_count"]))
    console.print(table)


def follow_progress(channel, requester_id: str, cid: str, fed: Processes, console: Console) -> rpb.GetStatusResponse:
    """Show the calculation's progress as GetStatus tells the requester (requests declared and answered,
    per tier below the target: the driver has no graph) until it ends; returns its last status."""
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[counts]}"),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        task = progress.add_task("waiting for the key holder", total=None, counts="")
        while True:
            fed.check_alive()
            st = requester.status(channel, requester_id, cid)
            label = S.Name(st.state).removeprefix("CALCULATION_STATE_").replace("_", " ").lower()
            tiers = " · tiers " + " ".join(f"{t.answered}/{t.declared}" for t in st.tiers) if st.tiers else ""
            progress.update(task, total=st.requests_declared or None, completed=st.requests_answered,
                            description=f"{cid[:8]} {label}",
                            counts=f"{st.requests_answered}/{st.requests_declared}{tiers}")
            if st.state in requester.FINAL_STATES:
                return st
            time.sleep(0.2)
