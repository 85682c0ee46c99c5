"""What the REST APIs take from callers, read one way by the gateway and the Lab server extension.

Both servers read query parameters, request bodies and numbers with these functions and
tables, so a value one refuses the other refuses too, with the same message and a 4xx
(``InputError.status``), never a 5xx:

- every query parameter of an endpoint is declared (``Flag``, ``Whole``, ``Seconds``,
  ``Choice``, ``Text``); an undeclared one, one given twice, one that is not UTF-8 or holds
  control characters is refused;
- numbers are ASCII digits only (``digits.whole_number``);
- a body is at most ``MAX_BODY_BYTES`` (413) of JSON nested at most ``MAX_JSON_DEPTH``
  levels deep.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .digits import whole_number
from .errors import UserError
from .jobs.checks import MAX_SCRIPT_BYTES
from .jobs.vocabulary import JOB_STATES

__all__ = ["AUTH_PARAMS", "CLUSTERS_QUERY", "Choice", "Flag", "InputError", "JOBS_FEED_QUERY", "JOBS_QUERY",
           "LISTING", "LOGS_QUERY", "LONG_POLL", "MAX_BODY_BYTES", "MAX_JSON_DEPTH", "MAX_WAIT", "Seconds", "Text",
           "Whole", "allowed_methods", "depth", "read_json", "read_query", "too_large"]

#: Largest request body either server takes (the gateway's ``c.Gateway.max_body_bytes`` default).
MAX_BODY_BYTES = 4 * 2**20
#: Deepest nesting of JSON arrays and objects in a body (a job spec needs 3).
MAX_JSON_DEPTH = 32
#: Query parameters that authenticate a request (JupyterHub and Jupyter server read them), allowed
#: everywhere and not checked here.
AUTH_PARAMS = frozenset({"token", "_xsrf"})
#: JupyterLab's cache-buster: its requests carry ``?<milliseconds since 1970>`` with no value.
_CACHE_BUSTER = re.compile(r"[0-9]{1,16}")

_DECIMAL = re.compile(r"[0-9]{1,9}(\.[0-9]{1,9})?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class InputError(UserError):
    """Input a caller got wrong: ``status`` is 400, or 413 for a body over the limit."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "…")


# ---- query parameters ---------------------------------------------------------------------------

class Flag:
    """A yes/no switch: ``1`` or ``true``, ``0`` or ``false``."""

    def read(self, name: str, text: str) -> bool:
        if text in ("1", "true"):
            return True
        if text in ("0", "false"):
            return False
        raise InputError(f"'{name}' must be 1 or 0 (true or false), not {_shown(text)}.")


@dataclass(frozen=True)
class Whole:
    """A whole number from ``minimum`` to ``maximum``, in ASCII digits."""

    minimum: int
    maximum: int

    def read(self, name: str, text: str) -> int:
        number = whole_number(text, max_digits=9)
        if number is None or not self.minimum <= number <= self.maximum:
            raise InputError(f"'{name}' must be a whole number from {self.minimum} to {self.maximum} "
                             f"(digits 0-9 only), not {_shown(text)}.")
        return number


@dataclass(frozen=True)
class Seconds:
    """A number of seconds, 0 or more, in ASCII digits with an optional decimal part (``2.5``); more
    than ``cut`` counts as ``cut``."""

    cut: float

    def read(self, name: str, text: str) -> float:
        if not _DECIMAL.fullmatch(text):
            raise InputError(f"'{name}' must be a number of seconds from 0 to {self.cut:g} (longer waits are cut "
                             f"to {self.cut:g}), such as 25 or 2.5, not {_shown(text)}.")
        return min(float(text), self.cut)


@dataclass(frozen=True)
class Choice:
    """One of a fixed set of words."""

    choices: tuple[str, ...]

    def read(self, name: str, text: str) -> str:
        if text not in self.choices:
            what = "state" if name == "state" else f"value for '{name}'"
            raise InputError(f"Unknown {what} {_shown(text)}; use one of: {', '.join(self.choices)}.")
        return text


@dataclass(frozen=True)
class Text:
    """A word matching ``pattern`` (a full match), described for people as ``what``."""

    pattern: str
    what: str

    def read(self, name: str, text: str) -> str:
        if not re.fullmatch(self.pattern, text):
            raise InputError(f"'{name}' must be {self.what}, not {_shown(text)}.")
        return text


#: Longest wait of a long-polled request (the gateway may cut it shorter: ``long_poll_max_wait``).
MAX_WAIT = 30.0
#: The query parameters of each endpoint, shared by the gateway and the Lab server extension.
LONG_POLL = {"since": Text(r"[A-Za-z0-9._-]{1,100}", "the 'version' of an earlier answer"),
             "wait": Seconds(MAX_WAIT)}
LISTING = {"state": Choice(JOB_STATES), "all": Flag()}
CLUSTERS_QUERY = LONG_POLL
JOBS_QUERY = LISTING
JOBS_FEED_QUERY = {**LONG_POLL, **LISTING}
#: A rank's log (100,000 is more than any job's ranks or a log read's lines).
LOGS_QUERY = {"rank": Whole(0, 100_000), "tail": Whole(0, 100_000), "follow": Flag(),
              "container": Text(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", "a container name (a DNS label)")}


def read_query(arguments: Mapping[str, Iterable[bytes]], table: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of ``arguments`` (a request's raw query) read by ``table``. ``InputError`` for
    a parameter the table lacks, one given twice, empty, not UTF-8 or holding control characters,
    or a value its reader refuses."""
    found: dict[str, Any] = {}
    for name, given in arguments.items():
        values = list(given)
        if name in AUTH_PARAMS or (_CACHE_BUSTER.fullmatch(name) and not any(values)):
            continue
        if name not in table:
            takes = ", ".join(sorted(table)) if table else "no query parameters"
            raise InputError(f"Unknown query parameter {_shown(name)}; this endpoint takes {takes}.")
        if len(values) > 1:
            raise InputError(f"Give '{name}' once, not {len(values)} times.")
        try:
            text = values[0].decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"'{name}' is not UTF-8 text.") from None
        if _CONTROL.search(text):
            raise InputError(f"'{name}' holds control characters ({_shown(text)}); send plain text.")
        if not text:
            raise InputError(f"'{name}' is empty: give it a value, or leave it out.")
        found[name] = table[name].read(name, text)
    return found


# ---- bodies -------------------------------------------------------------------------------------

def too_large(size: int | str, limit: int) -> InputError:
    """The 413 for a body of ``size`` bytes."""
    shown = f"{size:,} bytes" if isinstance(size, int) else size
    return InputError(f"The request body is {shown}; at most {limit:,} bytes are taken. A job's script may "
                      f"be up to {MAX_SCRIPT_BYTES:,} bytes: put larger files in a dataset or the image "
                      "instead.", 413)


def depth(data: Any) -> int:
    """How deep arrays and objects nest in decoded JSON (0 for a plain value), without recursion."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            value = value.values()
        elif not isinstance(value, list):
            continue
        deepest = max(deepest, level)
        stack.extend((item, level + 1) for item in value if isinstance(item, (dict, list)))
    return deepest


def _not_json(word: str) -> None:
    raise ValueError(f"{word} is not a JSON number")


def read_json(body: bytes, limit: int = MAX_BODY_BYTES) -> Any:
    """A request body as JSON (None when empty): 413 over ``limit`` bytes, 400 when it is not JSON
    or nests deeper than ``MAX_JSON_DEPTH``."""
    if len(body) > limit:
        raise too_large(len(body), limit)
    nested = InputError(f"The request body nests JSON more than {MAX_JSON_DEPTH} levels deep; a job spec "
                        "needs 3. Send the job spec as a JSON object.")
    try:
        data = json.loads(body, parse_constant=_not_json) if body else None
    except RecursionError:
        raise nested from None
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(f"The request body is not valid JSON ({err}). Send the job spec as a JSON "
                         "object.") from None
    if depth(data) > MAX_JSON_DEPTH:
        raise nested
    return data


# ---- methods ------------------------------------------------------------------------------------

#: The methods either server may answer, in the order ``Allow`` lists them.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(handler: type, base: type) -> list[str]:
    """The methods ``handler`` (a tornado ``RequestHandler`` class) implements beyond ``base``'s
    defaults: what a 405's ``Allow`` header lists."""
    return [m for m in METHODS if getattr(handler, m.lower(), None) is not getattr(base, m.lower(), None)]
