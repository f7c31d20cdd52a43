"""own(p): every activity kind, every electricity model and its fallback, stages, primary share, DQR."""
import pytest

from tanji.methodology import profiles, slots
from tanji.methodology.footprint import MissingNationalAverage, RecordError, fallback, own
from tanji.methodology.formats.factorset import FactorSet
from tanji.methodology.formats.nodedata import FederatedInput, Product
from tests.harness.data import factors_doc

FACTORS = FactorSet.model_validate(factors_doc()).by_id()
MIIT = profiles.get("miit-2025")
EU = profiles.get("eu-2023-1542")


def compute(*activities, stage="manufacturing", profile=MIIT, country="CN", unit="kg"):
    product = Product.model_validate({"id": "P", "unit": unit, "stage": stage, "activities": list(activities)})
    return own(product, "org", country, FACTORS, profile)


def elec(amount, model, **kw):
    return {"kind": "electricity", "amount": amount, "unit": kw.pop("unit", "kWh"), "model": model, **kw}


def test_fuel_material_direct_and_transport():
    out = compute(
        {"kind": "fuel", "factor": "fuel.natural_gas", "amount": 3.0, "unit": "m3"},           # 6.0
        {"kind": "fuel", "factor": "fuel.diesel", "amount": 2000.0, "unit": "L",
         "data_source": "secondary"},                                                             # 2000 L * 2.7
        {"kind": "material", "factor": "material.nickel", "amount": 500.0, "unit": "kg",      # 0.5 t * 10 = 5
         "data_source": "secondary", "stage": "raw_material"},
        {"kind": "material", "factor": "material.bms", "amount": 2, "unit": "piece", "dqr": 2.0},  # 60
        {"kind": "direct", "amount": 1.5, "unit": "kgCO2e", "data_source": "secondary"},        # 1.5, dqr 3
        {"kind": "transport", "mode": "truck", "mass": 2000.0, "mass_unit": "g", "distance": 500.0,
         "distance_unit": "km", "stage": "distribution"},                                    # 0.002 t*500 km*0.1 = 0.1
    )
    v = out.vector
    assert v[slots.STAGE_SLOT["manufacturing"]] == pytest.approx(6.0 + 5400.0 + 60.0 + 1.5)
    assert v[slots.STAGE_SLOT["raw_material"]] == pytest.approx(5.0)
    assert v[slots.STAGE_SLOT["distribution"]] == pytest.approx(0.1)
    assert v[slots.STAGE_SLOT["end_of_life"]] == 0
    # primary: gas (6), truck (0.1) — a material record is secondary unless it says otherwise (FORMATS 1.1),
    # so the bms (60) is not; dqr: primary default 1.5 unless given, secondary -> factor dqr
    assert v[slots.PRIMARY] == pytest.approx(6.0 + 0.1)
    assert v[slots.DQR_WEIGHTED] == pytest.approx(6.0 * 1.5 + 5400 * 3.0 + 5.0 * 3.5 + 60 * 2.0 + 1.5 * 3.0 + 0.1 * 1.5)
    assert v[slots.WARNINGS] == 0 and v[slots.CHECK] == 0
    assert out.cited == {"fuel.natural_gas", "fuel.diesel", "material.nickel", "material.bms", "transport.truck"}


def test_energy_units_convert_to_the_factor_unit():
    out = compute({"kind": "material", "factor": "material.heat", "amount": 3.6, "unit": "MJ"})
    assert out.vector[1] == pytest.approx(0.0036 * 0.07)
    out = compute(elec(2.0, "regional_grid", region="east", unit="MWh"))
    assert out.vector[1] == pytest.approx(2000 * 0.6)


@pytest.mark.parametrize("record,expected,warning", [
    (elec(100, "regional_grid", region="east"), 60.0, None),
    (elec(100, "national_average"), 50.0, None),
    (elec(100, "direct", source="hydro", evidence="PPA-1"), 2.0, None),
    (elec(100, "direct", source="hydro", region="east"), 60.0,
     "direct connection without evidence, regional grid used"),
    (elec(100, "direct", source="hydro"), 50.0, "direct connection without evidence, national average used"),
    (elec(100, "green_certificate", source="wind", evidence="GEC-1", certified_amount=0.1, certified_unit="MWh"),
     0.001, None),
    (elec(100, "green_certificate", source="wind", evidence="GEC-1", certified_amount=150, certified_unit="kWh"),
     0.001, None),  # certified above consumption: only the amount consumed counts
    (elec(100, "green_certificate", source="wind", evidence="GEC-1", certified_amount=80, certified_unit="kWh",
          region="east"), 80 * 0.00001 + 20 * 0.6, "20 kWh above the certified amount, regional grid used"),
    (elec(100, "green_certificate", source="wind", evidence="GEC-1", certified_amount=80, certified_unit="kWh"),
     80 * 0.00001 + 20 * 0.5, "20 kWh above the certified amount, national average used"),
    (elec(100, "green_certificate", source="wind", certified_amount=80, certified_unit="kWh", region="east"),
     60.0, "green certificate without evidence, regional grid used"),
    (elec(100, "green_certificate", source="wind", evidence="GEC-1"),
     50.0, "green certificate without certified amount, national average used"),
])
def test_electricity_models_and_fallbacks_miit(record, expected, warning):
    out = compute(record)
    assert out.vector[1] == pytest.approx(expected, rel=1e-12)
    if warning is None:
        assert out.warnings == [] and out.vector[slots.WARNINGS] == 0
    else:
        assert out.warnings == [f"org/P activities[0]: {warning}"]
        assert out.vector[slots.WARNINGS] == 1


@pytest.mark.parametrize("record,expected,warning", [
    (elec(100, "direct", source="hydro", evidence="PPA-1"), 2.0, None),
    (elec(100, "national_average"), 50.0, None),
    (elec(100, "regional_grid", region="east"), 50.0,
     "electricity model 'regional_grid' not accepted by method 'eu-2023-1542', national average used"),
    (elec(100, "green_certificate", source="wind", evidence="G", certified_amount=100, certified_unit="kWh"),
     50.0, "electricity model 'green_certificate' not accepted by method 'eu-2023-1542', national average used"),
    (elec(100, "direct", source="hydro", region="east"), 50.0,
     "direct connection without evidence, national average used"),
])
def test_electricity_under_eu_profile(record, expected, warning):
    out = compute(record, profile=EU)
    assert out.vector[1] == pytest.approx(expected)
    assert out.warnings == ([] if warning is None else [f"org/P activities[0]: {warning}"])


def test_material_records_default_to_secondary_data():
    steel = {"kind": "material", "factor": "material.steel", "amount": 1.0, "unit": "kg"}  # 2.0, factor dqr 4
    out = compute(steel)
    assert out.vector[slots.PRIMARY] == 0 and out.vector[slots.DQR_WEIGHTED] == pytest.approx(2.0 * 4.0)
    measured = compute({**steel, "data_source": "primary"})  # said explicitly: primary, default dqr 1.5
    assert measured.vector[slots.PRIMARY] == pytest.approx(2.0)
    assert measured.vector[slots.DQR_WEIGHTED] == pytest.approx(2.0 * 1.5)
    # every other kind stays primary by default
    gas = compute({"kind": "fuel", "factor": "fuel.natural_gas", "amount": 1.0, "unit": "m3"})
    assert gas.vector[slots.PRIMARY] == pytest.approx(2.0)


def test_national_average_is_the_organisations_own_countrys():
    assert compute(elec(100, "national_average"), country="DE").vector[1] == pytest.approx(40.0)
    assert compute(elec(100, "national_average"), country="CN").vector[1] == pytest.approx(50.0)
    # every fallback to the national average, and the EU profile's substitute, use it too
    assert compute(elec(100, "direct", source="hydro"), country="DE").vector[1] == pytest.approx(40.0)
    assert compute(elec(100, "regional_grid", region="east"), country="DE", profile=EU).vector[1] == pytest.approx(40.0)


def test_china_prefers_its_country_specific_factor_where_the_set_has_it():
    factors = dict(FACTORS)
    cn = FACTORS["electricity.grid.national"].model_copy(update={"id": "electricity.grid.national.CN", "value": 0.45})
    factors[cn.id] = cn
    product = Product.model_validate({"id": "P", "unit": "kg", "stage": "manufacturing",
                                      "activities": [elec(100, "national_average")]})
    assert own(product, "org", "CN", factors, MIIT).vector[1] == pytest.approx(45.0)


@pytest.mark.parametrize("record,profile", [
    (elec(100, "national_average"), MIIT),
    (elec(100, "direct", source="hydro"), MIIT),                       # fallback without evidence
    (elec(100, "regional_grid", region="east"), EU),                   # not accepted by the EU profile
])
def test_a_missing_national_average_is_never_chinas(record, profile):
    """A plant in FR whose factor set has no French average: refused, naming country and factor id."""
    with pytest.raises(MissingNationalAverage) as info:
        compute(record, country="FR", profile=profile)
    assert info.value.path == "activities[0].model"
    assert "'electricity.grid.national.FR'" in info.value.message   # the factor id it needs
    # records that do not need it are computed as before
    assert compute(elec(100, "direct", source="hydro", evidence="PPA-1"), country="FR").vector[1] == pytest.approx(2.0)


def test_each_fallback_is_one_warning_and_dqr_follows_the_factor_used():
    out = compute(elec(10, "direct", source="hydro"), elec(10, "direct", source="hydro", data_source="secondary"))
    assert out.vector[slots.WARNINGS] == 2
    assert out.warnings[1].startswith("org/P activities[1]:")
    # primary default dqr 1.5; secondary takes the dqr of the (national) factor actually used, 2.0
    assert out.vector[slots.DQR_WEIGHTED] == pytest.approx(5.0 * 1.5 + 5.0 * 2.0)
    assert out.vector[slots.PRIMARY] == pytest.approx(5.0)


def test_missing_factor_names_the_record():
    with pytest.raises(RecordError) as info:
        compute(elec(1, "regional_grid", region="mars"))
    assert info.value.path == "activities[0].model" and "'electricity.grid.mars'" in info.value.message
    with pytest.raises(RecordError) as info:
        compute({"kind": "transport", "mode": "air", "mass": 1, "mass_unit": "kg", "distance": 1,
                 "distance_unit": "km"})
    assert info.value.path == "activities[0].mode" and "'transport.air'" in info.value.message


def test_unit_mismatch_with_factor_is_an_error():
    with pytest.raises(RecordError) as info:
        compute({"kind": "material", "factor": "material.steel", "amount": 1.0, "unit": "kWh"})
    assert info.value.path == "activities[0].unit" and "'material.steel'" in info.value.message


def test_fallback_contribution_of_a_dead_supplier():
    inp = FederatedInput.model_validate({"supplier": "s", "product": "C", "quantity": 3, "unit": "piece",
                                         "fallback_factor": "material.cell_default", "fallback_stage": "manufacturing"})
    fb = fallback(inp, 2, "org/P", FACTORS)
    assert fb.vector[slots.STAGE_SLOT["manufacturing"]] == 150.0
    assert fb.vector[slots.PRIMARY] == 0 and fb.vector[slots.DQR_WEIGHTED] == 150.0 * 4.0
    assert fb.vector[slots.WARNINGS] == 1
    assert fb.warnings == ["org/P inputs[2]: supplier s/C declared dead, fallback factor material.cell_default used"]
