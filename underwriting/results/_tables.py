"""Results as tables: named columns that pandas and polars read without copying the arrays.

A table is a ``dict`` of equal-length columns: NumPy arrays, lists (text, or amounts where some
rows have none) or :class:`Coded` columns, integer codes into a tuple of names (scenario ids,
section names), which become pandas categoricals and polars enums: a year loss table of ten
million rows names its scenarios and sections without ten million strings.

pandas and polars are optional (the ``[notebook]`` extra) and imported only when asked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

_EXTRA = "pip install 'lab-underwriting[notebook]'"


@dataclass(frozen=True, slots=True)
class Coded:
    """A column of names stored as codes: ``names[codes[i]]`` is row ``i``'s name."""

    codes: npt.NDArray[np.integer[Any]]
    names: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.codes.size)


Column = npt.NDArray[Any] | Sequence[Any] | Coded
Table = Mapping[str, Column]


def check_table(name: str, tables: Sequence[str]) -> None:
    """Refuse a table name the object does not have, listing those it has."""
    if name not in tables:
        raise ValueError(f"table {name!r} is not one of this result's: {', '.join(tables)}")


def to_pandas(table: Table) -> pd.DataFrame:
    """The table as a pandas DataFrame (categoricals for :class:`Coded` columns)."""
    try:
        import pandas as pd
    except ImportError as error:
        raise ImportError(
            f"to_pandas() needs pandas, the optional extra [notebook]: {_EXTRA}"
        ) from error
    columns: dict[str, Any] = {}
    for name, column in table.items():
        if isinstance(column, Coded):
            columns[name] = pd.Categorical.from_codes(
                column.codes.astype(np.int64), categories=pd.Index(list(column.names))
            )
        else:
            columns[name] = column
    return pd.DataFrame(columns)


def to_polars(table: Table) -> pl.DataFrame:
    """The table as a polars DataFrame (enums for :class:`Coded` columns)."""
    try:
        import polars as pl
    except ImportError as error:
        raise ImportError(
            f"to_polars() needs polars, the optional extra [notebook]: {_EXTRA}"
        ) from error
    columns: list[pl.Series] = []
    for name, column in table.items():
        if isinstance(column, Coded):
            names = np.asarray(column.names, dtype=object)
            columns.append(pl.Series(name, names[column.codes], dtype=pl.Enum(list(column.names))))
        else:
            columns.append(pl.Series(name, column))
    return pl.DataFrame(columns)
