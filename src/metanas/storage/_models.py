"""Tables of the metanas store (SQLAlchemy Core; the Alembic migrations create them)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

tasks = sa.Table(
    "metanas_tasks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("descriptors", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

studies = sa.Table(
    "metanas_studies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("task_id", sa.Integer, sa.ForeignKey("metanas_tasks.id"), nullable=False, index=True),
    sa.Column("space", sa.JSON, nullable=False),
    sa.Column("strategy", sa.String(255), nullable=False),
    sa.Column("strategy_settings", sa.JSON, nullable=False),
    sa.Column("objectives", sa.JSON, nullable=False),
    sa.Column("seed", sa.BigInteger, nullable=False),
    sa.Column("user_attrs", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("scheduler", sa.String(255), nullable=True),
    sa.Column("scheduler_settings", sa.JSON, nullable=True),
)

trials = sa.Table(
    "metanas_trials",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "study_id",
        sa.Integer,
        sa.ForeignKey("metanas_studies.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("arch", sa.Text, nullable=False),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("values", sa.JSON, nullable=True),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("test_metrics", sa.JSON, nullable=False),
    sa.Column("cost_s", sa.Float, nullable=True),
    sa.Column("budget", sa.Float, nullable=True),
    sa.Column("seed", sa.BigInteger, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("worker", sa.String(255), nullable=True),
    sa.Column("user_attrs", sa.JSON, nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=True),
    sa.Column("finished_at", sa.DateTime, nullable=True),
    sa.Column("heartbeat_at", sa.DateTime, nullable=True),
    sa.UniqueConstraint("study_id", "number", name="uq_trial_study_number"),
    sa.Index("ix_trials_study_state", "study_id", "state"),
)

trial_values = sa.Table(
    "metanas_trial_values",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "trial_id",
        sa.Integer,
        sa.ForeignKey("metanas_trials.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("values", sa.JSON, nullable=False),
    sa.Column("elapsed_s", sa.Float, nullable=True),
    sa.UniqueConstraint("trial_id", "step", name="uq_trial_values_trial_step"),
)

# One row per decision of a study's scheduler, in the order made (``id``): a segment's result
# (``kind="result"``), a paused trial promoted (``"promote"``) or stopped (``"stop"``). A resumed
# study replays them into a fresh scheduler.
scheduler_events = sa.Table(
    "metanas_scheduler_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "study_id",
        sa.Integer,
        sa.ForeignKey("metanas_studies.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "trial_id",
        sa.Integer,
        sa.ForeignKey("metanas_trials.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("budget", sa.Float, nullable=False),
    sa.Column("score", sa.Float, nullable=True),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("next_budget", sa.Float, nullable=True),
    sa.Column("cost_s", sa.Float, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Index("ix_scheduler_events_study", "study_id", "id"),
)
