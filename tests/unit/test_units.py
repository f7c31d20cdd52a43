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
    with pytest.raises(units.UnitMismatch) as info:
        units.convert(1.0, src, dst)
    assert src in str(info.value) and dst in str(info.value)   # names both units


def test_vocabulary_is_closed():
    with pytest.raises(ValueError) as info:
        units.factor("lb", "kg")
    assert "'lb'" in str(info.value)   # names the unit
    with pytest.raises(ValueError) as info:
        units.factor_denominator("kgCO2e/mile")
    assert "'mile'" in str(info.value)
    assert units.factor_denominator("kgCO2e/tkm") == "tkm"
    with pytest.raises(ValueError):
        units.factor_denominator("kgCO2/kWh")
