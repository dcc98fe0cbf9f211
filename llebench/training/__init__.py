"""Generic training engine: ``llebench train METHOD --config FILE`` (see README.md here).

Public API::

    from llebench.training import Trainer, StepOutput, TrainContext, TrainConfig, train
    from llebench.training.data import ImageFolderTrainSet
"""

from llebench.training.api import StepOutput, TrainContext, Trainer
from llebench.training.config import TrainConfig
from llebench.training.engine import TrainingError, TrainResult, train

__all__ = ["StepOutput", "TrainConfig", "TrainContext", "TrainResult", "Trainer", "TrainingError", "train"]
