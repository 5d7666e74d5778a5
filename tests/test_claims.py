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
