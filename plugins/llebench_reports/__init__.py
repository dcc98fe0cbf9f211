"""Built-in plugin: report layouts (the leaderboard and the SCL-LLE paper's Tables 1-4).

Components are registered as :class:`~llebench.sdk.Deferred` (name, module:class), so that
loading and listing the plugin imports none of their modules (no torch).
"""

from llebench.sdk import Deferred, hookimpl


@hookimpl
def llebench_register_reports(register):
    for name, target in (
        ("leaderboard", "llebench_reports.leaderboard:Leaderboard"),
        ("table1", "llebench_reports.tables:Table1"),
        ("table2", "llebench_reports.tables:Table2"),
        ("table3", "llebench_reports.tables:Table3"),
        ("table4", "llebench_reports.tables:Table4"),
    ):
        register(Deferred(name, target))


@hookimpl
def llebench_register_commands(cli):
    from llebench_reports.userstudy import add_commands

    add_commands(cli)
