"""Built-in plugin: report layouts (the leaderboard and the SCL-LLE paper's Tables 1-4)."""

from llebench import hookimpl

from llebench_reports.leaderboard import Leaderboard
from llebench_reports.tables import Table1, Table2, Table3, Table4


@hookimpl
def llebench_register_reports(register):
    for report in (Leaderboard, Table1, Table2, Table3, Table4):
        register(report)
