"""The French public holidays acd ships (acd/data/holidays-fr.json), made from the `holidays`
library: the national list and each subdivision acd uses (acd.calendar.HOLIDAY_SUBDIVISION),
for the years events may name (acd.events.FIRST_YEAR to LAST_YEAR).

    python -m tools.holidays_table            # say whether the shipped table is the library's
    python -m tools.holidays_table --write    # write it again (after upgrading `holidays`)

Why a table: the library's `France` class is reached through `holidays.countries`, whose import
loads every country's module (about 280): 0.2-0.3 s of every acd process's start (the service's
recovery, each `acd simulate`), for some 13 dates a year. tests/test_holidays_table.py checks the
shipped table against the installed library, date by date and name by name; outside its years
acd.holidays_fr asks the library itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

TABLE = Path(__file__).resolve().parents[1] / "acd" / "data" / "holidays-fr.json"


def build() -> dict[str, Any]:
    import holidays

    from acd.calendar import HOLIDAY_SUBDIVISION
    from acd.events import FIRST_YEAR, LAST_YEAR

    years = range(FIRST_YEAR, LAST_YEAR + 1)

    def table(subdiv: str | None) -> dict[str, str]:
        days = holidays.France(subdiv=subdiv, language="fr", years=years)
        return {day.isoformat(): name for day, name in sorted(days.items())}

    national = table(None)
    subdivisions: dict[str, dict[str, str]] = {}
    for subdiv in sorted(set(HOLIDAY_SUBDIVISION.values())):
        own = table(subdiv)
        missing = set(national) - set(own)
        if missing:  # the table stores a subdivision as the national list plus its own days
            raise SystemExit(
                f"subdivision {subdiv} lacks national holidays {sorted(missing)[:5]}: the table can't say so"
            )
        subdivisions[subdiv] = {day: name for day, name in own.items() if national.get(day) != name}
    return {
        "source": f"holidays {holidays.__version__}, France, language fr",
        "years": [FIRST_YEAR, LAST_YEAR],
        "national": national,
        "subdivisions": subdivisions,
    }


def render(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=0, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="write the table again")
    args = parser.parse_args(argv)
    text = render(build())
    if args.write:
        TABLE.write_text(text, encoding="utf-8")
        print(f"wrote {TABLE} ({len(text.encode()):,} bytes)")
        return 0
    if TABLE.read_text(encoding="utf-8") != text:
        print(f"{TABLE} differs from the installed library's: python -m tools.holidays_table --write")
        return 1
    print(f"{TABLE} is the installed library's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
