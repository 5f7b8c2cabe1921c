"""Collects the errors and warnings found while reading a definition, so that one load reports them all."""

from __future__ import annotations

from fastgw.errors import DefinitionError, Place, Problem


class Findings:
    """Errors stop the load (all of them are raised together by :meth:`raise_errors`); warnings end up in
    ``ApiDefinition.warnings``. The same problem reported twice (a shared integration used by several
    routes) is kept once."""

    def __init__(self) -> None:
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []
        self._seen: set[tuple[bool, Problem]] = set()

    def error(self, place: Place, message: str) -> None:
        self._add(self.errors, True, Problem(place, message))

    def warn(self, place: Place, message: str) -> None:
        self._add(self.warnings, False, Problem(place, message))

    def raise_errors(self) -> None:
        """Raise one :class:`DefinitionError` carrying every error found so far, if there is any."""
        if self.errors:
            raise DefinitionError(list(self.errors))

    def _add(self, problems: list[Problem], is_error: bool, problem: Problem) -> None:
        if (is_error, problem) not in self._seen:
            self._seen.add((is_error, problem))
            problems.append(problem)
