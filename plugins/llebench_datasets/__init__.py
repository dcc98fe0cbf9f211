"""Built-in plugin: the datasets the LLE papers evaluate on, any folder, and ``sample``.

Components are registered as :class:`~llebench.sdk.Deferred` (name, module:class), so that
loading and listing the plugin imports none of their modules (no torch).
"""

from llebench.sdk import Deferred, hookimpl


@hookimpl
def llebench_register_datasets(register):
    for name, target in (
        ("sample", "llebench_datasets.sample:SampleDataset"),
        ("dicm", "llebench_datasets.folders:DICM"),
        ("lime", "llebench_datasets.folders:LIME"),
        ("mef", "llebench_datasets.folders:MEF"),
        ("npe", "llebench_datasets.folders:NPE"),
        ("vv", "llebench_datasets.folders:VV"),
        ("sice_part2", "llebench_datasets.sice:SICEPart2"),
        ("lol", "llebench_datasets.paired:LOL"),
        ("lolv2_real", "llebench_datasets.paired:LOLv2Real"),
        ("lolv2_synthetic", "llebench_datasets.paired:LOLv2Synthetic"),
        ("lsrw", "llebench_datasets.paired:LSRW"),
        ("folder", "llebench_datasets.custom:FolderDataset"),
    ):
        register(Deferred(name, target))
