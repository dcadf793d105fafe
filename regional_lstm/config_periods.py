"""Date periods as configs write them: `[2010, 2017]`, two ISO dates, or `"2010-01-01, 2017-12-31"`.

A year stands for the whole calendar year; every period includes both of its ends. The string form
may also be written as `str(period)` prints it: "2010-01-01..2017-12-31".
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from regional_lstm.errors import ConfigError

_FORMS = "[first year, last year], two ISO dates, or 'YYYY-MM-DD, YYYY-MM-DD'"


@dataclass(frozen=True)
class Period:
    """An inclusive range of whole days; `end` is the last day in it, not the day after."""

    start: pd.Timestamp
    end: pd.Timestamp

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError(f"starts {self.start:%Y-%m-%d}, after its end {self.end:%Y-%m-%d}")

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d}..{self.end:%Y-%m-%d}"

    @property
    def days(self) -> int:
        """Number of days, both ends included."""
        return (self.end - self.start).days + 1

    def overlaps(self, other: Period) -> bool:
        """Whether the two periods share at least one day."""
        return self.start <= other.end and other.start <= self.end

    def split(self, head_days: int) -> tuple[Period, Period]:
        """The first `head_days` days and the rest; both must be non-empty."""
        boundary = self.start + pd.Timedelta(days=head_days)
        return Period(self.start, boundary - pd.Timedelta(days=1)), Period(boundary, self.end)

    def to_list(self) -> list[str]:
        """The form written back to YAML: two ISO dates."""
        return [f"{self.start:%Y-%m-%d}", f"{self.end:%Y-%m-%d}"]

    @classmethod
    def parse(cls, value: Any) -> Period:
        """A Period from any of the config forms; a year means the whole calendar year."""
        if isinstance(value, Period):
            return value
        bounds = re.split(r"\s*(?:,|\.\.)\s*", value.strip()) if isinstance(value, str) else value
        if not isinstance(bounds, list | tuple) or len(bounds) != 2:
            raise ValueError(f"expected {_FORMS}, got {value!r}")
        return cls(_day(bounds[0], is_end=False), _day(bounds[1], is_end=True))

    @classmethod
    def option(cls, value: Period | str | None) -> Period | None:
        """A ``--period`` given on the command line (None stays None), or a ConfigError."""
        if value is None or isinstance(value, Period):
            return value
        try:
            return cls.parse(value)
        except (ValueError, TypeError) as error:
            raise ConfigError(f"period {value!r}: {error}") from None

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """Validate with `parse`; dump as two ISO dates; describe the YAML forms in JSON schema."""
        bound = core_schema.union_schema([core_schema.int_schema(), core_schema.str_schema()])
        return core_schema.no_info_plain_validator_function(
            cls.parse,
            serialization=core_schema.plain_serializer_function_ser_schema(cls.to_list),
            json_schema_input_schema=core_schema.union_schema(
                [
                    core_schema.list_schema(bound, min_length=2, max_length=2),
                    core_schema.str_schema(),
                ]
            ),
        )


def _day(value: Any, is_end: bool) -> pd.Timestamp:
    """A year (its first or last day), an ISO date string, or a date YAML already parsed."""
    try:
        if isinstance(value, str) and re.fullmatch(r"\d{4}", value.strip()):
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return pd.Timestamp(dt.date(value, 12, 31) if is_end else dt.date(value, 1, 1))
        if isinstance(value, str):
            return pd.Timestamp(dt.date.fromisoformat(value.strip()))
        if isinstance(value, dt.date):  # a datetime too: keep only its calendar day
            return pd.Timestamp(year=value.year, month=value.month, day=value.day)
    except (ValueError, OverflowError):  # no such day, or a year past C int
        pass
    raise ValueError(f"expected {_FORMS}, got {value!r}")
