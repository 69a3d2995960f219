"""What the margins sweep measured for each recipe, and its summary in a chapter's words.

``nox -s margins -- NAME --write`` records, per recipe, the results of its runs under
other BLAS kernels, thread counts and seeds in ``margins.json``; :class:`Spread`
reads them back for the chapter that asserts the recipe's result.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

# What ``nox -s margins -- --write`` measured for each recipe.
MEASURED = Path(__file__).with_name("margins.json")


class Spread(NamedTuple):
    """A recipe's results over the runs of the margins sweep, and what the sweep varied."""

    values: list[float]
    kernels: list[str]
    threads: list[int]
    seeds: list[int]

    @classmethod
    def of(cls, name: str, recipe) -> Spread:
        """The sweep's results for ``recipe``, recorded under ``name``.

        Raises :class:`LookupError` if the recipe's settings are not those the sweep ran:
        a changed recipe must be measured again before a chapter can quote it.
        """
        entries = json.loads(MEASURED.read_text()).get(name, [])
        measured = next((e for e in entries if e["recipe"] == repr(recipe)), None)
        if measured is None:
            raise LookupError(
                f"no margins recorded for {recipe!r} under {name!r} in {MEASURED}: "
                f"run `nox -s margins -- {name} --write` after changing a recipe"
            )
        return cls(measured["values"], measured["kernels"], measured["threads"], measured["seeds"])

    def summary(self, target: float, scale: float = 100.0) -> dict[str, str]:
        """The sweep in words and numbers for a chapter's text: values times ``scale``.

        Examples
        --------
        >>> spread = Spread([0.981, 0.985, 0.983, 0.984], ["Haswell", "SkylakeX"], [1], [0, 1])
        >>> spread.summary(0.98)
        {'runs': '4', 'kernels': 'Haswell and SkylakeX', 'threads': '1', 'seeds': '2', \
'low': '98.10', 'median': '98.35', 'high': '98.50', 'margin': '0.10'}
        """
        low, high = min(self.values), max(self.values)
        return {
            "runs": str(len(self.values)),
            "kernels": " and ".join(self.kernels),
            "threads": " and ".join(map(str, self.threads)),
            "seeds": str(len(self.seeds)),
            "low": f"{scale * low:.2f}",
            "median": f"{scale * float(np.median(self.values)):.2f}",
            "high": f"{scale * high:.2f}",
            "margin": f"{scale * (low - target):.2f}",
        }
