"""Built-in plugin: report layouts."""

from llebench import hookimpl

from llebench_reports.leaderboard import Leaderboard


@hookimpl
def llebench_register_reports(register):
    register(Leaderboard)
