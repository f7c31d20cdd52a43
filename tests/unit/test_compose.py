"""The compose examples start in order by health, not by sleeping (issue #15): every party waits for
the coordinator's health service, the requester for every party's, PostgreSQL for pg_isready."""
import yaml

from tests.harness.paths import ROOT

FILES = [ROOT / "deploy" / "compose.yaml", ROOT / "deploy" / "operator" / "compose.yaml"]


def services(path) -> dict:
    return yaml.safe_load(path.read_text())["services"]


def test_no_service_sleeps_or_polls_its_way_to_order():
    for path in FILES:
        for name, svc in services(path).items():
            command = " ".join(svc.get("command") or []) if isinstance(svc.get("command"), list) else \
                str(svc.get("command") or "")
            assert "sleep" not in command and "until " not in command, (path.name, name)


def test_daemons_wait_for_the_coordinators_health_and_the_requester_for_every_party():
    svc = services(FILES[0])
    daemons = [n for n, s in svc.items() if "serve" in " ".join(s.get("command") or []) and n != "coordinator"]
    assert len(daemons) == 12   # the key holder and 11 nodes
    for name in daemons:
        assert svc[name]["depends_on"] == {"coordinator": {"condition": "service_healthy"}}, name
    assert svc["requester"]["depends_on"] == {n: {"condition": "service_healthy"} for n in daemons}
    assert svc["coordinator"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert "pg_isready" in svc["postgres"]["healthcheck"]["test"]
    assert "--wait" in " ".join(svc["requester"]["command"])


def test_the_operator_kit_waits_by_health_too():
    svc = services(FILES[1])
    assert svc["coordinator"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert "pg_isready" in svc["postgres"]["healthcheck"]["test"]
