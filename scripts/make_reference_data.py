#!/usr/bin/env python3
"""Generate ``cityai/data/reference_data/admin_units.json`` from the shared administrative-units JSON.

One-off: names and codes are facts, so the package ships a small list of them (the 34 provinces and
Ho Chi Minh City's 168 phường / xã / đặc khu of the 2025 two-level structure) - never the shared files
themselves and never the boundaries.

    python scripts/make_reference_data.py [../shared/data/admin-units] \
        [-o cityai/data/reference_data/admin_units.json]

The conversion lives in :func:`cityai.data.reference.units_from_full_json`, which the importer uses too,
so the shipped list and an import from the shared folder produce the same tables.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cityai.data import reference  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", nargs="?", type=Path,
                        default=ROOT.parent / "shared" / "data" / "admin-units",
                        help="folder holding full_json_generated_data_vn_units_*.json")
    parser.add_argument("-o", "--output", type=Path, default=reference.BUILTIN_PATH)
    args = parser.parse_args()
    full_json = reference.find_full_json(args.source)
    if full_json is None:
        print(f"No full_json_generated_data_vn_units_*.json under {args.source}", file=sys.stderr)
        return 1
    with open(full_json, encoding="utf-8") as fh:
        units = reference.units_from_full_json(json.load(fh))
    units["source"] = (f"thanglequoc/vietnamese-provinces-database (MIT), {full_json.name}; "
                       "Tổng cục Thống kê / General Statistics Office")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(reference.dump_units(units), encoding="utf-8")
    print(f"{args.output}: {len(units['provinces'])} provinces, {len(units['hcmc_wards'])} HCMC units, "
          f"{args.output.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
