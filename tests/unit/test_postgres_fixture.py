"""The PostgreSQL test fixture says why it cannot run: a skip on a developer's machine without
PostgreSQL, a failure in CI (TANJI_REQUIRE_POSTGRES=1), never a silent pass."""
import pytest

from tests.harness import postgres


def test_missing_postgresql_skips_naming_why_or_fails_when_required(monkeypatch):
    def absent(*_a, **_k):
        raise postgres.PostgresUnavailable("PostgreSQL server binaries not found (test)")

    monkeypatch.setattr(postgres, "find_bindir", absent)
    monkeypatch.delenv(postgres.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception,
                       match="PostgreSQL tests need a server: PostgreSQL server binaries not found"):
        postgres.start_or_skip()
    monkeypatch.setenv(postgres.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="TANJI_REQUIRE_POSTGRES=1"):
        postgres.start_or_skip()
