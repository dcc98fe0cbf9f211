"""Built-in plugin: report layouts (the leaderboard and the SCL-LLE paper's Tables 1-4)."""

from llebench.sdk import hookimpl

from llebench_reports.leaderboard import Leaderboard
from llebench_reports.tables import Table1, Table2, Table3, Table4
from llebench_reports.userstudy import add_commands


@hookimpl
def llebench_register_reports(register):
    for report in (Leaderboard, Table1, Table2, Table3, Table4):
        register(report)


@hookimpl
def llebench_register_commands(cli):
    add_commands(cli)
