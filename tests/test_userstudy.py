"""``llebench userstudy import``: ratings CSV -> user_study rows -> Table 1's U.S. column."""

from __future__ import annotations

import pandas as pd
import pytest

from llebench.cli import main
from llebench.results import RunResults
from llebench_reports.tables import TABLE1
from test_reports_tables import make_table1_run


@pytest.fixture
def table1_run(tmp_path):
    return make_table1_run(tmp_path / "run", user_study=False)


def write(tmp_path, text, name="ratings.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_import_fills_the_us_column(table1_run, tmp_path, capsys):
    ratings = write(tmp_path, "rater,image,method,rank,dataset\n"
                              "r1,0.jpg,scl_lle,1,lime\nr2,0.jpg,scl_lle,2,lime\n"
                              "r1,1.jpg,scl_lle,2,lime\n"
                              "r1,0.jpg,zero_dce,4,lime\nr2,0.jpg,zero_dce,5,lime\n"
                              "r1,0.jpg,input,3,mef\n")
    assert main(["userstudy", "import", ratings, "--run", str(table1_run.path)]) == 0
    run = RunResults.load(table1_run.path)
    rows = run.scores[(run.scores.metric == "user_study") & (run.scores.dataset == "lime")]
    per_image = rows.set_index(["method", "image"])["value"].to_dict()
    assert per_image == {("scl_lle", "0.jpg"): 1.5, ("scl_lle", "1.jpg"): 2.0, ("zero_dce", "0.jpg"): 4.5}
    settings = run.manifest["metrics"]["user_study"]["settings"]
    assert settings["raters"] == 2 and settings["ratings"] == 6
    assert run.manifest["metrics"]["user_study"]["lower_better"] is True
    table = TABLE1.build(run)
    lime_us = [c.group == "LIME" and c.metric == "U.S." for c in table.columns].index(True)
    # LIME has 3 images in the run; the raters ranked 2 (scl_lle) and 1 (zero_dce) of them: shown as
    # subsets, and one shared image cannot make the difference significant: both share the best mark
    assert dict(table.rows)["scl_lle"][lime_us].text == "1.750 (2/3)" and dict(table.rows)["scl_lle"][lime_us].rank == 1
    assert dict(table.rows)["zero_dce"][lime_us].text == "4.500 (1/3)" and dict(table.rows)["zero_dce"][lime_us].rank == 1
    # the other scores are untouched
    assert len(run.scores[run.scores.metric == "niqe"]) == len(pd.read_csv(table1_run.path / "scores.csv").query(
        "metric == 'niqe'"))

    # a different file under the same name is refused unless --replace
    other = write(tmp_path, "rater,image,method,rank\nr9,0.jpg,scl_lle,5\n", "other.csv")
    assert main(["userstudy", "import", other, "--run", str(table1_run.path), "--dataset", "dicm"]) == 2
    assert "--replace" in capsys.readouterr().err
    assert main(["userstudy", "import", other, "--run", str(table1_run.path), "--dataset", "dicm", "--replace"]) == 0
    run = RunResults.load(table1_run.path)
    assert run.scores[run.scores.metric == "user_study"][["method", "dataset", "value"]].values.tolist() == [
        ["scl_lle", "dicm", 5.0]]


@pytest.mark.parametrize("body, message", [
    ("rater,image,method\nr1,0.jpg,scl_lle\n", "missing column(s) rank"),
    ("rater,image,method,rank\nr1,0.jpg,nope,1\n", "ratings.csv:2: method 'nope' is not in"),
    ("rater,image,method,rank,dataset\nr1,0.jpg,scl_lle,6,dicm\n", "ratings.csv:2: rank 6 is outside 1..5"),
    ("rater,image,method,rank,dataset\nr1,0.jpg,scl_lle,x,dicm\n", "rank 'x' is not an integer"),
    ("rater,image,method,rank,dataset\nr1,0.jpg,scl_lle,1,dicm\nr1,0.jpg,scl_lle,2,dicm\n",
     "ratings.csv:3: rater 'r1' ranked"),
    ("rater,image,method,rank\nr1,0.jpg,scl_lle,1\n", "is in 5 datasets"),
    ("rater,image,method,rank,dataset\nr1,zz.jpg,scl_lle,1,dicm\n", "image 'zz.jpg' of dataset 'dicm' is not in"),
])
def test_bad_ratings_name_file_and_line(table1_run, tmp_path, capsys, body, message):
    assert main(["userstudy", "import", write(tmp_path, body), "--run", str(table1_run.path)]) == 2
    assert message in capsys.readouterr().err
