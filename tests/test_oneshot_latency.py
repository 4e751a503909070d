"""Latency-constrained derivation: the constrained search, inherited-weight scoring, DARTS."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from metanas.oneshot import DartsSearch, build_supernet  # noqa: E402
from metanas.oneshot import latency as latency_mod  # noqa: E402
from metanas.oneshot._inherit import inherited_accuracy  # noqa: E402
from metanas.oneshot.latency import LatencyTable, constrained_choices  # noqa: E402
from metanas.spaces import CNNSpace  # noqa: E402
from metanas.tasks import Task  # noqa: E402


@pytest.fixture(scope="module")
def task() -> Task:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=90)
    X = rng.normal(0.0, 0.3, size=(90, 1, 12)).astype(np.float32)
    for i, c in enumerate(y):
        X[i, 0, 4 * c : 4 * c + 3] += 2.0
    return Task.from_arrays(X, y, name="bumps", seed=0)


@pytest.fixture(autouse=True)
def _one_thread() -> object:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _table(n_dec: int, lat: np.ndarray, base: float = 1.0, scale: float = 1.0) -> LatencyTable:
    return LatencyTable(
        decisions=tuple(f"d{i}" for i in range(n_dec)),
        candidates=tuple(tuple(f"o{k}" for k in range(lat.shape[1])) for _ in range(n_dec)),
        table_ms=lat, base_ms=base, scale=scale,
    )  # fmt: skip


def _brute(
    scores: np.ndarray, table: LatencyTable, limit: float
) -> list[tuple[float, float, list[int]]]:
    allowed = ~np.isnan(table.table_ms)
    opts = [np.flatnonzero(a) for a in allowed]
    rows = []
    for c in itertools.product(*opts):
        est = table.estimate(c)
        if est <= limit:
            rows.append(
                (float(sum(scores[d, k] for d, k in enumerate(c))), est, [int(k) for k in c])
            )
    return sorted(rows, key=lambda r: (-r[0], r[1]))


def test_constrained_choices_are_the_best_networks_within_the_limit() -> None:
    rng = np.random.default_rng(3)
    lat = rng.uniform(0.1, 1.0, size=(4, 5))
    lat[1, 4] = np.nan
    table = _table(4, lat, base=0.5, scale=1.3)
    scores = np.log(rng.dirichlet(np.ones(5), size=4))
    scores[1, 4] = -np.inf
    allowed = ~np.isnan(lat)
    limit = table.estimate(np.nanargmin(lat, axis=1)) + 1.0
    got = constrained_choices(scores, allowed, table, limit, k=6)
    brute = _brute(scores, table, limit)
    assert got == [r[2] for r in brute[:6]]
    assert all(table.estimate(c) <= limit for c in got)
    # The budget is used: no feasible network scores higher, and an unconstrained best
    # that is over the limit is not returned.
    top = max(range(len(brute)), key=lambda i: brute[i][0])
    assert got[0] == brute[top][2]
    assert table.estimate(list(np.argmax(scores, axis=1))) > limit
    # The beam search (for decisions too many to enumerate) agrees on this case.
    old = latency_mod._EXACT_LIMIT
    try:
        latency_mod._EXACT_LIMIT = 1
        assert constrained_choices(scores, allowed, table, limit, k=6) == got
    finally:
        latency_mod._EXACT_LIMIT = old


def test_constrained_choices_prefers_the_faster_of_equal_scores_and_rejects_bad_limits() -> None:
    lat = np.array([[3.0, 2.0, 1.0], [3.0, 1.0, np.nan]])
    table = _table(2, lat)
    allowed = ~np.isnan(lat)
    flat = np.zeros_like(lat)
    flat[1, 2] = -np.inf
    assert constrained_choices(flat, allowed, table, 10.0) == [[2, 1]]
    log_p = np.log(np.array([[0.6, 0.3, 0.1], [0.6, 0.4, 1e-9]]))
    assert constrained_choices(log_p, allowed, table, 10.0) == [[0, 0]]  # generous: argmax
    assert constrained_choices(log_p, allowed, table, 5.0, k=2) == [[0, 1], [1, 1]]
    with pytest.raises(ValueError, match=r"fastest allowed one is estimated at 3 ms"):
        constrained_choices(log_p, allowed, table, 2.5)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="limit_ms must be a finite number > 0"):
            constrained_choices(log_p, allowed, table, bad)
    with pytest.raises(ValueError, match="k must be an int >= 1"):
        constrained_choices(log_p, allowed, table, 5.0, k=0)
    with pytest.raises(ValueError, match="latency table's shape"):
        constrained_choices(log_p[:1], allowed[:1], table, 5.0)


def _wide_net(task: Task) -> object:
    space = CNNSpace(max_blocks=2, stem_channels=32)
    return build_supernet(space, task.input_shape, task.n_classes, seed=0, widths=(16, 32))


def _cost_table(net: object) -> LatencyTable:
    """A made-up table: cost grows with kernel and width; pooling and identity are cheap."""
    names = net.decisions[0][1]  # type: ignore[attr-defined]
    mask = net.mask.numpy()  # type: ignore[attr-defined]
    cost = np.array(
        [
            0.01
            if "pool" in n or n == "identity"
            else (0.02 if "x16" in n else 0.04) * (1 + ("7" in n))
            for n in names
        ]
    )
    lat = np.where(mask, np.broadcast_to(cost, mask.shape), np.nan)
    return _table(mask.shape[0], lat, base=0.05)


def test_darts_derivation_within_the_limit_scores_candidates_with_inherited_weights(
    task: Task,
) -> None:
    net = _wide_net(task)
    table = _cost_table(net)
    search = DartsSearch(
        net, task, batch_size=16, seed=0, latency=table, max_latency_ms=10.0, derive_candidates=4
    )
    search.fit(1)
    # Generous limit: the unconstrained derivation.
    assert search.derive() == net.derive()
    assert search.derivation == []
    # Binding limit: the most accurate (inherited weights) of the likeliest networks within it.
    limit = 0.05 + 0.03
    assert table.estimate(net.derive_indices()) > limit
    search.latency_target_ms = limit
    arch = search.derive()
    assert table.estimate(net.choice_of(arch)) <= limit
    rec = search.derivation
    assert 1 < len(rec) <= 8  # 4 by operation, 4 by family, without repeats
    assert all(r["estimated_latency_ms"] <= limit for r in rec)
    # The first candidate is the most likely network within the limit.
    allowed = net.derivable().numpy()
    with np.errstate(divide="ignore"):  # masked candidates have probability 0
        log_p = np.log(net.probabilities().detach().numpy().astype(np.float64))
    log_p[~allowed] = -np.inf
    assert rec[0]["choice"] == constrained_choices(log_p, allowed, table, limit)[0]
    assert rec[0]["log_probability"] == max(r["log_probability"] for r in rec)
    best = max(rec, key=lambda r: r["inherited_valid_accuracy"])
    assert net.choice_of(arch) == best["choice"]
    # Default (one candidate): the most likely network within the limit, family first.
    from metanas.oneshot.darts import family_scores
    from metanas.oneshot.latency import fit_to_latency

    plain = DartsSearch(net, task, latency=table, max_latency_ms=limit)
    family = family_scores(
        net.probabilities().detach().numpy() * allowed, [ops for _, ops in net.decisions]
    )
    expected = fit_to_latency(family, allowed, table, limit, net.derive_indices())
    assert net.choice_of(plain.derive()) == expected
    assert plain.derivation == []
    # Out of reach: the fastest network, as before.
    search.latency_target_ms = 0.01
    fastest = [
        int(np.nanargmin(row)) for row in np.where(net.derivable().numpy(), table.table_ms, np.nan)
    ]
    assert net.choice_of(search.derive()) == fastest
    with pytest.raises(ValueError, match="derive_candidates must be an int >= 1"):
        DartsSearch(net, task, latency=table, max_latency_ms=1.0, derive_candidates=0)


def test_darts_derivation_can_score_candidates_by_training_them(task: Task) -> None:
    net = _wide_net(task)
    table = _cost_table(net)
    limit = 0.05 + 0.03  # binding: the unconstrained network is over it
    assert table.estimate(net.derive_indices()) > limit
    seen: list[object] = []

    def train(arch: object) -> dict[str, float]:
        seen.append(arch)
        text = net.space.format(arch)  # type: ignore[attr-defined]
        if len(seen) == 1:  # the likeliest candidate: over the limit when timed
            return {"measured_latency_ms": 1.0}
        return {"measured_latency_ms": 0.01, "valid_accuracy": text.count("pool") / 10 + 0.5}

    search = DartsSearch(
        net, task, batch_size=16, seed=0, latency=table, max_latency_ms=limit,
        derive_candidates=3, candidate_score="trained", train_candidate=train,
    )  # fmt: skip
    search.fit(1)
    arch = search.derive()
    rec = search.derivation
    assert len(seen) == len(rec) > 1
    assert "inherited_valid_accuracy" not in rec[0]
    assert "valid_accuracy" not in rec[0]  # ineligible: never derived while others are
    best = max(rec[1:], key=lambda r: r["valid_accuracy"])
    assert net.choice_of(arch) == best["choice"]
    assert arch != seen[0]
    assert all(r["estimated_latency_ms"] <= limit for r in rec)
    assert search.get_settings()["candidate_score"] == "trained"
    search.train_candidate = None
    with pytest.raises(RuntimeError, match="needs train_candidate"):
        search.derive()
    with pytest.raises(ValueError, match="candidate_score must be one of 'inherited', 'trained'"):
        DartsSearch(net, task, candidate_score="retrained")


def test_run_oneshot_trains_the_candidates_and_reuses_the_chosen_ones_training(
    task: Task, monkeypatch: pytest.MonkeyPatch
) -> None:
    from metanas.evaluation import hardware
    from metanas.oneshot import run_oneshot

    # A made-up table (a real one is timed, so a binding limit would be flaky) and a clock
    # that times every network at 0.07 ms: within the 0.08 ms limit.
    monkeypatch.setattr(latency_mod, "measure_latency_table", _cost_table)
    monkeypatch.setattr(hardware, "measure_latency_ms", lambda *a, **k: 0.07)
    result = run_oneshot(
        task, CNNSpace(max_blocks=2, stem_channels=32), "darts", epochs=1, seed=0,
        storage="sqlite://", study_name="trained-candidates", retrain_epochs=2,
        max_latency_ms=0.08, supernet_settings={"widths": (16, 32)},
        search_settings={
            "batch_size": 16, "derive_candidates": 2, "candidate_score": "trained",
        },
    )  # fmt: skip
    rec = result.derivation
    assert len(rec) > 1
    assert all(r["measured_latency_ms"] == 0.07 for r in rec)
    best = max(rec, key=lambda r: r["valid_accuracy"])
    assert result.arch_string == best["arch"]
    # The chosen candidate's training is its retraining: same accuracy, no second run.
    assert result.valid_accuracy == best["valid_accuracy"]
    assert result.retrain_s < 0.5
    assert result.latency_ms == 0.07
    assert result.meets_limit is True


def test_inherited_accuracy_scores_sub_networks_and_leaves_the_supernet_alone(task: Task) -> None:
    net = _wide_net(task)
    DartsSearch(net, task, batch_size=16, seed=0).fit(1)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    names = net.decisions[0][1]
    choices = [[names.index("conv3x32")] * 2, [names.index("max_pool"), names.index("conv3x16")]]
    accs = inherited_accuracy(net, task, choices)
    assert len(accs) == 2
    assert all(0.0 <= a <= 1.0 for a in accs)
    assert accs == inherited_accuracy(net, task, choices)  # deterministic
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


# ------------------------------------------------------------------ width-aware tables
def _width_table(seed: int, n_dec: int = 4) -> LatencyTable:
    """A made-up width-aware table: 3 widths, candidates 0-3 set a width, 4-5 keep it."""
    rng = np.random.default_rng(seed)
    widths = (8, 16, 32)
    out = np.tile(np.array([8, 16, 32, 16, 0, 0]), (n_dec, 1))
    # Cost grows with the input width: a block after a narrow one is cheaper.
    wt = rng.uniform(0.05, 0.2, size=(n_dec, 3, 6)) * np.array([1.0, 2.0, 4.0])[None, :, None]
    wt[:, :, 4:] *= 0.1
    wt[1, :, 3] = np.nan  # masked in decision 1
    table_ms = wt[:, 1, :].copy()
    return LatencyTable(
        decisions=tuple(f"d{i}" for i in range(n_dec)),
        candidates=tuple(tuple(f"o{k}" for k in range(6)) for _ in range(n_dec)),
        table_ms=table_ms, base_ms=0.3, scale=1.2, widths=widths, width_table_ms=wt,
        out_widths=out, start_width=16,
    )  # fmt: skip


def _walk(table: LatencyTable, choice: list[int]) -> float:
    """The width-aware estimate written out: each entry read at the width entering it."""
    assert table.widths is not None
    assert table.width_table_ms is not None
    assert table.out_widths is not None
    w, total = table.start_width, 0.0
    for d, k in enumerate(choice):
        total += table.width_table_ms[d, table.widths.index(w), k]
        w = int(table.out_widths[d, k]) or w
    return table.base_ms + table.scale * total


def test_width_aware_estimate_follows_the_widths_along_the_chain() -> None:
    table = _width_table(0)
    assert table.width_aware
    allowed = ~np.isnan(table.table_ms)
    opts = [np.flatnonzero(a) for a in allowed]
    combos = [list(c) for c in itertools.product(*opts)]
    est = [table.estimate(c) for c in combos]
    assert est == pytest.approx([_walk(table, c) for c in combos])
    # Not the width-blind sum: a narrow block makes the next cheaper than at width 16.
    blind = LatencyTable(table.decisions, table.candidates, table.table_ms, 0.3, 1.2)
    assert table.estimate([0, 0, 0, 0]) < blind.estimate([0, 0, 0, 0])
    assert table.estimate([2, 2, 2, 2]) > blind.estimate([2, 2, 2, 2])
    # The fastest allowed network is the shortest path over the widths.
    assert table.estimate(table.fastest(allowed)) == pytest.approx(min(est))
    # A masked candidate is never affordable.
    assert table.estimate([0, 3, 0, 0]) == float("inf")


def test_width_aware_expected_latency_is_the_exact_expectation() -> None:
    table = _width_table(1, n_dec=3)
    allowed = ~np.isnan(table.table_ms)
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(6), size=3) * allowed
    p /= p.sum(axis=1, keepdims=True)
    probs = torch.tensor(p, dtype=torch.float64, requires_grad=True)
    got = table.expected(probs)
    want = sum(
        float(np.prod([p[d, k] for d, k in enumerate(c)])) * _walk(table, list(c))
        for c in itertools.product(*[np.flatnonzero(a) for a in allowed])
    )
    assert float(got.detach()) == pytest.approx(want, rel=1e-9)
    got.backward()
    assert probs.grad is not None
    assert torch.isfinite(probs.grad).all()
    assert float(probs.grad.abs().sum()) > 0


def test_width_aware_constrained_choices_match_brute_force_exact_and_beam() -> None:
    table = _width_table(3)
    rng = np.random.default_rng(4)
    scores = np.log(rng.dirichlet(np.ones(6), size=4))
    allowed = ~np.isnan(table.table_ms)
    scores[~allowed] = -np.inf
    limit = table.estimate(table.fastest(allowed)) + 0.4
    got = constrained_choices(scores, allowed, table, limit, k=5)
    brute = _brute(scores, table, limit)
    assert got == [r[2] for r in brute[:5]]
    assert all(table.estimate(c) <= limit for c in got)
    old = latency_mod._EXACT_LIMIT
    try:
        latency_mod._EXACT_LIMIT = 1
        beam = constrained_choices(scores, allowed, table, limit, k=5)
    finally:
        latency_mod._EXACT_LIMIT = old
    assert beam == got
    fastest = table.estimate(table.fastest(allowed))
    with pytest.raises(ValueError, match=f"estimated at {fastest:.4g} ms"):
        constrained_choices(scores, allowed, table, fastest * 0.99)


@pytest.fixture(scope="module")
def wide128() -> tuple[object, LatencyTable]:
    """A 2-block chain of 128 channels whose blocks are conv7 at width 16 or 128 only."""
    space = CNNSpace(max_blocks=2, stem_channels=0)
    skeleton = {"channels_1": 128, "channels_2": 128, "stride_1": 1, "stride_2": 1}
    torch.set_num_threads(1)
    net = build_supernet(
        space, (1, 64), 3, seed=0, skeleton={**skeleton, "residual": False}, widths=(16, 128)
    )
    names = net.decisions[0][1]
    keep = torch.tensor([n in ("conv7x16", "conv7x128") for n in names])
    net.mask &= keep  # type: ignore[operator]
    table = latency_mod.measure_latency_table(net, repeats=7, warmup=2)
    return net, table


def test_width_aware_table_predicts_a_narrow_networks_latency_better(
    wide128: tuple[object, LatencyTable],
) -> None:
    from metanas.evaluation.hardware import measure_latency_ms

    net, table = wide128
    narrow, wide = _narrow_wide(net)
    assert table.width_aware
    assert table.widths == (1, 16, 128)
    # The block after a 16-channel block is timed on 16 input channels, and that is cheaper.
    assert table.width_table_ms[1, 1, wide] < table.width_table_ms[1, 2, wide]  # type: ignore[index]
    choice = [narrow, wide]
    model = net.space.build_model(net.architecture(choice), (1, 64), 3, seed=0)  # type: ignore[attr-defined]
    real = measure_latency_ms(model, (1, 64), 1, repeats=15, warmup=2)
    blind = LatencyTable(
        table.decisions, table.candidates, table.table_ms, table.base_ms, table.scale
    )
    assert abs(table.estimate(choice) - real) < abs(blind.estimate(choice) - real)


def _narrow_wide(net: object) -> tuple[int, int]:
    """Candidate indices of the 16- and the 128-channel conv7 in the ``wide128`` supernet."""
    names = net.decisions[0][1]  # type: ignore[attr-defined]
    return names.index("conv7x16"), names.index("conv7x128")


def _favour_wide(net: object, wide: int) -> None:
    """Alphas that make the wide conv7 the likeliest in both blocks, most in the second."""
    with torch.no_grad():
        net.alphas.zero_()  # type: ignore[attr-defined]
        net.alphas[:, wide] = 2.0  # type: ignore[attr-defined]
        net.alphas[1, wide] = 3.0  # type: ignore[attr-defined]


def _noise_task() -> Task:
    """24 random (1, 64) sequences of 3 classes: enough for a DartsSearch to be built."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 1, 64)).astype(np.float32)
    return Task.from_arrays(X, rng.integers(0, 3, size=24), name="noise", seed=0)


def test_darts_derivation_with_a_width_aware_table_stays_within_the_limit(
    wide128: tuple[object, LatencyTable],
) -> None:
    net, table = wide128
    small = _noise_task()
    narrow, wide = _narrow_wide(net)
    slow = table.estimate([wide, wide])
    limit = (table.estimate([narrow, wide]) + slow) / 2
    search = DartsSearch(net, small, latency=table, max_latency_ms=limit, batch_size=8)  # type: ignore[arg-type]
    _favour_wide(net, wide)
    assert slow > limit  # the most likely network is over the limit
    arch = search.derive()
    choice = net.choice_of(arch)  # type: ignore[attr-defined]
    assert table.estimate(choice) <= limit
    assert choice == [narrow, wide]  # the likelier block keeps its width


def test_measured_candidates_take_the_likeliest_network_that_really_meets_the_limit(
    wide128: tuple[object, LatencyTable],
) -> None:
    net, measured = wide128
    # The wide128 table's own timings, with every entry replaced by a fixed cost that grows with
    # the widths: on a loaded machine [narrow, narrow] and [narrow, wide] were timed within 2 %
    # of each other, and this test is about the measured candidates, not the table.
    widths = np.asarray(measured.widths, dtype=float)[None, :, None]
    out = np.asarray(measured.out_widths, dtype=float)[:, None, :]
    table = dataclasses.replace(
        measured,
        width_table_ms=np.where(
            np.isnan(measured.width_table_ms), np.nan, 0.01 + 1e-5 * widths * out
        ),
    )
    small = _noise_task()
    narrow, wide = _narrow_wide(net)
    mid = table.estimate([narrow, wide])
    limit = mid * 0.97  # [narrow, wide] is just over the limit by the table
    assert table.estimate([narrow, narrow]) <= limit < mid <= limit * DartsSearch.MEASURE_MARGIN
    timed: list[str] = []

    def fake(real: float) -> object:
        def measure(arch: object) -> float:
            timed.append(net.space.format(arch))  # type: ignore[attr-defined]
            return 0.0 if net.choice_of(arch) == [narrow, narrow] else real  # type: ignore[attr-defined]

        return measure

    _favour_wide(net, wide)
    for real, want in ((limit * 0.9, [narrow, wide]), (limit * 1.1, [narrow, narrow])):
        timed.clear()
        search = DartsSearch(
            net, small, latency=table, max_latency_ms=limit, batch_size=8,  # type: ignore[arg-type]
            measure_candidates=4, measure_latency=fake(real),  # type: ignore[arg-type]
        )  # fmt: skip
        assert net.choice_of(search.derive()) == want  # type: ignore[attr-defined]
        # Best first: the over-the-table [narrow, wide] network is timed before the others.
        assert timed[0] == net.space.format(net.architecture([narrow, wide]))  # type: ignore[attr-defined]
        assert search.derivation[0]["measured_latency_ms"] == pytest.approx(real)
    with pytest.raises(ValueError, match="measure_candidates must be an int >= 0"):
        DartsSearch(net, small, measure_candidates=-1)  # type: ignore[arg-type]
