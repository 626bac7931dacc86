"""Sphinx configuration of nnnum's documentation.

One source tree, two builds (``python docs/build.py`` runs both):

* English (the default): the tutorial in ``tutorial/en``, the user guide, the
  porting guide and the API reference;
* Chinese (``-D language=zh_CN``, into ``_build/html/zh``): the tutorial in
  ``tutorial/zh`` and the same API reference, with the theme's labels in Chinese.

The API reference is written here from ``nnnum.__all__`` (``api/index.rst``,
one autosummary page per public name), so a name added to ``__all__`` gets a page
with no edit of the docs.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from apigen import write_api_index  # noqa: E402

import nnnum  # noqa: E402

os.environ.setdefault("MPLBACKEND", "Agg")

project = "nnnum"
author = "the nnnum developers"
copyright = "the nnnum developers"  # noqa: A001
version = release = nnnum.__version__

# NNNUM_DOCS_LANG=zh_CN (set by build.py) selects the Chinese build
language = os.environ.get("NNNUM_DOCS_LANG", "en")
ZH = language.startswith("zh")

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

root_doc = "zh/index" if ZH else "index"
exclude_patterns = ["_build", "**/GALLERY_HEADER.rst", "README.md"]
if ZH:
    exclude_patterns += ["index.rst", "guide", "porting.rst", "tutorial/en", "tutorial/auto_en"]
else:
    exclude_patterns += ["zh", "tutorial/zh", "tutorial/auto_zh"]

write_api_index(HERE / "api" / "index.rst", zh=ZH)

# ------------------------------------------------------------------ autodoc, numpydoc
autodoc_typehints = "none"  # numpydoc's Parameters section carries the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
}
intersphinx_disabled_reftypes = ["*"]  # offline builds: links only where written explicitly
intersphinx_timeout = 1
# No network in CI: intersphinx inventories are not fetched.
if os.environ.get("NNNUM_DOCS_OFFLINE", "1") == "1":
    intersphinx_mapping = {}
nitpicky = False


def _escape_stars_in_types(app, what, name, obj, options, lines):
    """Numpydoc type specs are plain text: ``shape (n, *x.shape)`` is no emphasis."""
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*[\w*, ]+ : )(.*)$", line)
        if m and "*" in m.group(2):
            lines[i] = m.group(1) + re.sub(r"(?<!\\)\*(?=[\w(])", r"\\*", m.group(2))


def _local_mathjax():
    """The MathJax 3 files of django-static-mathjax (the docs extra), or None: the CDN then."""
    try:
        import mathjax
    except ImportError:
        return None
    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    return es5 if (es5 / "tex-chtml.js").is_file() else None


def _copy_mathjax(app, exc):
    """Copy MathJax's CHTML script and fonts next to the pages: formulas render offline too."""
    es5 = _local_mathjax()
    if exc is not None or es5 is None or app.builder.format != "html":
        return
    import shutil

    dest = Path(app.outdir) / "_static" / "mathjax"
    (dest / "output" / "chtml").mkdir(parents=True, exist_ok=True)
    shutil.copy2(es5 / "tex-chtml.js", dest / "tex-chtml.js")
    fonts = dest / "output" / "chtml" / "fonts"
    if not fonts.exists():
        shutil.copytree(es5 / "output" / "chtml" / "fonts", fonts)


def setup(app):
    """Run the type-spec escape before numpydoc parses the docstring; bundle MathJax."""
    app.connect("autodoc-process-docstring", _escape_stars_in_types, priority=100)
    app.connect("build-finished", _copy_mathjax)


# ------------------------------------------------------------------ the executed tutorial
gallery = "zh" if ZH else "en"
sphinx_gallery_conf = {
    "examples_dirs": [f"tutorial/{gallery}"],
    "gallery_dirs": [f"tutorial/auto_{gallery}"],
    "filename_pattern": r"/\d\d_",
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "show_signature": False,
    "reset_modules": ("matplotlib",),
    "matplotlib_animations": False,
    "min_reported_time": 1e9,
    "line_numbers": False,
    "capture_repr": ("_repr_html_", "__repr__"),
}

# ------------------------------------------------------------------ HTML
html_theme = "furo"
html_title = "nnnum " + ("文档" if ZH else "documentation")
html_static_path = ["_static"]
html_css_files = ["nnnum.css"]
html_show_sourcelink = False
html_theme_options = {"navigation_with_keys": True}
mathjax3_config = {"tex": {"inlineMath": [["\\(", "\\)"]]}}
if _local_mathjax() is not None:  # relative to _static: a build that works without internet
    mathjax_path = "mathjax/tex-chtml.js"
