"""Studies: one search of one space on one task, persisted trial by trial."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import math
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from metanas._progress import TrialProgress
from metanas._rng import derive_seed, resolve_seed
from metanas.evaluation.base import Evaluator, Result, as_evaluator
from metanas.exceptions import MetanasError
from metanas.execution import (
    Executor,
    InProcessExecutor,
    LocalExecutor,
    MainGuardError,
    RayExecutor,
    create_executor,
    resolve_n_jobs,
)
from metanas.schedulers.base import Decision, Scheduler, create_scheduler
from metanas.spaces.architecture import Architecture
from metanas.spaces.base import SearchSpace, space_from_config
from metanas.spaces.table import table_space_from_config
from metanas.storage.rdb import (
    RDBStorage,
    SchedulerEvent,
    StepValues,
    StudyRecord,
    get_storage,
)
from metanas.strategies.base import Observation, Strategy, create_strategy, get_strategy_class
from metanas.trial import Trial, TrialState

if TYPE_CHECKING:
    from metanas.meta import TaskHistory

__all__ = ["Study", "create_study", "curve_steps", "load_study", "parse_objectives"]

_logger = logging.getLogger(__name__)
#: optimize() warns when, in trial order, free workers waited for at least this share of the
#: workers' time, in a run of at least this many seconds (shorter runs: too noisy to tell).
_IDLE_HINT_SHARE = 0.25
_IDLE_HINT_MIN_S = 60.0

Callback = Callable[["Study", Trial], None]
#: Seconds between two heartbeats of a trial in flight (``optimize(heartbeat_s=...)``).
DEFAULT_HEARTBEAT_S = 10.0
#: Times a trial whose worker died is queued again before it is FAILED.
DEFAULT_MAX_RETRIES = 2
#: A trial silent for this many heartbeats is taken for dead (unless the worker says otherwise).
_GRACE_BEATS = 3
#: The trial attribute holding how long its worker may stay silent before it counts as dead.
_GRACE_ATTR = "heartbeat_grace_s"
_DIRECTIONS = {"maximize": "maximize", "max": "maximize", "minimize": "minimize", "min": "minimize"}


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _seconds_left(deadline: float | None) -> float | None:
    """Seconds until ``deadline`` (a ``time.monotonic()`` instant), at least 0; None: none."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def parse_objectives(
    metric: str | Sequence[str], direction: str | Sequence[str]
) -> tuple[tuple[str, str], ...]:
    """Normalise ``metric``/``direction`` into ``((metric, "maximize"|"minimize"), ...)``.

    ``metric`` may also be a spec such as ``"valid_accuracy:max,latency:min"``.

    Examples
    --------
    >>> parse_objectives("valid_accuracy:max,latency:min", "maximize")
    (('valid_accuracy', 'maximize'), ('latency', 'minimize'))
    """
    if isinstance(metric, str) and ":" in metric:
        pairs = []
        for part in metric.split(","):
            name, _, d = part.strip().partition(":")
            if d.lower() not in _DIRECTIONS or not name:
                raise ValueError(
                    f"Cannot read objective {part!r}: write METRIC:max or METRIC:min, e.g. "
                    "'valid_accuracy:max,latency:min'."
                )
            pairs.append((name, _DIRECTIONS[d.lower()]))
        return tuple(pairs)
    metrics = [metric] if isinstance(metric, str) else list(metric)
    directions = [direction] * len(metrics) if isinstance(direction, str) else list(direction)
    if not metrics or not all(isinstance(m, str) and m for m in metrics):
        raise ValueError(f"metric must be a metric name or a list of names; got {metric!r}.")
    if len(directions) != len(metrics):
        raise ValueError(
            f"Give one direction per metric: {len(metrics)} metric(s) {metrics!r} but "
            f"{len(directions)} direction(s) {directions!r}."
        )
    out = []
    for m, d in zip(metrics, directions, strict=True):
        if not isinstance(d, str) or d.lower() not in _DIRECTIONS:
            raise ValueError(f"direction must be 'maximize' or 'minimize'; got {d!r} for {m!r}.")
        out.append((m, _DIRECTIONS[d.lower()]))
    if len({m for m, _ in out}) != len(out):
        raise ValueError(f"Each metric may appear once among the objectives; got {metrics!r}.")
    return tuple(out)


@dataclasses.dataclass
class _ScheduleState:
    """Where each open trial of a scheduled study stands (rebuilt from the stored events)."""

    #: Trials to submit next: number -> (budget, resume_from), in the order decided.
    ready: dict[int, tuple[float, float | None]] = dataclasses.field(default_factory=dict)
    #: Trials waiting (PAUSE) for the scheduler to promote or stop them.
    paused: set[int] = dataclasses.field(default_factory=set)
    #: The last budget each trial reached (its checkpoint, for resume_from).
    last_budget: dict[int, float] = dataclasses.field(default_factory=dict)


class _Heartbeat:
    """Marks this process's trials in flight alive every ``interval_s`` seconds.

    A daemon thread, so a process that dies stops beating, which is what other workers
    watch for; one UPDATE per beat covers every trial in flight.
    """

    def __init__(self, storage: RDBStorage, interval_s: float) -> None:
        self.storage = storage
        self.interval_s = interval_s
        self._ids: set[int] = set()
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="metanas-heartbeat", daemon=True)

    def add(self, trial: Trial) -> None:
        if trial.id is not None:
            with self._lock:
                self._ids.add(trial.id)

    def discard(self, trial: Trial) -> None:
        with self._lock:
            self._ids.discard(trial.id)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._done.wait(self.interval_s):
            with self._lock:
                ids = sorted(self._ids)
            try:
                self.storage.heartbeat(ids)
            except Exception as exc:
                # The thread must outlive a passing storage error: the next beat retries,
                # and one missed beat is well inside the grace period.
                _logger.warning("Heartbeat of trials %s failed (retried next beat): %s", ids, exc)


class Study:
    """A search of one space on one task: the strategy proposes, the study evaluates and stores.

    Create one with :func:`create_study` or re-open one with :func:`load_study`;
    do not call the constructor directly. Every finished trial is committed to
    the storage before the next one starts.
    """

    def __init__(
        self,
        *,
        storage: RDBStorage,
        record: StudyRecord,
        space: SearchSpace,
        strategy: Strategy,
        memory: str | None = None,
        scheduler: Scheduler | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        self.storage = storage
        self._record = record
        self.space = space
        self.strategy = strategy
        #: URL of the experience memory a strategy with ``uses_memory`` learns from
        #: (None: the study's own storage).
        self.memory = memory
        #: The multi-fidelity scheduler (None: every trial trains at the full budget).
        self.scheduler = scheduler
        self._sched = _ScheduleState()
        self._worker = _worker_id()
        #: Set by create_study: this process made the study (an unguarded script may undo it).
        self._created_here = False
        self._stop = False
        self._trials: list[Trial] = []
        #: Times a trial whose worker died is queued again, for trials found dead on opening
        #: and by ``optimize`` unless it is given its own ``max_retries``.
        self.max_retries = _check_max_retries(max_retries)
        self._requeue_interrupted(self.max_retries)
        self._trials = storage.get_trials(record.id)
        _check_stored_archs(space, record.name, self._trials)
        self._n_waiting = self._count_waiting()
        if strategy.uses_memory:
            self._set_memory()
        replay: list[tuple[str, Observation]] = []
        if scheduler is not None:
            replay = self._start_scheduler(scheduler)
        # Finished trials no stored scheduler event settles (told through ask/tell, or failed
        # by a dead worker) come first, by number; then a scheduled study's tells in the
        # order its live loop made them (see _start_scheduler).
        settled = {obs.number for call, obs in replay if call == "tell"}
        history = [
            self._observation(t)
            for t in self._trials
            if t.state.finished and t.number not in settled
        ]
        if history:
            strategy.warm_start(history)
        for call, obs in replay:
            if call == "tell":
                strategy.tell(obs)
            else:
                strategy.tell_intermediate(obs)

    # ------------------------------------------------------------ properties
    @property
    def name(self) -> str:
        return self._record.name

    @property
    def seed(self) -> int:
        return self._record.seed

    @property
    def task(self) -> str:
        """Name of the task this study searches."""
        return self._record.task.name

    @property
    def task_descriptors(self) -> Mapping[str, Any]:
        return self._record.task.descriptors

    @property
    def objectives(self) -> tuple[tuple[str, str], ...]:
        """``((metric, direction), ...)``."""
        return self._record.objectives

    @property
    def metric(self) -> str:
        """The (first) objective metric."""
        return self.objectives[0][0]

    @property
    def direction(self) -> str:
        """The (first) objective direction."""
        return self.objectives[0][1]

    @property
    def user_attrs(self) -> Mapping[str, Any]:
        return self._record.user_attrs

    def __repr__(self) -> str:
        return (
            f"Study(name={self.name!r}, task={self.task!r}, strategy="
            f"{self.strategy.registered_name or type(self.strategy).__name__!r}, "
            f"trials={len(self._trials)})"
        )

    @property
    def trials(self) -> list[Trial]:
        """All trials, by number (a copy)."""
        return list(self._trials)

    def get_trials(self, states: Sequence[TrialState] | None = None) -> list[Trial]:
        if states is None:
            return list(self._trials)
        return [t for t in self._trials if t.state in states]

    @property
    def completed_trials(self) -> list[Trial]:
        return [t for t in self._trials if t.state is TrialState.COMPLETE]

    @property
    def n_finished(self) -> int:
        return sum(1 for t in self._trials if t.state.finished)

    def refresh(self) -> None:
        """Re-read the trials from the storage (other workers may have added some)."""
        self._trials = self.storage.get_trials(self._record.id)
        self._n_waiting = self._count_waiting()

    @property
    def best_trial(self) -> Trial:
        """The COMPLETE trial with the best objective value (earliest on ties).

        Raises
        ------
        ValueError
            When no trial has completed, or the study has several objectives.
        """
        if len(self.objectives) > 1:
            raise ValueError(
                f"Study {self.name!r} has {len(self.objectives)} objectives: there is no single "
                "best trial. Use study.best_trials (the Pareto front)."
            )
        done = self.completed_trials
        if not done:
            raise ValueError(
                f"Study {self.name!r} has no completed trial yet; run study.optimize(...) first."
            )
        sign = 1.0 if self.direction == "maximize" else -1.0
        # A scheduled study's COMPLETE trials all reached max_budget; should one have been
        # measured at a lower budget (another scheduler), the largest budget still wins.
        return max(
            done,
            key=lambda t: (
                t.budget if t.budget is not None else 0.0,
                sign * (t.value or 0.0),
                -t.number,
            ),
        )

    @property
    def pruned_trials(self) -> list[Trial]:
        """Trials a scheduler stopped below the full budget (metrics of their last budget)."""
        return [t for t in self._trials if t.state is TrialState.PRUNED]

    @property
    def best_trials(self) -> list[Trial]:
        """The Pareto front of COMPLETE trials (for one objective: the best trial(s)).

        PRUNED trials never take part: they were measured at a lower budget.
        """
        done = self.completed_trials
        if done and any(t.budget is not None for t in done):
            top = max(t.budget or 0.0 for t in done)
            done = [t for t in done if (t.budget or 0.0) == top]
        signs = [1.0 if d == "maximize" else -1.0 for _, d in self.objectives]
        pts = [tuple(s * v for s, v in zip(signs, t.values or (), strict=True)) for t in done]
        front = []
        for i, p in enumerate(pts):
            dominated = any(
                all(q[k] >= p[k] for k in range(len(p))) and any(q[k] > p[k] for k in range(len(p)))
                for j, q in enumerate(pts)
                if j != i
            )
            if not dominated:
                front.append(done[i])
        return front

    # ------------------------------------------------------------ ask / tell
    def enqueue(self, arch: Architecture | Mapping[str, Any] | str) -> Trial:
        """Queue an architecture to be evaluated before the strategy's own proposals."""
        arch = self.space.validate(arch)
        trial = self.storage.add_trial(self._record.id, arch, state=TrialState.WAITING)
        self._trials.append(trial)
        self._n_waiting += 1
        return trial

    def ask(self) -> Trial:
        """Start the next trial: an enqueued architecture if any, else the strategy's proposal.

        The trial is stored as RUNNING; finish it with :meth:`tell`.
        """
        trial = self._ask(limit=None, grace_s=None)
        if trial is None:  # pragma: no cover - without a limit a trial is always made
            raise AssertionError("ask without a limit always makes a trial")
        return trial

    def _ask(
        self,
        limit: int | None,
        grace_s: float | None,
        repeats: Callable[[Architecture], bool] | None = None,
    ) -> Trial | None:
        """:meth:`ask`, making a new trial only while its number is below ``limit``.

        None when the study holds trials ``0 .. limit - 1`` and none of them waits to run.
        ``grace_s``: the trial's worker keeps its heartbeat (stored with the trial, so
        others take it for dead after ``grace_s`` silent seconds); None: it does not.
        ``repeats``: called with the strategy's proposal; when it returns True no trial is
        made (None is returned: the caller ran something else instead).
        """
        attrs: dict[str, Any] = {_GRACE_ATTR: grace_s}
        number = (self._trials[-1].number + 1) if self._trials else 0
        # Scanning every trial for WAITING ones made each ask O(n); the count
        # (kept by enqueue, _replace and refresh) skips the scan when none wait.
        waiting = (
            [t for t in self._trials if t.state is TrialState.WAITING] if self._n_waiting else []
        )
        self._n_waiting = len(waiting)
        if waiting:
            claimed = self.storage.claim_waiting_trial(
                self._record.id, seed=self._seed_of, worker=self._worker, user_attrs=attrs
            )
            if claimed is not None:
                self._replace(claimed)
                return claimed
            self.refresh()
        if limit is not None and number >= limit:
            return self._claim_waiting_at_limit(attrs)
        seed = derive_seed(self.seed, number)
        self.strategy.reseed(seed)
        proposal = self.strategy.ask()
        try:
            arch = self.space.validate(proposal)
        except MetanasError as exc:
            raise MetanasError(
                f"Strategy {type(self.strategy).__name__} proposed an architecture outside the "
                f"space: {exc}"
            ) from exc
        if repeats is not None and repeats(arch):
            return None
        new_attrs = {k: v for k, v in attrs.items() if v is not None}
        if limit is None:
            trial = self.storage.add_trial(
                self._record.id, arch, state=TrialState.RUNNING, seed=seed, worker=self._worker,
                user_attrs=new_attrs,
            )  # fmt: skip
        else:
            made = self.storage.add_trial_below(
                self._record.id, arch, limit, state=TrialState.RUNNING, seed=seed,
                worker=self._worker, user_attrs=new_attrs,
            )  # fmt: skip
            if made is None:  # other workers took the last numbers meanwhile
                return self._claim_waiting_at_limit(attrs)
            trial = made
        self._trials.append(trial)
        return trial

    def _claim_waiting_at_limit(self, attrs: Mapping[str, Any]) -> Trial | None:
        # At the limit no number is left, but a trial another worker gave back (Ctrl-C)
        # or enqueued holds one below it: run that rather than stop short of the limit.
        claimed = self.storage.claim_waiting_trial(
            self._record.id, seed=self._seed_of, worker=self._worker, user_attrs=attrs
        )
        if claimed is not None:
            self._replace(claimed)
        return claimed

    def _seed_of(self, number: int) -> int:
        """The seed of trial ``number``: the same whoever runs it, and however often."""
        return derive_seed(self.seed, number)

    def tell(
        self, trial: Trial, result: Result | None = None, *, error: str | None = None
    ) -> Trial:
        """Finish a RUNNING trial with an evaluation result (or an error: FAILED).

        A result whose status is failed, or whose objective is NaN or
        infinite, makes the trial FAILED with the reason recorded.
        """
        return self._tell(trial, result, error=error, inform_strategy=True)

    def _tell(
        self,
        trial: Trial,
        result: Result | None,
        *,
        error: str | None,
        inform_strategy: bool,
    ) -> Trial:
        # inform_strategy=False stores the trial now and leaves the strategy's
        # tell to the caller: the parallel loop tells in trial-number order, the
        # order a resumed study replays, so results are reproducible.
        if trial.state is not TrialState.RUNNING:
            raise ValueError(
                f"Trial {trial.number} of study {self.name!r} is {trial.state.value}; "
                "only a RUNNING trial (from study.ask()) can be told."
            )
        state, values, reason, missing = self._judge(result, error)
        metrics: Mapping[str, float] = {}
        test_metrics: Mapping[str, float] = {}
        cost = None
        if result is not None:
            metrics, test_metrics, cost = result.metrics, result.test_metrics, result.cost_s
        # The curve goes into finish_trial's own transaction, not a write before it: a kill
        # between two commits would leave a RUNNING trial with a curve that its re-run (which
        # may stop at another epoch) only partly overwrites.
        finished = self.storage.finish_trial(
            trial, state, metrics=metrics, test_metrics=test_metrics, values=values,
            cost_s=cost, error=None if state is TrialState.COMPLETE else reason,
            intermediate=None if result is None else curve_steps(result.curve),
        )  # fmt: skip
        self._replace(finished)
        if inform_strategy:
            self.strategy.tell(self._observation(finished))
        if state is TrialState.FAILED:
            _logger.warning("Trial %d of study %s failed: %s", trial.number, self.name, reason)
        self._raise_missing(missing, reason, metrics, test_metrics)
        return finished

    def _judge(
        self, result: Result | None, error: str | None
    ) -> tuple[TrialState, list[float] | None, str | None, list[str]]:
        """``(COMPLETE or FAILED, objective values, failure reason, missing objectives)``."""
        state, values, reason = TrialState.FAILED, None, error
        missing: list[str] = []
        if result is not None:
            metrics, test_metrics = result.metrics, result.test_metrics
            if not result.ok:
                reason = result.reason or "the evaluator reported a failure"
            else:
                missing = [m for m, _ in self.objectives if m not in metrics]
                if missing:
                    in_test = [m for m in missing if m in test_metrics]
                    reason = (
                        f"objective metric(s) {in_test!r} are test metrics, reserved for "
                        "reporting; search on a validation metric such as "
                        f"{sorted(metrics)!r}"
                        if in_test
                        else f"the evaluator returned metrics {sorted(metrics)!r}, without the "
                        f"objective {missing!r}"
                    )
                else:
                    vals = []
                    for m, _ in self.objectives:
                        v = metrics[m]
                        if not isinstance(v, int | float) or not math.isfinite(float(v)):
                            reason = f"objective {m!r} is {v!r} (not a finite number)"
                            break
                        vals.append(float(v))
                    else:
                        state, values = TrialState.COMPLETE, vals
        elif reason is None:
            reason = "no result"
        return state, values, reason, missing

    def _raise_missing(
        self,
        missing: list[str],
        reason: str | None,
        metrics: Mapping[str, float],
        test_metrics: Mapping[str, float],
    ) -> None:
        if missing:
            fix = f"Create the study with metric=<one of {sorted(metrics)!r}>"
            if not any(m in test_metrics for m in missing):  # never advise searching on test data
                fix += f" or make the evaluator return {missing[0]!r}"
            raise ValueError(f"Study {self.name!r}: {reason}. {fix}.")

    # ------------------------------------------------------------ intermediate values
    def report(
        self,
        trial: Trial,
        step: int,
        values: Mapping[str, float],
        elapsed_s: float | None = None,
    ) -> None:
        """Store intermediate ``values`` of a RUNNING trial at ``step`` (an epoch, say).

        Each report is committed at once, so a crash keeps every step reported before it;
        reporting a step again replaces it. A finished trial's learning curve
        (:attr:`Result.curve`) is stored the same way by :meth:`tell`, replacing what was
        reported while it ran.

        Parameters
        ----------
        trial
            The trial from :meth:`ask`.
        step
            An int >= 0: the epoch (or other fidelity) the values were measured at.
        values
            Metric name to number, e.g. ``{"valid_accuracy": 0.91}``; NaN is kept as NaN.
        elapsed_s
            Seconds of training up to this step, if known.

        Raises
        ------
        ValueError
            The trial is not RUNNING, or ``step`` is not an int >= 0.
        """
        known = next((t for t in reversed(self._trials) if t.number == trial.number), trial)
        if trial.state is not TrialState.RUNNING or known.state is not TrialState.RUNNING:
            state = known.state if known.state.finished else trial.state
            raise ValueError(
                f"Trial {trial.number} of study {self.name!r} is {state.value}; only a RUNNING "
                "trial (from study.ask(), not yet told) can report intermediate values."
            )
        self.storage.report_values(trial, step, values, elapsed_s)

    def intermediate_values(self, trial: Trial | int) -> list[StepValues]:
        """The intermediate values of a trial (or trial number), read from the storage.

        Returns
        -------
        list of (step, values, elapsed_s)
            In step order; ``values`` maps metric names to floats (NaN where none was
            finite). Empty when the trial reported nothing.
        """
        number = trial.number if isinstance(trial, Trial) else trial
        if isinstance(number, bool) or not isinstance(number, int):
            raise TypeError(f"trial must be a Trial or a trial number; got {trial!r}.")
        return self.storage.get_values(self._record.id, [number]).get(number, [])

    # ------------------------------------------------------------ the loop
    def optimize(
        self,
        evaluator: Evaluator | Callable[[Architecture], Any] | None = None,
        n_trials: int | None = None,
        timeout_s: float | None = None,
        callbacks: Sequence[Callback] = (),
        *,
        catch: tuple[type[BaseException], ...] = (Exception,),
        budget: float | None = None,
        show_progress: bool = False,
        n_jobs: int = 1,
        executor: str | Executor | None = None,
        timeout: float | None = None,
        max_total_trials: int | None = None,
        heartbeat_s: float = DEFAULT_HEARTBEAT_S,
        heartbeat_grace_s: float | None = None,
        max_retries: int | None = None,
        trial_timeout_s: float | None = None,
        in_flight: Literal["finish", "cancel"] = "finish",
        tell_order: Literal["trial", "finish"] = "trial",
    ) -> Trial | None:
        """Run ``n_trials`` more trials (or until ``timeout_s`` seconds pass).

        Parameters
        ----------
        evaluator
            An :class:`~metanas.Evaluator` (a benchmark, a trainer) or a function
            ``arch -> float | dict``. Leave it out when ``executor`` is an
            :class:`~metanas.execution.Executor` instance: that holds its own.
        n_trials
            Trials to add in this call (in this process: each worker sharing the
            study counts its own, as in Optuna). See ``max_total_trials`` for a
            limit on the study as a whole.
        timeout_s
            Stop starting new trials after this many seconds; what happens to the trials
            in flight then is ``in_flight``'s choice.
        callbacks
            ``fn(study, trial)`` after every finished trial, in trial order; may
            call :meth:`stop`.
        catch
            Exceptions from the evaluator that fail the trial instead of
            stopping the study.
        budget
            Fidelity passed to the evaluator (epochs, seconds).
        show_progress
            A rich progress bar on the console.
        n_jobs
            Evaluate this many trials at once on a local process pool (``-1``:
            one per core); each worker starts with ``cores // n_jobs`` threads, and
            an evaluator with its own thread count (``TrainEvaluator(threads=...)``,
            default 1) uses that while it evaluates. The evaluator must be picklable.
            Trials are stored as they finish; ``tell_order`` decides when the
            strategy hears of them.
        executor
            Where evaluations run: a registered name (``"inprocess"``, the default
            for ``n_jobs=1``; ``"local"``, the default for ``n_jobs > 1``), built
            with ``n_jobs`` workers and closed on return, or an
            :class:`~metanas.execution.Executor` instance, which the caller closes.
        timeout
            Deprecated alias of ``timeout_s``.
        max_total_trials
            Stop when the study holds this many trials, counted over every process
            sharing its storage: exact, because trial numbers are handed out one by
            one by the storage and a new trial is made only while its number is below
            the limit. Trials waiting in the queue (enqueued, or given back by an
            interrupt) hold their numbers and are run first. Trials of another worker
            still running when the limit is reached finish there. May be given
            without ``n_trials``.
        heartbeat_s
            Seconds between two marks that this process's trials in flight are alive
            (one storage write per beat for all of them).
        heartbeat_grace_s
            Seconds a trial of this process may go without a heartbeat before any worker
            opening the study takes its worker for dead and queues the trial again
            (default ``3 * heartbeat_s``). Stored with each trial, so every worker uses
            the value of the worker that runs it.
        max_retries
            Times a trial whose worker died (killed, its machine lost) is queued again;
            at the next death it is FAILED with an error saying so. Applies to the dead
            trials this call finds when it starts; Ctrl-C does not count. None: the
            study's :attr:`max_retries` (``create_study``/``load_study``'s
            ``max_retries``, which also settled the dead trials found on opening: pass
            the same value there to allow more than the default 2 retries to a trial
            killed again and again).
        trial_timeout_s
            Fail a trial whose evaluation runs longer than this (``TimeoutError: timed out
            after N s``; a ``TimeoutError`` outside ``catch`` stops the study instead), killing
            its worker process and starting a fresh one. Evaluations then run on the local
            process pool (``executor="local"``, ``n_jobs`` workers, even one), or on Ray
            with ``executor="ray"`` (the task is cancelled).
        in_flight
            What ``timeout_s`` does to the trials still running when it passes (ignored
            without ``timeout_s``). ``"finish"``: they finish and are stored, so ``optimize``
            returns up to one evaluation later. ``"cancel"``: it returns at ``timeout_s``,
            for a hard wall-time budget. Trials that finished are stored first; each one
            still running is cut off as Ctrl-C cuts it (WAITING again with its number and
            architecture, not told to the strategy; the next ``optimize`` or a resumed study
            runs it first) and its worker is stopped: the executor is closed without
            waiting (a process pool kills its workers, Ray cancels its tasks), including an
            :class:`~metanas.execution.Executor` instance passed in, which then cannot be
            used again. With a scheduler only the segment cut off is lost: the rungs it
            finished stay stored and its trial continues from there. An evaluation in this
            process cannot be stopped, so ``"cancel"`` with ``n_jobs=1`` runs it on the
            local process pool of one worker (the evaluator must be picklable), as
            ``trial_timeout_s`` does, and refuses ``executor="inprocess"``.
        tell_order
            How results reach the strategy when several trials run at once (without a
            scheduler; a scheduler's loop always tells results as they arrive).
            ``"trial"``: in trial order, and trial ``k`` is asked only after trials
            ``0 .. k - n_jobs`` were told, so a seeded study gives the same trials for the
            same ``n_jobs`` (though not the same as with another ``n_jobs``); the price is
            that a worker whose trial finished waits, idle, while the oldest trial in
            flight still runs (with trainings of very different lengths, a large share of
            the workers' time). ``"finish"``: each result is told as it arrives and a free
            worker gets a new trial at once, so no worker waits; which trials a seeded study
            runs then depends on the order results arrive (with ``n_jobs=1`` the two are
            the same).

        Returns
        -------
        The best trial so far (None for several objectives or no completed trial).

        Notes
        -----
        Ctrl-C (``KeyboardInterrupt``, also ``SystemExit``) stops the loop after storing the
        trials that finished: a trial cut off in the middle goes back to the queue (WAITING,
        keeping its number and architecture; not counted, not told to the strategy), so
        re-running the study runs it first and continues as if never interrupted. An evaluator
        error not in ``catch`` fails its own trial and stops the loop the same way.
        """
        if timeout is not None:
            warnings.warn(
                "optimize(timeout=...) is deprecated; pass timeout_s=... (seconds, the same "
                "meaning).",
                FutureWarning,
                stacklevel=2,
            )
            if timeout_s is not None:
                raise ValueError(
                    f"The time limit is given twice: timeout_s={timeout_s!r} and the deprecated "
                    f"timeout={timeout!r}. Pass timeout_s only."
                )
            timeout_s = timeout
        if n_trials is None and timeout_s is None and max_total_trials is None:
            raise ValueError(
                "optimize() needs n_trials or timeout_s; got neither. Pass n_trials=100, say "
                "(or max_total_trials=100 for the study as a whole, counting every worker)."
            )
        if max_total_trials is not None and (
            isinstance(max_total_trials, bool)
            or not isinstance(max_total_trials, int)
            or max_total_trials < 0
        ):
            raise ValueError(
                f"max_total_trials must be an int >= 0 (trials of the whole study); got "
                f"{max_total_trials!r}."
            )
        if n_trials is not None and (
            isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 0
        ):
            raise ValueError(
                f"n_trials must be an int >= 0; got {n_trials!r}. "
                "Pass n_trials >= 1 or set timeout_s."
            )
        if timeout_s is not None and (
            isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or timeout_s <= 0
        ):
            raise ValueError(f"timeout_s must be a number of seconds > 0; got {timeout_s!r}.")
        if in_flight not in ("finish", "cancel"):
            raise ValueError(
                f"in_flight must be 'finish' (trials running at timeout_s finish) or 'cancel' "
                f"(they are cut off and queued again); got {in_flight!r}."
            )
        if tell_order not in ("trial", "finish"):
            raise ValueError(
                f"tell_order must be 'trial' (results told in trial order: reproducible, a "
                f"worker may wait for the oldest trial) or 'finish' (told as they arrive: no "
                f"worker waits); got {tell_order!r}."
            )
        cancel = in_flight == "cancel" and timeout_s is not None
        grace_s = _GRACE_BEATS * heartbeat_s if heartbeat_grace_s is None else heartbeat_grace_s
        for name, value in (("heartbeat_s", heartbeat_s), ("heartbeat_grace_s", grace_s)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name} must be a number of seconds > 0; got {value!r}.")
        if grace_s <= heartbeat_s:
            raise ValueError(
                f"heartbeat_grace_s={grace_s!r} must exceed heartbeat_s={heartbeat_s!r}, or "
                "live trials would be taken for dead between two beats. Leave it out for "
                f"{_GRACE_BEATS} x heartbeat_s."
            )
        max_retries = self.max_retries if max_retries is None else _check_max_retries(max_retries)
        if self.scheduler is not None and budget is not None:
            raise ValueError(
                f"Study {self.name!r} has the scheduler "
                f"{self.scheduler.registered_name or type(self.scheduler).__name__!r}, which "
                f"chooses every budget; got budget={budget!r}. Leave budget out (the scheduler's "
                "min_budget and max_budget set the range)."
            )
        if self._requeue_interrupted(max_retries):
            self._catch_up()
        try:
            pool, owned = self._executor(
                evaluator, executor, resolve_n_jobs(n_jobs), trial_timeout_s, cancel=cancel
            )
        except MainGuardError:
            self._discard_if_unused()
            raise
        self._stop = False
        total = n_trials
        if max_total_trials is not None:
            left = max(0, max_total_trials - self.n_finished)
            total = left if total is None else min(total, left)
        progress = TrialProgress(show_progress, self, total)

        def on_finished(finished: Trial) -> None:
            progress.update(self, finished)
            for cb in callbacks:
                cb(self, finished)

        cut = False  # trials were cut off at timeout_s: their workers must not be waited for

        def close_pool(exc_type: type[BaseException] | None, *exc: object) -> None:
            # Closing without waiting is what stops a cut-off trial's worker; a caller's
            # executor is closed only then (it is left open otherwise, as always).
            if owned or cut:
                pool.close(wait=exc_type is None and not cut)

        try:
            with contextlib.ExitStack() as stack:
                stack.push(close_pool)
                self._check_task(pool.evaluator)
                # An in-memory store is one connection that no other process sees: a
                # heartbeat there would only race the loop's own writes on it.
                beat = (
                    None
                    if self.storage.url == "sqlite://"
                    else stack.enter_context(_Heartbeat(self.storage, heartbeat_s))
                )
                if self.scheduler is not None:
                    cut = self._run_scheduled(
                        pool, n_trials=n_trials, timeout_s=timeout_s, catch=catch,
                        on_finished=on_finished, limit=max_total_trials, beat=beat,
                        grace_s=grace_s, cancel=cancel,
                    )  # fmt: skip
                else:
                    cut = self._run(
                        pool, n_trials=n_trials, timeout_s=timeout_s, budget=budget,
                        catch=catch, on_finished=on_finished, limit=max_total_trials, beat=beat,
                        grace_s=grace_s, cancel=cancel, ordered=tell_order == "trial",
                    )  # fmt: skip
        finally:
            progress.close()
        _remember_in_memory(self)
        if len(self.objectives) == 1 and self.completed_trials:
            return self.best_trial
        return None

    def _discard_if_unused(self) -> None:
        # The script that just created this study cannot run it as written (no main guard):
        # leave nothing behind, so the fixed script starts from a clean slate (a fixed name
        # would otherwise meet DuplicatedStudyError).
        if self._created_here and not self.storage.get_trials(self._record.id):
            self.storage.delete_study(self.name)
            _logger.info(
                "Study %s was removed: this run created it and it holds no trial.", self.name
            )

    def stop(self) -> None:
        """Ask :meth:`optimize` to start no more trials; those in flight finish and are stored."""
        self._stop = True

    def _executor(
        self,
        evaluator: Evaluator | Callable[[Architecture], Any] | None,
        executor: str | Executor | None,
        n_jobs: int,
        trial_timeout_s: float | None = None,
        *,
        cancel: bool = False,
    ) -> tuple[Executor, bool]:
        """The executor ``optimize`` runs on, and whether this call built it (and closes it)."""
        if cancel and (executor == "inprocess" or isinstance(executor, InProcessExecutor)):
            raise ValueError(
                "in_flight='cancel' stops the evaluations running at timeout_s, but "
                f"executor={executor!r} evaluates in this process, which cannot be stopped "
                "mid-evaluation. Leave executor out (n_jobs=1 then runs on a process pool of "
                "one worker), pass 'local' or 'ray', or use in_flight='finish'."
            )
        if trial_timeout_s is not None and executor not in (None, "local", "ray"):
            raise ValueError(
                f"trial_timeout_s={trial_timeout_s!r} needs the local process pool or Ray, "
                f"which can stop one evaluation; got executor={executor!r}. Leave executor out "
                "(or pass 'local' or 'ray'), or give the executor its own timeout."
            )
        if isinstance(executor, Executor):
            if evaluator is not None and evaluator is not executor.evaluator:
                raise ValueError(
                    f"optimize() got an evaluator and an executor holding another one "
                    f"({type(executor.evaluator).__name__}). Leave evaluator out: the executor "
                    "runs its own."
                )
            if n_jobs != 1:
                raise ValueError(
                    f"n_jobs={n_jobs!r} cannot resize the given executor "
                    f"{type(executor).__name__} (n_workers={executor.n_workers}). Leave n_jobs "
                    "out, or pass the executor by name."
                )
            return executor, False
        if evaluator is None:
            raise TypeError(
                "optimize() needs an evaluator: a metanas Evaluator (such as a benchmark) or a "
                "function arch -> metrics, or an executor instance that holds one."
            )
        if executor is None:
            executor = "local" if n_jobs > 1 or cancel else "inprocess"
        elif not isinstance(executor, str):
            raise TypeError(
                "executor must be a registered executor name ('inprocess', 'local') or a "
                f"metanas.execution.Executor; got {type(executor).__name__}."
            )
        ev = as_evaluator(evaluator, self.metric)
        if trial_timeout_s is not None and executor == "ray":
            return RayExecutor(ev, n_workers=n_jobs, trial_timeout_s=trial_timeout_s), True
        if trial_timeout_s is not None:
            return LocalExecutor(ev, n_workers=n_jobs, trial_timeout_s=trial_timeout_s), True
        return create_executor(executor, ev, n_workers=n_jobs), True

    def _run(
        self,
        executor: Executor,
        *,
        n_trials: int | None,
        timeout_s: float | None,
        budget: float | None,
        catch: tuple[type[BaseException], ...],
        on_finished: Callable[[Trial], None],
        limit: int | None = None,
        beat: _Heartbeat | None = None,
        grace_s: float | None = None,
        cancel: bool = False,
        ordered: bool = True,
    ) -> bool:
        """The one evaluation loop, for one worker or many; True when it cut trials off.

        Up to ``executor.n_workers`` trials run at once. Each is stored the moment its
        future finishes. ``ordered``: the strategy is told in the order the trials were
        asked, and trial ``k`` is asked only after trials ``0 .. k - n_workers`` were told.
        The strategy therefore sees the same tells and asks whatever the workers' timing: a
        seeded study gives the same trials for the same number of workers, and a resumed
        study replays the tells in that order. Otherwise every finished trial is told at
        once (several finished together: in ask order) and a free worker is given a new
        trial without waiting for older ones. With ``cancel``, the trials still running at
        ``timeout_s`` are abandoned (see :meth:`_abandon`) once those finished are stored and
        told.
        """
        start = time.monotonic()
        deadline = None if not cancel or timeout_s is None else start + timeout_s
        ev_name = type(executor.evaluator).__name__
        in_flight: dict[int, Trial] = {}  # asked, not yet told to the strategy; in ask order
        futures: dict[int, Future[Result]] = {}  # submitted, not yet stored
        stored: dict[int, Trial] = {}  # stored, not yet told
        n_started = 0
        at_limit = False  # the study holds max_total_trials trials
        idle_s = 0.0  # worker-seconds a free worker waited for the oldest trial (ordered)

        def may_start() -> bool:
            if self._stop or at_limit or (n_trials is not None and n_started >= n_trials):
                return False
            return timeout_s is None or time.monotonic() - start < timeout_s

        def hint_idle() -> None:
            # Users pick n_jobs for speed: say so when the trial order cost much of it.
            wall = time.monotonic() - start
            n = executor.n_workers
            if n > 1 and wall >= _IDLE_HINT_MIN_S and idle_s >= _IDLE_HINT_SHARE * n * wall:
                _logger.warning(
                    "Study %s: workers sat idle for %.0f %% of their time, each waiting for "
                    "the oldest trial in flight (results are told in trial order, so that a "
                    "seeded search is reproducible). optimize(tell_order='finish') (metanas "
                    "search --tell-order finish) tells each result as it arrives and keeps "
                    "every worker busy.",
                    self.name, 100.0 * idle_s / (n * wall),
                )  # fmt: skip

        def ready() -> list[int]:
            """The trials to tell now: the oldest in flight once stored (``ordered``), else
            every stored one, in ask order."""
            if ordered:
                oldest = next(iter(in_flight))
                return [oldest] if oldest in stored else []
            return [n for n in in_flight if n in stored]

        def store(trial: Trial, future: Future[Result]) -> Trial:
            exc = future.exception()
            if exc is None:
                result = future.result()
                if isinstance(result, Result):
                    return self._tell(trial, result, error=None, inform_strategy=False)
                exc = TypeError(
                    f"{ev_name}.evaluate returned {type(result).__name__}; it must return a "
                    "metanas.Result."
                )
            if isinstance(exc, catch):
                error = f"{type(exc).__name__}: {exc}"
                return self._tell(trial, None, error=error, inform_strategy=False)
            if isinstance(exc, Exception):
                # The evaluation itself raised: its trial failed, it was not cut off.
                stored[trial.number] = self._tell(
                    trial, None, error="interrupted", inform_strategy=False
                )
            raise exc

        try:
            while True:
                while (
                    len(futures) < executor.n_workers
                    and (not ordered or len(in_flight) < executor.n_workers)
                    and may_start()
                ):
                    asked = self._ask(limit, grace_s if beat is not None else None)
                    if asked is None:
                        at_limit = True
                        break
                    trial = asked
                    if beat is not None:
                        beat.add(trial)
                    # Registered before submit: an in-process submit raising Ctrl-C finds it.
                    in_flight[trial.number] = trial
                    n_started += 1
                    futures[trial.number] = executor.submit(trial.arch, budget)
                if not in_flight:
                    hint_idle()
                    return False
                to_tell = ready()
                while not to_tell:
                    left = _seconds_left(deadline)
                    free = executor.n_workers - len(futures) if ordered and may_start() else 0
                    waited = time.monotonic()
                    wait(list(futures.values()), timeout=left, return_when=FIRST_COMPLETED)
                    idle_s += free * (time.monotonic() - waited)
                    for number, future in list(futures.items()):
                        if future.done():
                            del futures[number]
                            if beat is not None:
                                beat.discard(in_flight[number])
                            stored[number] = store(in_flight[number], future)
                    to_tell = ready()
                    if deadline is not None and not to_tell and left == 0.0:
                        self._cut_off(in_flight, futures, stored, beat, on_finished)
                        hint_idle()
                        return True
                for number in to_tell:
                    del in_flight[number]
                    told = stored.pop(number)
                    self.strategy.tell(self._observation(told))
                    on_finished(told)
        except BaseException:
            # Settle every trial still in flight, in ask order, then re-raise.
            for number, trial in in_flight.items():
                current = stored.get(number) or self._stored_trial(number)
                if current.state is TrialState.RUNNING:
                    if number in futures:
                        futures[number].cancel()
                    self._abandon(trial)
                else:
                    self.strategy.tell(self._observation(current))
            raise

    def _cut_off(
        self,
        in_flight: Mapping[int, Trial],
        futures: Mapping[int, Future[Result]],
        stored: Mapping[int, Trial],
        beat: _Heartbeat | None,
        on_finished: Callable[[Trial], None],
    ) -> None:
        """End ``_run`` at its deadline: tell what finished, abandon what still runs.

        In ask order, as an interrupt settles them; the executor is then closed without
        waiting, which stops the abandoned trials' workers.
        """
        for number, trial in in_flight.items():
            if number in stored:
                told = stored[number]
                self.strategy.tell(self._observation(told))
                on_finished(told)
                continue
            futures[number].cancel()
            if beat is not None:
                beat.discard(trial)
            self._abandon(trial)
            _logger.info(
                "Trial %d of study %s was running at timeout_s and was cut off: queued again.",
                number, self.name,
            )  # fmt: skip

    def _abandon(self, trial: Trial) -> None:
        """Settle a trial cut off by an interrupt (Ctrl-C, or another trial's error).

        The one place that decides what an interrupted trial becomes: WAITING again, with
        its number and architecture, neither counted nor told to the strategy. The next
        ask of any worker (or a re-run) evaluates it first, with the seed of its number,
        which is what a resumed study after ``kill -9`` does too, so an interrupted and
        resumed study gives the trials of one never interrupted.
        """
        if self.storage.requeue_trial(trial):
            self._replace(
                dataclasses.replace(trial, state=TrialState.WAITING, worker=None, started_at=None)
            )

    def _stored_trial(self, number: int) -> Trial:
        for t in reversed(self._trials):
            if t.number == number:
                return t
        raise KeyError(number)  # pragma: no cover - every asked trial is in self._trials

    # ------------------------------------------------------------ the scheduled loop
    def _start_scheduler(self, scheduler: Scheduler) -> list[tuple[str, Observation]]:
        """Give the scheduler its memory, then replay the stored events into it.

        Each stored result is handed to :meth:`Scheduler.on_result` and each promotion taken
        again with :meth:`Scheduler.next_promotion`, in the order they were made, so the
        scheduler is where it was when the study stopped. What the study does next follows
        the stored decisions; a scheduler that now decides otherwise (its code changed) is
        logged.

        Returns the strategy's calls the live loop made, in its order: ``("intermediate",
        obs)`` for each segment's result and ``("tell", obs)`` each time a trial settled. A
        trial stopped, then promoted (ASHA's ``promote_stopped``) and settled again was told
        twice, first with the result it was stopped at; replaying that keeps a resumed
        strategy (evolution's population, for one) where the uninterrupted run had it.
        """
        if scheduler.uses_memory:
            self._give_scheduler_memory(scheduler)
        state = self._sched
        trials = {t.number: t for t in self._trials}
        events = self.storage.get_events(self._record.id)
        differ = 0
        stopped: set[int] = set()  # trials whose last result stopped them (promote_stopped)
        calls: list[tuple[str, Observation]] = []
        # (position in calls, trial, its result event then): a settle, its observation made
        # once it is known whether it was the trial's last
        settles: list[tuple[int, int, SchedulerEvent | None]] = []
        last_result: dict[int, SchedulerEvent] = {}
        last_settle: dict[int, int] = {}  # trial -> index in settles
        promoted_after: set[int] = set()  # trials promoted after their last settle
        pending: int | None = None  # settled by its result: told after the stops that follow

        def settle(n: int) -> None:
            if n not in trials:
                return
            last_settle[n] = len(settles)
            promoted_after.discard(n)
            settles.append((len(calls), n, last_result.get(n)))
            calls.append(("tell", Observation(arch=trials[n].arch, score=None, number=n)))

        for ev in events:
            n = ev.number
            if ev.kind != "stop" and pending is not None:
                settle(pending)
                pending = None
            if ev.kind == "result":
                decision, _ = scheduler.on_result(n, ev.budget, ev.score)
                stopped.discard(n)
                if ev.decision == Decision.STOP.value:
                    stopped.add(n)
                scheduler.pending_stops()  # replayed by the "stop" events stored after it
                differ += decision.value != ev.decision
                state.last_budget[n] = ev.budget
                state.paused.discard(n)
                state.ready.pop(n, None)
                if ev.decision == Decision.CONTINUE.value and ev.next_budget is not None:
                    state.ready[n] = (ev.next_budget, ev.budget)
                elif ev.decision == Decision.PAUSE.value:
                    state.paused.add(n)
                last_result[n] = ev
                if n in trials:
                    calls.append(
                        (
                            "intermediate",
                            _segment_observation(trials[n].arch, n, ev.score, ev.budget),
                        )
                    )
                if ev.score is None or ev.decision in (
                    Decision.STOP.value, Decision.COMPLETE.value
                ):  # fmt: skip
                    pending = n
            elif ev.kind == "promote":
                if n in stopped:
                    stopped.discard(n)
                    taken = scheduler.promote_stopped()
                else:
                    taken = scheduler.next_promotion()
                differ += taken != (n, ev.next_budget)
                state.paused.discard(n)
                if ev.next_budget is not None:
                    state.ready[n] = (ev.next_budget, ev.budget)
                if n in last_settle:
                    promoted_after.add(n)
            else:  # "stop": a paused trial stopped, settled at once
                state.paused.discard(n)
                settle(n)
        if pending is not None:
            settle(pending)
        if differ:
            _logger.warning(
                "Study %s: replaying %d stored scheduler decision(s) gave a different answer; "
                "the stored decisions are followed (was the scheduler's code changed?)",
                self.name, differ,
            )  # fmt: skip
        for n in [*state.ready, *state.paused]:
            if n not in trials or trials[n].state.finished:
                state.ready.pop(n, None)
                state.paused.discard(n)
        # A trial's last settle is told its stored (final) state, unless it was promoted after
        # it or is still open; every other settle, the result it was stopped at.
        final = [
            last_settle[n] == i and n not in promoted_after and trials[n].state.finished
            for i, (_, n, _) in enumerate(settles)
        ]
        earlier = {n for (_, n, _), f in zip(settles, final, strict=True) if not f}
        steps = self.storage.get_values(self._record.id, sorted(earlier)) if earlier else {}
        for (at, n, stop_ev), is_final in zip(settles, final, strict=True):
            t = trials[n]
            if is_final:
                calls[at] = ("tell", self._observation(t))
                continue
            score = None if stop_ev is None else stop_ev.score
            budget = None if stop_ev is None else stop_ev.budget
            metrics = {
                k: v
                for step, values, _ in steps.get(n, [])
                if budget is not None and step == budget
                for k, v in values.items()
                if math.isfinite(v)
            }
            calls[at] = ("tell", _segment_observation(t.arch, n, score, budget, metrics))
        return calls

    def _give_scheduler_memory(self, scheduler: Scheduler) -> None:
        from metanas.meta.curves import memory_curves

        if _unnamed_task(self.storage, self.task, "the memory of learning curves"):
            return
        metric, direction = self.objectives[0]
        source = get_storage(self.memory) if self.memory is not None else self.storage
        curves = memory_curves(
            source, exclude_task=self.task, metric=metric, direction=direction,
            max_budget=int(scheduler.max_budget),
        )  # fmt: skip
        _logger.info(
            "Study %s: the scheduler learns from %d past learning curve(s)", self.name, len(curves)
        )
        scheduler.set_memory([[float(x) for x in c] for c in curves])

    def _run_scheduled(
        self,
        executor: Executor,
        *,
        n_trials: int | None,
        timeout_s: float | None,
        catch: tuple[type[BaseException], ...],
        on_finished: Callable[[Trial], None],
        limit: int | None = None,
        beat: _Heartbeat | None = None,
        grace_s: float | None = None,
        cancel: bool = False,
    ) -> bool:
        """The evaluation loop of a study with a scheduler: segments, not whole trials.

        When a worker is free: a trial the scheduler sent on (CONTINUE, or cut off by an
        interrupt) is submitted first, then a paused trial it now promotes, then a new trial
        at :meth:`Scheduler.first_budget`. Each segment's result is stored with its curve and
        the scheduler's decision in one transaction. ``n_trials`` and ``limit`` count new
        trials; their later segments run until every started trial settles (or waits,
        paused, for a cohort that is not full). A timeout or :meth:`stop` submits nothing
        more and withdraws the segments the executor holds unstarted: open trials stay
        RUNNING and the next ``optimize`` continues them. ``n_workers + queue_ahead``
        segments are kept submitted, so each is decided while the one before it on its
        worker still runs. With several workers the decisions depend on the order results
        arrive. With ``cancel``, the segments still running at ``timeout_s`` are cut off
        as by an interrupt (see ``put_back``) once those finished are stored; returns True
        then.
        """
        sched = self.scheduler
        if sched is None:  # pragma: no cover - optimize calls this only with a scheduler
            raise RuntimeError("no scheduler")
        state = self._sched
        start = time.monotonic()
        deadline = None if not cancel or timeout_s is None else start + timeout_s
        ev_name = type(executor.evaluator).__name__
        resumes = bool(getattr(type(executor.evaluator), "supports_resume", False))
        grace = grace_s if beat is not None else None
        n_started = 0
        at_limit = False
        futures: dict[Future[Result], tuple[Trial, float, float | None]] = {}
        # Open trials a dead worker gave back (WAITING) are this run's again, not new asks.
        for n in [*state.ready, *state.paused]:
            t = self._stored_trial(n)
            if t.state is TrialState.WAITING:
                claimed = self.storage.resume_trial(
                    t, worker=self._worker, user_attrs={_GRACE_ATTR: grace}
                )
                if claimed is not None:
                    self._replace(claimed)
        if beat is not None:
            for n in state.paused:
                beat.add(self._stored_trial(n))

        def going() -> bool:
            return not self._stop and (timeout_s is None or time.monotonic() - start < timeout_s)

        def may_start() -> bool:
            if at_limit or (n_trials is not None and n_started >= n_trials):
                return False
            return going()

        def next_segment() -> tuple[Trial, float, float | None] | None:
            nonlocal n_started, at_limit
            if not going():
                return None
            for n, (b, r) in list(state.ready.items()):
                t = self._stored_trial(n)
                if t.state is TrialState.RUNNING:
                    del state.ready[n]
                    return t, b, r
            promoted = sched.next_promotion()
            if promoted is not None:
                n, b = promoted
                t = self._stored_trial(n)
                prev = state.last_budget.get(n)
                self.storage.add_event(
                    t, SchedulerEvent(n, "promote", prev or 0.0, None, Decision.CONTINUE.value, b)
                )
                state.paused.discard(n)
                return t, b, prev
            while may_start():
                asked = self._ask(limit, grace, repeats)
                if revived:
                    return revive(*revived.pop())
                if asked is None:
                    at_limit = True
                    return None
                held.add(self.space.key(asked.arch))
                if asked.number in state.paused:  # held by this run already: it stays paused
                    continue
                if asked.number in state.ready:
                    b, r = state.ready.pop(asked.number)
                    return asked, b, r
                n_started += 1
                return asked, sched.first_budget(asked.number), None
            return None

        # A proposal repeating a trial's architecture trains nothing new: a trial the scheduler
        # stopped is promoted instead where it has one (ASHA); else the repeat is a trial.
        held = {self.space.key(t.arch) for t in self._trials if t.state is not TrialState.FAILED}
        revived: list[tuple[int, float]] = []

        def repeats(arch: Architecture) -> bool:
            if self.space.key(arch) not in held:
                return False
            promoted = sched.promote_stopped()
            if promoted is None:
                return False
            revived.append(promoted)
            return True

        def revive(n: int, b: float) -> tuple[Trial, float, float | None]:
            t = self._stored_trial(n)
            prev = state.last_budget.get(n, t.budget)
            event = SchedulerEvent(n, "promote", prev or 0.0, None, Decision.CONTINUE.value, b)
            # PRUNED -> RUNNING with the promotion, in one transaction; the metrics stay those
            # of the budget reached until the next segment replaces them.
            reopened = self.storage.store_segment(
                t, TrialState.RUNNING, event, metrics=t.metrics, test_metrics=t.test_metrics,
                values=t.values, cost_s=t.cost_s, budget=t.budget,
            )  # fmt: skip
            self._replace(reopened)
            return reopened, b, prev

        def settle(t: Trial) -> None:
            state.ready.pop(t.number, None)
            state.paused.discard(t.number)
            if beat is not None:
                beat.discard(t)
            self.strategy.tell(self._observation(t))
            on_finished(t)

        def stop_paused(n: int) -> None:
            t = self._stored_trial(n)
            if t.state is not TrialState.RUNNING:
                return
            event = SchedulerEvent(n, "stop", state.last_budget.get(n, 0.0), None, "stop")
            pruned = self.storage.store_segment(
                t, TrialState.PRUNED, event, metrics=t.metrics, test_metrics=t.test_metrics,
                values=t.values, cost_s=t.cost_s, budget=t.budget,
            )  # fmt: skip
            self._replace(pruned)
            settle(pruned)

        def segment_done(
            t: Trial, budget: float, resume_from: float | None, future: Future[Result]
        ) -> None:
            exc = future.exception()
            result: Result | None = None
            error: str | None = None
            if exc is None:
                out = future.result()
                if isinstance(out, Result):
                    result = out
                else:
                    exc = TypeError(
                        f"{ev_name}.evaluate returned {type(out).__name__}; it must return a "
                        "metanas.Result."
                    )
            fatal = exc is not None and not isinstance(exc, catch)
            if exc is not None:
                error = "interrupted" if fatal else f"{type(exc).__name__}: {exc}"
            judged, values, reason, missing = self._judge(result, error)
            score = None
            if judged is TrialState.COMPLETE and values is not None:
                score = values[0] if self.direction == "maximize" else -values[0]
            decision, nxt = sched.on_result(t.number, budget, score)
            if score is None:
                new_state = TrialState.FAILED
            elif decision is Decision.CONTINUE:
                if nxt is None or not nxt > budget:
                    raise ValueError(
                        f"Scheduler {type(sched).__name__} answered CONTINUE for trial "
                        f"{t.number} at budget {budget:g} with next budget {nxt!r}; it must "
                        "return a larger budget with CONTINUE."
                    )
                new_state = TrialState.RUNNING
            elif decision is Decision.PAUSE:
                new_state = TrialState.RUNNING
            elif decision is Decision.STOP:
                new_state = TrialState.PRUNED
            else:
                new_state = TrialState.COMPLETE
            seg_cost = None if result is None else float(result.cost_s)
            cost = (t.cost_s or 0.0) + (seg_cost or 0.0)
            event = SchedulerEvent(
                t.number, "result", budget, score, decision.value,
                nxt if decision is Decision.CONTINUE else None, seg_cost,
            )  # fmt: skip
            metrics = {} if result is None else dict(result.metrics)
            test_metrics = {} if result is None else dict(result.test_metrics)
            stored = self.storage.store_segment(
                t, new_state, event, metrics=metrics, test_metrics=test_metrics,
                values=values if new_state is not TrialState.FAILED else None, cost_s=cost,
                budget=budget, error=reason if new_state is TrialState.FAILED else None,
                intermediate=None if result is None else curve_steps(result.curve),
            )  # fmt: skip
            self._replace(stored)
            state.last_budget[t.number] = budget
            if new_state is TrialState.FAILED:
                _logger.warning(
                    "Trial %d of study %s failed at budget %g: %s",
                    t.number, self.name, budget, reason,
                )  # fmt: skip
            self.strategy.tell_intermediate(
                _segment_observation(t.arch, t.number, score, budget, metrics)
            )
            if new_state is TrialState.RUNNING:
                if decision is Decision.CONTINUE and nxt is not None:
                    state.ready[t.number] = (nxt, budget)
                else:
                    state.paused.add(t.number)
            for n in sched.pending_stops():
                stop_paused(n)
            if stored.state.finished:
                settle(stored)
            if fatal and exc is not None:
                raise exc
            self._raise_missing(missing, reason, metrics, test_metrics)

        def put_back(t: Trial, b: float, r: float | None) -> None:
            # A segment that did not run: a trial past its first segment runs it again next
            # (from its last stored budget; a stored promotion replays the same way on
            # resume); a first segment goes back to the queue.
            current = self._stored_trial(t.number)
            if current.state is not TrialState.RUNNING:
                return
            if t.number in state.last_budget:
                state.ready[t.number] = (b, r)
            else:
                self._abandon(current)

        # Segments held in the executor beyond its workers start the moment a worker frees,
        # instead of after this loop has stored a result and decided what comes next; ASHA
        # promotes asynchronously, so deciding one segment earlier is its own rule.
        capacity = executor.n_workers + executor.queue_ahead
        submitting: tuple[Trial, float, float | None] | None = None
        try:
            while True:
                while len(futures) < capacity:
                    submitting = next_segment()
                    if submitting is None:
                        break
                    t, b, r = submitting
                    if beat is not None:
                        beat.add(t)
                    future = executor.submit(t.arch, b, resume_from=r if resumes else None)
                    futures[future] = submitting
                    submitting = None
                if not going():
                    # A timeout or stop starts nothing more: withdraw what has not started.
                    for future in [f for f in futures if f.cancel()]:
                        put_back(*futures.pop(future))
                if not futures:
                    return False
                left = _seconds_left(deadline)
                wait(list(futures), timeout=left, return_when=FIRST_COMPLETED)
                for future in [f for f in futures if f.done()]:
                    t, b, r = futures.pop(future)
                    segment_done(self._stored_trial(t.number), b, r, future)
                if deadline is not None and futures and left == 0.0:
                    # The executor is closed without waiting next, which stops these workers.
                    for future, (t, b, r) in list(futures.items()):
                        future.cancel()
                        del futures[future]
                        if beat is not None:
                            beat.discard(t)
                        put_back(t, b, r)
                    return True
        except BaseException:
            # Segments cut off run again on resume (see put_back).
            cut = [*futures.values(), *([submitting] if submitting is not None else [])]
            for future in futures:
                future.cancel()
            for t, b, r in cut:
                put_back(t, b, r)
            raise

    # ------------------------------------------------------------ reporting
    def trials_dataframe(self, intermediate: bool = False) -> Any:
        """All trials as a pandas DataFrame, one row per trial.

        Columns: ``number, state, arch`` (space notation), ``value``
        (or ``values_0``, ``values_1`` ...), one ``arch.<decision>`` column per
        decision, ``metrics.<name>``, ``test_metrics.<name>``, ``cost_s``,
        ``seed``, ``error``, ``started_at``, ``finished_at``, and with a scheduler
        ``budget`` (the epochs the trial's metrics were measured at).

        With ``intermediate=True``, one row per (trial, step) instead, with the
        trial's columns repeated and ``step``, ``elapsed_s`` and one
        ``values.<metric>`` column per intermediate metric; a trial that reported
        no step keeps one row, its step columns empty.
        """
        import pandas as pd

        steps = self.storage.get_values(self._record.id) if intermediate else {}

        rows = []
        for t in self._trials:
            row: dict[str, Any] = {
                "number": t.number,
                "state": t.state.value,
                "arch": self.space.format(t.arch),
            }
            if len(self.objectives) == 1:
                row["value"] = t.value
            else:
                for i in range(len(self.objectives)):
                    row[f"values_{i}"] = None if t.values is None else t.values[i]
            for k, v in t.arch.items():
                row[f"arch.{k}"] = v
            for k, v in t.metrics.items():
                row[f"metrics.{k}"] = v
            for k, v in t.test_metrics.items():
                row[f"test_metrics.{k}"] = v
            row.update(
                cost_s=t.cost_s, seed=t.seed, error=t.error,
                started_at=t.started_at, finished_at=t.finished_at,
            )  # fmt: skip
            if self.scheduler is not None:
                row["budget"] = t.budget
            if not intermediate:
                rows.append(row)
                continue
            points: list[tuple[int | None, dict[str, float], float | None]] = [
                *steps.get(t.number, [])
            ]
            for step, vals, elapsed in points or [(None, {}, None)]:
                per_step = {**row, "step": step, "elapsed_s": elapsed}
                per_step.update({f"values.{k}": v for k, v in vals.items()})
                rows.append(per_step)
        return pd.DataFrame(rows)

    def set_user_attr(self, key: str, value: Any) -> None:
        self.storage.set_study_user_attr(self._record.id, key, value)
        attrs = dict(self._record.user_attrs)
        attrs[key] = value
        object.__setattr__(self._record, "user_attrs", attrs)

    # ------------------------------------------------------------ internals
    def _observation(self, t: Trial) -> Observation:
        scores = None
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED) and t.values is not None:
            scores = tuple(
                v if d == "maximize" else -v
                for v, (_, d) in zip(t.values, self.objectives, strict=True)
            )
        single = len(self.objectives) == 1
        return Observation(
            arch=t.arch,
            score=scores[0] if scores is not None and single else None,
            scores=scores,
            metrics=dict(t.metrics),
            number=t.number,
            budget=t.budget,
        )

    def _replace(self, trial: Trial) -> None:
        for i in range(len(self._trials) - 1, -1, -1):
            if self._trials[i].number == trial.number:
                was = self._trials[i].state is TrialState.WAITING
                self._n_waiting += (trial.state is TrialState.WAITING) - was
                self._trials[i] = trial
                return
        self._n_waiting += trial.state is TrialState.WAITING
        self._trials.append(trial)
        self._trials.sort(key=lambda t: t.number)

    def _count_waiting(self) -> int:
        return sum(1 for t in self._trials if t.state is TrialState.WAITING)

    def _requeue_interrupted(self, max_retries: int) -> list[TrialState]:
        """Settle trials left RUNNING by a dead worker: queued again, or FAILED past the limit.

        A worker is dead when it is a process of this host that no longer exists, or when
        it kept a heartbeat (optimize does) and has been silent longer than the grace it
        stored with the trial, on any host. A requeued trial keeps its number and
        architecture, so a resumed study evaluates exactly what an uninterrupted one would
        have. Returns the new states of the trials settled here.
        """
        host = socket.gethostname()
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        settled = []
        for t, beat_at in self.storage.running_trials(self._record.id):
            if t.worker == self._worker:
                continue
            w_host, _, pid = (t.worker or "").rpartition(":")
            grace = t.user_attrs.get(_GRACE_ATTR)
            if w_host == host and pid.isdigit() and not _pid_alive(int(pid)):
                reason = f"dead process {t.worker}"
            elif (
                isinstance(grace, int | float)
                and beat_at is not None
                and (silent := (now - beat_at).total_seconds()) > grace
            ):
                reason = (
                    f"silent worker {t.worker} (no heartbeat for {silent:.0f} s, grace {grace:g} s)"
                )
            else:
                continue
            state = self.storage.recover_trial(t, beat_at, max_retries=max_retries, reason=reason)
            if state is None:
                continue
            settled.append(state)
            then = "it is queued again" if state is TrialState.WAITING else "it is marked FAILED"
            _logger.warning(
                "Study %s: trial %d was left running by %s; %s.", self.name, t.number, reason, then
            )
        return settled

    def _catch_up(self) -> None:
        """Re-read the trials after some were settled, telling the strategy new failures."""
        told = {t.number for t in self._trials if t.state.finished}
        self.refresh()
        for t in self._trials:
            if t.state.finished and t.number not in told:
                self.strategy.tell(self._observation(t))

    def _set_memory(self) -> None:
        """Hand the strategy its past tasks (read from the memory) and the task's descriptors."""
        # The strategy gets past tasks as plain data, never the storage: the study reads them.
        past, descriptors = _read_memory(
            self.storage,
            self._record,
            self.space,
            self.memory,
            getattr(self.strategy, "memory_rows_per_task", None),
            getattr(self.strategy, "memory_max_tasks", None),
        )
        self.strategy.set_memory(past, descriptors=descriptors, task=self._record.task.name)

    def _check_task(self, ev: Evaluator) -> None:
        name = getattr(ev, "task_name", None)
        if name and self.task != self.name and name != self.task:
            warnings.warn(
                f"Study {self.name!r} records task {self.task!r} but the evaluator measures "
                f"{name!r}; results of two tasks would be mixed in one study. Create a study "
                "per task.",
                UserWarning,
                stacklevel=3,
            )
        desc = ev.task_descriptors()
        if desc and any(self._record.task.descriptors.get(k) != v for k, v in desc.items()):
            task = self.storage.get_or_create_task(self.task, desc)
            object.__setattr__(self._record, "task", task)
            if self.strategy.uses_memory and not self._trials:
                # Before the first trial the strategy can still take the descriptors the
                # evaluator brought, so this study asks what a re-opened one (which reads them
                # from the storage) would ask.
                self._set_memory()


def _segment_observation(
    arch: Architecture,
    number: int,
    score: float | None,
    budget: float | None,
    metrics: Mapping[str, float] | None = None,
) -> Observation:
    """A scheduled trial's result at one budget (schedulers rank by one objective)."""
    return Observation(
        arch=arch, score=score, scores=None if score is None else (score,),
        metrics=dict(metrics or {}), number=number, budget=budget,
    )  # fmt: skip


def _check_max_retries(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            f"max_retries must be an int >= 0 (0: a trial whose worker died is FAILED at "
            f"once); got {value!r}."
        )
    return value


def curve_steps(curve: Sequence[Mapping[str, float]]) -> list[StepValues]:
    """A learning curve (:attr:`Result.curve`) as intermediate values.

    The step is a point's ``epoch`` (else its position, from 1), the elapsed time its
    ``train_time_s`` (or ``elapsed_s``); every other entry is a value. A step given
    twice keeps its last point.

    Examples
    --------
    >>> curve_steps([{"epoch": 1.0, "valid_accuracy": 0.5, "train_time_s": 2.0}])
    [(1, {'valid_accuracy': 0.5}, 2.0)]
    """
    out: dict[int, StepValues] = {}
    for i, point in enumerate(curve):
        epoch = point.get("epoch")
        elapsed = point.get("train_time_s", point.get("elapsed_s"))
        vals = {
            str(k): float(v)
            for k, v in point.items()
            if k not in ("epoch", "train_time_s", "elapsed_s")
        }
        step = i + 1 if epoch is None else int(epoch)
        out[step] = (step, vals, None if elapsed is None else float(elapsed))
    return sorted(out.values(), key=lambda p: p[0])


def create_study(
    *,
    space: SearchSpace | None = None,
    name: str | None = None,
    storage: str | RDBStorage | None = None,
    strategy: str | Strategy = "random",
    seed: int | None = None,
    metric: str | Sequence[str] = "valid_accuracy",
    direction: str | Sequence[str] = "maximize",
    task: str | None = None,
    task_descriptors: Mapping[str, Any] | None = None,
    strategy_settings: Mapping[str, Any] | None = None,
    load_if_exists: bool = False,
    user_attrs: Mapping[str, Any] | None = None,
    memory: str | RDBStorage | None = None,
    scheduler: str | Scheduler | None = None,
    scheduler_settings: Mapping[str, Any] | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
) -> Study:
    """Create a study (stored at once) and return it.

    Parameters
    ----------
    space
        The search space (e.g. ``bench.space``).
    name
        Unique name within the storage; generated when None.
    storage
        SQLAlchemy URL or :class:`RDBStorage`. None means ``$METANAS_STORAGE``, else a
        per-user SQLite file, ``~/.local/share/metanas/metanas.db`` (under
        ``$XDG_DATA_HOME`` when set): the study is written there, kept after the
        process ends and found again by name (an INFO log line names the file the
        first time). Pass ``"sqlite://"`` for a study in memory only.
    strategy
        Registered strategy name (``"random"``, ``"evolution"``, ``"local"``,
        ``"tpe"``, ...) or a Strategy instance.
    seed
        Seed of the whole study (drawn and stored when None).
    metric, direction
        The objective(s): a metric name and ``"maximize"``/``"minimize"``, lists
        of both, or a spec ``"valid_accuracy:max,latency:min"``.
    task
        Name of the task searched (e.g. ``"nas-bench-graph/cora"``); past
        studies are grouped by task for meta-learning. Defaults to the study name.
    task_descriptors
        Meta-features of the task, stored with it.
    strategy_settings
        Keyword settings of the strategy (e.g. ``{"population_size": 20}``).
    load_if_exists
        Return the stored study of that name instead of failing.
    memory
        The experience memory (SQLAlchemy URL or storage) of a strategy that
        learns from past tasks (``Strategy.uses_memory``, such as ``"meta"``):
        the study reads it and hands the strategy the past tasks. None: the
        study's own storage. Stored with the study (as the ``memory`` entry
        of its strategy settings), so a re-opened study reads the same
        memory. The study's own task is never part of its memory. A
        scheduler with ``uses_memory`` (``"curve"``) reads past learning
        curves from the same memory.
    scheduler
        A multi-fidelity scheduler: a registered name (``"asha"``, ``"sh"``,
        ``"hyperband"``, ``"median"``, ...) or a
        :class:`~metanas.schedulers.Scheduler`. Trials then train in segments
        (budgets in epochs) and the scheduler stops or promotes them (see
        docs/multifidelity.md). None: every trial at the full budget.
    scheduler_settings
        Settings of a scheduler given by name; ``max_budget`` is required
        (e.g. ``{"min_budget": 1, "max_budget": 27, "eta": 3}``). Stored with
        the study; re-opening it with other settings is refused.
    max_retries
        Times a trial whose worker died is queued again before it is FAILED: for the
        dead trials found when an existing study is opened (``load_if_exists``), and
        the default of :meth:`Study.optimize`'s ``max_retries``. Not stored.
    """
    if space is None:
        raise ValueError(
            "create_study needs space=...; for a benchmark pass bench.space, e.g. "
            "metanas.benchmarks.NasBenchGraph('cora').space."
        )
    if not isinstance(space, SearchSpace):
        raise TypeError(f"space must be a metanas SearchSpace; got {type(space).__name__}.")
    store = get_storage(storage)
    objectives = parse_objectives(metric, direction)
    if name is None:
        name = f"study-{os.urandom(4).hex()}"
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string; got {name!r}.")
    from metanas.exceptions import DuplicatedStudyError, StudyNotFoundError

    sched = None if scheduler is None else _build_scheduler(scheduler, scheduler_settings, seed=0)
    if sched is None and scheduler_settings:
        raise ValueError(
            f"scheduler_settings={dict(scheduler_settings)!r} were given without a scheduler. "
            "Pass scheduler='asha' (or another name), or leave the settings out."
        )
    if sched is not None and len(objectives) > 1:
        raise ValueError(
            f"A scheduler ranks trials by one objective; got {len(objectives)} "
            f"({[m for m, _ in objectives]}). Leave scheduler out, or search one metric."
        )

    def load_existing() -> Study:
        study = load_study(name, storage=store, space=space, memory=memory, max_retries=max_retries)
        if study.objectives != objectives:
            raise ValueError(
                f"Study {name!r} exists with objectives {study.objectives!r}, not "
                f"{objectives!r}. Use another name, or the stored objectives."
            )
        if scheduler is not None:
            stored = _scheduler_spec(study.scheduler)
            given = _scheduler_spec(sched)
            if stored != given:
                raise ValueError(
                    f"Study {name!r} exists with the scheduler {stored!r}, not {given!r}: its "
                    "stored decisions were made by the stored one. Resume with the stored "
                    "scheduler settings (or leave scheduler out), or use another name."
                )
        return study

    if load_if_exists:
        try:
            return load_existing()
        except StudyNotFoundError:
            pass
    strategy_cls = (
        type(strategy) if isinstance(strategy, Strategy) else get_strategy_class(strategy)
    )
    scheduler_memory = None
    if sched is not None and sched.uses_memory and not strategy_cls.uses_memory:
        # The memory is the scheduler's alone: the strategy must not be handed it.
        scheduler_memory = memory.url if isinstance(memory, RDBStorage) else memory
        memory = None
    settings_in, memory_url = _with_memory(strategy, dict(strategy_settings or {}), memory)
    seed = resolve_seed(seed)
    strat = create_strategy(strategy, space, seed=seed, **settings_in)
    if len(objectives) > 1 and not strat.multi_objective:
        raise ValueError(
            f"Strategy {strategy!r} optimises one objective but {len(objectives)} were given "
            f"({[m for m, _ in objectives]}). Use a multi-objective strategy: 'nsga2' or 'random'."
        )
    strategy_name = strat.registered_name
    if strategy_name is None:
        raise ValueError(
            f"Strategy {type(strat).__name__} is not registered, so a stored study could not "
            "rebuild it. Decorate it with @metanas.register_strategy('name')."
        )
    task_record = store.get_or_create_task(task or name, task_descriptors)
    settings = strat.get_settings()
    if strat.uses_memory:
        settings = {"memory": memory_url, **settings}
    sched_name, sched_settings = None, None
    if sched is not None:
        sched_name, sched_settings = _scheduler_spec(sched) or (None, None)
        if scheduler_memory is not None:
            sched_settings = {**(sched_settings or {}), "memory": scheduler_memory}
        memory_url = memory_url if memory_url is not None else scheduler_memory
        if not isinstance(scheduler, Scheduler):
            sched = _build_scheduler(sched_name or "", _without_memory(sched_settings), seed=seed)
    try:
        record = store.create_study(
            name=name, task=task_record, space=space.to_config(), strategy=strategy_name,
            strategy_settings=settings, objectives=objectives, seed=seed, user_attrs=user_attrs,
            scheduler=sched_name, scheduler_settings=sched_settings,
        )  # fmt: skip
    except DuplicatedStudyError:
        if not load_if_exists:
            raise
        # Workers started together: another one created the study after our load found none.
        return load_existing()
    study = Study(
        storage=store, record=record, space=space, strategy=strat, memory=memory_url,
        scheduler=sched, max_retries=max_retries,
    )  # fmt: skip
    study._created_here = True
    return study


def _scheduler_seed(seed: int) -> int:
    # A key no trial number takes (trials derive (seed, number)).
    return derive_seed(seed, 0, 1)


def _build_scheduler(
    scheduler: str | Scheduler, settings: Mapping[str, Any] | None, *, seed: int
) -> Scheduler:
    """A scheduler by name (seeded from the study seed) or the instance given."""
    if isinstance(scheduler, Scheduler):
        return create_scheduler(scheduler, **dict(settings or {}))
    if not isinstance(scheduler, str):
        raise TypeError(
            "scheduler must be a registered scheduler name ('asha', 'sh', 'hyperband', "
            f"'median') or a metanas.schedulers.Scheduler; got {type(scheduler).__name__}."
        )
    given = dict(settings or {})
    if "seed" in given:
        raise ValueError(
            "scheduler_settings may not hold a seed: a study seeds its scheduler from the "
            "study seed. Pass seed=... to create_study."
        )
    return create_scheduler(scheduler, seed=_scheduler_seed(seed), **given)


def _scheduler_spec(sched: Scheduler | None) -> tuple[str, dict[str, Any]] | None:
    """``(registered name, settings)`` of a scheduler, as stored with a study."""
    if sched is None:
        return None
    name = sched.registered_name
    if name is None:
        raise ValueError(
            f"Scheduler {type(sched).__name__} is not registered, so a stored study could not "
            "rebuild it. Decorate it with @metanas.schedulers.register_scheduler('name')."
        )
    return name, sched.settings()


def _without_memory(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (settings or {}).items() if k != "memory"}


def _check_stored_archs(space: SearchSpace, study: str, trials: Sequence[Trial]) -> None:
    """Refuse a study whose stored architectures are not of its space (an old or hand-edited store).

    Every later use (strategy warm start, ``format``, ``key``) would fail deep inside with a
    KeyError. Only the decisions and choices are checked: constraints are code, and a user may
    load a study with changed ones.
    """
    from metanas.exceptions import InvalidArchitectureError

    seen: set[Architecture] = set()
    for t in trials:
        if t.arch in seen:
            continue
        try:
            space._check_choices(t.arch)
        except InvalidArchitectureError as exc:
            raise InvalidArchitectureError(
                f"Study {study!r} cannot be opened: its trial {t.number} has the architecture "
                f"{t.arch.to_string()[:200]}, which is not of the study's space "
                f"({str(exc).rstrip('.')}). The store was written by an older metanas or edited "
                "by hand. Delete the study "
                f"(metanas studies delete {study!r} --yes) and import it again from a "
                "corrected memory file, or search again."
            ) from exc
        seen.add(t.arch)


def load_study(
    name: str,
    *,
    storage: str | RDBStorage | None = None,
    space: SearchSpace | None = None,
    memory: str | RDBStorage | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
) -> Study:
    """Re-open a stored study; its strategy is rebuilt from the stored trials.

    ``optimize()`` on the returned study adds trials after the stored ones.
    Pass ``space`` when the space has constraints (they are code, not stored). A
    :class:`~metanas.spaces.TableSpace` read by ``TabularBenchmark.from_csv`` is read again
    from the CSV its study recorded (:func:`~metanas.spaces.table_space_from_config`; a
    moved, changed or unrecorded file raises :class:`~metanas.spaces.TableSourceError`).
    ``memory`` replaces the stored experience memory of a strategy that reads
    one (``"meta"``) for this session; it is not stored. ``max_retries``: times a
    trial whose worker died is queued again before it is FAILED, for the dead
    trials found now and as the default of ``optimize``'s.
    """
    store = get_storage(storage)
    record = store.get_study(name)
    if space is None and record.space.get("type") == "table":
        # A table's architectures are not stored: read them again from the CSV it recorded.
        space = table_space_from_config(record.space)
    elif space is None:
        space = space_from_config(record.space)
    else:
        stored = dict(record.space)
        given = space.to_config()
        # A table space is stored by its base space and table name: compare those.
        if stored.get("type") == "table" and given.get("type") == "table":
            stored, given = stored["base"], given["base"]
        elif given.get("type") == "table" and stored.get("type") != "table":
            given = given["base"]
        if stored != given:
            raise ValueError(
                f"The space given to load_study differs from the one study {name!r} was created "
                f"with ({stored!r}). Pass the original space, or none."
            )
    run = record.user_attrs.get("stored_run")
    if isinstance(run, dict):  # a stored one-shot/few-shot run: readable, not resumable
        placeholder = _StoredRun(space, name, run)
        return Study(
            storage=store, record=record, space=space, strategy=placeholder,
            max_retries=max_retries,
        )  # fmt: skip
    settings = dict(record.strategy_settings)
    if memory is not None:
        settings["memory"] = None  # replaced for this session, not stored
    settings, memory_url = _with_memory(record.strategy, settings, memory)
    strat = create_strategy(record.strategy, space, seed=record.seed, **settings)
    sched = None
    if record.scheduler is not None:
        stored = dict(record.scheduler_settings or {})
        sched = _build_scheduler(record.scheduler, _without_memory(stored), seed=record.seed)
        if memory_url is None and sched.uses_memory:
            url = stored.get("memory")
            memory_url = get_storage(memory).url if memory is not None else url
    return Study(
        storage=store, record=record, space=space, strategy=strat, memory=memory_url,
        scheduler=sched, max_retries=max_retries,
    )  # fmt: skip


class _StoredRun(Strategy):
    """Placeholder strategy of a stored one-shot/few-shot run: asking it explains what to run."""

    def __init__(self, space: SearchSpace, name: str, run: Mapping[str, Any]) -> None:
        super().__init__(space)
        self._name, self._run = name, run

    def ask(self) -> Architecture:
        from metanas._stored_runs import stored_run_hint

        raise MetanasError(stored_run_hint(self._name, self._run))

    def tell(self, obs: Observation) -> None:
        pass


def _with_memory(
    strategy: str | Strategy, settings: dict[str, Any], memory: str | RDBStorage | None
) -> tuple[dict[str, Any], str | None]:
    """Split the memory URL off the strategy settings: ``(settings, URL or None)``.

    The URL is ``memory`` or the settings' ``"memory"`` entry (where it is
    stored, and where studies of earlier versions stored it); only a strategy
    with ``uses_memory`` may have one.
    """
    if memory is None:
        url = None
    elif isinstance(memory, RDBStorage):
        url = memory.url
    elif isinstance(memory, str) and memory.strip():
        url = memory
    else:
        raise TypeError(
            "memory must be a SQLAlchemy URL such as 'sqlite:///experience.db' or an RDBStorage; "
            f"got {memory!r}."
        )
    cls = type(strategy) if isinstance(strategy, Strategy) else get_strategy_class(strategy)
    if not cls.uses_memory:
        if url is not None:
            name = strategy if isinstance(strategy, str) else type(strategy).__name__
            raise ValueError(
                f"Strategy {name!r} does not read an experience memory, so memory= cannot be "
                "used with it. Use strategy='meta', or leave memory out."
            )
        return settings, None  # a "memory" setting is then an unknown setting, reported as such
    given = settings.pop("memory", None)
    if given is not None and (not isinstance(given, str) or not given.strip()):
        raise ValueError(
            "memory must be a SQLAlchemy URL such as 'sqlite:///experience.db', or None for "
            f"the study's own storage; got {given!r}."
        )
    if given is not None and url is not None and given != url:
        raise ValueError(
            f"memory is given twice, differently: memory={url!r} and "
            f"strategy_settings['memory']={given!r}. Give it once."
        )
    return settings, url if url is not None else given


def _unnamed_task(storage: RDBStorage, task: str, memory: str) -> bool:
    """True (with a warning) when the study was created without ``task=``.

    Its task is then just its study name, so ``memory`` cannot tell this search's own data
    set from others (a re-run under another study name would be "transferred" from): the
    study searches without a memory rather than risk it.
    """
    if not any(r.name == task for r in storage.list_study_records([task])):
        return False
    _logger.warning(
        "Study %s: the study has no task name (create_study(task=...)), so its own task "
        "cannot be excluded from %s; searching cold. Pass task='<data set>' to learn "
        "from past tasks.",
        task, memory,
    )  # fmt: skip
    return True


def _read_memory(
    storage: RDBStorage,
    record: StudyRecord,
    space: SearchSpace,
    memory: str | None,
    max_rows: int | None = None,
    max_tasks: int | None = None,
) -> tuple[dict[str, TaskHistory], Mapping[str, Any]]:
    """The past tasks a study of ``record``'s task learns from, and the task's descriptors.

    From ``memory`` (a URL), else the study's own storage; always without the
    study's own task, restricted to ``space`` and the first objective; at most about
    ``max_rows`` trials of each past task (the strategy's ``memory_rows_per_task``), and
    only until ``max_tasks`` are used, the most similar first (``memory_max_tasks``).
    """
    from metanas.meta import ExperienceMemory

    task = record.task.name
    if _unnamed_task(storage, task, "the experience memory"):
        return {}, {}
    if memory is not None:
        _check_memory_exists(memory)
    metric, direction = record.objectives[0]
    own: Mapping[str, Any] = {}
    for rec in storage.list_tasks():
        if rec.name == task:
            own = rec.descriptors
    entries = ExperienceMemory(memory if memory is not None else storage).past_tasks(
        task, metric=metric, direction=direction, space=space, min_evaluations=3,
        metrics=record.strategy_settings.get("memory_metrics"), max_rows_per_task=max_rows,
        max_tasks=max_tasks, descriptors=own,
    )  # fmt: skip
    past: dict[str, TaskHistory] = {}
    for e in entries:
        if e.used and e.history is not None:
            past[e.task] = e.history
            if e.metric != metric:
                _logger.info(
                    "Study %s: past task %s transfers its metric %r (%s) on a rank scale",
                    record.name, e.task, e.metric, e.direction,
                )  # fmt: skip
        elif e.in_space:
            # A memory of this space that is not used is worth a warning: the user may
            # expect transfer and get a cold search (a metric name differs, too few results).
            _logger.warning(
                "Study %s: past task %s of the experience memory is skipped: %s.",
                record.name, e.task, e.reason,
            )  # fmt: skip
    return past, own


def _remember_in_memory(study: Study) -> None:
    """A growing memory: add a finished search of a separate memory's user to that memory.

    Only for a strategy that reads a memory (``remember`` setting true) whose memory is
    another store than the study's own (in its own store the trials are already there).
    """
    url = study.memory
    if url is None or not getattr(study.strategy, "remember", False) or url == study.storage.url:
        return
    if study.task == study.name:  # no task name: it could not be told from other searches
        return
    from metanas.meta import ExperienceMemory

    n = ExperienceMemory(url).remember(study.storage, study.name)
    _logger.info("Study %s: %d trial(s) added to the experience memory %s", study.name, n, url)


def _check_memory_exists(url: str) -> None:
    """A memory is read, never created: a ``sqlite:///`` file that is not there is a typo."""
    if not url.startswith("sqlite:") or "://" not in url:
        return
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        database = make_url(url).database
    except ArgumentError:
        return  # get_storage reports a malformed URL with its own message
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    if not Path(database).expanduser().exists():
        raise ValueError(
            f"memory {url!r} does not exist: no past tasks to learn from. Check the path, or "
            "leave memory=None to use the study's own storage."
        )
