"""Database errors during an RPC: an outage is UNAVAILABLE (clients retry), a lost race ABORTED,
a value the schema cannot hold INVALID_ARGUMENT; anything else stays an error of the server."""
import grpc
from sqlalchemy import exc as sa_exc

from tanji.coordinator.dbguard import is_outage, status_for


def wrapped(cls, **kw):
    return cls("SELECT 1", {}, Exception("server closed the connection unexpectedly"), **kw)


def status(exc):
    mapped = status_for(exc)
    assert mapped is not None, exc
    return mapped[0]


def test_database_errors_map_to_statuses_clients_understand():
    assert status(wrapped(sa_exc.OperationalError)) == grpc.StatusCode.UNAVAILABLE
    assert status(wrapped(sa_exc.InterfaceError)) == grpc.StatusCode.UNAVAILABLE
    assert status(sa_exc.TimeoutError("QueuePool limit reached")) == grpc.StatusCode.UNAVAILABLE
    assert status(wrapped(sa_exc.DBAPIError, connection_invalidated=True)) == grpc.StatusCode.UNAVAILABLE
    assert status(wrapped(sa_exc.IntegrityError)) == grpc.StatusCode.ABORTED
    assert status(wrapped(sa_exc.DataError)) == grpc.StatusCode.INVALID_ARGUMENT
    assert status_for(wrapped(sa_exc.ProgrammingError)) is None  # a bug is not retried away
    assert not is_outage(ValueError("not a database error"))
