"""The grammar of pragma lines and its errors, with the exact caret column."""

from __future__ import annotations

import pytest
from pragma_kernel.pragmas.declaration import declarations
from pragma_kernel.pragmas.errors import LocatedError, PragmaSyntaxError, PragmaUsageError
from pragma_kernel.pragmas.parser import (
    ListValue,
    Pair,
    Scalar,
    has_code,
    parse_line,
    parse_pragma,
    split_cell,
)

REGISTRY = declarations()


def call(line: str):
    return parse_pragma(line, 1, REGISTRY)


def error_of(line: str) -> LocatedError:
    with pytest.raises(LocatedError) as caught:
        call(line)
    return caught.value


def caret_column(error: LocatedError) -> int:
    """The 0-based column the caret of the traceback points at, in the line as written."""
    shown, caret = error.traceback[1], error.traceback[2]
    assert shown == "    " + error.location.line
    return caret.index("^") - 4


# ------------------------------------------------------------------ grammar forms


def test_name_and_bare_words():
    parsed = parse_line("#%task(name=train)")
    assert parsed.name == "task"
    assert parsed.arguments[0].key == "name"
    assert parsed.arguments[0].value == Scalar("train", False, 12)


def test_spaces_anywhere():
    c = call("#%  task(   name   =  location  , dep = [hi]  )")
    assert c.args["name"] == "location"
    assert c.args["dep"] == ["hi"]
    assert c.given == {"name", "dep"}


def test_leading_spaces_before_the_pragma():
    assert call("   #%task(name=a)").args["name"] == "a"


def test_bare_word_characters():
    text = "a_b-c.d/e:f@g~h+1"
    parsed = parse_line(f"#%x(k={text})")
    assert parsed.arguments[0].value.text == text


def test_words_and_names_in_any_script():
    c = call("#%task(name=données, dep=[étape_1], export=[résultat])")
    assert c.args["name"] == "données" and c.args["dep"] == ["étape_1"]


def test_url_and_path_words():
    parsed = parse_line("#%x(url=tcp://127.0.0.1:8786, path=./fork_env.py)")
    assert [a.value.text for a in parsed.arguments] == ["tcp://127.0.0.1:8786", "./fork_env.py"]


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ('"hello world"', "hello world"),
        ("'single'", "single"),
        (r'"a \"quoted\" word"', 'a "quoted" word'),
        (r"'it\'s'", "it's"),
        (r'"tab\there"', "tab\there"),
        (r'"back\\slash"', "back\\slash"),
        ('"a, b = [c]"', "a, b = [c]"),
        ('"#not a comment"', "#not a comment"),
        ('""', ""),
    ],
)
def test_quoted_strings_with_escapes(source, text):
    value = parse_line(f"#%x(k={source})").arguments[0].value
    assert value == Scalar(text, True, 6)


def test_numbers_converted_only_where_numeric():
    c = call("#%task(name=007, runs=3, timeout=2.5, retries=2)")
    assert c.args["name"] == "007"
    assert c.args["runs"] == 3
    assert c.args["timeout"] == 2.5
    assert c.args["retries"] == 2


@pytest.mark.parametrize(
    ("word", "value"),
    [("on", True), ("off", False), ("true", True), ("False", False), ("ON", True), ("TRUE", True)],
)
def test_flags_any_case(word, value):
    assert call(f"#%task(name=a, precious_result={word})").args["precious_result"] is value


def test_lists():
    c = call("#%task(name=t, dep=[a, b-c,'d e'], import=[x], export=[])")
    assert c.args["dep"] == ["a", "b-c", "d e"]
    assert c.args["import"] == ["x"]
    assert c.args["export"] == []


def test_trailing_comma_in_list_and_arguments():
    c = call("#%task(name=t, dep=[a, b,],)")
    assert c.args["dep"] == ["a", "b"]


def test_single_word_where_a_list_is_expected():
    assert call("#%task(name=t, dep=prep)").args["dep"] == ["prep"]


def test_lists_of_pairs():
    c = call("#%task(name=x, variables=[(a,1),(b, 'hello world')], generic_info=[(K, V)])")
    assert c.args["variables"] == {"a": "1", "b": "hello world"}
    assert c.args["generic_info"] == {"K": "V"}


def test_pair_nodes_keep_columns():
    value = parse_line("#%x(v=[(a,1)])").arguments[0].value
    assert value == ListValue((Pair(Scalar("a", False, 8), Scalar("1", False, 10), 7),), 6)


def test_trailing_comment():
    c = call("#%task(name=x) # trailing comment")
    assert c.args["name"] == "x"
    assert call("#%draw_job()#no space").args["save"] is False


def test_no_parentheses_means_no_arguments():
    assert call("#%draw_job").given == frozenset()
    assert call("#%draw_job  # comment").args["inline"] is True


def test_defaults_filled_and_fresh():
    first, second = call("#%task(name=a)"), call("#%task(name=b)")
    assert first.args["dep"] == [] and first.args["runs"] == 1
    assert first.args["language"] == "Python"
    first.args["dep"].append("x")
    assert second.args["dep"] == []


def test_choice_is_case_insensitive_and_canonical():
    assert call("#%task(name=a, language=linux_bash)").args["language"] == "Linux_Bash"
    assert call("#%configure(task=MultiBlock)").args["task"] == "multiblock"


def test_columns_of_values_recorded():
    c = call("#%task(name=a,  runs=3)")
    assert c.columns["runs"] == 21
    assert c.columns[""] == 2


def test_line_and_lineno_kept():
    c = parse_pragma("#%task(name=a)", 4, REGISTRY)
    assert c.lineno == 4 and c.line == "#%task(name=a)"


# ------------------------------------------------------------------ errors, with carets


@pytest.mark.parametrize(
    ("line", "column", "words"),
    [
        ("#%task(name=train, dep=[prep)", 28, ["parameter 'dep'", "',' or ']'", "')'"]),
        ("#%task(name=train", 17, ["#%task", "',' or ')'", "end of the line"]),
        ("#%task(name='quoted)", 12, ["parameter 'name'", "no closing '"]),
        ("#%task(name=x, path=/some dir/impl.py)", 26, ["',' or ')'", "'dir/impl.py'"]),
        ("#%task(name=myTask2, dep=[myTask1], import[var1,var2])", 42,
         ["parameter 'import'", "'=' after the parameter name"]),
        ("#%task(name=n!2)", 13, ["parameter 'name'", "'!' cannot appear in a bare word",
                                  "quotes"]),
        ("#%task(name=a#b)", 13, ["comment may only follow the closing ')'"]),
        ("#%task(name=a) extra", 15, ["end of the line or a '#' comment"]),
        ("#%task(=a)", 7, ["a parameter name"]),
        ("#%task(name=)", 12, ["parameter 'name'", "expected a value", "')'"]),
        ("#%task(name=x, variables=[(a,1),(b)])", 34, ["parameter 'variables'",
                                                      "',' between the key and the value"]),
        ("#%task(name=x, variables=[(a,1,2)])", 30, ["')' to close the pair"]),
        ("#%task(name=x, dep=[a b])", 22, ["',' or ']' in the list", "'b'"]),
        ("#%task(name=x, dep=[a, [b]])", 23, ["a list item", "'['"]),
        ("#%task(name=x, dep=[a", 19, ["the list opened here has no closing ']'"]),
        ("#%(name=x)", 2, ["a pragma name after '#%'"]),
        ("#%1task()", 2, ["a pragma name"]),
        ("#% ", 3, ["a pragma name", "end of the line"]),
    ],
)
def test_syntax_errors_point_at_the_column(line, column, words):
    error = error_of(line)
    assert isinstance(error, PragmaSyntaxError)
    assert error.column == column, (error.column, error.message)
    assert caret_column(error) == column
    for word in words:
        assert word in error.message, (word, error.message)
    assert error.traceback[-1] == f"PragmaSyntaxError: {error.message}"


@pytest.mark.parametrize(
    ("line", "column", "words"),
    [
        ("#%tsak(name=a)", 2, ["unknown pragma '#%tsak'", "Did you mean 'task'?", "#%help()"]),
        ("#%task(nmae=a)", 7, ["#%task", "unknown parameter 'nmae'", "Did you mean 'name'?"]),
        ("#%task(name=x, unknownparam=3)", 15, ["unknown parameter 'unknownparam'",
                                                "Its parameters: name, dep"]),
        ("#%task(dep=[a])", 14, ["missing required parameter 'name'", "usage: #%task(name="]),
        ("#%task(name=x, precious_result=yes)", 31, ["parameter 'precious_result'",
                                                     "on/off or true/false", "'yes'"]),
        ("#%task(name=x, runs=n)", 20, ["parameter 'runs'", "whole number", "'n'"]),
        ("#%task(name=x, timeout=soon)", 23, ["parameter 'timeout'", "a number"]),
        ("#%task(name=x, language=Pyton)", 24, ["'Pyton' is not one of", "Did you mean 'Python'?"]),
        ("#%configure(task=multi)", 17, ["parameter 'task'", "block, multiblock"]),
        ("#%task(name=x, dep=[(a,b)])", 20, ["list of names, not of pairs"]),
        ("#%task(name=x, variables=[a])", 26, ["expected a pair (KEY, VALUE)"]),
        ("#%task(name=x, variables=a)", 25, ["expected a list of pairs"]),
        ("#%task(name=[a])", 12, ["parameter 'name'", "a single value, not a list"]),
        ("#%task(name=x, name=y)", 15, ["parameter 'name'", "given twice"]),
        ("#%task(name='a b')", 12, ["'a b' is not a valid name"]),
        ("#%task(name=x, dep=[''])", 20, ["an empty name is not allowed"]),
        ("#%help(pragma=task, x=1)", 20, ["#%help", "unknown parameter 'x'"]),
    ],
)
def test_usage_errors_point_at_the_column(line, column, words):
    error = error_of(line)
    assert isinstance(error, PragmaUsageError)
    assert error.column == column, (error.column, error.message)
    assert caret_column(error) == column
    for word in words:
        assert word in error.message, (word, error.message)


def test_errors_name_pragma_and_parameter():
    error = error_of("#%task(name=x, dep=[a b])")
    assert (error.pragma, error.param) == ("task", "dep")
    error = error_of("#%task(name=x, runs=n)")
    assert (error.pragma, error.param) == ("task", "runs")


def test_relabel_names_the_cell_and_keeps_the_caret():
    error = error_of("#%task(name=x, runs=n)").relabel("Cell In[7]", line_offset=2)
    assert error.traceback[0] == "  Cell In[7], line 3, column 21"
    assert caret_column(error) == 20


def test_tabs_keep_the_caret_under_the_character():
    error = error_of("\t#%task(name=x, runs=n)")
    shown, caret = error.traceback[1], error.traceback[2]
    assert shown[caret.index("^")] == "n"


# ------------------------------------------------------------------ cells


def test_split_cell_several_pragmas_then_body():
    parts = split_cell("\n#%task(name=a)\n\n  #%pre_script(name=a)\nx = 1\n#%draw_job()\n")
    assert parts.pragma_lines == ((2, "#%task(name=a)"), (4, "  #%pre_script(name=a)"))
    assert parts.body == "x = 1\n#%draw_job()\n"
    assert parts.body_first_line == 5


def test_split_cell_without_body():
    parts = split_cell("#%draw_job()")
    assert parts.body == "" and parts.body_first_line == 2


def test_spyder_cell_marker_is_not_a_pragma():
    from pragma_kernel.pragmas.cells import is_pragma_cell

    assert not is_pragma_cell("#%% a Spyder cell\nx = 1")
    assert is_pragma_cell("\n  #%task(name=a)\n")
    assert not is_pragma_cell("x = 1\n#%task(name=a)")


def test_has_code_ignores_comments_and_blank_lines():
    assert not has_code("\n# note\n   \n")
    assert has_code("# note\nx = 1")


# ------------------------------------------------------------------ robustness

_PIECES = ["#%", "task", "(", ")", "[", "]", ",", "=", " ", "name", "dep", "a", "'", '"', "\\",
           "#", "*", "1", "(a, b)", "on", "é", "\t", "x=y", "draw_job", "runs"]  # fmt: skip


def test_random_lines_fail_only_with_located_errors():
    import random

    rng = random.Random(1234)
    for _ in range(3000):
        line = "#%" + "".join(rng.choice(_PIECES) for _ in range(rng.randrange(1, 14)))
        try:
            call(line)
        except LocatedError as error:
            assert 0 <= error.column <= len(line), (line, error.column)
            assert error.traceback[-1].startswith(error.ename)


def test_generated_valid_lines_round_trip():
    import random

    rng = random.Random(99)
    words = ["a", "b-2", "x.y", "./p/q.py", "tcp://h:1", "u@h", "~x", "1+2"]
    for _ in range(300):
        dep = rng.sample(words, rng.randrange(0, 4))
        pairs = {rng.choice(words): rng.choice(words + ["two words", "q'uote"]) for _ in range(2)}
        text_pairs = ", ".join(f"({k}, {_quoted(v)})" for k, v in pairs.items())
        spaces = " " * rng.randrange(0, 3)
        line = (f"#%{spaces}task({spaces}name=t{spaces},dep=[{', '.join(dep)}],"
                f"variables=[{text_pairs}]){spaces}# done")
        parsed = call(line)
        assert parsed.args["dep"] == dep and parsed.args["variables"] == pairs, line


def _quoted(value: str) -> str:
    if " " in value or "'" in value:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value
