"""Built-in plugin: the datasets the LLE papers evaluate on."""

from llebench import hookimpl

from llebench_datasets.folders import DICM
from llebench_datasets.sample import SampleDataset


@hookimpl
def llebench_register_datasets(register):
    register(SampleDataset)
    register(DICM)
