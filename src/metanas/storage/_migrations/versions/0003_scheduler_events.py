"""Multi-fidelity: the study's scheduler and the scheduler's stored decisions.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns: SQLite adds them without rebuilding the table, old studies read None.
    op.add_column("metanas_studies", sa.Column("scheduler", sa.String(255), nullable=True))
    op.add_column("metanas_studies", sa.Column("scheduler_settings", sa.JSON, nullable=True))
    op.create_table(
        "metanas_scheduler_events",
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


def downgrade() -> None:
    op.drop_table("metanas_scheduler_events")
    with op.batch_alter_table("metanas_studies") as batch:
        batch.drop_column("scheduler_settings")
        batch.drop_column("scheduler")
