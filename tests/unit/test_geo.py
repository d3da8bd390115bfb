from app.domain import geo


def test_locate_full_postcode_and_outcode():
    assert geo.locate("e15 4qz").outcode == "E15"
    assert geo.locate("HA1").outcode == "HA1"
    assert geo.locate("ZZ99 9ZZ") is None


def test_outward_code():
    assert geo.outward_code("SW1A 1AA") == "SW1A"
    assert geo.outward_code("e154qz") == "E15"
    assert geo.outward_code("N1") == "N1"


def test_miles_between_known_places():
    # Stratford (E15) to Harrow (HA1) is about 15 miles as the crow flies.
    assert 14 < geo.miles_between(geo.locate("E15"), geo.locate("HA1")) < 16
    assert geo.miles_between(geo.locate("E15"), geo.locate("E15")) == 0
