"""Initial schema: tasks, studies, trials.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metanas_tasks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("descriptors", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "metanas_studies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("task_id", sa.Integer, sa.ForeignKey("metanas_tasks.id"), nullable=False),
        sa.Column("space", sa.JSON, nullable=False),
        sa.Column("strategy", sa.String(255), nullable=False),
        sa.Column("strategy_settings", sa.JSON, nullable=False),
        sa.Column("objectives", sa.JSON, nullable=False),
        sa.Column("seed", sa.BigInteger, nullable=False),
        sa.Column("user_attrs", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_metanas_studies_task_id", "metanas_studies", ["task_id"])
    op.create_table(
        "metanas_trials",
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
    )
    op.create_index("ix_trials_study_state", "metanas_trials", ["study_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_trials_study_state", table_name="metanas_trials")
    op.drop_table("metanas_trials")
    op.drop_index("ix_metanas_studies_task_id", table_name="metanas_studies")
    op.drop_table("metanas_studies")
    op.drop_table("metanas_tasks")
