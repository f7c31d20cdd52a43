"""Units go through pint: conversions within a dimension, refusals across dimensions."""
import pytest

from tanji.methodology import units


@pytest.mark.parametrize("src,dst,expected", [
    ("g", "kg", 1e-3), ("t", "kg", 1e3), ("MWh", "kWh", 1e3), ("GJ", "MJ", 1e3),
    ("GJ", "kWh", 1e9 / 3.6e6), ("L", "m3", 1e-3), ("tkm", "tkm", 1.0), ("piece", "piece", 1.0),
    ("kgCO2e", "kgCO2e", 1.0),
])
def test_conversion_factors(src, dst, expected):
    assert units.factor(src, dst) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("src,dst", [("kg", "kWh"), ("km", "tkm"), ("piece", "kg"), ("L", "kg"), ("kgCO2e", "kg")])
def test_dimension_mismatch_is_an_error(src, dst):
    with pytest.raises(units.UnitMismatch, match=f"{src}.*cannot be converted.*{dst}"):
        units.convert(1.0, src, dst)


def test_vocabulary_is_closed():
    with pytest.raises(ValueError, match="unknown unit 'lb'"):
        units.factor("lb", "kg")
    with pytest.raises(ValueError, match="unknown unit"):
        units.factor_denominator("kgCO2e/mile")
    assert units.factor_denominator("kgCO2e/tkm") == "tkm"
    with pytest.raises(ValueError, match="must be 'kgCO2e/<unit>'"):
        units.factor_denominator("kgCO2/kWh")
