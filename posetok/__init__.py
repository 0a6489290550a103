"""posetok: human poses as compositional tokens (PCT stage 1) for scikit-learn."""

from ._version import __version__
from .impute import PoseImputer
from .models import available_models, pretrained
from .tokenizer import CodebookCollapseWarning, PoseTokenizer
from .training import NonFiniteNetworkError, TrainingDivergedError

__all__ = [
    "PoseTokenizer", "PoseImputer", "CodebookCollapseWarning", "TrainingDivergedError", "NonFiniteNetworkError",
    "pretrained", "available_models", "__version__",
]
