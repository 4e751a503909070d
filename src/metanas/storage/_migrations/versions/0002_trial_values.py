"""Intermediate values: per-step metrics reported while a trial runs.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metanas_trial_values",
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


def downgrade() -> None:
    op.drop_table("metanas_trial_values")
