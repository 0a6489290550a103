"""posetok: human poses as compositional tokens (PCT stage 1) for scikit-learn."""

from .impute import PoseImputer
from .tokenizer import CodebookCollapseWarning, PoseTokenizer
from .training import TrainingDivergedError

__version__ = "0.1.0"

__all__ = ["PoseTokenizer", "PoseImputer", "CodebookCollapseWarning", "TrainingDivergedError", "__version__"]
