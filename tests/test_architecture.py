"""Architecture: the immutable, hashable, serialisable value every other part passes around."""

from __future__ import annotations

import json
import pickle

import pytest

from metanas import Architecture, InvalidArchitectureError


def test_equality_and_hash_ignore_key_order() -> None:
    a = Architecture({"depth": 2, "act": "relu", "norm": True})
    b = Architecture([("norm", True), ("act", "relu"), ("depth", 2)])
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1
    assert {a: "x"}[b] == "x"


def test_different_choices_are_different() -> None:
    a = Architecture({"depth": 2, "act": "relu"})
    assert a != Architecture({"depth": 3, "act": "relu"})
    assert a != Architecture({"depth": 2})
    assert a != Architecture({"depth": 2, "act": "relu", "extra": 1})


def test_types_are_part_of_identity() -> None:
    # JSON keeps True, 1 and 1.0 apart, and so does the architecture.
    assert Architecture({"x": True}) != Architecture({"x": 1})
    assert Architecture({"x": 1}) != Architecture({"x": 1.0})
    assert Architecture({"x": "1"}) != Architecture({"x": 1})


def test_canonical_string_is_sorted_compact_json() -> None:
    a = Architecture({"depth": 2, "act": "relu", "dropout": 0.5, "norm": False})
    assert a.to_string() == '{"act":"relu","depth":2,"dropout":0.5,"norm":false}'
    assert str(a) == a.to_string() == a.to_json()
    assert Architecture(dict(reversed(list(a.items())))).to_string() == a.to_string()


def test_json_round_trip_keeps_values_and_types() -> None:
    a = Architecture({"depth": 2, "act": "relu", "dropout": 0.25, "norm": True})
    back = Architecture.from_json(a.to_json())
    assert back == a
    assert [type(back[k]) for k in ("depth", "act", "dropout", "norm")] == [int, str, float, bool]
    assert json.loads(a.to_json()) == {"depth": 2, "act": "relu", "dropout": 0.25, "norm": True}
    assert Architecture.from_json({"depth": 2}) == Architecture({"depth": 2})


def test_pickle_round_trip() -> None:
    a = Architecture({"b": 1, "a": "x"})
    back = pickle.loads(pickle.dumps(a))
    assert back == a
    assert hash(back) == hash(a)
    assert list(back) == ["b", "a"]


def test_mapping_behaviour_keeps_given_order() -> None:
    a = Architecture([("z", 1), ("a", 2)])
    assert list(a) == ["z", "a"]
    assert len(a) == 2
    assert a["a"] == 2
    assert a.to_dict() == {"z": 1, "a": 2}
    assert repr(a) == "Architecture(z=1, a=2)"
    with pytest.raises(KeyError):
        a["missing"]


def test_is_immutable() -> None:
    a = Architecture({"depth": 2})
    with pytest.raises(TypeError):
        a["depth"] = 3  # type: ignore[index]
    with pytest.raises(AttributeError):
        a.other = 1  # type: ignore[attr-defined]
    d = a.to_dict()
    d["depth"] = 5
    assert a["depth"] == 2


def test_replace_returns_a_new_architecture() -> None:
    a = Architecture({"depth": 2, "act": "relu"})
    b = a.replace(act="gelu")
    assert b == Architecture({"depth": 2, "act": "gelu"})
    assert list(b) == ["depth", "act"]
    assert a["act"] == "relu"


@pytest.mark.parametrize(
    ("choices", "match"),
    [
        (
            {"depth": [1, 2]},
            r"Decision 'depth' has a choice of type list .*str, int, float or bool",
        ),
        ({"depth": None}, r"Decision 'depth' has a choice of type NoneType"),
        ({"depth": {"a": 1}}, r"choice of type dict"),
        ({"": 1}, r"Decision names must be non-empty strings; got ''"),
        ({3: 1}, r"Decision names must be non-empty strings; got 3"),
    ],
)
def test_bad_values_are_rejected(choices: dict, match: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidArchitectureError, match=match):
        Architecture(choices)


def test_invalid_architecture_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="choices must be"):
        Architecture({"a": object()})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{depth: 2", r"Cannot read an architecture from '\{depth: 2': not JSON"),
        ("", r"not JSON"),
        ("[1, 2]", r"expected a JSON object of decision -> choice"),
        ('"relu"', r"expected a JSON object"),
        ('{"depth": [1]}', r"choice of type list"),
    ],
)
def test_from_json_rejects_bad_text(text: str, match: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=match):
        Architecture.from_json(text)
