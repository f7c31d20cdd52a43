"""The supply graph of one calculation and its plaintext evaluation — the reference oracle.

F(p) = own(p) + Σ q_i · F(child_i) is evaluated the way the encrypted protocol
does it: each distinct (organisation, product) gets one multiplier w (the sum
over every path of the products of quantities) and contributes w ⊙ own(p) plus
its unweighted warning count. The result is therefore comparable, slot for
slot, with the decrypted federated total.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from tanji.errors import CalculationError
from tanji.methodology import profiles, slots, units
from tanji.methodology.footprint import OwnFootprint, RecordError, fallback, own
from tanji.methodology.formats.nodedata import Product
from tanji.methodology.formats.result import FactorSetRef, FallbackRef, Result, build_result
from tanji.methodology.loader import DataDir
from tanji.methodology.profiles import MethodProfile

Key = tuple[str, str]  # (organisation, product)


def parse_target(text: str) -> Key:
    org, sep, product = text.partition("/")
    if not sep or not org or not product or "/" in product:
        raise CalculationError(f"product {text!r} must be written ORG/PRODUCT")
    return org, product


@dataclass(frozen=True)
class Edge:
    buyer: Key
    index: int           #: position in the buyer's `inputs`
    supplier: Key
    quantity: float      #: per unit of the buyer's product, in the supplier product's unit
    dead: bool           #: supplier declared dead: the buyer answers with its fallback factor


@dataclass
class SupplyGraph:
    """The part of the federation reached from one target product."""

    data: DataDir
    target: Key
    profile: MethodProfile
    order: list[Key] = field(default_factory=list)          #: topological, target first
    edges: dict[Key, list[Edge]] = field(default_factory=dict)

    def product(self, key: Key) -> Product:
        return self.data.nodes[key[0]].model.product(key[1])

    def depth(self) -> int:
        """Tiers of suppliers below the target along the longest path (the depth bound it needs)."""
        tiers: dict[Key, int] = {}
        for key in reversed(self.order):  # suppliers before their buyers
            tiers[key] = max((1 + tiers[e.supplier] for e in self.edges[key] if not e.dead), default=0)
        return tiers[self.target]


def _label(key: Key) -> str:
    return f"{key[0]}/{key[1]}"


def target_profile(product: Product, label: str, method: str | None) -> MethodProfile:
    """The method profile of a calculation of `product`: its declaration's (a declaration target), else
    `method` or the default (a product footprint, FORMATS 1.1 §2). A method other than the declared one
    is an error: a declaration is computed under the method it declares."""
    if product.declaration is not None:
        if method is not None and method != product.declaration.method:
            raise CalculationError(f"{label} declares method {product.declaration.method!r}; "
                                   f"--method {method!r} does not apply to it")
        return product.declaration.profile
    try:
        return profiles.get(method or profiles.PRODUCT_FOOTPRINT_DEFAULT)
    except ValueError as exc:
        raise CalculationError(f"--method: {exc}") from None


def build_graph(data: DataDir, target: Key, offline: frozenset[str] = frozenset(),
                method: str | None = None) -> SupplyGraph:
    """Resolve every federated input reachable from `target`; cycles and unknown suppliers are errors.

    A target with a declaration is computed under its declared method; any other product is the
    target of a product footprint under `method` (FORMATS 1.1 §2)."""
    org, pid = target
    if org not in data.nodes:
        raise CalculationError(f"no node serves organisation {org!r}")
    try:
        root = data.nodes[org].model.product(pid)
    except KeyError:
        raise CalculationError(f"organisation {org!r} serves no product {pid!r}") from None
    graph = SupplyGraph(data, target, target_profile(root, _label(target), method))
    state: dict[Key, int] = {}  # 1 = on the current path, 2 = done
    path: list[Key] = []
    postorder: list[Key] = []

    def visit(key: Key) -> None:
        state[key] = 1
        path.append(key)
        product = graph.product(key)
        edges: list[Edge] = []
        for j, inp in enumerate(product.inputs):
            where = f"{_label(key)} inputs[{j}]"
            child = (inp.supplier, inp.product)
            if inp.quantity == 0:
                continue  # a zero quantity names no supplier: nothing is requested, nobody's data is used
            if inp.supplier in offline:
                if inp.fallback_factor is None:
                    raise CalculationError(
                        f"{where}: supplier {inp.supplier!r} is dead and the input has no fallback_factor")
                edges.append(Edge(key, j, child, inp.quantity, dead=True))
                continue
            if inp.supplier not in data.nodes:
                raise CalculationError(f"{where}: no node serves organisation {inp.supplier!r}")
            try:
                supplied = graph.product(child)
            except KeyError:
                raise CalculationError(
                    f"{where}: organisation {inp.supplier!r} serves no product {inp.product!r}") from None
            try:
                q = units.convert(inp.quantity, inp.unit, supplied.unit)
            except units.UnitMismatch as exc:
                raise CalculationError(
                    f"{where}.unit: quantity of {_label(child)} (sold per {supplied.unit!r}): {exc}") from None
            edges.append(Edge(key, j, child, q, dead=False))
            if state.get(child) == 1:
                loop = path[path.index(child):] + [child]
                raise CalculationError("supply graph has a cycle: " + " -> ".join(_label(k) for k in loop))
            if child not in state:
                visit(child)
        graph.edges[key] = edges
        path.pop()
        state[key] = 2
        postorder.append(key)

    visit(target)
    graph.order = postorder[::-1]
    return graph


@dataclass
class Evaluation:
    """The plaintext aggregate and what the requester is told about warnings and fallbacks."""

    graph: SupplyGraph
    total: np.ndarray
    weights: dict[Key, float]
    parts: dict[Key, OwnFootprint]
    fallbacks: list[tuple[Edge, OwnFootprint]]

    def requester_warnings(self) -> list[str]:
        org = self.graph.target[0]
        out = [w for key in self.graph.order if key[0] == org for w in self.parts[key].warnings]
        out += [w for edge, fb in self.fallbacks if edge.buyer[0] == org for w in fb.warnings]
        return out

    def citations(self) -> dict[str, int]:
        """Factor id -> contributions citing it: what the factor provider's report must say."""
        out = {fid: 0 for fid in self.graph.data.factors.by_id}
        for part in list(self.parts.values()) + [fb for _, fb in self.fallbacks]:
            for fid in part.cited:
                out[fid] += 1
        return out

    def named_fallbacks(self) -> list[FallbackRef]:
        """Every fallback in the chain with its tier (decision 0010), as the federated result names
        them: the buyer's tier along its deepest path from the target, plus one; sorted by tier."""
        tiers: dict[Key, int] = {self.graph.target: 0}
        for key in self.graph.order:  # topological: every buyer before its suppliers
            for e in self.graph.edges[key]:
                if not e.dead:
                    tiers[e.supplier] = max(tiers.get(e.supplier, 0), tiers[key] + 1)
        named = sorted((tiers[e.buyer] + 1, e.supplier[0], e.supplier[1], e.buyer[0]) for e, _ in self.fallbacks)
        return [FallbackRef(supplier=s, product=p, buyer=b, tier=t) for t, s, p, b in named]


def evaluate(graph: SupplyGraph) -> Evaluation:
    """Σ_p w_p ⊙ own(p) + warnings, over the distinct products reached (and fallbacks)."""
    factors = graph.data.factors.by_id
    weights: dict[Key, float] = {k: 0.0 for k in graph.order}
    weights[graph.target] = 1.0
    total = slots.zeros()
    parts: dict[Key, OwnFootprint] = {}
    fallbacks: list[tuple[Edge, OwnFootprint]] = []
    for key in graph.order:  # topological: every buyer before its suppliers
        node = graph.data.nodes[key[0]].model
        product = graph.product(key)
        try:
            part = own(product, key[0], node.organisation.country, factors, graph.profile)
        except RecordError as exc:
            raise CalculationError(f"{_label(key)} {exc}") from None
        parts[key] = part
        w = weights[key]
        total += w * slots.WEIGHTED * part.vector + (1 - slots.WEIGHTED) * part.vector
        for edge in graph.edges[key]:
            if edge.dead:
                fb = fallback(product.inputs[edge.index], edge.index, _label(key), factors)
                fallbacks.append((edge, fb))
                total += w * slots.WEIGHTED * fb.vector + (1 - slots.WEIGHTED) * fb.vector
            else:
                weights[edge.supplier] += w * edge.quantity
    return Evaluation(graph, total, weights, parts, fallbacks)


def reference_id(data: DataDir, target: Key, offline: frozenset[str], method: str | None = None) -> str:
    """A deterministic id for a plaintext reference run: a hash of exactly what it read (and, for a
    product footprint, the method it names; a declaration's method is in the data)."""
    h = hashlib.sha256()
    node_hashes = (data.nodes[o].sha256 for o in sorted(data.nodes))
    extra = [] if method is None else ["method=" + method]
    for part in [data.factors.sha256, *node_hashes, _label(target), *sorted(offline), *extra]:
        h.update(part.encode() + b"\0")
    return "reference-" + h.hexdigest()[:16]


def reference_result(data: DataDir, target: Key, offline: frozenset[str] = frozenset(),
                     method: str | None = None) -> Result:
    """The plaintext reference `tanji.result/1` for `target` (not private: one process sees all data):
    a declaration, or a product footprint of a product without one (per declared unit, no kWh)."""
    graph = build_graph(data, target, offline, method)
    ev = evaluate(graph)
    product = graph.product(target)
    declaration = product.declaration
    fs = data.factors
    return build_result(
        calculation=reference_id(data, target, offline, graph.profile.name if declaration is None else None),
        product=_label(target), profile=graph.profile,
        factor_set=FactorSetRef(id=fs.model.id, sha256=fs.sha256), total=ev.total,
        lifetime_energy_kwh=None if declaration is None else declaration.lifetime_energy_kwh(), precision=None,
        fallbacks=ev.named_fallbacks(), warnings=ev.requester_warnings(),
        declared_unit=product.unit, declaration=None if declaration is None else declaration.released())
