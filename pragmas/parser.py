"""The grammar of pragma lines: a tokenizer and a recursive-descent parser.

::

    line     := SPACE* "#%" NAME [ "(" [ argument ("," argument)* [","] ] ")" ] [ COMMENT ]
    argument := KEY "=" value
    value    := scalar | "[" [ item ("," item)* [","] ] "]"
    item     := scalar | "(" scalar "," scalar ")"
    scalar   := WORD | STRING

Spaces may appear between any two tokens. A WORD is made of letters, digits and
``_ - . / : @ ~ +``; a STRING is quoted with ``'`` or ``"`` and takes backslash escapes. The
parser knows nothing of the pragmas themselves: :func:`bind` checks a parsed line against its
declaration (names, required parameters, value kinds) and converts the values. Every error is a
:class:`~pragmas.errors.LocatedError` with the column of the offending character.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple, Union

from pragma_kernel.pragmas.cells import is_pragma_line
from pragma_kernel.pragmas.declaration import Param, PragmaCall, PragmaSpec
from pragma_kernel.pragmas.errors import Location, PragmaSyntaxError, PragmaUsageError

WORD_CHARS = "letters, digits and _ - . / : @ ~ + * ?"  # letters and digits of any script

# Spaces are skipped inside the pattern (the group names say what follows them).
_TOKEN = re.compile(
    r"""
    [ \t]*
    (?:
     (?P<word>[\w\-./:@~+*?]+)  # * and ?: file patterns
    |(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    |(?P<punct>[()\[\],=])
    |(?P<comment>\#.*)
    |(?P<quote>["'])
    |(?P<other>.)
    )
    """,
    re.VERBOSE,
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PREFIX = re.compile(r"[ \t]*#%[ \t]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0"}
_ESCAPE = re.compile(r"\\(.)")


# --------------------------------------------------------------------------- syntax tree


@dataclass(frozen=True, slots=True)
class Scalar:
    """A bare word or a quoted string (``text`` is unquoted and unescaped)."""

    text: str
    quoted: bool
    column: int


@dataclass(frozen=True, slots=True)
class Pair:
    key: Scalar
    value: Scalar
    column: int


@dataclass(frozen=True, slots=True)
class ListValue:
    items: tuple[Scalar | Pair, ...]
    column: int


Value = Union[Scalar, ListValue]  # noqa: UP007 (a runtime alias)


@dataclass(frozen=True, slots=True)
class Argument:
    key: str
    key_column: int
    value: Value


@dataclass(frozen=True, slots=True)
class PragmaLine:
    """One pragma line, syntactically valid, not yet checked against a declaration."""

    name: str
    name_column: int
    arguments: tuple[Argument, ...]
    line: str
    lineno: int
    end_column: int  #: column of the closing ``)``, or the end of the name without parentheses


class _Token(NamedTuple):
    kind: str  #: word | string | punct | comment | quote | other | end
    text: str
    column: int


# --------------------------------------------------------------------------- tokenizer


_new_token = tuple.__new__  # skips NamedTuple's Python-level __new__: tokenizing is the hot loop


def _tokens(line: str, start: int) -> list[_Token]:
    tokens = [_new_token(_Token, (m.lastgroup, m.group(m.lastindex), m.start(m.lastindex)))
              for m in _TOKEN.finditer(line, start) if m.lastindex]  # fmt: skip
    tokens.append(_Token("end", "", len(line)))
    return tokens


def _unquote(text: str) -> str:
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), text[1:-1])


def _describe(token: _Token) -> str:
    if token.kind == "end":
        return "the end of the line"
    if token.kind == "comment":
        return "a '#' comment"
    return repr(token.text if len(token.text) <= 20 else token.text[:17] + "...")


# --------------------------------------------------------------------------- parser


class _Parser:
    """Recursive descent over the tokens of one line; ``pragma``/``param`` name errors."""

    def __init__(self, line: str, lineno: int, start: int):
        self.line = line
        self.lineno = lineno
        self.tokens = _tokens(line.rstrip("\r\n"), start)
        self.pos = 0
        self.current = self.tokens[0]  #: the token at ``pos``
        self.pragma: str | None = None
        self.param: str | None = None

    def advance(self) -> _Token:
        token = self.current
        if token.kind != "end":
            self.pos += 1
            self.current = self.tokens[self.pos]
        return token

    def at(self, text: str) -> bool:
        # punctuation is one character; no word or string token equals one of "()[],="
        return self.current.text == text and self.current.kind == "punct"

    def fail(self, message: str, column: int | None = None) -> PragmaSyntaxError:
        where = self._where()
        column = self.current.column if column is None else column
        return PragmaSyntaxError(
            f"{where}{message}",
            Location(self.line, self.lineno, column),
            pragma=self.pragma,
            param=self.param,
        )

    def _where(self) -> str:
        if self.pragma is None:
            return ""
        if self.param is None:
            return f"#%{self.pragma}: "
        return f"#%{self.pragma}, parameter '{self.param}': "

    def expected(self, what: str) -> PragmaSyntaxError:
        token = self.current
        if token.kind == "quote":
            return self.fail(f"this string has no closing {token.text}")
        if token.kind == "other":
            return self.fail(
                f"{token.text!r} cannot appear in a bare word ({WORD_CHARS}); "
                "put the value in quotes"
            )
        if token.kind == "comment" and self.param is not None:
            return self.fail(
                "a '#' comment may only follow the closing ')'; "
                "quote the value if '#' is part of it"
            )
        return self.fail(f"expected {what}, found {_describe(token)}")

    # line := "#%" NAME [ "(" arguments ")" ] [ COMMENT ]
    def parse_line(self) -> PragmaLine:
        token = self.current
        if token.kind != "word" or not _NAME.match(token.text):
            raise self.expected("a pragma name after '#%' (letters, digits and _)")
        self.advance()
        self.pragma = token.text
        arguments: tuple[Argument, ...] = ()
        end_column = token.column + len(token.text)
        if self.at("("):
            self.advance()
            arguments = self.parse_arguments()
            end_column = self.current.column
            if not self.at(")"):
                raise self.expected("',' or ')'")
            self.advance()
        self.param = None
        if self.current.kind not in ("comment", "end"):
            raise self.expected("the end of the line or a '#' comment after the pragma")
        return PragmaLine(token.text, token.column, arguments, self.line, self.lineno, end_column)

    def parse_arguments(self) -> tuple[Argument, ...]:
        arguments = []
        while not self.at(")"):
            # self.param stays set: an error right after a value is about that parameter
            arguments.append(self.parse_argument())
            if not self.at(","):
                break
            self.advance()
        return tuple(arguments)

    # argument := KEY "=" value
    def parse_argument(self) -> Argument:
        token = self.current
        if token.kind != "word" or not _NAME.match(token.text):
            raise self.expected("a parameter name (name=value)")
        self.advance()
        self.param = token.text
        if not self.at("="):
            raise self.expected(f"'=' after the parameter name ({token.text}=...)")
        self.advance()
        return Argument(token.text, token.column, self.parse_value())

    # value := scalar | "[" items "]"
    def parse_value(self) -> Value:
        if self.at("["):
            return self.parse_list()
        return self.parse_scalar("a value")

    def parse_scalar(self, what: str) -> Scalar:
        token = self.current
        if token.kind == "word":
            self.advance()
            return Scalar(token.text, False, token.column)
        if token.kind == "string":
            self.advance()
            return Scalar(_unquote(token.text), True, token.column)
        raise self.expected(what)

    def parse_list(self) -> ListValue:
        opening = self.advance()
        items: list[Scalar | Pair] = []
        while not self.at("]"):
            items.append(self.parse_pair() if self.at("(") else self.parse_scalar("a list item"))
            if self.at(","):
                self.advance()
            elif not self.at("]"):
                if self.current.kind == "end":
                    raise self.fail("the list opened here has no closing ']'", opening.column)
                raise self.expected("',' or ']' in the list")
        self.advance()
        return ListValue(tuple(items), opening.column)

    # item := "(" scalar "," scalar ")"
    def parse_pair(self) -> Pair:
        opening = self.advance()
        key = self.parse_scalar("a key in the pair (KEY, VALUE)")
        if not self.at(","):
            raise self.expected("',' between the key and the value of the pair")
        self.advance()
        value = self.parse_scalar("a value in the pair (KEY, VALUE)")
        if not self.at(")"):
            raise self.expected("')' to close the pair (KEY, VALUE)")
        self.advance()
        return Pair(key, value, opening.column)


def parse_line(line: str, lineno: int = 1) -> PragmaLine:
    """Parse the syntax of one pragma line (it must start with ``#%``)."""
    prefix = _PREFIX.match(line)
    if prefix is None:
        column = len(line) - len(line.lstrip(" \t"))
        raise PragmaSyntaxError(
            "a pragma line starts with '#%'", Location(line, lineno, column)
        )
    return _Parser(line, lineno, prefix.end()).parse_line()


# --------------------------------------------------------------------------- binding


def closest(word: str, candidates: list[str]) -> str | None:
    """The candidate closest to ``word`` (difflib), if any is close enough."""
    found = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    if not found:
        found = difflib.get_close_matches(word.lower(), [c.lower() for c in candidates], 1, 0.6)
        found = [c for c in candidates if c.lower() in found]
    return found[0] if found else None


def _did_you_mean(word: str, candidates: list[str]) -> str:
    match = closest(word, candidates)
    return f" Did you mean '{match}'?" if match else ""


class _Binder:
    """Checks a parsed line against its declaration and converts its values."""

    def __init__(self, parsed: PragmaLine, spec: PragmaSpec):
        self.parsed = parsed
        self.spec = spec

    def error(self, message: str, column: int, param: str | None = None) -> PragmaUsageError:
        where = f"#%{self.spec.name}" + (f", parameter '{param}'" if param else "")
        return PragmaUsageError(
            f"{where}: {message}",
            Location(self.parsed.line, self.parsed.lineno, column),
            pragma=self.spec.name,
            param=param,
        )

    def bind(self) -> PragmaCall:
        args: dict[str, object] = {}
        given: set[str] = set()
        columns = {"": self.parsed.name_column}
        for argument in self.parsed.arguments:
            param = self.spec.param(argument.key)
            if param is None:
                raise self.unknown_parameter(argument)
            if argument.key in given:
                raise self.error("given twice", argument.key_column, argument.key)
            given.add(argument.key)
            columns[argument.key] = argument.value.column
            args[argument.key] = self.convert(param, argument.value)
        for param in self.spec.params:
            if param.name in given:
                continue
            if param.required:
                raise self.error(
                    f"missing required parameter '{param.name}' (usage: {self.spec.usage()})",
                    self.parsed.end_column,
                )
            # a fresh copy: handlers may keep the value in the job model
            args[param.name] = copy.copy(param.default)
        return PragmaCall(
            spec=self.spec,
            args=args,
            given=frozenset(given),
            line=self.parsed.line,
            lineno=self.parsed.lineno,
            columns=columns,
        )

    def unknown_parameter(self, argument: Argument) -> PragmaUsageError:
        names = [p.name for p in self.spec.params]
        if not names:
            return self.error("takes no parameters", argument.key_column)
        hint = _did_you_mean(argument.key, names)
        return self.error(
            f"unknown parameter '{argument.key}'.{hint} Its parameters: {', '.join(names)}",
            argument.key_column,
        )

    def convert(self, param: Param, value: Value) -> object:
        if param.kind == "list":
            return self.to_list(param, value)
        if param.kind == "pairs":
            return self.to_pairs(param, value)
        if isinstance(value, ListValue):
            raise self.error("expected a single value, not a list", value.column, param.name)
        return self.to_scalar(param, value)

    def to_list(self, param: Param, value: Value) -> list[str]:
        if isinstance(value, Scalar):  # dep=prep means dep=[prep]
            return [self.check_word(param, value)]
        out = []
        for item in value.items:
            if isinstance(item, Pair):
                raise self.error("expected a list of names, not of pairs", item.column, param.name)
            out.append(self.check_word(param, item))
        return out

    def to_pairs(self, param: Param, value: Value) -> dict[str, str]:
        if isinstance(value, Scalar):
            raise self.error(
                "expected a list of pairs [(KEY, VALUE), ...]", value.column, param.name
            )
        out: dict[str, str] = {}
        for item in value.items:
            if not isinstance(item, Pair):
                raise self.error(
                    "expected a pair (KEY, VALUE) in the list", item.column, param.name
                )
            out[item.key.text] = item.value.text
        return out

    def check_word(self, param: Param, scalar: Scalar) -> str:
        if not scalar.text:
            raise self.error("an empty name is not allowed", scalar.column, param.name)
        return scalar.text

    def to_scalar(self, param: Param, scalar: Scalar) -> object:
        text = scalar.text
        kind = param.kind
        if kind == "flag":
            flag = {"on": True, "true": True, "off": False, "false": False}.get(text.lower())
            if flag is None:
                raise self.error(f"expected on/off or true/false, not {text!r}", scalar.column,
                                 param.name)
            return flag
        if kind in ("int", "number"):
            return self.to_number(param, scalar)
        if kind == "choice":
            return self.to_choice(param, scalar)
        if kind == "name":
            return self.check_name(param, scalar)
        return text

    def to_number(self, param: Param, scalar: Scalar) -> int | float:
        """The value of an "int" or "number" parameter, checked against its whole range."""
        text = scalar.text
        try:
            value: int | float = int(text) if param.kind == "int" else float(text)
        except ValueError:
            value = None  # type: ignore[assignment]
        if value is None or param.out_of_range(value):
            raise self.error(f"expected {param.range_text()}, not {text!r}", scalar.column,
                             param.name)
        return value

    def to_choice(self, param: Param, scalar: Scalar) -> str:
        for choice in param.choices:
            if choice.lower() == scalar.text.lower():
                return choice
        hint = _did_you_mean(scalar.text, list(param.choices))
        raise self.error(
            f"{scalar.text!r} is not one of {', '.join(param.choices)}.{hint}",
            scalar.column,
            param.name,
        )

    def check_name(self, param: Param, scalar: Scalar) -> str:
        text = scalar.text
        if not is_name(text):
            raise self.error(
                f"{text!r} is not a valid name (letters, digits, _ . and -, not starting with "
                "- or .)",
                scalar.column,
                param.name,
            )
        return text


_VALID_NAME = re.compile(r"\w[\w.\-]*\Z")


def is_name(text: str) -> bool:
    """A valid task/job name: letters, digits, ``_ . -``, not starting with ``.`` or ``-``."""
    return _VALID_NAME.match(text) is not None


def unknown_pragma(parsed: PragmaLine, registry: Mapping[str, PragmaSpec]) -> PragmaUsageError:
    hint = _did_you_mean(parsed.name, sorted(registry))
    return PragmaUsageError(
        f"unknown pragma '#%{parsed.name}'.{hint} #%help() lists every pragma",
        Location(parsed.line, parsed.lineno, parsed.name_column),
        pragma=parsed.name,
    )


def bind(parsed: PragmaLine, registry: Mapping[str, PragmaSpec]) -> PragmaCall:
    """Check a parsed line against its declaration; return the call with converted values."""
    spec = registry.get(parsed.name)
    if spec is None:
        raise unknown_pragma(parsed, registry)
    return _Binder(parsed, spec).bind()


@dataclass(frozen=True)
class CellParts:
    """A pragma cell cut in two: its top pragma lines and the body after them."""

    pragma_lines: tuple[tuple[int, str], ...]  #: (1-based line number, line)
    body: str
    body_first_line: int  #: 1-based line of the cell where the body starts


def split_cell(code: str) -> CellParts:
    """The consecutive pragma lines at the top of a cell (blank lines between them allowed)
    and the rest, the body. A ``#%`` further down is an ordinary comment of the body."""
    lines = code.splitlines(keepends=True)
    pragma_lines: list[tuple[int, str]] = []
    end = 0
    for index, line in enumerate(lines):
        if is_pragma_line(line):
            pragma_lines.append((index + 1, line.rstrip("\r\n")))
            end = index + 1
        elif line.strip():
            break
    return CellParts(tuple(pragma_lines), "".join(lines[end:]), end + 1)


def has_code(body: str) -> bool:
    """True when the body holds more than blank lines and comments."""
    return any(s and not s.startswith("#") for s in (line.strip() for line in body.splitlines()))


def parse_pragma(line: str, lineno: int, registry: Mapping[str, PragmaSpec]) -> PragmaCall:
    """Parse and check one pragma line."""
    return bind(parse_line(line, lineno), registry)
