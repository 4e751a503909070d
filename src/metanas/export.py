"""Export the best model of a study (weights, architecture, ONNX) and load it back in one line."""

from __future__ import annotations

import json
import math
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from metanas._torch import require_torch
from metanas.spaces.architecture import Architecture
from metanas.spaces.base import SearchSpace, space_from_config
from metanas.spaces.trainable import require_trainable

if TYPE_CHECKING:
    from metanas.study import Study
    from metanas.tasks import Task

__all__ = ["ExportedModel", "default_export_dir", "export_model", "load_model"]

_FORMAT = 1
_LOADER = """\
# Load this model: pip install metanas, then
import metanas; model = metanas.load_model({path!r})  # model.predict(X_raw), model.module (torch)
"""


def _require_torch() -> Any:
    return require_torch("Exporting a model")


def default_export_dir(study_name: str) -> Path:
    """``./STUDY-model``, made of the study name's letters, digits, ``-``, ``_`` and ``.`` only.

    A study name may hold ``/`` (``nas-bench-graph/cora-rea``), and one from an old
    store may read as a path (``../x``, ``/etc``): the folder stays a child of the
    current one whatever the name.

    Examples
    --------
    >>> default_export_dir("nas-bench-graph/cora-rea").as_posix()
    'nas-bench-graph_cora-rea-model'
    >>> default_export_dir("../../etc").as_posix()
    'etc-model'
    """
    safe = re.sub(r"[^\w.-]+", "_", str(study_name)).strip("._-")[:80]
    return Path(f"{safe or 'study'}-model")


def export_model(
    study: Study,
    path: str | Path,
    *,
    task: Task | None = None,
    trial: int | None = None,
    onnx: bool = True,
) -> Path:
    """Retrain a trial's architecture exactly as the search did and write it to ``path``.

    Training is seeded per architecture, so the retrained model is the one the
    search measured (checked: its validation accuracy must match the stored
    one). Written: ``model.pt`` (weights), ``architecture.json`` (space,
    architecture, input shape, classes, metrics), ``preprocess.pkl`` (the
    fitted input transformation), ``model.onnx`` (when ``onnx``) and
    ``load.py`` with the one-line loader.

    Parameters
    ----------
    study
        A study searched with :class:`~metanas.evaluation.train.TrainEvaluator`.
    path
        Output directory (created).
    task
        The task searched; needed only when the study's task was built from
        in-memory arrays (others are rebuilt from the stored source).
    trial
        Trial number to export; default the best trial (for several
        objectives, the Pareto member best on the first objective).
    onnx
        Also write ``model.onnx`` (needs ``pip install "metanas[export]"``).
    """
    torch = _require_torch()
    from metanas.evaluation.train import TrainEvaluator, arch_seed
    from metanas.tasks import rebuild_task

    attrs = study.user_attrs
    settings = attrs.get("evaluator")
    if not isinstance(settings, dict):
        raise ValueError(
            f"Study {study.name!r} has no stored training settings: only studies that trained "
            "models (metanas search --data ..., NASClassifier) can be exported."
        )
    if task is None:
        source = attrs.get("task_source") or {}
        if not source or source.get("kind") == "arrays":
            raise ValueError(
                f"Study {study.name!r} searched a task built from in-memory arrays, which cannot "
                "be rebuilt; pass task=<the metanas.tasks.Task you searched>."
            )
        task = rebuild_task(source)
    picked = _pick_trial(study, trial)
    evaluator = TrainEvaluator.from_settings(task, study.space, settings, progress=False)
    model, result = evaluator.train(picked.arch, on="train")
    stored = picked.metrics.get("valid_accuracy")
    got = result.metrics.get("valid_accuracy")
    if stored is not None and got is not None and abs(float(stored) - float(got)) > 1e-6:
        import warnings

        warnings.warn(
            f"The retrained model of trial {picked.number} scores valid_accuracy {got:.4f}, "
            f"not the stored {stored:.4f} (another machine or torch version trains slightly "
            "differently); exporting the retrained model.",
            UserWarning,
            stacklevel=2,
        )
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(
            f"Cannot create the output folder {str(out)!r}: {exc.strerror or exc}. Choose "
            "another folder (--out), one you may write to."
        ) from exc
    model = model.cpu().eval()
    torch.save(model.state_dict(), out / "model.pt")
    meta = {
        "format": _FORMAT,
        "study": study.name,
        "trial": picked.number,
        "space": study.space.to_config(),
        "arch": dict(picked.arch),
        "arch_string": study.space.format(picked.arch),
        "input_shape": list(task.input_shape),
        "n_classes": task.n_classes,
        "classes": [c.item() if isinstance(c, np.generic) else c for c in task.classes],
        "model_seed": arch_seed(evaluator.seed, study.space, picked.arch),
        "metrics": dict(result.metrics),
        "test_metrics": dict(result.test_metrics),
    }
    (out / "architecture.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    with open(out / "preprocess.pkl", "wb") as fh:
        pickle.dump(task.preprocessor, fh)
    (out / "load.py").write_text(_LOADER.format(path=str(out.resolve())))
    if onnx:
        export_onnx(model, task.input_shape, out / "model.onnx")
    return out


def export_onnx(model: Any, input_shape: tuple[int, ...], path: str | Path) -> Path:
    """Write ``model`` as ONNX with a dynamic batch dimension (input ``x``, output ``logits``)."""
    torch = _require_torch()
    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
    except ImportError as exc:
        raise ImportError('ONNX export needs onnx: pip install "metanas[export]".') from exc
    example = torch.zeros((2, *input_shape), dtype=torch.float32)
    # The TorchScript-based exporter handles every op of the metanas spaces with a
    # dynamic batch; the dynamo exporter rejects some of them in torch 2.13.
    torch.onnx.export(
        model.eval(), (example,), str(path), input_names=["x"], output_names=["logits"],
        dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False,
    )  # fmt: skip
    return Path(path)


@dataclass
class ExportedModel:
    """A model written by :func:`export_model`, ready to predict on raw inputs."""

    module: Any
    space: SearchSpace
    arch: Architecture
    classes: np.ndarray
    preprocessor: Any
    info: dict[str, Any]

    def transform(self, X: Any) -> np.ndarray:
        """Raw inputs -> the network's inputs (the task's fitted preprocessing)."""
        if self.preprocessor is None:
            return np.asarray(X, dtype=np.float32)
        return np.asarray(self.preprocessor.transform(X), dtype=np.float32)

    def predict_proba(self, X: Any) -> np.ndarray:
        torch = _require_torch()
        x = torch.from_numpy(self.transform(X))
        with torch.inference_mode():
            return np.asarray(torch.softmax(self.module(x), dim=1).numpy())

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.classes[np.argmax(self.predict_proba(X), axis=1)])


def load_model(path: str | Path) -> ExportedModel:
    """Load a directory written by :func:`export_model` (``metanas export``).

    Load only folders you trust (ones you exported, or got from someone you
    trust): the weights ``model.pt`` are read with ``torch.load(weights_only=True)``,
    which runs no code, but the input preprocessing ``preprocess.pkl`` is a pickle,
    and unpickling a crafted file can run any code.

    Parameters
    ----------
    path
        The exported folder.

    Raises
    ------
    FileNotFoundError
        ``path`` holds no ``architecture.json``.
    ValueError
        The folder was written by an export format this metanas does not read.
    """
    torch = _require_torch()
    root = Path(path)
    info_file = root / "architecture.json"
    if not info_file.is_file():
        raise FileNotFoundError(
            f"{str(root)!r} is not an exported metanas model (no architecture.json); export one "
            "with `metanas export STUDY --out DIR`."
        )
    info = json.loads(info_file.read_text())
    if info.get("format") != _FORMAT:
        raise ValueError(
            f"{str(info_file)!r} has export format {info.get('format')!r}; this metanas reads "
            f"format {_FORMAT}. Export the model again with this version."
        )
    space = require_trainable(space_from_config(info["space"]), "load_model")
    arch = space.validate(info["arch"])
    module = space.build_model(
        arch, tuple(info["input_shape"]), int(info["n_classes"]), seed=int(info["model_seed"])
    )
    module.load_state_dict(torch.load(root / "model.pt", map_location="cpu", weights_only=True))
    module.eval()
    preprocessor = None
    pre = root / "preprocess.pkl"
    if pre.is_file():
        with open(pre, "rb") as fh:
            preprocessor = pickle.load(fh)
    return ExportedModel(
        module=module, space=space, arch=arch, classes=np.asarray(info["classes"], dtype=object),
        preprocessor=preprocessor, info=info,
    )  # fmt: skip


def _pick_trial(study: Study, number: int | None) -> Any:
    from metanas.trial import TrialState

    done = study.completed_trials
    if not done:
        raise ValueError(f"Study {study.name!r} has no completed trial to export.")
    if number is not None:
        for t in study.trials:
            if t.number == number:
                if t.state is not TrialState.COMPLETE:
                    raise ValueError(
                        f"Trial {number} of study {study.name!r} is {t.state.value}; export a "
                        "completed trial."
                    )
                return t
        raise ValueError(
            f"Study {study.name!r} has no trial {number}; it has trials 0..{len(study.trials) - 1}."
        )
    if len(study.objectives) == 1:
        return study.best_trial
    direction = study.objectives[0][1]
    front = study.best_trials
    sign = 1.0 if direction == "maximize" else -1.0
    return max(front, key=lambda t: sign * t.values[0] if t.values else -math.inf)
