"""Prometheus metrics of a daemon, served on the health port's sibling (tanji.infra.health).

Aggregates only: counts by event, state, refusal code, gRPC method and status; latencies; bytes.
No label ever names a supplier, a product or a figure of a node's data — a label's values are
bounded by the code (event names, state names, refusal code names, gRPC method names).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor

import grpc
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

EVENTS = Counter("tanji_events", "lifecycle events logged, by event name", ["event"])
REQUESTS_ANSWERED = Counter("tanji_requests_answered", "calculation requests a node answered, by outcome",
                            ["outcome"])
REFUSALS = Counter("tanji_refusals", "refusals sent or given, by refusal code", ["code"])
LEASE_EXPIRIES = Counter("tanji_lease_expiries", "suppliers declared dead because their lease expired")
HE_SECONDS = Histogram("tanji_he_operation_seconds", "homomorphic operation latency (HE worker), by operation",
                       ["operation"], buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
RPC_SECONDS = Histogram("tanji_rpc_seconds", "gRPC call latency, by side, method and status code",
                        ["side", "method", "code"], buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
BYTES_SENT = Counter("tanji_bytes_sent", "gRPC message bytes sent, by method", ["method"])
BYTES_RECEIVED = Counter("tanji_bytes_received", "gRPC message bytes received, by method", ["method"])
DB_SECONDS = Histogram("tanji_db_statement_seconds", "database statement latency",
                       buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 5))


def _size(message) -> int:
    size = getattr(message, "ByteSize", None)
    return int(size()) if callable(size) else 0


def _short(method: str) -> str:
    return method.rsplit("/", 1)[-1]


# ---------------------------------------------------------------- gRPC
class ServerMetrics(grpc.ServerInterceptor):
    """The coordinator's side of every unary call: latency by method and code, bytes each way."""

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner, method = handler.unary_unary, _short(details.method)

        def behaviour(request, context):
            start, code = time.perf_counter(), "OK"
            BYTES_RECEIVED.labels(method=method).inc(_size(request))
            try:
                response = inner(request, context)
            except Exception:
                code = _code_of(context) or "UNKNOWN"
                raise
            else:
                code = _code_of(context) or "OK"
                BYTES_SENT.labels(method=method).inc(_size(response))
                count_refusals(response)
                return response
            finally:
                RPC_SECONDS.labels(side="server", method=method, code=code).observe(time.perf_counter() - start)

        return grpc.unary_unary_rpc_method_handler(behaviour, request_deserializer=handler.request_deserializer,
                                                   response_serializer=handler.response_serializer)


def count_refusals(response) -> None:
    """The refusals a push or start answer carries (PushOutcome fields `outcome` / `outcomes`), by code."""
    from tanji.v1 import common_pb2 as cpb

    outcomes = list(getattr(response, "outcomes", ()))
    try:
        if response.HasField("outcome"):
            outcomes.append(response.outcome)
    except (AttributeError, ValueError):  # a response without a PushOutcome
        pass
    for out in outcomes:
        if isinstance(out, cpb.PushOutcome) and out.status == cpb.PUSH_STATUS_REFUSED:
            REFUSALS.labels(code=cpb.RefusalCode.Name(out.code) if out.code in cpb.RefusalCode.values()
                            else str(out.code)).inc()


def _code_of(context) -> str | None:
    code = getattr(context, "code", None)
    value = code() if callable(code) else None
    return value.name if isinstance(value, grpc.StatusCode) else None


class ClientMetrics(grpc.UnaryUnaryClientInterceptor):
    """A party's side of every unary call to the coordinator: latency by method and code, bytes each way."""

    def intercept_unary_unary(self, continuation, client_call_details, request):
        method, start = _short(client_call_details.method), time.perf_counter()
        BYTES_SENT.labels(method=method).inc(_size(request))
        outcome = continuation(client_call_details, request)
        code = outcome.code()
        RPC_SECONDS.labels(side="client", method=method, code=code.name if code else "OK").observe(
            time.perf_counter() - start)
        if code == grpc.StatusCode.OK:
            BYTES_RECEIVED.labels(method=method).inc(_size(outcome.result()))
        return outcome


def counted_channel(channel: grpc.Channel) -> grpc.Channel:
    return grpc.intercept_channel(channel, ClientMetrics())


# ---------------------------------------------------------------- HE worker
class TimedPool(ProcessPoolExecutor):
    """The HE worker pool, timing each task by its function's name (queueing included: one worker)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        start, name = time.perf_counter(), getattr(fn, "__name__", "task")
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(lambda _: HE_SECONDS.labels(operation=name).observe(time.perf_counter() - start))
        return future


# ---------------------------------------------------------------- database
def time_statements(engine) -> None:
    """Observe every statement `engine` runs in tanji_db_statement_seconds."""
    from sqlalchemy import event

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):  # pragma: no cover - SQLAlchemy hook
        conn.info.setdefault("tanji_started", []).append(time.perf_counter())

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):  # pragma: no cover - SQLAlchemy hook
        started = conn.info.get("tanji_started")
        if started:
            DB_SECONDS.observe(time.perf_counter() - started.pop())


class GaugeOf(Collector):
    """A gauge read at scrape time: `read()` gives {label value: number} (e.g. calculations by state)."""

    def __init__(self, name: str, documentation: str, label: str, read: Callable[[], dict[str, float]]):
        self.name, self.documentation, self.label, self.read = name, documentation, label, read

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=[self.label])
        try:
            values = self.read()
        except Exception:
            values = {}  # the database is away: the health service says so; the scrape still answers
        for value, number in sorted(values.items()):
            family.add_metric([value], number)
        yield family


def register_gauge(gauge: GaugeOf) -> None:
    """Add a scrape-time gauge to the process's registry (once per name)."""
    if gauge.name not in getattr(REGISTRY, "_names_to_collectors", {}):
        REGISTRY.register(gauge)
