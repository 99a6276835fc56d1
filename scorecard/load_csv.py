"""`scorecard load-csv`: a CSV export into a new table of text columns, as loaders usually do.

Every column is text, exactly as in the file: reading it as times, numbers and
booleans is the mapping's job ([source.*] in the config, contract section 6),
so what is tried here is what users' own loaders give them.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Column, MetaData, Table, Text, insert, inspect
from sqlalchemy.exc import SQLAlchemyError

from extract.source import first_line, open_engine, redact_url
from scorecard.errors import ConfigError, SourceError

_BATCH = 2_000


def _rows(path: Path) -> Iterator[list[str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        # utf-8-sig: a byte-order mark (Excel writes one) is not part of the first column's name.
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            yield from csv.reader(handle)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"cannot read {path} as UTF-8 CSV: {exc}") from None


def load_csv(url: str, path: Path, table_name: str, replace: bool = False) -> int:
    """Create `table_name` with one text column per header field and insert every row."""
    rows = _rows(path)
    header = next(rows, None)
    if not header:
        raise ConfigError(f"{path} is empty: a header line is needed")
    if len(set(header)) != len(header):
        raise ConfigError(f"{path}: the header names a column twice")
    engine = open_engine(url)
    table = Table(table_name, MetaData(), *[Column(name, Text()) for name in header])
    loaded = 0
    try:
        if inspect(engine).has_table(table_name):
            if not replace:
                raise ConfigError(
                    f"table {table_name!r} already exists in {redact_url(url)} "
                    "(pass --replace to drop and reload it)"
                )
            table.drop(engine)
        table.create(engine)
        with engine.begin() as connection:
            batch: list[dict[str, str]] = []
            for number, row in enumerate(rows, start=2):
                if len(row) != len(header):
                    raise ConfigError(
                        f"{path}, line {number}: {len(row)} fields where the header has {len(header)}"
                    )
                batch.append(dict(zip(header, row, strict=True)))
                if len(batch) == _BATCH:
                    connection.execute(insert(table), batch)
                    loaded += len(batch)
                    batch = []
            if batch:
                connection.execute(insert(table), batch)
                loaded += len(batch)
    except SQLAlchemyError as exc:
        raise SourceError(f"cannot load {path} into {redact_url(url)}: {first_line(exc)}") from None
    finally:
        engine.dispose()
    return loaded
