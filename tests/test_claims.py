"""l2lab.claims: a sentence of the prose checked against the runs; a falsified claim fails the
execution of the page and names the sentence."""
from __future__ import annotations

import numpy as np
import pytest

from l2lab import claims


def test_check_passes_and_fails_with_the_sentence():
    claims.check("the spread is above ten", 12.0 > 10)
    claims.check("numpy bools count", np.float64(3.0) < 4)
    with pytest.raises(claims.ClaimFailed, match="'the spread is above ten'"):
        claims.check("the spread is above ten", 9.0 > 10)
    with pytest.raises(TypeError, match="holds"):
        claims.check("a number is not a truth value", 1.0)
    with pytest.raises(ValueError, match="sentence"):
        claims.check("", True)


def test_a_falsified_claim_fails_the_page_and_names_the_sentence():
    """The build's execution of a page (nbclient, errors fatal) stops at the hidden check cell
    whose number was edited, with the sentence in the error."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    def page(spread):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(f"spread = {spread}"),
                    nbformat.v4.new_markdown_cell("The spread is larger than tenfold."),
                    nbformat.v4.new_code_cell("from l2lab import claims\n"
                                              "claims.check('The spread is larger than tenfold.', spread > 10)",
                                              metadata={"tags": ["remove-cell"]})]
        return nb

    NotebookClient(page(91.0), timeout=120, kernel_name="python3").execute()
    with pytest.raises(CellExecutionError, match="The spread is larger than tenfold"):
        NotebookClient(page(9.1), timeout=120, kernel_name="python3").execute()


def test_record_verdicts_writes_what_the_intro_reads(tmp_path):
    import json

    v = claims.Verdict("Fig. 2a-c: t* = c/(eta lam)", "partly", "spread x117 at 0.5%", "paper FC")
    claims.record_verdicts(tmp_path, "experiments/01_fc_mnist", [v, v._replace(verdict="reproduced")])
    path = claims.verdict_file(tmp_path, "experiments/01_fc_mnist")
    assert path.endswith("experiments__01_fc_mnist.json")
    got = json.loads(open(path).read())
    assert got["chapter"] == "experiments/01_fc_mnist"
    assert [r["verdict"] for r in got["verdicts"]] == ["partly", "reproduced"]
    assert got["verdicts"][0]["deciding"] == "spread x117 at 0.5%"
    assert got["provenance"]["date_utc"]


@pytest.mark.parametrize("chapter, verdicts, error", [
    ("fc_mnist", None, ValueError),                                  # not part/NN_name
    ("experiments/01_fc_mnist", [], TypeError),
    ("experiments/01_fc_mnist", [("r", "partly", "d", "s")], TypeError),  # a tuple, not a Verdict
    ("experiments/01_fc_mnist", [claims.Verdict("r", "confirmed", "d", "s")], ValueError),
    ("experiments/01_fc_mnist", [claims.Verdict("r", "partly", "", "s")], ValueError),
])
def test_record_verdicts_refuses_what_the_table_cannot_show(tmp_path, chapter, verdicts, error):
    v = verdicts if verdicts is not None else [claims.Verdict("r", "partly", "d", "s")]
    with pytest.raises(error):
        claims.record_verdicts(tmp_path, chapter, v)
    assert not list(tmp_path.iterdir())


def test_at_the_paper_scale_an_unsupported_sentence_is_a_note(monkeypatch, capsys):
    monkeypatch.setenv("L2LAB_SCALE", "paper")
    claims.check("the spread is above ten", 9.0 > 10)            # no exception
    assert "the spread is above ten" in capsys.readouterr().err
    monkeypatch.setenv("L2LAB_SCALE", "tiny")
    with pytest.raises(claims.ClaimFailed):
        claims.check("the spread is above ten", 9.0 > 10)
