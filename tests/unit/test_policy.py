"""The supplier's policy file: approved customers, and clear errors for a bad file."""
import pytest

from tanji.errors import DataError
from tanji.node.policy import Policy, load_policy


def test_no_file_answers_everyone_a_list_only_those(tmp_path):
    assert load_policy(tmp_path).approves("anyone", "me")
    (tmp_path / "policy.toml").write_text('approved_customers = ["cell-co"]\n')
    policy = load_policy(tmp_path)
    assert policy.approves("cell-co", "me") and not policy.approves("intruder", "me")
    assert policy.approves("me", "me")  # a node's own products may buy from each other
    assert Policy(frozenset()).approves("me", "me") and not Policy(frozenset()).approves("x", "me")


@pytest.mark.parametrize("text,where", [
    ('approved_customers = "cell-co"\n', "approved_customers"),
    ('approved_customer = ["cell-co"]\n', "approved_customer"),
    ('approved_customers = [\n', "(document)"),
    ('min_contributors = 0\n', "min_contributors"),
    ('min_contributors = "3"\n', "min_contributors"),
    ('min_contributors = true\n', "min_contributors"),
])
def test_a_bad_policy_is_a_named_error(tmp_path, text, where):
    (tmp_path / "policy.toml").write_text(text)
    with pytest.raises(DataError) as info:
        load_policy(tmp_path)
    assert info.value.path == where and str(info.value).startswith(str(tmp_path / "policy.toml"))


def test_rate_limit_setting(tmp_path):
    (tmp_path / "policy.toml").write_text("[rate_limit]\ncalculations = 2\ndays = 0.5\n")
    assert load_policy(tmp_path).rate_limit == (2, 0.5)
    (tmp_path / "policy.toml").write_text("[rate_limit]\ncalculations = 0\ndays = 1\n")
    with pytest.raises(DataError) as info:
        load_policy(tmp_path)
    assert (info.value.file, info.value.path) == (str(tmp_path / "policy.toml"), "rate_limit")


def test_minimum_contributors_setting(tmp_path):
    assert load_policy(tmp_path).min_contributors is None          # no policy: any fan-out
    (tmp_path / "policy.toml").write_text("min_contributors = 3\n")
    assert load_policy(tmp_path).min_contributors == 3
