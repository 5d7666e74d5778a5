"""Text of small MyST chapters, shared by the chapter-tool tests."""

# The jupytext header every chapter starts with (a MyST text notebook, Python 3 kernel).
HEADER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""
