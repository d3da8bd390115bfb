"""Where a postcode is, and how far apart two places are, offline.

Positions come from the outward-code centroids in app/data/uk-outcodes.csv
(accurate to a few kilometres). A full postcode lookup can replace `locate`
without changing its callers. Distances use the OSGB national grid (metres),
so a radius search is plain arithmetic that SQLite and PostgreSQL both do.
"""
import csv
import functools
import math
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data" / "uk-outcodes.csv"
METRES_PER_MILE = 1609.344


@dataclass(frozen=True)
class Place:
    outcode: str
    easting: int
    northing: int
    town: str
    region: str


@functools.lru_cache(maxsize=1)
def _outcodes() -> dict[str, Place]:
    places = {}
    with open(DATA, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            places[row["postcode"].strip().upper()] = Place(
                outcode=row["postcode"].strip().upper(), easting=int(row["easting"]),
                northing=int(row["northing"]), town=(row["city"] or row["county"]).strip(),
                region=row["region_name"].strip())
    return places


def outward_code(postcode_or_outcode: str) -> str:
    """'e15 4qz' -> 'E15'; 'HA1' -> 'HA1'. The inward code is always 3 characters."""
    text = "".join(postcode_or_outcode.split()).upper()
    return text[:-3] if len(text) > 4 else text


def locate(postcode_or_outcode: str) -> Place | None:
    """The position of a full postcode or an outward code, or None if unknown."""
    return _outcodes().get(outward_code(postcode_or_outcode))


def miles_between(a: Place, b: Place) -> float:
    return math.hypot(a.easting - b.easting, a.northing - b.northing) / METRES_PER_MILE
