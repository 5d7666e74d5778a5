"""Run by every kernel that executes a chapter of the book (``PYTHONSTARTUP``, set by
``l2lab_book.kernel_environment()``; IPython runs that file when a kernel starts).

Makes plotly's default renderer ``"l2lab_book"``: a figure becomes a ``text/html`` output that
holds the figure's div and a script calling the global ``Plotly.newPlot`` -- no copy of
plotly.js (the page loads the book's ``_static/l2lab_js/plotly.min.js`` once, in its head: see
``l2lab_book._add_plotly_js``), no ``require`` call (plotly.js sets ``window.Plotly``; pages with
widgets load require.js after it), and no MathJax script from a CDN.

Everything happens inside a function that deletes itself: the chapter's namespace gets no new
names.
"""


def _l2lab_register_plotly_renderer() -> None:
    import plotly.io as pio
    from plotly.io.base_renderers import MimetypeRenderer

    class BookRenderer(MimetypeRenderer):
        """``text/html`` of ``plotly.io.to_html`` without plotly.js and without MathJax."""

        def to_mimebundle(self, fig_dict):
            # auto_play=False: to_html's default would play every frame of a slider figure
            html = pio.to_html(fig_dict, include_plotlyjs=False, include_mathjax=False,
                               auto_play=False, full_html=False, default_width="100%",
                               default_height=525, validate=False)
            return {"text/html": html}

    pio.renderers["l2lab_book"] = BookRenderer()
    pio.renderers.default = "l2lab_book"


_l2lab_register_plotly_renderer()
del _l2lab_register_plotly_renderer
