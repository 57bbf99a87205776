"""One typed row per table: bronze (as received), silver (clean names), gold (monthly).

Plain slotted dataclasses, not frozen: a frozen one costs 3x more to build, and gold rows are
built by the dozen on every post.
"""

from dataclasses import dataclass

BronzeKey = tuple[str, str]
"""(date, vegetable exactly as sent): the identity of a bronze and a silver row."""


@dataclass(slots=True)
class BronzeRow:
    date: str
    vegetable: str
    kilo_sold: float

    @property
    def key(self) -> BronzeKey:
        return (self.date, self.vegetable)


@dataclass(slots=True)
class SilverRow:
    date: str
    vegetable: str
    kilo_sold: float
    raw_vegetable: str

    @property
    def key(self) -> BronzeKey:
        return (self.date, self.raw_vegetable)


@dataclass(slots=True)
class GoldRow:
    year_month: str
    vegetable: str
    kilo_sold: float
    is_outlier: bool

    @property
    def key(self) -> tuple[str, str]:
        return (self.year_month, self.vegetable)
