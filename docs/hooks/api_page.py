"""mkdocs hook: the Python API page documents every public name, so that a name added to ``ica.__all__`` (or a
method of the object ``ica.load`` returns) without its ``:::`` entry fails the strict build, as a missing page
would. What it requires: an anchor for each name of ``ica.__all__`` (less ``__version__``), each estimator,
`TrainedModel` and its methods, one table row per estimator parameter, and none of the rooms' internal
"Owns / May import" notes."""

from __future__ import annotations

from typing import Any

from mkdocs.exceptions import PluginError

API_PAGE = "reference/api.md"
ESTIMATORS = ("IcaEstimator", "IVAE", "VaDE", "GMMFlow")
TRAINED_METHODS = ("transform", "assign", "posterior", "elbo", "represent", "decode", "sample_latents", "sample")


def required_anchors() -> list[str]:
    """The ``id`` of every heading the API page must have."""
    import ica

    names = [f"ica.{name}" for name in ica.__all__ if name != "__version__"]
    names += [f"ica.estimators.{name}" for name in ESTIMATORS]
    names += ["ica.trained.TrainedModel"] + [f"ica.trained.TrainedModel.{m}" for m in TRAINED_METHODS]
    return names


def api_problems(page_html: str) -> list[str]:
    """What the built API page lacks or shows that it must not, one line each."""
    problems = [
        f"no entry for {name} (add '::: {name}')" for name in required_anchors() if f'id="{name}"' not in page_html
    ]
    if "<code>batch_size</code>" not in page_html or "steps, batch_size" in page_html:
        problems.append("the estimators' parameters are not one row each (batch_size)")
    problems += [f"shows the internal note {note!r}" for note in ("Owns:", "May import") if note in page_html]
    return problems


def on_post_page(output: str, page: Any, config: Any) -> str:
    if page.file.src_uri == API_PAGE:
        problems = api_problems(output)
        if problems:
            raise PluginError(f"{API_PAGE}: " + "; ".join(problems))
    return output
