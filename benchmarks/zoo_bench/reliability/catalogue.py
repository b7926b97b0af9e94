"""The catalogue of bad inputs as data: each :class:`Case` names a bad input, the zoo error it
must raise and the exit code and HTTP status it must give. A :class:`Family` (archives, ids,
…) declares its cases; tests/reliability/test_*.py declare the families and try every case
(tests/reliability/catalogue.py), and :mod:`zoo_bench.reliability.report` counts them through
the rows :func:`rows` gives (written by the pytest plugin :mod:`.pytest_catalogue`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class Case:
    """One bad input and what it must give."""

    id: str
    family: str
    input: str
    """What is bad about it, in words (a row of the catalogue table)."""
    error: type[BaseException]
    exit: int | None
    """Exit code of the ``zoo`` command; None where no command sends this input."""
    match: str
    """Regular expression the error message must match (library and command alike)."""
    build: Callable[..., Any] = field(repr=False, compare=False)
    """Makes the case's ``Attempt`` (tests/reliability/catalogue.py) in a test's world."""
    status: int | None = None
    """HTTP status the server answers (the HTTP cases)."""

    def __str__(self) -> str:
        return self.id


class Family(list[Case]):
    """The cases of one family (archives, ids, …), declared with :meth:`case`."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        FAMILIES[name] = self

    def case(
        self,
        id: str,
        input: str,
        error: type[BaseException],
        *,
        exit: int | None = 2,
        match: str = "",
        status: int | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(build: Callable[..., Any]) -> Callable[..., Any]:
            if any(c.id == id for fam in FAMILIES.values() for c in fam):
                raise ValueError(f"duplicate catalogue id {id}")
            self.append(Case(id, self.name, input, error, exit, match, build, status))
            return build

        return register


FAMILIES: dict[str, Family] = {}
"""Every family declared so far, by name, in the order of declaration."""


@dataclass(frozen=True)
class Row:
    """A case as the report lists it: the test module that declares its family, its fields,
    and its error by name."""

    module: str
    id: str
    family: str
    input: str
    error: str
    exit: int | None
    status: int | None


def rows(modules: Iterable[ModuleType]) -> list[Row]:
    """Every case of :data:`FAMILIES` in declaration order, with the module among ``modules``
    that declares its family (the test ``test_catalogue[<case id>]`` of that module tries it)."""
    module_of = {}
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, Family):
                module_of[value.name] = module.__name__
    return [
        Row(module_of.get(name, ""), c.id, name, c.input, c.error.__name__, c.exit, c.status)
        for name, family in FAMILIES.items()
        for c in family
    ]
