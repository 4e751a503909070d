"""Search spaces: dict spaces with constraints, NAS-Bench-201 and NAS-Bench-Graph."""

from __future__ import annotations

import numpy as np
import pytest
from nas_bench_graph import light_read

from metanas import Architecture, InvalidArchitectureError, SearchSpace, UnknownNameError
from metanas.spaces import (
    Decision,
    NasBenchGraphSpace,
    NB201Space,
    available_spaces,
    create_space,
    space_from_config,
)
from metanas.spaces.nasbenchgraph import NBG_LINKS, NBG_OPS, NBG_OPS_PROTEINS
from metanas.spaces.nb201 import NB201_OPS

# ====================================================================== dict spaces


def test_decisions_keep_the_given_order(small_space: SearchSpace) -> None:
    assert [d.name for d in small_space.decisions] == ["depth", "act", "dropout", "norm"]
    assert small_space.decision("act").choices == ("relu", "gelu", "tanh")
    assert small_space.name == "custom"
    assert repr(small_space) == "SearchSpace(depth: 3, act: 3, dropout: 2, norm: 2)"


def test_size_and_enumerate_order(small_space: SearchSpace) -> None:
    archs = list(small_space.enumerate())
    assert small_space.size == small_space.n_raw == 36
    assert len(archs) == len(set(archs)) == 36
    # Fixed order: the last decision varies fastest.
    assert archs[0] == Architecture({"depth": 1, "act": "relu", "dropout": 0.0, "norm": True})
    assert archs[1] == Architecture({"depth": 1, "act": "relu", "dropout": 0.0, "norm": False})
    assert archs[-1] == Architecture({"depth": 3, "act": "tanh", "dropout": 0.5, "norm": False})
    assert archs == list(small_space.enumerate())


def test_enumerate_refuses_beyond_limit(small_space: SearchSpace) -> None:
    with pytest.raises(ValueError, match=r"36 raw architectures, more than limit=10"):
        next(small_space.enumerate(limit=10))


def test_sample_is_valid_and_seeded(small_space: SearchSpace) -> None:
    a = [small_space.sample(np.random.default_rng(7)) for _ in range(3)]
    assert a[0] == a[1] == a[2]
    rng = np.random.default_rng(0)
    draws = [small_space.sample(rng) for _ in range(400)]
    assert all(small_space.is_valid(x) for x in draws)
    assert len(set(draws)) == 36  # uniform sampling reaches every architecture
    again = np.random.default_rng(0)
    assert draws[:5] == [small_space.sample(again) for _ in range(5)]


def test_mutate_changes_exactly_one_decision(small_space: SearchSpace) -> None:
    rng = np.random.default_rng(1)
    arch = small_space.sample(rng)
    for _ in range(200):
        child = small_space.mutate(arch, rng)
        assert small_space.is_valid(child)
        assert sum(child[k] != arch[k] or type(child[k]) is not type(arch[k]) for k in arch) == 1
        arch = child


def test_neighbours_are_all_single_changes(small_space: SearchSpace) -> None:
    arch = Architecture({"depth": 2, "act": "gelu", "dropout": 0.0, "norm": True})
    ns = small_space.neighbours(arch)
    assert len(ns) == (3 - 1) + (3 - 1) + (2 - 1) + (2 - 1)
    assert len(set(ns)) == len(ns)
    assert arch not in ns
    assert ns[0] == arch.replace(depth=1)
    assert arch.replace(norm=False) in ns


def test_encode_is_one_hot(small_space: SearchSpace) -> None:
    arch = Architecture({"depth": 3, "act": "relu", "dropout": 0.5, "norm": False})
    vec = small_space.encode(arch)
    assert small_space.encoding_size == 10
    assert vec.dtype == np.float64
    assert vec.tolist() == [0, 0, 1, 1, 0, 0, 0, 1, 0, 1]
    many = small_space.encode_many([arch, arch.replace(depth=1)])
    assert many.shape == (2, 10)
    assert many[1].tolist() == [1, 0, 0, 1, 0, 0, 0, 1, 0, 1]
    assert small_space.encode_many([]).shape == (0, 10)


def test_bool_and_int_choices_are_kept_apart() -> None:
    space = SearchSpace({"flag": [True, False, 1, 0]})
    assert space.decision("flag").index(1) == 2
    assert space.decision("flag").index(True) == 0
    assert space.encode(Architecture({"flag": 0})).tolist() == [0, 0, 0, 1]


def test_validate_returns_space_order_and_accepts_dicts(small_space: SearchSpace) -> None:
    arch = small_space.validate({"norm": True, "dropout": 0.5, "act": "tanh", "depth": 1})
    assert list(arch) == ["depth", "act", "dropout", "norm"]
    assert small_space.validate(arch.to_json()) == arch
    assert small_space.parse(arch.to_json()) == arch


def test_validate_names_the_bad_decision_and_allowed_choices(small_space: SearchSpace) -> None:
    bad = {"depth": 2, "act": "relux", "dropout": 0.0, "norm": True}
    with pytest.raises(
        InvalidArchitectureError,
        match=r"Decision 'act' does not allow 'relux'; allowed choices: "
        r"\['relu', 'gelu', 'tanh'\]\. Did you mean 'relu'\?",
    ):
        small_space.validate(bad)
    assert not small_space.is_valid(Architecture(bad))


def test_validate_rejects_wrong_type_of_choice(small_space: SearchSpace) -> None:
    with pytest.raises(InvalidArchitectureError, match=r"Decision 'depth' does not allow '2'"):
        small_space.validate({"depth": "2", "act": "relu", "dropout": 0.0, "norm": True})
    with pytest.raises(InvalidArchitectureError, match=r"Decision 'norm' does not allow 1;"):
        small_space.validate({"depth": 2, "act": "relu", "dropout": 0.0, "norm": 1})


def test_validate_names_missing_and_unknown_decisions(small_space: SearchSpace) -> None:
    with pytest.raises(
        InvalidArchitectureError, match=r"lacks decision\(s\) \['dropout', 'norm'\]"
    ):
        small_space.validate({"depth": 2, "act": "relu"})
    with pytest.raises(
        InvalidArchitectureError, match=r"unknown decision 'dpth'\. Did you mean 'depth'\?"
    ):
        small_space.validate({"depth": 2, "act": "relu", "dropout": 0.0, "norm": True, "dpth": 3})


def test_parse_of_unknown_notation_shows_the_json_form(small_space: SearchSpace) -> None:
    with pytest.raises(InvalidArchitectureError, match=r"this space reads JSON objects such as \{"):
        small_space.parse("depth=2")


def test_decision_lookup_suggests_close_name(small_space: SearchSpace) -> None:
    with pytest.raises(UnknownNameError, match=r"Unknown decision 'dept'\. Did you mean 'depth'\?"):
        small_space.decision("dept")


@pytest.mark.parametrize(
    ("decisions", "error", "match"),
    [
        ({}, ValueError, r"needs at least one decision"),
        (
            {"act": "relu"},
            TypeError,
            r"Decision 'act' must map to a list of choices.*\['relu', \.\.\.\]",
        ),
        ({"act": 3}, TypeError, r"Decision 'act' must map to a list of choices; got 3"),
        ({"act": []}, ValueError, r"Decision 'act' has no choices"),
        ({"act": ["relu", "relu"]}, ValueError, r"Decision 'act' lists a choice twice"),
        ({"act": [None]}, TypeError, r"choices must be str, int, float or bool"),
        ({"": [1]}, ValueError, r"A decision name must be a non-empty string"),
    ],
)
def test_bad_space_definitions(decisions: dict, error: type, match: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(error, match=match):
        SearchSpace(decisions)


def test_duplicate_decision_names_rejected() -> None:
    with pytest.raises(ValueError, match=r"Decision names must be unique; got \['a', 'a'\]"):
        SearchSpace([Decision("a", (1, 2)), Decision("a", (3,))])


def test_constraint_must_be_callable() -> None:
    with pytest.raises(TypeError, match="Constraints must be callables"):
        SearchSpace({"a": [1, 2]}, constraints=[3])  # type: ignore[list-item]


# ---------------------------------------------------------------- constraints


def shallow_is_wide(arch: Architecture) -> bool:
    """Depth-1 networks must use width 64."""
    return arch["depth"] != 1 or arch["width"] == 64


@pytest.fixture
def constrained() -> SearchSpace:
    return SearchSpace(
        {"depth": [1, 2, 3], "width": [16, 32, 64], "act": ["relu", "gelu"]},
        constraints=[shallow_is_wide],
    )


def test_constrained_size_and_enumerate(constrained: SearchSpace) -> None:
    # 18 raw, minus depth 1 with width 16 or 32 (2 widths x 2 acts).
    assert constrained.n_raw == 18
    assert constrained.size == 14
    archs = list(constrained.enumerate())
    assert len(archs) == 14
    assert all(shallow_is_wide(a) for a in archs)


def test_constraints_respected_by_sample_mutate_neighbours(constrained: SearchSpace) -> None:
    rng = np.random.default_rng(3)
    samples = [constrained.sample(rng) for _ in range(300)]
    assert all(shallow_is_wide(a) for a in samples)
    assert len(set(samples)) == 14
    for arch in set(samples):
        for n in constrained.neighbours(arch):
            assert shallow_is_wide(n)
        for _ in range(20):
            assert shallow_is_wide(constrained.mutate(arch, rng))
    # depth=2/width=16: moving to depth 1 is only allowed with width 64, so it is not a neighbour.
    arch = Architecture({"depth": 2, "width": 16, "act": "relu"})
    ns = constrained.neighbours(arch)
    assert arch.replace(depth=1) not in ns
    assert len(ns) == 4  # depth 3, widths 32/64, act gelu


def test_validate_names_the_failed_constraint(constrained: SearchSpace) -> None:
    with pytest.raises(
        InvalidArchitectureError, match=r'"depth":1.*violates the constraint shallow_is_wide'
    ):
        constrained.validate({"depth": 1, "width": 16, "act": "relu"})
    assert not constrained.is_valid(Architecture({"depth": 1, "width": 16, "act": "relu"}))


def test_mutate_finds_the_only_valid_neighbour() -> None:
    def only_two(arch: Architecture) -> bool:
        return arch["a"] in (0, 7)

    space = SearchSpace({"a": list(range(8))}, constraints=[only_two])
    rng = np.random.default_rng(0)
    assert space.mutate(Architecture({"a": 0}), rng) == Architecture({"a": 7})


def test_impossible_constraints_raise_clear_errors() -> None:
    space = SearchSpace({"a": [1, 2]}, constraints=[lambda arch: False])
    with pytest.raises(InvalidArchitectureError, match=r"Loosen the constraints"):
        space.sample(np.random.default_rng(0))
    single = SearchSpace({"a": [1], "b": ["x"]})
    with pytest.raises(InvalidArchitectureError, match=r"single architecture: nothing to mutate"):
        single.mutate(Architecture({"a": 1, "b": "x"}), np.random.default_rng(0))


# ---------------------------------------------------------------- registry, configs


def test_registered_spaces() -> None:
    assert {"nb201", "nas-bench-graph"} <= set(available_spaces())
    assert isinstance(create_space("nb201"), NB201Space)
    with pytest.raises(
        UnknownNameError, match=r"Unknown search space 'nb-201'\. Did you mean 'nb201'"
    ):
        create_space("nb-201")


@pytest.mark.parametrize(
    "space",
    [
        SearchSpace({"depth": [1, 2], "act": ["relu", "gelu"], "p": [0.1, 0.2], "n": [True]}),
        NB201Space(),
        NasBenchGraphSpace(),
        NasBenchGraphSpace(proteins=True),
    ],
    ids=["dict", "nb201", "nbg", "nbg-proteins"],
)
def test_space_from_config_round_trip(space: SearchSpace) -> None:
    config = space.to_config()
    back = space_from_config(config)
    assert back == space
    assert type(back) is type(space)
    assert back.decisions == space.decisions
    assert back.to_config() == config
    assert hash(back) == hash(space)


def test_space_configs_are_plain_json() -> None:
    import json

    assert NasBenchGraphSpace(proteins=True).to_config() == {
        "type": "nas-bench-graph",
        "settings": {"proteins": True},
    }
    assert NB201Space().to_config() == {"type": "nb201", "settings": {}}
    cfg = SearchSpace({"a": [1, "x", True]}).to_config()
    assert json.loads(json.dumps(cfg)) == {"type": "decisions", "decisions": {"a": [1, "x", True]}}


def test_space_from_config_errors() -> None:
    with pytest.raises(ValueError, match=r"A space config needs a 'type'"):
        space_from_config({"decisions": {"a": [1]}})
    with pytest.raises(UnknownNameError, match=r"Did you mean 'nb201'"):
        space_from_config({"type": "nb210"})


def test_spaces_with_different_settings_differ() -> None:
    assert NasBenchGraphSpace() != NasBenchGraphSpace(proteins=True)
    assert NB201Space() == NB201Space()
    assert SearchSpace({"a": [1, 2]}) != SearchSpace({"a": [2, 1]})


# ====================================================================== NAS-Bench-201

STANDARD = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
)


def test_nb201_size_and_decisions(nb201: NB201Space) -> None:
    assert nb201.size == 15625
    assert [d.name for d in nb201.decisions] == ["1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2"]
    assert all(d.choices == NB201_OPS for d in nb201.decisions)


def test_nb201_parses_the_standard_notation(nb201: NB201Space) -> None:
    arch = nb201.parse(STANDARD)
    assert dict(arch) == {
        "1<-0": "nor_conv_3x3",
        "2<-0": "nor_conv_3x3",
        "2<-1": "avg_pool_3x3",
        "3<-0": "skip_connect",
        "3<-1": "nor_conv_3x3",
        "3<-2": "skip_connect",
    }
    assert nb201.format(arch) == STANDARD
    assert nb201.parse("  " + STANDARD + "\n") == arch
    assert nb201.validate(STANDARD) == arch


def test_nb201_round_trip_many_samples(nb201: NB201Space) -> None:
    rng = np.random.default_rng(0)
    for _ in range(500):
        arch = nb201.sample(rng)
        text = nb201.format(arch)
        assert text.count("+") == 2
        assert nb201.parse(text) == arch
        assert nb201.format(nb201.parse(text)) == text
        assert nb201.parse(arch.to_json()) == arch


def test_nb201_every_op_on_every_edge(nb201: NB201Space) -> None:
    for op in NB201_OPS:
        text = f"|{op}~0|+|{op}~0|{op}~1|+|{op}~0|{op}~1|{op}~2|"
        assert set(nb201.parse(text).values()) == {op}


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("|none~0|+|none~0|none~1|", r"expected 3 nodes separated by '\+'.*found 2"),
        (
            "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|+|none~0|",
            r"expected 3 nodes.*found 4",
        ),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", r"node 2 needs 2 incoming edge\(s\), found 1"),
        (
            "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|none~3|",
            r"node 3 needs 3 incoming edge\(s\), found 4",
        ),
        (
            "|nor_conv_3x4~0|+|none~0|none~1|+|none~0|none~1|none~2|",
            r"unknown operation 'nor_conv_3x4'\. Did you mean 'nor_conv_3x3'\?",
        ),
        (
            "|skip~0|+|none~0|none~1|+|none~0|none~1|none~2|",
            r"unknown operation 'skip'.*Operations: \['none', 'skip_connect'",
        ),
        (
            "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
            r"edge 'none~1' of node 1 should read 'op~0'",
        ),
        (
            "|none~0|+|none~0|none~2|+|none~0|none~1|none~2|",
            r"edge 'none~2' of node 2 should read 'op~1'",
        ),
        (
            "|none|+|none~0|none~1|+|none~0|none~1|none~2|",
            r"edge 'none' of node 1 should read 'op~0'",
        ),
        ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", r"node 1 'none~0\|' must start and end"),
    ],
)
def test_nb201_malformed_strings(nb201: NB201Space, text: str, match: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=match):
        nb201.parse(text)


def test_nb201_error_shows_the_expected_form(nb201: NB201Space) -> None:
    with pytest.raises(
        InvalidArchitectureError, match=r"\|op~0\|\+\|op~0\|op~1\|\+\|op~0\|op~1\|op~2\|"
    ):
        nb201.parse("garbage")


# ====================================================================== NAS-Bench-Graph


def test_nbg_parse_and_format(nbg_space: NasBenchGraphSpace) -> None:
    arch = nbg_space.parse("0123|gcn,gin,fc,cheb")
    assert dict(arch) == {"link": "0123", "op1": "gcn", "op2": "gin", "op3": "fc", "op4": "cheb"}
    assert nbg_space.format(arch) == "0123|gcn,gin,fc,cheb"
    # Tolerant spellings of the link and spaces around operations.
    assert nbg_space.parse("[0,1,2,3]|gcn, gin, fc, cheb") == arch
    assert nbg_space.parse("0, 1, 2, 3 | gcn,gin,fc,cheb") == arch


def test_nbg_round_trip_many_samples(nbg_space: NasBenchGraphSpace) -> None:
    rng = np.random.default_rng(0)
    for _ in range(500):
        arch = nbg_space.sample(rng)
        assert nbg_space.parse(nbg_space.format(arch)) == arch
        assert nbg_space.parse(arch.to_json()) == arch


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("0123 gcn,gin,fc,cheb", r"expected a link pattern, '\|' and four comma-separated"),
        ("0123|gcn,gin,fc", r"four comma-separated operations"),
        ("0123|gcn,gin,fc,cheb,sage", r"four comma-separated operations"),
        ("0124|gcn,gin,fc,cheb", r"unknown link pattern '0124'\. Did you mean"),
        ("0123|gcn,gni,fc,cheb", r"unknown operation 'gni'\. Did you mean 'gin'\?"),
    ],
)
def test_nbg_malformed_strings(nbg_space: NasBenchGraphSpace, text: str, match: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=match):
        nbg_space.parse(text)


def test_nbg_all_skip_is_rejected(nbg_space: NasBenchGraphSpace) -> None:
    with pytest.raises(InvalidArchitectureError, match=r"violates the constraint not_all_skip"):
        nbg_space.parse("0123|skip,skip,skip,skip")
    assert not nbg_space.is_valid(nbg_space._parse_notation("0000|skip,skip,skip,skip"))
    rng = np.random.default_rng(0)
    arch = nbg_space.parse("0123|skip,skip,skip,gcn")
    for _ in range(200):
        child = nbg_space.mutate(arch, rng)
        assert any(child[d] != "skip" for d in ("op1", "op2", "op3", "op4"))
    assert arch.replace(op4="skip") not in nbg_space.neighbours(arch)
    assert len(nbg_space.neighbours(arch)) == (9 - 1) + 3 * (9 - 1) + (9 - 2)


def test_nbg_sizes() -> None:
    assert NasBenchGraphSpace().size == 9 * 9**4 - 9 == 59040
    assert NasBenchGraphSpace(proteins=True).size == 9 * 5**4 - 9 == 5616
    assert NasBenchGraphSpace().decision("link").choices == NBG_LINKS


def test_nbg_proteins_uses_the_reduced_op_set() -> None:
    space = NasBenchGraphSpace(proteins=True)
    assert all(space.decision(d).choices == NBG_OPS_PROTEINS for d in ("op1", "op2", "op3", "op4"))
    assert space.parse("0123|gcn,sage,arma,fc")["op2"] == "sage"
    with pytest.raises(InvalidArchitectureError, match=r"unknown operation 'gat'.*\['gcn', 'sage'"):
        space.parse("0123|gat,sage,arma,fc")
    with pytest.raises(InvalidArchitectureError, match=r"Decision 'op1' does not allow 'gat'"):
        space.validate({"link": "0123", "op1": "gat", "op2": "gcn", "op3": "gcn", "op4": "gcn"})


@pytest.mark.parametrize(
    ("a", "b"),
    [
        # Four nodes all fed by the input: any permutation is the same network.
        ("0000|gcn,gat,sage,fc", "0000|fc,sage,gat,gcn"),
        ("0000|gcn,gat,sage,fc", "0000|gat,gcn,fc,sage"),
        # Nodes 3 and 4 both read node 1: swapping them changes nothing.
        ("0011|gcn,gat,sage,fc", "0011|gcn,gat,fc,sage"),
        # Nodes 2, 3, 4 all read node 1.
        ("0111|gcn,gat,sage,fc", "0111|gcn,fc,gat,sage"),
        # Nodes 3 and 4 both read node 2.
        ("0122|gcn,gat,sage,fc", "0122|gcn,gat,fc,sage"),
    ],
)
def test_nbg_key_maps_isomorphic_encodings_together(
    nbg_space: NasBenchGraphSpace, cora: object, a: str, b: str
) -> None:
    x, y = nbg_space.parse(a), nbg_space.parse(b)
    assert x != y
    assert nbg_space.key(x) == nbg_space.key(y)
    assert cora.evaluate(x) == cora.evaluate(y)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("0123|gcn,gat,sage,fc", "0123|gat,gcn,sage,fc"),  # a chain: order matters
        ("0011|gcn,gat,sage,fc", "0011|gat,gcn,sage,fc"),  # different parents
        ("0000|gcn,gat,sage,fc", "0000|gcn,gat,sage,gin"),  # different ops
        ("0000|gcn,gcn,gcn,gcn", "0123|gcn,gcn,gcn,gcn"),  # different wiring
    ],
)
def test_nbg_key_keeps_different_networks_apart(
    nbg_space: NasBenchGraphSpace, a: str, b: str
) -> None:
    assert nbg_space.key(nbg_space.parse(a)) != nbg_space.key(nbg_space.parse(b))


def test_nbg_sampled_keys_are_rows_of_the_table(nbg_space: NasBenchGraphSpace) -> None:
    # The canonical keys of 2,000 samples all name rows of the table.
    table = light_read("cora")
    rng = np.random.default_rng(1)
    keys = {nbg_space.key(nbg_space.sample(rng)) for _ in range(2000)}
    assert keys <= set(table)


@pytest.mark.slow
def test_nbg_every_valid_architecture_is_in_the_table(nbg_space: NasBenchGraphSpace) -> None:
    table = light_read("cora")
    keys = []
    for arch in nbg_space.enumerate():
        keys.append(nbg_space.key(arch))
    assert len(keys) == 59040
    assert set(keys) == set(table)  # every row is reachable, every key is a row
    assert len(set(keys)) == len(table) == 26206


def test_nbg_proteins_every_valid_architecture_is_in_the_table() -> None:
    space = NasBenchGraphSpace(proteins=True)
    table = light_read("proteins")
    keys = {space.key(arch) for arch in space.enumerate()}
    assert keys == set(table)
    assert len(keys) == 2021


def test_nbg_links_cover_every_wiring() -> None:
    # The 9 patterns are exactly the non-isomorphic ones of the benchmark.
    from nas_bench_graph.architecture import link_list

    assert ["".join(map(str, lk)) for lk in link_list] == list(NBG_LINKS)
    assert set(NBG_OPS) == {
        "gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip",
    }  # fmt: skip


# ====================================================================== every registered space


@pytest.mark.parametrize("name", available_spaces())
def test_every_registered_space_round_trips_its_architectures(name: str) -> None:
    """Contract over the space registry: a new space is covered without editing this test."""
    import json

    from metanas._registry import available

    assert name in available("space")
    space = create_space(name)  # every registered space builds with its defaults
    assert space_from_config(json.loads(json.dumps(space.to_config()))) == space
    rng = np.random.default_rng(0)
    for _ in range(5):
        arch = space.sample(rng)
        assert space.validate(arch) == arch
        assert space.parse(arch.to_string()) == arch
        assert Architecture.from_json(json.loads(json.dumps(arch.to_json()))) == arch
        assert space.validate(json.loads(json.dumps(arch.to_dict()))) == arch
        # The space's own notation may drop inactive decisions: it keeps the network (the key).
        assert space.key(space.parse(space.format(arch))) == space.key(arch)


@pytest.mark.parametrize("name", ["mlp", "cnn", "nb201"])
def test_trainable_spaces_are_trainable_space_instances(name: str) -> None:
    from metanas.spaces import TrainableSpace
    from metanas.spaces.trainable import require_trainable

    space = create_space(name)
    assert isinstance(space, TrainableSpace)
    assert require_trainable(space, "X") is space
    with pytest.raises(TypeError, match=r"X needs a trainable space .*NasBenchGraphSpace"):
        require_trainable(create_space("nas-bench-graph"), "X")
