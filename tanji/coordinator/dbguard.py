"""A database outage answers gRPC UNAVAILABLE, never crashes the coordinator or half-writes.

Every RPC runs its writes in one transaction, so an error mid-call rolls back whole;
this interceptor turns the error into a status every client already retries on
(nodes and the key holder retry any failed call; `pool_pre_ping` replaces the dead
connections once the server is back). A write conflict between replicas (a unique
key another replica committed first) answers ABORTED: retried, it finds the row.
"""
from __future__ import annotations

import logging

import grpc
from sqlalchemy import exc as sa_exc

log = logging.getLogger("tanji.coordinator")


def is_outage(exc: BaseException) -> bool:
    """The database could not be reached or dropped the connection (as opposed to a bug)."""
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
                        sa_exc.TimeoutError)):
        return True
    return isinstance(exc, sa_exc.DBAPIError) and bool(exc.connection_invalidated)


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str] | None:
    if is_outage(exc):
        return grpc.StatusCode.UNAVAILABLE, "the coordinator's database is unavailable; retry"
    if isinstance(exc, sa_exc.DataError):  # a value the schema cannot hold; the engine names the known ones
        return grpc.StatusCode.INVALID_ARGUMENT, "a value does not fit the coordinator's database"
    if isinstance(exc, sa_exc.IntegrityError):
        return grpc.StatusCode.ABORTED, "a concurrent write to the coordinator's database won; retry"
    return None


class DatabaseGuard(grpc.ServerInterceptor):
    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner, method = handler.unary_unary, handler_call_details.method

        def guarded(request, context):
            try:
                return inner(request, context)
            except sa_exc.SQLAlchemyError as exc:
                mapped = status_for(exc)
                if mapped is None:
                    raise
                log.warning("%s: %s (%s)", method, mapped[1], type(exc.orig if hasattr(exc, "orig") else exc).__name__)
                context.abort(*mapped)

        return grpc.unary_unary_rpc_method_handler(guarded, request_deserializer=handler.request_deserializer,
                                                   response_serializer=handler.response_serializer)
