"""Search strategies behind one ask/tell interface."""

from metanas.strategies.base import (
    Observation,
    Strategy,
    available_strategies,
    create_strategy,
    get_strategy_class,
    register_strategy,
)
from metanas.strategies.bo import BOStrategy
from metanas.strategies.bohb import BOHBStrategy
from metanas.strategies.evolution import EvolutionStrategy
from metanas.strategies.local import LocalSearchStrategy
from metanas.strategies.meta import MetaStrategy
from metanas.strategies.metaqnn import MetaQNNStrategy
from metanas.strategies.nsga2 import NSGA2Strategy
from metanas.strategies.random import RandomStrategy
from metanas.strategies.rl import RLStrategy
from metanas.strategies.tpe import TPEStrategy

__all__ = [
    "BOHBStrategy",
    "BOStrategy",
    "EvolutionStrategy",
    "LocalSearchStrategy",
    "MetaStrategy",
    "MetaQNNStrategy",
    "NSGA2Strategy",
    "Observation",
    "RLStrategy",
    "RandomStrategy",
    "Strategy",
    "TPEStrategy",
    "available_strategies",
    "create_strategy",
    "get_strategy_class",
    "register_strategy",
]
