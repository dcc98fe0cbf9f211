"""Built-in plugin: the datasets the LLE papers evaluate on, any folder, and ``sample``."""

from llebench.sdk import hookimpl

from llebench_datasets.custom import FolderDataset
from llebench_datasets.folders import DICM, LIME, MEF, NPE, VV
from llebench_datasets.paired import LOL, LSRW, LOLv2Real, LOLv2Synthetic
from llebench_datasets.sample import SampleDataset
from llebench_datasets.sice import SICEPart2

DATASETS = (SampleDataset, DICM, LIME, MEF, NPE, VV, SICEPart2, LOL, LOLv2Real, LOLv2Synthetic, LSRW, FolderDataset)


@hookimpl
def llebench_register_datasets(register):
    for dataset in DATASETS:
        register(dataset)
